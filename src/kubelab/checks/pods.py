"""Checks that prove what the article claims about a multi-container pod.

Each check is a short function named for what it proves; it reads the API
(`lab.pod`) and the node's runtime (`lab.runtime(node)`) and hands both views
to a pure `judge_*` function, so the verdict logic is tested on captured data.
A judge never passes on nothing: no sandbox, no container or no mount is a
failure. Where the API and the node disagree (pod UID, container name,
container ID) the judge records a finding, and a finding fails the check.
"""

from __future__ import annotations

import secrets
import shlex
import time
from dataclasses import dataclass

from kubelab.checks.lab import Lab
from kubelab.checks.registry import check, step
from kubelab.checks.verdict import FAIL, PASS, WAITING, Verdict, verdict
from kubelab.cluster import PodView
from kubelab.runtime import Container, RuntimeOutputError, Sandbox
from kubelab.ssh import CommandResult

BACKOFF = "CrashLoopBackOff"
SIGKILL_EXIT = 137  # 128 + 9: how a runtime reports a process killed by SIGKILL
# The kubelet forgets a container's restart delay after this long without a restart
# (kubelet.go: crashLoopBackOff.HasExpiredFunc, v1.35).
KUBELET_BACKOFF_MEMORY = 600


def _short(container_or_sandbox_id: str | None) -> str:
    return (container_or_sandbox_id or "none")[:13]


def _in_backoff(pod: PodView) -> list[str]:
    """Containers the kubelet will restart: in back-off, or just died under restartPolicy Always.

    Right after a kill the API shows the container terminated for a few
    seconds before CrashLoopBackOff; that is a restart under way, not a failure.
    """
    return [c.name for c in pod.containers
            if (c.state == "waiting" and c.reason == BACKOFF)
            or (c.state == "terminated" and pod.restart_policy == "Always")]


# -- pod is Running -----------------------------------------------------------

@check
def pod_is_running(lab: Lab, namespace: str, name: str) -> Verdict:
    return judge_pod_running(lab.pod(namespace, name), f"{namespace}/{name}")


def judge_pod_running(pod: PodView | None, ref: str) -> Verdict:
    expected = f"pod {ref} Running and Ready on a node"
    if pod is None:
        return verdict(FAIL, None, expected, f"no pod {ref} in the API")
    evidence = {"pod_uid": pod.uid, "phase": pod.phase, "pod_ip": pod.ip or ""}
    if pod.running_and_ready and pod.node:
        return verdict(PASS, pod.node, expected, f"Running and Ready on {pod.node}", **evidence)
    backoff = _in_backoff(pod)
    if backoff:
        return verdict(WAITING, pod.node, expected, f"{pod.describe()}; in restart back-off: {', '.join(backoff)}",
                       backoff=True, **evidence)
    return verdict(FAIL, pod.node, expected, pod.describe(), **evidence)


# -- one READY sandbox with the pause image -----------------------------------

@check
def pod_has_one_ready_sandbox_with_the_pause_image(lab: Lab, namespace: str, name: str) -> Verdict:
    pod = lab.pod(namespace, name)
    if pod is None or not pod.node:
        return judge_pod_running(pod, f"{namespace}/{name}")
    runtime = lab.runtime(pod.node)
    sandboxes = runtime.sandboxes()
    ready = [s for s in sandboxes if s.uid == pod.uid and s.ready]
    inspected = runtime.inspectp(ready[0].id) if len(ready) == 1 else None
    return judge_sandbox(pod, sandboxes, inspected, lab.spec.release.pause_image)


def _ready_sandbox(pod: PodView, sandboxes: list[Sandbox]) -> tuple[Sandbox | None, list[str], list[str]]:
    """The pod's one READY sandbox, the problems if there is not exactly one, and UID findings."""
    mine = [s for s in sandboxes if s.uid == pod.uid]
    ready = [s for s in mine if s.ready]
    findings = [f"sandbox {_short(s.id)} is READY for {s.namespace}/{s.pod_name} with uid {s.uid}, "
                f"but the API says the pod's uid is {pod.uid}"
                for s in sandboxes
                if s.ready and s.pod_name == pod.name and s.namespace == pod.namespace and s.uid != pod.uid]
    if len(ready) == 1:
        return ready[0], [], findings
    problem = (f"{len(ready)} READY sandboxes for pod uid {pod.uid} on {pod.node} "
               f"({len(mine)} for that uid, {len(sandboxes)} on the node)")
    return None, [problem], findings


