"""An exam on a real lab, through the CLI as CI runs it: started from a seed, every task scores 0;
one task answered with a plausible wrong answer and the rest solved, the review shows what its failed
checks expected and saw; every task solved, full marks and passed. Grade times are measured."""

import json
import os
import stat
import time

import pytest
from rich.console import Console

from kubelab import exam, paths, student
from kubelab.catalogue import catalogue
from lab_cli import kubelab

pytestmark = pytest.mark.e2e

SEED, TASKS = 20261128, 5
CONSOLE = Console(stderr=True)


@pytest.fixture(scope="module")
def lab(cluster_deploy, lab_spec, lab_spec_path):
    yield lab_spec, lab_spec_path
    # The lab as the deploy left it, for the tests that follow.
    assert kubelab(lab_spec_path, "reset", "--yes").returncode == 0


def grade(spec_path, *extra) -> tuple[int, dict]:
    """`kubelab exam grade --json`; its wall time is printed beside the checks' own seconds (the benchmark's
    figures: the tasks are graded side by side, so the slowest task bounds it, plus the machine's load)."""
    started = time.monotonic()
    done = kubelab(spec_path, "exam", "grade", "--json", *extra)
    seconds = time.monotonic() - started
    assert done.returncode in (0, 1), done.stderr[-3000:]
    per_task = [sum(c["verdict"]["seconds"] for c in t["checks"]) for t in json.loads(done.stdout)["tasks"]]
    print(f"\nexam grade of {TASKS} tasks: {seconds:.1f} s wall (CLI); checks' seconds per task "
          f"{', '.join(f'{s:.1f}' for s in per_task)} (sum {sum(per_task):.1f})")
    return done.returncode, json.loads(done.stdout)


def test_start_prints_the_paper_and_starts_the_timer(lab):
    spec, spec_path = lab

    done = kubelab(spec_path, "exam", "start", "--seed", str(SEED), "--tasks", str(TASKS), "--yes")

    assert done.returncode == 0, done.stderr[-3000:]
    stored = exam.load_exam(spec)
    assert (stored["seed"], len(stored["tasks"]), stored["minutes"]) == (SEED, TASKS, 120)
    assert stat.S_IMODE(os.stat(exam.exam_path(spec)).st_mode) == 0o600
    planned = exam.plan({n: e.domain for n, e in catalogue().items()}, SEED, TASKS)
    assert [t["exercise"] for t in stored["tasks"]] == list(planned.exercises)  # the seed's exam, nothing else
    assert f"seed {SEED}, Kubernetes {spec.release.kubernetes}, catalogue {exam.catalogue_digest()}" in done.stdout
    for t in stored["tasks"]:
        assert f"Task {t['number']} ({t['points']} points):" in done.stdout
    assert "API back at the baseline" in done.stderr  # the lab was reset first
    assert 7190 < exam.time_left(spec) <= 7200
    left = kubelab(spec_path, "exam", "time")
    assert left.returncode == 0 and "left of 2:00:00" in left.stdout
    refused = kubelab(spec_path, "exam", "review")
    assert refused.returncode == 2 and "has not been graded" in " ".join(refused.stderr.split())
    assert "apiVersion" not in refused.stdout


def test_the_start_state_scores_0_on_every_task(lab):
    spec, spec_path = lab

    code, doc = grade(spec_path)

    assert code == 1 and (doc["score"], doc["passed"]) == (0, False)
    assert [t["score"] for t in doc["tasks"]] == [0] * TASKS
    assert all(t["checks"] and "0 points" in t["note"] for t in doc["tasks"])  # graded, not "not started"
    assert json.loads(exam.result_path(spec).read_text()) == doc


def test_a_wrong_answer_loses_its_checks_points_and_the_review_says_why(lab, tmp_path):
    spec, spec_path = lab
    tasks = exam.load_exam(spec)["tasks"]
    wrong = tasks[0]["exercise"]
    variant = sorted(catalogue()[wrong].broken)[0]
    student.apply_broken(spec, wrong, variant, CONSOLE)
    for t in tasks[1:]:
        student.solve(spec, t["exercise"], CONSOLE)

    code, doc = grade(spec_path, "--junit", str(tmp_path / "exam.xml"))

    first = doc["tasks"][0]
    failed = {c["id"] for c in first["checks"] if c["verdict"]["status"] != "pass"}
    assert failed == set(catalogue()[wrong].broken[variant])
    assert first["score"] == first["points"] - sum(c["points"] for c in first["checks"] if c["id"] in failed)
    assert doc["score"] < doc["points"]
    assert "<testsuites" in (tmp_path / "exam.xml").read_text()
    review = kubelab(spec_path, "exam", "review")
    assert review.returncode == 0, review.stderr
    text = " ".join(review.stdout.split())
    check = next(c for c in first["checks"] if c["id"] in failed)
    assert f"FAIL {check['id']}" in text
    assert "expected: " + " ".join(check["verdict"]["expected"].split()) in text
    assert "seen: " + " ".join(check["verdict"]["seen"].split()) in text
    assert " ".join(check["hint"].split()) in text
    answer = catalogue()[wrong].manifests("solution")[0]
    assert " ".join(answer.read_text().split()) in text  # the reference answer, after the grade


def test_every_task_solved_scores_full_marks_and_passes(lab, tmp_path):
    spec, spec_path = lab
    # The wrong answer goes the way a candidate's would: the task started afresh, then answered.
    student.start(spec, exam.load_exam(spec)["tasks"][0]["exercise"], CONSOLE)

    solved = kubelab(spec_path, "exam", "solve", "--yes")
    code, doc = grade(spec_path, "--html", str(tmp_path / "exam.html"))

    assert solved.returncode == 0, solved.stderr[-3000:]
    assert code == 0, [(t["exercise"], c["id"], c["verdict"]["seen"]) for t in doc["tasks"] for c in t["checks"]
                       if c["verdict"]["status"] != "pass"]
    assert (doc["score"], doc["percent"], doc["passed"]) == (doc["points"], 100.0, True)
    assert all(t["score"] == t["points"] for t in doc["tasks"])
    assert 0 < doc["seconds_used"] < 3600 and not doc["time_up"]
    assert "<html" in (tmp_path / "exam.html").read_text().lower()
    assert (paths.lab_dir(spec.name) / exam.RESULT_FILE).exists()
