"""kubeadm takes IPs for a node's own address: a node the spec names by hostname lets kubeadm pick the IP."""

import yaml

from kubelab import kubeadm
from kubelab.spec import parse_spec

FACTS = kubeadm.NodeFacts(cgroup_version=2, in_container=False)


def docs(text: str) -> dict:
    return {d["kind"]: d for d in yaml.safe_load_all(text)}


def lab(address: str):
    return parse_spec({"name": "t", "nodes": [{"name": "cp1", "address": address, "role": "control-plane"},
                                              {"name": "w1", "address": "10.0.0.11", "role": "worker"}]})


def test_an_ip_address_is_the_advertise_address_and_the_node_ip():
    spec = lab("10.0.0.10")
    init = docs(kubeadm.init_config(spec, spec.control_plane, FACTS))
    assert init["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == "10.0.0.10"
    assert init["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": "10.0.0.10"}]


def test_a_hostname_is_only_the_endpoint_and_kubeadm_picks_the_ip():
    spec = lab("cp1.lab.example")
    init = docs(kubeadm.init_config(spec, spec.control_plane, FACTS))
    assert "advertiseAddress" not in init["InitConfiguration"]["localAPIEndpoint"]
    assert "kubeletExtraArgs" not in init["InitConfiguration"]["nodeRegistration"]
    assert init["ClusterConfiguration"]["controlPlaneEndpoint"] == "cp1.lab.example:6443"
    join = docs(kubeadm.join_config(spec, spec.workers[0], FACTS, "abcdef.0123456789abcdef", "sha256:00"))
    assert join["JoinConfiguration"]["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "cp1.lab.example:6443"
