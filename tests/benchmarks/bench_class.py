"""Benchmark: seconds to build a class of N labs and memory per node, for each N asked.

    python tests/benchmarks/bench_class.py [--labs 1,2,4] [--nodes 2] [--json] [--keep]

Each N is a class of its own ("bench<N>", students s1..sN) built by the CLI a
teacher runs, `kubelab class up` (node containers, ONE pyinfra run for all
labs, then every lab's checks), and removed before the next N unless --keep.
Reported per N: seconds for the whole `class up` and per lab, whether every
lab passed its checks, and each node's working set and podman-reported memory
against its cap (from `kubelab class status --json`). The largest N with every
lab passing is the largest class this machine holds. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console

from figures import print_figures

KUBELAB = (sys.executable, "-m", "kubelab")
TIMEOUT = 3600


def class_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*KUBELAB, "class", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=TIMEOUT)


def measure(count: int, nodes: int, keep: bool, workdir: Path, console: Console) -> dict:
    path = workdir / f"bench{count}.yaml"
    path.write_text(yaml.safe_dump({"name": f"bench{count}", "nodes": nodes,
                                    "students": [f"s{i}" for i in range(1, count + 1)]}))
    class_cli("down", "--class", str(path), "--yes")
    figures: dict = {}
    try:
        started = time.monotonic()
        up = class_cli("up", "--class", str(path))
        seconds = time.monotonic() - started
        figures[f"N={count}: class up (s)"] = round(seconds, 1)
        figures[f"N={count}: seconds per lab"] = round(seconds / count, 1)
        figures[f"N={count}: every lab passed its checks"] = up.returncode == 0
        if up.returncode != 0:
            console.print(up.stdout[-3000:], up.stderr[-3000:])
        status = json.loads(class_cli("status", "--class", str(path), "--json").stdout or '{"labs": []}')
        usage = [n for lab in status["labs"] for n in lab.get("nodes", [])]
        for role in ("cp1", "w1"):
            mine = [n for n in usage if n["node"] == role]
            if mine:
                figures[f"N={count}: {role} working set (MiB, median)"] = round(
                    statistics.median(n["working_set_bytes"] / 2**20 for n in mine))
                figures[f"N={count}: {role} podman memory (MiB, median of cap "
                        f"{mine[0]['limit_bytes'] / 2**20:.0f})"] = round(
                    statistics.median(n["memory_bytes"] / 2**20 for n in mine))
    finally:
        if not keep:
            class_cli("down", "--class", str(path), "--yes")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", default="1,2,4", help="class sizes to build, one after another (default 1,2,4)")
    parser.add_argument("--nodes", type=int, default=2, help="nodes per lab (default 2)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave each class running")
    args = parser.parse_args()
    console = Console(stderr=True)
    figures: dict = {}
    with tempfile.TemporaryDirectory() as workdir:
        for count in (int(n) for n in args.labs.split(",")):
            figures.update(measure(count, args.nodes, args.keep, Path(workdir), console))
            console.print(figures)
    print_figures(figures, f"kubelab benchmark: classes of {args.labs} labs x {args.nodes} nodes", args.json)
    return 0 if all(v for k, v in figures.items() if k.endswith("passed its checks")) else 1


if __name__ == "__main__":
    sys.exit(main())
