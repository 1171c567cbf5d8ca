"""The files kubelab writes on nodes, rendered from a spec and node facts."""

import subprocess
import tomllib
from dataclasses import replace

import pytest
import yaml
from pyinfra.api.exceptions import FactProcessError

from kubelab import cni, configs, kubeadm
from kubelab.deploy import parse_results
from kubelab.errors import KubelabError, SpecError
from kubelab.facts import KernelFeatures, ObjectField, SwapState
from kubelab.spec import parse_spec

RAW = {
    "name": "t",
    "kubernetes": "1.35",
    "nodes": [
        {"name": "cp", "address": "10.0.0.10", "role": "control-plane"},
        {"name": "w1", "address": "10.0.0.11", "role": "worker"},
    ],
    "registry_mirrors": {"docker.io": "http://10.0.0.1:5000"},
    "kubelet": {"maxPods": 50},
}
V1_CONTAINER = kubeadm.NodeFacts(cgroup_version=1, in_container=True)
V2_VM = kubeadm.NodeFacts(cgroup_version=2, in_container=False)


@pytest.fixture
def spec():
    return parse_spec(RAW, "lab.yaml")


@pytest.mark.parametrize("restrict", [True, False])
def test_containerd_config_agrees_with_the_kubelet(spec, restrict):
    conf = tomllib.loads(configs.containerd_config(spec, restrict))
    assert conf["version"] == 3
    images = conf["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == spec.release.pause_image
    assert images["registry"]["config_path"] == configs.CERTS_DIR
    assert conf["plugins"]["io.containerd.transfer.v1.local"]["config_path"] == configs.CERTS_DIR
    runtime = conf["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is restrict
    systemd = runtime["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"]
    assert systemd is (kubeadm.kubelet_configuration(spec, V2_VM)["cgroupDriver"] == "systemd")


def test_hosts_toml_sends_pulls_to_the_mirror_first():
    conf = tomllib.loads(configs.hosts_toml("docker.io", "http://10.0.0.1:5000"))
    assert conf["server"] == "https://registry-1.docker.io"
    assert conf["host"]["http://10.0.0.1:5000"]["capabilities"] == ["pull", "resolve"]
    other = tomllib.loads(configs.hosts_toml("registry.k8s.io", "https://mirror.example:443"))
    assert other["server"] == "https://registry.k8s.io"
    assert other["host"]["https://mirror.example:443"]["skip_verify"] is False


@pytest.mark.parametrize("registry, mirror", [
    ('evil"\n[host."http://attacker"]\nskip_verify = true\nx = "', "http://10.0.0.1:5000"),
    ("docker.io", 'http://m:5000"]\ncapabilities = ["push"]\n[host."x'),
    ("reg\\istry", "https://mirror\u2028\x00/\\"),
])
def test_hostile_registry_and_mirror_values_stay_strings_in_hosts_toml(registry, mirror):
    conf = tomllib.loads(configs.hosts_toml(registry, mirror))
    assert list(conf) == ["server", "host"]
    assert list(conf["host"]) == [mirror]
    assert conf["host"][mirror]["capabilities"] == ["pull", "resolve"]


@pytest.mark.parametrize("key", ["", ".", "..", "../etc", "a/b", "a/", "/etc/cron.d", "docker.io/../..", "a\nb",
                                 "a\x00b", 5000])
def test_a_mirror_key_that_would_write_outside_certs_d_is_refused_naming_it(key):
    spec = parse_spec({**RAW, "registry_mirrors": {"docker.io": "http://10.0.0.1:5000"}}, "lab.yaml")
    with pytest.raises(SpecError) as err:
        configs.hosts_toml_path(spec, key)
    assert err.value.file == "lab.yaml" and err.value.field == f"registry_mirrors.{key!r}"
    assert "Fix:" in str(err.value)


def test_every_mirror_key_is_checked_before_any_file_is_planned(spec):
    hostile = replace(spec, registry_mirrors={"docker.io": "http://10.0.0.1:5000", "../../systemd/system": "http://x"})
    with pytest.raises(SpecError, match="systemd"):
        configs.registry_mirror_files(hostile)
    assert configs.registry_mirror_files(spec) == [
        ("docker.io", "/etc/containerd/certs.d/docker.io/hosts.toml",
         configs.hosts_toml("docker.io", "http://10.0.0.1:5000"))]


HOSTILE_WORD = "x'; touch {marker}; echo '$(touch {marker})`touch {marker}`"


def _argv_of(command: str, tool: str, tmp_path) -> list[str]:
    """Run `command` in a real shell where `tool` is a stand-in recording its arguments, one per line."""
    bin_dir, argv = tmp_path / "bin", tmp_path / "argv"
    bin_dir.mkdir()
    (bin_dir / tool).write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a" >> {argv}; done\n')
    (bin_dir / tool).chmod(0o755)
    subprocess.run(["sh", "-c", command], capture_output=True, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    return argv.read_text().splitlines()


def test_a_hostile_control_plane_address_stays_one_curl_argument(tmp_path):
    marker = tmp_path / "pwned"
    address = HOSTILE_WORD.format(marker=marker)
    argv = _argv_of(configs.api_ready_command(address, 6443, attempts=1), "curl", tmp_path)
    assert argv == ["-fsk", "--max-time", "2", f"https://{address}:6443/readyz"]
    assert not marker.exists()


def test_hostile_object_names_stay_one_kubectl_argument_each(tmp_path):
    marker = tmp_path / "pwned"
    name = HOSTILE_WORD.format(marker=marker)
    command = ObjectField().command(kind="pod", namespace=f"ns {name}", object_name=name, jsonpath=".metadata.uid")
    argv = _argv_of(command, "kubectl", tmp_path)
    assert argv == ["--kubeconfig", "/etc/kubernetes/admin.conf", "-n", f"ns {name}", "get", "pod", name,
                    "-o", "jsonpath={.metadata.uid}"]
    assert not marker.exists()


@pytest.mark.parametrize("fact, output, expected", [
    (KernelFeatures(), ["overlay present", "br_netfilter loadable"], {"overlay": "present", "br_netfilter": "loadable"}),
    (SwapState(), ["active 0", "fstab 2"], {"active": 0, "fstab": 2}),
])
def test_facts_read_what_their_commands_print(fact, output, expected):
    assert fact.process(output) == expected


@pytest.mark.parametrize("fact, output", [
    (KernelFeatures(), ["overlay present", "br_netfilter"]),
    (KernelFeatures(), ["overlay present extra", "br_netfilter present"]),
    (KernelFeatures(), ["overlay present", "br_netfilter maybe"]),
    (KernelFeatures(), ["sudo: a password is required"]),
    (SwapState(), ["active x", "fstab 0"]),
    (SwapState(), ["active 0"]),
    (SwapState(), ["bash: tail: command not found", "active", "fstab 0"]),
])
def test_a_fact_whose_command_printed_something_else_fails_the_host_naming_the_command(fact, output):
    with pytest.raises(FactProcessError) as err:
        fact.process(output)
    assert str(err.value).startswith(f"`{fact.command()}` printed {output!r}")


def test_init_config_on_cgroup_v1_container_skips_only_what_it_must(spec):
    docs = list(yaml.safe_load_all(kubeadm.init_config(spec, spec.control_plane, V1_CONTAINER)))
    init, cluster, kubelet, proxy = docs
    assert init["kind"] == "InitConfiguration"
    assert init["nodeRegistration"]["ignorePreflightErrors"] == ["SystemVerification"]
    assert init["localAPIEndpoint"]["advertiseAddress"] == "10.0.0.10"
    assert cluster["kubernetesVersion"] == spec.release.kubernetes
    assert cluster["networking"]["podSubnet"] == spec.pod_subnet
    assert kubelet["failCgroupV1"] is False and kubelet["failSwapOn"] is False
    assert kubelet["maxPods"] == 50  # the spec's kubelet overrides win
    assert proxy["conntrack"] == {"maxPerCore": 0}


def test_init_config_on_cgroup_v2_vm_skips_nothing(spec):
    init, _, kubelet, proxy = yaml.safe_load_all(kubeadm.init_config(spec, spec.control_plane, V2_VM))
    assert "ignorePreflightErrors" not in init["nodeRegistration"]
    assert "failCgroupV1" not in kubelet and "failSwapOn" not in kubelet
    assert "conntrack" not in proxy


def test_join_config_carries_the_token_and_ca_hash(spec):
    (join,) = yaml.safe_load_all(kubeadm.join_config(spec, spec.workers[0], V2_VM, "abcdef.0123456789abcdef", "sha256:00"))
    token = join["discovery"]["bootstrapToken"]
    assert token["apiServerEndpoint"] == "10.0.0.10:6443"
    assert token["token"] == "abcdef.0123456789abcdef"
    assert join["nodeRegistration"]["name"] == "w1"


def test_join_command_parsing_never_echoes_the_secret():
    out = "kubeadm join 10.0.0.10:6443 --token abc.def --discovery-token-ca-cert-hash sha256:ff \n"
    assert kubeadm.parse_join_command(out) == ("abc.def", "sha256:ff")
    with pytest.raises(ValueError) as err:
        kubeadm.parse_join_command("kubeadm join 10.0.0.10:6443 --token secret.value")
    assert "secret.value" not in str(err.value)


def test_kube_router_manifest_is_stamped_with_its_own_hash(spec):
    text = cni.manifest(spec)
    kinds = [d["kind"] for d in yaml.safe_load_all(text)]
    assert kinds == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet"]
    assert len(cni.manifest_hash(text)) == 64
    assert spec.release.images()["kube-router"] in text
    assert cni.manifest(spec) == text  # same spec, same hash: a re-run applies nothing


def test_pyinfra_results_are_read_from_the_grand_total():
    out = "--> Results:\n    Op   Hosts Success Error No Change\n    Grand total   8   3   -   5\n"
    assert parse_results(out) == (3, 0, 5)
    with pytest.raises(KubelabError):
        parse_results("Traceback: boom")
