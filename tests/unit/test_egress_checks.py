"""The egress proofs judged on real transcripts (tests/fixtures/egress, see its README): busybox nslookup in
the client's namespaces under the reference policy, under a policy without a DNS rule, and with the policy on
the wrong pods; and which policies isolate a pod's egress."""

import json
from pathlib import Path

from kubelab.checks.egress import judge_lookup, parse_nslookup
from kubelab.checks.policies import EGRESS, isolates, judge_allowed_by_policy
from kubelab.checks.process import Process, judge_process
from kubelab.checks.registry import checks
from kubelab.checks.verdict import FAIL, PASS, verdict
from kubelab.cluster import PodView
from kubelab.runtime import parse_inspect
from kubelab.ssh import CommandResult

FIXTURES = Path(__file__).parents[1] / "fixtures" / "egress"


def transcript(variant: str) -> dict:
    return json.loads((FIXTURES / f"{variant}.json").read_text())


def api(doc: dict, prefix: str):
    return next(r["object"] for r in doc["api_reads"] if r["read"].startswith(prefix))


def command(doc: dict, prefix: str) -> dict:
    return next(c for c in doc["commands"] if c["command"].startswith(prefix))


def result_of(run: dict) -> CommandResult:
    return CommandResult(run["node"], run["command"], run["exit_code"], run["stdout"], run["stderr"], run["seconds"])


def process(doc: dict) -> Process:
    """The client's process as the check found it: the API's pod and `crictl inspect` on its node."""
    found = judge_process(PodView.from_api(api(doc, "Pod ")), "client",
                          parse_inspect(command(doc, "crictl ")["stdout"]))
    assert isinstance(found, Process)
    return found


def lookup(variant: str, service: dict | None = None, **changed):
    doc = transcript(variant)
    run = result_of(command(doc, "timeout "))
    return judge_lookup(process(doc), "backend", service or api(doc, "Service "),
                        CommandResult(**{**run.__dict__, **changed}))


def test_busybox_nslookup_output_gives_the_names_it_answered_not_the_server():
    run = command(transcript("dns-solution"), "timeout ")
    assert run["command"].endswith("nsenter -t 2532 -m -n -- nslookup backend")
    # Every search domain but the namespace's one is NXDOMAIN, so busybox exits 1 on success.
    assert run["exit_code"] == 1
    assert parse_nslookup(run["stdout"]) == {"backend.ex-netpol-egress.svc.cluster.local": ["10.108.48.242"]}
    assert parse_nslookup("") == {}


def test_the_lookup_in_the_client_answers_the_services_cluster_ip():
    result = lookup("dns-solution")
    assert result.status == PASS, result.seen
    assert result.seen == "pid 2532: backend.ex-netpol-egress.svc.cluster.local 10.108.48.242"
    assert result.node == "w1"


def test_a_rejected_lookup_fails_with_what_nslookup_said():
    result = lookup("dns-no-dns-rule")
    assert result.status == FAIL
    assert result.seen.startswith("no answer (exit 1): ;; connection timed out; no servers could be reached")
    assert "Connection refused" in result.seen


def test_an_answer_that_is_not_the_cluster_ip_fails():
    solved = transcript("dns-solution")
    service = api(solved, "Service ")
    moved = {**service, "spec": {**service["spec"], "clusterIP": "10.96.1.1"}}
    result = lookup("dns-solution", service=moved)
    assert result.status == FAIL and result.seen == "answered 10.108.48.242, not 10.96.1.1"


def test_given_nothing_the_lookup_fails():
    result = lookup("dns-solution", service={"spec": {}}, stdout="", stderr="", exit_code=1)
    assert result.status == FAIL and "is no Service with a ClusterIP" in result.seen
    result = lookup("dns-solution", stdout="", stderr="", exit_code=124)
    assert result.status == FAIL and result.seen == "no answer (exit 124): no output"


def test_a_lookup_counts_only_while_a_policy_isolates_the_clients_egress():
    solved = transcript("dns-solution")
    seen = lookup("dns-solution")
    policies = api(solved, "NetworkPolicy in ")
    result = judge_allowed_by_policy("ex-netpol-egress/client", api(solved, "Pod "), policies, seen, EGRESS)
    assert result.status == PASS and result.seen.startswith("isolated by client-egress; pid 2532: backend.")
    assert result.evidence["isolated_by"] == "client-egress"


def test_a_policy_on_the_backend_leaves_the_client_unrestricted():
    wrong = transcript("dns-selects-the-backend")
    policies = api(wrong, "NetworkPolicy in ")
    assert policies[0]["spec"]["podSelector"] == {"matchLabels": {"app": "backend"}}
    passed = verdict(PASS, "w1", "a lookup answers", "it did")
    result = judge_allowed_by_policy("ex-netpol-egress/client", api(wrong, "Pod "), policies, passed, EGRESS)
    assert result.status == FAIL
    assert result.seen.startswith("no NetworkPolicy selects pod ex-netpol-egress/client for Egress (policies in "
                                  "its namespace: client-egress)")


def test_a_connection_under_the_policy_is_judged_as_connection_from_pod_saw_it():
    doc = transcript("backend-solution")
    assert doc["status"] == PASS
    sent = verdict(PASS, "w1", "a connection answers", "from the pod: answered HTTP 200 by 10.244.1.6:80")
    result = judge_allowed_by_policy("ex-netpol-egress/client", api(doc, "Pod "), api(doc, "NetworkPolicy in "), sent,
                                     EGRESS)
    assert result.status == PASS and result.seen.endswith("answered HTTP 200 by 10.244.1.6:80")
    failed = verdict(FAIL, "w1", "a connection answers", "refused")
    assert judge_allowed_by_policy("ex-netpol-egress/client", api(doc, "Pod "), api(doc, "NetworkPolicy in "),
                                   failed, EGRESS).status == FAIL


def test_given_nothing_isolation_fails():
    passed = verdict(PASS, "w1", "a lookup answers", "it did")
    assert judge_allowed_by_policy("ex-netpol-egress/client", None, [], passed, EGRESS).status == FAIL
    pod = api(transcript("dns-solution"), "Pod ")
    assert judge_allowed_by_policy("ex-netpol-egress/client", pod, [], passed, EGRESS).status == FAIL


def test_which_policies_isolate_egress():
    solved = api(transcript("dns-solution"), "NetworkPolicy in ")[0]
    assert isolates(solved, EGRESS)
    assert not isolates({"spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}, EGRESS)
    # Without policyTypes the API covers Egress only when the policy has egress rules.
    assert isolates({"spec": {"podSelector": {}, "egress": [{}]}}, EGRESS)
    assert not isolates({"spec": {"podSelector": {}, "ingress": [{}]}}, EGRESS)
    assert not isolates({}, EGRESS)


def test_the_checks_are_registered_with_the_arguments_an_exercise_gives():
    assert checks()["egress_allowed_by_policy"].required == {"namespace", "name", "target", "port"}
    assert checks()["name_resolves_under_egress_policy"].required == {"namespace", "name", "container", "lookup"}
