"""Benchmark: a CKAD-sized exam on a lab of its own: start, solve every task, grade; seconds for each.

    python tests/benchmarks/bench_exam.py [--lab NAME] [--seed N] [--tasks N] [--json] [--keep]

The exam is planned from the seed like `kubelab exam start --seed N` (default:
seed 1, 16 tasks), set up, solved with every task's reference answer and
graded through the library the CLI calls; a grade short of full marks stops
the benchmark, so the grade time is that of a passing exam. Tasks are graded
at once, so the slowest task's grade sets the time; its name and seconds are
a figure too. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from figures import built_lab, print_figures
from kubelab import exam
from kubelab.local import nodes
from kubelab.spec import load_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="bench-exam")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    args = parser.parse_args()
    console = Console(stderr=True)
    figures: dict = {}
    try:
        spec = load_spec(built_lab(args.lab, figures, console))
        started = time.monotonic()
        paper = exam.start(spec, console, seed=args.seed, tasks=args.tasks)
        figures[f"exam start: reset, {len(paper.tasks)} setups (s)"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        exam.solve(spec, console)
        figures["every reference answer applied (s)"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        result = exam.grade(spec, console)
        figures[f"exam grade, {len(result['tasks'])} tasks at once (s)"] = round(time.monotonic() - started, 1)
        if result["score"] != result["points"]:
            failed = [(t["exercise"], c["id"], c["verdict"]["seen"]) for t in result["tasks"] for c in t["checks"]
                      if c["verdict"]["status"] != "pass"]
            raise SystemExit(f"the solved exam scored {result['score']}/{result['points']}: {failed}")
        slowest = max(result["tasks"], key=lambda t: sum(c["verdict"]["seconds"] for c in t["checks"]))
        figures["slowest task, its checks' seconds"] = (
            f"{slowest['exercise']} {sum(c['verdict']['seconds'] for c in slowest['checks']):.1f}")
        figures["score"] = f"{result['score']}/{result['points']} ({result['percent']}%)"
    finally:
        if not args.keep:
            nodes.down(args.lab, missing_ok=True)
    print_figures(figures, f"kubelab exam: seed {args.seed}, {args.tasks} tasks, 2-node local lab", args.json)


if __name__ == "__main__":
    main()
