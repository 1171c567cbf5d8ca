"""`kubelab class up|status|reset|down|exam`: every student's lab of a class at once.

`up` makes the node containers of every lab (each its own isolated network,
state and lock), then deploys all the labs in ONE pyinfra run
(`KUBELAB_CLASS=FILE pyinfra inventories/class.py deploys/lab.py`), then runs
each lab's checks. The other verbs act on every lab in parallel, holding
every lab's lock, and report per student.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubelab import lablock, paths, report, versions
from kubelab.classroom import CLASS_ENV, ClassSpec, class_result, load_class, validate_vms
from kubelab.confirm import confirm
from kubelab.errors import KubelabError
from kubelab.local import nodes
from kubelab.timestamps import utc_iso

INVENTORY = "inventories/class.py"


class ClassFailed(KubelabError):
    """One or more students' labs failed a class-wide step; the others finished it."""


def _memory(value: str) -> str:
    why = nodes.memory_problem(value)
    if why:
        raise argparse.ArgumentTypeError(f"{why}. Fix: e.g. --memory 1536m")
    return value


def _cpus(value: str) -> float:
    try:
        cpus = float(value)
    except ValueError:
        cpus = value  # type: ignore[assignment]
    why = nodes.cpus_problem(cpus)
    if why:
        raise argparse.ArgumentTypeError(f"{why}. Fix: e.g. --cpus 1")
    return cpus


def register(sub) -> None:
    parser = sub.add_parser("class", help="a class: every student's lab built, reset, examined and removed at once")
    verbs = parser.add_subparsers(dest="verb", required=True)

    def verb(name: str, help: str, func: Callable) -> argparse.ArgumentParser:
        p = verbs.add_parser(name, help=help)
        p.add_argument("--class", dest="klass", type=Path, required=True, metavar="FILE",
                       help="the class spec (classes/example.yaml shows the format)")
        p.set_defaults(func=func)
        return p

    up = verb("up", "node containers for every student, one pyinfra run for all labs, then each lab's checks", _up)
    up.add_argument("--memory", type=_memory, help="cap of each node container (default: the spec's, else "
                                                   f"{nodes.Bounds.memory})")
    up.add_argument("--cpus", type=_cpus, help=f"cores each node container may use (default: the spec's, else "
                                               f"{nodes.Bounds.cpus:g})")
    status = verb("status", "every lab's nodes: running, Ready, memory and CPU now", _status)
    status.add_argument("--json", action="store_true", help="print the status as JSON on stdout")
    reset = verb("reset", "reset every lab's workloads in parallel, each verified clean", _reset)
    reset.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")
    reset.add_argument("--timeout", type=float, default=300.0, help="seconds each lab's waits may take")
    down = verb("down", "remove the class's labs (containers, networks, state), and nothing else", _down)
    down.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")

    exam = verbs.add_parser("exam", help="an exam for every student: start, grade")
    exam_verbs = exam.add_subparsers(dest="exam_verb", required=True)
    for name, help, func in (("start", "reset every lab and start the class's exam on each", _exam_start),
                             ("grade", "grade every student's exam: a student x domain table", _exam_grade)):
        p = exam_verbs.add_parser(name, help=help)
        p.add_argument("--class", dest="klass", type=Path, required=True, metavar="FILE", help="the class spec")
        p.set_defaults(func=func)
    start = exam_verbs.choices["start"]
    start.add_argument("--seed", type=int, help="the paper's seed (default: the spec's exam.seed, else random)")
    start.add_argument("--yes", action="store_true", help="do not ask before resetting the labs")
    grade = exam_verbs.choices["grade"]
    grade.add_argument("--json", action="store_true", help="print the class result document on stdout")
    grade.add_argument("--html", type=Path, metavar="FILE", help="also write the class page to FILE")


@contextlib.contextmanager
def _holding(labs: list[str]) -> Iterator[None]:
    """Every lab's lock, taken here in one thread (holding one sets the environment child processes read)."""
    with contextlib.ExitStack() as stack:
        for lab in labs:
            stack.enter_context(lablock.hold(lab))
        yield


