"""The podman commands the local lab needs, and nothing else.

podman on this machine class has two traps that every call must avoid:
Debian's podman pulls in crun, which cannot run containers on a hybrid
cgroup v1 host, so containers always run with runc; and a failing podman
call must say which command failed and why, not return a half result.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from kubelab.errors import KubelabError

RUNTIME = "runc"


class PodmanError(KubelabError):
    """A podman (or other host tool) command failed."""


def require(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise PodmanError(f"{tool} is not installed on this machine. Fix: apt-get install -y {package}")


def run(args: list[str], *, input: bytes | None = None, check: bool = True, timeout: float = 600
        ) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(args, input=input, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PodmanError(f"`{' '.join(args[:4])} ...` did not finish within {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise PodmanError(f"`{' '.join(args[:6])}` failed (exit {proc.returncode}): {' / '.join(err)}")
    return proc


def podman(*args: str, **kwargs) -> subprocess.CompletedProcess:
    require("podman", "podman")
    return run(["podman", *args], **kwargs)


def exists(kind: str, name: str) -> bool:
    """Whether a podman image, container or network of that name exists."""
    return podman(kind, "exists", name, check=False).returncode == 0


def inspect(kind: str, name: str) -> dict:
    return json.loads(podman(kind, "inspect", name).stdout)[0]
