"""`kubelab nodes up|down`: the local lab's node containers."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.text import Text

from kubelab import lablock, versions
from kubelab.commands._lab_arg import add_lab_argument
from kubelab.confirm import confirm
from kubelab.local import image, nodes


def register(sub) -> None:
    parser = sub.add_parser("nodes", help="start or remove the local lab's node containers (podman)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("up", help="start N node containers and write the lab spec")
    up.add_argument("--count", type=int, default=2, help="nodes: 1 control plane + N-1 workers (default 2)")
    up.add_argument("--kubernetes", default=versions.DEFAULT_MINOR, choices=sorted(versions.RELEASES))
    up.add_argument("--user", default="root", choices=image.USERS,
                    help="who kubelab logs in as: root, or ubuntu with sudo as on cloud VMs (default root)")
    add_lab_argument(up)
    up.set_defaults(func=_up)
    down = verbs.add_parser("down", help="remove the lab's node containers, network, mirror and all its state")
    add_lab_argument(down)
    down.add_argument("--yes", action="store_true", help="do not ask for the lab's name (needed without a terminal)")
    down.set_defaults(func=_down)


def _up(args) -> int:
    console = Console(stderr=True)
    started = time.monotonic()
    with lablock.hold(args.lab):
        spec = nodes.up(args.lab, args.count, args.kubernetes, console, user=args.user)
    console.print(f"{args.count} node(s) up in {time.monotonic() - started:.1f} s; spec: {spec}")
    # inventories/local.py reads the "local" lab's spec unless told another.
    env = "" if args.lab == "local" else f"KUBELAB_SPEC={spec} "
    console.print(f"next: {env}pyinfra -y inventories/local.py deploys/lab.py")
    return 0


def _down(args) -> int:
    console = Console(stderr=True)
    plan = nodes.teardown_plan(args.lab)
    console.print(Text(plan.describe()))
    confirm(args.lab, f"remove lab {args.lab}", "This cannot be undone.", yes=args.yes,
            interactive=sys.stdin.isatty(), ask=console.input)
    with lablock.hold(args.lab):
        # Found again under the lock: another command may have changed the lab while we asked.
        removed = nodes.remove(nodes.teardown_plan(args.lab, missing_ok=True))
    console.print(f"removed lab {args.lab}: {len(removed)} node container(s): {', '.join(removed) or '-'}")
    return 0
