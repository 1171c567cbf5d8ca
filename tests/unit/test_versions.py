"""The version table: every URL, checksum and image a node gets comes from here.

A wrong entry here is not caught until a node download fails (or, worse, a
tampered file is accepted), so these tests check the table's shape without a
network: URLs point where upstream publishes, checksums look like sha256 and
are not copy-paste duplicates, and the default release is fully pinned.
"""

import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from kubelab import versions
from kubelab.spec import parse_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "inventories" / "vms.example.yaml"

# Kubernetes binaries come from the release bucket; everything else from the
# project's GitHub releases. A URL on any other host is a mirror nobody vetted.
K8S_BINARIES = ("kubeadm", "kubelet", "kubectl")
SHA256 = re.compile(r"[0-9a-f]{64}")

ALL_ARTIFACTS = [
    pytest.param(rel, art, id=f"{minor}-{art.component}")
    for minor, rel in versions.RELEASES.items()
    for art in rel.artifacts()
]
DEFAULT_ARTIFACTS = [
    pytest.param(art, id=art.component)
    for art in versions.release(versions.DEFAULT_MINOR).artifacts()
]


@pytest.mark.parametrize("rel, art", ALL_ARTIFACTS)
def test_url_is_https_on_upstream_host_and_names_the_file(rel, art):
    url = urlsplit(art.url)
    assert url.scheme == "https"
    expected_host = "dl.k8s.io" if art.component in K8S_BINARIES else "github.com"
    assert url.hostname == expected_host
    # The bundle stores files under `filename`; a URL ending elsewhere would
    # make the upstream and bundle sources disagree about what was fetched.
    assert PurePosixPath(url.path).name == art.filename
    assert art.version in url.path


@pytest.mark.parametrize("rel, art", ALL_ARTIFACTS)
def test_install_destinations_are_absolute(rel, art):
    assert art.install, f"{art.component} installs nothing"
    for _member, dest in art.install:
        assert PurePosixPath(dest).is_absolute(), f"{art.component}: {dest!r}"


def test_artifacts_carry_their_table_checksum():
    # Guards the lookup key: a checksum filed under a version spelled
    # differently ("1.35.4" vs "v1.35.4") would silently never be used.
    used = {(a.component, a.version) for rel in versions.RELEASES.values() for a in rel.artifacts()}
    unused = sorted(set(versions.CHECKSUMS) - used)
    assert not unused, f"CHECKSUMS keys no release artifact uses: {unused}"
    for rel in versions.RELEASES.values():
        for art in rel.artifacts():
            assert art.sha256 == versions.CHECKSUMS.get((art.component, art.version))


@pytest.mark.parametrize("key", sorted(versions.CHECKSUMS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_checksums_are_lowercase_sha256_hex(key):
    # Bare hex only: kubespray's "sha256:" prefix or an uppercase copy would
    # never equal what sha256sum prints on the node.
    assert SHA256.fullmatch(versions.CHECKSUMS[key]), versions.CHECKSUMS[key]


@pytest.mark.parametrize("art", DEFAULT_ARTIFACTS)
def test_default_release_pins_a_checksum_for_every_artifact(art):
    if (art.component, art.version) in versions.UNPUBLISHED:
        assert art.sha256 is None, "a published checksum was added: drop the UNPUBLISHED entry"
        return
    assert art.sha256 is not None, (
        f"no published sha256 for {art.component} {art.version} ({art.url}); "
        "add it to versions.CHECKSUMS from a published table"
    )


def test_no_two_keys_share_a_checksum():
    # Two different files cannot have the same sha256; a shared value means
    # one line was pasted under the wrong component or version.
    by_sum: dict[str, list] = {}
    for key, digest in versions.CHECKSUMS.items():
        by_sum.setdefault(digest, []).append(key)
    shared = {d: keys for d, keys in by_sum.items() if len(keys) > 1}
    assert not shared, shared


@pytest.mark.parametrize("minor", sorted(versions.RELEASES))
def test_images_are_the_ones_kubeadm_pulls(minor):
    rel = versions.release(minor)
    images = rel.images()
    k8s = versions.UPSTREAM_K8S_REGISTRY
    # The names `kubeadm config images list` prints; a different name means
    # kubeadm pulls an image the bundle never staged.
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        assert images[name] == f"{k8s}/{name}:{rel.kubernetes}"
    assert images["etcd"] == f"{k8s}/etcd:{rel.etcd}"
    assert images["coredns"] == f"{k8s}/coredns/coredns:{rel.coredns}"
    assert images["pause"] == f"{k8s}/pause:{rel.pause}"
    # containerd's sandbox_image is set from pause_image; if the two differ,
    # kubelet and containerd disagree and pods pull a second pause image.
    assert images["pause"] == rel.pause_image
    assert rel.minor == minor


def test_unknown_release_names_the_known_ones():
    with pytest.raises(KeyError) as err:
        versions.release("9.99")
    message = str(err.value)
    assert "9.99" in message
    for known in versions.RELEASES:
        assert known in message


def test_vms_example_spec_parses(tmp_path):
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    # The example points at the user's own key and known_hosts, which need not
    # exist here; parse_spec requires readable files, so substitute real ones.
    assert {"key", "known_hosts"} <= set(raw["ssh"]), "the example should show both ssh files"
    for field in ("key", "known_hosts"):
        stand_in = tmp_path / field
        stand_in.write_text("")
        raw["ssh"][field] = str(stand_in)

    spec = parse_spec(raw, str(EXAMPLE_SPEC))

    assert spec.source == "upstream"
    assert spec.kubernetes == versions.DEFAULT_MINOR
    assert spec.control_plane.role == "control-plane"
    assert len(spec.workers) == 2
    assert spec.ssh.user == "ubuntu"
    assert spec.ssh.key == str(tmp_path / "key")
    assert spec.ssh.known_hosts == str(tmp_path / "known_hosts")
    assert spec.ssh.strict_host_key_checking is True
