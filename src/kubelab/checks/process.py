"""Checks on a container's main process, read where the kernel keeps it: /proc/<pid> on the container's node.

The API shows what a pod asked for; these checks show what the process got.
A `runAsUser` on the pod overridden by `runAsUser: 0` on the container reads
right in `kubectl get -o jsonpath` and runs as root. Every check here finds the
process the same way: the API names the container's runtime ID, `crictl
inspect` on its node gives the pid (through a template that leaves out the
runtime spec, which holds the values of Secrets consumed as env), and the
judge gets the pod, the container and what /proc said.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

from kubelab.checks.lab import Lab
from kubelab.checks.pods import judge_pod_running
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.cluster import PodView
from kubelab.errors import KubelabError
from kubelab.runtime import ENVIRON_DIGEST_CHARS, Container, NodeRuntime, ProcStatus

ROOT = 0


class CheckArgumentError(KubelabError):
    """An exercise gave a check an argument value it cannot use."""

    def __init__(self, check_name: str, argument: str, problem: str, fix: str):
        self.check_name, self.argument = check_name, argument
        super().__init__(f"check {check_name}: argument {argument!r}: {problem}. Fix: {fix}")


@dataclass(frozen=True)
class Process:
    """A container's main process: the API's pod and container name, and the node's record of the container."""

    pod: PodView
    container: str
    inspected: Container

    @property
    def node(self) -> str | None:
        return self.pod.node

    @property
    def pid(self) -> int:
        return self.inspected.pid or 0

    @property
    def what(self) -> str:
        return f"the main process of {self.container} in {self.pod.namespace}/{self.pod.name}"

    @property
    def status_file(self) -> str:
        return f"/proc/{self.pid}/status"

    def evidence(self, **more) -> dict:
        return {"container_id": self.inspected.id, "pid": self.pid, **more}


def find_process(lab: Lab, namespace: str, name: str, container: str) -> tuple[Process, NodeRuntime] | Verdict:
    """The container's running process and its node's runtime, or the verdict that says why there is none."""
    pod = lab.pod(namespace, name)
    if pod is None or not pod.node:
        return judge_pod_running(pod, f"{namespace}/{name}")
    api = pod.container(container)
    runtime = lab.runtime(pod.node)
    inspected = None
    if api is not None and api.container_id and api.state == "running":
        inspected = runtime.inspect_process(api.container_id)
    found = judge_process(pod, container, inspected)
    return (found, runtime) if isinstance(found, Process) else found


def prove(lab: Lab, namespace: str, name: str, container: str, read: Callable[[NodeRuntime, int], Any],
          judge: Callable[..., Verdict], *args) -> Verdict:
    """`judge(process, read(runtime, pid), *args)` on the container's process, or why there is none to judge."""
    found = find_process(lab, namespace, name, container)
    if isinstance(found, Verdict):
        return found
    process, runtime = found
    return judge(process, read(runtime, process.pid), *args)


def judge_process(pod: PodView, container: str, inspected: Container | None) -> Process | Verdict:
    """The process if the API's running container is the node's running container with a pid, else a FAIL."""
    ref = f"{pod.namespace}/{pod.name}"
    expected = f"container {container} of {ref} running on {pod.node}, with a process"
    api = pod.container(container)
    if api is None:
        names = ", ".join(c.name for c in pod.containers) or "none"
        return verdict(FAIL, pod.node, expected, f"the API lists no container {container} in {ref} (it has: {names})")
    if api.state != "running" or not api.container_id:
        return verdict(FAIL, pod.node, expected, f"{container} is {api.state or 'without status'}"
                                                 + (f" ({api.reason})" if api.reason else ""))
    if inspected is None:
        return verdict(FAIL, pod.node, expected, f"{container} ({api.container_id[:13]}) was not inspected on "
                                                 f"{pod.node}")
    findings = []
    if inspected.id != api.container_id:
        findings.append(f"the node inspected container {inspected.id[:13]}, the API's is {api.container_id[:13]}")
    if inspected.label_name != container or inspected.pod_uid != pod.uid:
        findings.append(f"the node labels container {inspected.id[:13]} as {inspected.label_name} of pod uid "
                        f"{inspected.pod_uid}, the API says {container} of {pod.uid}")
    if findings:
        return verdict(FAIL, pod.node, expected, "; ".join(findings), findings=findings)
    if not inspected.running or not inspected.pid:
        return verdict(FAIL, pod.node, expected, f"{container} is {inspected.state} with pid {inspected.pid} "
                                                 f"on {pod.node}")
    return Process(pod, container, inspected)


