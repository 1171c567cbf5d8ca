"""Checks that prove what a workload controller did: a Job ran to completion, a Deployment rolled out.

The API says what the controller counted (a Job's `succeeded`, a
Deployment's updated replicas and its ReplicaSet revisions); the node says
what really ran: every container of a Job's pods exited 0 (and, one at a
time, their run times do not overlap), and every running container of a
Deployment was created from the image the task names, compared by image ID
with what the node's containerd has under that name.
"""

from __future__ import annotations

import time
from typing import Callable

from kubelab.checks.lab import Lab
from kubelab.checks.objects import get, label_selector, list_objects
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, WAITING, Verdict, verdict
from kubelab.cluster import PodView
from kubelab.runtime import Container, Image, normalize_image

JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"  # set on a Job's pods since v1.27
REVISION = "deployment.kubernetes.io/revision"


def poll(judge: Callable[[], Verdict], timeout: float, interval: float) -> Verdict:
    """Judge until the verdict is not WAITING or `timeout` passes; a verdict still waiting then fails."""
    deadline = time.monotonic() + timeout
    while True:
        result = judge()
        if result.status != WAITING:
            return result
        if time.monotonic() >= deadline:
            return verdict(FAIL, result.node, result.expected, f"not within {timeout:g} s: {result.seen}",
                           **result.evidence)
        time.sleep(interval)


def owned_by(obj: dict, owner: dict) -> bool:
    return any(ref.get("uid") == owner["metadata"]["uid"] for ref in obj["metadata"].get("ownerReferences") or ())


# -- a Job ran to completion --------------------------------------------------

@check
def job_completed(lab: Lab, *, namespace: str, name: str, completions: int, parallelism: int = 0,
                  timeout: float = 60.0, interval: float = 2.0) -> Verdict:
    """The Job succeeded `completions` times and each of its pods' containers exited 0 on the node;
    with `parallelism` 1 the pods also ran one after the other."""
    def judge() -> Verdict:
        job = get(lab, "batch/v1", "Job", namespace, name)
        pods = (list_objects(lab, "v1", "Pod", namespace, labels=f"{JOB_UID_LABEL}={job['metadata']['uid']}")
                if job else [])
        inspected: dict[str, list[Container]] = {}
        for node in {p["spec"].get("nodeName") for p in pods} - {None}:
            runtime = lab.runtime(node)
            uids = {p["metadata"]["uid"] for p in pods if p["spec"].get("nodeName") == node}
            for listed in runtime.containers():
                if listed.pod_uid in uids and not listed.running:
                    inspected.setdefault(listed.pod_uid, []).append(runtime.inspect(listed.id))
        return judge_job(job, pods, inspected, completions, parallelism)
    return poll(judge, timeout, interval)


