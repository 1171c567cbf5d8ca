"""Checks on a PersistentVolumeClaim: bound to the PersistentVolume the task names, and a pod's file on the
node's disk, under that volume's hostPath.

The API view is the claim (phase Bound, spec.volumeName) and the volume (its
claimRef naming this claim by uid, its hostPath, capacity and access modes).
The node view follows the data: the container's mount at the claim's mount
path must come from the volume's hostPath directory (crictl inspect), and the
file the pod wrote must be there on the node's disk, the very same file the
container sees (device and inode equal through /proc/<pid>/root, where the
container's mounts apply), with the content the task gives. A file written
into an emptyDir, or into the container's own filesystem, reads the same
inside the pod and is nowhere under the hostPath; a stale file left there by
an earlier run is another inode.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from kubernetes.utils import parse_quantity

from kubelab.checks.lab import Lab
from kubelab.checks.objects import get
from kubelab.checks.process import Process, find_process
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.errors import KubelabError
from kubelab.runtime import NodeRuntime, RuntimeOutputError
from kubelab.ssh import CommandResult

# stat's format: device, inode, size; then the first line of the file.
STAT_FORMAT = "%d:%i %s"


@check
def claim_is_bound_to(lab: Lab, *, namespace: str, claim: str, volume: str, host_path: str, size: str) -> Verdict:
    """PVC `claim` is Bound to PV `volume`, a hostPath volume at `host_path` of capacity `size`."""
    pvc = get(lab, "v1", "PersistentVolumeClaim", namespace, claim)
    pv = get(lab, "v1", "PersistentVolume", "", volume)
    return judge_claim_bound(f"{namespace}/{claim}", pvc, volume, pv, host_path, size)


def judge_claim_bound(ref: str, pvc: dict | None, volume: str, pv: dict | None, host_path: str,
                      size: str) -> Verdict:
    expected = (f"PersistentVolumeClaim {ref} Bound to PersistentVolume {volume}, a hostPath volume at {host_path} "
                f"of {size}, whose claimRef is this claim")
    if pvc is None:
        return verdict(FAIL, None, expected, f"no PersistentVolumeClaim {ref} in the API")
    phase = (pvc.get("status") or {}).get("phase", "")
    bound_to = (pvc.get("spec") or {}).get("volumeName") or ""
    evidence = {"phase": phase, "volume_name": bound_to,
                "storage_class": (pvc.get("spec") or {}).get("storageClassName") or ""}
    if phase != "Bound":
        return verdict(FAIL, None, expected, f"the claim is {phase or 'without a phase'} (storageClassName "
                                             f"{evidence['storage_class'] or 'unset'}, requests "
                                             f"{((pvc['spec'].get('resources') or {}).get('requests') or {})})",
                       **evidence)
    if bound_to != volume:
        return verdict(FAIL, None, expected, f"the claim is bound to {bound_to}, not {volume}", **evidence)
    if pv is None:
        return verdict(FAIL, None, expected, f"no PersistentVolume {volume} in the API", **evidence)
    spec = pv.get("spec") or {}
    ref_uid = (spec.get("claimRef") or {}).get("uid")
    path = (spec.get("hostPath") or {}).get("path") or ""
    capacity = (spec.get("capacity") or {}).get("storage") or ""
    evidence.update(host_path=path, capacity=capacity, pv_phase=(pv.get("status") or {}).get("phase", ""))
    problems = []
    if ref_uid != pvc["metadata"]["uid"]:
        problems.append(f"the volume's claimRef is uid {ref_uid}, not this claim's {pvc['metadata']['uid']}")
    if not path:
        problems.append("the volume is no hostPath volume")
    elif path.rstrip("/") != host_path.rstrip("/"):
        problems.append(f"its hostPath is {path}, not {host_path}")
    if not capacity or parse_quantity(capacity) != parse_quantity(size):
        problems.append(f"its capacity is {capacity or 'unset'}, not {size}")
    if problems:
        return verdict(FAIL, None, expected, "; ".join(problems), **evidence)
    return verdict(PASS, None, expected, f"Bound to {volume}: hostPath {path}, {capacity}", **evidence)


@dataclass(frozen=True)
class FileSeen:
    """One path as `stat` and `head -n1` saw it on the node (None: not readable)."""

    path: str
    identity: str | None  # device:inode
    first_line: str | None


def parse_file_reads(text: str, paths: list[str]) -> list[FileSeen]:
    """The output of read_files: per path, `STAT path<TAB>device:inode size` and `LINE path<TAB>first line`,
    or `MISSING path`."""
    stats, lines = {}, {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if not line or kind == "MISSING":
            continue
        path, _, value = rest.partition("\t")
        if kind == "STAT":
            stats[path] = value.split(" ")[0]
        elif kind == "LINE":
            lines[path] = value
        else:
            raise RuntimeOutputError("stat/head", f"unexpected line {line[:120]!r}",
                                     "run the node's coreutils stat and head")
    return [FileSeen(p, stats.get(p), lines.get(p)) for p in paths]


def read_files(runtime: NodeRuntime, paths: list[str]) -> CommandResult:
    each = (f'if [ -f "$1" ]; then printf "STAT %s\\t" "$1"; stat -c {shlex.quote(STAT_FORMAT)} -- "$1"; '
            f'printf "LINE %s\\t" "$1"; head -n1 -- "$1"; echo; else echo "MISSING $1"; fi')
    return runtime.session.run(" ; ".join(f"sh -c {shlex.quote(each)} _ {shlex.quote(p)}" for p in paths))


@check
def claim_file_is_on_the_node(lab: Lab, *, namespace: str, name: str, container: str, claim: str, file: str,
                              content: str) -> Verdict:
    """`file` at the mount of claim `claim` in `container` is, on the node, the file under the bound volume's
    hostPath (same device and inode), and its first line is `content`."""
    found = find_process(lab, namespace, name, container)
    if isinstance(found, Verdict):
        return found
    process, runtime = found
    raw = get(lab, "v1", "Pod", namespace, name) or {}
    pvc = get(lab, "v1", "PersistentVolumeClaim", namespace, claim)
    volume_name = ((pvc or {}).get("spec") or {}).get("volumeName") or ""
    pv = get(lab, "v1", "PersistentVolume", "", volume_name) if volume_name else None
    mount_path = claim_mount_path(raw, container, claim)
    reads = None
    host = ((pv or {}).get("spec") or {}).get("hostPath", {}).get("path")
    if mount_path and host:
        paths = [f"{host.rstrip('/')}/{file}", f"/proc/{process.pid}/root{mount_path.rstrip('/')}/{file}"]
        result = read_files(runtime, paths)
        if not result.ok:
            raise KubelabError(f"node {process.node}: reading {', '.join(paths)} failed (exit {result.exit_code}): "
                               f"{result.stderr.strip()[:300]}")
        reads = parse_file_reads(result.stdout, paths)
    return judge_claim_file(process, claim, file, content, mount_path, pv, reads)


def claim_mount_path(pod: dict, container: str, claim: str) -> str | None:
    """Where `container` mounts a volume of the pod that is PVC `claim` (None: it mounts none)."""
    spec = pod.get("spec") or {}
    names = {v["name"] for v in spec.get("volumes") or ()
             if (v.get("persistentVolumeClaim") or {}).get("claimName") == claim}
    mine = next((c for c in spec.get("containers") or () if c.get("name") == container), {})
    return next((m["mountPath"] for m in mine.get("volumeMounts") or () if m.get("name") in names), None)


def judge_claim_file(process: Process, claim: str, file: str, content: str, mount_path: str | None,
                     pv: dict | None, reads: list[FileSeen] | None) -> Verdict:
    expected = (f"{file} written by {process.what} at the mount of claim {claim} is, on {process.node}, the same "
                f"file (device and inode) under the bound volume's hostPath, first line {content!r}")
    if mount_path is None:
        return verdict(FAIL, process.node, expected, f"{process.container} mounts no volume of claim {claim}",
                       **process.evidence())
    host = ((pv or {}).get("spec") or {}).get("hostPath", {}).get("path")
    if not host:
        return verdict(FAIL, process.node, expected, f"claim {claim} is bound to no hostPath volume",
                       **process.evidence(mount_path=mount_path))
    bound = next((m.host_path for m in process.inspected.mounts
                  if m.container_path.rstrip("/") == mount_path.rstrip("/")), None)
    evidence = process.evidence(mount_path=mount_path, host_path=host, runtime_source=bound or "")
    if bound is None or bound.rstrip("/") != host.rstrip("/"):
        return verdict(FAIL, process.node, expected, f"the runtime binds {bound or 'nothing'} at {mount_path}, not "
                                                     f"the volume's hostPath {host}", **evidence)
    if not reads:
        return verdict(FAIL, process.node, expected, "nothing was read on the node", **evidence)
    on_node, in_container = reads
    evidence.update(node_file=on_node.identity or "", container_file=in_container.identity or "")
    if in_container.identity is None:
        return verdict(FAIL, process.node, expected, f"the container has no file {mount_path}/{file}", **evidence)
    if on_node.identity is None:
        return verdict(FAIL, process.node, expected, f"no file {on_node.path} on {process.node}'s disk", **evidence)
    if on_node.identity != in_container.identity:
        return verdict(FAIL, process.node, expected, f"{on_node.path} (inode {on_node.identity}) is another file than "
                                                     f"the container's (inode {in_container.identity})", **evidence)
    if (on_node.first_line or "") != content:
        return verdict(FAIL, process.node, expected, f"{on_node.path} begins {on_node.first_line!r}", **evidence)
    return verdict(PASS, process.node, expected, f"{on_node.path} on {process.node} is the container's "
                                                 f"{mount_path}/{file} (inode {on_node.identity}), {content!r}",
                   **evidence)
