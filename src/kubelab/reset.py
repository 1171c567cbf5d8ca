"""Back to the fresh lab for the next student, and proof that nothing was left behind.

Two depths:

- **workloads** (the default, seconds): delete from the API everything the
  baseline lacks (namespaces it does not know; objects in its namespaces it
  does not name), wait until it is gone, re-apply the exercises so the next
  student finds the same starting pod (new uid, restartCount 0), then check
  both views (checks/clean.py) until the nodes are clean too, removing the
  NOTREADY sandboxes the kubelet's once-a-minute garbage collection would
  leave a while longer.
- **cluster** (minutes): `kubeadm reset -f` on every node plus what kubeadm
  leaves behind (its docs say so: CNI config, iptables, the kubelet's and
  etcd's state), then the same deploy that built the lab, which records a new
  baseline and applies the exercises; then the same checks.

Both refuse a cluster that is not this kubelab lab, connect to every node
before changing anything (a node that is down is named, nothing is touched),
and can be run again after an interruption: every step is "make it so", and
a cluster reset leaves a marker file so a re-run after its first destructive
step does not need the identity it just removed.
"""

from __future__ import annotations

import json
import shlex
import time
from urllib.parse import urlparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import yaml
from rich.console import Console

from kubelab import configs, kubeadm, paths
from kubelab.baseline import (FIRST_KINDS, ApiObject, Baseline, Ref, Snapshot, baseline_path, cluster_identity, diff,
                              exercise_refs, load_baseline, take_snapshot, tracked_resources)
from kubelab.checks import Check, Lab, Verdict, run_check
from kubelab.checks.clean import api_pods, clean_checks
from kubelab.cluster import Cluster, ClusterError, kubeconfig_path
from kubelab.deploy import describe_failure, run_deploy
from kubelab.errors import KubelabError
from kubelab.exercises import apply_exercises
from kubelab.runtime import CRICTL, NodeRuntime
from kubelab.spec import LabSpec
from kubelab.ssh import SSHPool

WORKLOADS, CLUSTER = "workloads", "cluster"
DEPTHS = (WORKLOADS, CLUSTER)
MARKER_FILE = "reset-in-progress.json"
# Long enough for a container to get SIGTERM, short enough that a student's
# `sleep` (which ignores SIGTERM as PID 1) does not hold the reset for 30 s.
POD_GRACE_SECONDS = 1
NODE_RESET_TIMEOUT = 300.0
POLL_SECONDS = 1.0


class ResetRefused(KubelabError):
    """Nothing was changed: the lab is not this kubelab lab."""


class ResetFailed(KubelabError):
    """A reset step failed; re-running the reset continues from where it stands."""


# -- refusing (pure, so the rules are tested without a cluster) -----------------

def identity_problems(spec_name: str, depth: str, baseline: Baseline | None, cluster_name: str | None,
                      cluster_uid: str | None) -> list[str]:
    """Why this cluster may not be reset as lab `spec_name`; [] when it may."""
    problems = []
    if baseline is None:
        problems.append(f"lab {spec_name} has no baseline, so this cluster was not built by kubelab's deploy "
                        f"(or its baseline was removed). Fix: build the lab with deploys/lab.py, or on a fresh "
                        f"lab run `kubelab baseline record`")
    elif baseline.lab != spec_name:
        problems.append(f"the baseline belongs to lab {baseline.lab!r}, not {spec_name!r}. Fix: check the "
                        f"spec's name and the lab directory")
    if cluster_name is None:
        problems.append("the cluster's name cannot be read (kube-system/kubeadm-config, or kubelab's kubeadm "
                        "init config on the control plane). Fix: check that this spec's nodes run a "
                        "kubelab-built cluster")
    elif cluster_name != spec_name:
        problems.append(f"the cluster is named {cluster_name!r} (kubeadm clusterName), not {spec_name!r}: it is "
                        f"not this lab's cluster. Fix: use the spec of the lab you mean")
    if depth == WORKLOADS and baseline is not None and cluster_uid and baseline.cluster_uid != cluster_uid:
        problems.append(f"the baseline was recorded on another build of this cluster (kube-system uid "
                        f"{baseline.cluster_uid}, now {cluster_uid}). Fix: `kubelab reset --depth cluster` "
                        f"rebuilds the lab and records its baseline")
    return problems


