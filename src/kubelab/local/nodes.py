"""The local lab's node provider: podman containers that look like VMs.

Each node runs systemd as PID 1 and sshd with a host key generated for it
here, so the known_hosts file is written from keys we made rather than
accepted on first use. The provider knows nothing of Kubernetes: it creates,
starts and removes node containers and writes the spec that the inventory and
the deploys read. Flags below are the measured recipe (machine-facts.md).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console

from kubelab import names, paths, versions
from kubelab.bundle.manifest import MANIFEST_NAME
from kubelab.local import image, isolation, podman, registry

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


# Labs' /24s come from 10.89.0.0/16 (podman's own default network is 10.88.0.0/16).
SUBNET_POOL = 250
# Found in `podman network create`'s error when a subnet is taken: another lab created it since we looked.
SUBNET_TAKEN = "already used on the host or by another config"


@dataclass(frozen=True)
class Bounds:
    """The memory and CPU cap of every node container, so one lab cannot starve the others."""

    # Measured (cgroup memory.stat): on a built 2-node lab the control plane's processes hold ~420 MB and a
    # worker's ~100 MB; a 1-node lab with an exam's pods has a working set of 0.95-1.05 GiB (its binaries'
    # and images' active file cache included). The rest of what podman reports is cache the cap reclaims.
    memory: str = "1536m"
    cpus: float = 1.0

    def flags(self) -> tuple[str, ...]:
        # Swap equal to memory: no swap beyond the cap (the kubelet expects none).
        return ("--memory", self.memory, "--memory-swap", self.memory, "--cpus", f"{self.cpus:g}")


_MEMORY = re.compile(r"([0-9]+)([kmg])", re.IGNORECASE)
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
# A control plane with etcd does not start below this; above the machine's memory the cap means nothing.
MIN_MEMORY_BYTES = 512 << 20
MAX_CPUS = 64.0


def memory_problem(value: object) -> str | None:
    """Why `value` is not a node memory cap podman takes (like 2g or 1536m), or None."""
    match = _MEMORY.fullmatch(value) if isinstance(value, str) else None
    if not match:
        return f"{value!r} is not a size like 2g or 1536m (a whole number with k, m or g)"
    if int(match[1]) * _UNITS[match[2].lower()] < MIN_MEMORY_BYTES:
        return f"{value} is below 512m, in which a control plane does not start"
    return None


def cpus_problem(value: object) -> str | None:
    """Why `value` is not a node CPU cap (a number of cores, like 1 or 0.5), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.1 <= value <= MAX_CPUS:
        return f"{value!r} is not a number of cores from 0.1 to {MAX_CPUS:g}"
    return None


@dataclass(frozen=True)
class LabNetwork:
    """Each lab has its own podman network, so labs (a student's, the tests') coexist.

    The network is isolated (kubelab.local.isolation, and netavark's `isolate`
    option as well): no node of one lab reaches a node of another, while each
    still reaches this machine (its registry mirror at the gateway) and the
    outside world.
    """

    name: str
    subnet: ipaddress.IPv4Network

    @staticmethod
    def name_of(lab: str) -> str:
        return f"kubelab-{lab}"

    @classmethod
    def of(cls, lab: str) -> "LabNetwork":
        """The lab's network as podman has it, else a free subnet for it (see `choose_subnet`)."""
        name = cls.name_of(lab)
        if podman.exists("network", name):
            return cls(name, ipaddress.ip_network(podman.inspect("network", name)["subnets"][0]["subnet"]))
        return cls(name, choose_subnet(lab, used_subnets()))

    @property
    def gateway(self) -> str:
        """The host's address on the lab network, where the registry mirror listens."""
        return str(self.subnet.network_address + 1)

    def address(self, index: int) -> str:
        return str(self.subnet.network_address + FIRST_NODE_HOST + index)


def subnet_candidates(lab: str) -> list[ipaddress.IPv4Network]:
    """The lab's subnets in order of preference: its own (from its name) first, then the next ones round."""
    first = zlib.crc32(lab.encode()) % SUBNET_POOL
    return [ipaddress.ip_network(f"10.89.{(first + i) % SUBNET_POOL}.0/24") for i in range(SUBNET_POOL)]


