"""Node-level proofs on the real cluster: the right answer passes every check, the wrong ones fail.

tests/fixtures/node-proofs/pods.yaml holds `hardened` (user 1000:3000,
non-root, read-only root, no privilege escalation, every capability dropped,
limits and requests, a Secret and a ConfigMap as env and as files), `capable`
(root with NET_ADMIN and SYS_TIME) and `loose` (the plausible wrong answers:
the user on the pod but root on the container, limits on the sidecar, the
Secret's data from a ConfigMap, env from the wrong keys, capabilities added
to a non-root sidecar). Each check runs through run_check, as grading does,
and no verdict, evidence or transcript holds the Secret's value.
"""

import json
import time
from functools import partial
from pathlib import Path

import pytest

from kubelab.checks import FAIL, PASS, Check, Lab, run_check
from kubelab.checks.process import process_environment_has, process_runs_as_non_root, process_runs_as_user
from kubelab.checks.resources import cpu_limit_is_enforced, cpu_request_is_enforced, memory_limit_is_enforced
from kubelab.checks.security import (process_cannot_gain_privileges, process_has_capabilities,
                                     process_lacks_capabilities, root_filesystem_is_read_only)
from kubelab.checks.volumes import config_map_is_mounted, secret_is_mounted_on_tmpfs
from kubelab.cluster import Cluster, load_manifests

pytestmark = pytest.mark.e2e

PODS = Path(__file__).parents[1] / "fixtures" / "node-proofs" / "pods.yaml"
NAMESPACE = "node-proofs"
SECRET_VALUE = "s3cr3t-kubelab"

# Every check that the right answer passes and the wrong one fails, with its arguments.
PROOFS = [
    (process_runs_as_user, {"uid": 1000, "gid": 3000}),
    (process_runs_as_non_root, {}),
    (process_lacks_capabilities, {"capabilities": ["ALL"]}),
    (process_cannot_gain_privileges, {}),
    (root_filesystem_is_read_only, {}),
    (memory_limit_is_enforced, {"limit": "128Mi"}),
    (cpu_limit_is_enforced, {"limit": "500m"}),
    (cpu_request_is_enforced, {"request": "250m"}),
    (secret_is_mounted_on_tmpfs, {"path": "/etc/secret"}),
    (config_map_is_mounted, {"path": "/etc/config"}),
    (process_environment_has, {"variable": "DB_PASSWORD", "value": SECRET_VALUE}),
    (process_environment_has, {"variable": "APP_MODE", "value": "debug"}),
]


@pytest.fixture(scope="module")
def lab(cluster_deploy, lab_spec):
    cluster = Cluster.for_lab(lab_spec)
    manifests = load_manifests([PODS])
    # A namespace must exist for the server's dry run of its objects: it goes in its own batch.
    cluster.apply(manifests[:1])
    cluster.apply(manifests[1:])
    cluster.wait_for_pods(NAMESPACE, ["hardened", "capable", "loose"], 180)
    with Lab.open(lab_spec) as lab:
        yield lab
    cluster.delete(cluster.resource("v1", "Namespace"), NAMESPACE)
    deadline = time.monotonic() + 120
    while cluster.get("v1", "Namespace", NAMESPACE) is not None and time.monotonic() < deadline:
        time.sleep(1)


def run(lab, function, pod, container, **args):
    return run_check(Check(f"{function.__name__} {pod}/{container}",
                           partial(function, namespace=NAMESPACE, name=pod, container=container, **args)), lab)


@pytest.mark.parametrize("function, args", PROOFS, ids=lambda p: p.__name__ if callable(p) else "")
def test_the_right_answer_passes_and_the_wrong_one_fails(lab, function, args):
    right = run(lab, function, "hardened", "app", **args)
    wrong = run(lab, function, "loose", "app", **args)
    assert right.status == PASS, (right.expected, right.seen)
    assert wrong.status == FAIL, (wrong.expected, wrong.seen)
    assert wrong.seen and wrong.expected == right.expected.replace("hardened", "loose")
    assert right.evidence["commands"], "a node-level proof reads the node"
    for v in (right, wrong):
        assert SECRET_VALUE not in json.dumps(v.evidence) + v.seen + v.expected


def test_added_capabilities_are_effective_for_root_and_not_for_a_non_root_user(lab):
    assert run(lab, process_has_capabilities, "capable", "app", capabilities=["NET_ADMIN", "SYS_TIME"]).status == PASS
    sidecar = run(lab, process_has_capabilities, "loose", "sidecar", capabilities=["NET_ADMIN"])
    assert sidecar.status == FAIL and "only in the bounding set" in sidecar.seen


def test_the_write_probe_leaves_nothing_in_a_writable_root(lab, node_shell):
    verdict = run(lab, root_filesystem_is_read_only, "loose", "app")
    assert verdict.status == FAIL and verdict.evidence["write"] == "written"
    pid = verdict.evidence["pid"]
    assert "kubelab-probe" not in node_shell(verdict.node, f"ls -a /proc/{pid}/root/")


def test_checks_given_nothing_fail(lab):
    no_pod = run(lab, process_runs_as_user, "absent", "app", uid=1000)
    assert no_pod.status == FAIL and "no pod" in no_pod.seen
    no_container = run(lab, memory_limit_is_enforced, "hardened", "web", limit="128Mi")
    assert no_container.status == FAIL and "no container web" in no_container.seen
    bad_argument = run(lab, process_lacks_capabilities, "hardened", "app", capabilities=["NOPE"])
    assert bad_argument.status == FAIL and "no Linux capability" in bad_argument.seen
