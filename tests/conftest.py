"""Shared fixtures: one real local lab per test session, torn down at the end.

The integration and e2e tiers need podman, debootstrap and the offline
bundle. When they are missing the fixtures fail with the reason (they never
skip), so a run that could not test the real parts does not look green.
"""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from kubelab import versions
from kubelab.local import nodes
from kubelab.spec import load_spec

# Override to run two test sessions side by side (each lab has its own network).
LAB = os.environ.get("KUBELAB_TEST_LAB", "test")
USER = os.environ.get("KUBELAB_TEST_USER", "ubuntu")


@pytest.fixture(scope="session")
def bundle():
    """The default release's offline bundle (built once, then cached by version)."""
    from kubelab.bundle.build import build_bundle

    return build_bundle(versions.release(versions.DEFAULT_MINOR))


@pytest.fixture(scope="session")
def lab_spec_path(bundle):
    """A 2-node local lab (1 control plane, 1 worker) that kubelab reaches as a sudo user, removed after the session."""
    nodes.down(LAB, missing_ok=True)
    # The sudo path (a cloud-VM-style user) is the harder one: the whole suite runs on it.
    path = nodes.up(LAB, 2, versions.DEFAULT_MINOR, Console(stderr=True), user=USER)
    yield path
    if not os.environ.get("KUBELAB_KEEP_LAB"):
        nodes.down(LAB, missing_ok=True)


@pytest.fixture(scope="session")
def lab_spec(lab_spec_path):
    return load_spec(lab_spec_path)


@pytest.fixture(scope="session")
def ssh_pool(lab_spec):
    """kubelab's own SSH layer, one connection per node for the whole session."""
    from kubelab.ssh import SSHPool

    with SSHPool(lab_spec) as pool:
        yield pool


@pytest.fixture(scope="session")
def node_shell(ssh_pool):
    """Run a command on a lab node; a non-zero exit fails the test with its stderr."""
    def run(node: str, command: str) -> str:
        return ssh_pool.session(node).run(command, check=True).stdout
    return run
