"""An exam: tasks drawn from the catalogue by the curriculum's weights, timed, graded per domain, reviewed.

    paper = exam.start(spec, console, seed=7)   # plan, reset the lab, every task's setup, the timer started
    exam.time_left(spec)                         # seconds (negative: how long ago time was up)
    doc = exam.grade(spec, console)              # the exam result document, also stored in the lab's state
    exam.review(spec)                            # failed checks and reference answers, only after a grade

The plan is a pure function of the seed, the task count, the pinned tasks
and the catalogue: `random.Random(seed)` over sorted names, so the same seed
and catalogue give the same exam on any machine. The exam records digests of
the catalogue and of the pinned version table so that claim can be checked.
Every bad input is refused before the lab is touched.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import secrets
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from kubelab import paths, student, versions
from kubelab.catalogue import EXERCISES_DIR, SOLUTION, Exercise, catalogue
from kubelab.checks import PASS, Lab
from kubelab.cluster import Cluster
from kubelab.curriculum import DOMAINS, EXAM_MINUTES, EXAM_TASKS, PASS_MARK, WEIGHTS
from kubelab.errors import KubelabError
from kubelab.reset import WORKLOADS, describe, preflight, reset_workloads
from kubelab.spec import LabSpec
from kubelab.timestamps import epoch_of, utc_iso
from kubelab.ssh import SSHPool

EXAM_FILE, RESULT_FILE = "exam.json", "exam-result.json"
SEED_MAX = 2**32 - 1
# Each start and grade opens its own SSH connections to the nodes; sshd drops new
# connections at random beyond MaxStartups (10 unauthenticated at once by default).
WORKERS = 8
RESET_TIMEOUT = 300.0


class ExamError(KubelabError):
    """Bad exam input, or no exam (or no grade) to act on; nothing was changed."""


# -- planning (pure) ---------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    seed: int
    exercises: tuple[str, ...]  # in task order: task 1 first
    shares: dict[str, int]  # tasks per domain, every domain in curriculum order
    notes: tuple[str, ...]  # where the shares differ from the weights, and why


def apportion(count: int, weights: Mapping[str, int], low: Mapping[str, int] | None = None,
              high: Mapping[str, int] | None = None) -> dict[str, int]:
    """`count` seats by weight, each domain within [low, high]: the largest remainder method, seat by seat.

    From the lower bounds, every next seat goes to the domain furthest below
    its exact share (count * weight / total) that is still under its upper
    bound; ties go to the first in `weights`' order. Without bounds that is
    the largest remainder method (floors first, then the largest fractions);
    a domain held to its bound leaves its seats to the next largest shares.
    The caller guarantees sum(low) <= count <= sum(high).
    """
    total = sum(weights.values())
    exact = {d: Fraction(count * w, total) for d, w in weights.items()}
    seats = {d: (low or {}).get(d, 0) for d in weights}
    for _ in range(count - sum(seats.values())):
        open_ = [d for d in weights if high is None or seats[d] < high[d]]
        seats[max(open_, key=lambda d: exact[d] - seats[d])] += 1
    return seats


def plan(domain_of: Mapping[str, str], seed: int, count: int, pinned: tuple[str, ...] = ()) -> Plan:
    """Which exercises an exam of `count` tasks holds; an ExamError for any bad input.

    `domain_of` maps every exercise of the catalogue to its domain. Pinned
    exercises (`--task`) are in the exam and count toward their domain.
    """
    check_seed(seed)
    if count < 1:
        raise ExamError(f"--tasks {count}: an exam needs at least 1 task. Fix: give --tasks a whole number from 1 "
                        f"to {len(domain_of)} (default {EXAM_TASKS})")
    if count > len(domain_of):
        raise ExamError(f"--tasks {count}: the catalogue ({EXERCISES_DIR}) holds {len(domain_of)} exercises. "
                        f"Fix: use --tasks {len(domain_of)} or fewer, or add exercise folders")
    for name in pinned:
        if name not in domain_of:
            raise ExamError(f"--task {name}: no such exercise in {EXERCISES_DIR}. Fix: use one of: "
                            f"{', '.join(sorted(domain_of))}")
    twice = sorted({n for n in pinned if pinned.count(n) > 1})
    if twice:
        raise ExamError(f"--task {twice[0]}: given twice. Fix: name each exercise once")
    if len(pinned) > count:
        raise ExamError(f"--task: {len(pinned)} exercises pinned, but --tasks is {count}. Fix: pin at most "
                        f"{count}, or raise --tasks to {len(pinned)}")
    by_domain = {d: sorted(n for n, dom in domain_of.items() if dom == d) for d in DOMAINS}
    held = {d: [n for n in pinned if domain_of[n] == d] for d in DOMAINS}
    shares = apportion(count, WEIGHTS, {d: len(held[d]) for d in DOMAINS}, {d: len(by_domain[d]) for d in DOMAINS})
    rng = random.Random(seed)
    chosen: list[str] = []
    for d in DOMAINS:
        others = [n for n in by_domain[d] if n not in held[d]]
        chosen += held[d] + rng.sample(others, shares[d] - len(held[d]))
    rng.shuffle(chosen)
    return Plan(seed, tuple(chosen), shares, _share_notes(count, shares, by_domain, held))


def _share_notes(count: int, shares: dict[str, int], by_domain: dict[str, list[str]],
                 held: dict[str, list[str]]) -> tuple[str, ...]:
    by_weight = apportion(count, WEIGHTS)
    notes = []
    for d in DOMAINS:
        if shares[d] == by_weight[d]:
            continue
        if shares[d] < by_weight[d]:
            why = (f"the catalogue holds only {len(by_domain[d])} exercise(s) of it" if shares[d] == len(by_domain[d])
                   else "tasks pinned with --task in other domains take its place")
        elif shares[d] == len(held[d]):
            why = f"{len(held[d])} pinned with --task"
        else:
            why = "it takes the place of tasks other domains cannot fill"
        notes.append(f"{d}: {shares[d]} task(s), not the {by_weight[d]} its {WEIGHTS[d]}% of {count} gives: {why}")
    return tuple(notes)


def check_seed(seed: int) -> None:
    if not 0 <= seed <= SEED_MAX:
        raise ExamError(f"--seed {seed}: out of range. Fix: use a whole number from 0 to {SEED_MAX}, or leave "
                        f"--seed out for a fresh one")


def check_minutes(minutes: int) -> None:
    if minutes < 1:
        raise ExamError(f"--minutes {minutes}: an exam needs at least 1 minute. Fix: give --minutes a whole "
                        f"number of minutes (default {EXAM_MINUTES})")


def fresh_seed() -> int:
    return secrets.randbelow(SEED_MAX + 1)


# -- what makes two exams the same ------------------------------------------------

def catalogue_digest(root: Path = EXERCISES_DIR) -> str:
    """sha256 over every file of every exercise folder (path and content): the same digest, the same tasks and graders."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n"
                      .encode())
    return "sha256:" + digest.hexdigest()


