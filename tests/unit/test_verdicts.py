"""Check verdicts on the API and runtime fixtures: pass on agreement, fail on nothing
or on disagreement, wait (not fail) while the kubelet is in restart back-off."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from kubernetes import client as k8s_client

from kubelab import versions
from kubelab.checks import (FAIL, PASS, WAITING, Check, Lab, RestartBaseline, judge_containers_in_sandbox,
                            judge_pod_running, judge_request_logged, judge_restart, judge_sandbox,
                            judge_shared_volume, run_check, verdict)
from kubelab.checks.pods import kubelet_may_back_off
from kubelab.cluster import Cluster, PodView
from kubelab.runtime import CONTAINER_EXITED, parse_inspect, parse_inspectp, parse_pods, parse_ps
from kubelab.spec import parse_spec
from kubelab.ssh import CommandResult, HostUnreachable, Session, SSHPool

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAUSE = versions.RELEASES["1.35"].pause_image
OTHER_UID = "11111111-2222-3333-4444-555555555555"


def runtime(name):
    return (FIXTURES / "runtime" / name).read_text()


def api_pod(name, **changes) -> PodView:
    return replace(PodView.from_api(json.loads((FIXTURES / "api" / name).read_text())), **changes)


@pytest.fixture
def pod():
    return api_pod("pod-running.json")


@pytest.fixture
def sandboxes():
    return parse_pods(runtime("crictl-pods.json"))


@pytest.fixture
def containers():
    return parse_ps(runtime("crictl-ps-a.json"))


@pytest.fixture
def inspected():
    return [parse_inspect(runtime("crictl-inspect-nginx.json")), parse_inspect(runtime("crictl-inspect-sidecar.json"))]


@pytest.fixture
def sandbox(pod, sandboxes):
    """The pod's READY sandbox in crictl-pods.json (found by the API's pod uid)."""
    (mine,) = [s for s in sandboxes if s.uid == pod.uid and s.ready]
    return mine


@pytest.fixture
def stale_sandbox(pod, sandboxes):
    """The NOTREADY sandbox the deleted pod of the same name left on w1."""
    (stale,) = [s for s in sandboxes if s.pod_name == pod.name and not s.ready]
    return stale


def test_the_api_view_joins_spec_and_status(pod):
    assert (pod.node, pod.phase, pod.running_and_ready) == ("w1", "Running", True)
    # The API's pod IP is the sandbox's IP on the node.
    assert pod.ip == parse_inspectp(runtime("crictl-inspectp.json")).ip == "10.244.1.4"
    nginx = pod.container("nginx")
    assert nginx.container_id == parse_inspect(runtime("crictl-inspect-nginx.json")).id
    assert pod.container("sidecar").container_id == parse_inspect(runtime("crictl-inspect-sidecar.json")).id
    assert nginx.mounts["logs"] == "/var/log/nginx"
    assert (nginx.state, nginx.restart_count, nginx.last_exit_code) == ("running", 0, None)


# -- pod Running ----------------------------------------------------------------

def test_a_running_ready_pod_passes_on_its_node(pod):
    v = judge_pod_running(pod, "default/nginx-with-sidecar")
    assert (v.status, v.node) == (PASS, "w1")


def test_a_missing_pod_fails():
    assert judge_pod_running(None, "default/nginx-with-sidecar").status == FAIL


def test_a_pod_in_back_off_is_waiting_not_failed():
    v = judge_pod_running(api_pod("pod-backoff.json"), "default/nginx-with-sidecar")
    assert v.status == WAITING and "back-off" in v.seen


def _just_killed(pod: PodView, restart_policy: str) -> PodView:
    """The API view in the seconds after a kill: nginx terminated, the pod not Ready."""
    nginx = replace(pod.container("nginx"), state="terminated", reason="Error", ready=False)
    others = tuple(c for c in pod.containers if c.name != "nginx")
    return replace(pod, ready=False, containers=(nginx, *others), restart_policy=restart_policy)


def test_a_container_just_killed_under_restart_always_is_waiting(pod):
    v = judge_pod_running(_just_killed(pod, "Always"), "default/nginx-with-sidecar")
    assert v.status == WAITING and "nginx" in v.seen


def test_a_dead_container_the_kubelet_will_not_restart_fails(pod):
    v = judge_pod_running(_just_killed(pod, "Never"), "default/nginx-with-sidecar")
    assert v.status == FAIL


# -- the sandbox ----------------------------------------------------------------

def test_one_ready_sandbox_from_the_pause_image_passes(pod, sandboxes):
    inspected = parse_inspectp(runtime("crictl-inspectp.json"))
    v = judge_sandbox(pod, sandboxes, inspected, PAUSE)
    assert v.status == PASS, v.seen
    # One of the node's sandboxes is the deleted pod's (same name, other uid, NOTREADY): no finding.
    assert v.evidence["sandboxes_on_node"] == len(sandboxes) == 4 and not v.findings
    assert v.evidence["pause_pid"] == inspected.pid > 0 and v.evidence["sandbox_image"] == PAUSE
    assert v.evidence["sandbox_id"] == inspected.id and v.evidence["sandbox_ip"] == pod.ip
    assert v.evidence["netns"] == inspected.netns_path


def test_no_sandboxes_fails(pod):
    v = judge_sandbox(pod, [], None, PAUSE)
    assert v.status == FAIL and "0 READY sandboxes" in v.seen


def test_a_sandbox_from_another_image_fails(pod, sandboxes):
    v = judge_sandbox(pod, sandboxes, parse_inspectp(runtime("crictl-inspectp.json")), "registry.k8s.io/pause:3.10")
    assert v.status == FAIL and "registry.k8s.io/pause:3.10.1" in v.seen


def test_a_pod_uid_the_node_does_not_know_is_a_finding(pod, sandboxes):
    v = judge_sandbox(replace(pod, uid=OTHER_UID), sandboxes, None, PAUSE)
    assert v.status == FAIL
    assert any(OTHER_UID in f and "READY" in f for f in v.findings)


def test_the_api_and_the_sandbox_disagreeing_on_the_pod_ip_is_a_finding(pod, sandboxes):
    v = judge_sandbox(replace(pod, ip="10.244.1.99"), sandboxes, parse_inspectp(runtime("crictl-inspectp.json")), PAUSE)
    assert v.status == FAIL and any("10.244.1.99" in f for f in v.findings)


# -- the containers in the sandbox ------------------------------------------------

def test_both_containers_in_the_ready_sandbox_pass(pod, sandboxes, sandbox, containers):
    v = judge_containers_in_sandbox(pod, sandboxes, containers)
    assert v.status == PASS, v.seen
    assert v.evidence["sandbox_id"] == sandbox.id
    assert (v.evidence["nginx_id"], v.evidence["sidecar_id"]) == (pod.container("nginx").container_id,
                                                                  pod.container("sidecar").container_id)


def test_no_containers_on_the_node_fails(pod, sandboxes):
    v = judge_containers_in_sandbox(pod, sandboxes, [])
    assert v.status == FAIL and len(v.findings) == 2


def test_an_api_with_no_containers_fails(pod, sandboxes, containers):
    assert judge_containers_in_sandbox(replace(pod, containers=()), sandboxes, containers).status == FAIL


def test_a_container_name_the_node_labels_differently_is_a_finding(pod, sandboxes, containers):
    swapped = [replace(c, labels={**c.labels, "io.kubernetes.container.name": "sidecar"}) if c.name == "nginx" else c
               for c in containers]
    v = judge_containers_in_sandbox(pod, sandboxes, swapped)
    assert v.status == FAIL and any("`sidecar`, the API calls it `nginx`" in f for f in v.findings)


def test_a_container_in_another_sandbox_fails(pod, sandboxes, stale_sandbox, containers):
    moved = [replace(c, sandbox_id=stale_sandbox.id) if c.name == "sidecar" else c for c in containers]
    v = judge_containers_in_sandbox(pod, sandboxes, moved)
    assert v.status == FAIL and "sidecar runs in sandbox" in v.seen


def test_containers_in_back_off_are_waiting(sandboxes, backoff_containers):
    # The kubelet keeps reporting the killed container's ID while it backs off.
    pod = api_pod("pod-backoff.json")
    killed = pod.container("nginx").container_id
    assert killed in {c.id for c in backoff_containers if c.state == CONTAINER_EXITED}
    v = judge_containers_in_sandbox(pod, sandboxes, backoff_containers)
    assert v.status == WAITING and v.evidence["backoff"] is True
    assert v.evidence["nginx_id"] == killed and "nginx is CONTAINER_EXITED" in v.seen


# -- the shared emptyDir ----------------------------------------------------------

def test_both_containers_mounting_the_pods_emptydir_pass(pod, inspected):
    v = judge_shared_volume(pod, "logs", inspected)
    assert v.status == PASS, v.seen
    assert v.evidence["nginx_host_path"] == v.evidence["sidecar_host_path"]


def test_nothing_inspected_fails(pod):
    v = judge_shared_volume(pod, "logs", [])
    assert v.status == FAIL and "was not inspected" in v.seen


def test_different_host_paths_fail(pod, inspected):
    nginx, sidecar = inspected
    elsewhere = replace(sidecar, mounts=tuple(m._replace(host_path="/tmp/logs") if m.container_path == "/var/log/nginx"
                                              else m for m in sidecar.mounts))
    v = judge_shared_volume(pod, "logs", [nginx, elsewhere])
    assert v.status == FAIL and "host paths differ" in v.seen


def test_a_volume_only_one_container_mounts_is_not_shared(pod, inspected):
    alone = replace(pod, containers=tuple(replace(c, mounts={}) if c.name == "sidecar" else c
                                          for c in pod.containers))
    v = judge_shared_volume(alone, "logs", inspected)
    assert v.status == FAIL and "1 container(s)" in v.seen


# -- the request in the sidecar's log ---------------------------------------------

def _curl(code="200", exit_code=0):
    return CommandResult("w1", "curl ...", exit_code, code, "", 0.01)


def test_a_request_found_in_the_readers_log_passes():
    log = '10.244.1.1 - - [25/Nov/2025:08:46:00 +0000] "GET /?kubelab-probe-ab12 HTTP/1.1" 200 615 "-" "curl/7.88.1"\n'
    v = judge_request_logged("w1", "nginx", "sidecar", "http://10.244.1.5:80/?kubelab-probe-ab12",
                             "kubelab-probe-ab12", _curl(), log)
    assert v.status == PASS and "GET /?kubelab-probe-ab12" in v.evidence["log_line"]


def test_a_request_missing_from_the_log_fails():
    v = judge_request_logged("w1", "nginx", "sidecar", "http://x/?kubelab-probe-ab12", "kubelab-probe-ab12", _curl(),
                             '"GET /?kubelab-probe-other HTTP/1.1" 200\n')
    assert v.status == FAIL and "does not show the request" in v.seen


def test_a_failed_request_fails_whatever_the_log_says():
    v = judge_request_logged("w1", "nginx", "sidecar", "http://x/?t", "t", _curl("000", 7), "t\n")
    assert v.status == FAIL and "exit 7" in v.seen


# -- kill -9 and the restart --------------------------------------------------------

@pytest.fixture
def before(pod):
    nginx = parse_inspect(runtime("crictl-inspect-nginx.json"))
    return RestartBaseline("nginx", pod.uid, nginx.id, nginx.sandbox_id, 0, nginx.attempt, nginx.pid,
                           pod.namespace, pod.name, pod.node)


@pytest.fixture
def after_kill():
    return parse_ps(runtime("crictl-ps-a-after-kill.json"))


@pytest.fixture
def old():
    return parse_inspect(runtime("crictl-inspect-nginx-exited.json"))


@pytest.fixture
def before_backoff(after_kill):
    """nginx as it ran after the first kill (crictl-ps-a-after-kill.json, pod-after-kill.json), just
    before the second kill -9 (of pid 2609, see the fixtures' README) that put it in back-off."""
    api = api_pod("pod-after-kill.json").container("nginx")
    (node,) = [c for c in after_kill if c.id == api.container_id]
    return RestartBaseline("nginx", node.pod_uid, node.id, node.sandbox_id, api.restart_count, node.attempt, 2609,
                           "default", "nginx-with-sidecar", "w1")


@pytest.fixture
def backoff_containers(after_kill):
    """The node's containers during that back-off: the same list, the killed one now exited."""
    killed = api_pod("pod-backoff.json").container("nginx").container_id
    return [replace(c, state=CONTAINER_EXITED) if c.id == killed else c for c in after_kill]


def test_a_new_container_in_the_same_sandbox_with_restart_count_plus_one_passes(before, after_kill, old):
    v = judge_restart(before, api_pod("pod-after-kill.json"), after_kill, old)
    assert v.status == PASS, v.seen
    assert old.id == before.container_id
    (new,) = [c for c in after_kill if c.label_name == "nginx" and c.running]
    assert v.evidence["new_container_id"] == new.id != before.container_id
    assert new.sandbox_id == before.sandbox_id and new.attempt == before.attempt + 1
    assert v.evidence["last_exit_code"] == 137 and v.evidence["restart_count"] == 1


def test_back_off_is_waiting_not_failure(before_backoff, backoff_containers):
    pod = api_pod("pod-backoff.json")
    # The kubelet has not counted the second restart yet: it holds nginx in back-off.
    assert pod.container("nginx").restart_count == before_backoff.restart_count == 1
    assert pod.container("nginx").container_id == before_backoff.container_id
    v = judge_restart(before_backoff, pod, backoff_containers, None)
    assert v.status == WAITING and v.evidence["backoff"] is True and "back-off" in v.seen
    assert (v.evidence["api_state"], v.evidence["api_reason"]) == ("waiting", "CrashLoopBackOff")


def test_a_restart_not_yet_seen_is_waiting_without_back_off(before, pod, containers):
    v = judge_restart(before, pod, containers, None)
    assert v.status == WAITING and v.evidence["backoff"] is False


def test_the_new_container_missing_from_the_node_is_a_finding(before, old):
    v = judge_restart(before, api_pod("pod-after-kill.json"), [], old)
    assert v.status == FAIL and any("is not on w1" in f for f in v.findings)


def test_a_new_container_in_a_new_sandbox_fails(before, after_kill, old):
    moved = [replace(c, sandbox_id="f" * 64) if c.attempt == 1 else c for c in after_kill]
    v = judge_restart(before, api_pod("pod-after-kill.json"), moved, old)
    assert v.status == FAIL and "sandbox was recreated" in v.seen


def test_node_and_api_disagreeing_on_the_exit_code_is_a_finding(before, after_kill, old):
    v = judge_restart(before, api_pod("pod-after-kill.json"), after_kill, replace(old, exit_code=0))
    assert v.status == FAIL and any("exit code 0" in f for f in v.findings)


def test_a_restart_count_that_jumps_by_two_fails(before, after_kill, old):
    pod = api_pod("pod-after-kill.json")
    jumped = replace(pod, containers=tuple(replace(c, restart_count=2) if c.name == "nginx" else c
                                           for c in pod.containers))
    assert judge_restart(before, jumped, after_kill, old).status == FAIL


def test_a_recreated_pod_is_not_a_restart(before, after_kill, old):
    v = judge_restart(before, api_pod("pod-after-kill.json", uid=OTHER_UID), after_kill, old)
    assert v.status == FAIL and "recreated" in v.seen


# -- verdicts and the runner -------------------------------------------------------

def test_a_verdict_with_findings_cannot_pass():
    with pytest.raises(ValueError):
        verdict(PASS, "w1", "x", "y", findings=["the node disagrees"])


def test_the_runner_names_times_and_fails_a_check_that_cannot_reach_its_node():
    spec = parse_spec({"name": "t", "nodes": [{"name": "w1", "address": "127.0.0.1", "role": "control-plane"}]})
    with SSHPool(spec) as pool:
        lab = Lab(spec, Cluster(k8s_client.ApiClient()), pool)

        def unreachable(lab):
            raise HostUnreachable(Session(spec.node("w1"), spec.ssh), "cannot connect: refused", "start it")

        v = run_check(Check("node answers", unreachable), lab)
    assert (v.check, v.status, v.node) == ("node answers", FAIL, "w1")
    assert "cannot connect" in v.seen and v.evidence["error"] == "HostUnreachable"
    assert v.evidence["commands"] == [] and v.seconds >= 0


# -- when the kill step must make the kubelet forget its restart delay ------------------

@pytest.mark.parametrize("restart_count, running, started, kubelet_started, now, holds", [
    (0, True, 1000.0, 0.0, 1010.0, False),      # never restarted: no delay kept
    (3, False, None, 0.0, 1010.0, True),        # in back-off right now
    (3, True, 1000.0, 900.0, 1010.0, True),     # restarted by this kubelet 10 s ago
    (3, True, 1000.0, 1005.0, 1010.0, False),   # the kubelet restarted since: its memory is gone
    (3, True, 1000.0, 900.0, 1700.0, False),    # ran 700 s since its last restart: forgotten
])
def test_the_kubelet_keeps_a_restart_delay_only_for_a_recent_restart_of_its_own(
        restart_count, running, started, kubelet_started, now, holds):
    assert kubelet_may_back_off(restart_count, running, started, kubelet_started, now) is holds
