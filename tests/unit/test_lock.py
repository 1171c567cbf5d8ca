"""The lock: what `kubelab status` reads from a node, and the deploy's refusal to drift from it.

Tool outputs are the ones the lab's nodes printed (Debian 12 node containers,
Kubernetes 1.35 from the offline bundle). Images come from real captures of
one deployed lab in tests/fixtures/lock: `crictl images -o json` on each node,
and the manifest bytes its mirror served for every image the deploy pulls
(GET /v2/<repository>/manifests/<tag> with containerd's Accept types).
"""

import hashlib
import json
import socket
from pathlib import Path

import pytest

from kubelab import versions
from kubelab.bundle.images import bundle_name
from kubelab.runtime import parse_images
from kubelab.spec import parse_spec
from kubelab.status import (LockError, NodeStatus, Served, bearer_challenge, load_lock, lock_document, lock_drift,
                            parse_os_release, parse_version, pull_source, pulled_images, refuse_drift)

FIXTURES = Path(__file__).parents[1] / "fixtures"
IMAGES = FIXTURES / "runtime" / "crictl-images.json"
MIRROR = "http://10.89.85.1:5000"  # the captured lab's mirror
PAUSE = "registry.k8s.io/pause:3.10.1"
PAUSE_LOCKED = "registry.k8s.io/pause@sha256:44f00c3096197edd7246838beff7c94c6f30579b4cc9af8b388c61375fb54042"

# What each tool printed on the lab's nodes, verbatim.
PRINTED = {
    "containerd": "containerd github.com/containerd/containerd/v2 v2.1.9 \n",
    "runc": "runc version 1.3.6\nspec: 1.2.1\ngo: go1.26.8\nlibseccomp: 2.5.4\n",
    "crictl": "crictl version v1.34.0\n",
    "nerdctl": "nerdctl version 2.3.5\n",
    "kubelet": "Kubernetes v1.35.4\n",
    "kubeadm": "v1.35.4\n",
}
OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'


def spec(minor="1.35", mirror=None):
    mirrors = {"registry_mirrors": {"docker.io": mirror, "registry.k8s.io": mirror}} if mirror else {}
    return parse_spec({"name": "reset", "kubernetes": minor, **mirrors, "nodes": [
        {"name": "cp1", "address": "10.0.0.1", "role": "control-plane"},
        {"name": "w1", "address": "10.0.0.2", "role": "worker"}]})


def node(name, images):
    return NodeStatus(name, parse_os_release(OS_RELEASE), "6.18.44-fc-v782",
                      {tool: parse_version(out) for tool, out in PRINTED.items()}, images)


def captured_images(name):
    text = (FIXTURES / "lock" / f"crictl-images-{name}.json").read_text()
    return {tag: i.digest_for(tag) for i in parse_images(text) for tag in i.repo_tags}


@pytest.fixture
def lock():
    return json.loads(json.dumps(lock_document(spec(), [node(n, captured_images(n)) for n in ("cp1", "w1")])))


@pytest.fixture
def served():
    """What the captured lab's mirror served under each tag the deploy pulls, digested as served_digest does."""
    def digest(ref):
        body = (FIXTURES / "lock" / "mirror" / bundle_name(ref).replace(".tar", ".json")).read_bytes()
        return f"sha256:{hashlib.sha256(body).hexdigest()}"
    return {ref: Served(MIRROR, digest=digest(ref)) for ref in pulled_images(versions.release("1.35"))}


def test_versions_are_read_from_what_each_tool_prints():
    got = {tool: parse_version(out) for tool, out in PRINTED.items()}
    assert got == {"containerd": "v2.1.9", "runc": "1.3.6", "crictl": "v1.34.0", "nerdctl": "2.3.5",
                   "kubelet": "v1.35.4", "kubeadm": "v1.35.4"}
    assert parse_os_release(OS_RELEASE) == "Debian GNU/Linux 12 (bookworm)"
    assert parse_version("bash: kubeadm: command not found") == ""


def test_images_are_locked_by_the_digest_of_their_own_repository():
    images = {tag: i.digest_for(tag) for i in parse_images(IMAGES.read_text()) for tag in i.repo_tags}
    assert images["registry.k8s.io/pause:3.10.1"] == (
        "registry.k8s.io/pause@sha256:69916abd9c32ade102759af44ee1d54b5c96cb85b6da1f75351c6cca68117a8a")
    assert all(digest.startswith(tag.rsplit(":", 1)[0] + "@sha256:") for tag, digest in images.items())


def test_a_lock_of_the_lab_as_built_does_not_drift(lock, served):
    # Every digest containerd recorded on either node is the digest of the bytes the mirror serves.
    # The capture predates nginx:1.28, which a node pulls only for the rolling-update exercise.
    assert {ref for status in lock["nodes"].values() for ref in status["images"]} == (
        set(served) - {"docker.io/library/nginx:1.28"})
    assert lock_drift(lock, spec(), served.__getitem__) == []


