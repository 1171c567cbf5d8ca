"""Helpers the integration tests share."""

import socket
import subprocess

import pytest


@pytest.fixture(scope="session")
def free_port():
    """A function returning a loopback TCP port that nothing listens on right now."""
    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    return pick


def stop_process(proc: subprocess.Popen, grace_seconds: float = 10) -> None:
    """Stop a server a test started: SIGTERM, then SIGKILL if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def stop():
    return stop_process
