"""The ServiceAccount token a container's process finds, judged on real captures from a lab.

tests/fixtures/identity/ holds pod `whoami` of the service-account exercise three ways (see the
README there): run as `builder` (right), as `default` (no serviceAccountName) and as `builder`
with no token mounted. Only the token's decoded payload was read from the node.
"""

import json
from dataclasses import replace
from pathlib import Path

from kubelab.checks.identity import TOKEN_PATH, judge_service_account_token
from kubelab.checks.process import Process, judge_process
from kubelab.checks.registry import checks
from kubelab.checks.verdict import FAIL, PASS
from kubelab.cluster import PodView
from kubelab.runtime import parse_inspect
from kubelab.ssh import CommandResult

FIXTURES = Path(__file__).parents[1] / "fixtures" / "identity"


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def process(stem: str) -> Process:
    pod = PodView.from_api(json.loads(text(f"pod-{stem}.json")))
    found = judge_process(pod, "whoami", parse_inspect(text(f"{stem}.crictl-inspect-process.json")))
    assert isinstance(found, Process), found
    return found


def claims(stem: str) -> CommandResult:
    raw = json.loads(text(f"{stem}.token-claims.json"))
    return CommandResult("w1", raw["command"], raw["exit_code"], raw["stdout"], raw["stderr"], 0.01)


def test_the_command_reads_the_token_through_the_process_root_and_prints_only_the_payload():
    read = claims("solution")
    assert f"/proc/{process('solution').pid}/root{TOKEN_PATH}" in read.command and "cut -d. -f2" in read.command
    assert read.ok and json.loads(read.stdout)["sub"] == "system:serviceaccount:ex-identity:builder"
    assert "eyJ" not in read.stdout + read.stderr  # no base64 JWT part, let alone the token


def test_the_token_of_the_named_account_bound_to_this_pod_passes():
    v = judge_service_account_token(process("solution"), claims("solution"), "builder")
    assert v.status == PASS, v.seen
    assert v.evidence["service_account"] == "builder" and v.evidence["bound_pod"] == "whoami"


def test_a_pod_that_names_no_account_has_defaults_token_and_fails():
    v = judge_service_account_token(process("default-account"), claims("default-account"), "builder")
    assert v.status == FAIL and "system:serviceaccount:ex-identity:default" in v.seen


def test_no_token_mounted_fails_naming_the_automount_setting():
    read = claims("token-not-mounted")
    assert not read.ok and "No such file" in read.stderr
    v = judge_service_account_token(process("token-not-mounted"), read, "builder")
    assert v.status == FAIL and "automountServiceAccountToken" in v.seen


def test_a_token_bound_to_another_pod_fails():
    # The right account's token, judged for the pod of another capture: not this pod's token.
    v = judge_service_account_token(process("default-account"), claims("solution"), "builder")
    assert v.status == FAIL and "bound to pod whoami uid" in v.seen and "not this pod" in v.seen


def test_given_nothing_or_garbage_it_fails():
    p = process("solution")
    assert judge_service_account_token(p, None, "builder").status == FAIL
    for stdout in ("", "not json", "[1, 2]"):
        v = judge_service_account_token(p, replace(claims("solution"), stdout=stdout), "builder")
        assert v.status == FAIL and "no JWT" in v.seen


def test_the_check_takes_the_pod_container_and_account():
    assert checks()["process_has_service_account_token"].required == {"namespace", "name", "container",
                                                                       "service_account"}
