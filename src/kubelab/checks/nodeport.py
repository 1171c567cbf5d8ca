"""A NodePort Service, proven where a client outside the cluster would use it: on each node's own address.

The API view is the Service (type NodePort, the nodePort the task names) and
its EndpointSlices set against the pods the named Deployment owns, so a
selector that also matches another app's pods fails even when a request
happens to land well. The node view is one GET per node, sent on that node
(over SSH) to the node's own InternalIP and the nodePort, followed by
conntrack on that node to the pod that answered (services.attempt): every
node must forward the port, and every answer must come from the Deployment.
"""

from __future__ import annotations

from kubelab.checks.bluegreen import CONNECT_TIMEOUT, deployment_pods
from kubelab.checks.lab import Lab
from kubelab.checks.objects import get, label_selector
from kubelab.checks.registry import check
from kubelab.checks.services import Attempt, attempt, backends, read_service, url_for
from kubelab.checks.verdict import FAIL, PASS, WAITING, Verdict, verdict
from kubelab.checks.workloads import poll
from kubelab.cluster import PodView

NODE_PORT = "NodePort"
INTERNAL_IP = "InternalIP"


def node_port_entry(service: dict, node_port: int) -> dict | None:
    return next((p for p in (service.get("spec") or {}).get("ports") or () if p.get("nodePort") == node_port), None)


def internal_ip(node: dict | None) -> str | None:
    return next((a["address"] for a in ((node or {}).get("status") or {}).get("addresses") or ()
                 if a.get("type") == INTERNAL_IP), None)


@check
def node_port_reaches_deployment(lab: Lab, *, namespace: str, name: str, node_port: int, deployment: str,
                                 timeout: float = 20.0, interval: float = 1.0) -> Verdict:
    """Service `name` is a NodePort on `node_port` whose endpoints are Ready pods of `deployment`, and a GET of
    each node's own InternalIP:`node_port`, sent on that node, is answered by one of them."""
    def judge() -> Verdict:
        service, slices = read_service(lab, namespace, name)
        owner = get(lab, "apps/v1", "Deployment", namespace, deployment)
        pods = deployment_pods(lab, namespace, owner) if owner else []
        sent = []
        if service and node_port_entry(service, node_port):
            for node in lab.spec.nodes:
                address = internal_ip(get(lab, "v1", "Node", "", node.name))
                if address:
                    sent.append((node.name, address, attempt(lab.runtime(node.name), url_for(address, node_port),
                                                             address, timeout=CONNECT_TIMEOUT)))
        return judge_node_port(f"{namespace}/{name}", node_port, deployment, service, slices, owner, pods, sent)
    return poll(judge, timeout, interval)


def judge_node_port(ref: str, node_port: int, deployment: str, service: dict | None, slices: list[dict],
                    owner: dict | None, pods: list[dict], sent: list[tuple[str, str, Attempt]]) -> Verdict:
    expected = (f"Service {ref} of type {NODE_PORT} on nodePort {node_port}: every ready endpoint is a Ready pod "
                f"of Deployment {deployment}, and on every node a GET of the node's own address port {node_port} "
                f"is answered by one of them")
    if service is None:
        return verdict(FAIL, None, expected, f"no Service {ref} in the API")
    if owner is None:
        return verdict(FAIL, None, expected, f"no Deployment {deployment} in the API")
    spec = service.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    entry = node_port_entry(service, node_port)
    evidence = {"type": kind, "selector": label_selector(spec.get("selector")) or "(none)",
                "ports": ", ".join(f"port {p.get('port')} nodePort {p.get('nodePort', 'none')} targetPort "
                                   f"{p.get('targetPort', p.get('port'))}" for p in spec.get("ports") or ()) or "none"}
    if kind != NODE_PORT or entry is None:
        return verdict(FAIL, None, expected, f"the Service is type {kind} with {evidence['ports']}; none has "
                                             f"nodePort {node_port}", **evidence)
    mine = {v.ip: v.name for v in map(PodView.from_api, pods) if v.running_and_ready and v.ip}
    ready = [b for b in backends(service, slices, entry["port"]) if b.ready]
    evidence["endpoints"] = ", ".join(f"{b.ip}:{b.port} ({b.pod or '-'})" for b in ready) or "none"
    evidence["deployment_pods"] = ", ".join(sorted(mine.values())) or "none"
    if not ready:
        return verdict(FAIL, None, expected, f"the Service has no ready endpoint (selector {evidence['selector']})",
                       **evidence)
    others = [f"{b.ip} ({b.pod or 'no pod'})" for b in ready if b.ip not in mine]
    if others:
        return verdict(FAIL, None, expected, f"endpoint(s) {', '.join(others)} are not Ready pods of {deployment} "
                                             f"(selector {evidence['selector']})", **evidence)
    if not sent:
        return verdict(FAIL, None, expected, "no request was sent: no node has an InternalIP in the API", **evidence)
    targets = {f"{b.ip}:{b.port}" for b in ready}
    answers = [(node, address, *a.answered_by(targets)) for node, address, a in sent]
    evidence["answers"] = "; ".join(f"{node} {address}:{node_port} {text}" for node, address, _, text in answers)
    failed = [f"on {node}, {address}:{node_port} {text}" for node, address, ok, text in answers if not ok]
    node = sent[0][0]
    if failed:
        # Answered by someone else, or not at all: the proxy may not have followed new endpoints yet.
        status = WAITING if all(a.request.connected for _, _, a in sent) else FAIL
        return verdict(status, node, expected, "; ".join(failed), **evidence)
    answered = sorted({mine[a.flow.answered_by.rsplit(":", 1)[0]] for _, _, a in sent})
    return verdict(PASS, node, expected, f"{len(sent)} node(s), each GET of its own address port {node_port} "
                                         f"answered by a pod of {deployment} ({', '.join(answered)})", **evidence)
