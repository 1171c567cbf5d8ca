"""Report rendering: JSON and JUnit are well-formed and count what did not pass."""

import json
import xml.etree.ElementTree as ET

from rich.console import Console

from kubelab import report
from kubelab.checks import FAIL, PASS, WAITING, Verdict

RAW_LOG = "\x1b[32mGET /?kubelab-probe-1 200\x1b[0m\n"


def verdicts():
    return [
        Verdict("pod is Running", "w1", PASS, "Running", "Running on w1", {"pod_uid": "u1"}, 0.12),
        Verdict("one READY sandbox", "w1", FAIL, "one READY sandbox from registry.k8s.io/pause:3.10.1",
                "0 READY sandboxes for pod uid u1; crictl said \x1b[31mFATA\x1b[0m", {"commands": [{"command": "crictl pods -o json",
                                                                   "stdout": RAW_LOG}]}, 0.5,
                ("sandbox abc is READY for default/x with uid u2, but the API says u1",)),
        Verdict("kill -9 nginx", "w1", WAITING, "restartCount 1", "in back-off (CrashLoopBackOff)",
                {"backoff": True}, 90.0),
    ]


def test_json_is_well_formed_and_counts_each_status():
    doc = json.loads(report.to_json(verdicts()))
    assert doc["summary"] == {"total": 3, PASS: 1, FAIL: 1, WAITING: 1}
    assert [v["status"] for v in doc["verdicts"]] == [PASS, FAIL, WAITING]
    failed = doc["verdicts"][1]
    assert failed["expected"].startswith("one READY sandbox") and failed["findings"]
    assert failed["evidence"]["commands"][0]["stdout"] == RAW_LOG


def test_junit_is_well_formed_and_counts_fail_and_waiting_as_failures(tmp_path):
    path = tmp_path / "checks.xml"
    report.write_junit(verdicts(), path)
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert (root.get("tests"), root.get("failures")) == ("3", "2")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["pod is Running", "one READY sandbox", "kill -9 nginx"]
    assert cases[0].find("failure") is None
    assert [c.find("failure").get("type") for c in cases[1:]] == [FAIL, WAITING]
    body = cases[1].find("failure").text
    assert "expected: one READY sandbox" in body and "seen: 0 READY" in body and "finding: sandbox abc" in body
    # Terminal colour codes in what was seen or in raw output still make a parseable file.
    assert "FATA" in cases[1].find("failure").get("message")
    assert "kubelab-probe-1" in cases[1].find("system-out").text


def test_exit_code_is_zero_only_when_everything_passed():
    all_pass = [v for v in verdicts() if v.status == PASS]
    assert report.exit_code(all_pass) == 0
    assert report.exit_code(verdicts()) == 1
    assert report.exit_code([v for v in verdicts() if v.status == WAITING]) == 1
    assert report.exit_code([]) == 1


def test_the_table_shows_every_check_and_a_failure_shows_expected_and_seen():
    console = Console(record=True, width=200, color_system=None)
    report.render(verdicts(), console)
    out = console.export_text()
    for name in ("pod is Running", "one READY sandbox", "kill -9 nginx"):
        assert name in out
    assert "pod_uid=u1" in out
    assert "expected: one READY sandbox from registry.k8s.io/pause:3.10.1" in out
    assert "seen:     0 READY sandboxes" in out
    assert "finding:  sandbox abc" in out
    assert "expected: Running\n" not in out  # a passing check prints no detail
    assert "1 passed, 1 failed, 1 waiting of 3" in out
