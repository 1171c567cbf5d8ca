"""The spec's exercises on a lab: the manifests the deploy applies, and the plan that grades them.

A grade runs every read-only check first, then each step (kill -9, ...)
followed by the checks that observe it, so a disruption never disturbs what
another check reads. A step's record lives in the plan, one per grade: the
same exercise graded twice kills and observes twice.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Iterable

from rich.console import Console

from kubelab.catalogue import SOLUTION, CheckSpec, Exercise, catalogue
from kubelab.checks.lab import Lab
from kubelab.checks.registry import OBSERVED, checks, steps
from kubelab.checks.verdict import FAIL, Check, Verdict, verdict
from kubelab.checks.workloads import rolled_out
from kubelab.cluster import DEFAULT_NAMESPACE, Cluster, WaitTimeout, load_manifests
from kubelab.errors import KubelabError, SpecError
from kubelab.spec import LabSpec

POLL_SECONDS = 1.0


def exercises_for(spec: LabSpec) -> list[Exercise]:
    """The spec's exercises in its order; an unknown name is a SpecError naming the known ones."""
    found = catalogue()
    chosen = []
    for i, name in enumerate(spec.exercises):
        if name not in found:
            raise SpecError(str(spec.path or "<spec>"), f"exercises[{i}]", f"no exercise named {name!r}",
                            f"use one of: {', '.join(sorted(found))}")
        chosen.append(found[name])
    return chosen


# -- grading -------------------------------------------------------------------

def grading_plan(exercises: Iterable[Exercise]) -> list[tuple[Exercise, CheckSpec, Check]]:
    """Every check of the exercises as a runnable Check, read-only ones first, then each step's observers."""
    check_table, step_table = checks(), steps()
    records: dict[tuple[str, str], object] = {}  # (exercise, step id) -> what the step returned, this grade
    reads, observers = [], []
    for e in exercises:
        for c in e.checks:
            if c.after is None:
                reads.append((e, c, Check(c.id, partial(check_table[c.check].function, **c.args))))
        for s in e.steps:
            step = partial(step_table[s.step].function, **s.args)
            for c in (c for c in e.checks if c.after == s.id):
                run = partial(_observe, check=check_table[c.check], args=c.args, step=step, key=(e.name, s.id),
                              records=records)
                observers.append((e, c, Check(c.id, run, disruptive=True)))
    return reads + observers


def _observe(lab: Lab, *, check, args: dict, step, key: tuple[str, str], records: dict) -> Verdict:
    # The first observer runs the step, inside its own transcript: the kill shows in its evidence.
    if key not in records:
        try:
            records[key] = step(lab)
        except KubelabError as exc:
            records[key] = verdict(FAIL, getattr(exc, "node", None), f"step {key[1]} acts on the lab", str(exc),
                                   error=type(exc).__name__)
    given = {OBSERVED: records[key]} if check.observes else {}
    return check.function(lab, **args, **given)


def checks_for(exercises: Iterable[Exercise]) -> list[Check]:
    return [check for _, _, check in grading_plan(exercises)]


# -- applying --------------------------------------------------------------------

def apply_files(cluster: Cluster, files: Iterable[Path], console: Console) -> list[dict]:
    """Server-side apply every manifest of `files` (validated first), namespaces in a batch of their own.

    The API server dry-runs a whole batch before applying it, and an object's
    dry run needs its namespace to exist already.
    """
    manifests = load_manifests(files)
    namespaces = [m for m in manifests if m.kind == "Namespace"]
    rest = [m for m in manifests if m.kind != "Namespace"]
    applied = [obj for batch in (namespaces, rest) if batch for obj in cluster.apply(batch)]
    for obj in applied:
        meta = obj["metadata"]
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        console.print(f"applied {obj['kind']} {where}{meta['name']}")
    return applied


def wait_settled(cluster: Cluster, applied: list[dict], timeout: float, console: Console) -> None:
    """Wait (bounded) until every applied Pod is Running and Ready and every Deployment rolled out."""
    deadline = time.monotonic() + timeout
    for obj in applied:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or DEFAULT_NAMESPACE
        if obj["kind"] == "Pod":
            with console.status(f"waiting for pod {namespace}/{meta['name']}"):
                view = cluster.wait_for_pods(namespace, [meta["name"]], max(deadline - time.monotonic(), 1))
            console.print(f"pod {namespace}/{meta['name']} Running and Ready on {view[meta['name']].node}")
        elif obj["kind"] == "Deployment":
            with console.status(f"waiting for deployment {namespace}/{meta['name']}"):
                _wait_rolled_out(cluster, obj["apiVersion"], namespace, meta["name"], deadline)


def _wait_rolled_out(cluster: Cluster, api_version: str, namespace: str, name: str, deadline: float) -> None:
    while True:
        obj = cluster.get(api_version, "Deployment", name, namespace) or {}
        if obj and rolled_out(obj):
            return
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"deployment {namespace}/{name} not rolled out: {obj.get('status')}. Fix: `kubectl describe "
                              f"deployment {name} -n {namespace}` shows why")
        time.sleep(POLL_SECONDS)


def apply_exercises(spec: LabSpec, timeout: float, console: Console) -> None:
    """What the lab starts with for each of the spec's exercises, applied; waits for what starts solved.

    The catalogue validated every manifest when it was read, before the cluster is contacted.
    """
    exercises = exercises_for(spec)
    cluster = Cluster.for_lab(spec)
    for e in exercises:
        applied = apply_files(cluster, e.manifests(e.lab_starts_with), console)
        # A setup may hold a broken app on purpose: only a solution is waited for.
        if e.lab_starts_with == SOLUTION:
            wait_settled(cluster, applied, timeout, console)
