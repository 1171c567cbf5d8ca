"""The operator's copy of the cluster's admin kubeconfig, on the machine that runs kubelab.

The deploy reads /etc/kubernetes/admin.conf as root over the SSH connection,
base64-encoded so the bytes arrive exactly, and never stages it in a file on
the node (pyinfra's files.get would, readable, under /tmp, when it uses sudo).
Here the copy is written 0600 from its first byte, and only when it differs,
so a second deploy reports no change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import stat
from pathlib import Path

from kubelab import paths
from kubelab.errors import KubelabError


def is_current(local: Path, remote_sha256: str | None) -> bool:
    """Whether `local` holds the node's file (by sha256) and is readable by its owner only."""
    try:
        mode = stat.S_IMODE(local.stat().st_mode)
        data = local.read_bytes()
    except FileNotFoundError:
        return False
    return mode == 0o600 and remote_sha256 == hashlib.sha256(data).hexdigest()


def save(local: Path, encoded: str, node: str, command: str) -> Path:
    """Decode what `command` printed on `node` (base64) and write it to `local`, 0600."""
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise KubelabError(f"node {node}: `{command}` printed no base64 kubeconfig ({exc}). Fix: check that "
                           f"kubeadm init finished on {node}, then re-run the deploy") from None
    if not text:
        raise KubelabError(f"node {node}: `{command}` printed nothing: the admin kubeconfig is empty. Fix: check "
                           f"that kubeadm init finished on {node}, then re-run the deploy")
    return paths.write_private(local, text)
