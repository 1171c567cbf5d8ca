"""The operator's kubeconfig copy: written 0600, rewritten only when the node's file differs."""

import base64
import hashlib
import stat

import pytest

from kubelab import kubeconfig
from kubelab.errors import KubelabError

ADMIN_CONF = "apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-key-data: S0VZ\n"
COMMAND = "base64 -w0 /etc/kubernetes/admin.conf"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_copy_is_private_and_byte_exact(tmp_path):
    local = tmp_path / "lab" / "kubeconfig"
    kubeconfig.save(local, base64.b64encode(ADMIN_CONF.encode()).decode() + "\n", "cp1", COMMAND)
    assert local.read_text() == ADMIN_CONF
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert kubeconfig.is_current(local, sha256(ADMIN_CONF))


def test_a_copy_is_current_only_with_the_same_content_and_mode_0600(tmp_path):
    local = tmp_path / "kubeconfig"
    assert not kubeconfig.is_current(local, sha256(ADMIN_CONF))  # no copy yet
    kubeconfig.save(local, base64.b64encode(ADMIN_CONF.encode()).decode(), "cp1", COMMAND)
    assert not kubeconfig.is_current(local, None)  # the node has none (kubeadm init not run yet)
    assert not kubeconfig.is_current(local, sha256(ADMIN_CONF + "# rotated\n"))
    local.chmod(0o644)
    assert not kubeconfig.is_current(local, sha256(ADMIN_CONF))


@pytest.mark.parametrize("printed", ["", "not base64 at all!", base64.b64encode(b"\xff\xfe").decode()])
def test_output_that_is_no_kubeconfig_is_an_error_naming_node_and_command_and_writes_nothing(tmp_path, printed):
    local = tmp_path / "kubeconfig"
    with pytest.raises(KubelabError) as err:
        kubeconfig.save(local, printed, "cp1", COMMAND)
    assert str(err.value).startswith(f"node cp1: `{COMMAND}`") and "Fix:" in str(err.value)
    assert not local.exists()
