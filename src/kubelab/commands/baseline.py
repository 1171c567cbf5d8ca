"""`kubelab baseline record`: what a fresh lab's API holds, so a reset knows what to keep."""

from __future__ import annotations

from rich.console import Console

from kubelab.baseline import load_baseline, record_baseline
from kubelab.commands._spec_arg import add_spec_argument, locked_spec


def register(sub) -> None:
    parser = sub.add_parser("baseline", help="the fresh lab's API objects, which a reset keeps")
    verbs = parser.add_subparsers(dest="verb", required=True)
    record = verbs.add_parser("record", help="record what the API holds now as the lab's baseline (the deploy "
                                             "does this once; run it only on a fresh lab)")
    add_spec_argument(record)
    record.add_argument("--force", action="store_true", help="replace an existing baseline")
    record.set_defaults(func=_record)


def _record(args) -> int:
    with locked_spec(args) as spec:
        path = record_baseline(spec, force=args.force)
        baseline = load_baseline(spec)
    Console(stderr=True).print(f"baseline of lab {spec.name}: {len(baseline.namespaces)} namespaces, "
                               f"{len(baseline.objects) - len(baseline.namespaces)} objects -> {path}")
    return 0
