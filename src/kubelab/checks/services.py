"""Checks that prove a Service: it routes to exactly its Ready pods, and a readiness probe gates them.

The API view is the Service, the pods its selector matches and the
EndpointSlices the control plane wrote for it. The node view is a real
request: the node's curl GETs the ClusterIP (from a pod's network namespace
when one is named) and conntrack on that node shows where kube-proxy's DNAT
sent it, so the verdict names the pod that answered, not only that something
did (on this lab's host an address no pod holds can still be answered by the
host's network).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kubelab.checks.lab import Lab
from kubelab.checks.objects import get, label_selector, list_objects
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.cluster import PodView
from kubelab.runtime import Container, Flow, NodeRuntime, Request

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # how the EndpointSlice controller labels a Service's slices


@dataclass(frozen=True)
class Backend:
    """One address of an EndpointSlice, with the port the slice gives the Service port."""

    ip: str
    port: int | None
    ready: bool
    pod: str | None  # the targetRef's name, when it is a Pod


@dataclass(frozen=True)
class Attempt:
    """A request and the conntrack entry that says who answered it (None: no flow found)."""

    request: Request
    flow: Flow | None

    def answered_by(self, targets: set[str]) -> tuple[bool, str]:
        """Whether one of `targets` (`ip:port`) answered, and what was seen."""
        if not self.request.connected:
            return False, self.request.outcome
        if self.flow is None:
            return False, f"{self.request.outcome}, but conntrack has no entry from port {self.request.local_port}"
        who = self.flow.answered_by
        if who not in targets:
            return False, (f"{self.request.outcome} by {who}, which is not "
                           f"{', '.join(sorted(targets)) or 'any backend'}")
        return True, f"{self.request.outcome} by {who}"


def attempt(runtime: NodeRuntime, url: str, address: str, *, netns_pid: int | None = None,
            resolve: str | None = None, timeout: float = 3.0) -> Attempt:
    """GET `url` (from `netns_pid`'s network namespace, else the node's), then find its conntrack flow."""
    request = runtime.request(url, netns_pid=netns_pid, resolve=resolve, timeout=timeout)
    return Attempt(request, matching_flow(request, runtime.flows(request.local_port, address) if request.local_port
                                          else [], address))


def matching_flow(request: Request, flows: list[Flow], address: str) -> Flow | None:
    """The conntrack entry of `request`: from its local port, to `address`."""
    return next((f for f in flows if f.original.sport == request.local_port and f.original.dst == address), None)


def pod_netns_pid(runtime: NodeRuntime, pod: PodView) -> int | None:
    """The pause process of the pod's READY sandbox: its network namespace is the pod's."""
    ready = [s for s in runtime.sandboxes() if s.uid == pod.uid and s.ready]
    return runtime.inspectp(ready[0].id).pid if len(ready) == 1 else None


def url_for(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def service_port(service: dict, port: int) -> dict | None:
    return next((p for p in (service.get("spec") or {}).get("ports") or () if p.get("port") == port), None)


def backends(service: dict, slices: list[dict], port: int | None) -> list[Backend]:
    """The EndpointSlices' addresses, with the number each slice maps Service port `port` to (None: any port)."""
    wanted = service_port(service, port) if port is not None else None
    if port is not None and wanted is None:
        return []
    found = []
    for piece in slices:
        mapped = None if wanted is None else next(
            (p.get("port") for p in piece.get("ports") or () if (p.get("name") or "") == (wanted.get("name") or "")),
            None)
        for endpoint in piece.get("endpoints") or ():
            ref = endpoint.get("targetRef") or {}
            # EndpointSlice API: a nil `ready` means unknown and is to be read as ready.
            ready = (endpoint.get("conditions") or {}).get("ready") is not False
            found += [Backend(ip, mapped, ready, ref.get("name") if ref.get("kind") == "Pod" else None)
                      for ip in endpoint.get("addresses") or ()]
    return found


def read_service(lab: Lab, namespace: str, name: str) -> tuple[dict | None, list[dict]]:
    """The Service and its EndpointSlices."""
    service = get(lab, "v1", "Service", namespace, name)
    if service is None:
        return None, []
    return service, list_objects(lab, "discovery.k8s.io/v1", "EndpointSlice", namespace,
                                 labels=f"{SERVICE_NAME_LABEL}={name}")


