"""The bundle manifest and the bundle's archives, without building anything."""

import hashlib
import json
import os
import tarfile

import pytest

from kubelab import artifacts, versions
from kubelab.bundle import images
from kubelab.bundle.build import BUILT_BY, _write_artifact, inputs_digest, write_tarball
from kubelab.bundle.gobuild import Built
from kubelab.bundle.manifest import FileEntry, ImageEntry, Manifest, Stamp, load_manifest, write_manifest
from kubelab.errors import ArtifactError

RELEASE = versions.RELEASES["1.35"]


def full_manifest(release=RELEASE) -> Manifest:
    return Manifest(
        kubernetes=release.kubernetes,
        files={a.filename: FileEntry("ab" * 32, a.component, a.version) for a in release.artifacts()},
        images={ref: ImageEntry(f"images/{images.bundle_name(ref)}", "cd" * 32) for ref in release.images().values()},
    )


def test_manifest_round_trips(tmp_path):
    manifest = full_manifest()
    write_manifest(tmp_path, manifest)
    assert load_manifest(tmp_path) == manifest
    # Only the manifest is left: the temporary file was renamed, not copied.
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
    assert os.stat(tmp_path / "manifest.json").st_mode & 0o777 == 0o644


def test_rewrite_replaces_the_old_manifest(tmp_path):
    write_manifest(tmp_path, full_manifest(versions.RELEASES["1.34"]))
    write_manifest(tmp_path, full_manifest())
    assert load_manifest(tmp_path).kubernetes == RELEASE.kubernetes


def test_matching_release_passes():
    full_manifest().check_release(RELEASE)


def test_bundle_for_another_kubernetes_is_refused():
    with pytest.raises(ArtifactError) as err:
        full_manifest(versions.RELEASES["1.34"]).check_release(RELEASE)
    message = str(err.value)
    assert f"built for Kubernetes v1.34.4, not {RELEASE.kubernetes}" in message
    assert "kubelab bundle build --kubernetes 1.35" in message


def test_component_version_mismatch_and_missing_image_are_named():
    manifest = full_manifest()
    containerd = RELEASE.artifact("containerd")
    manifest.files[containerd.filename] = FileEntry("ab" * 32, "containerd", "2.0.0")
    del manifest.images[RELEASE.pause_image]
    with pytest.raises(ArtifactError) as err:
        manifest.check_release(RELEASE)
    message = str(err.value)
    assert f"is containerd 2.0.0, expected containerd {containerd.version}" in message
    assert f"no image {RELEASE.pause_image}" in message


def test_missing_manifest_says_how_to_build_one(tmp_path):
    with pytest.raises(ArtifactError, match=r"manifest.json is missing.*kubelab bundle build"):
        load_manifest(tmp_path)


@pytest.mark.parametrize("content, words", [
    ("{not json", "cannot read"),
    (json.dumps({"schema": 1, "kubernetes": "v1.35.4", "files": {}}), "malformed (KeyError: 'images')"),
    (json.dumps({"schema": 1, "kubernetes": "v1.35.4", "files": {"x": {"sha256": "a"}}, "images": {}}),
     "malformed (TypeError"),
    (json.dumps({"schema": 99, "kubernetes": "v1.35.4", "files": {}, "images": {}}), "schema 99"),
    (json.dumps(["a list"]), "malformed"),
])
def test_corrupt_manifest_is_an_artifact_error(tmp_path, content, words):
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(ArtifactError) as err:
        load_manifest(tmp_path)
    assert words in str(err.value)
    assert "kubelab bundle build" in str(err.value)