def judge_sandbox(pod: PodView, sandboxes: list[Sandbox], inspected: Sandbox | None,
                  pause_image: str) -> Verdict:
    expected = f"exactly one SANDBOX_READY sandbox for pod uid {pod.uid}, created from {pause_image}"
    sandbox, problems, findings = _ready_sandbox(pod, sandboxes)
    evidence = {"pod_uid": pod.uid, "sandboxes_on_node": len(sandboxes)}
    if sandbox is not None:
        evidence["sandbox_id"] = sandbox.id
        if inspected is None or inspected.id != sandbox.id:
            problems.append(f"sandbox {_short(sandbox.id)} was not inspected")
        else:
            evidence.update(sandbox_image=inspected.image or "", pause_pid=inspected.pid or 0,
                            netns=inspected.netns_path or "", sandbox_ip=inspected.ip or "")
            if inspected.uid != pod.uid:
                findings.append(f"inspectp says sandbox {_short(sandbox.id)} has uid {inspected.uid}, "
                                f"the API says {pod.uid}")
            if inspected.image != pause_image:
                problems.append(f"sandbox image is {inspected.image or 'not reported'}, not {pause_image}")
            if not inspected.pid:
                problems.append("the runtime reports no pause process")
            if pod.ip and inspected.ip and inspected.ip != pod.ip:
                findings.append(f"the sandbox's IP is {inspected.ip}, the API's pod IP is {pod.ip}")
    if problems or findings:
        return verdict(FAIL, pod.node, expected, "; ".join(problems + findings), findings=findings, **evidence)
    return verdict(PASS, pod.node, expected,
                   f"sandbox {_short(sandbox.id)} READY from {inspected.image}, pause pid {inspected.pid}",
                   **evidence)


# -- every container runs in that sandbox -------------------------------------

@check
def containers_run_in_the_pod_sandbox(lab: Lab, namespace: str, name: str) -> Verdict:
    pod = lab.pod(namespace, name)
    if pod is None or not pod.node:
        return judge_pod_running(pod, f"{namespace}/{name}")
    runtime = lab.runtime(pod.node)
    return judge_containers_in_sandbox(pod, runtime.sandboxes(), runtime.containers())


def judge_containers_in_sandbox(pod: PodView, sandboxes: list[Sandbox], containers: list[Container]) -> Verdict:
    names = ", ".join(c.name for c in pod.containers) or "(none)"
    expected = f"containers {names} each running in the pod's READY sandbox, with the IDs the API reports"
    if not pod.containers:
        return verdict(FAIL, pod.node, expected, "the API lists no containers for the pod")
    sandbox, sandbox_problems, findings = _ready_sandbox(pod, sandboxes)
    # Problems by container, so that back-off alone can be told from real failures.
    problems: dict[str | None, list[str]] = {None: sandbox_problems} if sandbox_problems else {}
    by_id = {c.id: c for c in containers}
    api_ids = {c.container_id for c in pod.containers}
    evidence = {"pod_uid": pod.uid, "sandbox_id": sandbox.id if sandbox else ""}
    for api in pod.containers:
        mine = problems.setdefault(api.name, [])
        if api.container_id is None:
            mine.append(f"the API reports no container ID for {api.name} ({api.state or 'no status'})")
            continue
        evidence[f"{api.name}_id"] = api.container_id
        node = by_id.get(api.container_id)
        if node is None:
            findings.append(f"the API's container ID for {api.name} ({_short(api.container_id)}) "
                            f"is not on {pod.node}")
            continue
        if node.label_name != api.name:
            findings.append(f"the node labels container {_short(node.id)} `{node.label_name}`, "
                            f"the API calls it `{api.name}`")
        if node.pod_uid != pod.uid:
            findings.append(f"the node labels container {_short(node.id)} with pod uid {node.pod_uid}, "
                            f"the API says {pod.uid}")
        if sandbox is not None and node.sandbox_id != sandbox.id:
            mine.append(f"{api.name} runs in sandbox {_short(node.sandbox_id)}, "
                        f"not the pod's READY sandbox {_short(sandbox.id)}")
        if not node.running:
            mine.append(f"{api.name} is {node.state} on the node")
    for extra in containers:
        if extra.pod_uid == pod.uid and extra.running and extra.id not in api_ids:
            findings.append(f"{pod.node} runs container {_short(extra.id)} ({extra.label_name}) "
                            f"for the pod, which the API does not report")
    failing = {name for name, texts in problems.items() if texts}
    if failing or findings:
        backoff = set(_in_backoff(pod))
        # Nothing wrong but containers the kubelet is holding in back-off: not yet proven, not failed.
        seen = "; ".join([t for texts in problems.values() for t in texts] + findings)
        if backoff and failing <= backoff and not findings:
            return verdict(WAITING, pod.node, expected, seen, backoff=True, **evidence)
        return verdict(FAIL, pod.node, expected, seen, findings=findings, **evidence)
    return verdict(PASS, pod.node, expected,
                   f"{names} running in sandbox {_short(sandbox.id)} with matching IDs", **evidence)


