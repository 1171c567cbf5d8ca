"""The bundle's manifest.json: what was built, for which versions, with which sha256.

The deploy trusts a bundle only through this file, so a missing, corrupt or
foreign manifest stops the run with the command that rebuilds it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kubelab.errors import ArtifactError
from kubelab.versions import Release

MANIFEST_NAME = "manifest.json"
SCHEMA = 1


def rebuild_hint(minor: str | None = None) -> str:
    flag = f" --kubernetes {minor}" if minor else ""
    return f"run `kubelab bundle build{flag}` to (re)build the offline bundle"


@dataclass(frozen=True)
class Stamp:
    """What a bundle file was made from, and the file as written: equal stamps mean nothing to redo.

    `inputs` digests the sources' paths, sizes and mtimes (never their
    bytes), `size` and `mtime_ns` are the written file's: a file replaced or
    touched since is made and hashed again.
    """
    inputs: str = ""
    size: int = 0
    mtime_ns: int = 0

    @classmethod
    def of(cls, inputs: str, written: Path) -> "Stamp":
        st = written.stat()
        return cls(inputs, st.st_size, st.st_mtime_ns)

    def holds(self, inputs: str, path: Path) -> bool:
        try:
            st = path.stat()
        except FileNotFoundError:
            return False
        return bool(self.inputs) and (self.inputs, self.size, self.mtime_ns) == (inputs, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    component: str
    version: str
    stamp: Stamp = Stamp()


@dataclass(frozen=True)
class ImageEntry:
    file: str  # relative to the bundle directory
    sha256: str
    stamp: Stamp = Stamp()


@dataclass
class Manifest:
    kubernetes: str
    files: dict[str, FileEntry] = field(default_factory=dict)
    images: dict[str, ImageEntry] = field(default_factory=dict)

    def check_release(self, release: Release) -> None:
        """Refuse a bundle whose contents are not the versions `release` pins."""
        problems = []
        if self.kubernetes != release.kubernetes:
            problems.append(f"built for Kubernetes {self.kubernetes}, not {release.kubernetes}")
        for art in release.artifacts():
            entry = self.files.get(art.filename)
            if entry is None:
                problems.append(f"no {art.filename} ({art.component} {art.version})")
            elif (entry.component, entry.version) != (art.component, art.version):
                problems.append(f"{art.filename} is {entry.component} {entry.version}, "
                                f"expected {art.component} {art.version}")
        for ref in release.images().values():
            if ref not in self.images:
                problems.append(f"no image {ref}")
        if problems:
            raise ArtifactError(
                f"the offline bundle does not match Kubernetes {release.kubernetes}: "
                + "; ".join(problems) + f". Fix: {rebuild_hint(release.minor)}"
            )

    def to_json(self) -> str:
        return json.dumps({
            "schema": SCHEMA,
            "kubernetes": self.kubernetes,
            "files": {name: asdict(e) for name, e in sorted(self.files.items())},
            "images": {ref: asdict(e) for ref, e in sorted(self.images.items())},
        }, indent=2) + "\n"


def load_manifest(bundle: Path) -> Manifest:
    path = bundle / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{bundle} is not an offline bundle: {path} is missing. Fix: {rebuild_hint()}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"cannot read the bundle manifest {path}: {exc}. Fix: {rebuild_hint()}") from None
    try:
        if raw["schema"] != SCHEMA:
            raise ValueError(f"schema {raw['schema']!r}, this kubelab reads schema {SCHEMA}")
        return Manifest(
            kubernetes=str(raw["kubernetes"]),
            files={name: FileEntry(**{**e, "stamp": Stamp(**e.get("stamp", {}))}) for name, e in raw["files"].items()},
            images={ref: ImageEntry(**{**e, "stamp": Stamp(**e.get("stamp", {}))}) for ref, e in raw["images"].items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(
            f"the bundle manifest {path} is malformed ({type(exc).__name__}: {exc}). Fix: {rebuild_hint()}"
        ) from None


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Have `write` fill a temporary file beside `path`, then rename it into place.

    A reader (or a build interrupted halfway) sees the old file or the new
    one, never half of one. The file is at least world-readable.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, os.stat(tmp).st_mode | 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_manifest(bundle: Path, manifest: Manifest) -> Path:
    return write_atomically(bundle / MANIFEST_NAME, lambda tmp: tmp.write_text(manifest.to_json()))
