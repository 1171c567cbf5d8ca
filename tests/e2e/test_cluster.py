"""From node containers to a working kubeadm cluster, through deploys/lab.py.

Everything here is real: pyinfra over SSH, containerd and runc in the nodes,
kubeadm init/join, kube-router, images pulled through the lab's registry
mirror, and the official kubernetes client reading the result.
"""

import re
import stat
import time

import pytest
from kubernetes import client, config

from kubelab import paths
from kubelab.deploy import run_deploy

pytestmark = pytest.mark.e2e

BOOTSTRAP_TOKEN = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")
WAIT_SECONDS = 240


def wait_for(what, probe, timeout=WAIT_SECONDS):
    """Poll probe() until it returns something truthy; fail naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}; last seen: {last!r}")


@pytest.fixture(scope="module")
def core(cluster_deploy, lab_spec):
    api = config.new_client_from_config(config_file=str(paths.lab_dir(lab_spec.name) / "kubeconfig"))
    return client.CoreV1Api(api)


def test_operator_kubeconfig_is_private(cluster_deploy, lab_spec):
    path = paths.lab_dir(lab_spec.name) / "kubeconfig"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_join_token_never_reaches_the_output(cluster_deploy):
    assert not BOOTSTRAP_TOKEN.search(cluster_deploy.output)


def test_both_nodes_are_ready(core, lab_spec):
    def ready():
        nodes = core.list_node().items
        return {n.metadata.name for n in nodes
                if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)}
    assert wait_for("both nodes Ready", lambda: ready() == {"cp1", "w1"} and ready())
    versions = {n.status.node_info.kubelet_version for n in core.list_node().items}
    assert versions == {lab_spec.release.kubernetes}


def test_coredns_runs(core):
    def running():
        pods = core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
        return len(pods) > 0 and all(p.status.phase == "Running" for p in pods) and len(pods)
    assert wait_for("CoreDNS pods Running", running) >= 1


def test_pod_on_the_worker_resolves_the_api_service(core, node_shell):
    name = "e2e-dns-probe"
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            node_name="w1", restart_policy="Never",
            containers=[client.V1Container(name="probe", image="busybox:1.37",
                                           command=["nslookup", "kubernetes.default.svc.cluster.local"])]))
    core.create_namespaced_pod("default", pod)
    try:
        phase = wait_for("the probe pod to finish",
                         lambda: core.read_namespaced_pod(name, "default").status.phase
                         if core.read_namespaced_pod(name, "default").status.phase in ("Succeeded", "Failed")
                         else None)
        log = core.read_namespaced_pod_log(name, "default")
        assert phase == "Succeeded", log
        service_ip = core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
        assert service_ip in log
        sandboxes = node_shell("w1", f"crictl pods --name {name} -q").split()
        assert len(sandboxes) == 1
    finally:
        core.delete_namespaced_pod(name, "default", grace_period_seconds=0)


def test_second_run_changes_nothing_and_does_not_reinit(cluster_deploy, lab_spec_path):
    again = run_deploy(lab_spec_path)
    assert again.returncode == 0, again.output[-6000:]
    assert (again.changed, again.errors) == (0, 0), again.output[-6000:]
    assert "kubeadm init" not in again.output
