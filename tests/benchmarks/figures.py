"""How every benchmark prints its figures: a rich table, or JSON with --json."""

import json

from rich.console import Console
from rich.table import Table


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
