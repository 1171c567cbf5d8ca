"""Helpers the integration tests share."""

import socket
import subprocess
import threading

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


@pytest.fixture
def silent_listener():
    """A loopback port that accepts TCP and never says a word, like a hung sshd; yields the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        for conn, _ in accepted:
            conn.close()
        listener.close()