def choose_subnet(lab: str, used: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first of the lab's candidates that overlaps no network in use: the same lab gets the same
    subnet on every machine where it is free, and two labs never share one."""
    used = list(used)
    for subnet in subnet_candidates(lab):
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise podman.PodmanError(f"every lab subnet in 10.89.0.0/16 is in use ({SUBNET_POOL} labs or other networks). "
                             "Fix: remove labs you no longer need with `kubelab nodes down --lab NAME`")


def used_subnets() -> list[ipaddress.IPv4Network]:
    """Every subnet of every podman network on this machine (labs and others)."""
    networks = json.loads(podman.podman("network", "ls", "--format", "json").stdout or b"[]")
    return [ipaddress.ip_network(s["subnet"]) for n in networks for s in n.get("subnets") or []
            if ipaddress.ip_network(s["subnet"]).version == 4]


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
       user: str = "root", bounds: Bounds = Bounds()) -> Path:
    """Start the lab's node containers (reusing running ones) and write its spec; returns the spec path.

    `user` is who kubelab logs in as: root, or `ubuntu` with passwordless sudo
    as on cloud VMs, so the sudo path of every deploy, check and reset runs here too.
    `bounds` caps each new node container's memory and CPU (a running one keeps its own).
    """
    console = console or Console(stderr=True)
    if user not in image.USERS:
        raise podman.PodmanError(f"the node image has no user {user!r}. Fix: use one of {', '.join(image.USERS)}")
    if kubernetes not in versions.RELEASES:
        raise podman.PodmanError(f"Kubernetes {kubernetes} is not in the version table. "
                                 f"Fix: use one of {', '.join(sorted(versions.RELEASES))}")
    for what, why in (("memory", memory_problem(bounds.memory)), ("cpus", cpus_problem(bounds.cpus))):
        if why:
            raise podman.PodmanError(f"node {what} bound: {why}. Fix: use a value like "
                                     f"{Bounds.memory if what == 'memory' else Bounds.cpus}")
    net = _ensure_network(lab)
    nodes = plan(count, net)
    _check_inotify()
    state = paths.lab_dir(lab)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    client_key = _keypair(state / "id_ed25519", f"kubelab-{lab}")
    node_image = image.ensure_image(console)
    known_hosts = []
    for node in nodes:
        host_key = _keypair(state / "hostkeys" / node.name, node.name)
        _ensure_node(lab, node, net, node_image, host_key, client_key.with_suffix(".pub"), state, user, bounds)
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
    network = LabNetwork.name_of(lab)
    plan = Teardown(lab, tuple(containers_of(lab)), network if podman.exists("network", network) else None,
                    state if state.exists() else None)
    if plan.empty and not missing_ok:
        raise UnknownLab(f"there is no lab {lab!r} on this machine (no container labelled {LABEL}={lab}, no "
                         f"network {network}, no {state}). Fix: check the name; "
                         f"`podman ps -a --filter label={LABEL}` lists the labs' containers")
    return plan


def down(lab: str, *, missing_ok: bool = False) -> list[str]:
    """Remove the lab's node containers, network, registry mirror and state; returns the containers removed."""
    return remove(teardown_plan(lab, missing_ok=missing_ok))


def remove(plan: Teardown) -> list[str]:
    if plan.containers:
        podman.podman("rm", "--force", "--time", "5", *plan.containers)
    registry.stop(plan.lab)
    isolation.release(plan.lab)
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


def _ensure_network(lab: str) -> LabNetwork:
    """The lab's network, created on a free subnet when it does not exist yet, and isolated."""
    for _ in range(5):
        net = LabNetwork.of(lab)
        created = podman.exists("network", net.name) or podman.podman(
            "network", "create", "--opt", "isolate=true", "--subnet", str(net.subnet), "--gateway", net.gateway,
            net.name, check=False)
        if created is True or created.returncode == 0:
            isolation.isolate(lab, podman.inspect("network", net.name)["network_interface"])
            return net
        error = created.stderr.decode(errors="replace").strip()
        if SUBNET_TAKEN not in error:
            raise podman.PodmanError(f"`podman network create {net.name}` failed: {error[-500:]}. "
                                     "Fix: correct what podman names, then run the command again")
    raise podman.PodmanError(f"could not find a free subnet for lab {lab}: other labs kept taking them. "
                             "Fix: run the command again")


def _ensure_node(lab: str, node: LocalNode, net: LabNetwork, node_image: str, host_key: Path, client_pub: Path,
                 state: Path, user: str, bounds: Bounds) -> None:
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
                  *bounds.flags(), "-v", f"{containerd_dir}:/var/lib/containerd", node_image, "/sbin/init")
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


@dataclass(frozen=True)
class NodeUsage:
    container: str
    # What podman reports: the processes' memory plus page cache, which fills up to the cap.
    memory_bytes: int
    limit_bytes: int
    cpu_percent: float
    # memory_bytes less the inactive file cache (what the kubelet calls the working set): what the node needs.
    working_set_bytes: int | None = None


_SIZE = re.compile(r"([0-9.]+)\s*([kKMGT]?i?B)")
_SIZE_UNITS = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def _size(text: str) -> int:
    match = _SIZE.fullmatch(text.strip())
    if not match or match[2] not in _SIZE_UNITS:
        raise podman.PodmanError(f"`podman stats` printed a size kubelab cannot read: {text!r}. "
                                 "Fix: report it with your podman version")
    return round(float(match[1]) * _SIZE_UNITS[match[2]])


def parse_stats(text: str) -> list[NodeUsage]:
    """`podman stats --no-stream --format json` output -> each container's memory, its cap, and CPU."""
    usage = []
    for entry in json.loads(text or "[]"):
        used, _, limit = entry["mem_usage"].partition("/")
        usage.append(NodeUsage(entry["name"], _size(used), _size(limit), float(entry["cpu_percent"].rstrip("%"))))
    return sorted(usage, key=lambda u: u.container)


def inactive_file(memory_stat: str) -> int:
    """The inactive file cache in a memory cgroup's memory.stat (cgroup v1 or v2)."""
    fields = dict(line.split() for line in memory_stat.splitlines() if len(line.split()) == 2)
    return int(fields.get("total_inactive_file", fields.get("inactive_file", 0)))


def _memory_stat(state: dict) -> str | None:
    # v1 keeps the memory controller in its own hierarchy; v2 has one.
    for root in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup"):
        try:
            return Path(root + state["CgroupPath"], "memory.stat").read_text()
        except (OSError, KeyError):
            continue
    return None


def usage(lab: str) -> list[NodeUsage]:
    """What each of the lab's running node containers uses now (one podman stats sample)."""
    states = {c: podman.inspect("container", c)["State"] for c in containers_of(lab)}
    running = [c for c, state in states.items() if state["Running"]]
    if not running:
        return []
    sampled = parse_stats(podman.podman("stats", "--no-stream", "--format", "json", *running).stdout.decode())
    result = []
    for u in sampled:
        stat = _memory_stat(states[u.container])
        working = None if stat is None else max(u.memory_bytes - inactive_file(stat), 0)
        result.append(NodeUsage(u.container, u.memory_bytes, u.limit_bytes, u.cpu_percent, working))
    return result