def test_another_kubernetes_minor_drifts_on_every_pinned_piece(lock, served):
    drift = lock_drift(lock, spec("1.34"), served.__getitem__)
    assert drift[0] == "the lock is for Kubernetes 1.35, the spec asks for 1.34"
    assert "cp1: the lock has kubelet v1.35.4, the deploy would install v1.34.4" in drift
    assert "w1: the lock has kubeadm v1.35.4, the deploy would install v1.34.4" in drift
    assert any(d.startswith("kube-apiserver: the deploy would pull registry.k8s.io/kube-apiserver:v1.34.4, "
                            "the lock has registry.k8s.io/kube-apiserver:v1.35.4") for d in drift)
    # etcd and CoreDNS differ between the releases too; pause, containerd, runc do not.
    assert any(d.startswith("etcd:") for d in drift) and any(d.startswith("coredns:") for d in drift)
    assert not any("containerd" in d or "runc" in d or d.startswith("pause:") for d in drift)


def test_one_node_with_another_runtime_version_drifts(lock, served):
    lock["nodes"]["w1"]["versions"]["containerd"] = "v2.2.0"
    assert lock_drift(lock, spec(), served.__getitem__) == ["w1: the lock has containerd v2.2.0, the deploy would install 2.1.9"]


def test_a_missing_tool_or_image_drifts(lock, served):
    del lock["nodes"]["cp1"]["versions"]["nerdctl"]
    for status in lock["nodes"].values():
        status["images"].pop("docker.io/cloudnativelabs/kube-router:v2.1.0")
    assert lock_drift(lock, spec(), served.__getitem__) == [
        "cp1: the lock has nerdctl (none), the deploy would install 2.3.5",
        "kube-router: the deploy would pull docker.io/cloudnativelabs/kube-router:v2.1.0, the lock has no image "
        "of that repository"]


def test_a_changed_image_drifts_naming_the_locked_and_the_served_digest(lock, served):
    served[PAUSE] = Served(MIRROR, digest=f"sha256:{'1' * 64}")
    assert lock_drift(lock, spec(), served.__getitem__) == [
        f"{PAUSE}: a changed image: the lock has {PAUSE_LOCKED} (cp1, w1), {MIRROR} serves "
        f"registry.k8s.io/pause@sha256:{'1' * 64} now"]


def test_one_node_locked_with_another_digest_drifts_on_that_node_only(lock, served):
    nginx = "docker.io/library/nginx:1.27"
    locked = lock["nodes"]["w1"]["images"][nginx]
    lock["nodes"]["cp1"]["images"][nginx] = f"docker.io/library/nginx@sha256:{'2' * 64}"
    assert lock_drift(lock, spec(), served.__getitem__) == [
        f"{nginx}: a changed image: the lock has docker.io/library/nginx@sha256:{'2' * 64} (cp1), {MIRROR} serves "
        f"{locked} now"]


def test_the_deploy_refuses_a_drifting_lock_naming_every_difference(tmp_path, lock):
    # Nothing listens on the mirror's port: what it serves cannot be read, as offline.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        mirror = f"http://127.0.0.1:{s.getsockname()[1]}"
    lock["nodes"]["w1"]["versions"]["runc"] = "1.4.0"
    path = tmp_path / "lab.lock.json"
    path.write_text(json.dumps(lock))
    with pytest.raises(LockError) as err:
        refuse_drift(spec(mirror=mirror), path)
    message = str(err.value)
    assert "w1: the lock has runc 1.4.0, the deploy would install v1.3.6" in message
    assert "nothing was changed" in message
    assert (f"{PAUSE}: the lock has {PAUSE_LOCKED} (cp1, w1), but what {mirror} serves cannot be read ({mirror}/v2/"
            "pause/manifests/3.10.1: [Errno 111] Connection refused), and digests cannot be compared offline. Fix: "
            f"make {mirror} reachable from this machine, or point registry_mirrors.registry.k8s.io in the spec at a "
            f"mirror that serves {PAUSE}") in message
    assert f"write a new lock with `kubelab status --lock {path}`" in message


def test_an_image_is_looked_up_where_the_nodes_pull_it():
    assert pull_source(spec(mirror=MIRROR + "/"), "docker.io/library/nginx:1.27") == (MIRROR, "library/nginx", "1.27")
    assert pull_source(spec(), "docker.io/library/nginx:1.27") == (
        "https://registry-1.docker.io", "library/nginx", "1.27")
    assert pull_source(spec(), "registry.k8s.io/coredns/coredns:v1.13.1") == (
        "https://registry.k8s.io", "coredns/coredns", "v1.13.1")


def test_an_upstream_registrys_token_challenge_is_read():
    # docker.io's answer to an anonymous manifest request (its token documentation's example).
    header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"'
    assert bearer_challenge(header) == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                                        "scope": "repository:library/nginx:pull"}
    assert bearer_challenge('Basic realm="Registry Realm"') == {}


@pytest.mark.parametrize("content, problem", [(None, "cannot be read"), ("{not json", "not JSON"),
                                              ('{"format": 2, "nodes": {}}', "not a kubelab lock")])
def test_an_unusable_lock_file_is_an_error_with_the_fix(tmp_path, content, problem):
    path = tmp_path / "lab.lock.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LockError, match=problem) as err:
        load_lock(path)
    assert f"kubelab status --lock {path}" in str(err.value)
