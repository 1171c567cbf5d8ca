"""Node-level proofs (process, security, resources, volumes) judged on real captures from a lab.

tests/fixtures/node-proofs/pods.yaml was applied to a lab; for each container
the fixtures hold what kubelab's readers printed on its node (see the README
there). `hardened/app` is the right answer to every task, `capable/app` a root
process with NET_ADMIN and SYS_TIME added, `loose/app` and `loose/sidecar`
the plausible wrong answers an API-only grader may accept.
"""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from kubelab.checks.process import (CheckArgumentError, Process, judge_environment, judge_non_root, judge_process,
                                    judge_user, value_digest)
from kubelab.checks.resources import (cpu_shares, cpu_weight, judge_cpu_limit, judge_cpu_request,
                                      judge_memory_limit, millicores, quantity)
from kubelab.checks.security import (capability_mask, judge_has_capabilities, judge_lacks_capabilities,
                                     judge_no_new_privs, judge_read_only_root)
from kubelab.checks.verdict import FAIL, PASS, Verdict
from kubelab.checks.volumes import CONFIG_MAP, SECRET, judge_volume_mount
from kubelab.cluster import PodView
from kubelab.runtime import (CAPABILITIES, CONTAINER_EXITED, RuntimeOutputError, capability_names, cgroup_files,
                             mount_at, parse_cgroup_limits, parse_environ_digests, parse_inspect, parse_mountinfo,
                             parse_proc_cgroup, parse_proc_status)
from kubelab.ssh import CommandResult

PROOFS = Path(__file__).parents[1] / "fixtures" / "node-proofs"
SECRET_VALUE = "s3cr3t-kubelab"  # tests/fixtures/node-proofs/pods.yaml, Secret db


def text(name: str) -> str:
    return (PROOFS / name).read_text()


def pod(name: str) -> PodView:
    return PodView.from_api(json.loads(text(f"pod-{name}.json")))


def process(pod_name: str, container: str = "app") -> Process:
    found = judge_process(pod(pod_name), container, parse_inspect(text(f"{pod_name}-{container}.crictl-inspect-"
                                                                       f"process.json")))
    assert isinstance(found, Process), found
    return found


def status(stem: str):
    return parse_proc_status(text(f"{stem}.proc-status.txt"))


def mounts(stem: str):
    return parse_mountinfo(text(f"{stem}.proc-mountinfo.txt"))


def limits(stem: str):
    return parse_cgroup_limits(text(f"{stem}.cgroup-limits.txt"))


def probe(stem: str) -> CommandResult:
    raw = json.loads(text(f"{stem}.write-probe.json"))
    return CommandResult("w1", raw["command"], raw["exit_code"], raw["stdout"], raw["stderr"], 0.01)


def assert_fails(v: Verdict, *words: str) -> None:
    assert v.status == FAIL, v
    for word in words:
        assert word in v.seen, (word, v.seen)


def assert_passes(v: Verdict) -> None:
    assert v.status == PASS, v.seen
    assert not v.findings


# -- parsers ------------------------------------------------------------------

def test_inspect_template_output_is_the_containers_api_id_pid_and_mounts():
    api = pod("hardened").container("app")
    inspected = parse_inspect(text("hardened-app.crictl-inspect-process.json"))
    assert inspected.id == api.container_id
    assert inspected.running and inspected.pid == 2025
    assert inspected.pod_uid == pod("hardened").uid
    assert {m.container_path for m in inspected.mounts} >= {"/etc/secret", "/etc/config"}


def test_the_inspect_template_leaves_out_the_environment_of_a_secret():
    raw = text("hardened-app.crictl-inspect-process.json")
    assert SECRET_VALUE not in raw and "runtimeSpec" not in raw and "DB_PASSWORD" not in raw


def test_proc_status_reads_ids_capabilities_and_no_new_privs():
    hardened, capable = status("hardened-app"), status("capable-app")
    assert hardened.uids == (1000,) * 4 and hardened.gids == (3000,) * 4 and hardened.groups == (3000,)
    assert hardened.cap_eff == hardened.cap_bnd == 0 and hardened.no_new_privs == 1
    assert capable.uids == (0,) * 4 and capable.no_new_privs == 0
    assert {"NET_ADMIN", "SYS_TIME", "CHOWN"} <= set(capability_names(capable.cap_eff))
    assert "SYS_ADMIN" not in capability_names(capable.cap_eff)


