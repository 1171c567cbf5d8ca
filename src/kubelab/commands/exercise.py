"""`kubelab exercise list|start|grade|solve`: the candidate's flow through the catalogue."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubelab import paths, report, student
from kubelab.commands._spec_arg import add_spec_argument, locked_spec
from kubelab.spec import LabSpec


def register(sub) -> None:
    parser = sub.add_parser("exercise", help="the exercise catalogue: list, start, grade, solve")
    verbs = parser.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", help="every exercise: domain, points, last grade")
    listing.add_argument("--json", action="store_true", help="print the list as JSON on stdout")
    listing.set_defaults(func=_list)
    for verb, func, text in (("start", _start, "clean the exercise's namespaces, apply its setup, print the task"),
                             ("grade", _grade, "run the exercise's checks: points per check and the total"),
                             ("solve", _solve, "apply the reference solution (for instructors and tests)")):
        p = verbs.add_parser(verb, help=text)
        p.add_argument("name", help="the exercise (see `kubelab exercise list`)")
        if verb == "solve":
            p.add_argument("--imperative", action="store_true",
                           help="type the kubectl commands of imperative/commands.sh on the control plane instead")
        if verb == "grade":
            p.add_argument("--json", action="store_true", help="print the grade as JSON on stdout")
            p.add_argument("--junit", metavar="FILE", help="also write the verdicts as JUnit XML to FILE")
        p.set_defaults(func=func)
    for p in verbs.choices.values():
        add_spec_argument(p)


def _list(args) -> int:
    with locked_spec(args, shared=True) as spec:
        rows = student.list_exercises(spec)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    table = Table(title=f"exercises of lab {spec.name}")
    for column in ("exercise", "domain", "points", "last grade", "title"):
        table.add_column(column, overflow="fold")
    for r in rows:
        last = "-" if r.last_score is None else f"{r.last_score}/{r.points}"
        table.add_row(escape(r.name), escape(r.domain), str(r.points), last, escape(r.title))
    Console().print(table)
    return 0


def kubectl_hint(spec: LabSpec) -> str:
    """How the candidate reaches a kubectl of the lab's own version: on the control plane, as in the exam."""
    node = spec.control_plane
    lab = paths.lab_dir(spec.name)
    ssh = ["ssh", "-i", spec.ssh.key or str(lab / "id_ed25519"), "-o",
           f"UserKnownHostsFile={spec.ssh.known_hosts or lab / 'known_hosts'}", "-p", str(spec.ssh.port),
           f"{spec.ssh.user}@{node.address}"]
    # The admin kubeconfig is root's alone (0600): a sudo user reads it through sudo.
    sudo = "" if spec.ssh.user == "root" else "sudo "
    return (f"kubectl {spec.release.kubernetes} is on the control plane {node.name}:\n  {shlex.join(ssh)}\n"
            f"then:\n  alias kubectl='{sudo}kubectl --kubeconfig /etc/kubernetes/admin.conf'")


def _start(args) -> int:
    console = Console(stderr=True)
    with locked_spec(args) as spec:
        chosen = student.start(spec, args.name, console)
    print(chosen.task.rstrip() + "\n")
    print(kubectl_hint(spec))
    print(f"\nWhen done: kubelab exercise grade {chosen.name}")
    return 0


def _solve(args) -> int:
    with locked_spec(args) as spec:
        solve = student.solve_imperatively if args.imperative else student.solve
        solve(spec, args.name, Console(stderr=True))
    return 0


def _grade(args) -> int:
    # Exclusive: a grade's steps disrupt the lab (kill -9) and it records the score.
    with locked_spec(args) as spec:
        grade = student.grade(spec, args.name, Console(stderr=True))
    if args.junit:
        report.write_junit(grade.verdicts, args.junit)
    if args.json:
        print(json.dumps(grade.to_dict(), indent=2))
    else:
        render(grade, Console())
    return 0 if grade.results and grade.score == grade.points else 1


def render(grade: student.Grade, console: Console) -> None:
    table = Table(title=f"{grade.exercise.name}: {grade.exercise.title}")
    for column, kwargs in (("check", {}), ("points", {"justify": "right"}), ("verdict", {}),
                           ("seen", {"overflow": "fold"}), ("seconds", {"justify": "right"})):
        table.add_column(column, **kwargs)
    for r in grade.results:
        v = r.verdict
        table.add_row(escape(r.check.id), f"{r.earned}/{r.check.points}", f"[{report.STYLE[v.status]}]{v.status}[/]",
                      escape(v.seen), f"{v.seconds:.2f}")
    if grade.results:
        console.print(table)
    for r in grade.results:
        if r.verdict.passed:
            continue
        console.print(f"[{report.STYLE[r.verdict.status]}]{r.verdict.status.upper()}[/] {escape(r.check.id)}")
        console.print(f"  expected: {escape(r.verdict.expected)}")
        console.print(f"  seen:     {escape(r.verdict.seen)}")
        console.print(f"  hint:     {escape(r.check.hint)}")
    if grade.note:
        console.print(escape(grade.note))
    console.print(f"[bold]{grade.score}/{grade.points} points[/]")
