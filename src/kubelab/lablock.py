"""One writer at a time per lab: an advisory lock every changing command holds.

`kubelab up`, `nodes`, `apply`, `reset`, `baseline record` and the pyinfra
deploy take the lab's lock exclusively; `check`, `verify` and `status` take it
shared, so they never read a lab halfway through a reset. A second command
waits a little, then says who holds the lock (command, pid, since when) instead
of racing it. The lock is flock(2) on a file in the lab's state directory, so a
holder that dies (even by SIGKILL) releases it with its last file descriptor.

A command that runs the deploy as a child process (up, reset --depth cluster)
already holds the lock; it tells the child through KUBELAB_LOCK_HELD so the
child does not wait for its own parent.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator

from kubelab import paths
from kubelab.errors import KubelabError

LOCK_FILE = ".lock"
HOLDER_FILE = ".lock-holder.json"
HELD_ENV = "KUBELAB_LOCK_HELD"
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.2


class LabBusy(KubelabError):
    """Another kubelab command holds the lab's lock; nothing was changed."""


def _holder(lab: str) -> str:
    try:
        doc = json.loads((paths.lab_dir(lab) / HOLDER_FILE).read_text())
        return f"`{doc['command']}` (pid {doc['pid']}, since {doc['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another kubelab command"


def inherited(lab: str) -> bool:
    """Whether a parent process holds this lab's lock for us."""
    return lab in os.environ.get(HELD_ENV, "").split(",")


def _acquire(lab: str, shared: bool, wait: float, command: str | None) -> int:
    """Lock the lab and return the open descriptor that holds the lock."""
    state = paths.lab_dir(lab)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + wait
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise LabBusy(f"lab {lab} is busy: {_holder(lab)} holds its lock. Fix: wait for it to finish "
                              f"and run this again (a holder that died releases the lock by itself)") from None
            time.sleep(POLL_SECONDS)
    if not shared:
        paths.write_private(state / HOLDER_FILE, json.dumps({
            "command": command or " ".join(["kubelab", *sys.argv[1:]]), "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
    return fd


@contextlib.contextmanager
def hold(lab: str, *, shared: bool = False, wait: float = WAIT_SECONDS,
         command: str | None = None) -> Iterator[None]:
    """Hold the lab's lock (exclusive unless `shared`) for the `with` block; LabBusy after `wait` seconds."""
    if inherited(lab):
        yield
        return
    fd = _acquire(lab, shared, wait, command)
    previous = os.environ.get(HELD_ENV)
    if not shared:
        os.environ[HELD_ENV] = ",".join(filter(None, (previous, lab)))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(HELD_ENV, None)
        else:
            os.environ[HELD_ENV] = previous
        os.close(fd)


_held_until_exit: dict[str, int] = {}


def hold_until_exit(lab: str, command: str) -> None:
    """Hold the lab's lock exclusively until this process ends (pyinfra runs deploys/lab.py once per host)."""
    if lab not in _held_until_exit and not inherited(lab):
        _held_until_exit[lab] = _acquire(lab, False, WAIT_SECONDS, command)