def server_problem(server: str, spec: LabSpec) -> str | None:
    """Why a kubeconfig's server URL is not the spec's control plane, or None when it is."""
    url = urlparse(server)
    try:
        port = url.port
    except ValueError:
        port = None
    address = spec.control_plane.address.lower()
    if (url.scheme, url.hostname, port) != ("https", address, kubeadm.API_PORT):
        return (f"the kubeconfig's server is {server}, not the spec's control plane at {address} port "
                f"{kubeadm.API_PORT}. Fix: use the spec of the lab this kubeconfig belongs to, or rebuild the "
                f"lab's kubeconfig with the deploy (operator kubeconfig step)")
    return None


# -- the API ------------------------------------------------------------------

def delete_plan(extra: Iterable[ApiObject]) -> list[tuple[ApiObject, int | None]]:
    """Which leftovers to delete now, with which grace period (None: the kind's default).

    Dependents of a live leftover controller are left to the garbage collector
    (deleting a pod its ReplicaSet still wants only makes a new one), objects
    inside a leftover namespace to the namespace controller, except pods: their
    grace is cut to POD_GRACE_SECONDS, which only a direct delete can do.
    While a leftover webhook, admission policy or APIService exists, only
    those go (FIRST_KINDS): they could refuse or hide the other deletes.
    """
    extra = list(extra)
    first = [o for o in extra if (o.ref.group, o.ref.kind) in FIRST_KINDS]
    if first:
        return [(o, None) for o in first if not o.deleting]
    doomed_namespaces = {o.ref.name for o in extra if (o.ref.group, o.ref.kind) == ("", "Namespace")}
    live = {o.uid for o in extra if not o.deleting}
    plan = []
    for o in extra:
        if o.mirror or o.controller_uid in live:
            continue
        if (o.ref.group, o.ref.kind) == ("", "Pod"):
            if not (o.deleting and o.grace_seconds is not None and o.grace_seconds <= POD_GRACE_SECONDS):
                plan.append((o, POD_GRACE_SECONDS))
        elif not o.deleting and o.ref.namespace not in doomed_namespaces:
            plan.append((o, None))
    return plan


def clean_api(cluster: Cluster, baseline: Baseline, timeout: float, console: Console,
              within: Callable[[Ref], bool] = lambda ref: True) -> int:
    """Delete every leftover `within` scope and wait (bounded) until the API holds none; returns the deletes sent.

    A scope keeps the deleting to what its caller owns while others create
    objects elsewhere in the same cluster at the same time.
    """
    deadline = time.monotonic() + timeout
    sent = 0
    rediscover = True
    with console.status("deleting what the baseline lacks") as status:
        while True:
            if rediscover:
                resources = tracked_resources(cluster)
            snapshot = take_snapshot(cluster, resources)
            # A static pod's mirror comes back until its node's manifest is gone; verify names it.
            pending = [o for o in diff(snapshot, baseline).extra if not o.mirror and within(o.ref)]
            if not pending:
                return sent
            if time.monotonic() > deadline:
                names = ", ".join(str(o.ref) + (" (deleting)" if o.deleting else "") for o in pending[:10])
                raise ResetFailed(f"{len(pending)} object(s) still in the API after {timeout:g} s: {names}. Fix: "
                                  f"a finalizer may hold them (`kubectl get KIND NAME -o yaml`); re-run the reset")
            status.update(f"deleting what the baseline lacks: {len(pending)} object(s) left")
            plan = delete_plan(pending)
            for obj, grace in plan:
                sent += cluster.delete(_resource(snapshot, obj), obj.ref.name, obj.ref.namespace, grace)
            # Once the admission and aggregation leftovers are gone, discovery may show more (or fewer) kinds.
            rediscover = any((o.ref.group, o.ref.kind) in FIRST_KINDS for o, _ in plan)
            time.sleep(POLL_SECONDS)


