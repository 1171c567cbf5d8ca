"""Traffic, Service, probe and workload verdicts, judged again on what real checks read.

Every fixture in tests/fixtures/traffic is the transcript of one check run on
a real lab (see its README): the API objects it read and every node command
with its exit code, stdout and stderr. Each test rebuilds the judge's inputs
from that transcript with the same parsers the check uses, so the right
answer passes, a plausible wrong answer fails naming what differs, and
nothing fails.
"""

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from kubelab.checks import FAIL, PASS, WAITING
from kubelab.checks.network import (ALLOWED, DENIED, Target, judge_connection, parse_target,
                                    resolve_target)
from kubelab.checks.probes import ProbeBreak, judge_liveness_restart
from kubelab.checks.registry import checks, steps
from kubelab.checks.services import (Attempt, backends, judge_readiness_gate, judge_service_routing,
                                     matching_flow, target_port)
from kubelab.checks.workloads import judge_cronjob, judge_job, judge_rollout
from kubelab.cluster import PodView
from kubelab.runtime import RuntimeOutputError, parse_conntrack, parse_curl, parse_images, parse_inspect, parse_ps

TRAFFIC = Path(__file__).parents[1] / "fixtures" / "traffic"


class Capture:
    """One check's transcript: its arguments, API reads and node commands, in the order they ran."""

    def __init__(self, name: str):
        self.doc = json.loads((TRAFFIC / f"{name}.json").read_text())
        self.args = self.doc.get("args", {})

    def read(self, label: str):
        return next(r["object"] for r in self.doc["api_reads"] if r["read"] == label)

    def reads(self, prefix: str) -> list:
        return [r["object"] for r in self.doc["api_reads"] if r["read"].startswith(prefix)]

    def commands(self, word: str) -> list[dict]:
        return [c for c in self.doc["commands"] if word in c["command"]]

    def attempts(self) -> list[Attempt]:
        """Each curl request with the conntrack entry the check looked up right after it."""
        found, commands = [], self.doc["commands"]
        for i, c in enumerate(commands):
            if "curl -sS" not in c["command"]:
                continue
            request = parse_curl(c["exit_code"], c["stdout"], c["stderr"])
            after = commands[i + 1] if i + 1 < len(commands) else None
            flows = parse_conntrack(after["stdout"]) if after and after["command"].startswith("conntrack") else []
            address = c["command"].rsplit("//", 1)[1].split("/")[0].rsplit(":", 1)[0]
            address = next((f.original.dst for f in flows), address)
            found.append(Attempt(request, matching_flow(request, flows, address)))
        return found


# -- the parsers, on what curl and conntrack printed ---------------------------

def test_curl_reads_an_answer_a_rejection_and_the_local_port():
    answered, = Capture("conn-allowed-pod").commands("curl -sS")
    request = parse_curl(answered["exit_code"], answered["stdout"], answered["stderr"])
    assert (request.connected, request.http_status, request.local_ip) == (True, 200, "10.244.1.4")
    assert request.local_port and request.outcome == "answered HTTP 200"
    rejected, = Capture("conn-allowed-but-rejected").commands("curl -sS")
    request = parse_curl(rejected["exit_code"], rejected["stdout"], rejected["stderr"])
    assert (request.connected, request.http_status, request.local_port) == (False, None, None)
    assert request.outcome.startswith("refused or rejected (curl: (7) Failed to connect to 10.244.1.5 port 80")


def test_a_timed_out_connection_counts_as_denied_when_the_node_is_answered():
    timed_out, = Capture("curl-timeout").doc["commands"]
    request = parse_curl(timed_out["exit_code"], timed_out["stdout"], timed_out["stderr"])
    assert (request.connected, request.local_port) == (False, None)
    assert request.outcome == ("timed out (curl: (28) Failed to connect to 10.244.1.250 port 80 after 2000 ms: "
                               "Timeout was reached)")
    # A policy that drops instead of rejecting: the pod's request times out, the node's is answered.
    _, resolved, _ = _connection("conn-denied-pod")
    control = Capture("conn-denied-pod").attempts()[1]
    result = judge_connection("g2/other", "w1", "pod/web-1", 80, DENIED, resolved, Attempt(request, None), control)
    assert result.status == PASS and result.seen.startswith("from the pod: timed out")


