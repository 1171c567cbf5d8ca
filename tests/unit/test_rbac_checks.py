"""What a pod's ServiceAccount may do, judged on real requests made with its token (tests/fixtures/rbac, see
its README): the reference Role and RoleBinding, the built-in `view` ClusterRole bound instead, verbs `*`, and
a binding to a User instead of the ServiceAccount."""

import json
from pathlib import Path

import pytest

from kubelab.checks.process import CheckArgumentError, Process, judge_process
from kubelab.checks.rbac import judge_access, parse_request, read_answer
from kubelab.checks.registry import checks
from kubelab.checks.verdict import FAIL, PASS
from kubelab.cluster import PodView
from kubelab.runtime import parse_inspect
from kubelab.ssh import CommandResult

FIXTURES = Path(__file__).parents[1] / "fixtures" / "rbac"
# The requests each check of the exercise makes, in order (exercises/rbac-role/exercise.yaml).
ASKED = {"reads-pods": (["list pods", "get pods/client"], []),
         "no-writes": (["list pods"], ["delete pods/client", "create pods"]),
         "only-pods": (["list pods"], ["list secrets", "list configmaps"])}


def transcript(variant: str, check_id: str) -> dict:
    return json.loads((FIXTURES / f"{variant}.{check_id}.json").read_text())


def process(doc: dict) -> Process:
    pod = PodView.from_api(next(r["object"] for r in doc["api_reads"] if r["read"] == "Pod ex-rbac/client"))
    found = judge_process(pod, "client", parse_inspect(doc["commands"][0]["stdout"]))
    assert isinstance(found, Process), found
    return found


def judged(variant: str, check_id: str):
    doc = transcript(variant, check_id)
    allowed, denied = ASKED[check_id]
    wanted = [(parse_request(t, "ex-rbac", "allowed"), "allowed") for t in allowed]
    wanted += [(parse_request(t, "ex-rbac", "denied"), "denied") for t in denied]
    curls = doc["commands"][1:]
    assert len(curls) == len(wanted)
    answers = [read_answer(request, expect, CommandResult(c["node"], c["command"], c["exit_code"], c["stdout"],
                                                          c["stderr"], c["seconds"]))
               for (request, expect), c in zip(wanted, curls)]
    for (request, _), c in zip(wanted, curls):
        assert f"-X {request.method}" in c["command"] and request.path().split("?")[0] in c["command"]
    return judge_access(process(doc), "10.96.0.1:443", answers)


def test_the_reference_role_lets_the_pod_read_pods():
    result = judged("solution", "reads-pods")
    assert result.status == PASS, result.seen
    assert result.seen == "list pods: HTTP 200; get pods/client: HTTP 200"


@pytest.mark.parametrize("check_id", ["no-writes", "only-pods"])
def test_the_reference_role_denies_the_rest(check_id):
    assert judged("solution", check_id).status == PASS


def test_the_view_clusterrole_lets_the_pod_read_configmaps():
    result = judged("view-clusterrole", "only-pods")
    assert result.status == FAIL and result.seen == "list configmaps: HTTP 200 (let through)"


def test_verbs_star_lets_dry_run_writes_through():
    result = judged("all-verbs", "no-writes")
    assert result.status == FAIL
    assert result.seen == "delete pods/client: HTTP 200 (let through); create pods: HTTP 201 (let through)"


def test_a_binding_to_a_user_gives_the_service_account_nothing():
    result = judged("user-not-serviceaccount", "reads-pods")
    assert result.status == FAIL and result.seen.startswith("list pods: HTTP 403 (refused)")


def test_the_token_never_leaves_the_node():
    for path in FIXTURES.glob("*.json"):
        for command in transcript(*path.name.removesuffix(".json").split(".", 1))["commands"]:
            assert "eyJ" not in command["command"] + command["stdout"] + command["stderr"]
            if "curl" in command["command"]:
                assert "$(cat /proc/" in command["command"] and " -K - " in command["command"]


def test_a_token_not_accepted_is_named():
    doc = transcript("solution", "reads-pods")
    answer = read_answer(parse_request("list pods", "ex-rbac", "allowed"), "allowed",
                         CommandResult("w1", "curl", 0, "401", "", 0.1))
    result = judge_access(process(doc), "10.96.0.1:443", [answer])
    assert result.status == FAIL and "the token is not accepted" in result.seen


def test_no_http_answer_is_neither_allowed_nor_denied():
    answer = read_answer(parse_request("list secrets", "ex-rbac", "denied"), "denied",
                         CommandResult("w1", "curl", 7, "000", "curl: (7) Failed to connect", 3.0))
    assert answer.status is None and not answer.as_expected and "Failed to connect" in answer.describe()


def test_given_nothing_it_fails():
    result = judge_access(process(transcript("solution", "reads-pods")), "", [])
    assert result.status == FAIL and result.seen.startswith("no request was sent")


@pytest.mark.parametrize("text, path", [
    ("list pods", "/api/v1/namespaces/ex-rbac/pods"),
    ("get pods/client", "/api/v1/namespaces/ex-rbac/pods/client"),
    ("delete pods/client in default", "/api/v1/namespaces/default/pods/client?dryRun=All"),
    ("create configmaps", "/api/v1/namespaces/ex-rbac/configmaps?dryRun=All"),
])
def test_requests_as_a_task_phrases_them(text, path):
    assert parse_request(text, "ex-rbac", "allowed").path() == path


@pytest.mark.parametrize("text", ["list", "get pods", "list pods/client", "patch pods/client", "list pods in",
                                  "LIST PODS"])
def test_a_request_the_check_cannot_make_is_an_argument_error(text):
    with pytest.raises(CheckArgumentError, match="is not a request this check makes"):
        parse_request(text, "ex-rbac", "allowed")


def test_the_check_is_registered_with_its_arguments():
    registered = checks()["service_account_access"]
    assert registered.required == {"namespace", "name", "container", "allowed"}
    assert registered.optional == {"denied"}
