"""`kubelab apply`: the lab's exercise manifests, validated, dry-run on the server, applied."""

from __future__ import annotations

from rich.console import Console

from kubelab.commands._spec_arg import add_spec_argument, locked_spec
from kubelab.exercises import apply_exercises


def register(sub) -> None:
    parser = sub.add_parser("apply", help="apply the lab's exercise manifests (server-side apply) and wait "
                                          "for their pods")
    add_spec_argument(parser)
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for the exercise pods to be Running and Ready (default 300)")
    parser.set_defaults(func=_apply)


def _apply(args) -> int:
    with locked_spec(args) as spec:
        apply_exercises(spec, args.timeout, Console(stderr=True))
    return 0
