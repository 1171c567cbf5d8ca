"""Where kubelab keeps things on the machine that runs it.

Build outputs (Go builds, the offline bundle, node images) are caches keyed by
version and live outside any clone, so a fresh CI checkout reuses them. Lab
state (SSH keys, known_hosts, kubeconfig, baseline) is per lab.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("KUBELAB_CACHE") or Path.home() / ".cache" / "kubelab")


def state_dir() -> Path:
    return Path(os.environ.get("KUBELAB_HOME") or Path.home() / ".local" / "state" / "kubelab")


def lab_dir(lab: str) -> Path:
    return state_dir() / "labs" / lab


def bundle_dir(kubernetes_version: str) -> Path:
    return cache_dir() / "bundle" / kubernetes_version