def _resource(snapshot: Snapshot, obj: ApiObject):
    return snapshot.resources[(obj.ref.group, obj.ref.kind)]


# -- the nodes ----------------------------------------------------------------

def connect_all(pool: SSHPool, spec: LabSpec) -> None:
    """Reach every node before anything changes; an unreachable one raises an SSHError naming it."""
    for node in spec.nodes:
        pool.session(node.name).connect()


def remove_stale_sandboxes(lab: Lab) -> int:
    """`crictl rmp` every NOTREADY sandbox whose pod the API no longer has; returns how many."""
    removed = 0
    for node in lab.spec.nodes:
        runtime = NodeRuntime(lab.pool.session(node.name))
        sandboxes = runtime.sandboxes()
        pods = api_pods(lab.cluster)
        for sandbox in sandboxes:
            if not sandbox.ready and sandbox.uid not in pods:
                removed += runtime.remove_sandbox(sandbox.id).ok
    return removed


def settle(lab: Lab, checks: list[Check], timeout: float, console: Console) -> list[Verdict]:
    """Run the clean checks until they all pass or `timeout` ends, sweeping stale sandboxes in between."""
    deadline = time.monotonic() + timeout
    removed = 0
    with console.status("checking the API and every node") as status:
        while True:
            verdicts = [run_check(check, lab) for check in checks]
            failing = [v for v in verdicts if not v.passed]
            if not failing or time.monotonic() > deadline:
                if removed:
                    console.print(f"removed {removed} NOTREADY sandbox(es) of deleted pods (crictl rmp)")
                return verdicts
            status.update(f"waiting for the nodes to clean up: {', '.join(v.check for v in failing)}")
            removed += remove_stale_sandboxes(lab)
            time.sleep(POLL_SECONDS)


def node_reset_script(spec: LabSpec) -> str:
    """What runs on every node for a cluster reset: kubeadm reset, then what kubeadm's docs say it leaves."""
    return f"""set -eu
if command -v kubeadm >/dev/null; then kubeadm reset -f --cri-socket {configs.CONTAINERD_SOCKET}; fi
systemctl stop kubelet 2>/dev/null || true
if command -v crictl >/dev/null; then
  # A sandbox the kubelet was still creating when kubeadm stopped it can refuse
  # removal for a moment ("failed to set removing state"); it goes on a retry.
  # This runs while the CNI config is still there: containerd needs it to tear
  # a sandbox's network down, and refuses to remove the sandbox without.
  for _ in 1 2 3 4 5; do
    if [ -z "$({CRICTL} pods -q)" ]; then break; fi
    sleep 2
    {CRICTL} rmp --all --force >&2 || true
  done
  left=$({CRICTL} pods -q | wc -l)
  if [ "$left" != 0 ]; then echo "$left pod sandboxes are left after kubeadm reset" >&2; exit 1; fi
fi
# kubeadm reset unmounts these; one interrupted halfway may not have.
awk '$2 ~ "^/var/lib/kubelet/" {{print $2}}' /proc/self/mounts | sort -r | xargs -r -n1 umount -l
# Contents only: a directory may itself be a mount point (the kubelet bind-mounts its own).
# The kubelet counts a static pod's restarts from its old log files, whose uid
# (the manifest's hash) the next cluster reuses: /var/log/pods goes too.
for d in /etc/kubernetes /var/lib/kubelet /var/lib/etcd /var/lib/cni /etc/cni/net.d /root/.kube \\
         /var/log/pods /var/log/containers; do
  if [ -d "$d" ]; then find "$d" -mindepth 1 -maxdepth 1 -exec rm -rf {{}} +; fi
done
# kube-router's bridge and IPIP tunnels, and its routes to the other nodes' pod subnets.
for link in $(ip -o link show | awk -F': ' '{{print $2}}' | cut -d@ -f1 | grep -E '^(kube-bridge|kube-dummy-if|tun-.+)$' || true); do
  ip link delete "$link"
done
ip route flush root {shlex.quote(spec.pod_subnet)}
# kubeadm reset's own advice; the node is the lab's, so every rule here is Kubernetes'.
for cmd in iptables ip6tables; do
  for table in filter nat mangle; do "$cmd" -t "$table" -F; "$cmd" -t "$table" -X; done
done
ipset list -n | grep -E '^(kube-router-|KUBE-)' | xargs -r -n1 ipset destroy
"""


