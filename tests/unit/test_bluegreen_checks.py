"""The blue/green proof judged on real transcripts (tests/fixtures/bluegreen, see its README): the Service
switched to green, the Service left on blue, and green running the old image behind a switched Service."""

import json
from dataclasses import replace
from pathlib import Path

from kubelab.checks.bluegreen import judge_only_to
from kubelab.checks.registry import checks
from kubelab.checks.services import Attempt, matching_flow
from kubelab.checks.verdict import FAIL, PASS, WAITING
from kubelab.runtime import parse_conntrack, parse_curl

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bluegreen"


def transcript(variant: str) -> dict:
    return json.loads((FIXTURES / f"{variant}.json").read_text())


def api(doc: dict, prefix: str):
    return next(r["object"] for r in doc["api_reads"] if r["read"].startswith(prefix))


def sent(doc: dict) -> list[Attempt]:
    """Each curl of the ClusterIP with the conntrack lookup the check made right after it."""
    commands = doc["commands"]
    found = []
    for curl, lookup in zip(commands[::2], commands[1::2]):
        assert curl["command"].startswith("curl ") and lookup["command"].startswith("conntrack ")
        request = parse_curl(curl["exit_code"], curl["stdout"], curl["stderr"])
        found.append(Attempt(request, matching_flow(request, parse_conntrack(lookup["stdout"]),
                                                    lookup["command"].rsplit(" ", 1)[1])))
    return found


def judged(variant: str, **changed):
    doc = transcript(variant)
    inputs = {"ref": "ex-bluegreen/web", "port": 80, "deployment": "green",
              "service": api(doc, "Service "), "slices": api(doc, "EndpointSlice "),
              "owner": api(doc, "Deployment "), "pods": api(doc, "Pod in "), "node": "w1", "sent": sent(doc),
              **changed}
    return judge_only_to(**inputs)


def test_a_service_switched_to_green_is_answered_only_by_green_pods():
    result = judged("solution")
    assert result.status == PASS, result.seen
    assert result.seen.startswith("6 GET(s) from w1, each answered by a pod of green (green-")
    assert result.evidence["selector"] == "app=green"


def test_a_service_left_on_blue_fails_naming_blues_pods():
    result = judged("service-still-blue")
    assert result.status == FAIL
    assert "are not Ready pods of green" in result.seen and "(blue-" in result.seen


def test_green_on_the_old_image_is_still_what_the_service_sends_to():
    # The image is the rollout check's business: this one proves only where traffic goes.
    assert judged("green-wrong-image").status == PASS


def test_an_answer_from_a_pod_that_is_no_endpoint_waits_for_the_proxy():
    # As when the proxy still sends to blue for a moment after the switch: endpoints green, answer from blue.
    # The check polls on WAITING and fails when its timeout passes (workloads._poll).
    attempts = sent(transcript("solution"))
    first = attempts[0]
    stale = replace(first, flow=replace(first.flow, reply=first.flow.reply._replace(src="10.244.1.58")))
    result = judged("solution", sent=[stale, *attempts[1:]])
    assert result.status == WAITING
    assert result.seen.startswith("1 of 6 GET(s) not answered by a pod of green") and "10.244.1.58:80" in result.seen


def test_a_refused_request_is_not_a_pass():
    attempts = sent(transcript("solution"))
    refused = replace(attempts[0], request=replace(attempts[0].request, connected=False, http_status=None,
                                                   exit_code=7, error="curl: (7) Failed to connect"))
    result = judged("solution", sent=[refused])
    assert result.status == WAITING and "refused or rejected" in result.seen


def test_nothing_read_or_sent_fails():
    assert judged("solution", service=None).status == FAIL
    assert judged("solution", owner=None).seen == "no Deployment green in the API"
    assert "no ready endpoint" in judged("solution", slices=[]).seen
    assert "are not Ready pods of green" in judged("solution", pods=[]).seen
    assert "no request was sent" in judged("solution", sent=[]).seen


def test_the_check_takes_the_arguments_the_exercise_gives():
    registered = checks()["service_sends_only_to"]
    assert registered.required == {"namespace", "name", "port", "deployment"}
    assert registered.optional == {"requests", "timeout", "interval"}
