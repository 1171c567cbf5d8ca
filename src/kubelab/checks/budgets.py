"""A PodDisruptionBudget (policy/v1) that guards exactly a Deployment's pods, as the disruption controller counts.

The budget's spec alone says little: `minAvailable: 2` and `maxUnavailable: 1`
are the same budget for three replicas, and a selector can match more or
fewer pods than the Deployment has. The judge reads what the controller
computed in the budget's status (expected pods, desired and current healthy,
disruptions allowed) once it has observed the budget's generation, and sets
the pods its selector matches against the pods the Deployment owns.
"""

from __future__ import annotations

from kubelab.checks.bluegreen import deployment_pods
from kubelab.checks.lab import Lab
from kubelab.checks.objects import get, label_selector, list_objects
from kubelab.checks.policies import selects
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, WAITING, Verdict, verdict
from kubelab.checks.workloads import poll
from kubelab.cluster import PodView


@check
def disruption_budget_guards(lab: Lab, *, namespace: str, name: str, deployment: str, replicas: int,
                             min_available: int, timeout: float = 30.0, interval: float = 2.0) -> Verdict:
    """Budget `name` selects exactly the `replicas` Ready pods of `deployment` and keeps `min_available` of them."""
    def judge() -> Verdict:
        budget = get(lab, "policy/v1", "PodDisruptionBudget", namespace, name)
        owner = get(lab, "apps/v1", "Deployment", namespace, deployment)
        owned = deployment_pods(lab, namespace, owner) if owner else []
        everyone = list_objects(lab, "v1", "Pod", namespace)
        return judge_budget(f"{namespace}/{name}", deployment, budget, owned, everyone, replicas, min_available)
    return poll(judge, timeout, interval)


def judge_budget(ref: str, deployment: str, budget: dict | None, owned: list[dict], everyone: list[dict],
                 replicas: int, min_available: int) -> Verdict:
    """PASS, FAIL, or WAITING while the disruption controller has not counted the budget's pods yet."""
    expected = (f"PodDisruptionBudget {ref} (policy/v1) selects exactly the {replicas} Ready pods of Deployment "
                f"{deployment} and keeps {min_available} of them: {replicas - min_available} disruption(s) allowed")
    if budget is None:
        return verdict(FAIL, None, expected, f"no PodDisruptionBudget {ref} in the API")
    spec, status = budget.get("spec") or {}, budget.get("status") or {}
    selector = spec.get("selector")
    evidence = {"selector": label_selector(selector) or "(none)", "expected_pods": status.get("expectedPods", 0),
                "current_healthy": status.get("currentHealthy", 0), "desired_healthy": status.get("desiredHealthy", 0),
                "disruptions_allowed": status.get("disruptionsAllowed", 0)}
    # policy/v1: a null selector selects no pod, an empty one every pod of the namespace.
    chosen = sorted(p["metadata"]["name"] for p in everyone
                    if selector is not None and selects(selector, p["metadata"].get("labels") or {}))
    mine = sorted(v.name for v in map(PodView.from_api, owned) if v.running_and_ready)
    evidence["selected"] = ", ".join(chosen) or "none"
    evidence["deployment_pods"] = ", ".join(mine) or "none"
    if chosen != sorted(p["metadata"]["name"] for p in owned):
        others = sorted(set(chosen) - {p["metadata"]["name"] for p in owned})
        missing = sorted({p["metadata"]["name"] for p in owned} - set(chosen))
        said = [f"selects {', '.join(others)}, no pod(s) of {deployment}"] if others else []
        said += [f"misses {', '.join(missing)} of {deployment}"] if missing else []
        return verdict(FAIL, None, expected, f"selector {evidence['selector']} " + "; ".join(said), **evidence)
    if len(mine) != replicas:
        status_now = WAITING if len(owned) == replicas else FAIL
        return verdict(status_now, None, expected, f"Deployment {deployment} has {len(owned)} pod(s), {len(mine)} "
                                                   f"Ready, not {replicas}", **evidence)
    observed = status.get("observedGeneration", 0) >= (budget.get("metadata") or {}).get("generation", 1)
    counted = (evidence["expected_pods"], evidence["current_healthy"]) == (replicas, replicas)
    if not observed or not counted:
        return verdict(WAITING, None, expected, f"the disruption controller counts {evidence['expected_pods']} "
                                                f"expected and {evidence['current_healthy']} healthy pod(s)",
                       **evidence)
    allowed = replicas - min_available
    if (evidence["desired_healthy"], evidence["disruptions_allowed"]) != (min_available, allowed):
        return verdict(FAIL, None, expected, f"it keeps {evidence['desired_healthy']} pod(s) healthy and allows "
                                             f"{evidence['disruptions_allowed']} disruption(s)", **evidence)
    return verdict(PASS, None, expected, f"selects {evidence['selected']}; keeps {min_available} healthy, allows "
                                         f"{allowed} disruption(s)", **evidence)