@pytest.mark.parametrize("stdout, stderr", [
    ("", "nsenter: cannot open /proc/4242/ns/net: No such file or directory\n"),
    ("200 10.0.0.1 80\n", ""),
    ("abc 10.0.0.1 80 0.1\n", ""),
])
def test_curl_output_without_the_write_out_line_is_an_error_naming_it(stdout, stderr):
    with pytest.raises(RuntimeOutputError, match="curl --write-out"):
        parse_curl(1, stdout, stderr)


def test_conntrack_gives_the_backend_a_service_dnat_chose():
    capture = Capture("svc-routes-from-pod")
    flow, = parse_conntrack(capture.commands("conntrack")[0]["stdout"])
    cluster_ip = capture.read("Service g2/web")["spec"]["clusterIP"]
    assert (flow.protocol, flow.state, flow.assured) == ("tcp", "TIME_WAIT", True)
    assert flow.original.dst == cluster_ip and flow.original.dport == 8080
    assert flow.answered_by == "10.244.1.5:80"  # web-1's pod IP and container port, not the ClusterIP


def test_conntrack_lines_without_both_directions_are_an_error():
    assert parse_conntrack("") == []
    with pytest.raises(RuntimeOutputError, match="conntrack -L"):
        parse_conntrack("tcp 6 119 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=80\n")


# -- a connection from a pod's network namespace -------------------------------

def test_targets_are_pods_services_or_service_dns_names_in_the_clients_namespace():
    assert parse_target("pod/web-1", "g2") == Target("pod", "g2", "web-1", "")
    assert parse_target("service/web", "g2") == Target("service", "g2", "web", "")
    assert parse_target("web", "g2") == Target("service", "g2", "web", "web")
    assert parse_target("web.other.svc.cluster.local.", "g2") == Target("service", "other", "web",
                                                                        "web.other.svc.cluster.local")
    for bad in ("10.244.1.5", "deployment/web", "pod/", "Web", "web.g2.svc.example.org"):
        assert parse_target(bad, "g2") is None, bad


def _connection(name: str):
    capture = Capture(name)
    args = capture.args
    target = parse_target(args["target"], args["namespace"])
    if target.kind == "pod":
        resolved = resolve_target(target, args["port"], capture.read(f"Pod g2/{target.name}"), None, [])
    else:
        resolved = resolve_target(target, args["port"], None, capture.read(f"Service g2/{target.name}"),
                                  capture.reads("EndpointSlice")[0])
    sent, *control = capture.attempts()
    result = judge_connection(f"g2/{args['name']}", "w1", args["target"], args["port"], args["expect"], resolved,
                              sent, control[0] if control else None)
    assert result.status == capture.doc["status"]
    return result, resolved, sent


@pytest.mark.parametrize("name, answered_by", [("conn-allowed-pod", "10.244.1.5:80"),
                                               ("conn-allowed-dns", "10.244.1.20:80")])
def test_an_allowed_client_is_answered_by_the_target_itself(name, answered_by):
    result, resolved, _ = _connection(name)
    assert result.status == PASS
    assert result.seen == f"from the pod: answered HTTP 200 by {answered_by}"
    assert answered_by in resolved.answerers


def test_a_dns_name_is_sent_as_the_host_to_the_clusterip_the_api_gives():
    result, resolved, _ = _connection("conn-allowed-dns")
    curl, = Capture("conn-allowed-dns").commands("curl -sS")
    assert resolved.resolve(8080) == f"web.g2.svc.cluster.local:8080:{resolved.address}"
    assert f"--resolve web.g2.svc.cluster.local:8080:{resolved.address}" in curl["command"]
    assert curl["command"].startswith("nsenter -t ") and " -n -- curl " in curl["command"]


