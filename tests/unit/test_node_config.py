"""The files kubelab writes on nodes, rendered from a spec and node facts."""

import tomllib

import pytest
import yaml

from kubelab import cni, configs, kubeadm
from kubelab.deploy import parse_results
from kubelab.errors import KubelabError
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
