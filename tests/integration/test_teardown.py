"""`nodes down` removes its own lab and nothing else, with real podman containers and state folders.

The containers are created, never started (the node image's `true` is
enough): what is judged is which podman objects and folders are removed.
"""

import os
import subprocess
import sys

import pytest

from kubelab import paths
from kubelab.local import image, nodes
from kubelab.local.podman import podman
from kubelab.names import InvalidName

pytestmark = pytest.mark.integration

LABS = ("safe-a", "safe-b", "safe-a-2")


@pytest.fixture
def three_labs(tmp_path, monkeypatch):
    """Three labs' containers and state folders (one name a prefix of another), and a folder outside them."""
    monkeypatch.setenv("KUBELAB_HOME", str(tmp_path / "state"))
    node_image = image.ensure_image()
    for lab in LABS:
        podman("create", "--label", f"{nodes.LABEL}={lab}", "--name", f"kubelab-{lab}-cp1", node_image, "true")
        (paths.lab_dir(lab)).mkdir(parents=True)
        (paths.lab_dir(lab) / "spec.yaml").write_text(f"name: {lab}\n")
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    yield outside
    for lab in LABS:
        podman("rm", "--force", f"kubelab-{lab}-cp1", check=False)


def kubelab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubelab", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120, env=os.environ.copy())


def test_down_removes_only_its_own_labs_containers_and_state(three_labs):
    plan = nodes.teardown_plan("safe-a")
    assert plan.containers == ("kubelab-safe-a-cp1",) and plan.state == paths.lab_dir("safe-a")
    assert nodes.down("safe-a") == ["kubelab-safe-a-cp1"]
    assert not podman("container", "exists", "kubelab-safe-a-cp1", check=False).returncode == 0
    for other in ("safe-b", "safe-a-2"):
        assert podman("container", "exists", f"kubelab-{other}-cp1", check=False).returncode == 0
        assert (paths.lab_dir(other) / "spec.yaml").is_file()
    assert (three_labs / "keep").read_text() == "keep"


@pytest.mark.parametrize("lab", ["", "..", "../..", "../../..", "safe-*", "safe-a/../safe-b"])
def test_a_bad_lab_name_removes_nothing(three_labs, lab):
    result = kubelab("nodes", "down", "--lab", lab, "--yes")
    assert result.returncode == 2 and "DNS-1123" in result.stderr
    with pytest.raises(InvalidName):
        nodes.teardown_plan(lab)
    for other in LABS:
        assert podman("container", "exists", f"kubelab-{other}-cp1", check=False).returncode == 0
        assert (paths.lab_dir(other) / "spec.yaml").is_file()
    assert (three_labs / "keep").read_text() == "keep"


def test_an_unknown_lab_is_an_error_and_without_yes_nothing_is_removed(three_labs):
    unknown = kubelab("nodes", "down", "--lab", "safe-c", "--yes")
    assert unknown.returncode == 2 and "there is no lab 'safe-c'" in " ".join(unknown.stderr.split())
    refused = kubelab("nodes", "down", "--lab", "safe-b")
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert "container kubelab-safe-b-cp1" in refused.stderr  # the list of what it would remove
    assert podman("container", "exists", "kubelab-safe-b-cp1", check=False).returncode == 0