@pytest.mark.parametrize("name", ["conn-denied-pod", "conn-denied-service"])
def test_a_denied_client_is_rejected_while_the_node_is_answered_by_the_target(name):
    result, _, sent = _connection(name)
    assert result.status == PASS
    assert "from the pod: refused or rejected" in result.seen
    assert "from the node: answered HTTP 200 by 10.244.1." in result.seen
    assert not sent.request.connected


def test_denied_expected_but_let_through_fails_naming_who_answered():
    result, _, _ = _connection("conn-denied-but-let-through")
    assert result.status == FAIL
    assert result.seen == "the connection was let through: answered HTTP 200 by 10.244.1.5:80"


def test_allowed_expected_but_rejected_fails_with_curls_reason():
    result, _, _ = _connection("conn-allowed-but-rejected")
    assert result.status == FAIL and "refused or rejected" in result.seen


def test_a_refusal_where_nothing_listens_proves_no_policy():
    result, _, _ = _connection("conn-denied-nothing-listens")
    assert result.status == FAIL
    assert "from the node too: refused or rejected" in result.seen and "proves no policy" in result.seen


def test_an_answer_from_anything_but_the_target_does_not_count():
    # Port 80 is no port of the Service: the lab's host answered it, at the ClusterIP itself.
    result, resolved, sent = _connection("conn-unmapped-port-answered-by-host")
    assert result.status == FAIL
    assert sent.request.http_status == 404 and not resolved.answerers
    assert "by 10.100.130.222:80, which is not any backend" in result.seen
    # Nor may such an answer serve as the control that something listens.
    _, resolved, rejected = _connection("conn-denied-pod")
    control = judge_connection("g2/other", "w1", "pod/web-1", 80, DENIED, resolved, rejected, sent)
    assert control.status == FAIL and "proves no policy" in control.seen


def test_a_connection_check_given_nothing_fails():
    _, resolved, sent = _connection("conn-allowed-pod")
    nothing = judge_connection("g2/client", "w1", "pod/gone", 80, ALLOWED, None, None, None)
    assert nothing.status == FAIL and "'pod/gone' is not a pod with an IP" in nothing.seen
    assert resolve_target(Target("pod", "g2", "gone", ""), 80, None, None, []) is None
    assert resolve_target(Target("service", "g2", "gone", ""), 80, None, None, []) is None
    unsent = judge_connection("g2/client", "w1", "pod/web-1", 80, ALLOWED, resolved, None, None)
    assert unsent.status == FAIL and "no READY sandbox" in unsent.seen
    vague = judge_connection("g2/client", "w1", "pod/web-1", 80, "maybe", resolved, sent, None)
    assert vague.status == FAIL and "'allowed' or 'denied'" in vague.seen
    no_control = judge_connection("g2/other", "w1", "pod/web-1", 80, DENIED, resolved,
                                  Capture("conn-denied-pod").attempts()[0], None)
    assert no_control.status == FAIL and "no control" in no_control.seen


# -- a Service routes to its Ready pods ----------------------------------------

def _routing(name: str, **changes):
    capture = Capture(name)
    args = capture.args
    service = capture.read(f"Service g2/{args['name']}")
    slices, = capture.reads("EndpointSlice")
    pods = next(iter(capture.reads("Pod in g2")), [])
    attempts = capture.attempts()
    inputs = dict(service=service, pods=pods, slices=slices, sent=attempts[0] if attempts else None)
    inputs.update(changes)
    source = f"pod g2/{args['from_pod']}" if args.get("from_pod") else "node w1"
    return judge_service_routing(f"g2/{args['name']}", args["port"], inputs["service"], inputs["pods"],
                                 inputs["slices"], source, "w1", inputs["sent"]), capture


