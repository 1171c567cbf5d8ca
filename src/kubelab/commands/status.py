"""`kubelab status`: what every node runs (OS, kernel, tool versions, images by digest); `--lock` pins it."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubelab.commands._spec_arg import add_spec_argument, locked_spec
from kubelab.ssh import SSHPool
from kubelab.status import VERSION_COMMANDS, lock_document, read_node


def register(sub) -> None:
    parser = sub.add_parser("status", help="per node: OS, kernel, containerd/runc/crictl/nerdctl/kubelet/kubeadm "
                                           "versions and images by digest")
    add_spec_argument(parser)
    parser.add_argument("--json", action="store_true", help="print it as JSON (the lock's format) on stdout")
    parser.add_argument("--lock", metavar="FILE", help="also write it to FILE; a deploy run with "
                                                       "`--data kubelab_lock=FILE` refuses to install anything else")
    parser.set_defaults(func=_status)


def _status(args) -> int:
    with locked_spec(args, shared=True) as spec, SSHPool(spec) as pool:
        nodes = [read_node(pool.session(n.name)) for n in spec.nodes]
    document = lock_document(spec, nodes)
    text = json.dumps(document, indent=2) + "\n"
    if args.lock:
        with open(args.lock, "w") as fh:
            fh.write(text)
        Console(stderr=True).print(f"lock for lab {spec.name} written to {args.lock}")
    if args.json:
        print(text, end="")
        return 0
    console = Console()
    table = Table(title=f"lab {spec.name}")
    for column in ("", *(n.node for n in nodes)):
        table.add_column(column)
    table.add_row("os", *(escape(n.os) for n in nodes))
    table.add_row("kernel", *(escape(n.kernel) for n in nodes))
    for tool in VERSION_COMMANDS:
        table.add_row(tool, *(escape(n.versions[tool]) or "[red]not installed[/]" for n in nodes))
    console.print(table)
    images = Table(title="images by digest")
    for column in ("image", "nodes", "digest"):
        images.add_column(column, overflow="fold")
    for tag in sorted({t for n in nodes for t in n.images}):
        digests = {n.images[tag] for n in nodes if tag in n.images}
        holders = ", ".join(n.node for n in nodes if tag in n.images)
        images.add_row(escape(tag), holders, escape("\n".join(sorted(digests))))
    console.print(images)
    return 0