# -- the containers share one emptyDir ----------------------------------------

@check
def containers_share_the_volume(lab: Lab, namespace: str, name: str, volume: str) -> Verdict:
    pod = lab.pod(namespace, name)
    if pod is None or not pod.node:
        return judge_pod_running(pod, f"{namespace}/{name}")
    runtime = lab.runtime(pod.node)
    inspected = [runtime.inspect_process(c.container_id) for c in pod.containers
                 if volume in c.mounts and c.container_id]
    return judge_shared_volume(pod, volume, inspected)


def judge_shared_volume(pod: PodView, volume: str, inspected: list[Container]) -> Verdict:
    suffix = f"/pods/{pod.uid}/volumes/kubernetes.io~empty-dir/{volume}"
    expected = f"every container mounting `{volume}` mounts the same host directory …{suffix}"
    users = [c for c in pod.containers if volume in c.mounts]
    if len(users) < 2:
        return verdict(FAIL, pod.node, expected,
                       f"the pod mounts `{volume}` in {len(users)} container(s); sharing needs two")
    by_id = {c.id: c for c in inspected}
    problems, findings, hosts = [], [], {}
    for api in users:
        if api.container_id is None:
            problems.append(f"the API reports no container ID for {api.name} ({api.state or 'no status'})")
            continue
        node = by_id.get(api.container_id)
        if node is None:
            problems.append(f"{api.name} ({_short(api.container_id)}) was not inspected on {pod.node}")
            continue
        if node.label_name != api.name:
            findings.append(f"the node labels container {_short(node.id)} `{node.label_name}`, "
                            f"the API calls it `{api.name}`")
        path = api.mounts[volume]
        host = next((m.host_path for m in node.mounts if m.container_path == path), None)
        if host is None:
            problems.append(f"{api.name} has no mount at {path} on the node")
            continue
        hosts[api.name] = host
        if not host.endswith(suffix):
            problems.append(f"{api.name}'s {path} comes from {host}, not the pod's emptyDir")
    evidence = {f"{n}_host_path": h for n, h in hosts.items()}
    if len(set(hosts.values())) > 1:
        problems.append("host paths differ: " + ", ".join(f"{n} {h}" for n, h in hosts.items()))
    if problems or findings:
        return verdict(FAIL, pod.node, expected, "; ".join(problems + findings), findings=findings, **evidence)
    return verdict(PASS, pod.node, expected,
                   f"{', '.join(hosts)} all mount {next(iter(hosts.values()))}", **evidence)


# -- a request to nginx shows in the sidecar's log ----------------------------