def test_a_service_routes_to_its_ready_pods_and_the_answer_names_the_pod():
    result, capture = _routing("svc-routes-from-pod")
    assert result.status == PASS == capture.doc["status"]
    assert result.evidence["endpoints"] == "10.244.1.20:80, 10.244.1.5:80"
    assert result.evidence["target_port"] == "targetPort http = nginx's port 80"
    assert result.evidence["answered_by_pod"] == "web-1"


def test_a_not_ready_pod_is_left_out_of_the_endpoints_and_the_route():
    result, _ = _routing("svc-routes-around-unready")
    assert result.status == PASS and result.evidence["endpoints"] == "10.244.1.5:80"


def test_named_target_port_resolves_per_pod():
    capture = Capture("svc-routes-from-pod")
    service = capture.read("Service g2/web")
    pod = capture.reads("Pod in g2")[0][0]
    assert target_port(pod, service["spec"]["ports"][0]) == (80, "targetPort http = nginx's port 80")
    assert target_port(pod, {"port": 8080, "targetPort": "htp"})[0] is None
    assert target_port(pod, {"port": 8080}) == (8080, "targetPort 8080")


def test_an_endpoint_that_is_no_ready_pod_or_a_missing_one_fails():
    capture = Capture("svc-routes-from-pod")
    slices = capture.reads("EndpointSlice")[0]
    one_short = [{**slices[0], "endpoints": slices[0]["endpoints"][:1]}]
    result, _ = _routing("svc-routes-from-pod", slices=one_short)
    assert result.status == FAIL and "is not an endpoint" in result.seen
    stale = capture.reads("Pod in g2")[0][:1]
    result, _ = _routing("svc-routes-from-pod", pods=stale)
    assert result.status == FAIL and "is no Ready pod of the selector" in result.seen


def test_a_service_check_given_nothing_fails():
    result, _ = _routing("svc-routes-from-pod", service=None)
    assert result.status == FAIL and result.seen == "no Service g2/web in the API"
    result, _ = _routing("svc-routes-from-pod", sent=None)
    assert result.status == FAIL and "no request was sent" in result.seen
    result, _ = _routing("svc-routes-from-pod", pods=[], slices=[])
    assert result.status == FAIL and "no Ready pod matches" in result.seen
    service = Capture("svc-routes-from-pod").read("Service g2/web")
    assert backends(service, [], 8080) == [] and backends(service, [{}], 9999) == []


# -- a readiness probe gates traffic -------------------------------------------

def _gate(name: str, **changes):
    capture = Capture(name)
    args = capture.args
    inputs = dict(service=capture.read(f"Service g2/{args['service']}"), slices=capture.reads("EndpointSlice")[0],
                  pod=capture.read(f"Pod g2/{args['pod']}"),
                  containers=parse_ps(capture.commands(" ps -a -o json")[0]["stdout"]))
    inputs.update(changes)
    return judge_readiness_gate(f"g2/{args['service']}", **inputs), capture


def test_a_running_pod_failing_readiness_is_no_ready_endpoint():
    result, capture = _gate("unready-pod-not-an-endpoint")
    assert result.status == PASS == capture.doc["status"]
    assert result.evidence["endpoint_conditions"] == "10.244.1.20 ready=False"


@pytest.mark.parametrize("judge, name, seen", [
    (_routing, "svc-target-port-nothing-listens", "refused or rejected"),
    (_routing, "svc-target-port-name-typo", "no container of pod web-1 has a port named htp"),
    (_routing, "svc-selector-matches-nothing", "no Ready pod matches the selector app=webb (0 pod(s) match it)"),
    (_gate, "ready-pod-is-an-endpoint", "the pod is Ready (probe on nginx succeeds)"),
    (_gate, "unready-pod-not-selected", "is not selected by app=webb: its absence from the endpoints proves no probe"),
])
def test_a_wrong_service_or_a_pod_no_probe_holds_back_fails_naming_what_is_wrong(judge, name, seen):
    result, capture = judge(name)
    assert result.status == FAIL == capture.doc["status"]
    assert seen in result.seen


