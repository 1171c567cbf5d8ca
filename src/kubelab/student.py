"""A candidate's flow through the catalogue: list, start, grade, solve.

    student.start(spec, "multi-container-pods", console)   # namespaces cleaned, setup applied, task returned
    grade = student.grade(spec, "multi-container-pods")    # points per check, expected and seen, hints

Progress (started, last grade) is kept per lab in its state directory, tied
to the cluster's identity, so a rebuilt cluster starts every exercise afresh.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rich.console import Console

from kubelab import paths, report
from kubelab.baseline import BaselineError, cluster_identity, load_baseline
from kubelab.catalogue import (BROKEN, IMPERATIVE_FILE, SETUP, SOLUTION, CheckSpec, Exercise, catalogue,
                               exercise)
from kubelab.checks.lab import Lab
from kubelab.checks.verdict import Verdict
from kubelab.cluster import Cluster
from kubelab.errors import KubelabError
from kubelab.exercises import apply_files, grading_plan, wait_settled
from kubelab.reset import clean_api
from kubelab.kubeadm import ADMIN_CONF
from kubelab.spec import LabSpec
from kubelab.ssh import SSHPool
from kubelab.timestamps import epoch_of, utc_iso

PROGRESS_FILE = "exercises.json"
SETTLE_SECONDS = 180.0
# The CNI turns a NetworkPolicy into node rules a moment after the API has it (kube-router: a
# second or two, more on a loaded machine); traffic judged before that sees the old rules.
POLICY_SETTLE_SECONDS = 10.0
# Exercises are started and graded from several threads at once (an exam, the CI proofs);
# each records its progress by read-modify-write of one file.
_PROGRESS = threading.Lock()


@dataclass(frozen=True)
class Result:
    check: CheckSpec
    verdict: Verdict

    @property
    def earned(self) -> int:
        return self.check.points if self.verdict.passed else 0


@dataclass(frozen=True)
class Grade:
    exercise: Exercise
    results: tuple[Result, ...]
    note: str = ""  # why nothing was graded, or what a zero means

    @property
    def score(self) -> int:
        return sum(r.earned for r in self.results)

    @property
    def points(self) -> int:
        return self.exercise.points

    @property
    def verdicts(self) -> list[Verdict]:
        return [r.verdict for r in self.results]

    def to_dict(self) -> dict:
        return {"exercise": self.exercise.name, "score": self.score, "points": self.points, "note": self.note,
                "checks": [{"id": r.check.id, "points": r.check.points, "earned": r.earned, "hint": r.check.hint,
                            "verdict": asdict(r.verdict)} for r in self.results]}


@dataclass(frozen=True)
class Row:
    name: str
    title: str
    domain: str
    points: int
    last_score: int | None  # of the last grade, None when never graded
    started: str | None


# -- progress --------------------------------------------------------------------

def _progress_path(spec: LabSpec) -> Path:
    return paths.lab_dir(spec.name) / PROGRESS_FILE


def _read_progress(spec: LabSpec, cluster_uid: str | None) -> dict:
    """Progress recorded on this build of the cluster ({} for another build, or none)."""
    try:
        doc = json.loads(_progress_path(spec).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("cluster_uid") != cluster_uid or not isinstance(doc.get("exercises"), dict):
        return {}
    return doc["exercises"]


def _write_progress(spec: LabSpec, cluster_uid: str | None, progress: dict) -> None:
    paths.write_private(_progress_path(spec), json.dumps({"cluster_uid": cluster_uid, "exercises": progress},
                                                         indent=2) + "\n")


def forget_progress(spec: LabSpec) -> None:
    """For the next student: no exercise started, none graded."""
    _progress_path(spec).unlink(missing_ok=True)


def _cluster_uid(cluster: Cluster) -> str | None:
    return cluster_identity(cluster)[1]


# -- the verbs ---------------------------------------------------------------------

def list_exercises(spec: LabSpec) -> list[Row]:
    progress = _read_progress(spec, _cluster_uid(Cluster.for_lab(spec)))
    rows = []
    for e in catalogue().values():
        mine = progress.get(e.name, {})
        rows.append(Row(e.name, e.title, e.domain, e.points, (mine.get("last") or {}).get("score"),
                        mine.get("started")))
    return rows


def start(spec: LabSpec, name: str, console: Console, timeout: float = SETTLE_SECONDS) -> Exercise:
    """The exercise's namespaces back to the baseline, its setup applied, the start recorded; returns it."""
    chosen = exercise(name)
    cluster = Cluster.for_lab(spec)
    clear_exercise(spec, cluster, chosen, timeout, console)
    applied = apply_files(cluster, chosen.manifests(SETUP), console)
    # The setup's own pods (clients to test from) must run before anyone uses them; a setup
    # Deployment may be broken on purpose (a debugging task), so only bare pods are waited for.
    wait_settled(cluster, [o for o in applied if o["kind"] == "Pod"], timeout, console)
    uid = _cluster_uid(cluster)
    with _PROGRESS:
        progress = _read_progress(spec, uid)
        progress[chosen.name] = {"started": utc_iso()}
        _write_progress(spec, uid, progress)
    return chosen


