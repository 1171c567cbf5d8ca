"""Run the pyinfra deploy as a user would, and read what it changed.

Tests, benchmarks and `kubelab up` all go through the real `pyinfra` command
so they exercise exactly what the README tells people to run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kubelab.errors import KubelabError

# deploys/ and inventories/ sit beside src/ in the repository.
REPO = Path(__file__).resolve().parents[2]
DEPLOY_TIMEOUT_SECONDS = 1800


# A re-run is safe after any stop: each step checks what is in place first.
RERUN = "then run the deploy again: finished steps are skipped, so a re-run converges"

# pyinfra's progress headings ("--> Connecting to hosts...", "--> Starting
# operation: Deploy | op") and its per-host verdicts ("    [cp1] Error: ...").
_HEADING = re.compile(r"^--> (?P<text>.*?)\.*\s*$")
_OPERATION = re.compile(r"^Starting (?:[\w ,]+ )?operation: (?P<name>.*)$")
_HOST_LINE = re.compile(r"^ {4}\[(?P<host>[^\]]+)\] (?P<text>.*)$")
_HOST_ERROR = re.compile(r"^Error: (?P<error>.*)$")
_EXCEPTION = re.compile(r"^--> An (?:unexpected )?exception occurred in: (?P<file>.*?):?$")


class DeployFailed(KubelabError):
    """pyinfra reported an error or did not finish; `output` holds what it printed."""

    def __init__(self, message: str, output: str):
        self.output = output
        super().__init__(message)


class DeployTimeout(DeployFailed):
    """The deploy ran past its time limit and was stopped."""


@dataclass(frozen=True)
class DeployResult:
    returncode: int
    seconds: float
    changed: int
    errors: int
    unchanged: int
    output: str

    def check(self) -> "DeployResult":
        """This result, or DeployFailed naming the failing operation and host."""
        if self.returncode != 0 or self.errors:
            raise DeployFailed(f"the deploy failed (exit {self.returncode}): {describe_failure(self.output)}. "
                               f"Fix: correct what it names, {RERUN}", self.output)
        return self


def parse_results(output: str) -> tuple[int, int, int]:
    """(changed, errors, unchanged) from the "Grand total" row of pyinfra's results table."""
    for line in reversed(output.splitlines()):
        if line.strip().startswith("Grand total"):
            cells = line.split()[-3:]
            return tuple(0 if c == "-" else int(c) for c in cells)  # type: ignore[return-value]
    raise KubelabError("pyinfra printed no results table; read its output above for the error")


def last_step(output: str) -> str | None:
    """Where pyinfra was when its output ends: the operation it had started, else its last phase."""
    for line in reversed(output.splitlines()):
        heading = _HEADING.match(line)
        if heading:
            operation = _OPERATION.match(heading["text"])
            return f"operation `{operation['name'].strip()}`" if operation else heading["text"]
    return None


def describe_failure(output: str) -> str:
    """What failed, from pyinfra's output: each host's failing operation with its error, else the exception."""
    failures: list[str] = []
    operation = None
    said: dict[str, list[str]] = {}
    for line in output.splitlines():
        heading = _HEADING.match(line)
        if heading:
            started = _OPERATION.match(heading["text"])
            operation = started["name"].strip() if started else None
            said = {}
            continue
        host_line = _HOST_LINE.match(line)
        if not host_line or operation is None:
            continue
        host, text = host_line["host"], host_line["text"].strip()
        error = _HOST_ERROR.match(text)
        if error is None:
            said.setdefault(host, []).append(text)
            continue
        # "Error: executed 0 commands" says nothing; the lines the host printed before it do.
        detail = "; ".join(said.pop(host, [])[-3:] + ([] if text.startswith("Error: executed") else [error["error"]]))
        failures.append(f"on {host}, operation `{operation}`" + (f": {detail[:500]}" if detail else ""))
    if failures:
        return "; ".join(dict.fromkeys(failures))
    return _exception(output) or "pyinfra printed no error line; read its output"


def _exception(output: str) -> str | None:
    """An exception pyinfra caught while loading the inventory or the deploy: where, and its last line."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        found = _EXCEPTION.match(line)
        if found:
            rest = [line.strip() for line in lines[i + 1:] if line.strip()]
            return f"{found['file']} raised {rest[-1] if rest else 'an exception'}"
    return next((line[4:].strip() for line in reversed(lines) if line.startswith("--> pyinfra error:")), None)


def run_deploy(spec: Path, stages: str | None = None, inventory: str = "inventories/local.py",
               timeout: float = DEPLOY_TIMEOUT_SECONDS) -> DeployResult:
    # The pyinfra beside this interpreter, so a venv's kubelab runs the venv's pyinfra.
    args = [sys.executable, "-m", "pyinfra", "-y", inventory, "deploys/lab.py"]
    if stages:
        args += ["--data", f"kubelab_stages={stages}"]
    started = time.monotonic()
    try:
        proc = subprocess.run(args, cwd=REPO, env={**os.environ, "KUBELAB_SPEC": str(spec)},
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        # On timeout the partial output comes as bytes whatever `text` says.
        output = "".join(part.decode(errors="replace") for part in (exc.stdout, exc.stderr) if part)
        raise DeployTimeout(f"the deploy did not finish within {timeout:g} s and was stopped during "
                            f"{last_step(output) or 'its start'}. Fix: find out why that step hangs (its "
                            f"output and the node), {RERUN}", output) from None
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    try:
        changed, errors, unchanged = parse_results(output)
    except KubelabError:
        changed, errors, unchanged = 0, 1, 0
    return DeployResult(proc.returncode, seconds, changed, errors, unchanged, output)