def test_a_not_ready_pod_still_listed_ready_or_not_running_fails():
    capture = Capture("unready-pod-not-an-endpoint")
    slices = capture.reads("EndpointSlice")[0]
    listed_ready = [{**s, "endpoints": [{**e, "conditions": {"ready": True}} for e in s["endpoints"]]}
                    for s in slices]
    result, _ = _gate("unready-pod-not-an-endpoint", slices=listed_ready)
    assert result.status == FAIL and "is a ready endpoint" in result.seen
    result, _ = _gate("unready-pod-not-an-endpoint", containers=[])
    assert result.status == FAIL and "not running on the node: nginx" in result.seen
    pod = capture.read("Pod g2/web-2")
    unprobed = {**pod, "spec": {**pod["spec"], "containers": [{k: v for k, v in c.items() if k != "readinessProbe"}
                                                              for c in pod["spec"]["containers"]]}}
    result, _ = _gate("unready-pod-not-an-endpoint", pod=unprobed)
    assert result.status == FAIL and "no container of the pod has a readinessProbe" in result.seen


def test_a_readiness_check_given_nothing_fails():
    result, _ = _gate("unready-pod-not-an-endpoint", service=None, slices=[], pod=None, containers=[])
    assert result.status == FAIL and result.seen == "no Service in the API"
    result, _ = _gate("unready-pod-not-an-endpoint", pod=None)
    assert result.status == FAIL and result.seen == "no such pod in the API"


# -- a liveness probe restarts the app -----------------------------------------

def _liveness(name: str, **changes):
    capture = Capture(name)
    inputs = dict(pod=capture.read(f"Pod g2/{capture.args['name']}"), events=capture.reads("Event in g2")[0],
                  containers=parse_ps(capture.commands(" ps -a -o json")[0]["stdout"]),
                  previous=next((parse_inspect(c["stdout"]) for c in capture.commands(" inspect -o json")), None),
                  before=ProbeBreak(**capture.args["before"]))
    inputs.update(changes)
    return judge_liveness_restart(name=capture.args["container"], **inputs), inputs


def test_a_failed_liveness_probe_brings_a_new_attempt_in_the_same_sandbox():
    result, inputs = _liveness("live-good")
    assert result.status == PASS
    before = inputs["before"]
    assert before.existed and before.attempt == 0
    assert result.evidence["sandbox_id"] == before.sandbox_id and result.evidence["attempt"] == 1
    assert result.evidence["previous_exit_code"] == 137  # the kubelet's SIGKILL after the grace period
    assert result.evidence["probe_message"].startswith("Liveness probe failed: cat: can't open '/tmp/healthy'")


def test_an_app_that_exits_by_itself_is_restarted_without_probe_events():
    result, inputs = _liveness("live-crash")
    # Still waiting for events that never come; the check failed when its time ran out.
    assert result.status == WAITING and Capture("live-crash").doc["status"] == FAIL
    assert "no Unhealthy (Liveness probe failed) and Killing (failed liveness probe) event" in result.seen
    assert PodView.from_api(inputs["pod"]).container("app").restart_count == 1


def test_a_restart_that_finished_before_the_kill_or_in_another_pod_fails():
    _, inputs = _liveness("live-good")
    early = replace(inputs["previous"], finished=inputs["previous"].finished - timedelta(seconds=30))
    result, _ = _liveness("live-good", previous=early)
    assert result.status == FAIL and "before the kubelet's first kill" in result.seen
    result, _ = _liveness("live-good", before=replace(inputs["before"], pod_uid="another"))
    assert result.status == FAIL and "the pod was recreated" in result.seen
    result, _ = _liveness("live-good", before=replace(inputs["before"], sandbox_id="f" * 64))
    assert result.status == FAIL and "not fffffffffffff" in result.seen


