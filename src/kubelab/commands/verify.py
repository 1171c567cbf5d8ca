"""`kubelab verify`: is the lab at its baseline, in the API and on every node?"""

from __future__ import annotations

from rich.console import Console

from kubelab import report
from kubelab.baseline import BaselineError, baseline_path, exercise_refs, load_baseline
from kubelab.checks import Lab
from kubelab.checks.clean import clean_checks
from kubelab.commands._output import add_output_arguments, emit
from kubelab.commands._spec_arg import add_spec_argument, locked_spec


def register(sub) -> None:
    parser = sub.add_parser("verify", help="check that nothing beyond the baseline and the exercises is left, "
                                           "in the API or on any node (sandboxes, containers, pod mounts)")
    add_spec_argument(parser)
    add_output_arguments(parser)
    parser.set_defaults(func=_verify)


def _verify(args) -> int:
    with locked_spec(args, shared=True) as spec:
        verdicts = _verdicts(spec)
    return emit(verdicts, args)


def _verdicts(spec) -> list:
    baseline = load_baseline(spec)
    if baseline is None:
        raise BaselineError(f"lab {spec.name} has no baseline ({baseline_path(spec)}), so there is nothing to "
                            f"verify against. Fix: the deploy records it; on a fresh lab `kubelab baseline record`")
    with Lab.open(spec) as lab:
        checks = clean_checks(spec, baseline, frozenset(exercise_refs(spec, lab.cluster)))
        return report.run_checks(checks, lab, Console(stderr=True))
