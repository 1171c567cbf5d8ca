"""Helpers the integration tests share."""

import socket

import pytest


@pytest.fixture(scope="session")
def free_port():
    """A function returning a loopback TCP port that nothing listens on right now."""
    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    return pick
