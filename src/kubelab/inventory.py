"""Turn a lab spec (or several, for a class) into pyinfra inventory groups.

Inventory files stay two lines long: they name a spec and call
`groups_from_spec`. Validation happens here, while pyinfra loads the
inventory, so a bad spec stops the run before any host is contacted.
Every host carries its lab's spec and node in its data, so a deploy finds
the control plane of *that* lab (`lab_host`) whether one lab or many share the run.
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
    return groups_from_specs([load_spec(path or default_spec_path())], qualified=False)


def host_name(spec: LabSpec, node_name: str, qualified: bool) -> str:
    """The node's name, or `<lab>.<node>` when several labs share one run (names hold no dots)."""
    return f"{spec.name}.{node_name}" if qualified else node_name


def lab_group(lab: str) -> str:
    """The group of one lab's hosts in a class inventory (lab names hold no '_')."""
    return "lab_" + lab.replace("-", "_")


def groups_from_specs(specs: list[LabSpec], qualified: bool = True) -> dict[str, list]:
    """control_plane and workers across all the labs, and with `qualified` one group per lab as well."""
    groups: dict[str, list] = {group: [] for group in GROUPS.values()}
    for spec in specs:
        if qualified:
            groups[lab_group(spec.name)] = [host_name(spec, n.name, True) for n in spec.nodes]
        for node in spec.nodes:
            groups[GROUPS[node.role]].append((host_name(spec, node.name, qualified), host_data(spec, node.name)))
    return groups


def lab_host(inventory, spec: LabSpec, node_name: str):
    """The inventory's host for `node_name` of the lab `spec` describes, among however many labs it holds."""
    for candidate in inventory:
        data = candidate.data
        if data.get("kubelab_spec") is not None and data.kubelab_spec.name == spec.name \
                and data.kubelab_node.name == node_name:
            return candidate
    raise KeyError(f"{spec.name}.{node_name}")