def forget_cluster(spec: LabSpec) -> None:
    """Drop the controller's state of a cluster that no longer exists: its baseline and admin kubeconfig."""
    for path in (baseline_path(spec), kubeconfig_path(spec)):
        path.unlink(missing_ok=True)


# -- a cluster reset's marker ----------------------------------------------------

def marker_path(spec: LabSpec) -> Path:
    return paths.lab_dir(spec.name) / MARKER_FILE


def write_marker(spec: LabSpec) -> None:
    """Written once the identity was checked, before the first destructive step."""
    paths.write_private(marker_path(spec), json.dumps({
        "depth": CLUSTER, "cluster_name": spec.name,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))


def cluster_reset_started(spec: LabSpec) -> bool:
    return marker_path(spec).exists()


# -- putting it together --------------------------------------------------------

@dataclass
class Preflight:
    depth: str
    baseline: Baseline | None
    extra: int  # leftover objects in the API now (workloads depth)
    resuming: bool


def preflight(spec: LabSpec, depth: str, pool: SSHPool, cluster: Cluster | None) -> Preflight:
    """Everything that must hold before a reset changes anything; ResetRefused or an SSHError if not.

    `cluster` is None when the lab has no kubeconfig, which only a cluster reset can mend.
    """
    if depth not in DEPTHS:
        raise ResetRefused(f"unknown depth {depth!r}. Fix: use one of {', '.join(DEPTHS)}")
    connect_all(pool, spec)
    resuming = cluster_reset_started(spec)
    if resuming and depth == WORKLOADS:
        raise ResetRefused(f"a cluster reset of lab {spec.name} was interrupted ({marker_path(spec)}). "
                           f"Fix: run `kubelab reset --depth cluster` again to finish it")
    baseline = load_baseline(spec)
    if resuming:
        return Preflight(depth, baseline, 0, True)
    wrong_server = server_problem(cluster.server, spec) if cluster is not None else None
    if wrong_server:
        raise ResetRefused(f"refusing to reset lab {spec.name}; nothing was changed: {wrong_server}")
    try:
        if cluster is None:
            raise ClusterError(f"lab {spec.name} has no kubeconfig at {kubeconfig_path(spec)}. Fix: build the "
                               f"lab with deploys/lab.py, or rebuild it with `kubelab reset --depth cluster`")
        cluster_name, cluster_uid = cluster_identity(cluster)
    except ClusterError:
        if depth == WORKLOADS:
            raise
        # A broken API is what a cluster reset is for; kubelab's own init config names the cluster.
        cluster_name, cluster_uid = _cluster_name_on_node(pool, spec), None
    problems = identity_problems(spec.name, depth, baseline, cluster_name, cluster_uid)
    if problems:
        raise ResetRefused(f"refusing to reset lab {spec.name}; nothing was changed:\n  - " + "\n  - ".join(problems))
    extra = len(diff(take_snapshot(cluster), baseline).extra) if depth == WORKLOADS else 0
    return Preflight(depth, baseline, extra, False)


def _cluster_name_on_node(pool: SSHPool, spec: LabSpec) -> str | None:
    read = pool.session(spec.control_plane.name).run(f"cat {kubeadm.INIT_CONFIG}")
    if not read.ok:
        return None
    try:
        docs = list(yaml.safe_load_all(read.stdout))
    except yaml.YAMLError:
        return None
    return next((d.get("clusterName") for d in docs
                 if isinstance(d, dict) and d.get("kind") == "ClusterConfiguration"), None)


def describe(spec: LabSpec, pre: Preflight) -> str:
    """What the reset will do, for the confirmation prompt."""
    if pre.depth == WORKLOADS:
        return (f"Reset lab {spec.name}: delete the {pre.extra} object(s) its baseline lacks (the students' work "
                f"and the exercise pod), then re-apply the exercises.")
    nodes = ", ".join(n.name for n in spec.nodes)
    return (f"Reset lab {spec.name} to a new cluster: `kubeadm reset -f` and cleanup on {nodes}, then the "
            f"deploy again (a few minutes). Everything in the cluster is lost.")


def reset_workloads(spec: LabSpec, lab: Lab, baseline: Baseline, timeout: float, console: Console) -> list[Verdict]:
    sent = clean_api(lab.cluster, baseline, timeout, console)
    console.print(f"API back at the baseline ({sent} delete request(s))")
    apply_exercises(spec, timeout, console)
    # The next student starts every exercise afresh (a cluster reset's new uid does the same), and no exam.
    from kubelab.exam import forget_exam
    from kubelab.student import forget_progress

    forget_progress(spec)
    forget_exam(spec)
    checks = clean_checks(spec, baseline, frozenset(exercise_refs(spec, lab.cluster)))
    return settle(lab, checks, timeout, console)


def reset_cluster(spec: LabSpec, pool: SSHPool, spec_path: Path, inventory: str, timeout: float,
                  console: Console) -> list[Verdict]:
    """After preflight (which reached every node): reset the nodes, deploy again, check."""
    if not cluster_reset_started(spec):
        write_marker(spec)
    # Workers first, so none is left pointing at a control plane that is already gone.
    for node in (*spec.workers, spec.control_plane):
        with console.status(f"{node.name}: kubeadm reset -f and cleanup"):
            done = pool.session(node.name).run(node_reset_script(spec), timeout=NODE_RESET_TIMEOUT)
        if not done.ok:
            raise ResetFailed(f"node {node.name}: the cluster reset script exited {done.exit_code}; its output "
                              f"ends:\n{(done.stdout + done.stderr)[-2000:]}\nFix: look at the node, then run "
                              f"`kubelab reset --depth cluster` again (every step can run twice)")
        console.print(f"{node.name}: reset")
    forget_cluster(spec)
    with console.status("rebuilding the cluster: pyinfra deploys/lab.py (a few minutes)"):
        result = run_deploy(spec_path, inventory=inventory)
    if result.returncode != 0 or result.errors:
        raise ResetFailed(f"the deploy failed (exit {result.returncode}): {describe_failure(result.output)}; its "
                          f"output ends:\n{result.output[-3000:]}\nFix: correct the cause, then run the cluster "
                          f"reset again")
    baseline = load_baseline(spec)
    if baseline is None:
        raise ResetFailed(f"the deploy finished but recorded no baseline at {baseline_path(spec)}. "
                          f"Fix: check that deploys/lab.py runs the baseline step")
    marker_path(spec).unlink(missing_ok=True)
    console.print(f"cluster rebuilt in {result.seconds:.0f} s ({result.changed} change(s)); baseline recorded")
    lab = Lab(spec, Cluster.for_lab(spec), pool)
    checks = clean_checks(spec, baseline, frozenset(exercise_refs(spec, lab.cluster)))
    return settle(lab, checks, timeout, console)