def release_digest(spec: LabSpec) -> str:
    """sha256 of the version table the lab's release pins (versions, artifacts and their checksums)."""
    release = versions.release(spec.release.minor)
    table = {"release": asdict(release), "artifacts": [asdict(a) for a in release.artifacts()]}
    return "sha256:" + hashlib.sha256(json.dumps(table, sort_keys=True).encode()).hexdigest()


# -- the stored exam -------------------------------------------------------------

def exam_path(spec: LabSpec) -> Path:
    return paths.lab_dir(spec.name) / EXAM_FILE


def result_path(spec: LabSpec) -> Path:
    return paths.lab_dir(spec.name) / RESULT_FILE


def exam_document(spec: LabSpec, planned: Plan, exercises: Mapping[str, Exercise], count: int,
                  pinned: tuple[str, ...], minutes: int, started_at: float) -> dict:
    """What exam.json holds: everything the paper and the result need, so neither reads a changed catalogue."""
    return {
        "kind": "kubelab-exam", "version": 1, "lab": spec.name, "seed": planned.seed, "task_count": count,
        "pinned": list(pinned), "minutes": minutes, "started_at": utc_iso(started_at),
        "kubernetes": spec.release.kubernetes, "catalogue": catalogue_digest(), "release": release_digest(spec),
        "notes": list(planned.notes),
        "tasks": [{"number": i, "exercise": e.name, "title": e.title, "domain": e.domain,
                   "competency": e.competency, "namespaces": list(e.namespaces), "points": e.points}
                  for i, e in enumerate((exercises[n] for n in planned.exercises), 1)],
    }


def forget_exam(spec: LabSpec) -> None:
    """For the next student: no exam started, none graded."""
    for path in (exam_path(spec), result_path(spec)):
        path.unlink(missing_ok=True)


def load_exam(spec: LabSpec) -> dict:
    path = exam_path(spec)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ExamError(f"lab {spec.name} has no exam started ({path} does not exist). Fix: "
                        f"`kubelab exam start` first") from None
    except ValueError as exc:
        raise ExamError(f"{path}: not JSON ({exc}). Fix: start a new exam with `kubelab exam start`") from None
    if not isinstance(doc, dict) or doc.get("kind") != "kubelab-exam" or doc.get("lab") != spec.name:
        raise ExamError(f"{path}: not an exam of lab {spec.name}. Fix: start a new exam with `kubelab exam start`")
    return doc


