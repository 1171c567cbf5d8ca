"""When a reset refuses, and what it deletes in which order."""

import pytest

from kubelab.baseline import ApiObject, Baseline, Ref, namespace_ref
from kubelab.reset import (CLUSTER, POD_GRACE_SECONDS, WORKLOADS, delete_plan, identity_problems, node_reset_script,
                           server_problem)
from kubelab.spec import parse_spec

SPEC = parse_spec({"name": "reset", "nodes": [{"name": "cp1", "address": "10.0.0.10", "role": "control-plane"}]})
BASELINE = Baseline("reset", "uid-1", "2026-11-25T09:00:00Z", frozenset({namespace_ref("default")}))


# -- is this our lab? ---------------------------------------------------------------

def test_the_labs_own_cluster_may_be_reset_at_either_depth():
    for depth in (WORKLOADS, CLUSTER):
        assert identity_problems("reset", depth, BASELINE, "reset", "uid-1") == []


def test_no_baseline_means_not_a_kubelab_lab():
    problems = identity_problems("reset", WORKLOADS, None, "reset", "uid-1")
    assert len(problems) == 1 and "no baseline" in problems[0]


def test_another_clusters_name_is_refused():
    problems = identity_problems("reset", CLUSTER, BASELINE, "kubernetes", None)
    assert len(problems) == 1 and "'kubernetes'" in problems[0] and "not this lab's cluster" in problems[0]


def test_an_unreadable_cluster_name_is_refused():
    assert "cannot be read" in identity_problems("reset", CLUSTER, BASELINE, None, None)[0]


def test_a_baseline_of_an_earlier_build_blocks_only_the_workloads_depth():
    problems = identity_problems("reset", WORKLOADS, BASELINE, "reset", "uid-2")
    assert len(problems) == 1 and "another build" in problems[0] and "--depth cluster" in problems[0]
    assert identity_problems("reset", CLUSTER, BASELINE, "reset", "uid-2") == []


def test_a_baseline_of_another_lab_is_refused():
    other = Baseline("local", "uid-1", "t", BASELINE.objects)
    assert "belongs to lab 'local'" in identity_problems("reset", WORKLOADS, other, "reset", "uid-1")[0]


# -- what is deleted now ------------------------------------------------------------

def obj(namespace, group, kind, name, uid, **kw):
    return ApiObject(Ref(namespace, group, kind, name), uid, **kw)


def planned(extra):
    return {(o.ref.name, grace) for o, grace in delete_plan(extra)}


def test_a_live_controllers_dependents_are_left_to_the_garbage_collector():
    deploy = obj("default", "apps", "Deployment", "web", "d")
    rs = obj("default", "apps", "ReplicaSet", "web-1", "r", controller_uid="d")
    pod = obj("default", "", "Pod", "web-1-a", "p", controller_uid="r")
    assert planned([deploy, rs, pod]) == {("web", None)}


def test_once_the_controller_is_gone_its_pods_get_the_short_grace():
    pod = obj("default", "", "Pod", "web-1-a", "p", controller_uid="gone")
    assert planned([pod]) == {("web-1-a", POD_GRACE_SECONDS)}


def test_a_leftover_namespace_is_deleted_whole_but_its_pods_get_the_short_grace():
    ns = obj("", "", "Namespace", "mess-a", "n")
    pod = obj("mess-a", "", "Pod", "sleeper", "p")
    cm = obj("mess-a", "", "ConfigMap", "notes", "c")
    assert planned([ns, pod, cm]) == {("mess-a", None), ("sleeper", POD_GRACE_SECONDS)}


def test_a_pod_terminating_with_a_long_grace_is_deleted_again_shorter_but_not_twice():
    slow = obj("mess-a", "", "Pod", "slow", "p1", deleting=True, grace_seconds=30)
    quick = obj("mess-a", "", "Pod", "quick", "p2", deleting=True, grace_seconds=POD_GRACE_SECONDS)
    assert planned([slow, quick]) == {("slow", POD_GRACE_SECONDS)}


def test_objects_already_deleting_and_static_pods_are_not_deleted_again():
    ns = obj("", "", "Namespace", "mess-a", "n", deleting=True)
    pvc = obj("default", "", "PersistentVolumeClaim", "data", "v", deleting=True)
    mirror = obj("default", "", "Pod", "static-w1", "m", mirror=True)
    assert planned([ns, pvc, mirror]) == set()


# -- the node-side script -----------------------------------------------------------

def test_the_node_script_cleans_what_kubeadm_reset_leaves_within_the_labs_pod_subnet():
    spec = parse_spec({"name": "reset", "networking": {"pod_subnet": "10.32.0.0/16"},
                       "nodes": [{"name": "cp1", "address": "10.0.0.1", "role": "control-plane"}]})
    script = node_reset_script(spec)
    assert script.startswith("set -eu\n")
    assert "kubeadm reset -f --cri-socket unix:///run/containerd/containerd.sock" in script
    assert "ip route flush root 10.32.0.0/16" in script
    for path in ("/etc/cni/net.d", "/var/lib/kubelet", "/var/lib/etcd", "/etc/kubernetes", "/root/.kube"):
        assert path in script


# -- is the kubeconfig this lab's? --------------------------------------------------

@pytest.mark.parametrize("server", ["https://10.0.0.10:6443"])
def test_the_specs_own_control_plane_is_accepted(server):
    assert server_problem(server, SPEC) is None


@pytest.mark.parametrize("server", ["https://10.0.0.99:6443", "https://10.0.0.10:7443", "http://10.0.0.10:6443",
                                    "https://10.0.0.10", "https://10.0.0.10:99999", "https://kind-control:6443"])
def test_a_kubeconfig_for_another_server_is_refused(server):
    problem = server_problem(server, SPEC)
    assert problem and server in problem and "10.0.0.10" in problem and "Fix:" in problem


# -- what goes first -----------------------------------------------------------------

def test_leftover_webhooks_and_apiservices_are_deleted_before_anything_else():
    webhook = ApiObject(Ref("", "admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "deny-all"), "w")
    api = ApiObject(Ref("", "apiregistration.k8s.io", "APIService", "v1.bogus.example.com"), "a")
    pod = ApiObject(Ref("default", "", "Pod", "web"), "p")
    assert [o.ref.name for o, _ in delete_plan([pod, webhook, api])] == ["deny-all", "v1.bogus.example.com"]
    assert [o.ref.name for o, _ in delete_plan([pod])] == ["web"]
