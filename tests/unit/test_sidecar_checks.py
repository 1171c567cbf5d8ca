"""The native-sidecar proof judged on real transcripts (tests/fixtures/sidecar, see its README): the log shipper
as an init container with restartPolicy Always, as a second regular container, and on a volume of its own."""

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from kubelab.checks.registry import checks
from kubelab.checks.sidecars import judge_native_sidecar
from kubelab.checks.verdict import FAIL, PASS
from kubelab.runtime import parse_inspect, parse_pods

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sidecar"


def transcript(variant: str) -> dict:
    return json.loads((FIXTURES / f"{variant}.json").read_text())


def inputs(variant: str) -> dict:
    doc = transcript(variant)
    commands = doc["commands"]
    inspected = [parse_inspect(c["stdout"]) for c in commands[1:]]
    return {"raw": doc["api_reads"][0]["object"], "sandboxes": parse_pods(commands[0]["stdout"]),
            "sidecar_c": inspected[0] if len(inspected) == 2 else None, "app_c": inspected[-1] if inspected else None,
            "sidecar": "log-shipper", "container": "nginx"}


def test_the_reference_sidecar_runs_first_in_the_sandbox_and_shares_the_log_volume():
    result = judge_native_sidecar(**inputs("solution"), volume="logs")
    assert result.status == PASS, result.seen
    assert "nginx started" in result.seen and "after log-shipper" in result.seen
    assert result.evidence["log-shipper_host_path"] == result.evidence["nginx_host_path"]
    assert result.evidence["nginx_host_path"].endswith("/volumes/kubernetes.io~empty-dir/logs")


def test_a_second_regular_container_is_no_native_sidecar():
    result = judge_native_sidecar(**inputs("regular-container"))
    assert result.status == FAIL
    assert result.seen == "log-shipper is a regular container (init containers: none; containers: nginx, log-shipper)"


def test_a_sidecar_on_a_volume_of_its_own_shares_nothing():
    assert judge_native_sidecar(**inputs("sidecar-own-volume")).status == PASS
    result = judge_native_sidecar(**inputs("sidecar-own-volume"), volume="logs")
    assert result.status == FAIL and result.seen == "log-shipper mount(s) no volume `logs` on the node"


def test_an_init_container_without_restart_policy_always_is_no_sidecar():
    given = inputs("solution")
    raw = json.loads(json.dumps(given["raw"]))
    del raw["spec"]["initContainers"][0]["restartPolicy"]
    result = judge_native_sidecar(**{**given, "raw": raw})
    assert result.status == FAIL and "restartPolicy unset: it must exit before nginx starts" in result.seen


def test_an_app_started_before_the_sidecar_fails():
    given = inputs("solution")
    early = replace(given["app_c"], started=given["sidecar_c"].started - timedelta(seconds=1))
    result = judge_native_sidecar(**{**given, "app_c": early})
    assert result.status == FAIL and "before log-shipper" in result.seen


def test_a_sidecar_in_another_sandbox_fails():
    given = inputs("solution")
    moved = replace(given["sidecar_c"], sandbox_id="0" * 64)
    result = judge_native_sidecar(**{**given, "sidecar_c": moved})
    assert result.status == FAIL and "not the pod's READY sandbox" in result.seen


def test_given_nothing_it_fails():
    given = inputs("solution")
    result = judge_native_sidecar(**{**given, "sandboxes": [], "sidecar_c": None, "app_c": None})
    assert result.status == FAIL and result.seen == "the API reports no container ID for log-shipper, nginx"


def test_the_check_is_registered_with_its_arguments():
    registered = checks()["native_sidecar_runs_beside"]
    assert registered.required == {"namespace", "name", "sidecar", "container"}
    assert registered.optional == {"volume"}