def clear_exercise(spec: LabSpec, cluster: Cluster, chosen: Exercise, timeout: float, console: Console) -> int:
    """Delete what the baseline lacks inside the exercise's namespaces (the namespaces too, unless baseline ones)
    and the cluster-scoped objects it owns.

    Reset's machinery does the deleting and waiting, scoped to this exercise:
    others may be starting in their namespaces at the same time.
    """
    baseline = load_baseline(spec)
    if baseline is None:
        raise BaselineError(f"lab {spec.name} has no baseline, so what belongs to an exercise is unknown. Fix: "
                            f"build the lab with the deploy (it records one), or `kubelab baseline record`")
    scope, owned = set(chosen.namespaces), set(chosen.cluster_objects)
    return clean_api(cluster, baseline, timeout, console,
                     within=lambda ref: ref.namespace in scope or (ref.kind == "Namespace" and ref.name in scope)
                     or (not ref.namespace and (ref.kind, ref.name) in owned))


def solve(spec: LabSpec, name: str, console: Console, timeout: float = SETTLE_SECONDS) -> Exercise:
    """Apply the reference answer and wait until it runs: for instructors and tests."""
    return apply_part(spec, name, SOLUTION, console, timeout)


def solve_imperatively(spec: LabSpec, name: str, console: Console, timeout: float = SETTLE_SECONDS) -> Exercise:
    """Type the exercise's imperative answer on the control-plane node, as a candidate would, and wait for it.

    Each line runs as root with the admin kubeconfig, through the same SSH
    layer as the checks; what it made is waited for like an applied answer.
    """
    chosen = exercise(name)
    if not chosen.imperative:
        raise KubelabError(f"exercise {name} has no imperative answer. Fix: use `kubelab exercise solve {name}`, or "
                           f"write the kubectl commands in {chosen.folder / IMPERATIVE_FILE}")
    with SSHPool(spec) as pool:
        session = pool.session(spec.control_plane.name)
        for line in chosen.imperative:
            typed = session.run(f"export KUBECONFIG={ADMIN_CONF}; {line}")
            if not typed.ok:
                raise KubelabError(f"{chosen.folder / IMPERATIVE_FILE}: `{line}` exited {typed.exit_code} on "
                                   f"{spec.control_plane.name}: {typed.stderr.strip()[-500:]}. Fix: correct that command")
            console.print(f"$ {line}")
    cluster = Cluster.for_lab(spec)
    wait_settled(cluster, _workloads_in(cluster, chosen.namespaces), timeout, console)
    return chosen


def _workloads_in(cluster: Cluster, namespaces: tuple[str, ...]) -> list[dict]:
    """The bare pods and Deployments in `namespaces`, in the shape wait_settled takes."""
    return [{"kind": kind, "apiVersion": api_version, "metadata": meta}
            for api_version, kind in (("v1", "Pod"), ("apps/v1", "Deployment"))
            for meta in cluster.list_metadata(cluster.resource(api_version, kind))
            if meta.get("namespace") in namespaces and not meta.get("ownerReferences")]


def apply_part(spec: LabSpec, name: str, part: str, console: Console, timeout: float = SETTLE_SECONDS) -> Exercise:
    """Apply `solution` or `broken/<variant>` of an exercise file by file, each waited for (bounded).

    One file after another, as a candidate applies them: an answer made of
    steps (update a Deployment, then roll it back) leaves the history the
    steps leave, which one batch would not.
    """
    chosen = exercise(name)
    cluster = Cluster.for_lab(spec)
    deadline = time.monotonic() + timeout
    for path in chosen.manifests(part):
        applied = apply_files(cluster, [path], console)
        wait_settled(cluster, applied, max(deadline - time.monotonic(), 1), console)
    # The answer runs beside the setup: what the setup started (a Deployment still
    # rolling out) must be running too before anyone grades it.
    wait_settled(cluster, _workloads_in(cluster, chosen.namespaces), max(deadline - time.monotonic(), 1), console)
    return chosen


def apply_broken(spec: LabSpec, name: str, variant: str, console: Console,
                 timeout: float = SETTLE_SECONDS) -> Exercise:
    return apply_part(spec, name, f"{BROKEN}/{variant}", console, timeout)


def policy_settle(policies: list[dict], namespaces: tuple[str, ...], now: float) -> float:
    """Seconds to wait until the newest change to a NetworkPolicy in `namespaces` is POLICY_SETTLE_SECONDS old."""
    changed = [epoch_of(stamp) for meta in policies if meta.get("namespace") in namespaces
               for stamp in (meta.get("creationTimestamp"), *(f.get("time") for f in meta.get("managedFields") or ()))
               if stamp]
    return min(max(max(changed, default=0.0) + POLICY_SETTLE_SECONDS - now, 0.0), POLICY_SETTLE_SECONDS)


def grade(spec: LabSpec, name: str, console: Console) -> Grade:
    """Run the exercise's steps and checks; points per check. An exercise never started scores 0 and says so."""
    chosen = exercise(name)
    cluster = Cluster.for_lab(spec)
    uid = _cluster_uid(cluster)
    if chosen.name not in _read_progress(spec, uid):
        return Grade(chosen, (), note=f"not started on this lab: 0 points. Fix: `kubelab exercise start {name}`, "
                                      f"solve the task, then grade")
    time.sleep(policy_settle(cluster.list_metadata(cluster.resource("networking.k8s.io/v1", "NetworkPolicy")),
                             chosen.namespaces, time.time()))
    plan = grading_plan([chosen])
    with Lab.open(spec) as lab:
        verdicts = report.run_checks([check for _, _, check in plan], lab, console)
    result = Grade(chosen, tuple(Result(spec_, v) for (_, spec_, _), v in zip(plan, verdicts)))
    if result.score == 0:
        result = replace(result, note="0 points: none of what the task asks for is in place yet")
    with _PROGRESS:
        progress = _read_progress(spec, uid)
        progress.setdefault(chosen.name, {})["last"] = {"score": result.score, "points": result.points, "at": utc_iso()}
        _write_progress(spec, uid, progress)
    return result