def test_capability_names_follow_the_kernel_numbering():
    # containerd's default set, 0xa80425fb: the 14 capabilities of its oci.defaultUnixCaps.
    assert set(capability_names(0xa80425fb)) == {
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
        "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"}
    assert capability_names(0) == ()
    assert capability_names(1 << 45) == ("CAP_45",)


def test_mountinfo_finds_the_root_and_the_volume_mounts():
    hardened, loose = mounts("hardened-app"), mounts("loose-app")
    assert mount_at(hardened, "/").read_only and mount_at(hardened, "/").fstype == "overlay"
    assert not mount_at(loose, "/").read_only
    assert mount_at(hardened, "/etc/secret/").fstype == "tmpfs"
    assert mount_at(hardened, "/etc/config").root.endswith("/volumes/kubernetes.io~configmap/config")
    assert mount_at(hardened, "/nowhere") is None


def test_mountinfo_unescapes_paths_and_takes_the_last_mount_at_a_point():
    lines = ("1 0 0:1 / / rw,relatime - overlay overlay rw\n"
             "2 1 0:2 / /data\\040dir rw shared:1 - tmpfs tmpfs rw\n"
             "3 1 0:3 / / ro,relatime - overlay overlay rw\n")
    parsed = parse_mountinfo(lines)
    assert mount_at(parsed, "/data dir").fstype == "tmpfs"
    assert mount_at(parsed, "/").read_only


def test_proc_cgroup_gives_the_v1_controllers_and_the_v2_hierarchy():
    paths = parse_proc_cgroup(text("hardened-app.proc-cgroup.txt"))
    assert paths["memory"] == paths["cpu"] == paths[""]
    assert paths["memory"].endswith("/cri-containerd-" + pod("hardened").container("app").container_id + ".scope")
    files = cgroup_files(paths)
    assert files[0].startswith("memory/kubepods.slice/") and files[0].endswith("/memory.limit_in_bytes")
    v2 = cgroup_files(parse_proc_cgroup(text("v2-documented.proc-cgroup.txt")))
    assert [f.rsplit("/", 1)[1] for f in v2] == ["memory.max", "cpu.max", "cpu.weight"]
    assert not v2[0].startswith("/")


def test_cgroup_limits_v1_captured_and_v2_documented():
    hardened = limits("hardened-app")
    assert (hardened.version, hardened.memory_bytes, hardened.cpu_quota_us, hardened.cpu_period_us,
            hardened.cpu_shares) == (1, 134217728, 50000, 100000, 256)
    unlimited = limits("loose-app")
    assert unlimited.memory_bytes is None and unlimited.cpu_quota_us is None and unlimited.cpu_shares == 2
    v2 = limits("v2-documented")
    assert (v2.version, v2.memory_bytes, v2.cpu_quota_us, v2.cpu_period_us, v2.cpu_weight) == \
        (2, 134217728, 50000, 100000, 35)
    v2_unlimited = limits("v2-documented-unlimited")
    assert v2_unlimited.memory_bytes is None and v2_unlimited.cpu_quota_us is None


def test_environ_digests_hold_names_and_hashes_never_values():
    raw = text("hardened-app.environ-digests.txt")
    digests = parse_environ_digests(raw)
    assert digests["DB_PASSWORD"] == value_digest(SECRET_VALUE)
    assert digests["APP_MODE"] == value_digest("debug")
    assert SECRET_VALUE not in raw and "debug" not in raw
    assert parse_environ_digests("") == {}


@pytest.mark.parametrize("parse, bad", [
    (parse_proc_status, "Name:\tsleep\nUid:\t1000\t1000\n"),
    (parse_proc_status, "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\nCapEff:\tzz\n"),
    (parse_mountinfo, "1 0 0:1 / / rw overlay overlay rw\n"),
    (parse_proc_cgroup, "memory:/kubepods\n"),
    (parse_proc_cgroup, "4:memory:kubepods\n"),
    (parse_cgroup_limits, "memory/x/memory.limit_in_bytes:lots\n"),
    (parse_cgroup_limits, "x/cpu.max:max\n"),
    (parse_environ_digests, "s3cr3t PASSWORD\n"),
])
def test_parsers_name_their_input_when_the_output_is_not_the_expected_shape(parse, bad):
    with pytest.raises(RuntimeOutputError):
        parse(bad)


def test_cgroup_files_without_memory_controller_or_v2_hierarchy_is_an_error():
    with pytest.raises(RuntimeOutputError, match="neither"):
        cgroup_files({"pids": "/x"})


# -- finding the process ------------------------------------------------------

