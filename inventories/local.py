"""The local lab of podman node containers; `kubelab nodes up` writes its spec.

Set KUBELAB_SPEC to use another spec file with the same inventory.
"""

from kubelab.inventory import groups_from_spec

_groups = groups_from_spec()
control_plane = _groups["control_plane"]
workers = _groups["workers"]
