"""Checks that prove what an init container did: it ran to exit 0 before the app, and left its work in a volume.

The API says an init container "Completed"; the node says when: crictl
keeps the exited init container beside the app's, in the same sandbox, with
its finish time and exit code, and the app container's start time must come
after it. What the init container wrote is read on the node twice: in the
emptyDir's directory under the kubelet's pod directory, and through the app
process's own root (/proc/<pid>/root), where its mounts apply. A file the init
container wrote into its own filesystem is in neither place.
"""

from __future__ import annotations

import shlex

from kubelab.checks.lab import Lab
from kubelab.checks.objects import get
from kubelab.checks.pods import _ready_sandbox, _short, judge_pod_running
from kubelab.checks.process import Process, find_process
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.cluster import PodView
from kubelab.runtime import CONTAINER_EXITED, Container, RuntimeOutputError, Sandbox
from kubelab.ssh import CommandResult

EMPTY_DIR = "kubernetes.io~empty-dir"


def _container_id(status: dict) -> str | None:
    cid = status.get("containerID")
    return cid.split("://", 1)[-1] if cid else None


# -- the init container ran to exit 0 before the app started ------------------

def init_and_app(lab: Lab, namespace: str, name: str, init: str, container: str
                 ) -> tuple[dict, list[Sandbox], Container | None, Container | None] | Verdict:
    """The pod as the API returns it, its node's sandboxes, and the node's record of init container `init` and
    of app container `container` (None where the API names no container ID); a verdict when the pod is on no
    node."""
    raw = get(lab, "v1", "Pod", namespace, name)
    pod = PodView.from_api(raw) if raw else None
    if pod is None or not pod.node:
        return judge_pod_running(pod, f"{namespace}/{name}")
    runtime = lab.runtime(pod.node)
    statuses = {s["name"]: s for s in (raw.get("status") or {}).get("initContainerStatuses") or ()}
    init_id = _container_id(statuses.get(init, {}))
    app = pod.container(container)
    return (raw, runtime.sandboxes(), runtime.inspect_process(init_id) if init_id else None,
            runtime.inspect_process(app.container_id) if app and app.container_id else None)


@check
def init_container_ran_before_the_app(lab: Lab, *, namespace: str, name: str, init: str, container: str) -> Verdict:
    found = init_and_app(lab, namespace, name, init, container)
    return found if isinstance(found, Verdict) else judge_init_first(*found, init, container)


def judge_init_first(raw: dict, sandboxes: list[Sandbox], init_c: Container | None, app_c: Container | None,
                     init: str, container: str) -> Verdict:
    """PASS when the node shows `init` exited 0 in the pod's READY sandbox and `container` started after it."""
    pod = PodView.from_api(raw)
    expected = (f"init container {init} of {pod.namespace}/{pod.name} exited 0 in the pod's sandbox, "
                f"before {container} started there")
    declared = [c["name"] for c in (raw.get("spec") or {}).get("initContainers") or ()]
    if init not in declared:
        regular = ", ".join(c.name for c in pod.containers) or "none"
        return verdict(FAIL, pod.node, expected, f"the pod has no init container {init} (init containers: "
                                                 f"{', '.join(declared) or 'none'}; containers: {regular})")
    if init_c is None:
        return verdict(FAIL, pod.node, expected, f"the API reports no container ID for {init}: it has not run")
    evidence = {"init_id": init_c.id, "init_exit_code": init_c.exit_code if init_c.exit_code is not None else ""}
    findings = [f"the node labels container {_short(c.id)} as {c.label_name} of pod uid {c.pod_uid}, "
                f"the API says {want} of {pod.uid}"
                for c, want in ((init_c, init), (app_c, container))
                if c is not None and (c.label_name != want or c.pod_uid != pod.uid)]
    problems = []
    if init_c.state != CONTAINER_EXITED:
        problems.append(f"{init} is {init_c.state} on {pod.node}, not exited")
    elif init_c.exit_code != 0:
        problems.append(f"{init} exited {init_c.exit_code} ({init_c.reason or 'no reason'})")
    sandbox, sandbox_problems, sandbox_findings = _ready_sandbox(pod, sandboxes)
    problems += sandbox_problems
    findings += sandbox_findings
    if app_c is None:
        problems.append(f"the API reports no running {container} container")
    else:
        evidence["app_id"] = app_c.id
        if not app_c.running:
            problems.append(f"{container} is {app_c.state} on {pod.node}")
    if sandbox is not None:
        evidence["sandbox_id"] = sandbox.id
        problems += [f"{c.label_name} ran in sandbox {_short(c.sandbox_id)}, not the pod's READY sandbox "
                     f"{_short(sandbox.id)}" for c in (init_c, app_c) if c is not None and c.sandbox_id != sandbox.id]
    if init_c.finished and app_c is not None and app_c.started:
        evidence.update(init_finished=init_c.finished.isoformat(), app_started=app_c.started.isoformat())
        if app_c.started < init_c.finished:
            problems.append(f"{container} started at {app_c.started:%H:%M:%S.%f}, before {init} finished at "
                            f"{init_c.finished:%H:%M:%S.%f}")
    elif not problems:
        problems.append(f"the node reports no finish time for {init} or no start time for {container}")
    if problems or findings:
        return verdict(FAIL, pod.node, expected, "; ".join(problems + findings), findings=findings, **evidence)
    gap = (app_c.started - init_c.finished).total_seconds()
    return verdict(PASS, pod.node, expected, f"{init} exited 0 in sandbox {_short(sandbox.id)}; {container} "
                                             f"started {gap:.3f} s after it finished", **evidence)


