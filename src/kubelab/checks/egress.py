"""Egress a NetworkPolicy allows: a connection and a DNS lookup that still work from a pod it restricts.

A namespace with no policy allows everything, so "the client reaches the
backend" and "names resolve" would pass before the task is begun. Both
checks here also read the NetworkPolicies of the client's namespace: one must
select the client for Egress (its egress is isolated, so whatever still works
is what a rule admits). The connection is `connection_from_pod`'s, from the
pod's own network namespace. The lookup is the client's own: its `nslookup`,
run from the node in the container's mount and network namespaces
(`nsenter -m -n`), so the pod's resolv.conf, its search path and its egress
rules apply, and the answer must be the Service's ClusterIP as the API
states it.
"""

from __future__ import annotations

import re
import shlex

from kubelab.checks.lab import Lab
from kubelab.checks.network import ALLOWED, connection_from_pod, parse_target
from kubelab.checks.objects import get, list_objects
from kubelab.checks.policies import EGRESS, judge_allowed_by_policy
from kubelab.checks.process import Process, find_process
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.ssh import CommandResult


# busybox nslookup: `Name:\t<fqdn>` then one `Address: <ip>` (or `Address N: <ip>`) line per record.
_NAME = re.compile(r"^Name:\s*(\S+)")
_ADDRESS = re.compile(r"^Address(?:\s+\d+)?:\s*(\S+)")


@check
def egress_allowed_by_policy(lab: Lab, *, namespace: str, name: str, target: str, port: int,
                             timeout: float = 3.0) -> Verdict:
    """Pod `name` is isolated for egress by a NetworkPolicy, and still reaches `target` on `port`."""
    pod = get(lab, "v1", "Pod", namespace, name)
    policies = list_objects(lab, "networking.k8s.io/v1", "NetworkPolicy", namespace)
    sent = connection_from_pod(lab, namespace=namespace, name=name, target=target, port=port, expect=ALLOWED,
                               timeout=timeout)
    return judge_allowed_by_policy(f"{namespace}/{name}", pod, policies, sent, EGRESS)


@check
def name_resolves_under_egress_policy(lab: Lab, *, namespace: str, name: str, container: str, lookup: str,
                                      timeout: float = 10.0) -> Verdict:
    """Pod `name` is isolated for egress, and `nslookup lookup` in its container answers the Service's ClusterIP."""
    pod = get(lab, "v1", "Pod", namespace, name)
    policies = list_objects(lab, "networking.k8s.io/v1", "NetworkPolicy", namespace)
    return judge_allowed_by_policy(f"{namespace}/{name}", pod, policies,
                                   lookup_in_pod(lab, namespace, name, container, lookup, timeout), EGRESS)


def lookup_in_pod(lab: Lab, namespace: str, name: str, container: str, lookup: str, timeout: float) -> Verdict:
    target = parse_target(lookup, namespace)
    service = get(lab, "v1", "Service", target.namespace, target.name) if target and target.host else None
    found = find_process(lab, namespace, name, container)
    if isinstance(found, Verdict):
        return found
    process, runtime = found
    # `timeout` on the node bounds busybox's retries when every DNS packet is rejected.
    command = f"timeout {timeout:g} nsenter -t {process.pid} -m -n -- nslookup {shlex.quote(lookup)}"
    result = runtime.session.run(command, timeout=timeout + 15)
    return judge_lookup(process, lookup, service, result)


def parse_nslookup(text: str) -> dict[str, list[str]]:
    """busybox nslookup's answer: each name it printed -> its addresses (the `Server:` block is not an answer)."""
    answers: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        named = _NAME.match(line)
        if named:
            current = answers.setdefault(named[1].rstrip("."), [])
            continue
        address = _ADDRESS.match(line)
        if address and current is not None:
            current.append(address[1])
        elif not line.strip():
            current = None
    return answers


def judge_lookup(process: Process, lookup: str, service: dict | None, result: CommandResult) -> Verdict:
    cluster_ip = ((service or {}).get("spec") or {}).get("clusterIP") or ""
    expected = (f"`nslookup {lookup}` in {process.what} answers the ClusterIP of Service {lookup} "
                f"({cluster_ip or 'none in the API'})")
    evidence = process.evidence(exit_code=result.exit_code)
    if not cluster_ip or cluster_ip == "None":
        return verdict(FAIL, process.node, expected, f"{lookup!r} is no Service with a ClusterIP in the API (write "
                                                     f"NAME[.NAMESPACE[.svc.cluster.local]])", **evidence)
    answers = parse_nslookup(result.stdout)
    addresses = sorted({a for found in answers.values() for a in found})
    evidence["answers"] = "; ".join(f"{n} {', '.join(a)}" for n, a in sorted(answers.items())) or "none"
    if cluster_ip in addresses:
        return verdict(PASS, process.node, expected, f"pid {process.pid}: {evidence['answers']}", **evidence)
    said = " ".join((result.stdout + " " + result.stderr).split())[-300:]
    if not addresses:
        return verdict(FAIL, process.node, expected, f"no answer (exit {result.exit_code}): {said or 'no output'}",
                       **evidence)
    return verdict(FAIL, process.node, expected, f"answered {', '.join(addresses)}, not {cluster_ip}", **evidence)
