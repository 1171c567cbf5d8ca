"""A lab of SSH-reachable VMs: copy vms.example.yaml to vms.yaml and edit it.

KUBELAB_SPEC overrides the spec file, as for every kubelab inventory.
"""

import os
from pathlib import Path

from kubelab.inventory import groups_from_spec

_groups = groups_from_spec(os.environ.get("KUBELAB_SPEC") or Path(__file__).with_name("vms.yaml"))
control_plane = _groups["control_plane"]
workers = _groups["workers"]