def test_a_container_without_a_liveness_probe_fails_at_once():
    _, inputs = _liveness("live-good")
    pod = inputs["pod"]
    bare = {**pod, "spec": {**pod["spec"], "containers": [{k: v for k, v in c.items() if k != "livenessProbe"}
                                                          for c in pod["spec"]["containers"]]}}
    result, _ = _liveness("live-good", pod=bare)
    assert result.status == FAIL and "has no livenessProbe" in result.seen


def test_a_liveness_check_given_nothing_fails_or_waits_for_a_restart():
    result, _ = _liveness("live-good", pod=None)
    assert result.status == FAIL and result.seen == "no such pod in the API"
    result, _ = _liveness("live-good", events=[], containers=[], previous=None,
                          before=replace(ProbeBreak(**Capture("live-good").args["before"]), restart_count=1))
    assert result.status == WAITING and result.seen.startswith("restartCount still 1")


# -- a Job ran to completion ---------------------------------------------------

def _job(name: str, **changes):
    capture = Capture(name)
    inspected = {}
    for c in capture.commands(" inspect -o json"):
        container = parse_inspect(c["stdout"])
        inspected.setdefault(container.pod_uid, []).append(container)
    inputs = dict(job=capture.read(f"Job g2/{capture.args['name']}"), pods=capture.reads("Pod in g2")[0],
                  inspected=inspected, completions=capture.args["completions"],
                  parallelism=capture.args.get("parallelism", 0))
    inputs.update(changes)
    return judge_job(**inputs), inputs


def test_a_job_completed_three_times_one_at_a_time_with_exit_0_on_the_node():
    result, inputs = _job("job-three-one-at-a-time")
    assert result.status == PASS
    assert result.evidence["succeeded"] == 3 and len(result.evidence["runs"].split("; ")) == 3
    assert all(c.exit_code == 0 for cs in inputs["inspected"].values() for c in cs)


def test_overlapping_runs_a_non_zero_exit_or_no_node_record_fail():
    _, inputs = _job("job-three-one-at-a-time")
    first, second, *_ = sorted(inputs["inspected"].values(), key=lambda cs: cs[0].started)
    overlapping = {**inputs["inspected"], second[0].pod_uid: [replace(second[0], started=first[0].started)]}
    result, _ = _job("job-three-one-at-a-time", inspected=overlapping)
    assert result.status == FAIL and "ran at the same time" in result.seen
    failed = {**inputs["inspected"], first[0].pod_uid: [replace(first[0], exit_code=1)]}
    result, _ = _job("job-three-one-at-a-time", inspected=failed)
    assert result.status == FAIL and "c exited 1 on w1" in result.seen
    result, _ = _job("job-three-one-at-a-time", inspected={})
    assert result.status == FAIL and "no exited container on w1" in result.seen
    result, _ = _job("job-three-one-at-a-time", completions=2)
    assert result.status == FAIL and result.seen == "spec.completions is 3"


def test_a_failed_job_fails_and_a_job_given_nothing_fails():
    result, _ = _job("job-failed")
    assert result.status == FAIL and result.seen == "the Job failed (0 succeeded)"
    result, _ = _job("job-three-one-at-a-time", job=None, pods=[], inspected={})
    assert result.status == FAIL and result.seen == "no such Job in the API"


def test_a_running_job_is_waited_for():
    _, inputs = _job("job-three-one-at-a-time")
    job = inputs["job"]
    running = {**job, "status": {"active": 1, "succeeded": 1}}
    result, _ = _job("job-three-one-at-a-time", job=running)
    assert result.status == WAITING and result.seen == "1 of 3 succeeded, 1 active"


# -- a CronJob's schedule ------------------------------------------------------

