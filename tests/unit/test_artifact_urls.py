"""The upstream path's URLs and sums: where each file is fetched from, which sha256 it must have.

A mirror rewrite that drops the host or doubles a slash fetches the wrong
file or none; a pin that does not win over the published sum would refuse
a lab whose spec says exactly what to accept; a file with no sum at all must
be refused before anything is downloaded.
"""

from urllib.parse import urlsplit

import pytest

from kubelab import artifacts, versions
from kubelab.errors import ArtifactError
from kubelab.spec import parse_spec

RELEASE = versions.release(versions.DEFAULT_MINOR)
NODES = [{"name": "cp1", "address": "10.0.0.10", "role": "control-plane"}]


def upstream_spec(**artifact_fields):
    return parse_spec({"name": "mirror", "nodes": NODES, "artifacts": {"source": "upstream", **artifact_fields}})


@pytest.mark.parametrize("art", RELEASE.artifacts(), ids=lambda a: a.component)
def test_a_mirror_keeps_the_upstream_host_and_path_under_its_own(art):
    url = urlsplit(art.url)
    assert artifacts.mirrored_url(art.url, "http://127.0.0.1:8080/m") == \
        f"http://127.0.0.1:8080/m/{url.hostname}{url.path}"


def test_kubernetes_and_github_files_land_under_their_hosts():
    kubeadm, runc = RELEASE.artifact("kubeadm"), RELEASE.artifact("runc")
    assert artifacts.mirrored_url(kubeadm.url, "http://127.0.0.1:8080") == \
        f"http://127.0.0.1:8080/dl.k8s.io/release/{RELEASE.kubernetes}/bin/linux/amd64/kubeadm"
    assert artifacts.mirrored_url(runc.url, "https://mirror.example/") == \
        f"https://mirror.example/github.com/opencontainers/runc/releases/download/{RELEASE.runc}/runc.amd64"


@pytest.mark.parametrize("mirror", [None, ""])
def test_without_a_mirror_the_upstream_url_is_used(mirror):
    kubeadm = RELEASE.artifact("kubeadm")
    assert artifacts.mirrored_url(kubeadm.url, mirror) == kubeadm.url


def test_a_spec_pin_replaces_the_published_sum_and_fills_a_missing_one():
    kubeadm, kubelet, nerdctl = (RELEASE.artifact(c) for c in ("kubeadm", "kubelet", "nerdctl"))
    upstream = artifacts.Upstream.of(upstream_spec(sha256={kubeadm.filename: "a" * 64, nerdctl.filename: "b" * 64}))
    assert upstream.expected(kubeadm) == "a" * 64
    assert upstream.expected(nerdctl) == "b" * 64
    assert upstream.expected(kubelet) == kubelet.sha256 == versions.CHECKSUMS[("kubelet", RELEASE.kubernetes)]


def test_a_changed_mirror_or_pin_is_another_staging():
    # stage() caches per Upstream: equal specs share it, any difference must not.
    base = artifacts.Upstream.of(upstream_spec(download_mirror="http://127.0.0.1:1"))
    assert base == artifacts.Upstream.of(upstream_spec(download_mirror="http://127.0.0.1:1"))
    assert base != artifacts.Upstream.of(upstream_spec(download_mirror="http://127.0.0.1:2"))
    assert base != artifacts.Upstream.of(upstream_spec(download_mirror="http://127.0.0.1:1",
                                                       sha256={"kubeadm": "c" * 64}))


def test_a_file_without_any_sum_is_refused_before_anything_is_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBELAB_CACHE", str(tmp_path))
    nerdctl = RELEASE.artifact("nerdctl")
    # Port 1 on loopback: had a download been tried, the error would be a refused connection.
    with pytest.raises(ArtifactError) as err:
        artifacts.stage(upstream_spec(download_mirror="http://127.0.0.1:1"))
    message = str(err.value)
    assert f"no sha256 is known for {nerdctl.filename} (nerdctl {nerdctl.version})" in message
    assert f"Fix: pin the value upstream publishes beside the file in the spec (artifacts: {{sha256: " \
           f"{{{nerdctl.filename}: <64 hex digits>}}}})" in message
    assert list(tmp_path.iterdir()) == []
