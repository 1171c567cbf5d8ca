"""Checks on a CronJob beyond its schedule: the policy it runs Jobs under, and a Job made from its template.

A CronJob's history limits and concurrency policy exist only in the API, so
they are read there. What its template does is proven the way a Job is
(workloads.job_completed: every container of the Job's pods exited 0 on the
node): a Job created from the CronJob (`kubectl create job NAME
--from=cronjob/CRONJOB`) runs the CronJob's pod template, so its containers
must be the CronJob's (name, image, command and args), not a look-alike typed
by hand. Waiting for the schedule to fire would cost up to a minute per
grade; the manual run proves the same template on the node at once.
"""

from __future__ import annotations

from kubelab.checks.lab import Lab
from kubelab.checks.objects import get
from kubelab.checks.process import CheckArgumentError
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.checks.workloads import job_completed

CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
# What a container of a Job's pod template is compared by.
CONTAINER_FIELDS = ("name", "image", "command", "args")


@check
def cronjob_policy(lab: Lab, *, namespace: str, name: str, concurrency_policy: str, successful_history: int,
                   failed_history: int) -> Verdict:
    """The CronJob's concurrencyPolicy and the number of finished Jobs it keeps, as the API returns them
    (defaults filled in: Allow, 3 and 1)."""
    if concurrency_policy not in CONCURRENCY_POLICIES:
        raise CheckArgumentError("cronjob_policy", "concurrency_policy", f"{concurrency_policy!r} is no policy",
                                 f"use one of {', '.join(CONCURRENCY_POLICIES)}")
    return judge_cronjob_policy(get(lab, "batch/v1", "CronJob", namespace, name), concurrency_policy,
                                successful_history, failed_history)


def judge_cronjob_policy(cronjob: dict | None, concurrency_policy: str, successful_history: int,
                         failed_history: int) -> Verdict:
    expected = (f"CronJob with concurrencyPolicy {concurrency_policy}, successfulJobsHistoryLimit "
                f"{successful_history}, failedJobsHistoryLimit {failed_history}")
    if cronjob is None:
        return verdict(FAIL, None, expected, "no such CronJob in the API")
    spec = cronjob.get("spec") or {}
    seen = {"concurrencyPolicy": spec.get("concurrencyPolicy"),
            "successfulJobsHistoryLimit": spec.get("successfulJobsHistoryLimit"),
            "failedJobsHistoryLimit": spec.get("failedJobsHistoryLimit")}
    wanted = {"concurrencyPolicy": concurrency_policy, "successfulJobsHistoryLimit": successful_history,
              "failedJobsHistoryLimit": failed_history}
    problems = [f"{field} is {seen[field]}" for field in wanted if seen[field] != wanted[field]]
    evidence = {field: "" if value is None else value for field, value in seen.items()}
    if problems:
        return verdict(FAIL, None, expected, "; ".join(problems), **evidence)
    return verdict(PASS, None, expected, ", ".join(f"{k} {v}" for k, v in seen.items()), **evidence)


@check
def job_from_cronjob(lab: Lab, *, namespace: str, name: str, cronjob: str, timeout: float = 60.0,
                     interval: float = 2.0) -> Verdict:
    """Job `name` runs CronJob `cronjob`'s pod template and completed: its containers exited 0 on the node."""
    template = judge_job_template(get(lab, "batch/v1", "Job", namespace, name),
                                  get(lab, "batch/v1", "CronJob", namespace, cronjob))
    if not template.passed:
        return template
    return job_completed(lab, namespace=namespace, name=name, completions=1, timeout=timeout, interval=interval)


def _containers(pod_template: dict) -> list[dict]:
    return [{field: c.get(field) for field in CONTAINER_FIELDS}
            for c in ((pod_template.get("spec") or {}).get("containers") or ())]


def judge_job_template(job: dict | None, cronjob: dict | None) -> Verdict:
    """The Job's containers are the CronJob's jobTemplate's, field by field (CONTAINER_FIELDS)."""
    expected = "a Job whose pod template runs the CronJob's containers (name, image, command, args)"
    if cronjob is None:
        return verdict(FAIL, None, expected, "no such CronJob in the API")
    if job is None:
        return verdict(FAIL, None, expected, "no such Job in the API")
    mine = _containers(((job.get("spec") or {}).get("template")) or {})
    theirs = _containers(((((cronjob.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {})
                          .get("template")) or {})
    evidence = {"job_containers": repr(mine), "cronjob_containers": repr(theirs)}
    if mine != theirs:
        differ = [f"{field}: {a.get(field)!r} in the Job, {b.get(field)!r} in the CronJob"
                  for a, b in zip(mine, theirs) for field in CONTAINER_FIELDS if a.get(field) != b.get(field)]
        if len(mine) != len(theirs):
            differ.append(f"{len(mine)} container(s) in the Job, {len(theirs)} in the CronJob")
        return verdict(FAIL, None, expected, "the Job is not the CronJob's template: " + "; ".join(differ),
                       **evidence)
    return verdict(PASS, None, expected, f"the Job runs the CronJob's {len(mine)} container(s)", **evidence)
