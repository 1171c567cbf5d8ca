"""connection_allowed_by_policy's verdict, on NetworkPolicies, a pod and connection verdicts captured from a lab
(tests/fixtures/policies/: the network-policy exercise's solution, its `- {}` and wrong-port variants)."""

import json
from pathlib import Path

import pytest

from kubelab.checks import FAIL, PASS, Verdict
from kubelab.checks.policies import INGRESS, isolates, judge_allowed_by_policy, selects

FIXTURES = Path(__file__).parents[1] / "fixtures" / "policies"
REF = "ex-network-policy/web"


def load(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def sent(name: str) -> Verdict:
    return Verdict(**{**load(name), "findings": tuple(load(name)["findings"])})


def test_an_isolated_pod_that_answers_the_client_passes():
    result = judge_allowed_by_policy(REF, load("pod-web"), load("policies-solution"), sent("connection-answered"))
    assert result.status == PASS, result.seen
    assert result.evidence["isolated_by"] == "allow-client, default-deny"
    assert result.seen == "isolated by allow-client, default-deny; from the pod: answered HTTP 200 by 10.244.1.44:80"
    assert result.node == "w1"


def test_an_allowing_rule_still_isolates_the_pod_so_the_answer_counts():
    # `- {}` admits everyone, but the pod is isolated: the client's answer is a rule's doing (the other check fails).
    result = judge_allowed_by_policy(REF, load("pod-web"), load("policies-allows-all"), sent("connection-answered"))
    assert result.status == PASS, result.seen


def test_the_answer_with_no_policy_at_all_proves_no_rule():
    result = judge_allowed_by_policy(REF, load("pod-web"), [], sent("connection-answered"))
    assert result.status == FAIL
    assert "no NetworkPolicy selects pod ex-network-policy/web for Ingress (policies in its namespace: none)" \
        in result.seen
    assert result.evidence["isolated_by"] == "none"


def test_a_refused_client_fails_although_the_pod_is_isolated():
    result = judge_allowed_by_policy(REF, load("pod-web"), load("policies-wrong-port"), sent("connection-refused"))
    assert result.status == FAIL
    assert result.seen.startswith("isolated by allow-client, default-deny; from the pod: refused or rejected")


def test_no_target_pod_fails():
    result = judge_allowed_by_policy(REF, None, load("policies-solution"), sent("connection-answered"))
    assert result.status == FAIL and result.seen == f"no pod {REF} in the API"


def test_policies_that_select_other_pods_or_only_egress_do_not_isolate():
    others = [{**p, "spec": {**p["spec"], "podSelector": {"matchLabels": {"app": "db"}}}}
              for p in load("policies-solution")]
    egress = [{**p, "spec": {**p["spec"], "policyTypes": ["Egress"]}} for p in load("policies-solution")]
    for policies in (others, egress):
        result = judge_allowed_by_policy(REF, load("pod-web"), policies, sent("connection-answered"))
        assert result.status == FAIL and "no NetworkPolicy selects" in result.seen, result.seen


@pytest.mark.parametrize("selector, matches", [
    ({}, True), (None, True),
    ({"matchLabels": {"app": "web"}}, True), ({"matchLabels": {"app": "db"}}, False),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "db"]}]}, True),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, False),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, True),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}, False),
])
def test_label_selectors_match_as_the_api_does(selector, matches):
    assert selects(selector, load("pod-web")["metadata"]["labels"]) is matches


def test_a_policy_without_policy_types_covers_ingress():
    assert isolates({"spec": {"podSelector": {}}}, INGRESS)
    assert not isolates({"spec": {"podSelector": {}, "policyTypes": ["Egress"]}}, INGRESS)
