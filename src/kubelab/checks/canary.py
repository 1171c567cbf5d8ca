"""Checks that prove a canary: one Service in front of a stable and a canary Deployment, and the canary
answering its share of the traffic.

The share a replica-count canary gets is its share of the Service's ready
endpoints, which the API view gives exactly: canary endpoints / all ready
endpoints must be the share the task names, and every endpoint a Ready pod
of one of the two Deployments. The node view is traffic: a bounded series of
real GETs of the ClusterIP from a client pod's network namespace, each
followed to the pod that answered by conntrack (as services.attempt does, for
the whole series at once). kube-proxy
picks an endpoint at random for each new connection, so the number answered
by the canary is binomial; it must fall inside the two-sided interval that
holds it with probability 1 - ALPHA (exact binomial quantiles), so a correct
canary fails by chance about once in ten thousand grades, while a canary the
Service never selects (0 answers) or one as big as stable is caught.
"""

from __future__ import annotations

import math
import shlex

from kubelab.checks.bluegreen import deployment_pods
from kubelab.checks.lab import Lab
from kubelab.checks.objects import get, label_selector
from kubelab.checks.process import CheckArgumentError
from kubelab.checks.registry import check
from kubelab.checks.services import Attempt, backends, matching_flow, pod_netns_pid, read_service, service_port, url_for
from kubelab.checks.verdict import FAIL, PASS, WAITING, Verdict, verdict
from kubelab.checks.workloads import poll
from kubelab.cluster import PodView
from kubelab.runtime import CURL_WRITE_OUT, NodeRuntime, parse_conntrack, parse_curl

ALPHA = 1e-4  # chance that a correct canary's traffic falls outside the interval
CONNECT_TIMEOUT = 3.0


def binomial_bounds(requests: int, share: float, alpha: float = ALPHA) -> tuple[int, int]:
    """The smallest and largest count of canary answers accepted: P(X < low) and P(X > high) are each
    at most alpha / 2 for X ~ Binomial(requests, share)."""
    pmf = [math.comb(requests, k) * share ** k * (1 - share) ** (requests - k) for k in range(requests + 1)]
    low, below = 0, 0.0
    while below + pmf[low] <= alpha / 2:
        below += pmf[low]
        low += 1
    high, above = requests, 0.0
    while above + pmf[high] <= alpha / 2:
        above += pmf[high]
        high -= 1
    return low, high


@check
def canary_share(lab: Lab, *, namespace: str, service: str, port: int, stable: str, canary: str, share: int,
                 from_pod: str, requests: int = 60, timeout: float = 30.0, interval: float = 2.0) -> Verdict:
    """`share` percent of Service `service`'s ready endpoints are pods of Deployment `canary`, the rest of
    `stable`, and of `requests` GETs of its ClusterIP from pod `from_pod` a binomially plausible number
    is answered by the canary's pods."""
    if not 0 < share < 100:
        raise CheckArgumentError("canary_share", "share", f"{share} is no percentage strictly between 0 and 100",
                                 "give the canary's share of the traffic in percent, e.g. 25")

    def judge() -> Verdict:
        svc, slices = read_service(lab, namespace, service)
        owners = {which: get(lab, "apps/v1", "Deployment", namespace, name)
                  for which, name in (("stable", stable), ("canary", canary))}
        pods = {which: deployment_pods(lab, namespace, owner) if owner else [] for which, owner in owners.items()}
        client = lab.pod(namespace, from_pod)
        seen = (f"{namespace}/{service}", port, stable, canary, share, requests, svc, slices, owners, pods, client)
        sent: list[Attempt] = []
        # Traffic only once the endpoints are right: without them no count of answers could pass.
        if not isinstance(canary_targets(*seen), Verdict):
            runtime = lab.runtime(client.node)
            pid = pod_netns_pid(runtime, client)
            if pid:
                sent = burst(runtime, svc["spec"]["clusterIP"], port, pid, requests)
        return judge_canary(*seen, sent)
    return poll(judge, timeout, interval)


