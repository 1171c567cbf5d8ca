"""Traffic, Service, probe and workload checks on the real cluster: right states pass, wrong states fail.

tests/fixtures/traffic/manifests/apps.yaml holds both: a NetworkPolicy
default-deny with one allowed client, a Service and one whose targetPort
nothing listens on, a liveness probe and an app that exits by itself, a Job
that succeeds and one that fails, a CronJob and a Deployment that is rolled
to another image and back. Each check runs as an exercise runs it, through
run_check with its registered name and arguments.
"""

import time
from functools import partial
from pathlib import Path

import pytest

from kubelab.checks import FAIL, PASS, Check, Lab, run_check
from kubelab.checks.registry import checks, steps
from kubelab.cluster import Cluster, load_manifests

pytestmark = pytest.mark.e2e

MANIFESTS = Path(__file__).parents[1] / "fixtures" / "traffic" / "manifests"
NS = "traffic"


@pytest.fixture(scope="module")
def cluster(cluster_deploy, lab_spec):
    cluster = Cluster.for_lab(lab_spec)
    # A namespace must exist before the server can dry-run what goes in it.
    cluster.apply(load_manifests([MANIFESTS / "namespace.yaml"]))
    cluster.apply(load_manifests([MANIFESTS / "apps.yaml"]))
    cluster.wait_for_pods(NS, ["web-1", "web-2", "client", "other", "live-good", "live-crash"], 180)
    yield cluster
    namespace, = load_manifests([MANIFESTS / "namespace.yaml"])
    cluster.delete(cluster.resource_for(namespace), NS)


@pytest.fixture(scope="module")
def lab(cluster, lab_spec):
    with Lab.open(lab_spec) as lab:
        yield lab


def grade(lab, check: str, **args):
    """Run the registered check `check` as an exercise would, with the namespace filled in."""
    return run_check(Check(check, partial(checks()[check].function, namespace=NS, **args)), lab)


def test_a_policy_answers_the_allowed_client_and_rejects_the_other(lab):
    allowed = grade(lab, "connection_from_pod", name="client", target="pod/web-1", port=80, expect="allowed")
    assert allowed.status == PASS, allowed.seen
    by_name = grade(lab, "connection_from_pod", name="client", target=f"web.{NS}.svc.cluster.local", port=8080,
                    expect="allowed")
    assert by_name.status == PASS, by_name.seen
    denied = grade(lab, "connection_from_pod", name="other", target="pod/web-1", port=80, expect="denied")
    assert denied.status == PASS, denied.seen
    assert "from the node: answered HTTP 200 by" in denied.seen
    # The node commands are in the evidence: the client ran in the pod's own network namespace.
    assert any(c["command"].startswith("nsenter -t ") for c in denied.evidence["commands"])


def test_the_wrong_expectation_fails_either_way_and_nothing_listening_proves_no_policy(lab):
    through = grade(lab, "connection_from_pod", name="client", target="pod/web-1", port=80, expect="denied")
    assert through.status == FAIL and "let through" in through.seen
    rejected = grade(lab, "connection_from_pod", name="other", target="service/web", port=8080, expect="allowed")
    assert rejected.status == FAIL and "refused or rejected" in rejected.seen
    nobody = grade(lab, "connection_from_pod", name="other", target="pod/web-1", port=81, expect="denied")
    assert nobody.status == FAIL and "proves no policy" in nobody.seen
    missing = grade(lab, "connection_from_pod", name="nobody", target="pod/web-1", port=80, expect="allowed")
    assert missing.status == FAIL and "no pod" in missing.seen


def test_a_service_is_answered_by_one_of_its_ready_pods(lab):
    routed = grade(lab, "service_routes_to_ready_pods", name="web", port=8080, from_pod="client")
    assert routed.status == PASS, routed.seen
    assert routed.evidence["answered_by_pod"] in ("web-1", "web-2")
    unheard = grade(lab, "service_routes_to_ready_pods", name="web-81", port=8080)
    assert unheard.status == FAIL and "refused or rejected" in unheard.seen
    absent = grade(lab, "service_routes_to_ready_pods", name="nothing", port=8080)
    assert absent.status == FAIL and absent.seen == f"no Service {NS}/nothing in the API"


