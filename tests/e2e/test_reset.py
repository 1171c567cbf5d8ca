"""Reset between students, on the real cluster the deploy built: `kubelab reset` as CI runs it.

A student's mess (two namespaces with pods, a Deployment and a ConfigMap in
default, the article's pod killed while it restarts) goes away; the API and
every node are judged clean by `kubelab verify`, independently re-read here,
and the article's checks pass again. The cluster depth rebuilds the cluster
(new kube-system uid) and records a new baseline. Runs last among the e2e
files: the cluster reset replaces the cluster the others read.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kubelab import paths
from kubelab.baseline import load_baseline
from kubelab.cluster import Cluster, Manifest, PodView, load_manifests
from kubelab.errors import KubelabError
from kubelab.local import nodes
from kubelab.local.podman import podman
from kubelab.runtime import NodeRuntime
from lab_cli import kubelab, wait_for

pytestmark = pytest.mark.e2e

EXERCISE = ("default", "nginx-with-sidecar")
MESS = Path(__file__).parents[1] / "fixtures" / "manifests" / "student-mess.yaml"
CLUSTER_MESS = MESS.with_name("student-cluster-mess.yaml")
MESS_NAMESPACES = ("mess-a", "mess-b")


def verdicts(result: subprocess.CompletedProcess) -> dict:
    assert result.stdout.strip(), result.stderr[-3000:]
    return json.loads(result.stdout)


def api(lab_spec):
    # Read anew each time: the cluster reset replaces the kubeconfig.
    return config.new_client_from_config(config_file=str(paths.lab_dir(lab_spec.name) / "kubeconfig"))


def gone(read) -> bool:
    try:
        read()
    except ApiException as exc:
        return exc.status == 404
    return False


def make_a_mess(lab_spec) -> set[str]:
    """What a student leaves (tests/fixtures/manifests/student-mess.yaml); returns its pods' uids."""
    cluster = Cluster.for_lab(lab_spec)
    manifests = load_manifests([MESS])
    # A namespaced object's server-side dry run needs its namespace to exist already.
    cluster.apply([m for m in manifests if m.kind == "Namespace"])
    cluster.apply([m for m in manifests if m.kind != "Namespace"])
    core = client.CoreV1Api(api(lab_spec))

    def mess_pods():
        pods = [p for ns in MESS_NAMESPACES for p in core.list_namespaced_pod(ns).items]
        pods += core.list_namespaced_pod("default", label_selector="app=web").items
        return len(pods) == 4 and all(p.status.phase == "Running" for p in pods) and pods
    return {p.metadata.uid for p in wait_for("the mess's 4 pods Running", mess_pods)}


