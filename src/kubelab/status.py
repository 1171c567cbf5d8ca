"""What each node of a lab runs, read from the node, and a lock file that pins it.

`kubelab status --lock FILE` writes what the nodes report (OS, kernel, the
version every installed tool prints, every image by repo digest). A deploy
given that lock (`--data kubelab_lock=FILE`) compares it with what it would
install from the version table for the spec's Kubernetes minor, and stops
before touching any host when the two differ: a lab rebuilt from a lock is the
lab that was locked, or the deploy says why not.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kubelab import versions
from kubelab.errors import KubelabError
from kubelab.runtime import NodeRuntime, image_repository
from kubelab.spec import LabSpec
from kubelab.ssh import Session

LOCK_FORMAT = 1

# Each tool's own version command; the version is the first x.y.z token it prints.
VERSION_COMMANDS = {
    "containerd": "containerd --version",
    "runc": "runc --version",
    "crictl": "crictl --version",
    "nerdctl": "nerdctl --version",
    "kubelet": "kubelet --version",
    "kubeadm": "kubeadm version -o short",
}
_VERSION = re.compile(r"\bv?\d+\.\d+\.\d+[^\s,]*")


class LockError(KubelabError):
    """A lock file is unreadable, or the deploy would install something else than it pins."""


@dataclass(frozen=True)
class NodeStatus:
    node: str
    os: str
    kernel: str
    versions: dict[str, str]  # tool -> version it prints ("" when not installed)
    images: dict[str, str] = field(default_factory=dict)  # repo tag -> repo digest


def parse_version(text: str) -> str:
    """The first x.y.z version in a tool's output, as printed (with or without a leading v)."""
    match = _VERSION.search(text)
    return match.group(0) if match else ""


def parse_os_release(text: str) -> str:
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "PRETTY_NAME":
            return value.strip().strip('"')
    return ""


def read_node(session: Session) -> NodeStatus:
    found = {}
    for tool, command in VERSION_COMMANDS.items():
        result = session.run(f"command -v {tool} >/dev/null && {command}")
        found[tool] = parse_version(result.stdout) if result.ok else ""
    images = {tag: image.digest_for(tag) for image in NodeRuntime(session).images() for tag in image.repo_tags}
    return NodeStatus(
        node=session.node.name,
        os=parse_os_release(session.run("cat /etc/os-release", check=True).stdout),
        kernel=session.run("uname -r", check=True).stdout.strip(),
        versions=found,
        images=dict(sorted(images.items())),
    )


def lock_document(spec: LabSpec, nodes: list[NodeStatus]) -> dict:
    return {"format": LOCK_FORMAT, "lab": spec.name, "kubernetes": spec.kubernetes,
            "nodes": {n.node: {k: v for k, v in asdict(n).items() if k != "node"} for n in nodes}}


def load_lock(path: str | Path) -> dict:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise LockError(f"{path}: cannot be read ({exc.strerror}). Fix: write one with "
                        f"`kubelab status --lock {path}`") from None
    except json.JSONDecodeError as exc:
        raise LockError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}). Fix: write it again with "
                        f"`kubelab status --lock {path}`") from None
    if not isinstance(doc, dict) or doc.get("format") != LOCK_FORMAT or not isinstance(doc.get("nodes"), dict):
        raise LockError(f"{path}: not a kubelab lock (format {LOCK_FORMAT}). Fix: write it again with "
                        f"`kubelab status --lock {path}`")
    return doc


def _bare(version: str) -> str:
    return version.removeprefix("v")


def wanted_versions(release: versions.Release) -> dict[str, str]:
    """What a deploy of this release installs, under the tool names status reads."""
    return {"containerd": release.containerd, "runc": release.runc, "crictl": release.crictl,
            "nerdctl": release.nerdctl, "kubelet": release.kubernetes, "kubeadm": release.kubernetes}


def lock_drift(lock: dict, spec: LabSpec) -> list[str]:
    """How what the deploy would install differs from the lock; [] when it matches."""
    release = spec.release
    drift = []
    if lock.get("kubernetes") != spec.kubernetes:
        drift.append(f"the lock is for Kubernetes {lock.get('kubernetes')}, the spec asks for {spec.kubernetes}")
    wanted = wanted_versions(release)
    locked_images: dict[str, set[str]] = {}
    for node, status in sorted(lock["nodes"].items()):
        locked = status.get("versions") or {}
        for tool, version in wanted.items():
            if _bare(locked.get(tool, "")) != _bare(version):
                drift.append(f"{node}: the lock has {tool} {locked.get(tool) or '(none)'}, the deploy would "
                             f"install {version}")
        for ref in status.get("images") or {}:
            locked_images.setdefault(image_repository(ref), set()).add(ref)
    for component, ref in sorted(release.images().items()):
        have = locked_images.get(image_repository(ref), set())
        if ref not in have:
            drift.append(f"{component}: the deploy would pull {ref}, the lock has "
                         f"{', '.join(sorted(have)) or 'no image of that repository'}")
    return drift


def refuse_drift(spec: LabSpec, lock_path: str | Path) -> None:
    """Raise LockError naming every difference between the lock and what a deploy of `spec` installs."""
    drift = lock_drift(load_lock(lock_path), spec)
    if drift:
        raise LockError(f"the deploy would not reproduce the lab locked in {lock_path}; nothing was changed:\n  - "
                        + "\n  - ".join(drift)
                        + f"\nFix: use the spec's Kubernetes minor and kubelab version the lock was written with, "
                          f"or write a new lock with `kubelab status --lock {lock_path}`")
