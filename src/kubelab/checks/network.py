"""A connection from a pod's own network namespace: answered, or refused / timed out as a policy demands.

The client is the node's curl run under `nsenter -t <pause pid> -n`, so the
packets leave from the pod's IP through the pod's veth, where kube-router
enforces NetworkPolicy, while nothing needs to be installed in the pod's image.

Names are resolved through the API (a Service's ClusterIP, a pod's IP), not
with the cluster DNS: `nsenter -n` keeps the node's files, so the node's
resolv.conf, and the node's curl cannot be pointed at another DNS server.
curl still sends the name in the Host header (`--resolve`).

What answered is read from conntrack on the client's node (the reply's
source after any DNAT): it must be the target pod, or one of the Service's
endpoints. Connecting is not enough, because this lab's host answers
connections to addresses no pod holds.

"Denied" is proven against a control: kube-router rejects a denied
connection at once, just as a port nobody listens on does, so the same
request is sent from the node's own namespace, which kube-router always lets
through (the kubelet's probes come from there); it must be answered by the
target. A refusal with nobody listening proves no policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubelab.checks.lab import Lab
from kubelab.checks.objects import get
from kubelab.checks.pods import judge_pod_running
from kubelab.checks.registry import check
from kubelab.checks.services import Attempt, attempt, backends, pod_netns_pid, read_service, url_for
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict

ALLOWED, DENIED = "allowed", "denied"
CLUSTER_DOMAIN = "cluster.local"  # kubeadm's default networking.dnsDomain
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SERVICE_NAME = re.compile(rf"(?P<name>{_LABEL})(\.(?P<ns>{_LABEL})(\.svc(\.{re.escape(CLUSTER_DOMAIN)})?)?)?\.?")


@dataclass(frozen=True)
class Target:
    """What a task names: `pod/NAME`, `service/NAME`, or a Service's DNS name (NAME[.NS[.svc[.cluster.local]]])."""

    kind: str  # "pod" or "service"
    namespace: str
    name: str
    host: str  # what the client asks for: the DNS name, else the address

    @property
    def label(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def parse_target(target: str, namespace: str) -> Target | None:
    """The target a task names, relative to the client's namespace as a pod's resolver is; None if unreadable."""
    kind, sep, rest = target.partition("/")
    if sep and kind in ("pod", "service") and re.fullmatch(_LABEL, rest):
        return Target(kind, namespace, rest, "")
    match = _SERVICE_NAME.fullmatch(target)
    if sep or not match:
        return None
    return Target("service", match["ns"] or namespace, match["name"], target.rstrip("."))


@dataclass(frozen=True)
class Resolved:
    """A target found in the API: the address to connect to and the `ip:port`s that may answer."""

    target: Target
    address: str
    answerers: frozenset[str]

    def resolve(self, port: int) -> str | None:
        """curl's --resolve entry that sends the DNS name to the address the API gave."""
        return f"{self.target.host}:{port}:{self.address}" if self.target.host else None


@check
def connection_from_pod(lab: Lab, *, namespace: str, name: str, target: str, port: int, expect: str,
                        timeout: float = 3.0) -> Verdict:
    """GET `target`:`port` from pod `name`'s network namespace; `expect` is `allowed` or `denied`."""
    ref = f"{namespace}/{name}"
    client = lab.pod(namespace, name)
    parsed = parse_target(target, namespace)
    if client is None or not (client.running_and_ready and client.node):
        return judge_pod_running(client, ref)
    resolved = _resolve(lab, parsed, port) if parsed else None
    sent = control = None
    if resolved is not None and expect in (ALLOWED, DENIED):
        runtime = lab.runtime(client.node)
        pid = pod_netns_pid(runtime, client)
        if pid:
            host = resolved.target.host or resolved.address
            resolve = resolved.resolve(port)
            sent = attempt(runtime, url_for(host, port), resolved.address, netns_pid=pid, resolve=resolve,
                           timeout=timeout)
            if expect == DENIED and not sent.request.connected:
                control = attempt(runtime, url_for(host, port), resolved.address, resolve=resolve, timeout=timeout)
    return judge_connection(ref, client.node, target, port, expect, resolved, sent, control)


def _resolve(lab: Lab, target: Target, port: int) -> Resolved | None:
    if target.kind == "pod":
        return resolve_target(target, port, get(lab, "v1", "Pod", target.namespace, target.name), None, [])
    service, slices = read_service(lab, target.namespace, target.name)
    return resolve_target(target, port, None, service, slices)


def resolve_target(target: Target, port: int, pod: dict | None, service: dict | None,
                   slices: list[dict]) -> Resolved | None:
    """The address a target has in the API, and who may answer there; None when it has none."""
    if target.kind == "pod":
        ip = ((pod or {}).get("status") or {}).get("podIP")
        return Resolved(target, ip, frozenset({f"{ip}:{port}"})) if ip else None
    cluster_ip = ((service or {}).get("spec") or {}).get("clusterIP")
    if not cluster_ip or cluster_ip == "None":
        return None
    return Resolved(target, cluster_ip,
                    frozenset(f"{b.ip}:{b.port}" for b in backends(service, slices, port) if b.ready))


def judge_connection(client: str, node: str | None, target: str, port: int, expect: str,
                     resolved: Resolved | None, sent: Attempt | None, control: Attempt | None) -> Verdict:
    want = "answers" if expect == ALLOWED else "is refused or times out, while the node's own request is answered"
    expected = f"from pod {client}'s network namespace, a connection to {target} port {port} {want}"
    if expect not in (ALLOWED, DENIED):
        return verdict(FAIL, node, expected, f"expect is {expect!r}; it must be {ALLOWED!r} or {DENIED!r}")
    if resolved is None:
        return verdict(FAIL, node, expected, f"{target!r} is not a pod with an IP or a Service with a ClusterIP in the"
                                             f" API (write pod/NAME, service/NAME or NAME[.NAMESPACE[.svc"
                                             f"[.{CLUSTER_DOMAIN}]]])")
    evidence = {"target": resolved.target.label, "address": f"{resolved.address}:{port}",
                "answerers": ", ".join(sorted(resolved.answerers)) or "none"}
    if sent is None:
        return verdict(FAIL, node, expected, f"pod {client} has no READY sandbox with a pause process on {node}",
                       **evidence)
    ok, seen = sent.answered_by(set(resolved.answerers))
    evidence["from_pod"] = seen
    if expect == ALLOWED:
        if ok:
            return verdict(PASS, node, expected, f"from the pod: {seen}", **evidence)
        return verdict(FAIL, node, expected, f"from the pod: {seen}", **evidence)
    if sent.request.connected:
        return verdict(FAIL, node, expected, f"the connection was let through: {seen}", **evidence)
    if control is None:
        return verdict(FAIL, node, expected, f"from the pod: {seen}; no control request from the node", **evidence)
    answered, control_seen = control.answered_by(set(resolved.answerers))
    evidence["from_node"] = control_seen
    if not answered:
        return verdict(FAIL, node, expected, f"from the pod: {seen}; but from the node too: {control_seen}, so "
                                             f"nothing answers there and the refusal proves no policy", **evidence)
    return verdict(PASS, node, expected, f"from the pod: {seen}; from the node: {control_seen}", **evidence)
