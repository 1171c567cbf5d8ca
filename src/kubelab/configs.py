"""The text of every configuration file kubelab writes on a node.

Pure functions of the lab spec and the node's facts, so they are unit tested
without a node and a deploy writes exactly what a test read. The containerd
and kubelet settings that must agree (cgroup driver, sandbox image, socket)
are taken from one place each.
"""

from __future__ import annotations

from urllib.parse import urlparse

from kubelab.spec import LabSpec

CONTAINERD_SOCKET = "unix:///run/containerd/containerd.sock"
CERTS_DIR = "/etc/containerd/certs.d"
# The kubelet and containerd must use the same cgroup driver; on a systemd
# host that is systemd (kubeadm's default since 1.22).
CGROUP_DRIVER = "systemd"

# Where each registry's own endpoint is, for the `server` line of hosts.toml
# (containerd falls back to it when no mirror answers).
UPSTREAM_ENDPOINTS = {"docker.io": "https://registry-1.docker.io"}


def containerd_config(spec: LabSpec, restrict_oom_score_adj: bool) -> str:
    """containerd 2.x config (version 3)."""
    # restrict_oom_score_adj: some kernels (this project's CI among them)
    # refuse negative oom_score_adj even to root, and every sandbox then
    # fails in runc; containerd clamps the value instead.
    # config_path is set for the CRI and for the transfer service, because
    # containerd 2.x pulls for the CRI through the transfer service.
    return f"""\
# Written by kubelab; edit the lab spec instead.
version = 3

[plugins.'io.containerd.cri.v1.images']
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{spec.release.pause_image}'
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = '{CERTS_DIR}'

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = {str(restrict_oom_score_adj).lower()}
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
    SystemdCgroup = {str(CGROUP_DRIVER == "systemd").lower()}

[plugins.'io.containerd.transfer.v1.local']
  config_path = '{CERTS_DIR}'
"""


def hosts_toml(registry: str, mirror: str) -> str:
    """containerd hosts.toml sending pulls for `registry` to `mirror` first."""
    server = UPSTREAM_ENDPOINTS.get(registry, f"https://{registry}")
    # A plain-HTTP mirror (a classroom registry) needs no TLS settings;
    # skip_verify only matters for an https mirror with its own CA.
    insecure = urlparse(mirror).scheme == "http"
    return f"""\
# Written by kubelab from the lab spec's registry_mirrors.
server = "{server}"

[host."{mirror}"]
  capabilities = ["pull", "resolve"]
  skip_verify = {str(insecure).lower()}
"""


def crictl_yaml() -> str:
    return f"""\
runtime-endpoint: {CONTAINERD_SOCKET}
image-endpoint: {CONTAINERD_SOCKET}
timeout: 10
"""


# No OOMScoreAdjust: where the kernel refuses negative values (see
# containerd_config) systemd would refuse to start the unit.
CONTAINERD_UNIT = """\
[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target local-fs.target

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity

[Install]
WantedBy=multi-user.target
"""

MODULES_LOAD = "overlay\nbr_netfilter\n"

# The sysctls kubeadm's preflight checks, plus forwarding for pod traffic.
SYSCTLS = {
    "net.bridge.bridge-nf-call-iptables": 1,
    "net.bridge.bridge-nf-call-ip6tables": 1,
    "net.ipv4.ip_forward": 1,
}
SYSCTL_FILE = "/etc/sysctl.d/99-kubernetes.conf"