def _each(klass: ClassSpec, work: Callable, console: Console) -> dict[str, object]:
    """`work(student)` for every student at once; the results, or the error each lab raised, by student."""
    def run(student):
        try:
            return work(student)
        except Exception as exc:  # one lab's failure must not hide the others' results
            return exc

    with ThreadPoolExecutor(max_workers=len(klass.students)) as pool:
        results = dict(zip((s.name for s in klass.students), pool.map(run, klass.students)))
    for student, result in results.items():
        if isinstance(result, Exception):
            console.print(Text.assemble((f"{student}: ", "bold red"), f"{type(result).__name__}: {result}"))
    return results


def _failed(results: dict[str, object], what: str) -> None:
    failed = sorted(s for s, r in results.items() if isinstance(r, Exception))
    if failed:
        raise ClassFailed(f"{what} failed for {', '.join(failed)} (each error is printed above). "
                          "Fix: correct what it names and run the same command again; finished labs are kept")


def _up(args) -> int:
    from kubelab.bundle.build import build_bundle
    from kubelab.deploy import run_deploy

    console = Console(stderr=True)
    klass = load_class(args.klass)
    bounds = nodes.Bounds(args.memory or klass.bounds.memory, args.cpus or klass.bounds.cpus)
    timings: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(name: str) -> Iterator[None]:
        console.rule(name)
        started = time.monotonic()
        yield
        timings[name] = time.monotonic() - started

    with _holding(klass.labs):
        if klass.provider == "local":
            with timed("bundle"):
                build_bundle(versions.release(klass.kubernetes), console)
            with timed(f"nodes ({len(klass.students)} labs x {klass.nodes})"):
                for s in klass.students:
                    nodes.up(s.lab, klass.nodes, klass.kubernetes, console, bounds=bounds)
        else:
            validate_vms(klass)
        os.environ[CLASS_ENV] = str(klass.path.resolve())
        with timed("deploy (one pyinfra run)"), console.status(f"{CLASS_ENV}={klass.path} pyinfra {INVENTORY} "
                                                              "deploys/lab.py"):
            deployed = run_deploy(klass.path.resolve(), inventory=INVENTORY)
        if deployed.returncode != 0 or deployed.errors:
            console.print(Text(deployed.output[-4000:]))
        deployed.check()
        console.print(f"deploy: {deployed.changed} change(s), {deployed.unchanged} already in place")
        with timed("checks"):
            results = _each(klass, lambda s: _checks(klass, s), console)
    timings["total"] = sum(timings.values())
    return _verdicts_table(klass, f"class {klass.name}", "checks passed", results, timings, "the checks")


def _verdicts_table(klass: ClassSpec, title: str, column: str, results: dict[str, object],
                    timings: dict[str, float], what: str) -> int:
    """Each student's verdicts passed, then the phases' seconds; the exit code for them all."""
    table = Table(title=title)
    for name in ("student", "lab", column):
        table.add_column(name)
    for student in klass.students:
        verdicts = results[student.name]
        table.add_row(student.name, student.lab, "error" if isinstance(verdicts, Exception) else
                      f"{sum(v.passed for v in verdicts)}/{len(verdicts)}")
    for name, seconds in timings.items():
        table.add_row("", name, f"{seconds:.1f} s", style="bold" if name == "total" else "dim")
    Console().print(table)
    for student in klass.students:
        verdicts = results[student.name]
        for v in [] if isinstance(verdicts, Exception) else [v for v in verdicts if not v.passed]:
            Console().print(Text(f"{student.lab}: {v.check} on {v.node}: {v.status}: expected {v.expected}; "
                                 f"seen {v.seen}", style="red"))
    _failed(results, what)
    return 0 if all(report.exit_code(v) == 0 for v in results.values()) else 1


