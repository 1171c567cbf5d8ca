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

INGRESS = "Ingress"


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


def isolates_ingress(policy: dict) -> bool:
    """NetworkPolicy API: without policyTypes, a policy always covers Ingress (Egress only if it has egress rules)."""
    spec = policy.get("spec") or {}
    return INGRESS in (spec.get("policyTypes") or [INGRESS])


@check
def connection_allowed_by_policy(lab: Lab, *, namespace: str, name: str, target: str, port: int,
                                 timeout: float = 3.0) -> Verdict:
    """Pod `target` is isolated for ingress by a NetworkPolicy, and pod `name` still reaches it on `port`."""
    pod = get(lab, "v1", "Pod", namespace, target)
    policies = list_objects(lab, "networking.k8s.io/v1", "NetworkPolicy", namespace)
    sent = connection_from_pod(lab, namespace=namespace, name=name, target=f"pod/{target}", port=port,
                               expect=ALLOWED, timeout=timeout)
    return judge_allowed_by_policy(f"{namespace}/{target}", pod, policies, sent)


def judge_allowed_by_policy(ref: str, pod: dict | None, policies: list[dict], sent: Verdict) -> Verdict:
    expected = (f"pod {ref} selected by a NetworkPolicy for Ingress (isolated), and {sent.expected} "
                f"all the same")
    node = None if sent.node == "-" else sent.node
    evidence = {k: v for k, v in sent.evidence.items() if k not in RAW_KEYS}
    if pod is None:
        return verdict(FAIL, node, expected, f"no pod {ref} in the API", **evidence)
    labels = pod["metadata"].get("labels") or {}
    isolating = sorted(p["metadata"]["name"] for p in policies
                       if isolates_ingress(p) and selects((p.get("spec") or {}).get("podSelector"), labels))
    evidence["isolated_by"] = ", ".join(isolating) or "none"
    if not isolating:
        names = ", ".join(sorted(p["metadata"]["name"] for p in policies)) or "none"
        return verdict(FAIL, node, expected, f"no NetworkPolicy selects pod {ref} for Ingress (policies in its "
                                             f"namespace: {names}), so every connection to it is allowed and this "
                                             f"one proves no rule", **evidence)
    if sent.status != PASS:
        return verdict(FAIL, node, expected, f"isolated by {evidence['isolated_by']}; {sent.seen}", **evidence)
    return verdict(PASS, node, expected, f"isolated by {evidence['isolated_by']}; {sent.seen}", **evidence)