@check
def request_shows_in_the_log(lab: Lab, namespace: str, name: str, server: str, reader: str,
                             port: int = 80, timeout: float = 15.0) -> Verdict:
    """GET a unique URL from the server container (from its node) and find it in the reader's log."""
    pod = lab.pod(namespace, name)
    if pod is None or not pod.node or not pod.ip:
        return judge_pod_running(pod, f"{namespace}/{name}")
    reader_c = pod.container(reader)
    if reader_c is None or reader_c.container_id is None:
        return verdict(FAIL, pod.node, f"a running {reader} container", f"the API reports no {reader} container")
    runtime = lab.runtime(pod.node)
    token = f"kubelab-probe-{secrets.token_hex(6)}"
    host = f"[{pod.ip}]" if ":" in pod.ip else pod.ip
    url = f"http://{host}:{port}/?{token}"
    quoted = shlex.quote(url)
    http = runtime.session.run(
        f"if command -v curl >/dev/null 2>&1; then curl -sS -o /dev/null -w '%{{http_code}}' --max-time 5 {quoted}; "
        f"else wget -q -O /dev/null -T 5 {quoted} && echo 200; fi", timeout=15)
    log = ""
    deadline = time.monotonic() + timeout
    while http.ok:
        result = runtime.logs(reader_c.container_id)
        log = result.stdout + result.stderr
        if token in log or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    return judge_request_logged(pod.node, server, reader, url, token, http, log)


def judge_request_logged(node: str, server: str, reader: str, url: str, token: str,
                         http: CommandResult, log: str) -> Verdict:
    expected = f"GET {url} answered by {server}, and that request in {reader}'s log"
    code = http.stdout.strip()
    evidence = {"url": url, "http_status": code}
    if not http.ok or code[:1] not in ("2", "3"):
        return verdict(FAIL, node, expected,
                       f"the request failed: exit {http.exit_code}, status {code or 'none'}, {http.stderr.strip()}",
                       **evidence)
    line = next((line for line in log.splitlines() if token in line), None)
    if line is None:
        return verdict(FAIL, node, expected, f"HTTP {code}, but {reader}'s log does not show the request "
                                             f"({len(log.splitlines())} lines read)", **evidence)
    return verdict(PASS, node, expected, f"HTTP {code}; {reader} logged: {line.strip()}", log_line=line.strip(),
                   **evidence)


# -- kill -9 of a container brings a new container in the same sandbox --------

@dataclass(frozen=True)
class RestartBaseline:
    """A container as it was just before its process was killed."""

    container: str
    pod_uid: str
    container_id: str
    sandbox_id: str
    restart_count: int
    attempt: int
    pid: int
    namespace: str
    name: str
    node: str  # as the API names it


@step
def kill_container_process(lab: Lab, namespace: str, name: str, container: str,
                           timeout: float = 60.0) -> RestartBaseline | Verdict:
    """`kill -9` the container's process on its node; the record says what a restart must differ from.

    The kubelet delays each restart of a container twice as long as the last
    (10 s, 20 s, ... 5 min) until the container has run 10 min, so back-to-back
    grades would wait longer each time. That memory lives only in the kubelet's
    process: when it may be holding one for this container, the kubelet is
    restarted first (its pods run on, untouched), and every grade's kill is a
    first kill again.
    """
    ref = f"{namespace}/{name}"
    pod = lab.pod(namespace, name)
    if pod is None or not pod.node:
        return judge_pod_running(pod, ref)
    expected = f"a running {container} container in {ref} to kill"
    api = pod.container(container)
    if api is None:
        return verdict(FAIL, pod.node, expected, f"the API lists no container {container}")
    runtime = lab.runtime(pod.node)
    waited = ""
    if _kubelet_may_back_off(runtime, api):
        runtime.session.run("systemctl restart kubelet", check=True)
        pod = _wait_running(lab, namespace, name, container, timeout) or pod
        api, waited = pod.container(container), f" {timeout:g} s after restarting the kubelet"
    if api is None or api.state != "running" or api.container_id is None:
        state = "gone from the API" if api is None else f"{api.state or 'without status'} {api.reason or ''}".strip()
        return verdict(FAIL, pod.node, expected, f"{container} is {state}{waited}")
    node = runtime.inspect_process(api.container_id)
    if node.label_name != container or node.pod_uid != pod.uid:
        finding = (f"the API's {container} ID {_short(api.container_id)} is labelled "
                   f"{node.label_name} of pod uid {node.pod_uid} on the node")
        return verdict(FAIL, pod.node, expected, finding, findings=[finding])
    if not node.running or not node.pid:
        return verdict(FAIL, pod.node, expected, f"{container} is {node.state} with pid {node.pid} on the node")
    killed = runtime.kill(node.pid)
    if not killed.ok:
        return verdict(FAIL, pod.node, expected, f"kill -9 {node.pid} failed: {killed.stderr.strip()}")
    return RestartBaseline(container, pod.uid, node.id, node.sandbox_id, api.restart_count, node.attempt,
                           node.pid, namespace, name, pod.node)