def test_judge_process_fails_on_nothing_and_on_a_container_the_api_does_not_list():
    loose = pod("loose")
    inspected = parse_inspect(text("loose-app.crictl-inspect-process.json"))
    assert_fails(judge_process(loose, "app", None), "not inspected")
    assert_fails(judge_process(loose, "web", inspected), "no container web", "app, sidecar")


def test_judge_process_fails_when_the_node_container_is_another_containers():
    sidecar = parse_inspect(text("loose-sidecar.crictl-inspect-process.json"))
    v = judge_process(pod("loose"), "app", sidecar)
    assert v.status == FAIL and v.findings
    assert "sidecar" in v.seen


def test_judge_process_fails_on_a_container_that_is_not_running():
    inspected = parse_inspect(text("hardened-app.crictl-inspect-process.json"))
    assert_fails(judge_process(pod("hardened"), "app", replace(inspected, state=CONTAINER_EXITED, pid=None)),
                 "CONTAINER_EXITED")
    hardened = pod("hardened")
    waiting = replace(hardened, containers=(replace(hardened.containers[0], state="waiting",
                                                    reason="CreateContainerConfigError"),))
    assert_fails(judge_process(waiting, "app", inspected), "waiting", "CreateContainerConfigError")


# -- user, non-root, environment ----------------------------------------------

def test_user_passes_with_every_id_right():
    assert_passes(judge_user(process("hardened"), status("hardened-app"), 1000, 3000))
    assert_passes(judge_user(process("hardened"), status("hardened-app"), 1000))


def test_user_on_the_pod_overridden_by_root_on_the_container_fails():
    v = judge_user(process("loose"), status("loose-app"), 1000)
    assert_fails(v, "Uid 0/0/0/0")


def test_user_with_the_wrong_group_fails_naming_the_gid():
    assert_fails(judge_user(process("hardened"), status("hardened-app"), 1000, 2000), "Gid 3000/3000/3000/3000")
    assert "Uid" not in judge_user(process("hardened"), status("hardened-app"), 1000, 2000).seen


def test_user_given_nothing_fails():
    assert_fails(judge_user(process("hardened"), None, 1000), "nothing read")


def test_non_root_passes_for_a_user_and_fails_for_root_and_nothing():
    assert_passes(judge_non_root(process("hardened"), status("hardened-app")))
    assert_passes(judge_non_root(process("loose", "sidecar"), status("loose-sidecar")))
    assert_fails(judge_non_root(process("loose"), status("loose-app")), "root")
    assert_fails(judge_non_root(process("hardened"), None), "nothing read")


def test_environment_from_a_secret_and_a_config_map_passes_without_showing_the_value():
    digests = parse_environ_digests(text("hardened-app.environ-digests.txt"))
    v = judge_environment(process("hardened"), digests, "DB_PASSWORD", SECRET_VALUE)
    assert_passes(v)
    assert SECRET_VALUE not in v.expected + v.seen + json.dumps(v.evidence)
    assert_passes(judge_environment(process("hardened"), digests, "APP_MODE", "debug"))


def test_environment_from_the_wrong_key_fails_without_showing_either_value():
    digests = parse_environ_digests(text("loose-app.environ-digests.txt"))
    v = judge_environment(process("loose"), digests, "DB_PASSWORD", SECRET_VALUE)
    assert_fails(v, "another value")
    assert SECRET_VALUE not in v.expected + v.seen + json.dumps(v.evidence)
    assert "debug" not in v.seen


def test_environment_missing_variable_or_nothing_fails():
    digests = parse_environ_digests(text("capable-app.environ-digests.txt"))
    assert_fails(judge_environment(process("capable"), digests, "APP_MODE", "debug"), "no APP_MODE")
    assert_fails(judge_environment(process("capable"), {}, "APP_MODE", "debug"), "empty")


# -- capabilities, no new privileges, read-only root ---------------------------

def test_added_capabilities_pass_when_effective():
    assert_passes(judge_has_capabilities(process("capable"), status("capable-app"),
                                         capability_mask("t", ["NET_ADMIN", "CAP_SYS_TIME"])))


def test_a_capability_missing_from_the_effective_set_fails_naming_it():
    v = judge_has_capabilities(process("loose"), status("loose-app"), capability_mask("t", ["net_admin"]))
    assert_fails(v, "CapEff lacks NET_ADMIN")