def make_a_cluster_mess(lab_spec) -> list[str]:
    """What a student leaves outside namespaces (student-cluster-mess.yaml) and a custom resource; returns them."""
    cluster = Cluster.for_lab(lab_spec)
    manifests = load_manifests([CLUSTER_MESS])
    for m in manifests:  # one by one: the CRD must be served before its resource, the admission objects last
        cluster.apply([m])
    wait_for("the CRD served", lambda: cluster.get("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                                                    "widgets.mess.kubelab.test").get("status", {}).get(
        "acceptedNames", {}).get("kind") == "Widget", timeout=60)
    widget = {"apiVersion": "mess.kubelab.test/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}
    wait_for("a Widget created", lambda: _try_apply(cluster, widget), timeout=60)
    return [f"{m.kind} {m.name}" for m in manifests] + ["Widget default/w"]


def _try_apply(cluster: Cluster, body: dict) -> bool:
    try:
        cluster.apply([Manifest("widget", 1, body)])
    except KubelabError:
        return False
    return True


def kill_the_exercise_mid_restart(lab_spec, ssh_pool) -> str:
    """kill -9 nginx (the article's way) and stop the sidecar with crictl, then return at once."""
    pod = PodView.from_api(Cluster.for_lab(lab_spec).pod(*EXERCISE))
    runtime = NodeRuntime(ssh_pool.session(pod.node))
    nginx = runtime.inspect(pod.container("nginx").container_id)
    assert runtime.kill(nginx.pid).ok
    ssh_pool.session(pod.node).run(f"crictl stop --timeout 0 {pod.container('sidecar').container_id}", check=True)
    return pod.uid


def answers(node_shell, node: str) -> bool:
    try:
        node_shell(node, "true")
    except KubelabError:
        return False
    return True


def node_view(node_shell, lab_spec) -> tuple[set[str], set[str]]:
    """Every sandbox's pod uid and every /var/lib/kubelet/pods entry, on all nodes."""
    uids, dirs = set(), set()
    for node in lab_spec.nodes:
        listed = json.loads(node_shell(node.name, "crictl pods -o json"))
        uids |= {item["metadata"]["uid"] for item in listed["items"]}
        dirs |= set(node_shell(node.name, "ls -1 /var/lib/kubelet/pods").split())
    return uids, dirs


def test_the_deploy_recorded_a_private_baseline_without_the_exercise(cluster_deploy, lab_spec):
    path = paths.lab_dir(lab_spec.name) / "baseline.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    baseline = load_baseline(lab_spec)
    names = {str(r) for r in baseline.objects}
    assert "Deployment.apps kube-system/coredns" in names
    assert "DaemonSet.apps kube-system/kube-router" in names
    assert "Pod default/nginx-with-sidecar" not in names
    assert baseline.namespaces == {"default", "kube-node-lease", "kube-public", "kube-system"}


def test_without_a_terminal_or_yes_nothing_is_touched(cluster_deploy, lab_spec, lab_spec_path):
    core = client.CoreV1Api(api(lab_spec))
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="keep-me")))
    try:
        result = kubelab(lab_spec_path, "reset")
        assert result.returncode == 2
        assert "pass --yes" in result.stderr
        assert core.read_namespaced_config_map("keep-me", "default")
        # verify sees it, and says so with a non-zero exit.
        found = kubelab(lab_spec_path, "verify", "--json")
        assert found.returncode == 1
        api_check = next(v for v in verdicts(found)["verdicts"] if v["check"] == "API: nothing beyond the baseline")
        assert "ConfigMap default/keep-me" in api_check["findings"]
    finally:
        core.delete_namespaced_config_map("keep-me", "default")