def _expected(ref: str, port: int, stable: str, canary: str, share: int, requests: int,
              client: PodView | None) -> tuple[str, str, tuple[int, int]]:
    low, high = binomial_bounds(requests, share / 100)
    source = f"pod {client.namespace}/{client.name}" if client else "the client pod"
    return (f"Service {ref} port {port}: {share}% of its ready endpoints are pods of {canary}, the rest pods of "
            f"{stable}; of {requests} GETs of its ClusterIP from {source}, between {low} and {high} answered by "
            f"{canary} (binomial bounds for p = {share / 100:g}, each tail at most {ALPHA / 2:g})"), source, (low, high)


def canary_targets(ref: str, port: int, stable: str, canary: str, share: int, requests: int, service: dict | None,
                   slices: list[dict], owners: dict[str, dict | None], pods: dict[str, list[dict]],
                   client: PodView | None) -> Verdict | tuple[dict[str, str], dict]:
    """The ready endpoints (`ip:port` -> "stable" or "canary") and the evidence so far, once the API view is
    right and there is a client to send from; else the FAIL or WAITING verdict."""
    expected, source, (low, high) = _expected(ref, port, stable, canary, share, requests, client)
    node = client.node if client else None
    if service is None:
        return verdict(FAIL, node, expected, f"no Service {ref} in the API")
    for which, name in (("stable", stable), ("canary", canary)):
        if owners[which] is None:
            return verdict(FAIL, node, expected, f"no Deployment {name} in the API")
    views = {which: [PodView.from_api(p) for p in found] for which, found in pods.items()}
    whose = {v.ip: which for which, found in views.items() for v in found if v.running_and_ready and v.ip}
    ready = [b for b in backends(service, slices, port) if b.ready]
    counted = {which: sum(1 for b in ready if whose.get(b.ip) == which) for which in ("stable", "canary")}
    evidence = {"selector": label_selector((service.get("spec") or {}).get("selector")) or "(none)",
                "endpoints": ", ".join(f"{b.ip} ({b.pod or '-'}, {whose.get(b.ip, 'neither')})" for b in ready)
                or "none",
                "stable_endpoints": counted["stable"], "canary_endpoints": counted["canary"],
                "bounds": f"{low}-{high} of {requests}"}
    unready = [v.name for found in views.values() for v in found if not v.running_and_ready]
    if unready:
        return verdict(WAITING, node, expected, f"pod(s) not Running and Ready yet: {', '.join(unready)}",
                       **evidence)
    others = [f"{b.ip} ({b.pod or 'no pod'})" for b in ready if b.ip not in whose]
    if others:
        return verdict(FAIL, node, expected, f"endpoint(s) {', '.join(others)} belong to neither {stable} nor "
                                             f"{canary}", **evidence)
    total = counted["stable"] + counted["canary"]
    if not total or counted["canary"] * 100 != share * total:
        return verdict(FAIL, node, expected, f"{counted['canary']} of {total} ready endpoint(s) are pods of {canary}"
                                             f" (selector {evidence['selector']}), not {share}%", **evidence)
    cluster_ip = (service.get("spec") or {}).get("clusterIP") or ""
    if not service_port(service, port) or cluster_ip in ("", "None"):
        return verdict(FAIL, node, expected, f"the Service has no ClusterIP with port {port}", **evidence)
    if client is None or not client.running_and_ready or not client.node:
        return verdict(FAIL, node, expected, f"{source} is not Running and Ready: no client to send from",
                       **evidence)
    return {f"{b.ip}:{b.port}": whose[b.ip] for b in ready}, evidence


