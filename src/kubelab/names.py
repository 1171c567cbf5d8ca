"""The one rule for names that reach paths, podman, kubeadm and the shell.

A lab name becomes a state directory, a podman network and label, container
names and the cluster's name; a node name becomes a hostname, a Kubernetes
node and a container name. All of them must be DNS-1123 labels (what
Kubernetes itself demands of a node name), short enough that
`kubelab-<lab>-<node>` stays a valid label too. Everything that takes a name
from a user (spec, CLI flag, environment) checks it here first.
"""

from __future__ import annotations

import re

from kubelab.errors import KubelabError

# kubelab-<lab>-<node> must itself fit in 63 characters.
MAX_LENGTH = 26
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
RULE = (f"a DNS-1123 label of at most {MAX_LENGTH} characters: lowercase letters, digits and '-', "
        "starting and ending with a letter or digit")


class InvalidName(KubelabError):
    """A lab or node name breaks the rule; nothing was touched."""


def problem(value: object) -> str | None:
    """Why `value` is not a valid lab or node name, or None when it is."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if value == "":
        return "empty"
    if len(value) > MAX_LENGTH:
        return f"{len(value)} characters long (at most {MAX_LENGTH})"
    if not _LABEL.fullmatch(value):
        return f"{value!r} is not a DNS-1123 label"
    return None


def check(value: object, what: str = "name") -> str:
    """`value` when it is a valid name; else InvalidName naming `what`, the problem and the rule."""
    why = problem(value)
    if why:
        raise InvalidName(f"{what}: {why}. Fix: use {RULE}, e.g. `classroom-a`")
    return value  # type: ignore[return-value]
