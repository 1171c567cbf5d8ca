"""Lay out an offline bundle: upstream's file names and archive layouts, our own builds.

A bundle directory holds `files/<Artifact.filename>` (archives whose members
sit at the paths `Artifact.install` names, so the deploy cannot tell a bundle
file from an upstream one), `images/<ref>.tar` (docker-archive) and
`manifest.json` with the sha256 of each, computed from what was written.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import time
from pathlib import Path
from typing import Iterable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from kubelab import paths
from kubelab.artifacts import sha256_of
from kubelab.bundle import busybox, gobuild, images
from kubelab.bundle.lock import exclusive
from kubelab.bundle.manifest import (FileEntry, ImageEntry, Manifest, Stamp, load_manifest, write_atomically,
                                     write_manifest)
from kubelab.errors import ArtifactError
from kubelab.versions import Artifact, Release

# The gobuild component whose output holds an artifact's binaries, where the names differ.
BUILT_BY = {"kubeadm": "kubernetes", "kubelet": "kubernetes", "kubectl": "kubernetes"}
# Upstream's CNI tgz is made with `tar -C bin .`, so its members start with "./".
MEMBER_PREFIX = {"cni-plugins": "./"}


def write_tarball(out: Path, members: dict[str, Path]) -> None:
    """A .tar.gz whose bytes depend only on the member names and contents.

    Sorted members, zero mtimes, root ownership and a gzip header without
    name or time: rebuilding from the same binaries gives the same sha256.
    """
    with open(out, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            ti = tarfile.TarInfo(name)
            ti.size = members[name].stat().st_size
            ti.mode, ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0o755, 0, 0, 0, "root", "root"
            with open(members[name], "rb") as fh:
                tar.addfile(ti, fh)


def _write_artifact(art: Artifact, built: gobuild.Built, out: Path) -> None:
    binaries = {member: built.binary(Path(dest).name) for member, dest in art.install}
    if not art.is_archive:
        (source,) = binaries.values()
        shutil.copyfile(source, out)
        os.chmod(out, 0o755)
        return
    prefix = MEMBER_PREFIX.get(art.component, "")
    write_tarball(out, {prefix + member: path for member, path in binaries.items()})


def inputs_digest(*parts: object, sources: Iterable[Path]) -> str:
    """A digest of what a bundle file is made from: `parts` (names, versions) and each source's path, size and mtime."""
    listed = [str(p) for p in parts] + [f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sources]
    return hashlib.sha256("\n".join(listed).encode()).hexdigest()


def _previous(bundle: Path) -> Manifest:
    """The manifest of the last build, or an empty one: its stamps spare re-making unchanged files."""
    try:
        return load_manifest(bundle)
    except ArtifactError:
        return Manifest(kubernetes="")


def _prune(directory: Path, keep: set[str]) -> None:
    for item in directory.iterdir():
        if item.name not in keep:
            item.unlink()


def build_bundle(release: Release, console: Console | None = None) -> Path:
    """Build every binary and image of `release` and lay out its bundle directory."""
    bundle = paths.bundle_dir(release.kubernetes)
    with exclusive(bundle.with_name(f".{bundle.name}.lock")):
        _build_locked(release, bundle, console or Console())
    return bundle


def _build_locked(release: Release, bundle: Path, console: Console) -> None:
    files_dir, images_dir = bundle / "files", bundle / "images"
    files_dir.mkdir(parents=True, exist_ok=True)
    images_dir.mkdir(exist_ok=True)
    # The old manifest stays until the new one replaces it in one rename: labs
    # deploying from this bundle meanwhile keep working (a warm build rewrites
    # identical files), and a file that did change fails its old checksum,
    # which stops a deploy cleanly instead of installing a mix.
    manifest, previous = Manifest(kubernetes=release.kubernetes), _previous(bundle)
    stage_seconds: dict[str, float] = {}

    def report(what: str, how: str) -> None:
        progress.console.print(f"  [green]✓[/] {what}: {how}")

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        start = time.monotonic()
        task = progress.add_task("binaries", total=len(gobuild.RECIPES) + 1)
        built: dict[str, gobuild.Built] = {}
        # busybox is C, for the busybox image: built before the images name it.
        for component in (*gobuild.RECIPES, "busybox"):
            progress.update(task, description=f"building {component}")
            built[component] = b = busybox.build() if component == "busybox" else gobuild.build(component, release)
            report(f"{component} {b.version}",
                   f"cached (its cold build took {b.seconds:.1f} s)" if b.cached else f"built in {b.seconds:.1f} s")
            progress.advance(task)
        progress.update(task, description="binaries")
        stage_seconds["binaries"] = time.monotonic() - start

        start = time.monotonic()
        arts = release.artifacts()
        task = progress.add_task("bundle files", total=len(arts))
        for art in arts:
            progress.update(task, description=f"packing {art.filename}")
            source = built[BUILT_BY.get(art.component, art.component)]
            path = files_dir / art.filename
            inputs = inputs_digest(art.component, art.version, art.install,
                                   sources=(source.binary(Path(dest).name) for _, dest in art.install))
            entry = previous.files.get(art.filename)
            if not (entry and (entry.component, entry.version) == (art.component, art.version)
                    and entry.stamp.holds(inputs, path)):
                write_atomically(path, lambda tmp: _write_artifact(art, source, tmp))
                entry = FileEntry(sha256_of(path), art.component, art.version, Stamp.of(inputs, path))
            manifest.files[art.filename] = entry
            progress.advance(task)
        progress.update(task, description="bundle files")
        _prune(files_dir, set(manifest.files))
        stage_seconds["files"] = time.monotonic() - start

        start = time.monotonic()
        specs = images.image_specs(release, built)
        task = progress.add_task("images", total=len(specs))
        for spec in specs:
            progress.update(task, description=f"image {spec.ref}")
            image = images.build_image(spec)
            report(spec.ref, f"{'cached' if image.cached else 'built'} in {image.seconds:.1f} s")
            name = images.bundle_name(spec.ref)
            path, inputs = images_dir / name, inputs_digest(spec.ref, sources=(image.path,))
            entry = previous.images.get(spec.ref)
            if not (entry and entry.file == f"images/{name}" and entry.stamp.holds(inputs, path)):
                write_atomically(path, lambda tmp: shutil.copyfile(image.path, tmp))
                entry = ImageEntry(f"images/{name}", sha256_of(path), Stamp.of(inputs, path))
            manifest.images[spec.ref] = entry
            progress.advance(task)
        progress.update(task, description="images")
        _prune(images_dir, {Path(e.file).name for e in manifest.images.values()})
        stage_seconds["images"] = time.monotonic() - start

    write_manifest(bundle, manifest)
    console.print("  ".join(f"{stage}: {secs:.1f} s" for stage, secs in stage_seconds.items()))
