"""Checks on a native sidecar: an init container with `restartPolicy: Always` that runs beside the app.

Since Kubernetes 1.29 a sidecar is declared among the init containers: the
kubelet starts it before the app containers, keeps it running (and restarts
it) for the pod's whole life, and stops it after them. The same container
listed under `containers` reads alike in `kubectl get pod` (2/2 running) but
is an ordinary container: nothing orders its start, and a Job's pod would
wait for it forever. The API says where it is declared and its restart
policy; the node says what ran: both containers running in the pod's one
READY sandbox, the sidecar started first, and, when a volume is named, both
bound to the same host directory for it (crictl inspect's mounts).
"""

from __future__ import annotations

from kubelab.checks.init import init_and_app
from kubelab.checks.lab import Lab
from kubelab.checks.pods import _ready_sandbox, _short
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.cluster import PodView
from kubelab.runtime import Container, Sandbox

ALWAYS = "Always"


@check
def native_sidecar_runs_beside(lab: Lab, *, namespace: str, name: str, sidecar: str, container: str,
                               volume: str = "") -> Verdict:
    """`sidecar` is an init container with restartPolicy Always, running on the node in the pod's sandbox beside
    `container` and started before it; with `volume`, both mount the same host directory for it."""
    found = init_and_app(lab, namespace, name, sidecar, container)
    if isinstance(found, Verdict):
        return found
    return judge_native_sidecar(*found, sidecar, container, volume)


def _mount_path(spec_container: dict, volume: str) -> str | None:
    return next((m["mountPath"] for m in spec_container.get("volumeMounts") or () if m.get("name") == volume), None)


def _host_path(inspected: Container, path: str | None) -> str | None:
    if path is None:
        return None
    return next((m.host_path for m in inspected.mounts if m.container_path.rstrip("/") == path.rstrip("/")), None)


def judge_native_sidecar(raw: dict, sandboxes: list[Sandbox], sidecar_c: Container | None,
                         app_c: Container | None, sidecar: str, container: str, volume: str = "") -> Verdict:
    pod = PodView.from_api(raw)
    spec = raw.get("spec") or {}
    sharing = f", both mounting volume `{volume}` from the same host directory" if volume else ""
    expected = (f"{sidecar} declared as an init container with restartPolicy {ALWAYS} in {pod.namespace}/{pod.name},"
                f" running in the pod's READY sandbox beside {container}, started before it{sharing}")
    declared = {c["name"]: c for c in spec.get("initContainers") or ()}
    regular = {c["name"]: c for c in spec.get("containers") or ()}
    if sidecar not in declared:
        where = "a regular container" if sidecar in regular else "not in the pod"
        return verdict(FAIL, pod.node, expected, f"{sidecar} is {where} (init containers: "
                                                 f"{', '.join(declared) or 'none'}; containers: "
                                                 f"{', '.join(regular) or 'none'})")
    policy = declared[sidecar].get("restartPolicy")
    if policy != ALWAYS:
        return verdict(FAIL, pod.node, expected, f"{sidecar} is an init container with restartPolicy "
                                                 f"{policy or 'unset'}: it must exit before {container} starts")
    if sidecar_c is None or app_c is None:
        missing = ", ".join(n for n, c in ((sidecar, sidecar_c), (container, app_c)) if c is None)
        return verdict(FAIL, pod.node, expected, f"the API reports no container ID for {missing}")
    evidence = {"sidecar_id": sidecar_c.id, "app_id": app_c.id}
    findings = [f"the node labels container {_short(c.id)} as {c.label_name} of pod uid {c.pod_uid}, the API says "
                f"{want} of {pod.uid}"
                for c, want in ((sidecar_c, sidecar), (app_c, container))
                if c.label_name != want or c.pod_uid != pod.uid]
    problems = [f"{c.label_name} is {c.state} on {pod.node}" for c in (sidecar_c, app_c) if not c.running]
    sandbox, sandbox_problems, sandbox_findings = _ready_sandbox(pod, sandboxes)
    problems += sandbox_problems
    findings += sandbox_findings
    if sandbox is not None:
        evidence["sandbox_id"] = sandbox.id
        problems += [f"{c.label_name} runs in sandbox {_short(c.sandbox_id)}, not the pod's READY sandbox "
                     f"{_short(sandbox.id)}" for c in (sidecar_c, app_c) if c.sandbox_id != sandbox.id]
    if sidecar_c.started and app_c.started:
        evidence.update(sidecar_started=sidecar_c.started.isoformat(), app_started=app_c.started.isoformat())
        if app_c.started < sidecar_c.started:
            problems.append(f"{container} started at {app_c.started:%H:%M:%S.%f}, before {sidecar} at "
                            f"{sidecar_c.started:%H:%M:%S.%f}")
    else:
        problems.append(f"the node reports no start time for {sidecar} or {container}")
    if volume:
        hosts = {which: _host_path(c, _mount_path(spec_c, volume))
                 for which, c, spec_c in ((sidecar, sidecar_c, declared[sidecar]),
                                          (container, app_c, regular.get(container, {})))}
        evidence.update({f"{which}_host_path": host or "" for which, host in hosts.items()})
        unmounted = [which for which, host in hosts.items() if host is None]
        if unmounted:
            problems.append(f"{' and '.join(unmounted)} mount(s) no volume `{volume}` on the node")
        elif hosts[sidecar] != hosts[container]:
            problems.append(f"{sidecar} mounts {hosts[sidecar]}, {container} mounts {hosts[container]}: not the same "
                            f"volume `{volume}`")
    if problems or findings:
        return verdict(FAIL, pod.node, expected, "; ".join(problems + findings), findings=findings, **evidence)
    gap = (app_c.started - sidecar_c.started).total_seconds()
    shared = f"; both mount {evidence[f'{sidecar}_host_path']}" if volume else ""
    return verdict(PASS, pod.node, expected, f"{sidecar} and {container} running in sandbox {_short(sandbox.id)}; "
                                             f"{container} started {gap:.3f} s after {sidecar}{shared}", **evidence)
