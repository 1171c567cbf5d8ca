"""`kubelab exam` without a cluster: every bad input and every verb without an exam is one clear message,
exit 2, and the lab's state directory byte for byte as it was; the timer read from the stored exam."""

import io
import json
import threading
import time

import pytest
from rich.console import Console

from kubelab import cli, exam
from kubelab.catalogue import catalogue
from kubelab.curriculum import DOMAINS
from kubelab.errors import KubelabError
from kubelab.spec import load_spec

LAB = "exa-unit"
SPEC = f"""name: {LAB}
nodes:
  - {{name: cp1, address: 192.0.2.10, role: control-plane}}
  - {{name: w1, address: 192.0.2.11, role: worker}}
"""


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A lab's state directory (spec only: no node is ever contacted here) under a KUBELAB_HOME of its own."""
    monkeypatch.setenv("KUBELAB_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "labs" / LAB
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text(SPEC)
    return folder


def store_exam(folder, started_at: float, minutes: int = 120, seed: int = 5, tasks: int = 5) -> dict:
    """An exam as `exam start` records it, planned from the real catalogue."""
    spec = load_spec(folder / "spec.yaml")
    found = catalogue()
    planned = exam.plan({n: e.domain for n, e in found.items()}, seed, tasks)
    doc = exam.exam_document(spec, planned, found, tasks, (), minutes, started_at)
    (folder / exam.EXAM_FILE).write_text(json.dumps(doc))
    return doc


def state(folder) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["exam", *args, "--lab", LAB])
    out = capsys.readouterr()
    return code, out.out, " ".join(out.err.split())


BAD_STARTS = [
    (["--seed", "-1"], "--seed -1: out of range. Fix: use a whole number from 0 to 4294967295"),
    (["--seed", str(2**32)], "--seed 4294967296: out of range"),
    (["--tasks", "0"], "--tasks 0: an exam needs at least 1 task. Fix:"),
    (["--tasks", "1000"], "--tasks 1000: the catalogue"),
    (["--minutes", "0"], "--minutes 0: an exam needs at least 1 minute. Fix:"),
    (["--minutes", "-10"], "--minutes -10: an exam needs at least 1 minute"),
    (["--task", "no-such-exercise"], "--task no-such-exercise: no such exercise"),
    (["--tasks", "1", "--task", sorted(catalogue())[0], "--task", sorted(catalogue())[1]],
     "--task: 2 exercises pinned, but --tasks is 1"),
]


@pytest.mark.parametrize("args, message", BAD_STARTS, ids=[" ".join(a) for a, _ in BAD_STARTS])
def test_a_bad_start_says_what_and_how_to_fix_it_and_changes_nothing(lab, capsys, args, message):
    before_exam = store_exam(lab, time.time() - 60)
    before = state(lab)

    code, out, err = run(capsys, "start", "--yes", *args)

    assert code == 2 and message in err and "Fix:" in err, err
    assert "Traceback" not in err and out == ""
    assert state(lab) == before  # the running exam and everything else untouched, no lock file made
    assert exam.load_exam(load_spec(lab / "spec.yaml")) == before_exam


@pytest.mark.parametrize("verb", ["time", "paper", "grade", "review", "solve"])
def test_a_verb_without_an_exam_says_start_one_and_changes_nothing(lab, capsys, verb):
    before = state(lab)

    code, out, err = run(capsys, verb, *(["--yes"] if verb == "solve" else []))

    assert code == 2, err
    assert f"lab {LAB} has no exam started" in err and "Fix: `kubelab exam start` first" in err
    assert state(lab) == before


def test_review_before_the_grade_refuses_and_shows_no_answer(lab, capsys):
    store_exam(lab, time.time() - 60, seed=9)
    before = state(lab)

    code, out, err = run(capsys, "review")

    assert code == 2 and out == ""
    assert "(seed 9, started" in err and "has not been graded" in err and "Fix: `kubelab exam grade` first" in err
    assert state(lab) == before


def test_a_result_of_an_earlier_exam_does_not_unlock_the_review_of_this_one(lab, capsys):
    earlier = store_exam(lab, time.time() - 7200, seed=1)
    grades = [{"exercise": t["exercise"], "score": 0, "points": t["points"], "note": "", "checks": []}
              for t in earlier["tasks"]]
    (lab / exam.RESULT_FILE).write_text(json.dumps(exam.result_document(earlier, grades, time.time())))
    store_exam(lab, time.time() - 60, seed=2)

    code, _, err = run(capsys, "review")

    assert code == 2 and "(seed 2, started" in err and "has not been graded" in err


def test_time_shows_what_is_left(lab, capsys):
    store_exam(lab, time.time() - 600, minutes=120)

    code, out, _ = run(capsys, "time")

    assert code == 0
    left = out.split()[0]
    assert left in ("1:50:00", "1:49:59", "1:49:58"), out  # a second or two pass while the test runs
    assert "left of 2:00:00" in out


def test_time_says_when_time_is_up(lab, capsys):
    store_exam(lab, time.time() - 3600, minutes=45)

    code, out, _ = run(capsys, "time")

    assert code == 0 and out.startswith("time is up: the 45 minutes ended 0:15:0") and "kubelab exam grade" in out


def test_the_paper_is_printed_again_from_the_stored_exam(lab, capsys):
    stored = store_exam(lab, time.time() - 60, seed=77, tasks=5)

    code, out, _ = run(capsys, "paper")

    assert code == 0
    assert f"seed 77, Kubernetes {stored['kubernetes']}, catalogue sha256:" in out
    for t in stored["tasks"]:
        assert f"Task {t['number']} ({t['points']} points): {t['title']}" in out
        assert catalogue()[t["exercise"]].task.strip().splitlines()[0] in out
    assert sum(d in out for d in DOMAINS) >= 3


def test_tasks_run_side_by_side_at_most_workers_at_once_and_come_back_in_task_order():
    running, most, lock = [0], [0], threading.Lock()

    def work(name, console):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        console.print("each task writes to a console of its own")
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return name.upper()

    names = [f"task-{i}" for i in range(20)]
    started = time.monotonic()
    assert exam.each_task(names, work, Console(file=io.StringIO()), "working") == [n.upper() for n in names]
    assert most[0] == exam.WORKERS
    assert time.monotonic() - started < 20 * 0.05  # side by side, not one after another


def test_a_failing_task_is_named_after_the_others_finished():
    finished = []

    def work(name, console):
        if name == "broken":
            raise KubelabError("its setup did not apply")
        time.sleep(0.05)
        finished.append(name)

    with pytest.raises(KubelabError, match=r"setting up: task 2 \(broken\): its setup did not apply$"):
        exam.each_task(["a", "broken", "c"], work, Console(file=io.StringIO()), "setting up")
    assert sorted(finished) == ["a", "c"]


def test_after_forget_exam_the_next_student_has_no_exam_and_no_result(lab, capsys):
    store_exam(lab, time.time())
    (lab / exam.RESULT_FILE).write_text("{}")
    exam.forget_exam(load_spec(lab / "spec.yaml"))
    assert not (lab / exam.EXAM_FILE).exists() and not (lab / exam.RESULT_FILE).exists()
    code, _, err = run(capsys, "time")
    assert code == 2 and "has no exam started" in err