def test_a_failing_readiness_probe_takes_the_pod_out_of_the_endpoints(lab, cluster):
    ready = grade(lab, "not_ready_pod_is_not_an_endpoint", service="web", pod="web-2")
    assert ready.status == FAIL and "the pod is Ready" in ready.seen
    broken = steps()["remove_file_in_container"].function(lab, namespace=NS, name="web-2", container="nginx",
                                                           path="/usr/share/nginx/html/index.html")
    assert broken.existed
    gated = _until(lambda: grade(lab, "not_ready_pod_is_not_an_endpoint", service="web", pod="web-2"))
    assert gated.status == PASS, gated.seen
    routed = grade(lab, "service_routes_to_ready_pods", name="web", port=8080)
    assert routed.status == PASS and routed.evidence["answered_by_pod"] == "web-1", routed.seen


def test_a_liveness_probe_restart_passes_and_an_app_that_exits_by_itself_fails(lab):
    remove = steps()["remove_file_in_container"].function
    before = remove(lab, namespace=NS, name="live-good", container="app", path="/tmp/healthy")
    restarted = grade(lab, "liveness_probe_restarted_the_container", name="live-good", container="app",
                      before=before, timeout=60.0)
    assert restarted.status == PASS, restarted.seen
    assert restarted.evidence["sandbox_id"] == before.sandbox_id and restarted.evidence["attempt"] == before.attempt + 1
    before = remove(lab, namespace=NS, name="live-crash", container="app", path="/tmp/healthy")
    crashed = grade(lab, "liveness_probe_restarted_the_container", name="live-crash", container="app",
                    before=before, timeout=20.0)
    assert crashed.status == FAIL and "it may have exited by itself" in crashed.seen


def test_a_job_that_completed_three_times_passes_and_a_failed_one_fails(lab):
    done = grade(lab, "job_completed", name="count", completions=3, parallelism=1, timeout=90.0)
    assert done.status == PASS, done.seen
    assert len(done.evidence["runs"].split("; ")) == 3
    failed = grade(lab, "job_completed", name="fails", completions=1, timeout=60.0)
    assert failed.status == FAIL and failed.seen == "the Job failed (0 succeeded)"
    scheduled = grade(lab, "cronjob_is_scheduled", name="tick", schedule="*/5 * * * *", image="busybox:1.37")
    assert scheduled.status == PASS, scheduled.seen
    assert grade(lab, "cronjob_is_scheduled", name="tick", schedule="0 * * * *").status == FAIL


def test_a_deployment_rolled_to_a_new_image_and_back_runs_it_on_the_node(lab, cluster):
    first = grade(lab, "deployment_runs_image", name="roll", image="nginx:1.27")
    assert first.status == PASS, first.seen
    cluster.apply(load_manifests([MANIFESTS / "roll-busybox.yaml"]))
    updated = grade(lab, "deployment_runs_image", name="roll", image="busybox:1.37", previous_image="nginx:1.27")
    assert updated.status == PASS, updated.seen
    # Back to the first template: the Deployment takes up its old ReplicaSet as a new revision, as `rollout undo` does.
    roll, = [m for m in load_manifests([MANIFESTS / "apps.yaml"]) if m.kind == "Deployment"]
    cluster.apply([roll])
    back = grade(lab, "deployment_runs_image", name="roll", image="nginx:1.27", previous_image="busybox:1.37")
    assert back.status == PASS, back.seen
    assert back.evidence["revisions"].startswith("3 docker.io/library/nginx:1.27")
    stale = grade(lab, "deployment_runs_image", name="roll", image="busybox:1.37", timeout=5.0)
    assert stale.status == FAIL and stale.seen.startswith("the newest revision 3 runs docker.io/library/nginx:1.27")


def _until(grade_once, attempts: int = 15):
    """The first passing verdict of a few tries two seconds apart (the probe must fail twice first)."""
    for _ in range(attempts):
        result = grade_once()
        if result.status == PASS:
            return result
        time.sleep(2)
    return result
