"""The `--spec` option the lab commands share: the local lab's spec unless told otherwise, and its lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubelab import lablock

from kubelab.inventory import default_spec_path
from kubelab.spec import LabSpec, load_spec


def add_spec_argument(parser) -> None:
    parser.add_argument("--spec", type=Path, default=None,
                        help="lab spec file (default: $KUBELAB_SPEC, else the local lab's)")


def spec_from_args(args) -> LabSpec:
    return load_spec(args.spec or default_spec_path())


@contextmanager
def locked_spec(args, *, shared: bool = False) -> Iterator[LabSpec]:
    """The spec, with its lab's lock held: exclusive for commands that change the lab, shared for readers."""
    spec = spec_from_args(args)
    with lablock.hold(spec.name, shared=shared):
        yield spec
