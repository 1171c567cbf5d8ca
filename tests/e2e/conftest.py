"""The e2e tier's cluster: one full deploy of the session lab, shared by every e2e test."""

import pytest

from kubelab.deploy import run_deploy


@pytest.fixture(scope="session")
def cluster_deploy(lab_spec_path):
    """`pyinfra inventories/local.py deploys/lab.py`, every stage, on the session lab."""
    result = run_deploy(lab_spec_path)
    assert result.returncode == 0, result.output[-6000:]
    return result
