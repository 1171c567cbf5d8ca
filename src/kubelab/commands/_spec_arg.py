"""The `--spec` option that apply and check share: the local lab's spec unless told otherwise."""

from __future__ import annotations

from pathlib import Path

from kubelab.inventory import default_spec_path
from kubelab.spec import LabSpec, load_spec


def add_spec_argument(parser) -> None:
    parser.add_argument("--spec", type=Path, default=None,
                        help="lab spec file (default: $KUBELAB_SPEC, else the local lab's)")


def spec_from_args(args) -> LabSpec:
    return load_spec(args.spec or default_spec_path())
