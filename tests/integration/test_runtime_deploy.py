"""The runtime stage of deploys/lab.py on 2 real node containers, over real SSH.

Asserts what a student relies on: containerd running with the lab's config,
crictl and nerdctl answering, a container actually running through runc,
the kernel settings kubeadm wants; then that a second run changes nothing.
"""

import pytest

from kubelab import configs
from kubelab.deploy import run_deploy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def runtime_deploy(lab_spec_path):
    result = run_deploy(lab_spec_path, stages="runtime")
    assert result.returncode == 0, result.output[-4000:]
    return result


def test_first_run_changes_every_node(runtime_deploy, lab_spec):
    assert runtime_deploy.changed > 0
    assert runtime_deploy.errors == 0


@pytest.mark.parametrize("node", ["cp1", "w1"])
def test_containerd_is_active_with_the_lab_config(runtime_deploy, node_shell, lab_spec, node):
    assert node_shell(node, "systemctl is-active containerd").strip() == "active"
    config = node_shell(node, "containerd config dump")
    assert lab_spec.release.pause_image in config
    assert "SystemdCgroup = true" in config
    assert f"config_path = '{configs.CERTS_DIR}'" in config


@pytest.mark.parametrize("node", ["cp1", "w1"])
def test_crictl_answers_on_the_configured_socket(runtime_deploy, node_shell, node):
    info = node_shell(node, "crictl info -o json")
    assert '"RuntimeReady"' in info
    assert node_shell(node, "grep runtime-endpoint /etc/crictl.yaml").split()[-1] == configs.CONTAINERD_SOCKET


def test_nerdctl_lists_the_kubernetes_namespace(runtime_deploy, node_shell):
    assert node_shell("w1", "nerdctl --namespace k8s.io ps -a").startswith("CONTAINER ID")


def test_ctr_pulls_through_the_mirror_and_runs_a_container(runtime_deploy, node_shell):
    # The image comes from the lab's registry mirror via hosts.toml, as the
    # kubelet's pulls will; the container runs through runc.
    ref = "docker.io/library/busybox:1.37"
    node_shell("w1", f"ctr -n kubelab-test images pull --hosts-dir {configs.CERTS_DIR} {ref} >/dev/null")
    out = node_shell("w1", f"ctr -n kubelab-test run --rm {ref} kubelab-probe busybox echo hello-from-runc")
    assert out.strip() == "hello-from-runc"
    node_shell("w1", f"ctr -n kubelab-test images rm {ref} >/dev/null")


@pytest.mark.parametrize("key", sorted(configs.SYSCTLS))
def test_kubeadm_sysctls_are_set(runtime_deploy, node_shell, key):
    for node in ("cp1", "w1"):
        assert node_shell(node, f"sysctl -n {key}").strip() == str(configs.SYSCTLS[key])


def test_second_run_changes_nothing(runtime_deploy, lab_spec_path):
    again = run_deploy(lab_spec_path, stages="runtime")
    assert again.returncode == 0, again.output[-4000:]
    assert (again.changed, again.errors) == (0, 0), again.output[-4000:]
    assert again.unchanged > 0
