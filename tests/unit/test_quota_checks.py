"""The quota proof judged on real admission answers (tests/fixtures/quota, see its README): the reference
quota refusing a 2-CPU pod, no quota at all, a quota that only counts pods, and a LimitRange max that refuses
the pod first."""

import json
from pathlib import Path

import pytest

from kubelab.checks.quotas import Admission, judge_quota_refusal, probe_pod
from kubelab.checks.registry import checks
from kubelab.checks.verdict import FAIL, PASS

FIXTURES = Path(__file__).parents[1] / "fixtures" / "quota"


def answers(variant: str) -> tuple[Admission, Admission]:
    evidence = json.loads((FIXTURES / f"{variant}.json").read_text())["evidence"]
    return (Admission(evidence["over_status"], evidence["over_message"]),
            Admission(evidence["small_status"], evidence["small_message"]))


def judged(variant: str):
    return judge_quota_refusal("ex-quota", "compute", "2", "256Mi", *answers(variant))


def test_the_reference_quota_refuses_the_big_pod_and_admits_a_small_one():
    result = judged("solution")
    assert result.status == PASS, result.seen
    assert "exceeded quota: compute, requested: requests.cpu=2" in result.seen
    assert result.evidence["small_status"] == 201


def test_without_a_quota_the_big_pod_is_admitted():
    result = judged("start")
    assert result.status == FAIL and "was admitted (HTTP 201): no quota in ex-quota stops it" in result.seen


def test_a_quota_that_only_counts_pods_admits_the_big_pod():
    assert judged("count-only-quota").status == FAIL


def test_a_limitrange_max_refuses_the_big_pod_before_the_quota_is_asked():
    result = judged("max-instead-of-default")
    assert result.status == FAIL and "not for exceeding quota compute" in result.seen
    assert "maximum cpu usage per Container is 200m" in result.seen


def test_a_refusal_by_another_quota_is_not_this_one():
    over, small = answers("solution")
    result = judge_quota_refusal("ex-quota", "budget", "2", "256Mi", over, small)
    assert result.status == FAIL and "not for exceeding quota budget" in result.seen


def test_a_namespace_that_refuses_everything_proves_no_limit():
    over, _ = answers("solution")
    result = judge_quota_refusal("ex-quota", "compute", "2", "256Mi", over, over)
    assert result.status == FAIL and "the namespace admits nothing" in result.seen


def test_given_nothing_it_fails():
    result = judge_quota_refusal("ex-quota", "compute", "2", "256Mi", None, None)
    assert result.status == FAIL and result.seen == "no dry run was made"


@pytest.mark.parametrize("cpu, memory", [("2", "256Mi"), ("10m", "16Mi")])
def test_the_probe_pod_asks_for_and_is_limited_to_the_amounts(cpu, memory):
    pod = probe_pod(cpu, memory)
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}
    assert pod["metadata"]["name"].startswith("kubelab-quota-probe-") and probe_pod(cpu, memory) != pod


def test_the_check_is_registered_with_its_arguments():
    assert checks()["quota_refuses_pod"].required == {"namespace", "quota", "cpu", "memory"}
