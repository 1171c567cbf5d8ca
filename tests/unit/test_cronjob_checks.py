"""The CronJob policy and manual-run proofs judged on real transcripts (tests/fixtures/cronjob, see its README):
the reference answer, a CronJob left on the default concurrency policy, and a Job typed by hand instead of
made from the CronJob."""

import json
from pathlib import Path

import pytest

from kubelab.checks.cronjobs import cronjob_policy, judge_cronjob_policy, judge_job_template
from kubelab.checks.process import CheckArgumentError
from kubelab.checks.registry import checks
from kubelab.checks.verdict import FAIL, PASS

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cronjob"


def read(variant: str, check_id: str, prefix: str) -> dict:
    doc = json.loads((FIXTURES / f"{variant}.{check_id}.json").read_text())
    return next(r["object"] for r in doc["api_reads"] if r["read"].startswith(prefix))


def policy(variant: str):
    return judge_cronjob_policy(read(variant, "cronjob-policy", "CronJob ex-cron/backup"), "Forbid", 2, 1)


def template(variant: str):
    return judge_job_template(read(variant, "manual-run", "Job ex-cron/backup-now"),
                              read(variant, "manual-run", "CronJob ex-cron/backup"))


def test_the_reference_cronjob_has_the_policy_the_task_gives():
    result = policy("solution")
    assert result.status == PASS, result.seen
    assert result.seen == "concurrencyPolicy Forbid, successfulJobsHistoryLimit 2, failedJobsHistoryLimit 1"


def test_a_cronjob_without_concurrency_policy_is_read_with_the_api_default():
    result = policy("concurrency-default")
    assert result.status == FAIL and result.seen == "concurrencyPolicy is Allow"


def test_other_history_limits_are_named():
    result = judge_cronjob_policy(read("solution", "cronjob-policy", "CronJob ex-cron/backup"), "Forbid", 3, 1)
    assert result.status == FAIL and result.seen == "successfulJobsHistoryLimit is 2"


def test_an_unknown_policy_is_an_argument_error_before_any_read():
    with pytest.raises(CheckArgumentError, match="'Never' is no policy. Fix: use one of Allow, Forbid, Replace"):
        cronjob_policy(None, namespace="ex-cron", name="backup", concurrency_policy="Never", successful_history=2,
                       failed_history=1)


def test_the_reference_job_runs_the_cronjobs_container():
    result = template("solution")
    assert result.status == PASS, result.seen
    assert result.seen == "the Job runs the CronJob's 1 container(s)"


def test_a_job_typed_by_hand_is_not_the_cronjobs_template():
    result = template("hand-written-job")
    assert result.status == FAIL
    assert "name: 'backup-now' in the Job, 'backup' in the CronJob" in result.seen
    assert "command: ['sh', '-c', 'echo backup done'] in the Job" in result.seen


def test_given_nothing_it_fails():
    assert judge_cronjob_policy(None, "Forbid", 2, 1).status == FAIL
    result = judge_job_template(None, None)
    assert result.status == FAIL and result.seen == "no such CronJob in the API"
    cronjob = read("solution", "manual-run", "CronJob ex-cron/backup")
    assert judge_job_template(None, cronjob).seen == "no such Job in the API"


def test_the_checks_are_registered_with_their_arguments():
    assert checks()["cronjob_policy"].required == {"namespace", "name", "concurrency_policy", "successful_history",
                                                   "failed_history"}
    assert checks()["job_from_cronjob"].required == {"namespace", "name", "cronjob"}
