"""Benchmark: seconds from nothing to a checked 2-node lab, phase by phase.

    python tests/benchmarks/bench_lab.py [--json] [--keep]

Uses a lab of its own ("bench") with a warm bundle (it builds the bundle
first and reports that separately). Each deploy stage runs as its own
`pyinfra` invocation, so every figure includes pyinfra's connect and
fact-gathering overhead, as a user would see it. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console

from figures import print_figures
from kubelab import versions
from kubelab.bundle.build import build_bundle
from kubelab.checks import Lab
from kubelab.deploy import run_deploy
from kubelab.exercises import checks_for, exercises_for
from kubelab.local import nodes
from kubelab.report import run_checks
from kubelab.spec import load_spec

LAB = "bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the bench lab running")
    args = parser.parse_args()
    console = Console(stderr=True)
    figures: dict[str, float] = {}

    def timed(name, work):
        started = time.monotonic()
        result = work()
        figures[name] = round(time.monotonic() - started, 1)
        console.print(f"{name}: {figures[name]} s")
        return result

    def stage(name, stages):
        result = timed(name, lambda: run_deploy(spec_path, stages))
        if result.returncode != 0:
            console.print(result.output[-4000:])
            raise SystemExit(f"{name} failed")
        return result

    timed("bundle build (warm)", lambda: build_bundle(versions.release(versions.DEFAULT_MINOR), console))
    nodes.down(LAB, missing_ok=True)
    try:
        started = time.monotonic()
        spec_path = timed("nodes up (2 nodes)", lambda: nodes.up(LAB, 2, console=console))
        stage("runtime stage", "runtime")
        figures["nodes up -> runtime-ready"] = round(time.monotonic() - started, 1)
        again = stage("runtime stage re-run (idempotent)", "runtime")
        assert again.changed == 0, "the runtime re-run changed something"
        stage("kubeadm init (control-plane stage)", "control-plane")
        stage("kubeadm join (join stage)", "join")
        stage("CNI applied -> all nodes Ready (network stage)", "network")
        stage("exercise applied -> pod Running (exercises stage)", "exercises")
        figures["nodes up -> Ready cluster with exercise"] = round(time.monotonic() - started, 1)
        again = stage("full deploy re-run (idempotent)", None)
        figures["changes on full re-run"] = again.changed
        spec = load_spec(spec_path)
        with Lab.open(spec) as lab:
            verdicts = timed("check suite", lambda: run_checks(checks_for(exercises_for(spec)), lab, console))
            figures["ssh connections for the suite"] = lab.pool.counters.connections_opened
            figures["ssh commands for the suite"] = lab.pool.counters.commands_run
        for verdict in verdicts:
            figures[f"check: {verdict.check} ({verdict.status})"] = round(verdict.seconds, 2)
    finally:
        if not args.keep:
            nodes.down(LAB, missing_ok=True)

    print_figures(figures, "kubelab benchmark: 2-node local lab, warm bundle", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