def _kubelet_may_back_off(runtime, api) -> bool:
    if api.restart_count == 0 or api.state != "running" or api.container_id is None:
        return kubelet_may_back_off(api.restart_count, api.state == "running", None, 0, 0)
    started = runtime.inspect_process(api.container_id).started
    uptime, now = runtime.session.run('ps -o etimes= -p "$(systemctl show -p MainPID --value kubelet)"; date +%s',
                                      check=True).stdout.split()
    return kubelet_may_back_off(api.restart_count, True, started.timestamp() if started else None,
                                int(now) - int(uptime), int(now))


def kubelet_may_back_off(restart_count: int, running: bool, started: float | None, kubelet_started: float,
                         now: float) -> bool:
    """Whether the node's kubelet may still delay this container's next restart (times in epoch seconds).

    It keeps a delay for a container it restarted (restartCount > 0) until
    KUBELET_BACKOFF_MEMORY seconds pass without a restart, and forgets every
    delay when it restarts itself. A container not running is in that delay.
    """
    if restart_count == 0:
        return False
    if not running or started is None:
        return True
    return started > kubelet_started and now - started < KUBELET_BACKOFF_MEMORY


def _wait_running(lab: Lab, namespace: str, name: str, container: str, timeout: float) -> PodView | None:
    """The pod once `container` runs again (the kubelet restarts it at once after its own restart)."""
    deadline = time.monotonic() + timeout
    while True:
        pod = lab.pod(namespace, name)
        api = pod.container(container) if pod else None
        if (api is not None and api.state == "running") or time.monotonic() >= deadline:
            return pod
        time.sleep(1.0)


@check
def container_restarts_in_the_same_sandbox(lab: Lab, before: RestartBaseline | Verdict,
                                           timeout: float = 90.0, interval: float = 1.0) -> Verdict:
    """Poll (bounded) until the kubelet has replaced the killed container, then judge the replacement."""
    if isinstance(before, Verdict):
        return before
    runtime = lab.runtime(before.node)
    deadline = time.monotonic() + timeout
    while True:
        pod_now = lab.pod(before.namespace, before.name)
        api_now = pod_now.container(before.container) if pod_now else None
        old = None
        if api_now is not None and api_now.restart_count > before.restart_count:
            old = _inspect_if_present(runtime, before.container_id)
        result = judge_restart(before, pod_now, runtime.containers(), old)
        if result.status != WAITING:
            return result
        if time.monotonic() >= deadline:
            if result.evidence.get("backoff"):
                return result
            return verdict(FAIL, result.node, result.expected,
                           f"not back within {timeout:g} s: {result.seen}", **result.evidence)
        time.sleep(interval)


def _inspect_if_present(runtime, container_id: str) -> Container | None:
    try:
        return runtime.inspect_process(container_id)
    except RuntimeOutputError:
        # The kubelet may already have garbage-collected the dead container.
        return None


