"""The PodDisruptionBudget proof judged on real transcripts (tests/fixtures/budgets, see its README): the
reference answer, the imperative one, and a Deployment left with one replica."""

import copy
import json
from pathlib import Path

from kubelab.checks.budgets import judge_budget
from kubelab.checks.registry import checks
from kubelab.checks.verdict import FAIL, PASS, WAITING

FIXTURES = Path(__file__).parents[1] / "fixtures" / "budgets"


def reads(variant: str) -> dict:
    doc = json.loads((FIXTURES / f"{variant}.json").read_text())
    return {r["read"]: copy.deepcopy(r["object"]) for r in doc["api_reads"]}


def judged(variant: str, **changed):
    found = reads(variant)
    ns = "ex-api-deprecation"
    inputs = {"budget": found[f"PodDisruptionBudget {ns}/legacy"],
              "owned": found[f"Pod in {ns} (labels app=legacy, fields -)"],
              "everyone": found[f"Pod in {ns} (labels -, fields -)"], **changed}
    return judge_budget(f"{ns}/legacy", "legacy", replicas=3, min_available=2, **inputs)


def test_the_reference_budget_guards_the_three_pods_and_allows_one_disruption():
    result = judged("solution")
    assert result.status == PASS, result.seen
    assert result.seen.endswith("; keeps 2 healthy, allows 1 disruption(s)")
    assert result.evidence["expected_pods"] == 3 and result.evidence["disruptions_allowed"] == 1


def test_the_imperative_answer_is_the_same_budget():
    result = judged("imperative")
    assert result.status == PASS, result.seen
    assert result.evidence["selector"] == "app=legacy"


def test_max_unavailable_one_is_the_same_budget_for_three_replicas():
    budget = reads("solution")["PodDisruptionBudget ex-api-deprecation/legacy"]
    budget["spec"] = {"maxUnavailable": 1, "selector": budget["spec"]["selector"]}
    assert judged("solution", budget=budget).status == PASS


def test_one_replica_fails():
    result = judged("one-replica")
    assert result.status == FAIL and result.seen == "Deployment legacy has 1 pod(s), 1 Ready, not 3"


def test_an_empty_selector_takes_every_pod_of_the_namespace():
    found = reads("solution")
    budget = found["PodDisruptionBudget ex-api-deprecation/legacy"]
    budget["spec"]["selector"] = {}
    stranger = copy.deepcopy(found["Pod in ex-api-deprecation (labels -, fields -)"][0])
    stranger["metadata"].update(name="toolbox", labels={"app": "toolbox"})
    everyone = found["Pod in ex-api-deprecation (labels -, fields -)"] + [stranger]
    result = judged("solution", budget=budget, everyone=everyone)
    assert result.status == FAIL and result.seen == "selector (none) selects toolbox, no pod(s) of legacy"


def test_a_null_selector_selects_no_pod():
    budget = reads("solution")["PodDisruptionBudget ex-api-deprecation/legacy"]
    del budget["spec"]["selector"]
    result = judged("solution", budget=budget)
    assert result.status == FAIL and result.seen.startswith("selector (none) misses legacy-")


def test_a_budget_the_controller_has_not_counted_yet_waits():
    budget = reads("solution")["PodDisruptionBudget ex-api-deprecation/legacy"]
    budget["status"] = {}
    result = judged("solution", budget=budget)
    assert result.status == WAITING and "counts 0 expected and 0 healthy" in result.seen


def test_a_budget_that_keeps_all_three_fails():
    budget = reads("solution")["PodDisruptionBudget ex-api-deprecation/legacy"]
    budget["status"].update(desiredHealthy=3, disruptionsAllowed=0)
    result = judged("solution", budget=budget)
    assert result.status == FAIL and result.seen == "it keeps 3 pod(s) healthy and allows 0 disruption(s)"


def test_given_nothing_it_fails():
    assert judge_budget("ex-api-deprecation/legacy", "legacy", None, [], [], 3, 2).status == FAIL
    assert judged("solution", owned=[], everyone=[]).status == FAIL


def test_the_check_is_registered_with_the_arguments_an_exercise_gives():
    registered = checks()["disruption_budget_guards"]
    assert registered.required == {"namespace", "name", "deployment", "replicas", "min_available"}
