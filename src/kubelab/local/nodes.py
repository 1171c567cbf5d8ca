"""The local lab's node provider: podman containers that look like VMs.

Each node runs systemd as PID 1 and sshd with a host key generated for it
here, so the known_hosts file is written from keys we made rather than
accepted on first use. The provider knows nothing of Kubernetes: it creates,
starts and removes node containers and writes the spec that the inventory and
the deploys read. Flags below are the measured recipe (machine-facts.md).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console

from kubelab import names, paths, versions
from kubelab.bundle.manifest import MANIFEST_NAME
from kubelab.local import image, podman, registry

FIRST_NODE_HOST = 10
LABEL = "io.kubelab.lab"
SSH_WAIT_SECONDS = 60
# Each node's systemd, containerd and kubelet hold inotify instances, which
# count against the host's per-user limit (kind documents the same need).
MIN_INOTIFY_INSTANCES = 512
INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")

# --systemd=always would mount the host's whole name=systemd hierarchy over
# the node's, and the kubelet's systemd cgroup driver then fails; nofile is
# needed by runc ("error setting rlimit type 7") and capped at 20000 here.
NODE_FLAGS = (
    "--privileged", "--cgroupns=private", "--systemd=false",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
    "-e", "container=podman",
    # systemd shuts down on SIGRTMIN+3; SIGTERM would leave podman waiting.
    "--stop-signal", "RTMIN+3",
    "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
)


@dataclass(frozen=True)
class LocalNode:
    name: str
    role: str
    address: str

    def container(self, lab: str) -> str:
        return f"kubelab-{lab}-{self.name}"


@dataclass(frozen=True)
class LabNetwork:
    """Each lab has its own podman network, so labs (a student's, the tests') coexist."""

    name: str
    subnet: ipaddress.IPv4Network

    @classmethod
    def of(cls, lab: str) -> "LabNetwork":
        return cls(f"kubelab-{lab}", ipaddress.ip_network(f"10.89.{zlib.crc32(lab.encode()) % 250}.0/24"))

    @property
    def gateway(self) -> str:
        """The host's address on the lab network, where the registry mirror listens."""
        return str(self.subnet.network_address + 1)

    def address(self, index: int) -> str:
        return str(self.subnet.network_address + FIRST_NODE_HOST + index)


def plan(count: int, net: LabNetwork) -> list[LocalNode]:
    """Node 1 is the control plane, the rest are workers, on fixed addresses."""
    if count < 1:
        raise podman.PodmanError("a lab needs at least 1 node (the control plane). Fix: --count 1 or more")
    if count > 20:
        raise podman.PodmanError(f"{count} nodes will not fit on a 2-core machine. Fix: --count 20 or fewer")
    nodes = [LocalNode("cp1", "control-plane", net.address(0))]
    nodes += [LocalNode(f"w{i}", "worker", net.address(i)) for i in range(1, count)]
    return nodes


def spec_path(lab: str) -> Path:
    return paths.lab_dir(lab) / "spec.yaml"


def up(lab: str, count: int, kubernetes: str = versions.DEFAULT_MINOR, console: Console | None = None,
       user: str = "root") -> Path:
    """Start the lab's node containers (reusing running ones) and write its spec; returns the spec path.

    `user` is who kubelab logs in as: root, or `ubuntu` with passwordless sudo
    as on cloud VMs, so the sudo path of every deploy, check and reset runs here too.
    """
    console = console or Console(stderr=True)
    if user not in image.USERS:
        raise podman.PodmanError(f"the node image has no user {user!r}. Fix: use one of {', '.join(image.USERS)}")
    if kubernetes not in versions.RELEASES:
        raise podman.PodmanError(f"Kubernetes {kubernetes} is not in the version table. "
                                 f"Fix: use one of {', '.join(sorted(versions.RELEASES))}")
    net = LabNetwork.of(lab)
    nodes = plan(count, net)
    _check_inotify()
    state = paths.lab_dir(lab)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    client_key = _keypair(state / "id_ed25519", f"kubelab-{lab}")
    node_image = image.ensure_image(console)
    _ensure_network(net)
    known_hosts = []
    for node in nodes:
        host_key = _keypair(state / "hostkeys" / node.name, node.name)
        _ensure_node(lab, node, net, node_image, host_key, client_key.with_suffix(".pub"), state, user)
        public = host_key.with_suffix(".pub").read_text().split()
        known_hosts.append(f"{node.address} {public[0]} {public[1]}\n")
    paths.write_private(state / "known_hosts", "".join(known_hosts))
    for node in nodes:
        _wait_for_ssh(node)
    bundle = paths.bundle_dir(versions.release(kubernetes).kubernetes)
    registry.serve(lab, net.gateway)
    if (bundle / MANIFEST_NAME).exists():
        registry.publish(bundle, net.gateway, console)
    else:
        console.print(f"[yellow]no bundle at {bundle}: the mirror has no images until "
                      "`kubelab bundle build` runs and `kubelab nodes up` is run again[/]")
    spec = {
        "name": lab,
        "kubernetes": kubernetes,
        "artifacts": {"source": "bundle",
                      "bundle": str(paths.bundle_dir(versions.release(kubernetes).kubernetes))},
        "nodes": [{"name": n.name, "address": n.address, "role": n.role} for n in nodes],
        "ssh": {"user": user, "key": str(client_key), "known_hosts": str(state / "known_hosts")},
        "registry_mirrors": {name: f"http://{net.gateway}:{registry.PORT}"
                             for name in ("docker.io", versions.UPSTREAM_K8S_REGISTRY)},
        "provider": {"kind": "podman", "network": net.name},
    }
    paths.write_private(spec_path(lab), yaml.safe_dump(spec, sort_keys=False))
    return spec_path(lab)


