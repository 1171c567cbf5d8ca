"""The `kubelab` command: one subcommand module per job, all calling the library."""

from __future__ import annotations

import argparse
import importlib
import sys

from kubelab.errors import KubelabError

# Each module exposes register(subparsers); a subcommand sets `func` on its parser.
SUBCOMMAND_MODULES = (
    "kubelab.commands.up",
    "kubelab.commands.nodes",
    "kubelab.commands.bundle",
    "kubelab.commands.apply",
    "kubelab.commands.check",
    "kubelab.commands.exercise",
    "kubelab.commands.exam",
    "kubelab.commands.baseline",
    "kubelab.commands.verify",
    "kubelab.commands.reset",
    "kubelab.commands.status",
    "kubelab.commands.validate",
    "kubelab.commands.classroom",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubelab", description="Declarative kubeadm labs for CKAD practice: build them, prove what "
        "happens on them, reset them between students.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rich.console import Console
    from rich.text import Text

    try:
        return int(args.func(args) or 0)
    except KubelabError as exc:
        # Plain text: a message quotes spec values, which rich would read as markup.
        Console(stderr=True).print(Text.assemble(("error:", "bold red"), " ", str(exc)))
        return 2
    except KeyboardInterrupt:
        # Every step is "make it so" and locks die with the process: running the same command again finishes it.
        Console(stderr=True).print(f"[bold yellow]interrupted[/]: `kubelab {args.command}` stopped part way. "
                                   "Fix: run the same command again; it continues from where the lab stands")
        return 130


if __name__ == "__main__":
    sys.exit(main())
