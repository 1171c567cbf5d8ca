"""Where kubelab keeps things on the machine that runs it.

Build outputs (Go builds, the offline bundle, node images) are caches keyed by
version and live outside any clone, so a fresh CI checkout reuses them. Lab
state (SSH keys, known_hosts, kubeconfig, baseline) is per lab.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from kubelab import names


def cache_dir() -> Path:
    return Path(os.environ.get("KUBELAB_CACHE") or Path.home() / ".cache" / "kubelab")


def state_dir() -> Path:
    return Path(os.environ.get("KUBELAB_HOME") or Path.home() / ".local" / "state" / "kubelab")


def labs_dir() -> Path:
    return state_dir() / "labs"


def lab_dir(lab: str) -> Path:
    """The lab's state directory; the name is checked and the path proven to stay under labs_dir().

    A lab name reaches `rmtree` in `nodes down`, so neither an empty name, nor
    `..`, nor a symlink planted in the labs directory may lead outside it.
    """
    names.check(lab, "lab name")
    root = labs_dir().resolve()
    path = (root / lab).resolve()
    if path.parent != root:
        raise names.InvalidName(f"lab {lab!r}: its state directory {labs_dir() / lab} resolves to {path}, "
                                f"outside {root}. Fix: remove the symlink {labs_dir() / lab}")
    return path


def bundle_dir(kubernetes_version: str) -> Path:
    return cache_dir() / "bundle" / kubernetes_version


def write_private(path: Path, text: str) -> Path:
    """Write a file only its owner can read (keys, kubeconfigs, lab state), atomically.

    The temporary file has a unique name made with O_EXCL (mkstemp), so a
    symlink planted where it would go is never followed, and it is 0600 from
    its first byte; it is fsynced, then renamed over the old file (a rename
    replaces a symlink at `path` rather than writing through it), and the
    directory is fsynced, so neither a reader nor a crash sees half of it.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path
