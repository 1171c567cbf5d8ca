"""`kubelab status --lock` on the real lab, and a deploy run against that lock.

The lock of the lab as built reproduces it (the deploy runs, changes
nothing, so every digest the nodes' containerd recorded is the one the lab's
mirror serves); a lock that pins another containerd, or another digest of
one image, stops the deploy before any operation runs.
"""

import json
import os
import subprocess
import sys

import pytest

from kubelab.deploy import REPO, parse_results
from lab_cli import kubelab

pytestmark = pytest.mark.e2e


def deploy_with_lock(spec_path, lock) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyinfra", "-y", "inventories/local.py", "deploys/lab.py", "--data", f"kubelab_lock={lock}"],
                          cwd=REPO, env={**os.environ, "KUBELAB_SPEC": str(spec_path)}, capture_output=True,
                          text=True, timeout=900)


def test_status_reads_every_node_and_its_lock_pins_the_lab(cluster_deploy, lab_spec, lab_spec_path, tmp_path):
    lock = tmp_path / "lab.lock.json"
    status = kubelab(lab_spec_path, "status", "--json", "--lock", str(lock))
    assert status.returncode == 0, status.stderr[-3000:]
    document = json.loads(status.stdout)
    assert json.loads(lock.read_text()) == document
    release = lab_spec.release
    assert set(document["nodes"]) == {n.name for n in lab_spec.nodes}
    for name, node in document["nodes"].items():
        assert node["os"] and node["kernel"], name
        assert node["versions"]["kubelet"] == node["versions"]["kubeadm"] == release.kubernetes
        assert node["versions"]["containerd"].lstrip("v") == release.containerd
        pause = node["images"][release.pause_image]
        assert pause.startswith("registry.k8s.io/pause@sha256:") and len(pause.split(":")[-1]) == 64

    same = deploy_with_lock(lab_spec_path, lock)
    assert same.returncode == 0, same.stdout[-4000:] + same.stderr[-2000:]
    changed, errors, _ = parse_results(same.stdout + same.stderr)
    assert (changed, errors) == (0, 0)

    document["nodes"][lab_spec.workers[0].name]["versions"]["containerd"] = "v2.2.0"
    lock.write_text(json.dumps(document))
    drifted = deploy_with_lock(lab_spec_path, lock)
    output = drifted.stdout + drifted.stderr
    assert drifted.returncode != 0
    assert f"{lab_spec.workers[0].name}: the lock has containerd v2.2.0, the deploy would install " \
           f"{release.containerd}" in output
    assert "Grand total" not in output  # stopped before a single operation


def test_a_lock_pinning_another_digest_of_one_image_is_refused(cluster_deploy, lab_spec, lab_spec_path, tmp_path):
    lock = tmp_path / "lab.lock.json"
    status = kubelab(lab_spec_path, "status", "--lock", str(lock))
    assert status.returncode == 0, status.stderr[-3000:]
    document = json.loads(lock.read_text())
    pause, worker = lab_spec.release.pause_image, lab_spec.workers[0].name
    served = document["nodes"][worker]["images"][pause]
    repository, _, digest = served.partition("@sha256:")
    altered = f"{repository}@sha256:{digest[::-1]}"
    document["nodes"][worker]["images"][pause] = altered
    lock.write_text(json.dumps(document))

    drifted = deploy_with_lock(lab_spec_path, lock)
    output = drifted.stdout + drifted.stderr
    assert drifted.returncode != 0
    mirror = lab_spec.registry_mirrors["registry.k8s.io"]
    assert f"{pause}: a changed image: the lock has {altered} ({worker}), {mirror} serves {served} now" in output
    assert f"write a new lock with `kubelab status --lock {lock}`" in output
    assert "Grand total" not in output  # stopped before a single operation
