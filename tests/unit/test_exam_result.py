"""The exam result document: its shape (the contract the page and the classroom read), its arithmetic
(points per task, percent per domain, the 66% pass mark) and its timing, from real grades captured on
lab `exa` (tests/fixtures/exam/exa-*.json: `kubelab exam grade --json` of a 5-task exam, seed 7, right
after `exam start`, and after every task was solved but one answered with a broken variant)."""

import copy
import json
from pathlib import Path

import pytest

from kubelab.curriculum import DOMAINS, WEIGHTS
from kubelab.exam import clock, result_document, seconds_left
from kubelab.timestamps import epoch_of

FIXTURES = Path(__file__).parents[1] / "fixtures" / "exam"
TOP = ["kind", "version", "lab", "seed", "kubernetes", "started_at", "graded_at", "minutes", "seconds_used",
       "time_up", "pass_mark", "score", "points", "percent", "passed", "domains", "tasks"]
TASK = ["number", "exercise", "title", "domain", "competency", "namespaces", "score", "points", "note", "checks"]
CHECK = ["id", "points", "earned", "hint", "verdict"]
VERDICT = ["check", "node", "status", "expected", "seen", "evidence", "seconds", "findings"]


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def split(doc: dict) -> tuple[dict, list[dict], float]:
    """The stored exam and the per-task grades (student.Grade.to_dict()) a real result was made from."""
    exam = {k: doc[k] for k in ("lab", "seed", "kubernetes", "minutes", "started_at")}
    exam["tasks"] = [{k: t[k] for k in ("number", "exercise", "title", "domain", "competency", "namespaces",
                                        "points")} for t in doc["tasks"]]
    grades = [{"exercise": t["exercise"], "score": t["score"], "points": t["points"], "note": t["note"],
               "checks": t["checks"]} for t in doc["tasks"]]
    return exam, grades, epoch_of(doc["graded_at"])


@pytest.mark.parametrize("name", ["exa-start.json", "exa-partly.json"])
def test_the_document_is_made_again_from_the_exam_and_its_grades(name):
    doc = load(name)
    exam, grades, graded_at = split(doc)

    again = result_document(exam, grades, graded_at)

    # graded_at is kept to the second, seconds_used to the tenth: made again, they round the same way
    assert {k: v for k, v in again.items() if k != "seconds_used"} == {k: v for k, v in doc.items()
                                                                      if k != "seconds_used"}
    assert abs(again["seconds_used"] - doc["seconds_used"]) < 1


@pytest.mark.parametrize("name", ["exa-start.json", "exa-partly.json"])
def test_the_document_has_exactly_the_contracts_fields(name):
    doc = result_document(*split(load(name)))

    assert list(doc) == TOP
    assert (doc["kind"], doc["version"], doc["pass_mark"]) == ("kubelab-exam-result", 1, 66)
    assert [d["name"] for d in doc["domains"]] == list(DOMAINS)
    assert all(list(d) == ["name", "weight", "score", "points", "percent"] for d in doc["domains"])
    for task in doc["tasks"]:
        assert list(task) == TASK
        for check in task["checks"]:
            assert list(check) == CHECK and list(check["verdict"]) == VERDICT


def test_points_per_task_percent_per_domain_and_the_total():
    doc = result_document(*split(load("exa-partly.json")))

    assert [(t["exercise"], t["score"], t["points"]) for t in doc["tasks"]] == [
        ("liveness-probe", 7, 7), ("config-and-secret", 7, 10), ("canary", 2, 7), ("job-completions", 8, 8),
        ("clusterip-service", 10, 10)]
    for t in doc["tasks"]:
        assert t["score"] == sum(c["earned"] for c in t["checks"])
    assert [(d["weight"], d["score"], d["points"], d["percent"]) for d in doc["domains"]] == [
        (20, 8, 8, 100.0), (20, 2, 7, 28.6), (15, 7, 7, 100.0), (25, 7, 10, 70.0), (20, 10, 10, 100.0)]
    assert [d["weight"] for d in doc["domains"]] == list(WEIGHTS.values())
    assert (doc["score"], doc["points"], doc["percent"], doc["passed"]) == (34, 42, 81.0, True)


def test_nothing_in_place_scores_0_everywhere():
    doc = result_document(*split(load("exa-start.json")))

    assert (doc["score"], doc["percent"], doc["passed"]) == (0, 0.0, False)
    assert all(d["score"] == 0 and d["points"] > 0 and d["percent"] == 0.0 for d in doc["domains"])
    assert all("0 points" in t["note"] for t in doc["tasks"])


@pytest.mark.parametrize("points, score, passed", [(50, 33, True), (50, 32, False), (97, 64, False),
                                                   (53, 35, True)])
def test_the_pass_mark_is_66_percent_exactly_not_after_rounding(points, score, passed):
    exam, grades, graded_at = split(load("exa-start.json"))
    exam["tasks"] = exam["tasks"][:1]
    exam["tasks"][0]["points"] = points
    grades = [dict(grades[0], score=score)]

    doc = result_document(exam, grades, graded_at)

    assert doc["passed"] is passed, doc["percent"]  # 64/97 prints as 66.0 but is 65.98: not passed


def test_a_domain_without_a_task_has_0_points_and_0_percent():
    exam, grades, graded_at = split(load("exa-partly.json"))

    doc = result_document(exam | {"tasks": exam["tasks"][:2]}, grades[:2], graded_at)

    empty = [d for d in doc["domains"] if d["points"] == 0]
    assert [d["name"] for d in empty] == [DOMAINS[0], DOMAINS[1], DOMAINS[4]]
    assert all((d["score"], d["percent"]) == (0, 0.0) for d in empty)


def test_time_used_is_capped_at_the_limit_and_grading_after_it_says_time_up():
    exam, grades, _ = split(load("exa-partly.json"))
    started = epoch_of(exam["started_at"])
    exam["minutes"] = 30

    within = result_document(exam, grades, started + 29 * 60 + 59.96)
    at_limit = result_document(exam, grades, started + 30 * 60)
    after = result_document(exam, grades, started + 3 * 3600)

    assert (within["seconds_used"], within["time_up"]) == (1800.0, False)  # rounds to the limit, still within
    assert (at_limit["seconds_used"], at_limit["time_up"]) == (1800.0, True)
    assert (after["seconds_used"], after["time_up"], after["minutes"]) == (1800.0, True, 30)
    assert after["score"] == within["score"]  # what the lab holds when graded, after the limit too


def test_seconds_left_from_an_injected_clock():
    exam = {"minutes": 120, "started_at": "2026-11-28T09:00:00Z"}
    start = epoch_of("2026-11-28T09:00:00Z")

    assert seconds_left(exam, start) == 7200
    assert seconds_left(exam, start + 4321.5) == 7200 - 4321.5
    assert seconds_left(exam, start + 7200) == 0
    assert seconds_left(exam, start + 7500) == -300  # time was up 5 minutes ago
    assert (clock(7200), clock(4321.5), clock(-300), clock(59)) == ("2:00:00", "1:12:01", "0:05:00", "0:00:59")


def test_a_grade_never_started_counts_0_with_its_note():
    exam, grades, graded_at = split(load("exa-partly.json"))
    grades = copy.deepcopy(grades)
    grades[0] = {"exercise": grades[0]["exercise"], "score": 0, "points": exam["tasks"][0]["points"],
                 "note": "not started on this lab: 0 points", "checks": []}

    doc = result_document(exam, grades, graded_at)

    assert (doc["tasks"][0]["score"], doc["tasks"][0]["checks"]) == (0, [])
    assert doc["score"] == 34 - 7
