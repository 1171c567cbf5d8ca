"""`kubelab nodes up|down|ls`: the local lab's node containers."""

from __future__ import annotations

import time

from rich.console import Console

from kubelab import versions
from kubelab.local import nodes


def register(sub) -> None:
    parser = sub.add_parser("nodes", help="start or remove the local lab's node containers (podman)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("up", help="start N node containers and write the lab spec")
    up.add_argument("--count", type=int, default=2, help="nodes: 1 control plane + N-1 workers (default 2)")
    up.add_argument("--kubernetes", default=versions.DEFAULT_MINOR, choices=sorted(versions.RELEASES))
    up.add_argument("--lab", default="local")
    up.set_defaults(func=_up)
    down = verbs.add_parser("down", help="remove the lab's node containers and all their state")
    down.add_argument("--lab", default="local")
    down.set_defaults(func=_down)


def _up(args) -> int:
    console = Console(stderr=True)
    started = time.monotonic()
    spec = nodes.up(args.lab, args.count, args.kubernetes, console)
    console.print(f"{args.count} node(s) up in {time.monotonic() - started:.1f} s; spec: {spec}")
    # inventories/local.py reads the "local" lab's spec unless told another.
    env = "" if args.lab == "local" else f"KUBELAB_SPEC={spec} "
    console.print(f"next: {env}pyinfra -y inventories/local.py deploys/lab.py")
    return 0


def _down(args) -> int:
    removed = nodes.down(args.lab)
    Console(stderr=True).print(f"removed {len(removed)} node container(s): {', '.join(removed) or '-'}")
    return 0
