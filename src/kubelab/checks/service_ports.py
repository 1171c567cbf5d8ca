"""A Service port that forwards to a container port by its name, and every selected pod declares that name.

Traffic alone cannot tell `targetPort: http` from `targetPort: 80`: both
reach nginx. The name is what lets the pods move nginx to another port
without the Service changing, so a task that asks for it is graded on the
Service's spec and on the ports its pods declare.
"""

from __future__ import annotations

from kubelab.checks.lab import Lab
from kubelab.checks.objects import label_selector, list_objects
from kubelab.checks.registry import check
from kubelab.checks.services import read_service, service_port, target_port
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict


@check
def service_targets_named_port(lab: Lab, *, namespace: str, name: str, port: int, target_port: str) -> Verdict:
    """Service `name`'s port `port` has targetPort `target_port` (a name), and each pod it selects declares it."""
    service, _ = read_service(lab, namespace, name)
    selector = label_selector(((service or {}).get("spec") or {}).get("selector"))
    pods = list_objects(lab, "v1", "Pod", namespace, labels=selector) if selector else []
    return judge_named_target_port(f"{namespace}/{name}", service, pods, port, target_port)


def judge_named_target_port(ref: str, service: dict | None, pods: list[dict], port: int, name: str) -> Verdict:
    expected = (f"Service {ref} port {port} forwards to targetPort {name!r} by name, and every pod it selects "
                f"declares a container port named {name!r}")
    if service is None:
        return verdict(FAIL, None, expected, f"no Service {ref} in the API")
    entry = service_port(service, port)
    if entry is None:
        ports = ", ".join(str(p.get("port")) for p in (service.get("spec") or {}).get("ports") or ()) or "none"
        return verdict(FAIL, None, expected, f"the Service has no port {port} (its ports: {ports})")
    wanted = entry.get("targetPort", entry.get("port"))
    evidence = {"target_port": str(wanted)}
    if wanted != name:
        how = "a number" if isinstance(wanted, int) else "another name"
        return verdict(FAIL, None, expected, f"port {port} has targetPort {wanted!r}, {how}, not {name!r}", **evidence)
    if not pods:
        return verdict(FAIL, None, expected, "the Service selects no pod, so the name resolves nowhere", **evidence)
    resolved = [(pod["metadata"]["name"], *target_port(pod, entry)) for pod in pods]
    missing = [how for _, number, how in resolved if number is None]
    if missing:
        return verdict(FAIL, None, expected, "; ".join(missing), **evidence)
    evidence["pods"] = ", ".join(f"{pod}: {how}" for pod, _, how in sorted(resolved))
    return verdict(PASS, None, expected, f"targetPort {name!r} resolves in all {len(pods)} selected pod(s): "
                                         f"{evidence['pods']}", **evidence)
