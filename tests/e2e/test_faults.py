"""Faults a lab meets in a classroom, each survived on the real cluster.

An SSH connection dropped in the middle of a deploy, a node container
restarted, containerd and the kubelet killed with -9, a reset interrupted with
SIGINT halfway: after each, the next run converges (exit 0, the lab Ready, the
article's checks passing or the lab verified clean). Runs after test_cluster
and before test_reset, on the session lab.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from kubernetes import client, config

from kubelab import paths
from kubelab.deploy import REPO, run_deploy
from kubelab.local import nodes
from kubelab.local.podman import podman
from lab_cli import CLI_TIMEOUT, KUBELAB, kubelab, wait_for

pytestmark = pytest.mark.e2e

READY_SECONDS = 300
EXERCISE = ("default", "nginx-with-sidecar")


def core(lab_spec) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(
        config_file=str(paths.lab_dir(lab_spec.name) / "kubeconfig")))


def lab_ready(lab_spec) -> bool:
    """Every node Ready and the exercise pod Running and Ready: what a student needs."""
    try:
        api = core(lab_spec)
        ready_nodes = {n.metadata.name for n in api.list_node().items
                       if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)}
        pod = api.read_namespaced_pod(EXERCISE[1], EXERCISE[0])
    except Exception:  # the API server itself may be coming back
        return False
    pod_ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or ())
    return ready_nodes == {n.name for n in lab_spec.nodes} and pod_ready


def container_of(lab_spec, node) -> str:
    return nodes.LocalNode(node.name, node.role, node.address).container(lab_spec.name)


def on_node(lab_spec, node, command: str) -> subprocess.CompletedProcess:
    """Run a command in a node container past SSH: the fault's hand, not kubelab's."""
    return podman("exec", container_of(lab_spec, node), "sh", "-c", command, check=False)


def assert_checks_pass(lab_spec_path):
    checks = kubelab(lab_spec_path, "check", "--json")
    try:
        failed = [(v["check"], v["status"], v["seen"]) for v in json.loads(checks.stdout)["verdicts"]
                  if v["status"] != "pass"]
    except (ValueError, KeyError, TypeError):
        failed = checks.stdout[-4000:]
    assert checks.returncode == 0, (failed, checks.stderr[-2000:])
    assert json.loads(checks.stdout)["summary"]["fail"] == 0


def test_a_deploy_whose_ssh_connection_drops_converges_on_the_next_run(cluster_deploy, lab_spec, lab_spec_path):
    worker = lab_spec.workers[0]
    # Something for the worker's run to do, so the dropped connection is used after the drop.
    assert on_node(lab_spec, worker, "rm -f /etc/crictl.yaml").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "pyinfra", "-y", "inventories/local.py", "deploys/lab.py"],
                            cwd=REPO, env={**os.environ, "KUBELAB_SPEC": str(lab_spec_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, dropped = [], False
    try:
        for line in proc.stdout:
            output.append(line)
            if not dropped and "Beginning operation run" in line:
                # Facts are gathered and the plan is made: cut every SSH session on the worker now.
                on_node(lab_spec, worker, r"pkill -KILL -f '^sshd: [a-z_][a-z0-9_-]*(@| \[priv\])'")
                dropped = True
        proc.wait(timeout=CLI_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(output)
    assert dropped, text[-3000:]
    assert proc.returncode != 0, "the deploy did not notice its connection dropped:\n" + text[-3000:]

    rerun = run_deploy(lab_spec_path)
    assert rerun.returncode == 0, rerun.output[-5000:]
    assert rerun.changed >= 1  # the crictl config the first run could not write
    assert on_node(lab_spec, worker, "test -s /etc/crictl.yaml").returncode == 0
    again = run_deploy(lab_spec_path)
    assert (again.returncode, again.changed) == (0, 0), again.output[-4000:]


@pytest.mark.parametrize("daemon", ["containerd", "kubelet"])
def test_a_runtime_daemon_killed_with_sigkill_comes_back_and_a_rerun_converges(cluster_deploy, lab_spec,
                                                                               lab_spec_path, daemon):
    worker = lab_spec.workers[0]
    before = on_node(lab_spec, worker, f"systemctl show -p MainPID --value {daemon}").stdout.decode().strip()
    assert before not in ("", "0"), f"{daemon} is not running on {worker.name}"
    assert on_node(lab_spec, worker, f"kill -9 {before}").returncode == 0

    def restarted():
        pid = on_node(lab_spec, worker, f"systemctl is-active {daemon} >/dev/null && "
                                        f"systemctl show -p MainPID --value {daemon}").stdout.decode().strip()
        return pid not in ("", "0", before) and pid
    wait_for(f"systemd to restart {daemon}", restarted, timeout=60)

    rerun = run_deploy(lab_spec_path)
    assert rerun.returncode == 0, rerun.output[-5000:]
    wait_for("nodes Ready and the exercise pod Running", lambda: lab_ready(lab_spec), READY_SECONDS)
    assert_checks_pass(lab_spec_path)


def test_a_restarted_node_container_comes_back_ready_and_passes_the_checks(cluster_deploy, lab_spec, lab_spec_path):
    worker = lab_spec.workers[0]
    podman("restart", "--time", "10", container_of(lab_spec, worker), timeout=180)
    wait_for("the worker Ready and the exercise pod Running again", lambda: lab_ready(lab_spec), READY_SECONDS)
    rerun = run_deploy(lab_spec_path)
    assert (rerun.returncode, rerun.changed) == (0, 0), rerun.output[-5000:]
    assert_checks_pass(lab_spec_path)


def test_a_reset_interrupted_with_sigint_completes_on_the_next_run(cluster_deploy, lab_spec, lab_spec_path):
    api = core(lab_spec)
    for i in range(6):
        api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=f"interrupted-{i}")))
        api.create_namespaced_config_map(f"interrupted-{i}", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="work"), data={"n": str(i)}))
    proc = subprocess.Popen([*KUBELAB, "reset", "--yes", "--spec", str(lab_spec_path)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Halfway: the namespaces are being deleted (or about to be) when the interrupt comes.
    wait_for("the reset to start deleting", lambda: proc.poll() is not None or any(
        ns.metadata.deletion_timestamp for ns in api.list_namespace().items
        if ns.metadata.name.startswith("interrupted-")), timeout=120)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, f"the reset finished before the interrupt; output:\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]

    again = kubelab(lab_spec_path, "reset", "--yes", "--json")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-3000:]
    verified = kubelab(lab_spec_path, "verify", "--json")
    assert verified.returncode == 0, verified.stdout[-4000:]
    assert not [ns for ns in api.list_namespace().items if ns.metadata.name.startswith("interrupted-")]
