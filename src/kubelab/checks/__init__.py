"""Checks: small named functions that join the API view and the node view into a Verdict.

Each module groups the checks and steps of one kind of proof and registers
them by name (registry.py), which is how exercise files call them:

    verdict = run_check(Check("nginx runs in the sandbox", partial(containers_run_in_the_pod_sandbox,
                              namespace="default", name="nginx-with-sidecar")), lab)
"""

from kubelab.checks.lab import Lab, Transcript
from kubelab.checks.pods import (
    RestartBaseline,
    container_restarts_in_the_same_sandbox,
    containers_run_in_the_pod_sandbox,
    containers_share_the_volume,
    judge_containers_in_sandbox,
    judge_pod_running,
    judge_request_logged,
    judge_restart,
    judge_sandbox,
    judge_shared_volume,
    kill_container_process,
    pod_has_one_ready_sandbox_with_the_pause_image,
    pod_is_running,
    request_shows_in_the_log,
)
from kubelab.checks.verdict import FAIL, PASS, STATUSES, WAITING, Check, Verdict, run_check, verdict

__all__ = [
    "FAIL", "PASS", "STATUSES", "WAITING", "Check", "Lab", "RestartBaseline", "Transcript", "Verdict",
    "container_restarts_in_the_same_sandbox", "containers_run_in_the_pod_sandbox", "containers_share_the_volume",
    "judge_containers_in_sandbox", "judge_pod_running", "judge_request_logged", "judge_restart", "judge_sandbox",
    "judge_shared_volume", "kill_container_process", "pod_has_one_ready_sandbox_with_the_pause_image",
    "pod_is_running", "request_shows_in_the_log", "run_check", "verdict",
]