def burst(runtime: NodeRuntime, address: str, port: int, netns_pid: int, requests: int) -> list[Attempt]:
    """`requests` GETs of `address`:`port` from the network namespace of `netns_pid`, in one command on the
    node (it stops at the first that fails), then one conntrack listing to find who answered each.

    One command, not two per request: a grade sends sixty, and every command is a round trip and a
    channel of the node's SSH connection.
    """
    curl = shlex.join(["nsenter", "-t", str(int(netns_pid)), "-n", "--", "curl", "-sS", "-o", "/dev/null",
                       "--noproxy", "*", "--connect-timeout", f"{CONNECT_TIMEOUT:g}", "--max-time",
                       f"{2 * CONNECT_TIMEOUT:g}", "-w", CURL_WRITE_OUT, url_for(address, port)])
    sent = runtime.session.run(f'for i in $(seq {int(requests)}); do r=$({curl} 2>&1); c=$?; '
                               f'printf "{EXIT_MARK} %s\\n%s\\n" "$c" "$r"; [ "$c" = 0 ] || break; done',
                               timeout=requests * (2 * CONNECT_TIMEOUT + 1) + 15)
    listed = runtime.session.run(f"conntrack -L -p tcp --orig-dst {shlex.quote(address)}")
    return parse_burst(sent.stdout, listed.stdout, address)


EXIT_MARK = "EXIT"


def parse_burst(sent: str, listed: str, address: str) -> list[Attempt]:
    """burst's output (per request: `EXIT <code>`, then curl's stderr and --write-out lines) and the conntrack
    listing -> one Attempt per request, with its flow where conntrack has it."""
    flows = parse_conntrack(listed)
    attempts, block = [], None
    for line in sent.splitlines() + [f"{EXIT_MARK} end"]:
        if line.startswith(f"{EXIT_MARK} "):
            if block is not None:
                code, lines = block
                out = "\n".join(x for x in lines if not x.startswith("curl: ("))
                err = "\n".join(x for x in lines if x.startswith("curl: ("))
                request = parse_curl(code, out, err)
                attempts.append(Attempt(request, matching_flow(request, flows, address)))
            word = line.split(" ", 1)[1]
            block = (int(word), []) if word.isdigit() else None
        elif block is not None:
            block[1].append(line)
    return attempts


def judge_canary(ref: str, port: int, stable: str, canary: str, share: int, requests: int, service: dict | None,
                 slices: list[dict], owners: dict[str, dict | None], pods: dict[str, list[dict]],
                 client: PodView | None, sent: list[Attempt]) -> Verdict:
    """PASS, FAIL, or WAITING while a Deployment rolls out or the proxy has not followed the endpoints yet."""
    found = canary_targets(ref, port, stable, canary, share, requests, service, slices, owners, pods, client)
    if isinstance(found, Verdict):
        return found
    targets, evidence = found
    expected, source, (low, high) = _expected(ref, port, stable, canary, share, requests, client)
    node = client.node
    if not sent:
        return verdict(FAIL, node, expected, f"no request was sent from {source}: it has no READY sandbox on "
                                             f"{node}", **evidence)
    seen = [a.answered_by(set(targets)) for a in sent]
    failed = [text for ok, text in seen if not ok]
    if failed:
        # The endpoints are right: the node's proxy may not have followed them yet.
        return verdict(WAITING, node, expected, f"{len(failed)} of {len(sent)} GET(s) not answered by an endpoint:"
                                                f" {failed[0]}", **evidence)
    answers = sum(1 for a in sent if targets[a.flow.answered_by] == "canary")
    evidence["canary_answers"] = answers
    evidence["stable_answers"] = len(sent) - answers
    told = (f"{answers} of {len(sent)} GETs from {source} answered by {canary} ({100 * answers / len(sent):.0f}%), "
            f"{len(sent) - answers} by {stable}; endpoints {evidence['canary_endpoints']} {canary} + "
            f"{evidence['stable_endpoints']} {stable}")
    if len(sent) != requests or not low <= answers <= high:
        return verdict(FAIL, node, expected, f"{told}: outside {low}-{high}", **evidence)
    return verdict(PASS, node, expected, told, **evidence)
