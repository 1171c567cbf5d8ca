"""Exercises as data: the manifests each one applies and the checks that prove it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from kubelab.checks import (
    Check,
    containers_run_in_the_pod_sandbox,
    containers_share_the_volume,
    killed_container_restarts_in_the_same_sandbox,
    pod_has_one_ready_sandbox_with_the_pause_image,
    pod_is_running,
    request_shows_in_the_log,
)
from rich.console import Console

from kubelab.errors import SpecError
from kubelab.spec import LabSpec

# The article's own layout (`manifests/01-...yaml` beside the code), so the file a
# student applies by hand is the file kubelab applies; read from the source tree
# of the editable install the README sets up.
MANIFEST_DIR = Path(__file__).resolve().parents[2] / "manifests"


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    manifests: tuple[Path, ...]
    pods: tuple[tuple[str, str], ...]  # (namespace, name): Running and Ready before the checks
    checks: tuple[Check, ...]


def _multi_container_pods() -> Exercise:
    pod = {"namespace": "default", "name": "nginx-with-sidecar"}
    name = pod["name"]
    return Exercise(
        name="multi-container-pods",
        title="Multi-container pods: nginx with a sidecar tailing its access log",
        manifests=(MANIFEST_DIR / "01-nginx-with-sidecar.yaml",),
        pods=((pod["namespace"], name),),
        checks=(
            Check(f"{name} is Running", partial(pod_is_running, **pod)),
            Check(f"{name} has one READY sandbox from the pause image",
                  partial(pod_has_one_ready_sandbox_with_the_pause_image, **pod)),
            Check("nginx and sidecar run in that sandbox", partial(containers_run_in_the_pod_sandbox, **pod)),
            Check("nginx and sidecar mount the same emptyDir",
                  partial(containers_share_the_volume, volume="logs", **pod)),
            Check("a request to nginx shows in the sidecar's log",
                  partial(request_shows_in_the_log, server="nginx", reader="sidecar", **pod)),
            Check("kill -9 nginx: back in the same sandbox",
                  partial(killed_container_restarts_in_the_same_sandbox, container="nginx", **pod),
                  disruptive=True),
            Check("kill -9 sidecar: back in the same sandbox",
                  partial(killed_container_restarts_in_the_same_sandbox, container="sidecar", **pod),
                  disruptive=True),
        ),
    )


EXERCISES: dict[str, Exercise] = {e.name: e for e in (_multi_container_pods(),)}


def exercises_for(spec: LabSpec) -> list[Exercise]:
    """The spec's exercises in its order; an unknown name is a SpecError."""
    chosen = []
    for i, name in enumerate(spec.exercises):
        if name not in EXERCISES:
            raise SpecError(str(spec.path or "<spec>"), f"exercises[{i}]", f"no exercise named {name!r}",
                            f"use one of: {', '.join(sorted(EXERCISES))}")
        chosen.append(EXERCISES[name])
    return chosen


def checks_for(exercises: list[Exercise]) -> list[Check]:
    """Every check of the exercises, read-only ones first: a kill must not disturb what others read."""
    checks = [c for e in exercises for c in e.checks]
    return [c for c in checks if not c.disruptive] + [c for c in checks if c.disruptive]


def apply_exercises(spec: LabSpec, timeout: float, console: Console) -> None:
    """Validate every manifest, then server-side apply them all and wait for the exercise pods."""
    from kubelab.cluster import Cluster, load_manifests

    exercises = exercises_for(spec)
    # Every file is read and validated before the cluster is contacted.
    manifests = load_manifests(path for e in exercises for path in e.manifests)
    cluster = Cluster.for_lab(spec)
    for obj in cluster.apply(manifests):
        meta = obj["metadata"]
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        console.print(f"applied {obj['kind']} {where}{meta['name']}")
    for exercise in exercises:
        for namespace, name in exercise.pods:
            with console.status(f"waiting for pod {namespace}/{name}"):
                view = cluster.wait_for_pods(namespace, [name], timeout)[name]
            console.print(f"pod {namespace}/{name} Running and Ready on {view.node}")
