"""`kubelab validate`: check a spec and its exercises without contacting any host."""

from __future__ import annotations

import json

from kubelab.commands._spec_arg import add_spec_argument, spec_from_args
from kubelab.exercises import exercises_for
from kubelab.spec import LabSpec


def register(sub) -> None:
    parser = sub.add_parser("validate", help="check a lab spec (fields, names, addresses, exercises) and "
                                             "summarise it; contacts no host")
    add_spec_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.set_defaults(func=_validate)


def _summary(spec: LabSpec) -> dict:
    """What a valid spec describes: the lab, its release, its nodes, where the artifacts come from."""
    return {
        "spec": str(spec.path) if spec.path else None,
        "lab": spec.name,
        "kubernetes": spec.release.kubernetes,
        "nodes": [{"name": n.name, "role": n.role, "address": n.address} for n in spec.nodes],
        "artifacts": {"source": spec.source, "bundle": str(spec.bundle) if spec.bundle else None,
                      "download_mirror": spec.download_mirror, "sha256": dict(sorted(spec.sha256.items()))},
        "exercises": list(spec.exercises),
    }


def _artifact_source(spec: LabSpec) -> str:
    if spec.source == "bundle":
        return f"offline bundle {spec.bundle}"
    site = f"download mirror {spec.download_mirror}" if spec.download_mirror else "dl.k8s.io and github.com"
    pins = f", {len(spec.sha256)} sha256 pinned by the spec" if spec.sha256 else ""
    return f"upstream from {site}{pins}"


def _validate(args) -> int:
    spec = spec_from_args(args)
    exercises_for(spec)
    if args.json:
        print(json.dumps(_summary(spec), indent=2))
        return 0
    # Plain print: a path or mirror URL may hold '[', which rich would read as markup.
    print(f"{spec.path}: valid (no host was contacted)")
    print(f"lab {spec.name}, Kubernetes {spec.release.kubernetes}")
    for node in spec.nodes:
        print(f"  {node.name:<26} {node.role:<13} {node.address}")
    print(f"artifacts: {_artifact_source(spec)}")
    print(f"exercises: {', '.join(spec.exercises) or 'none'}")
    return 0
