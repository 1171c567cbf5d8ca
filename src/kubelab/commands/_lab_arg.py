"""The `--lab` option: a lab name, checked by the one name rule before anything runs."""

from __future__ import annotations

import argparse

from kubelab import names


def lab_name(value: str) -> str:
    why = names.problem(value)
    if why:
        raise argparse.ArgumentTypeError(f"{why}. Fix: use {names.RULE}, e.g. `classroom-a`")
    return value


def add_lab_argument(parser, default: str = "local") -> None:
    parser.add_argument("--lab", type=lab_name, default=default, help=f"the lab's name (default {default})")
