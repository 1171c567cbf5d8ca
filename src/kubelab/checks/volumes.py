"""Checks that a Secret or ConfigMap volume is what the container sees at a path, read on its node.

Two views of the same mount must agree: the runtime's (crictl inspect: the
host directory bound at the path, whose kubelet plugin directory,
kubernetes.io~secret or kubernetes.io~configmap, says the volume's kind) and
the kernel's (/proc/<pid>/mountinfo: the filesystem the process sees there).
A Secret's files live on tmpfs, never on the node's disk; the same keys
served from a ConfigMap read the same in the container and sit on disk.
The emptyDir shared by two containers is pods.containers_share_the_volume.
"""

from __future__ import annotations

from kubelab.checks.lab import Lab
from kubelab.checks.process import Process, prove
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.runtime import MountInfo, NodeRuntime, mount_at

SECRET, CONFIG_MAP = "secret", "configmap"
TMPFS = "tmpfs"


def _plugin_dir(kind: str) -> str:
    return f"/volumes/kubernetes.io~{kind}/"


@check
def secret_is_mounted_on_tmpfs(lab: Lab, *, namespace: str, name: str, container: str, path: str) -> Verdict:
    return prove(lab, namespace, name, container, NodeRuntime.mountinfo, judge_volume_mount, SECRET, path)


@check
def config_map_is_mounted(lab: Lab, *, namespace: str, name: str, container: str, path: str) -> Verdict:
    return prove(lab, namespace, name, container, NodeRuntime.mountinfo, judge_volume_mount, CONFIG_MAP, path)


def judge_volume_mount(process: Process, mounts: list[MountInfo], kind: str, path: str) -> Verdict:
    """A `kind` volume of the pod is bound at `path`, and for a Secret the process sees tmpfs there."""
    on_tmpfs = kind == SECRET
    expected = (f"a {kind} volume of {process.pod.namespace}/{process.pod.name} mounted at {path} in "
                f"{process.container}" + (f", on {TMPFS}" if on_tmpfs else ""))
    host = next((m.host_path for m in process.inspected.mounts if m.container_path.rstrip("/") == path.rstrip("/")),
                None)
    if host is None:
        paths = ", ".join(m.container_path for m in process.inspected.mounts) or "none"
        return verdict(FAIL, process.node, expected, f"the runtime mounts nothing at {path} (mounts: {paths})",
                       **process.evidence())
    evidence = process.evidence(host_path=host)
    problems, findings = [], []
    pod_volumes = f"/pods/{process.pod.uid}/volumes/"
    if pod_volumes not in host:
        problems.append(f"{path} comes from {host}, not a volume of pod uid {process.pod.uid}")
    elif _plugin_dir(kind) not in host:
        problems.append(f"{path} is a {host.split('kubernetes.io~', 1)[-1].split('/', 1)[0]} volume ({host})")
    seen = mount_at(mounts, path)
    if seen is None:
        findings.append(f"the runtime binds {host} at {path}, but /proc/{process.pid}/mountinfo has no mount there")
    else:
        evidence["fstype"] = seen.fstype
        if on_tmpfs and seen.fstype != TMPFS:
            problems.append(f"{path} is on {seen.fstype}, not {TMPFS}: the files are on the node's disk")
    if problems or findings:
        return verdict(FAIL, process.node, expected, "; ".join(problems + findings), findings=findings, **evidence)
    return verdict(PASS, process.node, expected, f"{path} from {host}, {seen.fstype} in the container", **evidence)
