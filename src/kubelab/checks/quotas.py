"""Checks that a ResourceQuota is enforced: the API server's admission refuses a pod that would exceed it.

A quota object can exist and hold nothing that matters (only an object
count, or a number that is too high). What proves it is admission: the same
server-side dry run `kubectl run --dry-run=server` makes, of a pod that asks
for more than the task's quota allows, must be refused with the quota named
in the reason, while a small pod in the same namespace is admitted (so the
refusal is the quota's, not a namespace that admits nothing). A dry run
persists nothing and charges no usage. That a LimitRange's defaults reach a
pod that gives no resources is proven on the node, by the cgroup checks of
resources.py.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from kubernetes.dynamic.exceptions import DynamicApiError

from kubelab.checks.lab import Lab
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict

FORBIDDEN = 403
# The control pod: small enough to fit any quota a task sets, with limits so that a quota on limits admits it.
SMALL_CPU, SMALL_MEMORY = "10m", "16Mi"
PROBE_IMAGE = "busybox:1.37"  # never pulled: a dry run creates nothing


@dataclass(frozen=True)
class Admission:
    """What the API server answered to a dry-run create: the HTTP status and, if refused, why."""

    status: int
    message: str

    @property
    def admitted(self) -> bool:
        return 200 <= self.status < 300


def probe_pod(cpu: str, memory: str) -> dict:
    name = f"kubelab-quota-probe-{secrets.token_hex(4)}"
    amounts = {"cpu": cpu, "memory": memory}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "probe", "image": PROBE_IMAGE,
                                     "resources": {"requests": amounts, "limits": amounts}}]}}


def dry_run_create(lab: Lab, namespace: str, body: dict) -> Admission:
    cluster = lab.cluster
    resource = cluster.resource("v1", "Pod")
    try:
        with cluster._reaching(f"dry-run create pod in {namespace}"):
            cluster.dynamic.create(resource, body=body, namespace=namespace, dry_run="All",
                                   _request_timeout=cluster.request_timeout)
    except DynamicApiError as exc:
        try:
            message = json.loads(exc.body).get("message", "")
        except (TypeError, ValueError, AttributeError):
            message = exc.summary()
        return Admission(exc.status, message)
    return Admission(201, "")


@check
def quota_refuses_pod(lab: Lab, *, namespace: str, quota: str, cpu: str, memory: str) -> Verdict:
    """A pod requesting (and limited to) `cpu` and `memory` is refused by ResourceQuota `quota`; a pod of
    SMALL_CPU and SMALL_MEMORY is admitted. Both are server-side dry runs."""
    over = dry_run_create(lab, namespace, probe_pod(cpu, memory))
    small = dry_run_create(lab, namespace, probe_pod(SMALL_CPU, SMALL_MEMORY))
    return judge_quota_refusal(namespace, quota, cpu, memory, over, small)


def judge_quota_refusal(namespace: str, quota: str, cpu: str, memory: str, over: Admission | None,
                        small: Admission | None) -> Verdict:
    expected = (f"in namespace {namespace}, a pod requesting cpu {cpu} and memory {memory} is refused by "
                f"ResourceQuota {quota} (exceeded quota: {quota}), while a pod of cpu {SMALL_CPU} and memory "
                f"{SMALL_MEMORY} is admitted (server-side dry runs)")
    if over is None or small is None:
        return verdict(FAIL, None, expected, "no dry run was made")
    evidence = {"over_status": over.status, "over_message": over.message,
                "small_status": small.status, "small_message": small.message}
    if over.admitted:
        return verdict(FAIL, None, expected, f"the pod requesting cpu {cpu} and memory {memory} was admitted (HTTP "
                                             f"{over.status}): no quota in {namespace} stops it", **evidence)
    if over.status != FORBIDDEN or f"exceeded quota: {quota}" not in over.message:
        return verdict(FAIL, None, expected, f"the pod was refused, but not for exceeding quota {quota}: HTTP "
                                             f"{over.status} {over.message}", **evidence)
    if not small.admitted:
        return verdict(FAIL, None, expected, f"the {SMALL_CPU}/{SMALL_MEMORY} pod was refused too (HTTP "
                                             f"{small.status} {small.message}): the namespace admits nothing, so "
                                             f"the refusal proves no limit", **evidence)
    return verdict(PASS, None, expected, f"refused: {over.message}; the {SMALL_CPU}/{SMALL_MEMORY} pod admitted "
                                         f"(HTTP {small.status})", **evidence)
