"""A connection a NetworkPolicy allows: answered, and the target is isolated, so a policy let it through.

`connection_from_pod(expect=allowed)` alone passes on a namespace with no
policy at all, where every connection is answered; a task that asks for
"only these clients" is then not begun, yet half graded. This check also
reads the NetworkPolicies of the target's namespace: at least one must
select the target pod for Ingress (the pod is isolated, so each allowed
connection is one a rule admits), and the connection from the client's own
network namespace must be answered by the target.
"""

from __future__ import annotations

from kubelab.checks.lab import Lab
from kubelab.checks.network import ALLOWED, connection_from_pod
from kubelab.checks.objects import get, list_objects
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, RAW_KEYS, Verdict, verdict

INGRESS, EGRESS = "Ingress", "Egress"


def selects(selector: dict | None, labels: dict) -> bool:
    """Whether a LabelSelector (matchLabels + matchExpressions) matches `labels`; {} matches every pod."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr["key"], expr["operator"], expr.get("values") or ()
        if not {"In": key in labels and labels[key] in values,
                "NotIn": key not in labels or labels[key] not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}[op]:
            return False
    return True


def isolates(policy: dict, direction: str) -> bool:
    """NetworkPolicy API: without policyTypes, a policy always covers Ingress, and Egress only if it has egress rules."""
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    return direction in types if types else direction == INGRESS or bool(spec.get("egress"))


@check
def connection_allowed_by_policy(lab: Lab, *, namespace: str, name: str, target: str, port: int,
                                 timeout: float = 3.0) -> Verdict:
    """Pod `target` is isolated for ingress by a NetworkPolicy, and pod `name` still reaches it on `port`."""
    pod = get(lab, "v1", "Pod", namespace, target)
    policies = list_objects(lab, "networking.k8s.io/v1", "NetworkPolicy", namespace)
    sent = connection_from_pod(lab, namespace=namespace, name=name, target=f"pod/{target}", port=port,
                               expect=ALLOWED, timeout=timeout)
    return judge_allowed_by_policy(f"{namespace}/{target}", pod, policies, sent)


def judge_allowed_by_policy(ref: str, pod: dict | None, policies: list[dict], sent: Verdict,
                            direction: str = INGRESS) -> Verdict:
    """`sent` (what pod `ref` could still do, or what still reached it) counts only while a NetworkPolicy
    selects the pod for `direction`: without one, everything is allowed and it proves no rule."""
    expected = f"pod {ref} selected by a NetworkPolicy for {direction} (isolated), and {sent.expected} all the same"
    node = None if sent.node == "-" else sent.node
    evidence = {k: v for k, v in sent.evidence.items() if k not in RAW_KEYS}
    if pod is None:
        return verdict(FAIL, node, expected, f"no pod {ref} in the API", **evidence)
    labels = pod["metadata"].get("labels") or {}
    isolating = sorted(p["metadata"]["name"] for p in policies
                       if isolates(p, direction) and selects((p.get("spec") or {}).get("podSelector"), labels))
    evidence["isolated_by"] = ", ".join(isolating) or "none"
    if not isolating:
        names = ", ".join(sorted(p["metadata"]["name"] for p in policies)) or "none"
        return verdict(FAIL, node, expected, f"no NetworkPolicy selects pod {ref} for {direction} (policies in its "
                                             f"namespace: {names}), so all its {direction.lower()} traffic is allowed "
                                             f"and this proves no rule", **evidence)
    return verdict(PASS if sent.status == PASS else FAIL, node, expected,
                   f"isolated by {evidence['isolated_by']}; {sent.seen}", **evidence)