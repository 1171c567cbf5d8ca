"""A readiness probe takes a pod out of its Service, and leaves its container alone.

Observes `remove_file_in_container` (probes.py), which records the running
container it broke on the node. The check then waits (bounded) for the
kubelet's answer and proves it was the readiness probe's, not a liveness
probe's: the pod is no longer Ready, the kubelet says `Readiness probe
failed` for the container, its IP is no ready endpoint of the Service
(services.judge_readiness_gate), and on the node the very container the step
broke still runs: the same container ID, no new attempt, no restart.
"""

from __future__ import annotations

from kubelab.checks.lab import Lab
from kubelab.checks.objects import get, list_objects
from kubelab.checks.probes import ProbeBreak
from kubelab.checks.registry import check
from kubelab.checks.services import backends, judge_readiness_gate, read_service
from kubelab.checks.verdict import FAIL, PASS, WAITING, Verdict, verdict
from kubelab.checks.workloads import poll
from kubelab.cluster import PodView
from kubelab.runtime import Container

READINESS_FAILED = "Readiness probe failed"  # pkg/kubelet/prober/prober.go, v1.35


@check
def readiness_probe_took_the_pod_out(lab: Lab, *, namespace: str, name: str, container: str, service: str,
                                     before: ProbeBreak | Verdict | None = None, timeout: float = 30.0,
                                     interval: float = 1.0) -> Verdict:
    """Poll (bounded) until pod `name` is not Ready for its readiness probe, then judge that it left
    Service `service`'s endpoints while the broken container kept running."""
    if isinstance(before, Verdict):
        return before

    def judge() -> Verdict:
        pod = get(lab, "v1", "Pod", namespace, name)
        svc, slices = read_service(lab, namespace, service)
        view = PodView.from_api(pod) if pod else None
        events, containers = [], []
        if view and view.node:
            events = list_objects(lab, "v1", "Event", namespace, fields=f"involvedObject.uid={view.uid}")
            containers = lab.runtime(view.node).containers()
        return judge_readiness_drop(f"{namespace}/{service}", svc, slices, pod, container, events, containers,
                                    before)
    return poll(judge, timeout, interval)


def judge_readiness_drop(service_ref: str, service: dict | None, slices: list[dict], pod: dict | None,
                         name: str, events: list[dict], containers: list[Container],
                         before: ProbeBreak | None) -> Verdict:
    """PASS, FAIL, or WAITING while the pod is still Ready (or its endpoint and events lag behind)."""
    expected = (f"after its probed file was removed, {name} still runs in the same container on the node (no "
                f"restart), while its readiness probe fails: the pod not Ready and no ready endpoint of Service "
                f"{service_ref}")
    if pod is None or before is None:
        return verdict(FAIL, None, expected, "no such pod in the API" if pod is None else "the step recorded nothing")
    view = PodView.from_api(pod)
    spec = next((c for c in pod["spec"].get("containers") or () if c["name"] == name), None)
    api = view.container(name)
    if spec is None or api is None:
        return verdict(FAIL, view.node, expected, f"the pod has no container {name}")
    evidence = {"container_id": before.container_id, "restart_count": api.restart_count}
    if not spec.get("readinessProbe"):
        return verdict(FAIL, view.node, expected, f"{name} has no readinessProbe", **evidence)
    if view.uid != before.pod_uid:
        return verdict(FAIL, view.node, expected, f"the pod was recreated (uid {before.pod_uid} -> {view.uid})",
                       **evidence)
    if api.restart_count > before.restart_count or api.container_id != before.container_id:
        return verdict(FAIL, view.node, expected, f"{name} was restarted (restartCount {before.restart_count} -> "
                                                  f"{api.restart_count}, container {before.container_id[:13]} -> "
                                                  f"{(api.container_id or 'none')[:13]}): a readiness probe never "
                                                  f"restarts a container", **evidence)
    if view.ready:
        return verdict(WAITING, view.node, expected, "the pod is still Ready", **evidence)
    if any(b.ready for b in backends(service or {}, slices, None) if b.ip == view.ip):
        return verdict(WAITING, view.node, expected, f"{view.ip} is still a ready endpoint", **evidence)
    gate = judge_readiness_gate(service_ref, service, slices, pod, containers)
    evidence.update(gate.evidence)
    if gate.status != PASS:
        return verdict(FAIL, view.node, expected, gate.seen, **evidence)
    same = [c for c in containers if c.id == before.container_id and c.running]
    if not same:
        return verdict(FAIL, view.node, expected, f"container {before.container_id[:13]} no longer runs on "
                                                  f"{view.node}", **evidence)
    failed = [e for e in events if (e.get("involvedObject") or {}).get("fieldPath") == f"spec.containers{{{name}}}"
              and e.get("reason") == "Unhealthy" and READINESS_FAILED in (e.get("message") or "")]
    if not failed:
        return verdict(WAITING, view.node, expected, f"not Ready, but no Unhealthy ({READINESS_FAILED}) event for "
                                                     f"{name} yet", **evidence)
    evidence["probe_message"] = failed[-1].get("message", "")
    return verdict(PASS, view.node, expected, f"{name} runs on in container {same[0].id[:13]} (attempt "
                                              f"{same[0].attempt}, restartCount {api.restart_count}); "
                                              f"{gate.seen}", **evidence)