def test_a_cronjob_on_its_schedule_passes_and_another_fails():
    cronjob = Capture("cronjob").read("CronJob g2/tick")
    assert judge_cronjob(cronjob, "*/5  * * * *", "docker.io/library/busybox:1.37").status == PASS
    wrong = judge_cronjob(cronjob, "*/10 * * * *", "nginx:1.27")
    assert wrong.status == FAIL and wrong.seen == "schedule is `*/5 * * * *`; its containers run busybox:1.37"
    suspended = judge_cronjob({**cronjob, "spec": {**cronjob["spec"], "suspend": True}}, "*/5 * * * *")
    assert suspended.status == FAIL and suspended.seen == "it is suspended"
    assert judge_cronjob(None, "*/5 * * * *").status == FAIL


# -- a Deployment rolled out or back -------------------------------------------

def _rollout(**changes):
    capture = Capture("deploy-rolled-back")
    inputs = dict(deployment=capture.read("Deployment g2/roll"), replica_sets=capture.reads("ReplicaSet in g2")[0],
                  pods=capture.reads("Pod in g2")[0],
                  containers={"w1": parse_ps(capture.commands(" ps -a -o json")[0]["stdout"])},
                  images={"w1": parse_images(capture.commands(" images -o json")[0]["stdout"])},
                  image=capture.args["image"], previous_image=capture.args["previous_image"])
    inputs.update(changes)
    return judge_rollout(**inputs), inputs


def test_a_rolled_back_deployment_runs_the_old_image_on_the_node():
    result, _ = _rollout()
    assert result.status == PASS
    assert result.evidence["revisions"].startswith("3 docker.io/library/nginx:1.27 (roll-55fcf7b947); "
                                                   "2 docker.io/library/busybox:1.37")
    assert result.evidence["running"].count("@w1") == 2


def test_a_rollout_to_another_image_or_without_the_history_fails():
    result, _ = _rollout(image="busybox:1.37", previous_image="nginx:1.27")
    assert result.status == FAIL and result.seen == "the newest revision 3 runs docker.io/library/nginx:1.27"
    result, _ = _rollout(previous_image="nginx:1.27")
    assert result.status == FAIL and result.seen == "no older revision ran docker.io/library/nginx:1.27"


def test_a_container_created_from_another_image_than_the_tag_names_on_the_node_fails():
    _, inputs = _rollout()
    nginx, = [i for i in inputs["images"]["w1"] if "docker.io/library/nginx:1.27" in i.repo_tags]
    # The tag now names another image than the one the containers were created from.
    moved = [replace(i, id="sha256:" + "0" * 64, repo_digests=()) if i is nginx else i
             for i in inputs["images"]["w1"]]
    result, _ = _rollout(images={"w1": moved})
    assert result.status == FAIL
    assert f"runs image {nginx.id[:19]} (untagged), not docker.io/library/nginx:1.27" in result.seen


def test_a_rollout_under_way_is_waited_for_and_none_fails():
    _, inputs = _rollout()
    deployment = inputs["deployment"]
    halfway = {**deployment, "status": {**deployment["status"], "updatedReplicas": 1}}
    result, _ = _rollout(deployment=halfway)
    assert result.status == WAITING and result.seen.startswith("rollout under way: 1 updated")
    result, _ = _rollout(deployment=None, replica_sets=[], pods=[], containers={}, images={})
    assert result.status == FAIL and result.seen == "no such Deployment in the API"


# -- exercises name these by registered name ------------------------------------

def test_the_checks_and_the_step_are_registered_with_their_arguments():
    registered = checks()
    assert registered["connection_from_pod"].required == {"namespace", "name", "target", "port", "expect"}
    assert registered["service_routes_to_ready_pods"].required == {"namespace", "name", "port"}
    assert registered["not_ready_pod_is_not_an_endpoint"].required == {"namespace", "service", "pod"}
    assert registered["liveness_probe_restarted_the_container"].required == {"namespace", "name", "container"}
    assert registered["job_completed"].required == {"namespace", "name", "completions"}
    assert registered["cronjob_is_scheduled"].required == {"namespace", "name", "schedule"}
    assert registered["deployment_runs_image"].required == {"namespace", "name", "image"}
    assert steps()["remove_file_in_container"].required == {"namespace", "name", "container", "path"}