def _checks(klass: ClassSpec, student):
    """The lab's exercise checks, quietly: several labs' progress bars cannot share one terminal."""
    from kubelab.checks import Lab
    from kubelab.exercises import checks_for, exercises_for

    spec = klass.lab_spec(student)
    with Lab.open(spec) as lab:
        return report.run_checks(checks_for(exercises_for(spec)), lab, Console(quiet=True))


def _status(args) -> int:
    console = Console(stderr=True)
    klass = load_class(args.klass)
    results = _each(klass, lambda s: _lab_status(klass, s), console)
    doc = {"class": klass.name, "labs": [{"student": s, **r} if isinstance(r, dict) else
                                         {"student": s, "error": str(r)} for s, r in results.items()]}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    table = Table(title=f"class {klass.name}")
    for column, justify in (("student", "left"), ("lab", "left"), ("Ready", "right"), ("node", "left"),
                            ("working set", "right"), ("memory (podman)", "right"), ("cap", "right"),
                            ("CPU", "right")):
        table.add_column(column, justify=justify)
    for lab in doc["labs"]:
        ready = lab.get("ready", lab.get("error", ""))
        rows = lab.get("nodes") or [{}]
        for i, node in enumerate(rows):
            table.add_row(lab["student"] if i == 0 else "", lab.get("lab", "") if i == 0 else "",
                          str(ready) if i == 0 else "", node.get("node", "-"),
                          _mib(node.get("working_set_bytes")), _mib(node.get("memory_bytes")), _mib(node.get("limit_bytes")),
                          f"{node['cpu_percent']:.1f}%" if node else "")
    Console().print(table)
    return 0


def _mib(value: int | None) -> str:
    return "" if value is None else f"{value / 2**20:.0f} MiB"


def _lab_status(klass: ClassSpec, student) -> dict:
    from kubernetes import client as k8s_client

    from kubelab.cluster import Cluster

    spec = klass.lab_spec(student)
    listed = k8s_client.CoreV1Api(Cluster.for_lab(spec).api_client).list_node(_request_timeout=10).items
    ready = sum(any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or []) for n in listed)
    usage = nodes.usage(student.lab) if klass.provider == "local" else []
    return {"lab": student.lab, "ready": f"{ready}/{len(spec.nodes)}",
            "nodes": [{**vars(u), "node": u.container.removeprefix(f"kubelab-{student.lab}-")} for u in usage]}


def _reset(args) -> int:
    console = Console(stderr=True)
    klass = load_class(args.klass)
    confirm(klass.name, f"reset every lab of class {klass.name}",
            f"Reset the workloads of {', '.join(klass.labs)}: everything the students made is deleted.",
            yes=args.yes, interactive=sys.stdin.isatty(), ask=console.input)
    started = time.monotonic()
    with _holding(klass.labs):
        results = _each(klass, lambda s: _reset_lab(klass, s, args.timeout), console)
    return _verdicts_table(klass, f"class {klass.name}: workloads reset", "verified clean", results,
                           {"total": time.monotonic() - started}, "the reset")


def _reset_lab(klass: ClassSpec, student, timeout: float):
    from kubelab.checks import Lab
    from kubelab.cluster import Cluster
    from kubelab.reset import WORKLOADS, preflight, reset_workloads
    from kubelab.ssh import SSHPool

    spec = klass.lab_spec(student)
    with SSHPool(spec) as pool:
        cluster = Cluster.for_lab(spec)
        pre = preflight(spec, WORKLOADS, pool, cluster)
        return reset_workloads(spec, Lab(spec, cluster, pool), pre.baseline, timeout, Console(quiet=True))