def test_capabilities_added_to_a_non_root_process_fail_and_say_why():
    v = judge_has_capabilities(process("loose", "sidecar"), status("loose-sidecar"), capability_mask("t", ["NET_ADMIN"]))
    assert_fails(v, "CapEff lacks NET_ADMIN", "only in the bounding set", "Uid 2000")


def test_drop_all_passes_only_when_the_bounding_set_is_empty_too():
    assert_passes(judge_lacks_capabilities(process("hardened"), status("hardened-app"), capability_mask("t", ["ALL"])))
    # Non-root with nothing dropped: CapEff 0, but the bounding set keeps containerd's defaults.
    v = judge_lacks_capabilities(process("loose", "sidecar"), status("loose-sidecar"), capability_mask("t", ["ALL"]))
    assert_fails(v, "CapBnd has", "CHOWN")
    assert "CapEff" not in v.seen


def test_lacking_one_capability_fails_when_the_process_has_it():
    v = judge_lacks_capabilities(process("capable"), status("capable-app"), capability_mask("t", ["SYS_TIME"]))
    assert_fails(v, "CapEff has SYS_TIME", "CapBnd has SYS_TIME")
    assert_passes(judge_lacks_capabilities(process("capable"), status("capable-app"),
                                           capability_mask("t", ["SYS_ADMIN"])))


def test_capability_checks_given_nothing_fail():
    mask = capability_mask("t", ["NET_ADMIN"])
    assert_fails(judge_has_capabilities(process("capable"), None, mask), "nothing read")
    assert_fails(judge_lacks_capabilities(process("hardened"), None, mask), "nothing read")


@pytest.mark.parametrize("names, problem", [(["NET_ADMN"], "no Linux capability"), ([], "empty"),
                                            ("NET_ADMIN", "one string")])
def test_a_bad_capability_argument_names_the_check_the_argument_and_the_fix(names, problem):
    with pytest.raises(CheckArgumentError, match=problem) as err:
        capability_mask("process_has_capabilities", names)
    assert "process_has_capabilities" in str(err.value) and "'capabilities'" in str(err.value)
    assert "Fix:" in str(err.value)


def test_no_new_privs_passes_when_set_and_fails_by_default_or_on_nothing():
    assert_passes(judge_no_new_privs(process("hardened"), status("hardened-app")))
    assert_fails(judge_no_new_privs(process("capable"), status("capable-app")), "NoNewPrivs: 0")
    assert_fails(judge_no_new_privs(process("hardened"), None), "nothing read")


def test_read_only_root_passes_on_a_ro_mount_that_refuses_the_write():
    v = judge_read_only_root(process("hardened"), mounts("hardened-app"), probe("hardened-app"))
    assert_passes(v)
    assert "Read-only file system" in v.evidence["write"]


def test_a_writable_root_fails_on_both_proofs():
    v = judge_read_only_root(process("loose"), mounts("loose-app"), probe("loose-app"))
    assert_fails(v, "/ is mounted rw", "a file was written")
    assert not v.findings


def test_read_only_root_with_the_two_proofs_disagreeing_is_a_finding():
    v = judge_read_only_root(process("hardened"), mounts("hardened-app"), probe("loose-app"))
    assert v.status == FAIL and "yet a write to it succeeded" in v.findings[0]


def test_read_only_root_given_nothing_fails():
    assert_fails(judge_read_only_root(process("hardened"), [], probe("hardened-app")), "no mount at /")
    assert_fails(judge_read_only_root(process("hardened"), mounts("hardened-app"), None), "no write")


def test_a_write_refused_for_another_reason_does_not_prove_a_read_only_root():
    denied = replace(probe("hardened-app"), stderr="touch: cannot touch 'x': Permission denied\n")
    assert_fails(judge_read_only_root(process("hardened"), mounts("hardened-app"), denied), "another reason")


# -- resources ----------------------------------------------------------------

def test_memory_limit_passes_when_the_cgroup_enforces_it():
    v = judge_memory_limit(process("hardened"), limits("hardened-app"), "128Mi", int(quantity("t", "limit", "128Mi")))
    assert_passes(v)
    assert v.evidence["memory_bytes"] == 134217728


def test_memory_limit_on_the_sidecar_leaves_the_app_unlimited_and_fails():
    assert_fails(judge_memory_limit(process("loose"), limits("loose-app"), "128Mi", 134217728),
                 "memory.limit_in_bytes: no limit")
    assert_passes(judge_memory_limit(process("loose", "sidecar"), limits("loose-sidecar"), "128Mi", 134217728))


