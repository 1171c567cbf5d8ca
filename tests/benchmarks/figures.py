"""What the benchmarks share: a lab of their own, and their figures as a rich table, or JSON with --json."""

import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kubelab.baseline import load_baseline
from kubelab.deploy import run_deploy
from kubelab.local import nodes
from kubelab.spec import load_spec


def built_lab(lab: str, figures: dict, console: Console) -> Path:
    """The lab's spec path, the lab built first when it has no baseline (that time is a figure of its own)."""
    spec_path = nodes.spec_path(lab)
    if not spec_path.exists() or load_baseline(load_spec(spec_path)) is None:
        started = time.monotonic()
        spec_path = nodes.up(lab, 2, console=console)
        if run_deploy(spec_path).returncode != 0:
            raise SystemExit("the deploy failed; run it by hand to see why")
        figures["lab built (nodes up + deploy), not a grade"] = round(time.monotonic() - started, 1)
    return spec_path


def print_figures(figures: dict, title: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, ", ".join(map(str, value)) if isinstance(value, list) else str(value))
    Console().print(table)
