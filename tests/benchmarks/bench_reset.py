"""Benchmark: seconds for `kubelab reset` of a 2-node lab, workloads depth and cluster depth.

    python tests/benchmarks/bench_reset.py [--lab NAME] [--runs N] [--json] [--keep]

Uses a lab of its own ("bench-reset" unless --lab names another) and builds it
first when it has no baseline (that time is reported apart). Before each reset
it applies the student's mess of the e2e test (tests/fixtures/manifests/
student-mess.yaml) and waits for its pods, then times the CLI exactly as CI
runs it (`kubelab reset --yes --json`), so each figure includes Python start-up,
the deletions, the exercise re-apply and the verification of every node. A reset
that does not end clean stops the benchmark. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from figures import print_figures
from kubelab.baseline import load_baseline
from kubelab.cluster import Cluster, load_manifests
from kubelab.deploy import run_deploy
from kubelab.local import nodes
from kubelab.spec import load_spec

MESS = Path(__file__).parents[1] / "fixtures" / "manifests" / "student-mess.yaml"
MESS_TIMEOUT = 180


def make_a_mess(spec) -> None:
    cluster = Cluster.for_lab(spec)
    manifests = load_manifests([MESS])
    # A namespaced object's server-side dry run needs its namespace to exist already.
    cluster.apply([m for m in manifests if m.kind == "Namespace"])
    cluster.apply([m for m in manifests if m.kind != "Namespace"])
    for m in manifests:
        if m.kind == "Pod":
            cluster.wait_for_pods(m.namespace, [m.name], MESS_TIMEOUT)
    deadline = time.monotonic() + MESS_TIMEOUT
    while (cluster.get("apps/v1", "Deployment", "web", "default") or {}).get("status", {}).get("readyReplicas") != 2:
        if time.monotonic() > deadline:
            raise SystemExit("the mess's Deployment web did not get 2 ready replicas")
        time.sleep(1)


def timed_reset(spec_path: Path, *args: str) -> float:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "kubelab", "reset", "--yes", "--json", "--spec", str(spec_path), *args],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800)
    seconds = round(time.monotonic() - started, 1)
    if result.returncode != 0:
        Console(stderr=True).print(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"kubelab reset {' '.join(args)} did not end clean (exit {result.returncode})")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="bench-reset")
    parser.add_argument("--runs", type=int, default=3, help="workloads resets to time (default 3)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the lab running")
    args = parser.parse_args()
    console = Console(stderr=True)
    figures: dict[str, float | list[float]] = {}
    spec_path = nodes.spec_path(args.lab)
    try:
        if not spec_path.exists() or load_baseline(load_spec(spec_path)) is None:
            started = time.monotonic()
            nodes.down(args.lab, missing_ok=True)
            spec_path = nodes.up(args.lab, 2, console=console)
            built = run_deploy(spec_path)
            if built.returncode != 0:
                console.print(built.output[-4000:])
                raise SystemExit("the lab's deploy failed")
            figures["lab built (nodes up + deploy), not a reset"] = round(time.monotonic() - started, 1)
        spec = load_spec(spec_path)
        runs = []
        for run in range(args.runs):
            make_a_mess(spec)
            runs.append(timed_reset(spec_path))
            console.print(f"workloads reset {run + 1}: {runs[-1]} s")
        figures["workloads reset, each run (s)"] = runs
        figures["workloads reset, median (s)"] = statistics.median(runs)
        make_a_mess(spec)
        figures["cluster reset (s)"] = timed_reset(spec_path, "--depth", "cluster")
        console.print(f"cluster reset: {figures['cluster reset (s)']} s")
    finally:
        if not args.keep:
            nodes.down(args.lab, missing_ok=True)

    print_figures(figures, "kubelab reset: 2-node local lab, mess of tests/fixtures/manifests/student-mess.yaml",
                  args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
