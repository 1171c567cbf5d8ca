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
    "kubelab.commands.baseline",
    "kubelab.commands.verify",
    "kubelab.commands.reset",
    "kubelab.commands.status",
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
    try:
        return int(args.func(args) or 0)
    except KubelabError as exc:
        from rich.console import Console

        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
