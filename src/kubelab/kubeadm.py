"""kubeadm configuration generated from the lab spec and a node's facts.

One function per document kubeadm reads; node-specific settings come from
facts the deploy detected (cgroup version, running in a container), never
from what kind of lab this is.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass

import yaml

from kubelab import configs
from kubelab.spec import LabSpec, Node

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
API_PORT = 6443
INIT_CONFIG = "/etc/kubernetes/kubelab/kubeadm-init.yaml"
JOIN_CONFIG = "/etc/kubernetes/kubelab/kubeadm-join.yaml"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
# Ports kubeadm's preflight wants free on a node that has no cluster yet.
CONTROL_PLANE_PORTS = (API_PORT, 2379, 2380, 10250, 10257, 10259)
WORKER_PORTS = (10250,)


@dataclass(frozen=True)
class NodeFacts:
    cgroup_version: int
    in_container: bool


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _minor(spec: LabSpec) -> tuple[int, int]:
    major, minor = spec.release.minor.split(".")
    return int(major), int(minor)


def _node_registration(spec: LabSpec, node: Node, facts: NodeFacts) -> dict:
    reg = {"name": node.name, "criSocket": configs.CONTAINERD_SOCKET}
    # A node addressed by hostname lets the kubelet pick its IP; both settings take IPs only.
    if _is_ip(node.address):
        reg["kubeletExtraArgs"] = [{"name": "node-ip", "value": node.address}]
    # kubeadm >= 1.35 refuses cgroup v1 in SystemVerification unless it is
    # skipped explicitly (and the kubelet told failCgroupV1: false).
    if facts.cgroup_version == 1 and _minor(spec) >= (1, 35):
        reg["ignorePreflightErrors"] = ["SystemVerification"]
    if node.role == "control-plane" and len(spec.nodes) == 1:
        reg["taints"] = []  # a one-node lab must schedule the exercises
    return reg


def kubelet_configuration(spec: LabSpec, facts: NodeFacts) -> dict:
    conf = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": configs.CGROUP_DRIVER,
    }
    if facts.cgroup_version == 1:
        conf["failCgroupV1"] = False
    if facts.in_container:
        # A node container sees the host's disk and swap: without these the
        # kubelet refuses to start on a host with swap, and evicts pods or
        # deletes images when the host's disk fills (kind does the same).
        conf.update({
            "failSwapOn": False,
            "imageGCHighThresholdPercent": 100,
            "evictionHard": {"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"},
        })
    conf.update(copy.deepcopy(spec.kubelet))
    return conf


def init_config(spec: LabSpec, node: Node, facts: NodeFacts) -> str:
    init = {
        "apiVersion": KUBEADM_API,
        "kind": "InitConfiguration",
        "localAPIEndpoint": {"bindPort": API_PORT, **({"advertiseAddress": node.address} if _is_ip(node.address) else {})},
        "nodeRegistration": _node_registration(spec, node, facts),
    }
    cluster = {
        "apiVersion": KUBEADM_API,
        "kind": "ClusterConfiguration",
        "clusterName": spec.name,
        "kubernetesVersion": spec.release.kubernetes,
        "controlPlaneEndpoint": f"{node.address}:{API_PORT}",
        "networking": {"podSubnet": spec.pod_subnet, "serviceSubnet": spec.service_subnet},
    }
    proxy = {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration"}
    if facts.in_container:
        # A container may not set nf_conntrack_max; 0 leaves it alone.
        proxy["conntrack"] = {"maxPerCore": 0}
    return _documents(init, cluster, kubelet_configuration(spec, facts), proxy)


def join_config(spec: LabSpec, node: Node, facts: NodeFacts, token: str, ca_cert_hash: str) -> str:
    join = {
        "apiVersion": KUBEADM_API,
        "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": {
            "apiServerEndpoint": f"{spec.control_plane.address}:{API_PORT}",
            "token": token,
            "caCertHashes": [ca_cert_hash],
        }},
        "nodeRegistration": _node_registration(spec, node, facts),
    }
    return _documents(join)


def parse_join_command(output: str) -> tuple[str, str]:
    """(token, CA cert hash) from `kubeadm token create --print-join-command`."""
    words = output.split()
    try:
        token = words[words.index("--token") + 1]
        ca_hash = words[words.index("--discovery-token-ca-cert-hash") + 1]
    except (ValueError, IndexError):
        # The output holds a secret: say what is missing, never echo it.
        raise ValueError("kubeadm did not print a join command with --token and "
                         "--discovery-token-ca-cert-hash") from None
    return token, ca_hash


def _documents(*docs: dict) -> str:
    return "---\n".join(yaml.safe_dump(doc, sort_keys=False) for doc in docs)
