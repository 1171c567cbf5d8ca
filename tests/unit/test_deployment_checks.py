"""Node proofs on every replica of a Deployment, judged on a real rollout captured from a lab.

tests/fixtures/deployments/ holds Deployment `web` (2 replicas of nginx:1.27, namespace
ex-resources) with its ReplicaSets and pods, read from lab ex-h1 right after
`kubectl set resources deployment web ...` (mid-rollout: the old and new ReplicaSet, one old pod
terminating) and after `kubectl rollout status` returned (see the README there).
"""

import copy
import json
from pathlib import Path

from kubelab.checks.deployments import judge_each_replica, judge_replicas
from kubelab.checks.process import judge_process
from kubelab.checks.registry import checks
from kubelab.checks.resources import judge_memory_limit
from kubelab.checks.verdict import FAIL, PASS, WAITING, Verdict
from kubelab.cluster import PodView
from kubelab.runtime import parse_cgroup_limits, parse_inspect

FIXTURES = Path(__file__).parents[1] / "fixtures"
NEW_SET = "web-5b77795fb8"  # revision 2: the pod template with the resources


def rollout(name: str) -> dict:
    return json.loads((FIXTURES / "deployments" / f"web-{name}.json").read_text())


def judged(name: str):
    doc = rollout(name)
    return judge_replicas(doc["deployment"], doc["replica_sets"], doc["pods"])


def test_a_finished_rollout_gives_the_live_pods_of_the_newest_revision():
    assert judged("rolled-out") == [f"{NEW_SET}-c9szj", f"{NEW_SET}-sfbr6"]


def test_mid_rollout_the_check_waits_and_says_so():
    v = judged("mid-rollout")
    assert isinstance(v, Verdict) and v.status == WAITING, v
    assert "rollout under way" in v.seen and v.evidence["replica_set"] == NEW_SET
    # Only running pods of the newest ReplicaSet are judged, even with the counts settled: its
    # second pod is still Pending, the old ReplicaSet's pods are not the rollout.
    doc = rollout("mid-rollout")
    doc["deployment"]["status"].update(replicas=2, readyReplicas=2, updatedReplicas=2)
    v = judge_replicas(doc["deployment"], doc["replica_sets"], doc["pods"])
    assert isinstance(v, Verdict) and v.status == WAITING and "1 running pod(s)" in v.seen, v


def test_pods_of_an_older_revision_alone_are_not_the_rollout():
    doc = rollout("rolled-out")
    old = [p for p in rollout("mid-rollout")["pods"] if not p["metadata"]["name"].startswith(NEW_SET)]
    v = judge_replicas(doc["deployment"], doc["replica_sets"], old)
    assert isinstance(v, Verdict) and v.status == WAITING and f"0 running pod(s) of {NEW_SET}" in v.seen


def test_no_deployment_no_replica_set_or_zero_replicas_cannot_pass():
    v = judge_replicas(None, [], [])
    assert v.status == FAIL and "no such Deployment" in v.seen
    doc = rollout("rolled-out")
    v = judge_replicas(doc["deployment"], [], doc["pods"])
    assert v.status == WAITING and "no ReplicaSet" in v.seen
    scaled = copy.deepcopy(doc["deployment"])
    scaled["spec"]["replicas"] = 0
    scaled["status"].update(replicas=0, readyReplicas=0, updatedReplicas=0, availableReplicas=0)
    v = judge_replicas(scaled, doc["replica_sets"], [])
    assert v.status == FAIL and "0 replicas" in v.seen


def memory_verdict(stem: str, container: str = "app") -> Verdict:
    """A real per-pod verdict: the memory-limit judge on node-proof captures (tests/fixtures/node-proofs)."""
    proofs = FIXTURES / "node-proofs"
    pod = PodView.from_api(json.loads((proofs / f"pod-{stem}.json").read_text()))
    process = judge_process(pod, container, parse_inspect((proofs / f"{stem}-{container}.crictl-inspect-process.json")
                                                          .read_text()))
    limits = parse_cgroup_limits((proofs / f"{stem}-{container}.cgroup-limits.txt").read_text())
    return judge_memory_limit(process, limits, "128Mi", 134217728)


def test_every_replica_must_pass_and_a_failing_one_is_named():
    good, bad = memory_verdict("hardened"), memory_verdict("loose")
    assert (good.status, bad.status) == (PASS, FAIL)
    v = judge_each_replica("web", [("web-a", good), ("web-b", good)])
    assert v.status == PASS and v.seen.startswith("2 replica(s)") and set(v.evidence) == {"web-a", "web-b"}
    v = judge_each_replica("web", [("web-a", good), ("web-b", bad)])
    assert v.status == FAIL and v.seen.startswith("web-b: ") and "web-a" not in v.seen
    assert v.evidence["web-a"].startswith("pass") and v.evidence["web-b"].startswith("fail")


def test_given_no_replica_verdict_it_fails():
    v = judge_each_replica("web", [])
    assert v.status == FAIL and "no replica" in v.seen


def test_the_deployment_checks_take_the_pod_checks_arguments_and_a_bounded_wait():
    table = checks()
    for name, value in (("deployment_memory_limit_is_enforced", "limit"), ("deployment_cpu_limit_is_enforced", "limit"),
                        ("deployment_cpu_request_is_enforced", "request")):
        assert table[name].required == {"namespace", "name", "container", value}
        assert table[name].optional == {"timeout", "interval"}
