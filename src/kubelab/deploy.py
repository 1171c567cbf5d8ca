"""Run the pyinfra deploy as a user would, and read what it changed.

Tests, benchmarks and `kubelab up` all go through the real `pyinfra` command
so they exercise exactly what the README tells people to run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kubelab.errors import KubelabError

# deploys/ and inventories/ sit beside src/ in the repository.
REPO = Path(__file__).resolve().parents[2]
DEPLOY_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class DeployResult:
    returncode: int
    seconds: float
    changed: int
    errors: int
    unchanged: int
    output: str


def parse_results(output: str) -> tuple[int, int, int]:
    """(changed, errors, unchanged) from the "Grand total" row of pyinfra's results table."""
    for line in reversed(output.splitlines()):
        if line.strip().startswith("Grand total"):
            cells = line.split()[-3:]
            return tuple(0 if c == "-" else int(c) for c in cells)  # type: ignore[return-value]
    raise KubelabError("pyinfra printed no results table; read its output above for the error")


def run_deploy(spec: Path, stages: str | None = None, inventory: str = "inventories/local.py") -> DeployResult:
    # The pyinfra beside this interpreter, so a venv's kubelab runs the venv's pyinfra.
    args = [sys.executable, "-m", "pyinfra", "-y", inventory, "deploys/lab.py"]
    if stages:
        args += ["--data", f"kubelab_stages={stages}"]
    started = time.monotonic()
    proc = subprocess.run(args, cwd=REPO, env={**os.environ, "KUBELAB_SPEC": str(spec)},
                          capture_output=True, text=True, timeout=DEPLOY_TIMEOUT_SECONDS)
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    try:
        changed, errors, unchanged = parse_results(output)
    except KubelabError:
        changed, errors, unchanged = 0, 1, 0
    return DeployResult(proc.returncode, seconds, changed, errors, unchanged, output)
