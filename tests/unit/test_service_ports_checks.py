"""service_targets_named_port's verdict, on a Service and its pods captured from a lab
(tests/fixtures/service-ports/: the clusterip-service exercise's solution and its `targetPort: 80` variant)."""

import json
from pathlib import Path

from kubelab.checks import FAIL, PASS
from kubelab.checks.service_ports import judge_named_target_port

FIXTURES = Path(__file__).parents[1] / "fixtures" / "service-ports"
REF = "ex-clusterip-service/web"


def load(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_a_named_target_port_every_pod_declares_passes():
    pods = load("pods-web")
    result = judge_named_target_port(REF, load("service-named"), pods, 8080, "http")
    assert result.status == PASS, result.seen
    assert result.seen.startswith(f"targetPort 'http' resolves in all {len(pods)} selected pod(s): ")
    assert result.evidence["target_port"] == "http"
    assert "= nginx's port 80" in result.evidence["pods"]


def test_the_number_fails_although_traffic_flows():
    result = judge_named_target_port(REF, load("service-by-number"), load("pods-web"), 8080, "http")
    assert result.status == FAIL
    assert result.seen == "port 8080 has targetPort 80, a number, not 'http'"


def test_a_name_no_pod_declares_fails():
    unnamed = [{**p, "spec": {**p["spec"], "containers": [
        {**c, "ports": [{k: v for k, v in port.items() if k != "name"} for port in c.get("ports") or ()]}
        for c in p["spec"]["containers"]]}} for p in load("pods-web")]
    result = judge_named_target_port(REF, load("service-named"), unnamed, 8080, "http")
    assert result.status == FAIL and "has a port named http" in result.seen, result.seen


def test_nothing_fails():
    assert judge_named_target_port(REF, None, [], 8080, "http").seen == f"no Service {REF} in the API"
    no_pods = judge_named_target_port(REF, load("service-named"), [], 8080, "http")
    assert no_pods.status == FAIL and "selects no pod" in no_pods.seen
    other_port = judge_named_target_port(REF, load("service-named"), load("pods-web"), 80, "http")
    assert other_port.status == FAIL and other_port.seen == "the Service has no port 80 (its ports: 8080)"