def judge_job(job: dict | None, pods: list[dict], inspected: dict[str, list[Container]], completions: int,
              parallelism: int = 0) -> Verdict:
    """PASS, FAIL, or WAITING while the Job is still running."""
    one_by_one = " one at a time" if parallelism == 1 else ""
    expected = (f"Job completed {completions} time(s){one_by_one}: succeeded == completions == {completions}, "
                f"each succeeded pod's containers exited 0 on its node")
    if job is None:
        return verdict(FAIL, None, expected, "no such Job in the API")
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = int(status.get("succeeded") or 0)
    evidence = {"completions": spec.get("completions"), "parallelism": spec.get("parallelism"),
                "succeeded": succeeded, "failed": int(status.get("failed") or 0)}
    if spec.get("completions") != completions:
        return verdict(FAIL, None, expected, f"spec.completions is {spec.get('completions')}", **evidence)
    if parallelism and spec.get("parallelism") != parallelism:
        return verdict(FAIL, None, expected, f"spec.parallelism is {spec.get('parallelism')}, not {parallelism}",
                       **evidence)
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or ()}
    if conditions.get("Failed") == "True":
        return verdict(FAIL, None, expected, f"the Job failed ({succeeded} succeeded)", **evidence)
    if conditions.get("Complete") != "True":
        return verdict(WAITING, None, expected, f"{succeeded} of {completions} succeeded, "
                                                f"{int(status.get('active') or 0)} active", **evidence)
    done = [p for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"]
    problems = [] if succeeded == completions and len(done) == completions else [
        f"succeeded {succeeded}, {len(done)} Succeeded pod(s), for {completions} completions"]
    runs = []
    for pod in done:
        name, node = pod["metadata"]["name"], pod["spec"].get("nodeName")
        mine = inspected.get(pod["metadata"]["uid"], [])
        if not mine:
            problems.append(f"pod {name}: no exited container on {node}")
        for c in mine:
            if c.exit_code != 0:
                problems.append(f"pod {name}: {c.label_name} exited {c.exit_code} on {node}")
        if mine and all(c.started and c.finished for c in mine):
            runs.append((min(c.started for c in mine), max(c.finished for c in mine), name))
    runs.sort()
    evidence["runs"] = "; ".join(f"{n} {s:%H:%M:%S.%f}-{f:%H:%M:%S.%f}" for s, f, n in runs)
    if parallelism == 1:
        problems += [f"pods {a[2]} and {b[2]} ran at the same time" for a, b in zip(runs, runs[1:]) if b[0] < a[1]]
    node = done[0]["spec"].get("nodeName") if done else None
    if problems:
        return verdict(FAIL, node, expected, "; ".join(problems), **evidence)
    return verdict(PASS, node, expected, f"{succeeded} pod(s) succeeded, every container exited 0 on the node"
                                         + (", one after the other" if parallelism == 1 else ""), **evidence)


# -- a CronJob's schedule -----------------------------------------------------

@check
def cronjob_is_scheduled(lab: Lab, *, namespace: str, name: str, schedule: str, image: str = "") -> Verdict:
    """The CronJob runs on `schedule` (and its pods use `image`), not suspended."""
    return judge_cronjob(get(lab, "batch/v1", "CronJob", namespace, name), schedule, image)


def judge_cronjob(cronjob: dict | None, schedule: str, image: str = "") -> Verdict:
    expected = f"CronJob on schedule `{schedule}`" + (f" running {image}" if image else "") + ", not suspended"
    if cronjob is None:
        return verdict(FAIL, None, expected, "no such CronJob in the API")
    spec = cronjob.get("spec") or {}
    containers = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec", {}).get(
        "containers") or ()
    images = [c.get("image", "") for c in containers]
    evidence = {"schedule": spec.get("schedule", ""), "images": ", ".join(images)}
    problems = []
    if (spec.get("schedule") or "").split() != schedule.split():
        problems.append(f"schedule is `{spec.get('schedule')}`")
    if image and normalize_image(image) not in map(normalize_image, images):
        problems.append(f"its containers run {', '.join(images) or 'nothing'}")
    if spec.get("suspend"):
        problems.append("it is suspended")
    if problems:
        return verdict(FAIL, None, expected, "; ".join(problems), **evidence)
    return verdict(PASS, None, expected, f"schedule `{spec['schedule']}`, images {evidence['images']}", **evidence)


# -- a Deployment rolled out (or back) to an image ----------------------------

@check
def deployment_runs_image(lab: Lab, *, namespace: str, name: str, image: str, previous_image: str = "",
                          container: str = "", timeout: float = 90.0, interval: float = 2.0) -> Verdict:
    """The rollout is complete, its newest ReplicaSet revision runs `image` (after an older one ran
    `previous_image`, when given), and on the nodes every container of its pods was created from `image`."""
    def judge() -> Verdict:
        deployment = get(lab, "apps/v1", "Deployment", namespace, name)
        if deployment is None:
            return judge_rollout(None, [], [], {}, {}, image, previous_image, container)
        selector = label_selector((deployment.get("spec") or {}).get("selector"))
        sets = [r for r in list_objects(lab, "apps/v1", "ReplicaSet", namespace, labels=selector)
                if owned_by(r, deployment)]
        pods = [p for p in list_objects(lab, "v1", "Pod", namespace, labels=selector)
                if not p["metadata"].get("deletionTimestamp")]
        containers, images = {}, {}
        for node in {p["spec"].get("nodeName") for p in pods} - {None}:
            runtime = lab.runtime(node)
            containers[node], images[node] = runtime.containers(), runtime.images()
        return judge_rollout(deployment, sets, pods, containers, images, image, previous_image, container)
    return poll(judge, timeout, interval)


