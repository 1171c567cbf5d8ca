"""What the e2e tests share: the CLI as CI runs it, a bounded wait, and the classroom tests' class build."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kubelab.classroom import load_class
from kubelab.local import nodes

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


CLASSROOM_TESTS = "test_classroom.py"
CLASS = os.environ.get("KUBELAB_TEST_CLASS", "kc")
STUDENTS = ("a", "b", "c")
EXAM_TASKS = 3
CLASS_UP_TIMEOUT = 1800


class ClassBuild:
    """`kubelab class up` of the classroom tests' class (three 1-node labs), run in the background.

    The e2e tier starts it before its first test, so the class deploys while
    the session lab's tests run (mostly waiting on kubelets); the classroom
    tests come last and wait for it.
    """

    def __init__(self, folder: Path):
        self.path = folder / "class.yaml"
        self.path.write_text(yaml.safe_dump({"name": CLASS, "students": list(STUDENTS), "nodes": 1,
                                             "exam": {"seed": 7, "tasks": EXAM_TASKS, "minutes": 30}}))
        self.spec = load_class(self.path)
        for lab in self.spec.labs:
            nodes.down(lab, missing_ok=True)
        self._out, self._err = folder / "up.out", folder / "up.err"
        self.started = time.monotonic()
        with open(self._out, "w") as out, open(self._err, "w") as err:
            self._proc = subprocess.Popen([*KUBELAB, "class", "up", "--class", str(self.path)],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=err, text=True)

    def wait(self) -> subprocess.CompletedProcess:
        """The finished `class up` (bounded: killed after CLASS_UP_TIMEOUT seconds from its start)."""
        try:
            self._proc.wait(timeout=max(CLASS_UP_TIMEOUT - (time.monotonic() - self.started), 1))
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        return subprocess.CompletedProcess(self._proc.args, self._proc.returncode, self._out.read_text(),
                                           self._err.read_text())

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
