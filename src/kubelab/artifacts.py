"""Fetch, verify and unpack the files a node needs, on the machine running the deploy.

Nodes never download anything: the controller takes each artifact from its
upstream URL or from an offline bundle (same file names), checks its sha256,
unpacks the members the node needs into a cache keyed by that checksum, and
the deploy uploads them. A missing file or a checksum mismatch stops the run
before any host is changed, and a re-run starts from the verified cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kubelab import paths
from kubelab.errors import ArtifactError
from kubelab.spec import LabSpec
from kubelab.versions import Artifact, Release

DOWNLOAD_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class StagedFile:
    """One verified file on the controller and where it goes on a node."""

    component: str
    local_path: Path
    dest: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, expected: str, origin: str, fix: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise ArtifactError(
            f"{path.name} from {origin} fails its checksum: expected sha256 {expected}, got {actual}. "
            f"Nothing was installed. Fix: {fix}"
        )


def _download(art: Artifact) -> Path:
    if not art.sha256:
        raise ArtifactError(
            f"{art.component} {art.version} has no published sha256 in kubelab.versions.CHECKSUMS, "
            "so it cannot be downloaded safely. Fix: add the published checksum to the version table, "
            "or use an offline bundle (artifacts.source: bundle)."
        )
    target = paths.cache_dir() / "downloads" / art.sha256 / art.filename
    if target.is_file() and sha256_of(target) == art.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Download beside the target and rename only once verified, so an
    # interrupted or corrupt download never looks like a good one.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(art.url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as resp:
            shutil.copyfileobj(resp, out)
        _verify(Path(tmp), art.sha256, art.url,
                "the download was corrupted or the upstream file changed; retry, and if it persists "
                "compare with the upstream .sha256 file")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError) as exc:
        raise ArtifactError(
            f"downloading {art.url} failed: {exc}. Nothing was installed. "
            "Fix: check this machine's network access, or use an offline bundle (artifacts.source: bundle)."
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _from_bundle(art: Artifact, bundle: Path, expected: dict[str, str]) -> Path:
    path = bundle / "files" / art.filename
    rebuild = "rebuild the bundle with `kubelab bundle build`"
    if art.filename not in expected:
        raise ArtifactError(f"the offline bundle {bundle} does not list {art.filename}. Fix: {rebuild}")
    if not path.is_file():
        raise ArtifactError(f"the offline bundle {bundle} lacks {path}. Fix: {rebuild}")
    _verify(path, expected[art.filename], f"bundle {bundle}", rebuild)
    return path


def _unpack(art: Artifact, source: Path, sha256: str) -> list[StagedFile]:
    root = paths.cache_dir() / "staged" / sha256
    staged = []
    for member, dest in art.install:
        out = root / (member or art.filename)
        if not out.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".part-{out.name}")
            if member:
                _extract_member(source, member, tmp)
            else:
                shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o755)
            os.replace(tmp, out)
        staged.append(StagedFile(art.component, out, dest))
    return staged


def _extract_member(archive: Path, member: str, out: Path) -> None:
    with tarfile.open(archive) as tar:
        names = {name.removeprefix("./"): name for name in tar.getnames()}
        if member not in names:
            raise ArtifactError(f"{archive.name} has no member {member} (it has: {', '.join(sorted(names))})")
        src = tar.extractfile(names[member])
        if src is None:
            raise ArtifactError(f"{archive.name}: {member} is not a regular file")
        with src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)


def bundle_checksums(bundle: Path, release: Release) -> dict[str, str]:
    from kubelab.bundle.manifest import load_manifest

    manifest = load_manifest(bundle)
    manifest.check_release(release)
    return {name: entry.sha256 for name, entry in manifest.files.items()}


@lru_cache(maxsize=4)
def _stage(release: Release, source: str, bundle: Path | None) -> tuple[StagedFile, ...]:
    expected = bundle_checksums(bundle, release) if source == "bundle" else {}
    staged: list[StagedFile] = []
    for art in release.artifacts():
        if source == "bundle":
            path = _from_bundle(art, bundle, expected)
            sha = expected[art.filename]
        else:
            path, sha = _download(art), art.sha256
        staged.extend(_unpack(art, path, sha))
    return tuple(staged)


def stage(spec: LabSpec) -> dict[str, list[StagedFile]]:
    """Every file of the spec's release, verified and unpacked, grouped by component."""
    grouped: dict[str, list[StagedFile]] = {}
    for item in _stage(spec.release, spec.source, spec.bundle):
        grouped.setdefault(item.component, []).append(item)
    return grouped
