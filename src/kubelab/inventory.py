"""Turn a lab spec into pyinfra inventory groups.

Inventory files stay two lines long: they name a spec and call
`groups_from_spec`. Validation happens here, while pyinfra loads the
inventory, so a bad spec stops the run before any host is contacted.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubelab import paths
from kubelab.spec import LabSpec, load_spec

GROUPS = {"control-plane": "control_plane", "worker": "workers"}


def host_data(spec: LabSpec, node_name: str) -> dict:
    node = spec.node(node_name)
    data = {
        "ssh_hostname": node.address,
        "ssh_user": spec.ssh.user,
        "ssh_port": spec.ssh.port,
        # pyinfra's default accepts unknown keys on first use; a lab verifies
        # them unless the spec opts out explicitly.
        "ssh_strict_host_key_checking": "yes" if spec.ssh.strict_host_key_checking else "accept-new",
        "kubelab_spec": spec,
        "kubelab_node": node,
    }
    if spec.ssh.key:
        data["ssh_key"] = spec.ssh.key
    if spec.ssh.known_hosts:
        data["ssh_known_hosts_file"] = spec.ssh.known_hosts
    if spec.ssh.user != "root":
        data["_sudo"] = True
    return data


def default_spec_path() -> Path:
    """$KUBELAB_SPEC, else the spec `kubelab nodes up` wrote for the local lab."""
    return Path(os.environ.get("KUBELAB_SPEC") or paths.lab_dir("local") / "spec.yaml")


def groups_from_spec(path: str | Path | None = None) -> dict[str, list]:
    spec = load_spec(path or default_spec_path())
    groups: dict[str, list] = {group: [] for group in GROUPS.values()}
    for node in spec.nodes:
        groups[GROUPS[node.role]].append((node.name, host_data(spec, node.name)))
    return groups
