"""The clean checks' judges on a real dirty node: w1 of lab `reset`, read right after the
API had let go of a student's pods (tests/fixtures/clean/README.md), and on the
captured fresh pod of tests/fixtures/runtime."""

import json
from pathlib import Path

from kubelab.baseline import MIRROR_ANNOTATION, ApiObject, Diff, Ref
from kubelab.checks import FAIL, PASS
from kubelab.checks.clean import (judge_api_extra, judge_api_missing, judge_node_pods, judge_notready,
                                  judge_pod_dirs, parse_pod_mounts)
from kubelab.runtime import parse_pods, parse_ps

FIXTURES = Path(__file__).parents[1] / "fixtures"
CLEAN = FIXTURES / "clean"
BASELINE_NAMESPACES = frozenset({"default", "kube-node-lease", "kube-public", "kube-system"})


def text(name):
    return (CLEAN / name).read_text()


def api_pods():
    """As checks.clean.api_pods builds it from the API's pod list, mirror uids included."""
    pods = {}
    for p in json.loads(text("api-pods.json")):
        ref = Ref(p["namespace"], "", "Pod", p["name"])
        pods[p["uid"]] = ref
        if MIRROR_ANNOTATION in p.get("annotations", {}):
            pods[p["annotations"][MIRROR_ANNOTATION]] = ref
    return pods


def test_notready_sandboxes_of_deleted_pods_are_each_a_finding():
    sandboxes = parse_pods(text("w1-crictl-pods.json"))
    v = judge_notready("w1", sandboxes, api_pods())
    assert v.status == FAIL
    assert len(v.findings) == 4
    assert all("SANDBOX_NOTREADY and its pod is gone from the API" in f for f in v.findings)
    assert {"web-5974c5bb9c-dql7l", "sleeper", "sleeper2"} <= {f.split("/")[1].split(" ")[0] for f in v.findings}


def test_sandboxes_of_pods_the_api_forgot_and_of_foreign_namespaces_are_findings():
    sandboxes, containers = parse_pods(text("w1-crictl-pods.json")), parse_ps(text("w1-crictl-ps-a.json"))
    v = judge_node_pods("w1", sandboxes, containers, api_pods(), BASELINE_NAMESPACES)
    assert v.status == FAIL
    assert sum("namespace mess-a is not in the baseline" in f for f in v.findings) == 1
    assert sum("namespace mess-b is not in the baseline" in f for f in v.findings) == 1
    assert sum("the API has no pod" in f for f in v.findings) == 2  # the two web pods in default
    assert len(v.findings) == 4
    assert "; and" not in v.seen  # 4 fit in the summary


def test_a_node_whose_pods_all_exist_passes():
    sandboxes = [s for s in parse_pods(text("w1-crictl-pods.json")) if s.ready]
    containers = parse_ps(text("w1-crictl-ps-a.json"))
    v = judge_node_pods("w1", sandboxes, containers, api_pods(), BASELINE_NAMESPACES)
    assert v.status == PASS, v.findings
    assert judge_notready("w1", sandboxes, api_pods()).status == PASS


def test_the_exercise_pods_old_sandbox_fails_until_it_is_removed():
    # The runtime fixture: nginx-with-sidecar deleted and applied again, old sandbox NOTREADY.
    sandboxes = parse_pods((FIXTURES / "runtime" / "crictl-pods.json").read_text())
    pods = {s.uid: Ref(s.namespace, "", "Pod", s.pod_name) for s in sandboxes if s.ready}
    v = judge_notready("w1", sandboxes, pods)
    assert v.status == FAIL and len(v.findings) == 1
    assert "nginx-with-sidecar is SANDBOX_NOTREADY and its pod is gone from the API" in v.findings[0]


def test_a_live_pods_old_sandbox_after_a_node_restart_is_its_history_not_a_leftover():
    # Captured on w1 after `podman restart` of its container: kube-router's pre-restart sandbox stays NOTREADY.
    sandboxes = parse_pods(text("w1-crictl-pods-after-node-restart.json"))
    assert [s.ready for s in sandboxes].count(False) == 1
    live = {s.uid: Ref(s.namespace, "", "Pod", s.pod_name) for s in sandboxes}
    v = judge_notready("w1", sandboxes, live)
    assert v.status == PASS and "1 superseded by a READY one" in v.seen
    # The same sandbox with no READY successor is a finding: the pod is not running.
    alone = [s for s in sandboxes if not s.ready]
    assert judge_notready("w1", alone, live).status == FAIL


def test_pod_directories_left_by_deleted_pods_are_findings_and_live_mounts_are_not():
    dirs, mounts = text("w1-kubelet-pods.txt").split(), parse_pod_mounts(text("w1-proc-mounts.txt"))
    assert len(mounts) == 5 and all(point.startswith(f"/var/lib/kubelet/pods/{uid}/") for uid, point in mounts)
    v = judge_pod_dirs("w1", dirs, mounts, api_pods())
    assert v.status == FAIL
    assert v.findings == ("/var/lib/kubelet/pods/8c9a4fe5-9fcc-4193-a810-04349431bcea is left from a pod the "
                          "API no longer has",)


def test_a_mount_of_a_deleted_pod_is_a_finding():
    point = "/var/lib/kubelet/pods/8c9a4fe5-9fcc-4193-a810-04349431bcea/volumes/kubernetes.io~empty-dir/logs"
    mounts = parse_pod_mounts(f"tmpfs {point} tmpfs rw 0 0\n")
    v = judge_pod_dirs("w1", [], mounts, api_pods())
    assert v.findings == (f"{point} is still mounted for a pod the API no longer has",)


def test_api_verdicts_name_every_leftover_and_what_only_a_cluster_reset_restores():
    static = ApiObject(Ref("kube-system", "", "Pod", "extra-cp1"), "u", mirror=True)
    cm = ApiObject(Ref("default", "", "ConfigMap", "notes"), "c", deleting=True)
    v = judge_api_extra(Diff((cm, static), ()))
    assert v.status == FAIL
    assert v.findings[0] == "ConfigMap default/notes (deleting)"
    assert "static pod" in v.findings[1] and "/etc/kubernetes/manifests" in v.findings[1]
    missing = judge_api_missing(Diff((), (Ref("kube-system", "apps", "Deployment", "coredns"),)))
    assert missing.status == FAIL and "--depth cluster" in missing.findings[-1]
    assert judge_api_extra(Diff((), ())).status == PASS and judge_api_missing(Diff((), ())).status == PASS