def target_port(pod: dict, service_port_entry: dict) -> tuple[int | None, str]:
    """The container port a Service port's targetPort means in `pod`, and how it was resolved."""
    wanted = service_port_entry.get("targetPort", service_port_entry.get("port"))
    if isinstance(wanted, int):
        return wanted, f"targetPort {wanted}"
    for container in (pod.get("spec") or {}).get("containers") or ():
        for declared in container.get("ports") or ():
            if declared.get("name") == wanted:
                return declared["containerPort"], f"targetPort {wanted} = {container['name']}'s port " \
                                                  f"{declared['containerPort']}"
    return None, f"no container of pod {pod['metadata']['name']} has a port named {wanted}"


# -- a ClusterIP Service routes to exactly its Ready pods -----------------------

@check
def service_routes_to_ready_pods(lab: Lab, *, namespace: str, name: str, port: int, from_pod: str = "",
                                 timeout: float = 3.0, settle: float = 20.0, interval: float = 2.0) -> Verdict:
    """The Service's endpoints are its Ready pods on the resolved targetPort, and a GET of the ClusterIP
    (from `from_pod`'s network namespace, else from a node) is answered by one of them.

    A Service or rollout made moments ago may not route yet (endpoints and the
    nodes' proxy rules follow within seconds): while the Service selects pods
    and fails, it is judged again for up to `settle` seconds.
    """
    deadline = time.monotonic() + settle
    while True:
        result, selected = _route_once(lab, namespace, name, port, from_pod, timeout)
        if result.passed or not selected or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def _route_once(lab: Lab, namespace: str, name: str, port: int, from_pod: str, timeout: float
                ) -> tuple[Verdict, bool]:
    service, slices = read_service(lab, namespace, name)
    selector = label_selector(((service or {}).get("spec") or {}).get("selector"))
    pods = list_objects(lab, "v1", "Pod", namespace, labels=selector) if selector else []
    ready = [v for v in map(PodView.from_api, pods) if v.running_and_ready]
    cluster_ip = ((service or {}).get("spec") or {}).get("clusterIP") or ""
    client = lab.pod(namespace, from_pod) if from_pod else None
    node = client.node if client else (ready[0].node if ready else None)
    sent = None
    if node and service_port(service or {}, port) and cluster_ip not in ("", "None"):
        runtime = lab.runtime(node)
        pid = pod_netns_pid(runtime, client) if client else None
        if not from_pod or pid:
            sent = attempt(runtime, url_for(cluster_ip, port), cluster_ip, netns_pid=pid, timeout=timeout)
    source = f"pod {namespace}/{from_pod}" if from_pod else f"node {node or '-'}"
    return judge_service_routing(f"{namespace}/{name}", port, service, pods, slices, source, node, sent), bool(pods)


def judge_service_routing(ref: str, port: int, service: dict | None, pods: list[dict], slices: list[dict],
                          source: str, node: str | None, sent: Attempt | None) -> Verdict:
    expected = (f"ClusterIP Service {ref} port {port}: its EndpointSlices list exactly the Ready pods its "
                f"selector matches, on the targetPort, and a GET from {source} is answered by one of them")
    if service is None:
        return verdict(FAIL, node, expected, f"no Service {ref} in the API")
    spec = service.get("spec") or {}
    kind, cluster_ip = spec.get("type", "ClusterIP"), spec.get("clusterIP") or ""
    evidence = {"type": kind, "cluster_ip": cluster_ip}
    if kind != "ClusterIP" or cluster_ip in ("", "None"):
        return verdict(FAIL, node, expected, f"the Service is type {kind} with clusterIP {cluster_ip or 'none'}"
                       + (" (headless)" if cluster_ip == "None" else ""), **evidence)
    entry = service_port(service, port)
    if entry is None:
        ports = ", ".join(str(p.get("port")) for p in spec.get("ports") or ()) or "none"
        return verdict(FAIL, node, expected, f"the Service has no port {port} (its ports: {ports})", **evidence)
    if not spec.get("selector"):
        return verdict(FAIL, node, expected, "the Service has no selector, so no pods are chosen for it", **evidence)
    problems, want = [], {}
    for pod in pods:
        view = PodView.from_api(pod)
        if not view.running_and_ready:
            continue
        number, how = target_port(pod, entry)
        if number is None:
            problems.append(how)
        else:
            want[f"{view.ip}:{number}"] = view.name
            evidence["target_port"] = how
    if not want and not problems:
        return verdict(FAIL, node, expected, f"no Ready pod matches the selector {label_selector(spec['selector'])} "
                                             f"({len(pods)} pod(s) match it)", **evidence)
    listed = [b for b in backends(service, slices, port) if b.ready]
    have = {f"{b.ip}:{b.port}" for b in listed if b.port is not None}
    evidence["endpoints"] = ", ".join(sorted(have)) or "none"
    problems += [f"endpoint {b.ip} has no port for Service port {port}" for b in listed if b.port is None]
    problems += [f"Ready pod {want[a]} ({a}) is not an endpoint" for a in sorted(set(want) - have)]
    problems += [f"endpoint {a} is no Ready pod of the selector" for a in sorted(have - set(want))]
    if sent is None:
        problems.append(f"no request was sent from {source} (no node or netns to send it from)")
    else:
        ok, seen = sent.answered_by(set(want))
        evidence["request"] = seen
        if not ok or sent.request.http_status is None:
            problems.append(f"GET {cluster_ip}:{port} from {source}: {seen}")
        else:
            evidence["answered_by_pod"] = want[sent.flow.answered_by]
    if problems:
        return verdict(FAIL, node, expected, "; ".join(problems), **evidence)
    return verdict(PASS, node, expected, f"endpoints {evidence['endpoints']} are the Ready pods; GET "
                                         f"{cluster_ip}:{port} from {source} {evidence['request']} "
                                         f"(pod {evidence['answered_by_pod']})", **evidence)