def test_memory_limit_of_another_size_fails_naming_the_bytes():
    assert_fails(judge_memory_limit(process("hardened"), limits("hardened-app"), "256Mi", 268435456),
                 "memory.limit_in_bytes: 134217728, not 268435456")


def test_memory_limit_accepts_the_kernels_rounding_to_whole_pages():
    page_rounded = replace(limits("hardened-app"), memory_bytes=99999744)
    assert_passes(judge_memory_limit(process("hardened"), page_rounded, "100M", 100000000))


def test_memory_limit_on_cgroup_v2_reads_memory_max():
    v = judge_memory_limit(process("hardened"), limits("v2-documented"), "128Mi", 134217728)
    assert_passes(v)
    assert "memory.max" in v.seen


def test_cpu_limit_passes_as_the_cfs_quota_and_fails_without_or_with_another():
    assert_passes(judge_cpu_limit(process("hardened"), limits("hardened-app"), "500m", 500))
    assert_passes(judge_cpu_limit(process("hardened"), limits("v2-documented"), "0.5", millicores(quantity("t", "l", "0.5"))))
    assert_fails(judge_cpu_limit(process("loose"), limits("loose-app"), "500m", 500), "no limit")
    assert_fails(judge_cpu_limit(process("hardened"), limits("hardened-app"), "1", 1000),
                 "cpu.cfs_quota_us: 50000, not 100000")


def test_cpu_request_passes_as_shares_or_weight_and_fails_without_a_request():
    assert_passes(judge_cpu_request(process("hardened"), limits("hardened-app"), "250m", 250))
    assert_passes(judge_cpu_request(process("hardened"), limits("v2-documented"), "250m", 250))
    assert_fails(judge_cpu_request(process("loose"), limits("loose-app"), "250m", 250), "cpu.shares: 2, not 256")


def test_resource_judges_given_nothing_fail():
    assert_fails(judge_memory_limit(process("hardened"), None, "128Mi", 134217728), "nothing read")
    assert_fails(judge_cpu_limit(process("hardened"), None, "500m", 500), "nothing read")
    assert_fails(judge_cpu_request(process("hardened"), None, "250m", 250), "nothing read")


def test_the_kubelet_and_runc_conversions():
    assert cpu_shares(250) == 256 and cpu_shares(1) == 2 and cpu_shares(1000) == 1024
    # runc >= 1.3.2 maps the v1 default 1024 to the v2 default 100.
    assert cpu_weight(1024) == 100 and cpu_weight(2) == 1 and cpu_weight(262144) == 10000
    assert millicores(quantity("t", "l", "0.1")) == 100


@pytest.mark.parametrize("bad", ["128MB", "lots", "0", "-1Gi"])
def test_a_bad_quantity_names_the_check_the_argument_and_the_fix(bad):
    with pytest.raises(CheckArgumentError, match="memory_limit_is_enforced.*'limit'.*Fix"):
        quantity("memory_limit_is_enforced", "limit", bad)


# -- volumes ------------------------------------------------------------------

def test_a_secret_volume_on_tmpfs_passes():
    v = judge_volume_mount(process("hardened"), mounts("hardened-app"), SECRET, "/etc/secret")
    assert_passes(v)
    assert v.evidence["fstype"] == "tmpfs" and "kubernetes.io~secret" in v.evidence["host_path"]


def test_the_secrets_data_from_a_config_map_fails_on_kind_and_filesystem():
    v = judge_volume_mount(process("loose"), mounts("loose-app"), SECRET, "/etc/secret")
    assert_fails(v, "is a configmap volume", "not tmpfs")


def test_a_config_map_volume_passes_and_a_secret_is_not_a_config_map():
    assert_passes(judge_volume_mount(process("hardened"), mounts("hardened-app"), CONFIG_MAP, "/etc/config"))
    assert_fails(judge_volume_mount(process("hardened"), mounts("hardened-app"), CONFIG_MAP, "/etc/secret"),
                 "is a secret volume")


def test_a_volume_at_another_path_fails_listing_the_mounts():
    assert_fails(judge_volume_mount(process("hardened"), mounts("hardened-app"), SECRET, "/etc/secrets"),
                 "nothing at /etc/secrets", "/etc/secret")


def test_a_volume_judged_on_no_mountinfo_is_a_finding():
    v = judge_volume_mount(process("hardened"), [], SECRET, "/etc/secret")
    assert v.status == FAIL and "no mount there" in v.findings[0]


def test_every_capability_number_is_unique():
    assert len(set(CAPABILITIES)) == len(CAPABILITIES) == 41
