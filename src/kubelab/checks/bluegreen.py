"""Checks that prove a blue/green switch: a Service's traffic goes to one Deployment's pods, and only to them.

A selector that matches both colours, or still the old one, reads plausibly
in `kubectl get svc -o wide`. The API view here is the Service's
EndpointSlices set against the pods the named Deployment owns (through its
ReplicaSets); the node view is a series of real GETs of the ClusterIP from a
node, each followed to the pod that answered by conntrack (services.attempt),
so a request answered by a pod of the other colour fails the check. The
proxy follows a selector's switch a moment after the EndpointSlices do: while
the endpoints are right and some answers are not, the check waits (bounded).
"""

from __future__ import annotations

from kubelab.checks.lab import Lab
from kubelab.checks.objects import get, label_selector, list_objects
from kubelab.checks.registry import check
from kubelab.checks.services import Attempt, attempt, backends, read_service, service_port, url_for
from kubelab.checks.verdict import FAIL, PASS, WAITING, Verdict, verdict
from kubelab.checks.workloads import owned_by, poll
from kubelab.cluster import PodView


def deployment_pods(lab: Lab, namespace: str, deployment: dict) -> list[dict]:
    """The live pods of the Deployment's ReplicaSets (owner references, not labels: colours may share labels)."""
    selector = label_selector((deployment.get("spec") or {}).get("selector"))
    sets = [r for r in list_objects(lab, "apps/v1", "ReplicaSet", namespace, labels=selector)
            if owned_by(r, deployment)]
    return [p for p in list_objects(lab, "v1", "Pod", namespace, labels=selector)
            if any(owned_by(p, r) for r in sets) and not p["metadata"].get("deletionTimestamp")]


CONNECT_TIMEOUT = 3.0


@check
def service_sends_only_to(lab: Lab, *, namespace: str, name: str, port: int, deployment: str, requests: int = 6,
                          timeout: float = 20.0, interval: float = 1.0) -> Verdict:
    """Every endpoint of Service `name` is a Ready pod of `deployment`, and `requests` GETs of its ClusterIP
    from a node are each answered by one of those pods."""
    def judge() -> Verdict:
        service, slices = read_service(lab, namespace, name)
        owner = get(lab, "apps/v1", "Deployment", namespace, deployment)
        pods = deployment_pods(lab, namespace, owner) if owner else []
        cluster_ip = ((service or {}).get("spec") or {}).get("clusterIP") or ""
        node = next((p["spec"].get("nodeName") for p in pods if p["spec"].get("nodeName")), None)
        sent = []
        if service and owner and node and service_port(service, port) and cluster_ip not in ("", "None"):
            runtime = lab.runtime(node)
            sent = [attempt(runtime, url_for(cluster_ip, port), cluster_ip, timeout=CONNECT_TIMEOUT)
                    for _ in range(requests)]
        return judge_only_to(f"{namespace}/{name}", port, deployment, service, slices, owner, pods, node, sent)
    return poll(judge, timeout, interval)


def judge_only_to(ref: str, port: int, deployment: str, service: dict | None, slices: list[dict],
                  owner: dict | None, pods: list[dict], node: str | None, sent: list[Attempt]) -> Verdict:
    expected = (f"Service {ref} port {port}: every ready endpoint is a Ready pod of Deployment {deployment}, "
                f"and every GET of its ClusterIP from a node is answered by one of them")
    if service is None:
        return verdict(FAIL, node, expected, f"no Service {ref} in the API")
    if owner is None:
        return verdict(FAIL, node, expected, f"no Deployment {deployment} in the API")
    mine = {v.ip: v.name for v in map(PodView.from_api, pods) if v.running_and_ready and v.ip}
    ready = [b for b in backends(service, slices, port) if b.ready]
    evidence = {"selector": label_selector((service.get("spec") or {}).get("selector")) or "(none)",
                "endpoints": ", ".join(f"{b.ip}:{b.port} ({b.pod or '-'})" for b in ready) or "none",
                "deployment_pods": ", ".join(sorted(mine.values())) or "none"}
    if not ready:
        return verdict(FAIL, node, expected, f"the Service has no ready endpoint on port {port} (selector "
                                             f"{evidence['selector']})", **evidence)
    others = [f"{b.ip} ({b.pod or 'no pod'})" for b in ready if b.ip not in mine]
    if others:
        return verdict(FAIL, node, expected, f"endpoint(s) {', '.join(others)} are not Ready pods of "
                                             f"{deployment}", **evidence)
    if not sent:
        return verdict(FAIL, node, expected, "no request was sent: the Service has no ClusterIP on that port, or "
                                             "the Deployment's pods are on no node", **evidence)
    targets = {f"{b.ip}:{b.port}" for b in ready}
    seen = [a.answered_by(targets) for a in sent]
    evidence["answers"] = "; ".join(text for _, text in seen)
    failed = [text for ok, text in seen if not ok]
    if failed:
        # The endpoints are right: the proxy on the node may not have followed them yet.
        return verdict(WAITING, node, expected, f"{len(failed)} of {len(sent)} GET(s) not answered by a pod of "
                                             f"{deployment}: {failed[0]}", **evidence)
    # Every answer came from a target, so every flow is there and its source is one of `mine`.
    answered = sorted({mine[a.flow.answered_by.rsplit(":", 1)[0]] for a in sent})
    return verdict(PASS, node, expected, f"{len(sent)} GET(s) from {node}, each answered by a pod of {deployment} "
                                         f"({', '.join(answered)}); endpoints {evidence['endpoints']}", **evidence)
