"""The container-log proof judged on real transcripts (tests/fixtures/logs, see its README): the word the
`audit` container logged, the other container's word, and a whole log pasted in."""

import json
from pathlib import Path

from kubelab.checks.logs import judge_log_line
from kubelab.checks.registry import checks
from kubelab.checks.verdict import FAIL, PASS
from kubelab.cluster import PodView

FIXTURES = Path(__file__).parents[1] / "fixtures" / "logs"


def judged(variant: str, *, container: str = "audit", key: str = "word", **changed):
    doc = json.loads((FIXTURES / f"{variant}.json").read_text())
    reads = {r["read"].split(" ", 1)[0]: r["object"] for r in doc["api_reads"]}
    pod = PodView.from_api(reads["Pod"])
    # The check reads the containers' logs in the pod's order; each command names the container's ID.
    logs = {}
    for run in doc["commands"]:
        assert run["command"].split()[3:5] == ["logs", "--tail"] and run["node"] == pod.node
        name = next(c.name for c in pod.containers if run["command"].endswith(c.container_id))
        logs[name] = run["stdout"]
    inputs = {"config_map": reads["ConfigMap"], "logs": logs, **changed}
    return judge_log_line("ex-container-logs/answer", key, pod=pod, container=container, **inputs)


def test_the_word_audit_logged_passes():
    result = judged("solution")
    assert result.status == PASS, result.seen
    assert result.seen == "'harbor' is a line of audit's log on w1"
    assert result.evidence == {"log_lines": 1, "value": "harbor"}


def test_the_word_of_the_other_container_fails_naming_it():
    result = judged("other-container")
    assert result.status == FAIL
    assert result.seen == "'pebble' is a line of app's log, not of audit's"


def test_a_whole_log_is_not_the_word():
    result = judged("whole-log-line")
    assert result.status == FAIL and result.seen == "'starting\\npebble\\nready' is no line of any log of the pod"


def test_a_trailing_newline_from_a_file_does_not_matter():
    cm = json.loads((FIXTURES / "solution.json").read_text())["api_reads"][0]["object"]
    assert judged("solution", config_map={**cm, "data": {"word": "harbor\n"}}).status == PASS


def test_a_missing_key_or_config_map_fails_naming_what_is_there():
    assert judged("solution", key="code").seen == "ConfigMap ex-container-logs/answer has no key code (its keys: word)"
    assert judged("solution", config_map=None).seen == "no ConfigMap ex-container-logs/answer in the API"


def test_given_nothing_it_fails():
    result = judged("solution", logs={})
    assert result.status == FAIL and "no log of container audit" in result.seen
    cm = json.loads((FIXTURES / "solution.json").read_text())["api_reads"][0]["object"]
    assert judged("solution", config_map={**cm, "data": {"word": " "}}).seen == "key word is empty"
    assert judged("solution", logs={"audit": ""}).status == FAIL


def test_the_check_is_registered_with_the_arguments_an_exercise_gives():
    assert checks()["config_map_holds_log_line"].required == {"namespace", "config_map", "key", "pod", "container"}
