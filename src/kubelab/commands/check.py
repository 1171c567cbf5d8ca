"""`kubelab check`: run the lab's exercise checks; a table, or JSON and JUnit XML for machines."""

from __future__ import annotations

from rich.console import Console

from kubelab import report
from kubelab.checks import Lab, Verdict
from kubelab.commands._output import add_output_arguments, emit
from kubelab.commands._spec_arg import add_spec_argument, locked_spec
from kubelab.exercises import checks_for, exercises_for
from kubelab.spec import LabSpec


def register(sub) -> None:
    parser = sub.add_parser("check", help="prove the exercises on the lab: API and node views, joined")
    add_spec_argument(parser)
    add_output_arguments(parser)
    parser.set_defaults(func=_check)


def run_lab_checks(spec: LabSpec) -> list[Verdict]:
    """Every check of the spec's exercises, progress on stderr so stdout stays clean for --json."""
    checks = checks_for(exercises_for(spec))
    with Lab.open(spec) as lab:
        verdicts = report.run_checks(checks, lab, Console(stderr=True))
        counters = lab.pool.counters
    Console(stderr=True).print(f"[dim]ssh: {counters.connections_opened} connection(s), "
                               f"{counters.commands_run} command(s)[/]")
    return verdicts


def _check(args) -> int:
    with locked_spec(args, shared=True) as spec:
        verdicts = run_lab_checks(spec)
    return emit(verdicts, args)
