"""The readiness proof judged on real transcripts (tests/fixtures/readiness, see its README): the pod leaving
its Service without a restart, a pod the Service does not select, and a liveness probe in place of it."""

import copy
import json
from pathlib import Path

from kubelab.checks.probes import ProbeBreak
from kubelab.checks.readiness import judge_readiness_drop
from kubelab.checks.registry import checks
from kubelab.checks.verdict import FAIL, PASS, WAITING
from kubelab.cluster import PodView
from kubelab.runtime import parse_inspect, parse_ps

FIXTURES = Path(__file__).parents[1] / "fixtures" / "readiness"
SERVICE = "ex-readiness-probe/api"


def transcript(variant: str) -> dict:
    return json.loads((FIXTURES / f"{variant}.json").read_text())


def step_record(doc: dict) -> ProbeBreak:
    """What remove_file_in_container returned: the pod it read and the container it inspected."""
    pod = PodView.from_api(doc["api_reads"][0]["object"])
    inspected = parse_inspect(doc["commands"][0]["stdout"])
    assert doc["commands"][1]["stdout"].strip() == "removed"
    return ProbeBreak(pod.namespace, pod.name, "nginx", pod.node, pod.uid, inspected.sandbox_id, inspected.id,
                      inspected.attempt, pod.container("nginx").restart_count, "/usr/share/nginx/html/ready.html",
                      True)


def rounds(doc: dict) -> list[dict]:
    """Each poll round's reads: the pod, the Service, its slices, the events, and `crictl ps -a` on the node."""
    reads = [copy.deepcopy(r["object"]) for r in doc["api_reads"][1:]]
    listings = [parse_ps(c["stdout"]) for c in doc["commands"][2:]]
    return [{"pod": reads[i], "service": reads[i + 1], "slices": reads[i + 2], "events": reads[i + 3],
             "containers": listings[n]} for n, i in enumerate(range(0, len(reads), 4))]


def judged(doc: dict, seen: dict, **changed):
    inputs = {**seen, "before": step_record(doc), **changed}
    return judge_readiness_drop(SERVICE, name="nginx", **inputs)


def test_the_pod_leaves_the_service_and_its_container_runs_on():
    doc = transcript("solution")
    first, last = rounds(doc)
    assert judged(doc, first).status == WAITING and judged(doc, first).seen == "the pod is still Ready"
    result = judged(doc, last)
    assert result.status == PASS, result.seen
    assert result.seen.startswith("nginx runs on in container 0ef1fa808ff96 (attempt 0, restartCount 0)")
    assert result.evidence["endpoint_conditions"].endswith("ready=False")
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in result.evidence["probe_message"]


def test_a_restarted_container_fails_even_when_the_pod_is_not_ready():
    doc = transcript("solution")
    last = rounds(doc)[-1]
    status = last["pod"]["status"]["containerStatuses"][0]
    status.update(restartCount=1, containerID="containerd://" + "f" * 64)
    result = judged(doc, last)
    assert result.status == FAIL
    assert "was restarted (restartCount 0 -> 1, container 0ef1fa808ff96 -> fffffffffffff)" in result.seen


def test_a_not_ready_pod_without_the_kubelets_event_waits_for_it():
    doc = transcript("solution")
    result = judged(doc, rounds(doc)[-1], events=[])
    assert result.status == WAITING and "no Unhealthy (Readiness probe failed) event" in result.seen


def test_a_pod_the_service_does_not_select_proves_no_probe():
    doc = transcript("label-not-selected")
    result = judged(doc, rounds(doc)[-1])
    assert result.status == FAIL
    assert result.seen.startswith("pod api (labels app=api-server) is not selected by app=api")


def test_a_liveness_probe_is_not_a_readiness_probe():
    doc = transcript("liveness-instead")
    result = judged(doc, rounds(doc)[-1])
    assert result.status == FAIL and result.seen == "nginx has no readinessProbe"


def test_given_nothing_it_fails():
    doc = transcript("solution")
    assert judge_readiness_drop(SERVICE, None, [], None, "nginx", [], [], None).status == FAIL
    assert judged(doc, rounds(doc)[-1], pod=None).status == FAIL
    result = judged(doc, rounds(doc)[-1], containers=[])
    assert result.status == FAIL and "not running on the node" in result.seen


def test_the_check_observes_a_step():
    registered = checks()["readiness_probe_took_the_pod_out"]
    assert registered.observes and registered.required == {"namespace", "name", "container", "service"}
