"""The canary proof judged on real transcripts (tests/fixtures/canary, see its README): the reference canary,
a canary the Service does not select, and a canary as big as stable; plus the binomial bounds."""

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from kubelab.checks.canary import ALPHA, binomial_bounds, canary_share, judge_canary, parse_burst
from kubelab.checks.process import CheckArgumentError
from kubelab.checks.registry import checks
from kubelab.checks.services import Attempt
from kubelab.checks.verdict import FAIL, PASS, WAITING
from kubelab.cluster import PodView

FIXTURES = Path(__file__).parents[1] / "fixtures" / "canary"


def transcript(variant: str) -> dict:
    return json.loads((FIXTURES / f"{variant}.json").read_text())


def api(doc: dict, prefix: str):
    return next(r["object"] for r in doc["api_reads"] if r["read"].startswith(prefix))


def sent(doc: dict) -> list[Attempt]:
    """The burst of curls from the client's netns and the conntrack listing made right after it (none where the
    endpoints were already wrong)."""
    made = [c for c in doc["commands"] if c["command"].startswith(("for ", "conntrack "))]
    if not made:
        return []
    burst, listing = made
    return parse_burst(burst["stdout"], listing["stdout"], listing["command"].rsplit(" ", 1)[1])


def judged(variant: str, **changed):
    doc = transcript(variant)
    attempts = sent(doc)
    inputs = {"ref": "ex-canary/web", "port": 80, "stable": "stable", "canary": "canary", "share": 25,
              "requests": len(attempts), "service": api(doc, "Service "), "slices": api(doc, "EndpointSlice "),
              "owners": {"stable": api(doc, "Deployment ex-canary/stable"),
                         "canary": api(doc, "Deployment ex-canary/canary")},
              "pods": {"stable": api(doc, "Pod in ex-canary (labels app=web,track=stable"),
                       "canary": api(doc, f"Pod in ex-canary (labels {canary_labels(doc)}")},
              "client": PodView.from_api(api(doc, "Pod ex-canary/client")), "sent": attempts, **changed}
    return judge_canary(**inputs)


def canary_labels(doc: dict) -> str:
    selector = api(doc, "Deployment ex-canary/canary")["spec"]["selector"]["matchLabels"]
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def test_the_reference_canary_answers_a_plausible_share_from_the_client_pod():
    result = judged("solution")
    assert result.status == PASS, result.seen
    assert result.evidence["canary_endpoints"] == 1 and result.evidence["stable_endpoints"] == 3
    assert "GETs from pod ex-canary/client answered by canary" in result.seen
    low, high = binomial_bounds(len(sent(transcript("solution"))), 0.25)
    assert low <= result.evidence["canary_answers"] <= high


def test_a_canary_the_service_does_not_select_gets_no_endpoint():
    result = judged("canary-not-selected")
    assert result.status == FAIL
    assert result.seen.startswith("0 of 3 ready endpoint(s) are pods of canary (selector app=web), not 25%")


def test_a_canary_as_big_as_stable_has_half_the_endpoints():
    result = judged("canary-as-big-as-stable")
    assert result.status == FAIL
    assert result.seen.startswith("3 of 6 ready endpoint(s) are pods of canary")


def test_every_answer_from_the_canary_is_outside_the_bounds():
    attempts = sent(transcript("solution"))
    canary_ip = next(a.flow.answered_by for a in attempts
                     if a.flow.answered_by.startswith(api(transcript("solution"),
                                                          "Pod in ex-canary (labels app=web,track=canary")[0]
                                                      ["status"]["podIP"] + ":"))
    all_canary = [replace(a, flow=replace(a.flow, reply=a.flow.reply._replace(src=canary_ip.split(":")[0])))
                  for a in attempts]
    result = judged("solution", sent=all_canary)
    assert result.status == FAIL
    assert f"{len(attempts)} of {len(attempts)} GETs" in result.seen and "outside" in result.seen


def test_fewer_answers_than_requests_fail():
    result = judged("solution", requests=len(sent(transcript("solution"))) + 1)
    assert result.status == FAIL and "outside" in result.seen


def test_an_answer_from_no_endpoint_waits_for_the_proxy():
    # Port 81 of the same ClusterIP: no Service port, so the lab's host answers (404), not a pod.
    elsewhere = sent(transcript("no-port-81"))
    assert [a.request.http_status for a in elsewhere] == [404, 404, 404]
    assert all(a.flow.answered_by == "10.96.89.54:81" for a in elsewhere)
    result = judged("solution", sent=elsewhere + sent(transcript("solution"))[3:])
    assert result.status == WAITING and result.seen.startswith("3 of 60 GET(s) not answered by an endpoint")


def test_the_burst_is_one_command_and_every_request_finds_its_flow():
    doc = transcript("solution")
    burst = [c for c in doc["commands"] if c["command"].startswith("for ")]
    assert len(burst) == 1 and "seq 60" in burst[0]["command"] and "nsenter -t " in burst[0]["command"]
    attempts = sent(doc)
    assert len(attempts) == 60 and all(a.flow is not None and a.request.http_status == 200 for a in attempts)
    assert len({a.request.local_port for a in attempts}) == 60


def test_no_request_sent_is_no_pass():
    result = judged("solution", sent=[])
    assert result.status == FAIL and result.seen.startswith("no request was sent")


def test_given_nothing_it_fails():
    result = judge_canary("ex-canary/web", 80, "stable", "canary", 25, 60, None, [], {"stable": None, "canary": None},
                          {"stable": [], "canary": []}, None, [])
    assert result.status == FAIL and result.seen == "no Service ex-canary/web in the API"


def test_a_missing_canary_deployment_is_named():
    doc = transcript("solution")
    result = judged("solution", owners={"stable": api(doc, "Deployment ex-canary/stable"), "canary": None})
    assert result.status == FAIL and result.seen == "no Deployment canary in the API"


@pytest.mark.parametrize("requests, share", [(60, 0.25), (60, 0.5), (20, 0.1), (100, 0.9)])
def test_the_bounds_leave_at_most_half_alpha_in_each_tail_and_are_tight(requests, share):
    low, high = binomial_bounds(requests, share)

    def p(k):
        return math.comb(requests, k) * share ** k * (1 - share) ** (requests - k)
    below, above = sum(p(k) for k in range(low)), sum(p(k) for k in range(high + 1, requests + 1))
    assert below <= ALPHA / 2 and above <= ALPHA / 2
    assert below + p(low) > ALPHA / 2 and above + p(high) > ALPHA / 2


def test_sixty_requests_tell_a_quarter_from_nothing():
    assert binomial_bounds(60, 0.25) == (4, 29)


def test_a_share_that_is_no_percentage_is_an_argument_error():
    with pytest.raises(CheckArgumentError, match="share.*100"):
        canary_share(None, namespace="ex-canary", service="web", port=80, stable="stable", canary="canary", share=100,
                     from_pod="client")


def test_the_check_is_registered_with_its_arguments():
    registered = checks()["canary_share"]
    assert registered.required == {"namespace", "service", "port", "stable", "canary", "share", "from_pod"}
    assert registered.optional == {"requests", "timeout", "interval"}