def test_a_workloads_reset_leaves_only_the_fresh_lab(cluster_deploy, lab_spec, lab_spec_path, ssh_pool, node_shell):
    mess_uids = make_a_mess(lab_spec)
    cluster_mess = make_a_cluster_mess(lab_spec)
    before = kubelab(lab_spec_path, "verify", "--json")
    api_check = next(v for v in verdicts(before)["verdicts"] if v["check"] == "API: nothing beyond the baseline")
    for found in ("CustomResourceDefinition.apiextensions.k8s.io widgets.mess.kubelab.test",
                  "ClusterRoleBinding.rbac.authorization.k8s.io mess-reader",
                  "Secret kube-system/bootstrap-token-mess01", "APIService.apiregistration.k8s.io v1.mess.kubelab.example",
                  "ValidatingAdmissionPolicy.admissionregistration.k8s.io mess-no-pods",
                  "ValidatingWebhookConfiguration.admissionregistration.k8s.io mess-deny-deletes",
                  "Widget.mess.kubelab.test default/w"):
        assert found in api_check["findings"], (found, cluster_mess)
    old_exercise_uid = kill_the_exercise_mid_restart(lab_spec, ssh_pool)

    result = kubelab(lab_spec_path, "reset", "--yes", "--json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    summary = verdicts(result)["summary"]
    assert summary["pass"] == summary["total"] == 2 + 3 * len(lab_spec.nodes)

    # Read both views again here, not through kubelab's judges.
    core, apps = client.CoreV1Api(api(lab_spec)), client.AppsV1Api(api(lab_spec))
    for ns in MESS_NAMESPACES:
        assert gone(lambda: core.read_namespace(ns))
    assert gone(lambda: apps.read_namespaced_deployment("web", "default"))
    assert gone(lambda: core.read_namespaced_config_map("notes", "default"))
    assert not core.list_namespaced_pod("default", label_selector="app=web").items
    ext = client.ApiextensionsV1Api(api(lab_spec))
    admission = client.AdmissionregistrationV1Api(api(lab_spec))
    assert gone(lambda: ext.read_custom_resource_definition("widgets.mess.kubelab.test"))
    assert gone(lambda: admission.read_validating_webhook_configuration("mess-deny-deletes"))
    assert gone(lambda: admission.read_validating_admission_policy("mess-no-pods"))
    assert gone(lambda: admission.read_validating_admission_policy_binding("mess-no-pods"))
    assert gone(lambda: client.ApiregistrationV1Api(api(lab_spec)).read_api_service("v1.mess.kubelab.example"))
    assert gone(lambda: client.RbacAuthorizationV1Api(api(lab_spec)).read_cluster_role_binding("mess-reader"))
    assert gone(lambda: client.RbacAuthorizationV1Api(api(lab_spec)).read_cluster_role("mess-reader"))
    assert gone(lambda: core.read_namespaced_secret("bootstrap-token-mess01", "kube-system"))
    fresh = core.read_namespaced_pod(EXERCISE[1], EXERCISE[0])
    assert fresh.metadata.uid != old_exercise_uid
    assert fresh.status.phase == "Running"
    assert [s.restart_count for s in fresh.status.container_statuses] == [0, 0]
    sandbox_uids, pod_dirs = node_view(node_shell, lab_spec)
    left = (mess_uids | {old_exercise_uid}) & (sandbox_uids | pod_dirs)
    assert not left, f"sandboxes or pod directories of removed pods remain: {left}"

    checks = kubelab(lab_spec_path, "check", "--json")
    assert checks.returncode == 0, checks.stdout[-4000:]
    assert verdicts(checks)["summary"]["fail"] == 0


def test_a_node_that_is_down_stops_the_reset_before_anything_changes(cluster_deploy, lab_spec, lab_spec_path):
    worker = lab_spec.workers[0]
    container = nodes.LocalNode(worker.name, worker.role, worker.address).container(lab_spec.name)
    uid = client.CoreV1Api(api(lab_spec)).read_namespace("kube-system").metadata.uid
    podman("stop", "--time", "5", container)
    try:
        result = kubelab(lab_spec_path, "reset", "--depth", "cluster", "--yes")
    finally:
        podman("--runtime", "runc", "start", container)
    assert result.returncode == 2
    # Rich wraps the message to the terminal width; compare words.
    assert f"node {worker.name} ({lab_spec.ssh.user}@{worker.address}:22)" in " ".join(result.stderr.split())
    assert client.CoreV1Api(api(lab_spec)).read_namespace("kube-system").metadata.uid == uid
    assert load_baseline(lab_spec) is not None


def test_a_cluster_reset_builds_a_new_cluster_and_records_its_baseline(cluster_deploy, lab_spec, lab_spec_path,
                                                                        node_shell):
    core = client.CoreV1Api(api(lab_spec))
    old_uid = core.read_namespace("kube-system").metadata.uid
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="mess-a")))
    # The previous test restarted the worker's container: wait until its sshd answers again.
    wait_for("the worker's SSH", lambda: answers(node_shell, lab_spec.workers[0].name), timeout=60)

    result = kubelab(lab_spec_path, "reset", "--depth", "cluster", "--yes", "--json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    core = client.CoreV1Api(api(lab_spec))
    new_uid = core.read_namespace("kube-system").metadata.uid
    assert new_uid != old_uid
    assert load_baseline(lab_spec).cluster_uid == new_uid
    assert gone(lambda: core.read_namespace("mess-a"))
    assert not (paths.lab_dir(lab_spec.name) / "reset-in-progress.json").exists()
    # Static pods start at restart 0: no state of the old cluster fooled the kubelet.
    control = core.list_namespaced_pod("kube-system", field_selector=f"spec.nodeName={lab_spec.control_plane.name}")
    static = [p for p in control.items if p.metadata.name.endswith(f"-{lab_spec.control_plane.name}")]
    assert len(static) == 4 and all(s.restart_count == 0 for p in static for s in p.status.container_statuses)
    checks = kubelab(lab_spec_path, "check", "--json")
    assert checks.returncode == 0, checks.stdout[-4000:]
