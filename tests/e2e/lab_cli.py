"""What the e2e tests share: the CLI as CI runs it, and a bounded wait."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

CLI_TIMEOUT = 900
# The kubelab beside this interpreter: CI runs the venv's python without putting the venv on PATH.
KUBELAB = (sys.executable, "-m", "kubelab")


def kubelab(spec_path, *args: str) -> subprocess.CompletedProcess:
    """The CLI as CI runs it: no terminal on stdin."""
    return subprocess.run([*KUBELAB, *args, "--spec", str(spec_path)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT)


def wait_for(what, probe, timeout=120, interval=1.0):
    """Poll probe() until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (last := probe()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; last seen: {last!r}")
        time.sleep(interval)
    return last