def test_artifact_staging_reads_the_manifest(tmp_path):
    write_manifest(tmp_path, full_manifest())
    sums = artifacts.bundle_checksums(tmp_path, RELEASE)
    assert set(sums) == {a.filename for a in RELEASE.artifacts()}


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tarball_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"alpha")
    b.write_bytes(b"beta")
    write_tarball(tmp_path / "one.tgz", {"bin/b": b, "bin/a": a})
    os.utime(a, (1_000_000, 1_000_000))
    os.chmod(b, 0o600)
    write_tarball(tmp_path / "two.tgz", {"bin/a": a, "bin/b": b})
    assert sha256(tmp_path / "one.tgz") == sha256(tmp_path / "two.tgz")
    with tarfile.open(tmp_path / "one.tgz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["bin/a", "bin/b"]
    assert {(m.mtime, m.uid, m.gid, m.mode) for m in members} == {(0, 0, 0, 0o755)}
    b.write_bytes(b"gamma")
    write_tarball(tmp_path / "three.tgz", {"bin/a": a, "bin/b": b})
    assert sha256(tmp_path / "three.tgz") != sha256(tmp_path / "one.tgz")


@pytest.mark.parametrize("art", RELEASE.artifacts(), ids=lambda a: a.component)
def test_bundle_files_have_the_upstream_layout(tmp_path, art):
    """Each file packs its binaries where Artifact.install (and so the deploy) expects them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for _, dest in art.install:
        (bin_dir / os.path.basename(dest)).write_bytes(f"binary {dest}".encode())
    built = Built(BUILT_BY.get(art.component, art.component), art.version, bin_dir, 0.0, cached=True)
    out = tmp_path / art.filename
    _write_artifact(art, built, out)
    for member, dest in art.install:
        extracted = tmp_path / "out"
        if member:
            artifacts._extract_member(out, member, extracted)
        else:
            extracted = out
        assert extracted.read_bytes() == f"binary {dest}".encode()
    if art.component == "cni-plugins":
        with tarfile.open(out) as tar:
            assert "./bridge" in tar.getnames()


def test_image_file_names_are_safe_and_distinct():
    refs = list(RELEASE.images().values()) + list(versions.EXERCISE_IMAGES)
    names = {images.bundle_name(ref) for ref in refs}
    assert len(names) == len(refs)
    assert images.bundle_name("registry.k8s.io/coredns/coredns:v1.13.1") == "registry.k8s.io_coredns_coredns_v1.13.1.tar"
    assert all("/" not in n and ":" not in n for n in names)


def test_a_stamp_holds_only_for_the_same_inputs_and_the_file_as_written(tmp_path):
    written = tmp_path / "kubeadm"
    written.write_bytes(b"binary")
    stamp = Stamp.of("inputs-1", written)
    assert stamp.holds("inputs-1", written)
    assert not stamp.holds("inputs-2", written)  # a source changed
    os.utime(written, ns=(stamp.mtime_ns + 1, stamp.mtime_ns + 1))
    assert not stamp.holds("inputs-1", written)  # the file was touched or replaced since
    written.unlink()
    assert not stamp.holds("inputs-1", written)
    assert not Stamp().holds("", tmp_path)  # a manifest from before stamps: everything is made again


def test_stamps_round_trip_and_a_manifest_without_them_still_loads(tmp_path):
    manifest = full_manifest()
    name = next(iter(manifest.files))
    manifest.files[name] = FileEntry("ab" * 32, manifest.files[name].component, manifest.files[name].version,
                                     Stamp("x" * 64, 10, 20))
    write_manifest(tmp_path, manifest)
    assert load_manifest(tmp_path).files[name].stamp == Stamp("x" * 64, 10, 20)
    raw = json.loads((tmp_path / "manifest.json").read_text())
    for entry in (*raw["files"].values(), *raw["images"].values()):
        entry.pop("stamp")
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    assert load_manifest(tmp_path).files[name].stamp == Stamp()


def test_inputs_digest_follows_each_sources_size_and_mtime(tmp_path):
    source = tmp_path / "kubectl"
    source.write_bytes(b"v1")
    before = inputs_digest("kubernetes", "v1.35.4", sources=[source])
    assert inputs_digest("kubernetes", "v1.35.4", sources=[source]) == before
    assert inputs_digest("kubernetes", "v1.35.5", sources=[source]) != before
    source.write_bytes(b"v2 longer")
    assert inputs_digest("kubernetes", "v1.35.4", sources=[source]) != before


def test_a_remembered_sha256_is_the_files_and_follows_a_rewrite(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBELAB_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    data.write_bytes(b"first")
    assert artifacts.sha256_remembered(data) == hashlib.sha256(b"first").hexdigest()
    assert len(list((tmp_path / "cache" / "sha256").iterdir())) == 1
    assert artifacts.sha256_remembered(data) == hashlib.sha256(b"first").hexdigest()
    data.write_bytes(b"second, longer")
    assert artifacts.sha256_remembered(data) == hashlib.sha256(b"second, longer").hexdigest()
