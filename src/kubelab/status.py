"""What each node of a lab runs, read from the node, and a lock file that pins it.

`kubelab status --lock FILE` writes what the nodes report (OS, kernel, the
version every installed tool prints, every image by repo digest). A deploy
given that lock (`--data kubelab_lock=FILE`) compares it with what it would
install from the version table for the spec's Kubernetes minor, and each
locked image's digest with what the registry the nodes pull it from serves
under its tag now; it stops before touching any host when they differ: a lab
rebuilt from a lock is the lab that was locked, or the deploy says why not.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kubelab import versions
from kubelab.configs import UPSTREAM_ENDPOINTS
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
# What containerd's resolver accepts, so the registry answers with the manifest
# a node's pull resolves to; asked without them, distribution 2.8 converts a
# tag to schema 1, whose digest no node ever records.
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
LOOKUP_SECONDS = 10
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


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


@dataclass(frozen=True)
class Served:
    """What a registry serves under an image's tag: its digest, or why it could not be read."""

    where: str  # the registry's base URL
    digest: str = ""  # sha256:<hex> of the manifest the tag resolves to
    problem: str = ""


def pulled_images(release: versions.Release) -> list[str]:
    """Every image a deploy of `release` has the nodes pull: the cluster's and the exercises'."""
    return sorted({*release.images().values(), *versions.EXERCISE_IMAGES})


def pull_source(spec: LabSpec, ref: str) -> tuple[str, str, str]:
    """Where a node pulls `ref` from (the spec's mirror for its registry, else the registry): base URL, repository, tag.

    A mirror serves a registry's repositories without its host name, as containerd's hosts.toml asks it.
    """
    registry, _, path = ref.partition("/")
    repository = image_repository(path)
    base = spec.registry_mirrors.get(registry) or UPSTREAM_ENDPOINTS.get(registry, f"https://{registry}")
    return base.rstrip("/"), repository, path[len(repository) + 1:]


def bearer_challenge(header: str) -> dict[str, str]:
    """`Bearer realm="...",service="...",scope="..."` (a registry's 401) -> its parameters; {} if not Bearer."""
    scheme, _, params = header.strip().partition(" ")
    return dict(_CHALLENGE.findall(params)) if scheme.lower() == "bearer" else {}


def _read(url: str, headers: dict[str, str]) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=LOOKUP_SECONDS) as resp:
        return resp.read()


def _anonymous_token(challenge: dict[str, str]) -> str:
    """The pull token an upstream registry (docker.io) hands anyone, per the distribution token spec."""
    query = urllib.parse.urlencode({k: v for k, v in challenge.items() if k in ("service", "scope")})
    doc = json.loads(_read(f"{challenge['realm']}?{query}", {}))
    return doc.get("token") or doc.get("access_token") or ""


def served_digest(base: str, repository: str, tag: str) -> Served:
    """The digest of the manifest `tag` resolves to at the registry `base`: sha256 of the bytes it serves."""
    url = f"{base}/v2/{repository}/manifests/{tag}"
    headers = {"Accept": MANIFEST_TYPES}
    try:
        try:
            body = _read(url, headers)
        except urllib.error.HTTPError as exc:
            challenge = bearer_challenge(exc.headers.get("WWW-Authenticate", "")) if exc.code == 401 else {}
            if "realm" not in challenge:
                raise
            body = _read(url, {**headers, "Authorization": f"Bearer {_anonymous_token(challenge)}"})
    except urllib.error.HTTPError as exc:
        return Served(base, problem=f"HTTP {exc.code} {exc.reason} for {url}")
    except (OSError, ValueError) as exc:
        return Served(base, problem=f"{url}: {getattr(exc, 'reason', exc)}")
    return Served(base, digest=f"sha256:{hashlib.sha256(body).hexdigest()}")


def _image_drift(lock: dict, spec: LabSpec, serves: Callable[[str], Served]) -> list[str]:
    drift = []
    for ref in pulled_images(spec.release):
        holders: dict[str, list[str]] = {}  # locked digest -> nodes
        for node, status in sorted(lock["nodes"].items()):
            if ref in (status.get("images") or {}):
                holders.setdefault(status["images"][ref], []).append(node)
        if not holders:
            continue
        served = serves(ref)
        for locked, nodes in sorted(holders.items()):
            if served.problem:
                registry = ref.split("/", 1)[0]
                drift.append(f"{ref}: the lock has {locked} ({', '.join(nodes)}), but what {served.where} serves "
                             f"cannot be read ({served.problem}), and digests cannot be compared offline. Fix: make "
                             f"{served.where} reachable from this machine, or point registry_mirrors.{registry} in "
                             f"{spec.path or 'the spec'} at a mirror that serves {ref}")
            elif locked.rpartition("@")[2] != served.digest:
                drift.append(f"{ref}: a changed image: the lock has {locked} ({', '.join(nodes)}), {served.where} "
                             f"serves {image_repository(ref)}@{served.digest} now")
    return drift


def lock_drift(lock: dict, spec: LabSpec, serves: Callable[[str], Served]) -> list[str]:
    """How what the deploy would install differs from the lock; [] when it matches.

    `serves(ref)` says what the registry the nodes pull `ref` from serves under its tag now.
    """
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
    return drift + _image_drift(lock, spec, serves)


def refuse_drift(spec: LabSpec, lock_path: str | Path) -> None:
    """Raise LockError naming every difference between the lock and what a deploy of `spec` installs."""
    drift = lock_drift(load_lock(lock_path), spec, lambda ref: served_digest(*pull_source(spec, ref)))
    if drift:
        raise LockError(f"the deploy would not reproduce the lab locked in {lock_path}; nothing was changed:\n  - "
                        + "\n  - ".join(drift)
                        + "\nFix: use the spec's Kubernetes minor, the kubelab version and the images the lock was "
                          "written with (a changed image: serve the locked one again, e.g. publish the bundle it "
                          "came from), or take the new ones: rebuild the lab without the lock and write a new lock "
                          f"with `kubelab status --lock {lock_path}`")
