"""The NodePort proof judged on real transcripts (tests/fixtures/nodeport, see its README): the reference
Service, a selector that also takes another Deployment's pods, a targetPort nothing listens on, a ClusterIP
Service, and 30080 written as the Service port."""

import json
from dataclasses import replace
from pathlib import Path

from kubelab.checks.nodeport import internal_ip, judge_node_port
from kubelab.checks.registry import checks
from kubelab.checks.services import Attempt, matching_flow
from kubelab.checks.verdict import FAIL, PASS, WAITING
from kubelab.runtime import parse_conntrack, parse_curl

FIXTURES = Path(__file__).parents[1] / "fixtures" / "nodeport"


def transcript(variant: str) -> dict:
    return json.loads((FIXTURES / f"{variant}.json").read_text())


def api(doc: dict, prefix: str):
    return next(r["object"] for r in doc["api_reads"] if r["read"].startswith(prefix))


def sent_per_node(doc: dict) -> list[tuple[str, str, Attempt]]:
    """Each node's curl of its own address, with the conntrack lookup made after it on that node (none when
    the request never left a local port: refused)."""
    found = []
    for n, curl in enumerate(doc["commands"]):
        if not curl["command"].startswith("curl "):
            continue
        request = parse_curl(curl["exit_code"], curl["stdout"], curl["stderr"])
        address = curl["command"].rsplit("http://", 1)[1].split(":", 1)[0]
        lookup = doc["commands"][n + 1] if n + 1 < len(doc["commands"]) else None
        flows = []
        if lookup and lookup["command"].startswith("conntrack "):
            assert lookup["node"] == curl["node"] and lookup["command"].endswith(f" {address}")
            flows = parse_conntrack(lookup["stdout"])
        found.append((curl["node"], address, Attempt(request, matching_flow(request, flows, address))))
    return found


def judged(variant: str, **changed):
    doc = transcript(variant)
    inputs = {"ref": "ex-nodeport/web", "node_port": 30080, "deployment": "web",
              "service": api(doc, "Service "), "slices": api(doc, "EndpointSlice "),
              "owner": api(doc, "Deployment "), "pods": api(doc, "Pod in "), "sent": sent_per_node(doc), **changed}
    return judge_node_port(**inputs)


def test_the_reference_service_is_answered_by_a_web_pod_on_every_nodes_own_address():
    doc = transcript("solution")
    sent = sent_per_node(doc)
    assert [(node, address) for node, address, _ in sent] == [("cp1", "10.89.134.10"), ("w1", "10.89.134.11")]
    result = judged("solution")
    assert result.status == PASS, result.seen
    assert result.seen.startswith("2 node(s), each GET of its own address port 30080 answered by a pod of web (web-")
    assert "cp1 10.89.134.10:30080 answered HTTP 200 by 10.244.1.30:80" in result.evidence["answers"]


def test_the_node_address_is_the_apis_internal_ip():
    doc = transcript("solution")
    nodes = [r["object"] for r in doc["api_reads"] if r["read"].startswith("Node ")]
    assert [internal_ip(n) for n in nodes] == ["10.89.134.10", "10.89.134.11"]
    assert internal_ip(None) is None


def test_a_selector_that_also_matches_the_admin_pods_fails_naming_them():
    result = judged("selects-the-tier")
    assert result.status == FAIL
    assert "are not Ready pods of web (selector tier=frontend)" in result.seen and "(admin-" in result.seen


def test_a_target_port_nothing_listens_on_fails_on_every_node():
    result = judged("target-port-wrong")
    assert result.status == FAIL
    assert result.seen.count("refused or rejected") == 2 and "on cp1" in result.seen and "on w1" in result.seen


def test_a_cluster_ip_service_has_no_node_port():
    result = judged("type-cluster-ip")
    assert result.status == FAIL
    assert result.seen == "the Service is type ClusterIP with port 80 nodePort none targetPort 80; none has nodePort 30080"


def test_30080_written_as_the_service_port_is_not_the_node_port():
    result = judged("port-is-the-node-port")
    assert result.status == FAIL
    assert "port 30080 nodePort 3" in result.seen and "none has nodePort 30080" in result.seen


def test_an_answer_from_a_pod_that_is_no_endpoint_waits_for_the_proxy():
    sent = sent_per_node(transcript("solution"))
    node, address, first = sent[0]
    stale = replace(first, flow=replace(first.flow, reply=first.flow.reply._replace(src="10.244.1.99")))
    result = judged("solution", sent=[(node, address, stale), *sent[1:]])
    assert result.status == WAITING
    assert result.seen.startswith("on cp1, 10.89.134.10:30080 answered HTTP 200 by 10.244.1.99:80, which is not")


def test_given_nothing_it_fails():
    assert judge_node_port("ex-nodeport/web", 30080, "web", None, [], None, [], []).status == FAIL
    doc = transcript("solution")
    result = judged("solution", sent=[])
    assert result.status == FAIL and "no request was sent" in result.seen
    assert judged("solution", owner=None).seen == "no Deployment web in the API"
    assert judge_node_port("ex-nodeport/web", 30080, "web", api(doc, "Service "), [], api(doc, "Deployment "), [],
                           sent_per_node(doc)).status == FAIL


def test_the_check_is_registered_with_the_arguments_an_exercise_gives():
    registered = checks()["node_port_reaches_deployment"]
    assert registered.required == {"namespace", "name", "node_port", "deployment"}
    assert registered.optional == {"timeout", "interval"}