def load_result(spec: LabSpec) -> dict:
    """The last grade of the current exam; an ExamError before the first."""
    exam = load_exam(spec)
    try:
        doc = json.loads(result_path(spec).read_text())
    except (FileNotFoundError, ValueError):
        doc = None
    if not isinstance(doc, dict) or (doc.get("seed"), doc.get("started_at")) != (exam["seed"], exam["started_at"]):
        raise ExamError(f"the exam on lab {spec.name} (seed {exam['seed']}, started {exam['started_at']}) has not "
                        f"been graded: the review and the reference answers come after the grade. Fix: "
                        f"`kubelab exam grade` first")
    return doc


# -- timing (pure over the clock) -----------------------------------------------------

def seconds_left(exam: dict, now: float) -> float:
    """Negative once time is up: how long ago it was."""
    return exam["minutes"] * 60 - (now - epoch_of(exam["started_at"]))


def time_left(spec: LabSpec, now: Callable[[], float] = time.time) -> float:
    return seconds_left(load_exam(spec), now())


def clock(seconds: float) -> str:
    """h:mm:ss of a duration."""
    whole = int(abs(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


# -- running every task ----------------------------------------------------------------

def each_task(names: list[str], work: Callable[[str, Console], Any], console: Console, what: str) -> list[Any]:
    """`work(name, console)` for every task, WORKERS at a time, one progress bar; the results in task order.

    Each task gets a console of its own: rich allows one live display per
    console, and the tasks' progress displays would interleave. A task that
    fails is named after the others finished.
    """
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress, ThreadPoolExecutor(WORKERS) as pool:
        bar = progress.add_task(what, total=len(names))
        futures = [pool.submit(work, name, Console(file=io.StringIO(), width=120)) for name in names]
        for future in futures:
            future.add_done_callback(lambda _: progress.advance(bar))
        errors = [(n, f.exception()) for n, f in enumerate(futures, 1) if f.exception() is not None]
    for number, exc in errors:
        if not isinstance(exc, KubelabError):
            raise exc
    if errors:
        raise KubelabError(f"{what}: " + "; ".join(f"task {n} ({names[n - 1]}): {exc}" for n, exc in errors))
    return [f.result() for f in futures]


# -- the verbs -------------------------------------------------------------------------

@dataclass(frozen=True)
class Paper:
    exam: dict  # exam.json
    tasks: tuple[Exercise, ...]  # in task order

    @property
    def seed(self) -> int:
        return self.exam["seed"]


def prepare(seed: int | None = None, tasks: int = EXAM_TASKS, minutes: int = EXAM_MINUTES,
            pinned: tuple[str, ...] = ()) -> Plan:
    """The plan, every input checked; nothing is touched. No seed: a fresh one, in the plan."""
    check_minutes(minutes)
    found = catalogue()
    return plan({n: e.domain for n, e in found.items()}, fresh_seed() if seed is None else seed, tasks, pinned)


def start(spec: LabSpec, console: Console, seed: int | None = None, tasks: int = EXAM_TASKS,
          minutes: int = EXAM_MINUTES, pinned: tuple[str, ...] = (),
          confirm: Callable[[str], None] | None = None, now: Callable[[], float] = time.time) -> Paper:
    """Plan, reset the lab's workloads, apply every task's setup, start the timer; returns the paper.

    `confirm(what)` is called once the lab is known to be resettable and
    before anything changes; it raises to stop. The timer starts when every
    setup is in place, when the candidate can begin.
    """
    planned = prepare(seed, tasks, minutes, pinned)
    found = catalogue()
    with SSHPool(spec) as pool:
        cluster = Cluster.for_lab(spec)
        pre = preflight(spec, WORKLOADS, pool, cluster)
        if confirm is not None:
            confirm(describe(spec, pre) + f"\nThen start a {len(planned.exercises)}-task exam of {minutes} minutes "
                                          f"(seed {planned.seed}).")
        # A half-started exam is no exam: the old one goes before the lab changes.
        forget_exam(spec)
        verdicts = reset_workloads(spec, Lab(spec, cluster, pool), pre.baseline, RESET_TIMEOUT, console)
    dirty = [v for v in verdicts if not v.passed]
    if dirty:
        raise ExamError(f"the reset left lab {spec.name} unclean ({'; '.join(f'{v.check}: {v.seen}' for v in dirty)}); "
                        f"no exam was started. Fix: `kubelab reset` shows the details; then start the exam again")
    each_task(list(planned.exercises), lambda name, c: student.start(spec, name, c), console, "setting up the tasks")
    exam = exam_document(spec, planned, found, tasks, pinned, minutes, now())
    paths.write_private(exam_path(spec), json.dumps(exam, indent=2) + "\n")
    return Paper(exam, tuple(found[n] for n in planned.exercises))


def paper(spec: LabSpec) -> Paper:
    """The current exam's paper, with each task's text as the catalogue has it."""
    exam = load_exam(spec)
    found = catalogue()
    missing = [t["exercise"] for t in exam["tasks"] if t["exercise"] not in found]
    if missing:
        raise ExamError(f"the exam's task(s) {', '.join(missing)} are no longer in {EXERCISES_DIR}. Fix: start a "
                        f"new exam")
    return Paper(exam, tuple(found[t["exercise"]] for t in exam["tasks"]))


def result_document(exam: dict, grades: list[dict], graded_at: float) -> dict:
    """The exam result document from the exam and each task's `student.Grade.to_dict()`, in task order."""
    limit = exam["minutes"] * 60
    elapsed = graded_at - epoch_of(exam["started_at"])
    tasks = [{"number": t["number"], "exercise": t["exercise"], "title": t["title"], "domain": t["domain"],
              "competency": t["competency"], "namespaces": t["namespaces"], "score": g["score"],
              "points": t["points"], "note": g["note"], "checks": g["checks"]}
             for t, g in zip(exam["tasks"], grades, strict=True)]
    domains = []
    for d in DOMAINS:
        mine = [t for t in tasks if t["domain"] == d]
        score, points = sum(t["score"] for t in mine), sum(t["points"] for t in mine)
        domains.append({"name": d, "weight": WEIGHTS[d], "score": score, "points": points,
                        "percent": _percent(score, points)})
    score, points = sum(t["score"] for t in tasks), sum(t["points"] for t in tasks)
    return {"kind": "kubelab-exam-result", "version": 1, "lab": exam["lab"], "seed": exam["seed"],
            "kubernetes": exam["kubernetes"], "started_at": exam["started_at"], "graded_at": utc_iso(graded_at),
            "minutes": exam["minutes"], "seconds_used": round(min(max(elapsed, 0.0), limit), 1),
            "time_up": elapsed >= limit, "pass_mark": PASS_MARK, "score": score, "points": points,
            "percent": _percent(score, points), "passed": points > 0 and score * 100 >= PASS_MARK * points,
            "domains": domains, "tasks": tasks}


def _percent(score: int, points: int) -> float:
    """0.0 for a domain the exam has no task of: its 0 points say it was not examined."""
    return round(100 * score / points, 1) if points else 0.0


def grade(spec: LabSpec, console: Console, now: Callable[[], float] = time.time) -> dict:
    """Grade every task as the lab stands now; the exam result document, stored beside the exam."""
    exam = load_exam(spec)
    graded_at = now()
    grades = each_task([t["exercise"] for t in exam["tasks"]],
                       lambda name, c: student.grade(spec, name, c).to_dict(), console, "grading the tasks")
    text = json.dumps(result_document(exam, grades, graded_at), indent=2)
    paths.write_private(result_path(spec), text + "\n")
    # What callers get is what was stored and what --json prints: JSON types (a verdict's tuples are lists).
    return json.loads(text)


def solve(spec: LabSpec, console: Console) -> list[Exercise]:
    """Every task's reference answer applied: for instructors and CI."""
    exam = load_exam(spec)
    return each_task([t["exercise"] for t in exam["tasks"]], lambda name, c: student.solve(spec, name, c), console,
                     "applying the reference answers")


@dataclass(frozen=True)
class Review:
    number: int
    exercise: str
    title: str
    score: int
    points: int
    note: str  # why a task scored nothing at all (never started)
    failed: tuple[dict, ...]  # the result's checks that did not pass
    answer: str  # the solution's manifests, and the kubectl commands where the exercise has them


def reference_answer(chosen: Exercise) -> str:
    parts = [f"# {p.relative_to(chosen.folder)}\n{p.read_text().rstrip()}" for p in chosen.manifests(SOLUTION)]
    if chosen.imperative:
        parts.append("# or typed as kubectl commands:\n" + "\n".join(f"$ {line}" for line in chosen.imperative))
    return "\n\n".join(parts)


def review(spec: LabSpec) -> list[Review]:
    """After a grade: per task, what failed (expected, seen, hint) and the reference answer."""
    doc = load_result(spec)
    found = catalogue()
    return [Review(t["number"], t["exercise"], t["title"], t["score"], t["points"], t["note"],
                   tuple(c for c in t["checks"] if c["verdict"]["status"] != PASS),
                   reference_answer(found[t["exercise"]]) if t["exercise"] in found else
                   f"(the exercise {t['exercise']} is no longer in {EXERCISES_DIR})")
            for t in doc["tasks"]]
