"""A liveness probe restarts the app: the step that breaks it, and the check that sees the kubelet's answer.

The step removes the file a probe reads with the container's own `sh` and
`rm`, run from the node in the container's mount namespace (`nsenter -m`):
its root and mounts, its symlinks resolved there; the app is not told.

The check waits (bounded) for the kubelet's new container attempt and proves
it was the probe's doing, not a crash: the container has a livenessProbe, the
pod's events say `Unhealthy` (Liveness probe failed) and `Killing` (failed
liveness probe, will be restarted), on the node a new attempt runs in the
same sandbox, and the previous attempt finished after the kubelet decided to
kill it. An app that exits by itself is restarted too, with no such events
and an exit before any kill.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubelab.checks.lab import Lab
from kubelab.checks.objects import get, list_objects
from kubelab.checks.pods import judge_pod_running
from kubelab.checks.registry import check, step
from kubelab.checks.verdict import FAIL, PASS, WAITING, Verdict, verdict
from kubelab.cluster import PodView
from kubelab.runtime import Container, RuntimeOutputError

# The kubelet's event messages (pkg/kubelet/prober/prober.go, kuberuntime_container.go, v1.35).
LIVENESS_FAILED = "Liveness probe failed"
KILLED_FOR_LIVENESS = "failed liveness probe"
# Event times have one-second precision; a container's finish time has nanoseconds.
EVENT_SLACK = timedelta(seconds=1)


@dataclass(frozen=True)
class ProbeBreak:
    """The container as it was when the file its probe reads was removed."""

    namespace: str
    name: str
    container: str
    node: str
    pod_uid: str
    sandbox_id: str
    container_id: str
    attempt: int
    restart_count: int
    path: str
    existed: bool


@step
def remove_file_in_container(lab: Lab, *, namespace: str, name: str, container: str,
                             path: str) -> ProbeBreak | Verdict:
    """`rm` the file at `path` inside the running container, from its node, and record the attempt it broke."""
    ref = f"{namespace}/{name}"
    expected = f"a running {container} container in {ref} whose file {path} can be removed"
    parts = path.split("/")
    if not path.startswith("/") or ".." in parts:
        return verdict(FAIL, None, expected, f"path {path!r} must be absolute and without `..`")
    pod = lab.pod(namespace, name)
    if pod is None or not (pod.running_and_ready and pod.node):
        return judge_pod_running(pod, ref)
    api = pod.container(container)
    if api is None or api.container_id is None:
        return verdict(FAIL, pod.node, expected, f"the API reports no running container {container}")
    runtime = lab.runtime(pod.node)
    node = runtime.inspect(api.container_id)
    if not node.running or not node.pid:
        return verdict(FAIL, pod.node, expected, f"{container} is {node.state} on the node")
    # Inside the container's mount namespace, so its symlinks resolve against its own root, never the node's.
    remove = 'if test -e "$1"; then rm -f -- "$1" && echo removed; fi'
    removed = runtime.session.run(f"nsenter -t {int(node.pid)} -m -- sh -c {shlex.quote(remove)} sh "
                                  f"{shlex.quote(path)}")
    if not removed.ok:
        return verdict(FAIL, pod.node, expected, f"rm {path} failed: {removed.stderr.strip()}")
    return ProbeBreak(namespace, name, container, pod.node, pod.uid, node.sandbox_id, node.id, node.attempt,
                      api.restart_count, path, removed.stdout.strip() == "removed")


@check
def liveness_probe_restarted_the_container(lab: Lab, *, namespace: str, name: str, container: str,
                                          before: ProbeBreak | Verdict | None = None, timeout: float = 120.0,
                                          interval: float = 2.0) -> Verdict:
    """Poll (bounded) until the kubelet has restarted `container` for its liveness probe, then judge that."""
    if isinstance(before, Verdict):
        return before
    deadline = time.monotonic() + timeout
    while True:
        pod = get(lab, "v1", "Pod", namespace, name)
        view = PodView.from_api(pod) if pod else None
        events, containers, previous = [], [], None
        if view and view.node:
            events = list_objects(lab, "v1", "Event", namespace, fields=f"involvedObject.uid={view.uid}")
            runtime = lab.runtime(view.node)
            containers = runtime.containers()
            previous = _previous_attempt(runtime, view.uid, container, containers)
        result = judge_liveness_restart(pod, container, events, containers, previous, before)
        if result.status != WAITING or time.monotonic() >= deadline:
            if result.status == WAITING:
                return verdict(FAIL, result.node, result.expected, f"not within {timeout:g} s: {result.seen}",
                               **result.evidence)
            return result
        time.sleep(interval)


def _previous_attempt(runtime, pod_uid: str, name: str, containers: list[Container]) -> Container | None:
    """The newest exited attempt of the container, inspected for its exit code and finish time."""
    dead = sorted((c for c in containers if c.pod_uid == pod_uid and c.label_name == name and not c.running),
                  key=lambda c: c.attempt)
    if not dead:
        return None
    try:
        return runtime.inspect(dead[-1].id)
    except RuntimeOutputError:
        # The kubelet may have garbage-collected it between the list and the inspect.
        return None


def _first_seen(event: dict) -> datetime | None:
    """When the event first happened (the kubelet counts repeats into one Event)."""
    stamp = event.get("firstTimestamp") or event.get("eventTime")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def judge_liveness_restart(pod: dict | None, name: str, events: list[dict], containers: list[Container],
                           previous: Container | None, before: ProbeBreak | None) -> Verdict:
    """PASS, FAIL, or WAITING while no restart (or its events) is seen yet."""
    expected = (f"{name} restarted by the kubelet because its livenessProbe failed: Unhealthy and Killing events, "
                f"a new attempt in the same sandbox, the previous one finished after the kill")
    if pod is None:
        return verdict(FAIL, None, expected, "no such pod in the API")
    view = PodView.from_api(pod)
    spec = next((c for c in pod["spec"].get("containers") or () if c["name"] == name), None)
    api = view.container(name)
    if spec is None or api is None:
        return verdict(FAIL, view.node, expected, f"the pod has no container {name}")
    if not spec.get("livenessProbe"):
        return verdict(FAIL, view.node, expected, f"{name} has no livenessProbe, so no restart can be the probe's")
    evidence = {"pod_uid": view.uid, "restart_count": api.restart_count}
    if before is not None and before.pod_uid != view.uid:
        return verdict(FAIL, view.node, expected, f"the pod was recreated (uid {before.pod_uid} -> {view.uid})",
                       **evidence)
    floor = before.restart_count if before else 0
    if api.restart_count <= floor:
        return verdict(WAITING, view.node, expected, f"restartCount still {api.restart_count}; {name} "
                                                     f"{api.state or 'no status'}", **evidence)
    mine = [e for e in events if (e.get("involvedObject") or {}).get("fieldPath") == f"spec.containers{{{name}}}"]
    unhealthy = [e for e in mine if e.get("reason") == "Unhealthy" and LIVENESS_FAILED in (e.get("message") or "")]
    killing = [e for e in mine if e.get("reason") == "Killing" and KILLED_FOR_LIVENESS in (e.get("message") or "")]
    if not unhealthy or not killing:
        missing = " and ".join(w for w, found in (("Unhealthy (Liveness probe failed)", unhealthy),
                                                  ("Killing (failed liveness probe)", killing)) if not found)
        return verdict(WAITING, view.node, expected, f"restartCount {api.restart_count}, but no {missing} event for "
                                                     f"{name}: it may have exited by itself", **evidence)
    evidence["liveness_failures"] = sum(int(e.get("count") or 1) for e in unhealthy)
    evidence["probe_message"] = unhealthy[-1].get("message", "")
    running = [c for c in containers if c.pod_uid == view.uid and c.label_name == name and c.running]
    if len(running) != 1 or running[0].id != api.container_id:
        return verdict(WAITING, view.node, expected, f"the node runs {len(running)} {name} container(s) for the pod; "
                                                     f"the API's is {api.container_id or 'none'}", **evidence)
    new = running[0]
    evidence.update(attempt=new.attempt, sandbox_id=new.sandbox_id, container_id=new.id)
    problems = []
    if before is not None:
        if new.sandbox_id != before.sandbox_id:
            problems.append(f"the new attempt runs in sandbox {new.sandbox_id[:13]}, not {before.sandbox_id[:13]}")
        if new.attempt <= before.attempt:
            problems.append(f"attempt {new.attempt} is not newer than the broken attempt {before.attempt}")
    if new.attempt < 1:
        problems.append(f"attempt {new.attempt}: the node shows no restart")
    if previous is not None:
        killed_at = min(filter(None, map(_first_seen, killing)), default=None)
        evidence.update(previous_attempt=previous.attempt, previous_exit_code=previous.exit_code if
                        previous.exit_code is not None else "", previous_finished=str(previous.finished or ""))
        if previous.sandbox_id != new.sandbox_id:
            problems.append(f"attempt {previous.attempt} ran in another sandbox ({previous.sandbox_id[:13]})")
        if killed_at and previous.finished and previous.finished < killed_at - EVENT_SLACK:
            problems.append(f"attempt {previous.attempt} finished at {previous.finished}, before the kubelet's "
                            f"first kill at {killed_at}: it exited by itself")
    else:
        evidence["previous_attempt"] = "already removed on the node"
    if problems:
        return verdict(FAIL, view.node, expected, "; ".join(problems), **evidence)
    return verdict(PASS, view.node, expected,
                   f"{len(unhealthy)} Unhealthy and {len(killing)} Killing event(s) for the liveness probe; attempt "
                   f"{new.attempt} runs in sandbox {new.sandbox_id[:13]}, restartCount {api.restart_count}", **evidence)