def rolled_out(deployment: dict) -> bool:
    """`kubectl rollout status` done: the controller saw the newest spec, and every replica is updated and available."""
    want = (deployment.get("spec") or {}).get("replicas", 1)
    status = deployment.get("status") or {}
    return (status.get("observedGeneration", 0) >= (deployment.get("metadata") or {}).get("generation", 1)
            and status.get("updatedReplicas", 0) == status.get("availableReplicas", 0) == want
            and status.get("replicas", 0) == want)


def judge_rollout(deployment: dict | None, replica_sets: list[dict], pods: list[dict],
                  containers: dict[str, list[Container]], images: dict[str, list[Image]], image: str,
                  previous_image: str = "", container: str = "") -> Verdict:
    """PASS, FAIL, or WAITING while the rollout is under way."""
    wanted = normalize_image(image)
    after = f" after {normalize_image(previous_image)}" if previous_image else ""
    expected = (f"Deployment rolled out: its newest ReplicaSet revision runs {wanted}{after}, every replica "
                f"updated and available, and every running container on the nodes created from {wanted}")
    if deployment is None:
        return verdict(FAIL, None, expected, "no such Deployment in the API")
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    replicas = spec.get("replicas", 1)
    evidence = {"replicas": replicas, "updated": status.get("updatedReplicas", 0),
                "available": status.get("availableReplicas", 0)}
    chosen = container or next(iter(c["name"] for c in spec["template"]["spec"]["containers"]), "")

    def image_of(template_owner: dict) -> str:
        found = [c.get("image", "") for c in template_owner["spec"]["template"]["spec"]["containers"]
                 if c["name"] == chosen]
        return normalize_image(found[0]) if found else "(no such container)"

    history = sorted(((int(r["metadata"].get("annotations", {}).get(REVISION, 0)), image_of(r), r["metadata"]["name"])
                      for r in replica_sets), reverse=True)
    evidence["revisions"] = "; ".join(f"{rev} {img} ({n})" for rev, img, n in history) or "none"
    if not history:
        return verdict(WAITING, None, expected, "no ReplicaSet owned by the Deployment yet", **evidence)
    if history[0][1] != wanted:
        return verdict(FAIL, None, expected, f"the newest revision {history[0][0]} runs {history[0][1]}", **evidence)
    if previous_image and not any(img == normalize_image(previous_image) for _, img, _ in history[1:]):
        return verdict(FAIL, None, expected, f"no older revision ran {normalize_image(previous_image)}", **evidence)
    if not rolled_out(deployment):
        return verdict(WAITING, None, expected, f"rollout under way: {evidence['updated']} updated, "
                                                f"{evidence['available']} available, {status.get('replicas', 0)} in "
                                                f"all, of {replicas}", **evidence)
    problems, seen = [], []
    for pod in pods:
        view, node = PodView.from_api(pod), pod["spec"].get("nodeName")
        api = view.container(chosen)
        running = next((c for c in containers.get(node, []) if api and c.id == api.container_id and c.running), None)
        if running is None:
            problems.append(f"pod {view.name}: no running {chosen} container on {node} with the API's ID")
            continue
        named = [i for i in images.get(node, []) if wanted in i.repo_tags]
        if not any(running.image_ref in (i.id, *i.repo_digests) for i in named):
            tags = [t for i in images.get(node, []) if running.image_ref == i.id for t in i.repo_tags]
            problems.append(f"pod {view.name} on {node} runs image {running.image_ref[:19]} "
                            f"({', '.join(tags) or 'untagged'}), not {wanted}")
        else:
            seen.append(f"{view.name}@{node}")
    evidence["running"] = ", ".join(seen)
    if problems:
        return verdict(FAIL, None, expected, "; ".join(problems), **evidence)
    return verdict(PASS, None, expected, f"revision {history[0][0]} runs {wanted}; on the nodes "
                                         f"{len(seen)} container(s) run its image ID", **evidence)
