"""The verdict output options that verify and reset share: a table, or JSON and JUnit XML for machines."""

from __future__ import annotations

from rich.console import Console

from kubelab import report
from kubelab.checks import Verdict


def add_output_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON on stdout")
    parser.add_argument("--junit", metavar="FILE", help="also write the verdicts as JUnit XML to FILE")


def emit(verdicts: list[Verdict], args) -> int:
    """Show the verdicts as asked; the exit code is 0 only when every one passed."""
    if args.json:
        print(report.to_json(verdicts))
    else:
        report.render(verdicts, Console())
    if args.junit:
        report.write_junit(verdicts, args.junit)
    return report.exit_code(verdicts)