def judge_restart(before: RestartBaseline, pod: PodView | None, containers: list[Container],
                  old: Container | None) -> Verdict:
    """PASS, FAIL, or WAITING (evidence `backoff` says whether the kubelet is holding it back)."""
    name = before.container
    expected = (f"{name} killed (pid {before.pid}) comes back as a new container in sandbox "
                f"{_short(before.sandbox_id)}: restartCount {before.restart_count + 1}, "
                f"last exit code {SIGKILL_EXIT}, pod Running")
    evidence = {"old_container_id": before.container_id, "sandbox_id": before.sandbox_id,
                "restart_count_before": before.restart_count, "killed_pid": before.pid}
    node_name = pod.node if pod else None
    if pod is None:
        return verdict(FAIL, node_name, expected, "the pod is gone from the API", **evidence)
    if pod.uid != before.pod_uid:
        return verdict(FAIL, node_name, expected, f"the pod was recreated (uid {before.pod_uid} -> {pod.uid}), "
                                                  f"not restarted in place", **evidence)
    api = pod.container(name)
    if api is None:
        return verdict(FAIL, node_name, expected, f"the API no longer lists {name}", **evidence)
    evidence.update(restart_count=api.restart_count, api_state=api.state or "", api_reason=api.reason or "")
    if api.restart_count == before.restart_count:
        backoff = api.state == "waiting" and api.reason == BACKOFF
        seen = (f"in back-off ({BACKOFF}): the kubelet waits before restarting {name}" if backoff
                else f"restartCount still {api.restart_count}; {name} {api.state} {api.reason or ''}".strip())
        return verdict(WAITING, node_name, expected, seen, backoff=backoff, **evidence)
    if api.restart_count != before.restart_count + 1:
        return verdict(FAIL, node_name, expected, f"restartCount went from {before.restart_count} to "
                                                  f"{api.restart_count}, not +1", **evidence)
    evidence.update(last_exit_code=api.last_exit_code, last_reason=api.last_reason or "")
    if api.last_exit_code != SIGKILL_EXIT:
        return verdict(FAIL, node_name, expected, f"last state exit code {api.last_exit_code} "
                                                  f"({api.last_reason}), not {SIGKILL_EXIT}", **evidence)
    if api.container_id in (None, before.container_id):
        return verdict(FAIL, node_name, expected, f"restartCount rose but the API still reports container "
                                                  f"{_short(api.container_id)}", **evidence)
    evidence["new_container_id"] = api.container_id
    if api.state != "running" or not pod.running_and_ready:
        return verdict(WAITING, node_name, expected, f"{name} restarted, {api.state}; pod {pod.describe()}",
                       backoff=False, **evidence)
    findings = []
    new = next((c for c in containers if c.id == api.container_id), None)
    if new is None:
        findings.append(f"the API's new {name} container {_short(api.container_id)} is not on {node_name}")
    else:
        if new.label_name != name or new.pod_uid != before.pod_uid:
            findings.append(f"the node labels container {_short(new.id)} as {new.label_name} of pod uid "
                            f"{new.pod_uid}, the API says {name} of {before.pod_uid}")
        if new.sandbox_id != before.sandbox_id:
            return verdict(FAIL, node_name, expected, f"the new container runs in sandbox {_short(new.sandbox_id)}"
                                                      f", not {_short(before.sandbox_id)}: the sandbox was "
                                                      f"recreated", findings=findings, **evidence)
        if new.attempt != before.attempt + 1:
            return verdict(FAIL, node_name, expected, f"CRI attempt {new.attempt}, expected {before.attempt + 1}",
                           findings=findings, **evidence)
        if not new.running and not findings:
            return verdict(WAITING, node_name, expected, f"new container {_short(new.id)} is {new.state}",
                           backoff=False, **evidence)
    if old is None:
        evidence["old_container"] = "already removed on the node"
    elif old.exit_code != SIGKILL_EXIT:
        findings.append(f"the node reports exit code {old.exit_code} for the killed container, "
                        f"the API {api.last_exit_code}")
    if findings:
        return verdict(FAIL, node_name, expected, "; ".join(findings), findings=findings, **evidence)
    return verdict(PASS, node_name, expected,
                   f"new container {_short(api.container_id)} in the same sandbox, restartCount "
                   f"{api.restart_count}, last exit {api.last_exit_code} ({api.last_reason}), pod Running",
                   **evidence)
