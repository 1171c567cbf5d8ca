"""busybox compiled from upstream's release tarball, configured as upstream's busybox image.

docker-library/busybox builds busybox:1.37 (the glibc variant the plain tag
names) with `make defconfig` plus a few edits and links it statically; this
does the same with the host's gcc and static glibc. Debian's busybox-static
is not a fit: its config lacks wget -T (which its wget still parses, writing
through a null pointer: exit 139) and nc -z, both common in CKAD tasks.
The output is cached by everything that goes into it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from kubelab import paths
from kubelab.artifacts import sha256_of
from kubelab.bundle.gobuild import Built
from kubelab.bundle.lock import exclusive
from kubelab.errors import ArtifactError
from kubelab.versions import BUSYBOX_SOURCE_SHA256, BUSYBOX_SOURCE_URL, BUSYBOX_VERSION

# docker-library/busybox's glibc Dockerfile.builder: what it sets over
# defconfig (ar, UTF-8 input, and for 1.37 a static binary, as this image
# has no libc to link against) and what it unsets.
SET_CONFIG = {
    "CONFIG_AR": "y", "CONFIG_FEATURE_AR_CREATE": "y", "CONFIG_FEATURE_AR_LONG_FILENAMES": "y",
    "CONFIG_LAST_SUPPORTED_WCHAR": "0", "CONFIG_STATIC": "y",
}
UNSET_CONFIG = ("CONFIG_FEATURE_SYNC_FANCY",)
DOWNLOAD_TIMEOUT_SECONDS = 60
OUTPUT_TAIL_LINES = 25


def build_root() -> Path:
    return paths.cache_dir() / "build" / "busybox" / BUSYBOX_VERSION


def binary() -> Path:
    """Where `build` puts the binary; image specs name it before it is built."""
    return build_root() / "bin" / "busybox"


def configure(config: str) -> str:
    """defconfig's .config text with upstream's image edits applied."""
    lines = []
    for line in config.splitlines():
        name = line.removeprefix("# ").split("=", 1)[0].split(" is not set", 1)[0]
        if name in SET_CONFIG:
            line = f"{name}={SET_CONFIG[name]}"
        elif name in UNSET_CONFIG:
            line = f"# {name} is not set"
        lines.append(line)
    present = {line.removeprefix("# ").split("=", 1)[0].split(" is not set", 1)[0] for line in lines}
    # As upstream's recipe: an option the file does not mention is appended.
    lines += [f"{name}={value}" for name, value in SET_CONFIG.items() if name not in present]
    return "\n".join(lines) + "\n"


def build() -> Built:
    """The static busybox binary, compiled now unless the cache has it from the same inputs."""
    root = build_root()
    with exclusive(root.with_name(f".{BUSYBOX_VERSION}.lock")):
        return _build_locked(root)


def _build_locked(root: Path) -> Built:
    marker = root / "built.json"
    # A changed source or config must not be served an old build.
    recipe = hashlib.sha256(json.dumps([BUSYBOX_SOURCE_SHA256, SET_CONFIG, UNSET_CONFIG]).encode()).hexdigest()
    if marker.is_file() and binary().is_file():
        meta = json.loads(marker.read_text())
        if meta.get("recipe") == recipe:
            return Built("busybox", BUSYBOX_VERSION, binary().parent, meta["seconds"], cached=True)
    shutil.rmtree(root, ignore_errors=True)
    work = root / "work"
    work.mkdir(parents=True)
    start = time.monotonic()
    source, epoch = _unpack(_download(root / f"busybox-{BUSYBOX_VERSION}.tar.bz2"), work)
    _make(source, epoch, "defconfig")
    config = source / ".config"
    config.write_text(configure(config.read_text()))
    # Answers every question a changed option raises with its default, as `yes "" | make oldconfig`.
    _make(source, epoch, "oldconfig", stdin="\n" * 2000)
    missing = [f"{n}={v}" for n, v in SET_CONFIG.items() if f"{n}={v}" not in config.read_text().splitlines()]
    if missing:
        raise ArtifactError(f"busybox {BUSYBOX_VERSION}'s oldconfig dropped {', '.join(missing)} from {config}. "
                            "Fix: update SET_CONFIG in kubelab/bundle/busybox.py to options this version has.")
    _make(source, epoch, "-j", str(os.cpu_count() or 1), "busybox")
    binary().parent.mkdir()
    shutil.copy2(source / "busybox", binary())
    shutil.rmtree(work)
    seconds = round(time.monotonic() - start, 1)
    marker.write_text(json.dumps({"seconds": seconds, "recipe": recipe}) + "\n")
    return Built("busybox", BUSYBOX_VERSION, binary().parent, seconds, cached=False)


def _download(out: Path) -> Path:
    part = out.with_name(f".{out.name}.part")
    try:
        with open(part, "wb") as fh, urllib.request.urlopen(BUSYBOX_SOURCE_URL,
                                                            timeout=DOWNLOAD_TIMEOUT_SECONDS) as resp:
            shutil.copyfileobj(resp, fh)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise ArtifactError(f"downloading the busybox source {BUSYBOX_SOURCE_URL} failed: {exc}. "
                            "Fix: check that deb.debian.org answers from this machine.") from None
    actual = sha256_of(part)
    if actual != BUSYBOX_SOURCE_SHA256:
        part.unlink()
        raise ArtifactError(f"{BUSYBOX_SOURCE_URL} has sha256 {actual}, not busybox.net's {BUSYBOX_SOURCE_SHA256} "
                            "(kubelab.versions.BUSYBOX_SOURCE_SHA256); refusing to build from it. "
                            "Fix: retry; if it persists, the mirror serves another file.")
    os.replace(part, out)
    return out


def _unpack(archive: Path, work: Path) -> tuple[Path, str]:
    """The source tree, and the release's time: as in upstream's image, the build date busybox prints."""
    with tarfile.open(archive) as tar:
        top = tar.getmember(f"busybox-{BUSYBOX_VERSION}")
        tar.extractall(work, filter="data")
    return work / top.name, str(int(top.mtime))


def _make(source: Path, epoch: str, *args: str, stdin: str | None = None) -> None:
    env = dict(os.environ, SOURCE_DATE_EPOCH=epoch)
    cmd = ["make", *args]
    try:
        proc = subprocess.run(cmd, cwd=source, env=env, input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError:
        raise ArtifactError("building busybox needs `make`, which is not on PATH. "
                            "Fix: apt-get install make gcc libc6-dev bzip2") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-OUTPUT_TAIL_LINES:])
        raise ArtifactError(f"building busybox {BUSYBOX_VERSION} failed: `{' '.join(cmd)}` in {source} exited "
                            f"{proc.returncode}:\n{tail}\nFix: install what it lacks (apt-get install make gcc "
                            "libc6-dev bzip2), then rerun `kubelab bundle build`.")

