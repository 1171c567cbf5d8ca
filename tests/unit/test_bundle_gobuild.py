"""Build recipes and the third-party source check, without running go."""

import dataclasses
import hashlib

import pytest

from kubelab import versions
from kubelab.bundle import gobuild, images
from kubelab.bundle.build import BUILT_BY
from kubelab.errors import ArtifactError

RELEASE = versions.RELEASES["1.35"]


@pytest.mark.parametrize("art", RELEASE.artifacts(), ids=lambda a: a.component)
def test_a_recipe_builds_every_installed_binary(art):
    recipe = gobuild.RECIPES[BUILT_BY.get(art.component, art.component)]
    produced = {name for name, _ in recipe.binaries}
    assert {dest.rsplit("/", 1)[1] for _, dest in art.install} <= produced
    assert recipe.tag(RELEASE).removeprefix("v") == art.version.removeprefix("v")


def test_tags_are_upstream_git_tags():
    tags = {c: r.tag(RELEASE) for c, r in gobuild.RECIPES.items()}
    assert tags["etcd"] == "v3.6.6"  # the image tag 3.6.6-0 carries kubeadm's revision
    assert tags["containerd"] == "v2.1.9"
    assert tags["nerdctl"] == "v2.3.5"
    assert tags["kubernetes"] == RELEASE.kubernetes
    assert tags["pause"] == RELEASE.pause


def test_image_specs_cover_every_image_the_cluster_pulls(tmp_path):
    built = {c: gobuild.Built(c, "v0", tmp_path, 0.0, cached=True) for c in gobuild.RECIPES}
    refs = [spec.ref for spec in images.image_specs(RELEASE, built)]
    assert sorted(refs) == sorted([*RELEASE.images().values(), *versions.EXERCISE_IMAGES])


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KUBELAB_THIRD_PARTY", str(tmp_path / "third-party"))
    (tmp_path / "third-party").mkdir()
    return tmp_path / "third-party"


def test_tampered_source_archive_is_refused_before_building(third_party):
    archive = third_party / "nerdctl-v2.3.5.tar.gz"
    archive.write_bytes(b"not the upstream archive")
    (third_party / "SHA256SUMS").write_text(f"{'0' * 64}  nerdctl-v2.3.5.tar.gz\n")
    with pytest.raises(ArtifactError, match=r"has sha256 [0-9a-f]{64}, SHA256SUMS lists 0{64}; refusing"):
        gobuild.build("nerdctl", RELEASE)
    assert not (gobuild.build_root("nerdctl", "v2.3.5") / "built.json").exists()


def test_unlisted_source_archive_is_refused(third_party):
    (third_party / "nerdctl-v2.3.5.tar.gz").write_bytes(b"x")
    (third_party / "SHA256SUMS").write_text(f"{hashlib.sha256(b'x').hexdigest()} *other.tar.gz\n")
    with pytest.raises(ArtifactError, match="SHA256SUMS does not list nerdctl-v2.3.5.tar.gz"):
        gobuild.build("nerdctl", RELEASE)


def test_missing_third_party_directory_says_where_to_put_it(third_party):
    release = dataclasses.replace(RELEASE, nerdctl="9.9.9")
    with pytest.raises(ArtifactError, match="nerdctl-v9.9.9.tar.gz.*KUBELAB_THIRD_PARTY"):
        gobuild.build("nerdctl", release)
