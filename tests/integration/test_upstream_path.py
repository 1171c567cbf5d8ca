"""The upstream path for real: downloads over HTTP from a site laid out like dl.k8s.io and GitHub.

The site serves the offline bundle's files under their upstream URL paths
(kubelab.local.downloads); a spec pins their sha256. What is proven: every
file is fetched from the site and stages exactly as the bundle source does;
a file with one byte changed, a missing file and a dead server each stop
staging with an error naming the file, the URL and the fix, and leave
nothing behind; on the session lab, a tampered kubeadm stops the deploy
before a single operation runs, so no node file changes.
"""

import pytest

from kubelab import artifacts, versions
from kubelab.deploy import run_deploy
from kubelab.errors import ArtifactError
from kubelab.local import downloads
from kubelab.spec import parse_spec

pytestmark = pytest.mark.integration

RELEASE = versions.release(versions.DEFAULT_MINOR)
NODES = [{"name": "cp1", "address": "10.0.0.10", "role": "control-plane"}]
# What the runtime stage would write on a node; mtimes catch a rewrite with the same bytes.
NODE_FILES = ("find /usr/local/bin /usr/local/sbin /opt/cni/bin /etc/containerd /etc/crictl.yaml "
              "-type f -printf '%p %s %T@ %m\\n' 2>/dev/null | sort")


def spec_with(**artifact_fields):
    return parse_spec({"name": "upstream-path", "nodes": NODES, "artifacts": artifact_fields})


def upstream_spec(mirror: str, sums: dict[str, str]):
    return spec_with(source="upstream", download_mirror=mirror, sha256=sums)


def site_url(mirror: str, component: str) -> str:
    return artifacts.mirrored_url(RELEASE.artifact(component).url, mirror)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty kubelab cache, so every file is really downloaded and nothing is left from another test."""
    path = tmp_path / "cache"
    monkeypatch.setenv("KUBELAB_CACHE", str(path))
    return path


@pytest.fixture
def site_copy(bundle, tmp_path):
    """A download site of the bundle's files that a test may alter before it is served."""
    root = tmp_path / "site"
    sums = downloads.lay_out(bundle, RELEASE, root)
    return root, sums


def file_on_site(root, component: str):
    return root / artifacts.mirror_path(RELEASE.artifact(component).url)


def tamper(root, component: str) -> str:
    """Replace the site's file by a copy with its middle byte changed; returns the copy's sha256."""
    path = file_on_site(root, component)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.unlink()
    path.write_bytes(bytes(data))
    return artifacts.sha256_of(path)


def test_every_file_comes_from_the_site_and_stages_as_from_the_bundle(bundle, cache, monkeypatch):
    with downloads.serve_bundle(bundle, RELEASE) as (site, sums):
        from_site = artifacts.stage(upstream_spec(site.url, sums))
    assert sorted(site.requests) == sorted(("/" + artifacts.mirror_path(a.url), 200) for a in RELEASE.artifacts())
    assert all(item.local_path.is_relative_to(cache) for items in from_site.values() for item in items)

    monkeypatch.setenv("KUBELAB_CACHE", str(cache.with_name("bundle-cache")))
    from_bundle = artifacts.stage(spec_with(source="bundle", bundle=str(bundle)))

    def installed(staged):
        return {component: sorted((item.dest, artifacts.sha256_of(item.local_path)) for item in items)
                for component, items in staged.items()}

    assert installed(from_site) == installed(from_bundle)
    assert set(from_site) == {a.component for a in RELEASE.artifacts()}


# kubeadm is fetched first, nerdctl last: even after nine good files, nothing is unpacked.
@pytest.mark.parametrize("component", ["kubeadm", "nerdctl"])
def test_a_file_with_one_byte_changed_is_refused_and_nothing_is_staged(site_copy, cache, component):
    root, sums = site_copy
    filename = RELEASE.artifact(component).filename
    actual = tamper(root, component)
    with downloads.DownloadSite(root) as site, pytest.raises(ArtifactError) as err:
        artifacts.stage(upstream_spec(site.url, sums))
    url = site_url(site.url, component)
    assert str(err.value) == (
        f"{filename} from {url} fails its checksum: expected sha256 {sums[filename]}, got {actual}. "
        f"Nothing was installed. Fix: {url} serves another file than the one the lab spec pins under "
        f"artifacts.sha256.{filename}: put upstream's {filename} back on that server, "
        "or correct the pin if it was copied wrong")
    assert not (cache / "staged").exists()
    downloaded = {p.name for p in (cache / "downloads").iterdir()}
    assert sums[filename] not in downloaded and actual not in downloaded
    assert not [p for p in cache.rglob(".part-*")]


def test_a_missing_file_is_a_clear_error_and_leaves_no_partial_file(site_copy, cache):
    root, sums = site_copy
    file_on_site(root, "kubelet").unlink()
    with downloads.DownloadSite(root) as site, pytest.raises(ArtifactError) as err:
        artifacts.stage(upstream_spec(site.url, sums))
    message = str(err.value)
    assert f"downloading kubelet from {site_url(site.url, 'kubelet')} failed: HTTP Error 404" in message
    assert f"Fix: check that the download mirror {site.url} answers and serves that file" in message
    assert (site_url(site.url, "kubelet").removeprefix(site.url), 404) in site.requests
    assert not (cache / "staged").exists()
    assert not [p for p in cache.rglob(".part-*")]


def test_a_server_that_does_not_answer_is_a_clear_error(site_copy, cache, free_port):
    _, sums = site_copy
    mirror = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ArtifactError) as err:
        artifacts.stage(upstream_spec(mirror, sums))
    message = str(err.value)
    assert f"downloading kubeadm from {site_url(mirror, 'kubeadm')} failed: " in message
    assert "Connection refused" in message
    assert f"Fix: check that the download mirror {mirror} answers" in message
    assert [p.name for p in cache.rglob("*")] == ["downloads"]


def test_a_site_on_a_taken_port_is_refused_with_the_fix(site_copy):
    root, _ = site_copy
    with downloads.DownloadSite(root) as site:
        port = int(site.url.rsplit(":", 1)[1])
        with pytest.raises(ArtifactError) as err:
            downloads.DownloadSite(root, port=port)
    assert str(err.value) == (f"the download site cannot listen on 127.0.0.1:{port}: Address already in use. "
                              "Fix: give a free port (0 picks one) and an address of this machine")


def test_a_tampered_kubeadm_stops_the_deploy_before_any_host_changes(site_copy, cache, tmp_path, lab_spec_path,
                                                                      lab_spec, node_shell):
    root, sums = site_copy
    tamper(root, "kubeadm")
    before = {node.name: node_shell(node.name, NODE_FILES) for node in lab_spec.nodes}
    with downloads.DownloadSite(root) as site:
        spec = downloads.write_upstream_spec(lab_spec_path, site.url, sums, tmp_path / "spec.yaml")
        result = run_deploy(spec, stages="runtime")
    assert result.returncode != 0
    assert f"kubeadm from {site_url(site.url, 'kubeadm')} fails its checksum: expected sha256 {sums['kubeadm']}" \
        in result.output, result.output[-4000:]
    assert f"Fix: {site_url(site.url, 'kubeadm')} serves another file than the one {spec} pins" in result.output
    # pyinfra prints its results table only after running operations.
    assert "Grand total" not in result.output
    assert result.changed == 0
    assert {node.name: node_shell(node.name, NODE_FILES) for node in lab_spec.nodes} == before
    assert not (cache / "staged").exists()