@dataclass(frozen=True)
class Teardown:
    """Everything `nodes down` would remove for one lab, found before anything is removed."""

    lab: str
    containers: tuple[str, ...]
    network: str | None
    state: Path | None

    @property
    def empty(self) -> bool:
        return not (self.containers or self.network or self.state)

    def describe(self) -> str:
        lines = [f"Remove lab {self.lab}:"]
        lines += [f"  container {c}" for c in self.containers]
        if self.network:
            lines.append(f"  podman network {self.network}")
        if self.state:
            lines.append(f"  state directory {self.state} (keys, kubeconfig, baseline, registry mirror)")
        return "\n".join(lines)


class UnknownLab(podman.PodmanError):
    """`nodes down` was asked for a lab that has nothing on this machine."""


def teardown_plan(lab: str, *, missing_ok: bool = False) -> Teardown:
    """What belongs to `lab`: containers carrying its label (exactly), its network, its state directory.

    A lab with nothing on this machine is an UnknownLab error (a typo must not
    look like success) unless `missing_ok`.
    """
    state = paths.lab_dir(lab)  # checks the name first: never an empty label filter, never a path outside
    net = LabNetwork.of(lab)
    plan = Teardown(lab, tuple(containers_of(lab)), net.name if podman.exists("network", net.name) else None,
                    state if state.exists() else None)
    if plan.empty and not missing_ok:
        raise UnknownLab(f"there is no lab {lab!r} on this machine (no container labelled {LABEL}={lab}, no "
                         f"network {net.name}, no {state}). Fix: check the name; "
                         f"`podman ps -a --filter label={LABEL}` lists the labs' containers")
    return plan


def down(lab: str, *, missing_ok: bool = False) -> list[str]:
    """Remove the lab's node containers, network, registry mirror and state; returns the containers removed."""
    return remove(teardown_plan(lab, missing_ok=missing_ok))


def remove(plan: Teardown) -> list[str]:
    if plan.containers:
        podman.podman("rm", "--force", "--time", "5", *plan.containers)
    registry.stop(plan.lab)
    if plan.network:
        podman.podman("network", "rm", plan.network)
    if plan.state:
        shutil.rmtree(plan.state)
    return list(plan.containers)


def containers_of(lab: str) -> list[str]:
    """Containers whose lab label is exactly `lab` (podman's filter alone would match an empty value to all)."""
    names.check(lab, "lab name")
    out = podman.podman("ps", "-a", "--filter", f"label={LABEL}={lab}",
                        "--format", f'{{{{.Names}}}}\t{{{{index .Labels "{LABEL}"}}}}').stdout.decode()
    return sorted(name for name, _, value in (line.partition("\t") for line in out.splitlines()) if value == lab)


def _check_inotify() -> None:
    limit = int(INOTIFY_LIMIT.read_text())
    if limit < MIN_INOTIFY_INSTANCES:
        raise podman.PodmanError(
            f"fs.inotify.max_user_instances is {limit}: kubelets in node containers would die with "
            "\"inotify_init: too many open files\". Fix: sysctl -w fs.inotify.max_user_instances=8192 "
            "(`bash .ci/setup` sets it persistently)")


def _ensure_network(net: LabNetwork) -> None:
    if not podman.exists("network", net.name):
        podman.podman("network", "create", "--subnet", str(net.subnet), "--gateway", net.gateway, net.name)


def _ensure_node(lab: str, node: LocalNode, net: LabNetwork, node_image: str, host_key: Path, client_pub: Path,
                 state: Path, user: str) -> None:
    name = node.container(lab)
    if podman.exists("container", name):
        if not podman.inspect("container", name)["State"]["Running"]:
            podman.podman("--runtime", podman.RUNTIME, "start", name)
        return
    # containerd's snapshots must not sit on the node's own overlay root.
    containerd_dir = state / "nodes" / node.name / "containerd"
    containerd_dir.mkdir(parents=True, exist_ok=True)
    podman.podman("--runtime", podman.RUNTIME, "create", "--name", name, "--hostname", node.name,
                  "--label", f"{LABEL}={lab}", "--network", net.name, "--ip", node.address, *NODE_FLAGS,
                  "-v", f"{containerd_dir}:/var/lib/containerd", node_image, "/sbin/init")
    # Keys go in before first boot, so sshd never starts without them.
    podman.podman("cp", str(host_key), f"{name}:/etc/ssh/ssh_host_ed25519_key")
    podman.podman("cp", str(host_key.with_suffix(".pub")), f"{name}:/etc/ssh/ssh_host_ed25519_key.pub")
    # sshd reads the file as the user: root-owned and 0644 (ssh-keygen's .pub) passes its StrictModes.
    podman.podman("cp", str(client_pub), f"{name}:{image.home(user)}/.ssh/authorized_keys")
    podman.podman("--runtime", podman.RUNTIME, "start", name)


def _keypair(path: Path, comment: str) -> Path:
    if not path.exists():
        podman.require("ssh-keygen", "openssh-client")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        podman.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    os.chmod(path, 0o600)
    return path


def _wait_for_ssh(node: LocalNode) -> None:
    deadline = time.monotonic() + SSH_WAIT_SECONDS
    while True:
        try:
            with socket.create_connection((node.address, 22), timeout=2) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise podman.PodmanError(
                f"node {node.name} ({node.address}) did not answer SSH within {SSH_WAIT_SECONDS} s. "
                f"Fix: look at `podman logs kubelab-...-{node.name}` and `podman exec ... systemctl --failed`")
        time.sleep(1)