def nothing_read(process: Process, expected: str, source: str) -> Verdict:
    return verdict(FAIL, process.node, expected, f"nothing read from {source}", **process.evidence())


def conclude(process: Process, expected: str, source: str, problems: list[str], passed: str,
             **evidence) -> Verdict:
    """FAIL naming the problems seen in `source`, else PASS saying what was seen."""
    evidence = process.evidence(**evidence)
    if problems:
        return verdict(FAIL, process.node, expected, f"{source}: {'; '.join(problems)}", **evidence)
    return verdict(PASS, process.node, expected, f"pid {process.pid}: {passed}", **evidence)


def _ids(values: tuple[int, ...]) -> str:
    return "/".join(str(v) for v in values)


# -- user and group -----------------------------------------------------------

@check
def process_runs_as_user(lab: Lab, *, namespace: str, name: str, container: str, uid: int,
                         gid: int | None = None) -> Verdict:
    return prove(lab, namespace, name, container, NodeRuntime.proc_status, judge_user, uid, gid)


def judge_user(process: Process, status: ProcStatus | None, uid: int, gid: int | None = None) -> Verdict:
    """Every uid of the process (real, effective, saved, filesystem) is `uid`; every gid `gid`, if given."""
    wanted = f"uid {uid}" + (f" and gid {gid}" if gid is not None else "")
    expected = f"{process.what} runs as {wanted} (real, effective, saved and filesystem ids)"
    if status is None:
        return nothing_read(process, expected, process.status_file)
    problems = []
    if set(status.uids) != {uid}:
        problems.append(f"Uid {_ids(status.uids)}")
    if gid is not None and set(status.gids) != {gid}:
        problems.append(f"Gid {_ids(status.gids)}")
    uids, gids = _ids(status.uids), _ids(status.gids)
    return conclude(process, expected, process.status_file, problems, f"Uid {uids}, Gid {gids}", uids=uids, gids=gids)


@check
def process_runs_as_non_root(lab: Lab, *, namespace: str, name: str, container: str) -> Verdict:
    return prove(lab, namespace, name, container, NodeRuntime.proc_status, judge_non_root)


def judge_non_root(process: Process, status: ProcStatus | None) -> Verdict:
    expected = f"{process.what} runs as a user other than root (uid {ROOT}), in all four uids"
    if status is None:
        return nothing_read(process, expected, process.status_file)
    problems = [f"Uid {_ids(status.uids)}: the process is root"] if ROOT in status.uids else []
    return conclude(process, expected, process.status_file, problems, f"Uid {_ids(status.uids)}",
                    uids=_ids(status.uids))


# -- environment --------------------------------------------------------------

@check
def process_environment_has(lab: Lab, *, namespace: str, name: str, container: str, variable: str,
                            value: str) -> Verdict:
    """`variable` is `value` in the process's environment: from a ConfigMap or a Secret, shown only as a hash."""
    return prove(lab, namespace, name, container, NodeRuntime.environ_digests, judge_environment, variable, value)


def value_digest(value: str) -> str:
    """The sha256 prefix the node prints for a variable's value (NodeRuntime.environ_digests)."""
    return hashlib.sha256(value.encode()).hexdigest()[:ENVIRON_DIGEST_CHARS]


def judge_environment(process: Process, digests: dict[str, str], variable: str, value: str) -> Verdict:
    """Compare hashes only: the value may be a Secret's, and neither `expected` nor `seen` may show it."""
    wanted = value_digest(value)
    expected = f"{process.what} has {variable} in its environment, with the value the task gives (sha256 {wanted})"
    if not digests:
        return verdict(FAIL, process.node, expected, f"/proc/{process.pid}/environ is empty: the process has no "
                                                     f"environment, or rewrote it (nginx does, for its title)")
    evidence = process.evidence(variables=len(digests))
    seen = digests.get(variable)
    if seen is None:
        return verdict(FAIL, process.node, expected, f"no {variable} among the {len(digests)} variables of pid "
                                                     f"{process.pid}", **evidence)
    evidence["value_sha256"] = seen
    if seen != wanted:
        return verdict(FAIL, process.node, expected, f"{variable} holds another value (sha256 {seen})", **evidence)
    return verdict(PASS, process.node, expected, f"pid {process.pid}: {variable} set, sha256 {seen} matches",
                   **evidence)
