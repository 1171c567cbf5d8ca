"""Benchmark: seconds to grade each exercise on a solved lab, all of them, and one graded 10 times in a row.

    python tests/benchmarks/bench_grade.py [--lab NAME] [--repeat N] [--json] [--keep]

Uses a lab of its own ("bench-grade" unless --lab names another), built first
when it has no baseline (that time is reported apart). Each exercise is
started, solved with its reference answer and graded through the library the
CLI calls; a grade short of full marks stops the benchmark, so every figure is
the time of a passing grade. The repeated grades of the article (kill -9 of
both containers each time) show whether the kubelet's back-off slows the
later ones. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from figures import built_lab, print_figures
from kubelab import student
from kubelab.catalogue import catalogue
from kubelab.local import nodes
from kubelab.spec import load_spec

REPEATED = "multi-container-pods"


def timed_grade(spec, name: str, console: Console) -> float:
    started = time.monotonic()
    grade = student.grade(spec, name, console)
    seconds = round(time.monotonic() - started, 1)
    if grade.score != grade.points:
        failed = [(r.check.id, r.verdict.seen) for r in grade.results if not r.verdict.passed]
        raise SystemExit(f"{name}: the reference answer scored {grade.score}/{grade.points}: {failed}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="bench-grade")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    args = parser.parse_args()
    console = Console(stderr=True)
    figures: dict = {}
    try:
        spec = load_spec(built_lab(args.lab, figures, console))
        total = 0.0
        for name in sorted(catalogue()):
            student.start(spec, name, console)
            student.solve(spec, name, console)
            seconds = timed_grade(spec, name, console)
            figures[f"grade {name} (solved)"] = seconds
            total += seconds
        figures["grade all exercises, summed (s)"] = round(total, 1)
        student.start(spec, REPEATED, console)
        student.solve(spec, REPEATED, console)
        runs = [timed_grade(spec, REPEATED, console) for _ in range(args.repeat)]
        figures[f"grade {REPEATED} {args.repeat} times in a row (s)"] = runs
        figures["first vs last of those (s)"] = [runs[0], runs[-1]]
    finally:
        if not args.keep:
            nodes.down(args.lab, missing_ok=True)
    print_figures(figures, "kubelab grading: 2-node local lab, reference answers", args.json)


if __name__ == "__main__":
    main()
