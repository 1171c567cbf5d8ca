"""The text of every configuration file kubelab writes on a node.

Pure functions of the lab spec and the node's facts, so they are unit tested
without a node and a deploy writes exactly what a test read. The containerd
and kubelet settings that must agree (cgroup driver, sandbox image, socket)
are taken from one place each.
"""

from __future__ import annotations

import posixpath
import shlex

from kubelab import toml
from kubelab.errors import SpecError
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
    return "# Written by kubelab; edit the lab spec instead.\n" + toml.dumps({
        "version": 3,
        "plugins": {
            "io.containerd.cri.v1.images": {
                "pinned_images": {"sandbox": spec.release.pause_image},
                "registry": {"config_path": CERTS_DIR},
            },
            "io.containerd.cri.v1.runtime": {
                "restrict_oom_score_adj": restrict_oom_score_adj,
                "containerd": {"runtimes": {"runc": {"options": {"SystemdCgroup": CGROUP_DRIVER == "systemd"}}}},
            },
            "io.containerd.transfer.v1.local": {"config_path": CERTS_DIR},
        },
    })


def hosts_toml(registry: str, mirror: str) -> str:
    """containerd hosts.toml sending pulls for `registry` to `mirror` first."""
    # A plain-HTTP mirror (a classroom registry) needs no TLS settings;
    # skip_verify only matters for an https mirror with its own CA.
    return "# Written by kubelab from the lab spec's registry_mirrors.\n" + toml.dumps({
        "server": UPSTREAM_ENDPOINTS.get(registry, f"https://{registry}"),
        "host": {mirror: {"capabilities": ["pull", "resolve"], "skip_verify": mirror.lower().startswith("http://")}},
    })


def hosts_toml_path(spec: LabSpec, registry: str) -> str:
    """Where containerd reads `registry`'s hosts.toml: a directory named for it directly under CERTS_DIR.

    The key becomes a path on every node, written as root, so anything that
    would land elsewhere (`..`, a slash, an absolute path, nothing at all) or
    that is no host name containerd could look up (control characters) is refused.
    """
    directory = posixpath.normpath(posixpath.join(CERTS_DIR, str(registry)))
    if not isinstance(registry, str) or not registry.isprintable() \
            or posixpath.dirname(directory) != CERTS_DIR or posixpath.basename(directory) != registry:
        raise SpecError(str(spec.path or "the lab spec"), f"registry_mirrors.{registry!r}",
                        f"{registry!r} is not a registry host name (its hosts.toml would go to "
                        f"{posixpath.join(directory, 'hosts.toml')!r}); nothing was written",
                        "use the registry's host name (with :port if it has one) as the key, e.g. docker.io")
    return f"{directory}/hosts.toml"


def registry_mirror_files(spec: LabSpec) -> list[tuple[str, str, str]]:
    """(registry, hosts.toml path, its text) per mirror, every key checked before any file is written."""
    return [(registry, hosts_toml_path(spec, registry), hosts_toml(registry, mirror))
            for registry, mirror in sorted(spec.registry_mirrors.items())]


def api_ready_command(address: str, port: int, attempts: int = 90) -> str:
    """Shell that waits (2 s apart) until the API server at address:port answers /readyz, as root on every node.

    The address comes from the spec, so it goes in quoted: whatever it holds
    stays one argument to curl.
    """
    url = shlex.quote(f"https://{address}:{int(port)}/readyz")
    return (f"for i in $(seq {int(attempts)}); do curl -fsk --max-time 2 {url} >/dev/null && exit 0; sleep 2; done; "
            f"echo 'API server not ready after {2 * int(attempts)} s' >&2; exit 1")


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