def _down(args) -> int:
    console = Console(stderr=True)
    klass = load_class(args.klass)
    if klass.provider != "local":
        raise KubelabError(f"{klass.path}: provider {klass.provider}: the students' machines are not kubelab's to "
                           "remove. Fix: remove the VMs where they were made; `kubelab reset --depth cluster` "
                           "empties one")
    plans = [nodes.teardown_plan(lab, missing_ok=True) for lab in klass.labs]
    console.print(Text("\n".join(p.describe() for p in plans if not p.empty) or f"class {klass.name}: no lab left"))
    confirm(klass.name, f"remove every lab of class {klass.name}", "This cannot be undone.", yes=args.yes,
            interactive=sys.stdin.isatty(), ask=console.input)
    with _holding(klass.labs):
        # Found again under the locks, each only by its lab's exact label: no other lab is touched.
        results = _each(klass, lambda s: nodes.remove(nodes.teardown_plan(s.lab, missing_ok=True)), console)
    _failed(results, "removing the lab")
    shutil.rmtree(_class_dir(klass), ignore_errors=True)
    console.print(f"removed class {klass.name}: {sum(len(r) for r in results.values())} node container(s)")
    return 0


def _class_dir(klass: ClassSpec) -> Path:
    """Where the class's last result document is kept (the name passed the lab name rule: no path tricks)."""
    return paths.state_dir() / "classes" / klass.name


def _exam_start(args) -> int:
    from kubelab import exam

    console = Console(stderr=True)
    klass = load_class(args.klass)
    settings = klass.exam
    seed = settings.seed if args.seed is None else args.seed
    # One seed for the class: every student gets the same paper.
    seed = exam.fresh_seed() if seed is None else seed
    confirm(klass.name, f"start an exam on every lab of class {klass.name}",
            f"Reset {', '.join(klass.labs)} and start a {settings.tasks}-task, {settings.minutes}-minute exam.",
            yes=args.yes, interactive=sys.stdin.isatty(), ask=console.input)
    with _holding(klass.labs):
        results = _each(klass, lambda s: exam.start(klass.lab_spec(s), Console(quiet=True), seed=seed,
                                                    tasks=settings.tasks, minutes=settings.minutes), console)
    _failed(results, "starting the exam")
    console.print(f"exam started on {len(results)} lab(s): seed {seed}, {settings.tasks} tasks, "
                  f"{settings.minutes} minutes")
    return 0


def _exam_grade(args) -> int:
    from kubelab import exam

    console = Console(stderr=True)
    klass = load_class(args.klass)
    with _holding(klass.labs):
        results = _each(klass, lambda s: exam.grade(klass.lab_spec(s), Console(quiet=True)), console)
    # Through JSON, as stored: exam.grade's dict holds tuples where the document has lists.
    exams = {s: (None if isinstance(r, Exception) else json.loads(json.dumps(r))) for s, r in results.items()}
    doc = class_result(klass, exams, _domains(exams), utc_iso())
    paths.write_private(_class_dir(klass) / "result.json", json.dumps(doc, indent=2))
    if args.html:
        from kubelab.exam_page import render_class

        args.html.write_text(render_class(doc))
        console.print(f"class page: {args.html}")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        Console().print(class_table(doc))
    return 0 if all(s["passed"] for s in doc["students"]) else 1


def _domains(exams: dict[str, dict | None]) -> list[str]:
    """The curriculum's domains in order, as the exam documents list them."""
    for doc in exams.values():
        if doc:
            return [d["name"] for d in doc["domains"]]
    from kubelab import curriculum

    return list(curriculum.DOMAINS)


def class_table(doc: dict) -> Table:
    """The class result as student x domain percentages, with each total against the pass mark."""
    # Numbered columns: five domain names side by side do not fit a terminal.
    legend = "  ".join(f"{i}: {d}" for i, d in enumerate(doc["domains"], 1))
    table = Table(title=f"class {doc['class']} (pass mark {doc['pass_mark']}%)", caption=legend)
    table.add_column("student")
    for i, _ in enumerate(doc["domains"], 1):
        table.add_column(f"domain {i}", justify="right")
    table.add_column("total", justify="right")
    for student in doc["students"]:
        cells = ["-" if student["domains"].get(d) is None else f"{student['domains'][d]:.0f}%"
                 for d in doc["domains"]]
        total = "no exam" if student["exam"] is None else \
            f"{student['percent']:.1f}% {'pass' if student['passed'] else 'fail'}"
        table.add_row(student["student"], *cells, Text(total, style="green" if student["passed"] else "red"))
    return table
