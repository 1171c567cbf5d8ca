"""`kubelab reset`: back to the fresh lab for the next student, verified clean."""

from __future__ import annotations

import sys
import time

from rich.console import Console

from kubelab.checks import Lab
from kubelab.cluster import Cluster, ClusterError
from kubelab.commands._output import add_output_arguments, emit
from kubelab.commands._spec_arg import add_spec_argument, locked_spec
from kubelab.inventory import default_spec_path
from kubelab.confirm import confirm
from kubelab.reset import CLUSTER, DEPTHS, WORKLOADS, describe, preflight, reset_cluster, reset_workloads
from kubelab.ssh import SSHPool


def register(sub) -> None:
    parser = sub.add_parser("reset", help="delete what the students made, re-apply the exercises, and verify "
                                          "the API and every node are clean")
    add_spec_argument(parser)
    parser.add_argument("--depth", choices=DEPTHS, default=WORKLOADS,
                        help="workloads: delete what the baseline lacks (default, seconds); cluster: kubeadm "
                             "reset every node and build the cluster again (minutes)")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds each wait may take: deletions, exercise pods, node cleanup (default 300)")
    parser.add_argument("--inventory", default="inventories/local.py",
                        help="pyinfra inventory for the cluster depth's deploy (default inventories/local.py)")
    add_output_arguments(parser)
    parser.set_defaults(func=_reset)


def _reset(args) -> int:
    console = Console(stderr=True)
    started = time.monotonic()
    with locked_spec(args) as spec, SSHPool(spec) as pool:
        try:
            cluster = Cluster.for_lab(spec)
        except ClusterError:
            cluster = None  # preflight says what that means at this depth
        pre = preflight(spec, args.depth, pool, cluster)
        if pre.resuming:
            console.print(f"[yellow]finishing an interrupted cluster reset of lab {spec.name}[/]")
        confirm(spec.name, f"reset lab {spec.name}", describe(spec, pre), yes=args.yes,
                interactive=sys.stdin.isatty(), ask=console.input)
        if args.depth == CLUSTER:
            verdicts = reset_cluster(spec, pool, args.spec or default_spec_path(), args.inventory, args.timeout,
                                     console)
        else:
            verdicts = reset_workloads(spec, Lab(spec, cluster, pool), pre.baseline, args.timeout, console)
    console.print(f"{args.depth} reset of lab {spec.name} took {time.monotonic() - started:.1f} s")
    return emit(verdicts, args)