# -- a readiness probe keeps a not-Ready pod out of the endpoints ---------------

@check
def not_ready_pod_is_not_an_endpoint(lab: Lab, *, namespace: str, service: str, pod: str) -> Verdict:
    """The pod matches the Service's selector and runs on its node, yet is not Ready and not a ready endpoint."""
    svc, slices = read_service(lab, namespace, service)
    raw = get(lab, "v1", "Pod", namespace, pod)
    node = ((raw or {}).get("spec") or {}).get("nodeName")
    containers = lab.runtime(node).containers() if node else []
    return judge_readiness_gate(f"{namespace}/{service}", svc, slices, raw, containers)


def judge_readiness_gate(ref: str, service: dict | None, slices: list[dict], pod: dict | None,
                         containers: list[Container]) -> Verdict:
    expected = (f"a pod that Service {ref} selects, its containers running on the node but its readiness "
                f"probe failing: not Ready, and no ready endpoint of the Service")
    if service is None or pod is None:
        return verdict(FAIL, None, expected, "no Service in the API" if service is None else "no such pod in the API")
    view = PodView.from_api(pod)
    selector = (service.get("spec") or {}).get("selector") or {}
    labels = pod["metadata"].get("labels") or {}
    evidence = {"pod_ip": view.ip or "", "phase": view.phase}
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        return verdict(FAIL, view.node, expected, f"pod {view.name} (labels {label_selector(labels) or 'none'}) is "
                                                  f"not selected by {label_selector(selector) or 'an empty selector'}"
                                                  f": its absence from the endpoints proves no probe", **evidence)
    probed = [c["name"] for c in pod["spec"].get("containers") or () if c.get("readinessProbe")]
    if not probed:
        return verdict(FAIL, view.node, expected, "no container of the pod has a readinessProbe", **evidence)
    if view.ready:
        return verdict(FAIL, view.node, expected, f"the pod is Ready (probe on {', '.join(probed)} succeeds)",
                       **evidence)
    running = {c.label_name for c in containers if c.pod_uid == view.uid and c.running}
    down = [c.name for c in view.containers if c.name not in running]
    if view.phase != "Running" or down:
        return verdict(FAIL, view.node, expected, f"not running on the node: {', '.join(down) or view.phase} "
                                                  f"({view.describe()}); not Ready for another reason than its "
                                                  f"probe", **evidence)
    listed = [b for b in backends(service, slices, None) if b.ip == view.ip]
    evidence["endpoint_conditions"] = ", ".join(f"{b.ip} ready={b.ready}" for b in listed) or "not listed"
    if any(b.ready for b in listed):
        return verdict(FAIL, view.node, expected, f"{view.ip} is a ready endpoint of the Service although the pod "
                                                  f"is not Ready", **evidence)
    return verdict(PASS, view.node, expected, f"{', '.join(sorted(running))} running on {view.node}, pod not Ready "
                                              f"(readiness probe on {', '.join(probed)}); endpoint "
                                              f"{evidence['endpoint_conditions']}", **evidence)

