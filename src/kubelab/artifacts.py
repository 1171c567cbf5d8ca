"""Fetch, verify and unpack the files a node needs, on the machine running the deploy.

Nodes never download anything: the controller takes each artifact from its
upstream URL (or a download mirror laid out like the upstream hosts) or from
an offline bundle (same file names), checks its sha256, unpacks the members
the node needs into a cache keyed by that checksum, and the deploy uploads
them. Every file is fetched and verified before any is unpacked, so a missing
file or a checksum mismatch stops the run before any host is changed, and a
re-run starts from the verified cache.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from kubelab import paths
from kubelab.errors import ArtifactError
from kubelab.spec import LabSpec
from kubelab.versions import Artifact, Release

DOWNLOAD_TIMEOUT_SECONDS = 60
# pyinfra collects each host's operations in a greenlet of its own (gevent
# patches threading), and a download lets the others run: one staging at a
# time, so the other hosts reuse the first one's instead of downloading again.
_STAGING = threading.Lock()


@dataclass(frozen=True)
class StagedFile:
    """One verified file on the controller and where it goes on a node."""

    component: str
    local_path: Path
    dest: str


@dataclass(frozen=True)
class Upstream:
    """Where the upstream path downloads from and which sha256 the lab's spec pins.

    Hashable (the pins as sorted pairs), so a staging is cached per spec
    contents and a changed mirror or pin is never served an older staging.
    """

    mirror: str | None
    pins: tuple[tuple[str, str], ...]
    spec_file: str

    @classmethod
    def of(cls, spec: LabSpec) -> Upstream:
        return cls(spec.download_mirror, tuple(sorted(spec.sha256.items())), str(spec.path or "the lab spec"))

    def url(self, art: Artifact) -> str:
        return mirrored_url(art.url, self.mirror)

    def expected(self, art: Artifact) -> str | None:
        """The sha256 a download must have: the spec's pin for the file, else the published one."""
        return dict(self.pins).get(art.filename) or art.sha256


def mirror_path(url: str) -> str:
    """Where a mirror laid out like the upstream hosts keeps `url`'s file: its host, then its path."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


def mirrored_url(url: str, mirror: str | None) -> str:
    """`url` on a download mirror, or `url` itself when there is none.

    https://dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubeadm on the mirror
    http://10.0.0.5:8080/m becomes
    http://10.0.0.5:8080/m/dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubeadm.
    """
    if not mirror:
        return url
    return f"{mirror.rstrip('/')}/{mirror_path(url)}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_remembered(path: Path) -> str:
    """sha256_of, remembered across runs by the file's path, size and mtime: unchanged inputs are read once.

    One small file per entry in the cache, written by rename, so concurrent
    builds never see half an entry.
    """
    st = path.stat()
    key = hashlib.sha256(f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    memo = paths.cache_dir() / "sha256" / key
    try:
        remembered = memo.read_text()
        if len(remembered) == 64 and all(c in "0123456789abcdef" for c in remembered):
            return remembered
    except FileNotFoundError:
        pass
    digest = sha256_of(path)
    memo.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=memo.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(digest)
    os.replace(tmp, memo)
    return digest


def _verify(path: Path, name: str, expected: str, origin: str, fix: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise ArtifactError(
            f"{name} from {origin} fails its checksum: expected sha256 {expected}, got {actual}. "
            f"Nothing was installed. Fix: {fix}"
        )


def _expected_sums(arts: list[Artifact], upstream: Upstream) -> dict[str, str]:
    """The sha256 of every file by name, or an error naming each file that has none, before any download."""
    unpinned = [art for art in arts if not upstream.expected(art)]
    if unpinned:
        listed = ", ".join(f"{art.filename} ({art.component} {art.version})" for art in unpinned)
        example = unpinned[0].filename
        raise ArtifactError(
            f"no sha256 is known for {listed}: kubelab.versions.CHECKSUMS has no published value and "
            f"{upstream.spec_file} pins none under artifacts.sha256, so it cannot be downloaded safely. "
            f"Nothing was downloaded. Fix: pin the value upstream publishes beside the file in the spec "
            f"(artifacts: {{sha256: {{{example}: <64 hex digits>}}}}), or use an offline bundle "
            "(artifacts.source: bundle)."
        )
    return {art.filename: upstream.expected(art) for art in arts}


def _tamper_fix(art: Artifact, upstream: Upstream, url: str) -> str:
    if art.filename in dict(upstream.pins):
        return (f"{url} serves another file than the one {upstream.spec_file} pins under "
                f"artifacts.sha256.{art.filename}: put upstream's {art.filename} back on that server, "
                "or correct the pin if it was copied wrong")
    where = "the mirror's copy differs from upstream's" if upstream.mirror else "the upstream file changed"
    return (f"the download was corrupted or {where}; retry, and if it persists compare the file with "
            f"upstream's published .sha256 (the value in kubelab.versions.CHECKSUMS)")


def _download(art: Artifact, upstream: Upstream, expected: str, cache: Path) -> Path:
    url = upstream.url(art)
    downloads = cache / "downloads"
    target = downloads / expected / art.filename
    if target.is_file() and sha256_of(target) == expected:
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    # Download outside the checksum-keyed directories and move the file in
    # only once verified, so an interrupted, failed or tampered download
    # leaves nothing that looks like a good one.
    fd, tmp = tempfile.mkstemp(dir=downloads, prefix=f".part-{art.filename}-")
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as resp:
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            server = f"the download mirror {upstream.mirror}" if upstream.mirror else "the upstream host"
            raise ArtifactError(
                f"downloading {art.filename} from {url} failed: {exc}. Nothing was installed. "
                f"Fix: check that {server} answers and serves that file, and this machine's network access; "
                "or use an offline bundle (artifacts.source: bundle)."
            ) from None
        _verify(Path(tmp), art.filename, expected, url, _tamper_fix(art, upstream, url))
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)
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
    _verify(path, art.filename, expected[art.filename], f"bundle {bundle}", rebuild)
    return path


def _unpack(art: Artifact, source: Path, sha256: str, cache: Path) -> list[StagedFile]:
    root = cache / "staged" / sha256
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
def _stage(release: Release, source: str, bundle: Path | None, upstream: Upstream,
           cache: Path) -> tuple[StagedFile, ...]:
    arts = release.artifacts()
    if source == "bundle":
        expected = bundle_checksums(bundle, release)
        fetched = [(art, _from_bundle(art, bundle, expected)) for art in arts]
    else:
        expected = _expected_sums(arts, upstream)
        fetched = [(art, _download(art, upstream, expected[art.filename], cache)) for art in arts]
    return tuple(item for art, path in fetched for item in _unpack(art, path, expected[art.filename], cache))


def stage(spec: LabSpec) -> dict[str, list[StagedFile]]:
    """Every file of the spec's release, verified and unpacked, grouped by component."""
    grouped: dict[str, list[StagedFile]] = {}
    with _STAGING:
        staged = _stage(spec.release, spec.source, spec.bundle, Upstream.of(spec), paths.cache_dir())
    for item in staged:
        grouped.setdefault(item.component, []).append(item)
    return grouped
