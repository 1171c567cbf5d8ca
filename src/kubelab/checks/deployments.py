"""Node proofs for a Deployment: the per-pod check, run on every replica the finished rollout left.

A task can name a Deployment but not its pods, whose names are generated.
`kubectl set resources deployment` (like any change to the pod template)
rolls out a new ReplicaSet while the old pods terminate, so the replicas
judged are the live pods of the newest ReplicaSet revision, once the
rollout is complete; until then the check waits (bounded). Each replica is
then proved on its node by the same function a pod's check uses, so a
Deployment passes only when every one of its pods does.
"""

from __future__ import annotations

from typing import Callable

from kubelab.checks.lab import Lab
from kubelab.checks.objects import get, label_selector, list_objects
from kubelab.checks.registry import check
from kubelab.checks.resources import cpu_limit_is_enforced, cpu_request_is_enforced, memory_limit_is_enforced
from kubelab.checks.verdict import FAIL, PASS, WAITING, Verdict, verdict
from kubelab.checks.workloads import REVISION, owned_by, poll, rolled_out

ROLLOUT_TIMEOUT, ROLLOUT_INTERVAL = 90.0, 2.0


def each_replica(lab: Lab, namespace: str, name: str, pod_check: Callable[..., Verdict], timeout: float,
                 interval: float, **args) -> Verdict:
    """`pod_check(lab, namespace=, name=<pod>, **args)` on every replica of the rolled-out Deployment."""
    def judge() -> Verdict:
        deployment = get(lab, "apps/v1", "Deployment", namespace, name)
        if deployment is None:
            return judge_replicas(None, [], [])
        selector = label_selector((deployment.get("spec") or {}).get("selector"))
        sets = [r for r in list_objects(lab, "apps/v1", "ReplicaSet", namespace, labels=selector)
                if owned_by(r, deployment)]
        replicas = judge_replicas(deployment, sets, list_objects(lab, "v1", "Pod", namespace, labels=selector))
        if isinstance(replicas, Verdict):
            return replicas
        return judge_each_replica(name, [(pod, pod_check(lab, namespace=namespace, name=pod, **args))
                                         for pod in replicas])
    return poll(judge, timeout, interval)


def judge_replicas(deployment: dict | None, replica_sets: list[dict], pods: list[dict]) -> list[str] | Verdict:
    """The names of the newest revision's running pods once the rollout is complete; else FAIL or WAITING."""
    expected = "the Deployment rolled out: every replica of its newest ReplicaSet revision running"
    if deployment is None:
        return verdict(FAIL, None, expected, "no such Deployment in the API")
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    want = spec.get("replicas", 1)
    evidence = {"replicas": want, "updated": status.get("updatedReplicas", 0),
                "ready": status.get("readyReplicas", 0)}
    if not replica_sets:
        return verdict(WAITING, None, expected, "no ReplicaSet owned by the Deployment yet", **evidence)
    newest = max(replica_sets, key=lambda r: int((r["metadata"].get("annotations") or {}).get(REVISION, 0)))
    evidence["replica_set"] = newest["metadata"]["name"]
    live = sorted(p["metadata"]["name"] for p in pods
                  if owned_by(p, newest) and not p["metadata"].get("deletionTimestamp")
                  and (p.get("status") or {}).get("phase") == "Running")
    if not (rolled_out(deployment) and len(live) == want):
        return verdict(WAITING, None, expected, f"rollout under way: {evidence['updated']} updated, "
                                                f"{evidence['ready']} ready, {status.get('replicas', 0)} in all, "
                                                f"{len(live)} running pod(s) of {evidence['replica_set']}, of {want}",
                       **evidence)
    if not live:
        return verdict(FAIL, None, expected, "the Deployment has 0 replicas: no pod to prove anything on",
                       **evidence)
    return live


def judge_each_replica(name: str, verdicts: list[tuple[str, Verdict]]) -> Verdict:
    """PASS when every replica's verdict passes; FAIL naming each replica that did not."""
    if not verdicts:
        return verdict(FAIL, None, f"every replica of Deployment {name} passes", "no replica was judged")
    first = verdicts[0][1]
    expected = f"every replica of Deployment {name}: {first.expected.replace(verdicts[0][0], '<pod>')}"
    nodes = sorted({v.node for _, v in verdicts})
    evidence = {pod: f"{v.status}: {v.seen}" for pod, v in verdicts}
    failed = [(pod, v) for pod, v in verdicts if v.status != PASS]
    findings = [f"{pod}: {f}" for pod, v in verdicts for f in v.findings]
    if failed:
        return verdict(FAIL, ",".join(nodes), expected, "; ".join(f"{pod}: {v.seen}" for pod, v in failed),
                       findings=findings, **evidence)
    return verdict(PASS, ",".join(nodes), expected, f"{len(verdicts)} replica(s): " + "; ".join(
        f"{pod}: {v.seen}" for pod, v in verdicts), **evidence)


# -- the resource proofs, on every replica ----------------------------------------

@check
def deployment_memory_limit_is_enforced(lab: Lab, *, namespace: str, name: str, container: str, limit: str,
                                        timeout: float = ROLLOUT_TIMEOUT,
                                        interval: float = ROLLOUT_INTERVAL) -> Verdict:
    return each_replica(lab, namespace, name, memory_limit_is_enforced, timeout, interval, container=container,
                        limit=limit)


@check
def deployment_cpu_limit_is_enforced(lab: Lab, *, namespace: str, name: str, container: str, limit: str,
                                     timeout: float = ROLLOUT_TIMEOUT, interval: float = ROLLOUT_INTERVAL) -> Verdict:
    return each_replica(lab, namespace, name, cpu_limit_is_enforced, timeout, interval, container=container,
                        limit=limit)


@check
def deployment_cpu_request_is_enforced(lab: Lab, *, namespace: str, name: str, container: str, request: str,
                                       timeout: float = ROLLOUT_TIMEOUT,
                                       interval: float = ROLLOUT_INTERVAL) -> Verdict:
    return each_replica(lab, namespace, name, cpu_request_is_enforced, timeout, interval, container=container,
                        request=request)
