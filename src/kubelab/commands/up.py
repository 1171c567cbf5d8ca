"""`kubelab up`: the whole local lab in one command, each phase timed.

bundle (cached by version) -> node containers -> `pyinfra inventories/local.py
deploys/lab.py` -> the exercise checks. Each phase is also its own command,
for when only one needs re-running.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubelab import lablock, report, versions
from kubelab.bundle.build import build_bundle
from kubelab.commands._lab_arg import add_lab_argument
from kubelab.commands.check import run_lab_checks
from kubelab.deploy import DeployFailed, run_deploy
from kubelab.local import image, nodes
from kubelab.spec import load_spec


def register(sub) -> None:
    parser = sub.add_parser("up", help="build the local lab end to end: bundle, nodes, deploy, checks")
    parser.add_argument("--count", type=int, default=2, help="nodes: 1 control plane + N-1 workers (default 2)")
    parser.add_argument("--kubernetes", default=versions.DEFAULT_MINOR, choices=sorted(versions.RELEASES))
    parser.add_argument("--user", default="root", choices=image.USERS,
                        help="who kubelab logs in as: root, or ubuntu with sudo as on cloud VMs (default root)")
    add_lab_argument(parser)
    parser.set_defaults(func=_up)


def _up(args) -> int:
    with lablock.hold(args.lab):
        return _build(args)


def _build(args) -> int:
    console = Console(stderr=True)
    timings: list[tuple[str, float]] = []

    def phase(name, work):
        started = time.monotonic()
        console.rule(name)
        result = work()
        timings.append((name, time.monotonic() - started))
        return result

    phase("bundle", lambda: build_bundle(versions.release(args.kubernetes), console))
    spec_path = phase("nodes", lambda: nodes.up(args.lab, args.count, args.kubernetes, console,
                                                        user=args.user))
    with console.status("pyinfra inventories/local.py deploys/lab.py"):
        deployed = phase("deploy", lambda: run_deploy(spec_path))
    try:
        deployed.check()
    except DeployFailed:
        console.print(Text(deployed.output[-4000:]))
        raise
    console.print(f"deploy: {deployed.changed} change(s), {deployed.unchanged} already in place")
    verdicts = phase("checks", lambda: run_lab_checks(load_spec(spec_path)))
    report.render(verdicts, Console())

    table = Table(title=f"lab {args.lab}")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    for name, seconds in timings:
        table.add_row(name, f"{seconds:.1f}")
    table.add_row("total", f"{sum(s for _, s in timings):.1f}", style="bold")
    Console().print(table)
    console.print(f"kubeconfig: {spec_path.parent / 'kubeconfig'}")
    return report.exit_code(verdicts)
