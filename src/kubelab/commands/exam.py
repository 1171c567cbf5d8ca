"""`kubelab exam start|time|paper|grade|review|solve`: a timed exam from the catalogue, graded per domain."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from kubelab import exam, lablock, paths, report
from kubelab.checks import Verdict
from kubelab.commands._lab_arg import lab_name
from kubelab.commands._spec_arg import spec_from_args
from kubelab.commands.exercise import kubectl_hint
from kubelab.confirm import confirm
from kubelab.curriculum import EXAM_MINUTES, EXAM_TASKS
from kubelab.spec import LabSpec, load_spec


def register(sub) -> None:
    parser = sub.add_parser("exam", help="a timed exam from the catalogue by the CKAD domain weights: start, "
                                         "time, paper, grade, review")
    verbs = parser.add_subparsers(dest="verb", required=True)
    start = verbs.add_parser("start", help="plan the tasks, reset the lab, set every task up, print the paper and "
                                           "start the timer")
    start.add_argument("--seed", type=int, help=f"the exam's seed, 0 to {exam.SEED_MAX}: the same seed and "
                                                "catalogue give the same exam (default: a fresh one, printed)")
    start.add_argument("--tasks", type=int, default=EXAM_TASKS, help=f"how many tasks (default {EXAM_TASKS})")
    start.add_argument("--minutes", type=int, default=EXAM_MINUTES, help=f"time allowed (default {EXAM_MINUTES})")
    start.add_argument("--task", action="append", default=[], metavar="NAME",
                       help="put this exercise in the exam (repeatable); it counts toward its domain's share")
    start.add_argument("--yes", action="store_true", help="do not ask before the reset (needed without a terminal)")
    start.set_defaults(func=_start)
    verbs.add_parser("time", help="the time left").set_defaults(func=_time)
    verbs.add_parser("paper", help="print the exam paper again").set_defaults(func=_paper)
    grade = verbs.add_parser("grade", help="grade every task: points per task, percent per domain, pass or fail")
    grade.add_argument("--json", action="store_true", help="print the exam result document as JSON on stdout")
    grade.add_argument("--junit", metavar="FILE", help="also write every check's verdict as JUnit XML to FILE")
    grade.add_argument("--html", metavar="FILE", help="also write the result as a self-contained HTML page to FILE")
    grade.set_defaults(func=_grade)
    verbs.add_parser("review", help="after grading: every failed check and each task's reference answer"
                     ).set_defaults(func=_review)
    solve = verbs.add_parser("solve", help="apply every task's reference answer (for instructors and CI)")
    solve.add_argument("--yes", action="store_true", help="confirm: this answers the whole exam")
    solve.set_defaults(func=_solve)
    for p in verbs.choices.values():
        where = p.add_mutually_exclusive_group()
        where.add_argument("--spec", type=Path, default=None,
                           help="lab spec file (default: $KUBELAB_SPEC, else the local lab's)")
        where.add_argument("--lab", type=lab_name, help="the lab's name: its spec in kubelab's state directory")


def _spec(args) -> LabSpec:
    return load_spec(paths.lab_dir(args.lab) / "spec.yaml") if args.lab else spec_from_args(args)


def _start(args) -> int:
    console = Console(stderr=True)
    # Every input is checked before the lab is looked at: a typo changes nothing.
    exam.prepare(args.seed, args.tasks, args.minutes, tuple(args.task))
    spec = _spec(args)
    with lablock.hold(spec.name):
        paper = exam.start(spec, console, args.seed, args.tasks, args.minutes, tuple(args.task),
                           confirm=lambda what: confirm(spec.name, f"reset lab {spec.name} for an exam", what,
                                                        yes=args.yes, interactive=sys.stdin.isatty(),
                                                        ask=console.input))
    print_paper(paper, spec, Console())
    if args.seed is None:
        pins = "".join(f" --task {name}" for name in args.task)
        console.print(f"seed {paper.seed}: `kubelab exam start --seed {paper.seed} --tasks {args.tasks}{pins}` sets "
                      f"the same exam again", markup=False)
    return 0


def print_paper(paper: exam.Paper, spec: LabSpec, console: Console) -> None:
    e = paper.exam
    total = sum(t["points"] for t in e["tasks"])
    console.print(Rule(f"CKAD practice exam, lab {spec.name}: {len(e['tasks'])} tasks, {total} points, "
                       f"{e['minutes']} minutes"))
    console.print(f"seed {e['seed']}, Kubernetes {e['kubernetes']}, catalogue {e['catalogue']}\n"
                  f"started {e['started_at']}; pass mark {exam.PASS_MARK}%", markup=False, soft_wrap=True)
    for note in e["notes"]:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    table = Table(title="tasks")
    for column in ("#", "exercise", "domain", "points", "namespaces"):
        table.add_column(column, overflow="fold")
    for t in e["tasks"]:
        table.add_row(str(t["number"]), escape(t["exercise"]), escape(t["domain"]), str(t["points"]),
                      escape(", ".join(t["namespaces"])))
    console.print(table)
    for t, chosen in zip(e["tasks"], paper.tasks):
        console.print(f"\n[bold]Task {t['number']} ({t['points']} points):[/] {escape(t['title'])}", soft_wrap=True)
        console.print(f"{t['domain']}; namespaces: {', '.join(t['namespaces'])}\n", markup=False)
        console.print(chosen.task.rstrip() + "\n", markup=False, highlight=False, soft_wrap=True)
    console.print(Rule())
    console.print(kubectl_hint(spec), markup=False)
    console.print("\nTime left: kubelab exam time. When done: kubelab exam grade", markup=False)


def _paper(args) -> int:
    spec = _spec(args)
    print_paper(exam.paper(spec), spec, Console())
    return 0


def _time(args) -> int:
    spec = _spec(args)
    left = exam.time_left(spec)
    e = exam.load_exam(spec)
    if left > 0:
        print(f"{exam.clock(left)} left of {exam.clock(e['minutes'] * 60)} (started {e['started_at']})")
    else:
        print(f"time is up: the {e['minutes']} minutes ended {exam.clock(left)} ago. Grade with "
              f"`kubelab exam grade`")
    return 0


def _grade(args) -> int:
    console = Console(stderr=True)
    spec = _spec(args)
    exam.load_exam(spec)  # no exam: said before the lock (a file) is taken
    # Exclusive: the graders' steps disrupt the lab (kill -9) and the result is recorded.
    with lablock.hold(spec.name):
        started = time.monotonic()
        doc = exam.grade(spec, console)
    console.print(f"graded {len(doc['tasks'])} task(s) in {time.monotonic() - started:.1f} s")
    if args.junit:
        report.write_junit([Verdict(**c["verdict"]) for t in doc["tasks"] for c in t["checks"]], args.junit)
    if args.html:
        from kubelab.exam_page import render_exam

        Path(args.html).write_text(render_exam(doc), encoding="utf-8")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        render_result(doc, Console())
    return 0 if doc["passed"] else 1


def render_result(doc: dict, console: Console) -> None:
    table = Table(title=f"exam on lab {doc['lab']} (seed {doc['seed']})")
    for column, kwargs in (("#", {"justify": "right"}), ("exercise", {}), ("domain", {}),
                           ("points", {"justify": "right"}), ("note", {"overflow": "fold"})):
        table.add_column(column, **kwargs)
    for t in doc["tasks"]:
        style = "green" if t["score"] == t["points"] else "red" if t["score"] == 0 else "yellow"
        table.add_row(str(t["number"]), escape(t["exercise"]), escape(t["domain"]),
                      f"[{style}]{t['score']}/{t['points']}[/]", escape(t["note"]))
    console.print(table)
    domains = Table(title="by domain")
    for column, kwargs in (("domain", {}), ("weight", {"justify": "right"}), ("points", {"justify": "right"}),
                           ("percent", {"justify": "right"})):
        domains.add_column(column, **kwargs)
    for d in doc["domains"]:
        percent = "no task" if not d["points"] else f"{d['percent']:.1f}%"
        domains.add_row(escape(d["name"]), f"{d['weight']}%", f"{d['score']}/{d['points']}", percent)
    console.print(domains)
    used = f"time used {exam.clock(doc['seconds_used'])} of {exam.clock(doc['minutes'] * 60)}"
    if doc["time_up"]:
        used += (f"; time was up before this grade: the lab was graded as it stood at {doc['graded_at']}, "
                 f"after the limit")
    console.print(used, markup=False)
    verdict = "[bold green]PASSED[/]" if doc["passed"] else "[bold red]NOT PASSED[/]"
    console.print(f"[bold]{doc['score']}/{doc['points']} points, {doc['percent']:.1f}%[/]: {verdict} "
                  f"(pass mark {doc['pass_mark']}%)")
    console.print("What went wrong and the reference answers: kubelab exam review", markup=False)


def _review(args) -> int:
    # Unwrapped: expected and seen quote the cluster, and the answers are YAML to copy.
    console = Console(soft_wrap=True)
    for r in exam.review(_spec(args)):
        console.print(f"\n[bold]Task {r.number} ({r.score}/{r.points} points):[/] {escape(r.title)}")
        for c in r.failed:
            v = c["verdict"]
            console.print(f"[{report.STYLE[v['status']]}]{v['status'].upper()}[/] {escape(c['id'])} "
                          f"({c['points']} point(s))")
            console.print(f"  expected: {v['expected']}", markup=False)
            console.print(f"  seen:     {v['seen']}", markup=False)
            console.print(f"  hint:     {c['hint']}", markup=False)
        if r.note:
            console.print(r.note, markup=False)
        if r.score == r.points:
            console.print("every check passed")
        console.print("reference answer:", style="bold")
        console.print(r.answer, markup=False, highlight=False)
    return 0


def _solve(args) -> int:
    spec = _spec(args)
    exam.load_exam(spec)
    confirm(spec.name, f"answer the exam on lab {spec.name}", "Apply every task's reference answer.",
            yes=args.yes, interactive=sys.stdin.isatty(), ask=Console(stderr=True).input)
    with lablock.hold(spec.name):
        exam.solve(spec, Console(stderr=True))
    return 0
