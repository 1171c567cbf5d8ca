"""The lock: what `kubelab status` reads from a node, and the deploy's refusal to drift from it.

Tool outputs are the ones the lab's nodes printed (Debian 12 node containers,
Kubernetes 1.35 from the offline bundle); images come from the real
`crictl images -o json` capture in tests/fixtures/runtime.
"""

import json
from pathlib import Path

import pytest

from kubelab import versions
from kubelab.runtime import parse_images
from kubelab.spec import parse_spec
from kubelab.status import (LockError, NodeStatus, load_lock, lock_document, lock_drift, parse_os_release,
                            parse_version, refuse_drift)

IMAGES = Path(__file__).parents[1] / "fixtures" / "runtime" / "crictl-images.json"

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


def spec(minor="1.35"):
    return parse_spec({"name": "reset", "kubernetes": minor, "nodes": [
        {"name": "cp1", "address": "10.0.0.1", "role": "control-plane"},
        {"name": "w1", "address": "10.0.0.2", "role": "worker"}]})


def node(name, images):
    return NodeStatus(name, parse_os_release(OS_RELEASE), "6.18.44-fc-v782",
                      {tool: parse_version(out) for tool, out in PRINTED.items()}, images)


@pytest.fixture
def lock():
    images = {tag: i.digest_for(tag) for i in parse_images(IMAGES.read_text()) for tag in i.repo_tags}
    # The worker's capture lacks the control plane's images; the control plane has them.
    control = {**images, **{ref: f"{ref.rsplit(':', 1)[0]}@sha256:{'0' * 64}"
                            for ref in versions.release("1.35").images().values()}}
    return json.loads(json.dumps(lock_document(spec(), [node("cp1", control), node("w1", images)])))


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


def test_a_lock_of_the_same_release_does_not_drift(lock):
    assert lock_drift(lock, spec()) == []


def test_another_kubernetes_minor_drifts_on_every_pinned_piece(lock):
    drift = lock_drift(lock, spec("1.34"))
    assert drift[0] == "the lock is for Kubernetes 1.35, the spec asks for 1.34"
    assert "cp1: the lock has kubelet v1.35.4, the deploy would install v1.34.4" in drift
    assert "w1: the lock has kubeadm v1.35.4, the deploy would install v1.34.4" in drift
    assert any(d.startswith("kube-apiserver: the deploy would pull registry.k8s.io/kube-apiserver:v1.34.4, "
                            "the lock has registry.k8s.io/kube-apiserver:v1.35.4") for d in drift)
    # etcd and CoreDNS differ between the releases too; pause, containerd, runc do not.
    assert any(d.startswith("etcd:") for d in drift) and any(d.startswith("coredns:") for d in drift)
    assert not any("containerd" in d or "runc" in d or d.startswith("pause:") for d in drift)


def test_one_node_with_another_runtime_version_drifts(lock):
    lock["nodes"]["w1"]["versions"]["containerd"] = "v2.2.0"
    assert lock_drift(lock, spec()) == ["w1: the lock has containerd v2.2.0, the deploy would install 2.1.9"]


def test_a_missing_tool_or_image_drifts(lock):
    del lock["nodes"]["cp1"]["versions"]["nerdctl"]
    for status in lock["nodes"].values():
        status["images"].pop("docker.io/cloudnativelabs/kube-router:v2.1.0")
    assert lock_drift(lock, spec()) == [
        "cp1: the lock has nerdctl (none), the deploy would install 2.3.5",
        "kube-router: the deploy would pull docker.io/cloudnativelabs/kube-router:v2.1.0, the lock has no image "
        "of that repository"]


def test_the_deploy_refuses_a_drifting_lock_naming_every_difference(tmp_path, lock):
    lock["nodes"]["w1"]["versions"]["runc"] = "1.4.0"
    path = tmp_path / "lab.lock.json"
    path.write_text(json.dumps(lock))
    with pytest.raises(LockError) as err:
        refuse_drift(spec(), path)
    assert "w1: the lock has runc 1.4.0, the deploy would install v1.3.6" in str(err.value)
    assert "nothing was changed" in str(err.value)
    lock["nodes"]["w1"]["versions"]["runc"] = "1.3.6"
    path.write_text(json.dumps(lock))
    refuse_drift(spec(), path)


@pytest.mark.parametrize("content, problem", [(None, "cannot be read"), ("{not json", "not JSON"),
                                              ('{"format": 2, "nodes": {}}', "not a kubelab lock")])
def test_an_unusable_lock_file_is_an_error_with_the_fix(tmp_path, content, problem):
    path = tmp_path / "lab.lock.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LockError, match=problem) as err:
        load_lock(path)
    assert f"kubelab status --lock {path}" in str(err.value)
