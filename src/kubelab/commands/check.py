"""`kubelab check`: run the lab's exercise checks; a table, or JSON and JUnit XML for machines."""

from __future__ import annotations

from rich.console import Console

from kubelab import report
from kubelab.checks import Lab, Verdict
from kubelab.commands._spec_arg import add_spec_argument, spec_from_args
from kubelab.exercises import checks_for, exercises_for
from kubelab.spec import LabSpec


def register(sub) -> None:
    parser = sub.add_parser("check", help="prove the exercises on the lab: API and node views, joined")
    add_spec_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON on stdout")
    parser.add_argument("--junit", metavar="FILE", help="also write the verdicts as JUnit XML to FILE")
    parser.set_defaults(func=_check)


def check_lab(spec: LabSpec, as_json: bool = False) -> list[Verdict]:
    """Run every check of the spec's exercises and print the table (or JSON on stdout)."""
    checks = checks_for(exercises_for(spec))
    # Progress goes to stderr so that with --json stdout carries only the JSON.
    with Lab.open(spec) as lab:
        verdicts = report.run_checks(checks, lab, Console(stderr=True))
        counters = lab.pool.counters
    if as_json:
        print(report.to_json(verdicts))
    else:
        console = Console()
        report.render(verdicts, console)
        console.print(f"[dim]ssh: {counters.connections_opened} connection(s), "
                      f"{counters.commands_run} command(s)[/]")
    return verdicts


def _check(args) -> int:
    verdicts = check_lab(spec_from_args(args), args.json)
    if args.junit:
        report.write_junit(verdicts, args.junit)
    return report.exit_code(verdicts)