# -- the file is in the emptyDir, and the app sees it -------------------------

@check
def file_is_in_the_volume(lab: Lab, *, namespace: str, name: str, container: str, volume: str, file: str) -> Verdict:
    """`file` is in the pod's emptyDir `volume` on the node, and `container`'s process reads the same bytes."""
    found = find_process(lab, namespace, name, container)
    if isinstance(found, Verdict):
        return found
    process, runtime = found
    mount_path = (process.pod.container(container).mounts or {}).get(volume)
    host = next((m.host_path for m in process.inspected.mounts if m.container_path == mount_path), None)
    if mount_path is None or host is None:
        return judge_file_in_volume(process, volume, file, mount_path, host, None)
    paths = [f"{host}/{file}", f"/proc/{process.pid}/root{mount_path.rstrip('/')}/{file}"]
    return judge_file_in_volume(process, volume, file, mount_path, host,
                                runtime.session.run(f"sha256sum -- {shlex.join(paths)}"))


def parse_sha256sum(text: str) -> dict[str, str]:
    """`sha256sum FILE...` output -> path -> hex digest (files it could not read are not listed)."""
    digests = {}
    for line in text.splitlines():
        digest, sep, path = line.partition("  ")
        if not sep or len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise RuntimeOutputError("sha256sum", f"expected `<64 hex digits>  <path>`, got {line[:80]!r}",
                                     "run GNU coreutils' sha256sum on the node")
        digests[path] = digest
    return digests


def judge_file_in_volume(process: Process, volume: str, file: str, mount_path: str | None, host: str | None,
                         read: CommandResult | None) -> Verdict:
    suffix = f"/pods/{process.pod.uid}/volumes/{EMPTY_DIR}/{volume}"
    expected = (f"{file} in emptyDir `{volume}` on the node (…{suffix}/{file}), and the same file read by "
                f"{process.what} at its mount")
    if mount_path is None:
        return verdict(FAIL, process.node, expected, f"{process.container} mounts no volume named `{volume}`",
                       **process.evidence())
    if host is None:
        return verdict(FAIL, process.node, expected, f"the runtime mounts nothing at {mount_path} in "
                                                     f"{process.container}", **process.evidence())
    evidence = process.evidence(host_path=host, mount_path=mount_path)
    if not host.endswith(suffix):
        return verdict(FAIL, process.node, expected, f"{mount_path} comes from {host}, not the pod's emptyDir "
                                                     f"`{volume}`", **evidence)
    on_node, in_app = f"{host}/{file}", f"/proc/{process.pid}/root{mount_path.rstrip('/')}/{file}"
    digests = parse_sha256sum(read.stdout) if read is not None else {}
    missing = [p for p in (on_node, in_app) if p not in digests]
    if missing:
        why = read.stderr.strip() if read is not None else "nothing read"
        return verdict(FAIL, process.node, expected, f"{file} is not in the emptyDir: cannot read "
                                                     f"{', '.join(missing)} ({why})", **evidence)
    evidence["sha256"] = digests[on_node]
    if digests[on_node] != digests[in_app]:
        return verdict(FAIL, process.node, expected, f"{process.container} reads other bytes at "
                                                     f"{mount_path}/{file} than the emptyDir holds", **evidence)
    return verdict(PASS, process.node, expected, f"{on_node} (sha256 {digests[on_node][:12]}) is what "
                                                 f"{process.container} reads at {mount_path}", **evidence)
