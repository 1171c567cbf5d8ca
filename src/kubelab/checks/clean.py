"""Checks that a lab is back at its baseline: the API's view and every node's view.

A reset is only as good as what is left on the nodes, where the API cannot
see: a sandbox of a pod the API forgot, a NOTREADY sandbox waiting for the
kubelet's garbage collection, a volume still mounted under
/var/lib/kubelet/pods/<uid>. Each check reads one view and names every
leftover as a finding; like the exercise checks, the judging is a pure
function of what was read.
"""

from __future__ import annotations

from functools import partial

from kubelab.baseline import MIRROR_ANNOTATION, Baseline, Diff, Ref, diff, take_snapshot
from kubelab.checks.lab import Lab
from kubelab.checks.verdict import FAIL, PASS, Check, Verdict, verdict
from kubelab.cluster import Cluster
from kubelab.runtime import POD_NAME, POD_NAMESPACE, Container, NodeRuntime, Sandbox
from kubelab.spec import LabSpec
from kubelab.ssh import Session

KUBELET_PODS = "/var/lib/kubelet/pods"
SHOWN = 5  # findings spelled out in `seen`; all of them stay in `findings`


def _short(runtime_id: str) -> str:
    return runtime_id[:13]


def _seen(findings: list[str]) -> str:
    more = len(findings) - SHOWN
    return "; ".join(findings[:SHOWN]) + (f"; and {more} more" if more > 0 else "")


def _judge(node: str | None, expected: str, findings: list[str], clean: str, **evidence) -> Verdict:
    if findings:
        return verdict(FAIL, node, expected, _seen(findings), findings=findings, **evidence)
    return verdict(PASS, node, expected, clean, **evidence)


# -- the API ------------------------------------------------------------------

def judge_api_extra(d: Diff) -> Verdict:
    findings = []
    for o in d.extra:
        state = " (deleting)" if o.deleting else ""
        if o.mirror:
            findings.append(f"{o.ref}{state}: a static pod; delete its manifest from the kubelet's "
                            f"staticPodPath (/etc/kubernetes/manifests) on its node")
        else:
            findings.append(f"{o.ref}{state}")
    return _judge(None, "no object in the API beyond the baseline and the exercises", findings,
                  "nothing beyond the baseline", extra=len(d.extra))


def judge_api_missing(d: Diff) -> Verdict:
    findings = [f"{ref} is in the baseline but gone from the API" for ref in d.missing]
    if findings:
        findings.append("a workloads reset cannot bring it back: `kubelab reset --depth cluster` rebuilds the lab")
    return _judge(None, "every baseline object still in the API", findings, "all baseline objects present",
                  missing=len(d.missing))


def api_beyond_baseline(lab: Lab, baseline: Baseline, keep: frozenset[Ref]) -> Verdict:
    return judge_api_extra(diff(take_snapshot(lab.cluster), baseline, keep))


def api_lacks_baseline(lab: Lab, baseline: Baseline) -> Verdict:
    return judge_api_missing(diff(take_snapshot(lab.cluster), baseline))


# -- a node -------------------------------------------------------------------

def api_pods(cluster: Cluster) -> dict[str, Ref]:
    """uid -> pod for every pod the API holds, as the nodes know it.

    A static pod runs under the hash of its manifest as uid; the API holds its
    mirror pod, whose own uid differs and whose annotation carries that hash.
    """
    pods = {}
    for meta in cluster.list_metadata(cluster.resource("v1", "Pod")):
        ref = Ref(meta.get("namespace", ""), "", "Pod", meta["name"])
        pods[meta["uid"]] = ref
        mirror = (meta.get("annotations") or {}).get(MIRROR_ANNOTATION)
        if mirror:
            pods[mirror] = ref
    return pods


def judge_node_pods(node: str, sandboxes: list[Sandbox], containers: list[Container], pods: dict[str, Ref],
                    namespaces: frozenset[str]) -> Verdict:
    findings = []
    for s in sandboxes:
        where = f"sandbox {_short(s.id)} of {s.namespace}/{s.pod_name}"
        if s.namespace not in namespaces:
            findings.append(f"{where}: namespace {s.namespace} is not in the baseline")
        elif s.uid not in pods:
            findings.append(f"{where}: the API has no pod with uid {s.uid}")
    for c in containers:
        namespace, uid = c.labels.get(POD_NAMESPACE, ""), c.pod_uid or ""
        where = (f"container {_short(c.id)} ({c.label_name or c.name}, {c.state}) of "
                 f"{namespace}/{c.labels.get(POD_NAME, '?')}")
        if namespace not in namespaces:
            findings.append(f"{where}: namespace {namespace or '(none)'} is not in the baseline")
        elif uid not in pods:
            findings.append(f"{where}: the API has no pod with uid {uid}")
    return _judge(node, "every sandbox and container on the node belongs to a pod the API holds, in a "
                        "baseline namespace", findings,
                  f"{len(sandboxes)} sandboxes and {len(containers)} containers, all of API pods",
                  sandboxes=len(sandboxes), containers=len(containers))


def judge_notready(node: str, sandboxes: list[Sandbox], pods: dict[str, Ref]) -> Verdict:
    """A NOTREADY sandbox is a leftover unless a READY one of the same live pod superseded it.

    After a node restarts, the kubelet keeps each pod's old sandbox while it
    holds the last dead container (for `kubectl logs --previous`): that is the
    pod's history, not something a student left.
    """
    superseded = {s.uid for s in sandboxes if s.ready and s.uid in pods}
    findings = [f"sandbox {_short(s.id)} of {s.namespace}/{s.pod_name} is {s.state}"
                + ("" if s.uid in pods else " and its pod is gone from the API")
                for s in sandboxes if not s.ready and s.uid not in superseded]
    kept = sum(1 for s in sandboxes if not s.ready and s.uid in superseded)
    return _judge(node, "no NOTREADY sandbox on the node but a live pod's superseded one", findings,
                  f"{len(sandboxes) - kept} sandboxes READY" + (f", {kept} superseded by a READY one" if kept else ""))


def parse_pod_mounts(text: str) -> list[tuple[str, str]]:
    """(pod uid, mount point) for every mount under the kubelet's pod directory, from /proc/self/mounts."""
    prefix = KUBELET_PODS + "/"
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 1 and fields[1].startswith(prefix):
            found.append((fields[1][len(prefix):].split("/", 1)[0], fields[1]))
    return found


def judge_pod_dirs(node: str, dirs: list[str], mounts: list[tuple[str, str]], pods: dict[str, Ref]) -> Verdict:
    findings = [f"{KUBELET_PODS}/{uid} is left from a pod the API no longer has" for uid in dirs if uid not in pods]
    findings += [f"{point} is still mounted for a pod the API no longer has" for uid, point in mounts
                 if uid not in pods]
    return _judge(node, f"no directory or mount under {KUBELET_PODS} of a pod the API no longer has", findings,
                  f"{len(dirs)} pod directories, {len(mounts)} mounts, all of API pods",
                  pod_dirs=len(dirs), mounts=len(mounts))


def kubelet_pod_dirs(session: Session) -> list[str]:
    listing = session.run(f"if [ -d {KUBELET_PODS} ]; then ls -1 {KUBELET_PODS}; fi", check=True)
    return listing.stdout.split()


def kubelet_pod_mounts(session: Session) -> list[tuple[str, str]]:
    return parse_pod_mounts(session.run("cat /proc/self/mounts", check=True).stdout)


# Each node check reads the node first and the API second, so a pod that starts
# in between is in the API by the time its sandbox is judged.

def node_runs_only_api_pods(lab: Lab, node: str, namespaces: frozenset[str]) -> Verdict:
    runtime = NodeRuntime(lab.pool.session(node))
    sandboxes, containers = runtime.sandboxes(), runtime.containers()
    return judge_node_pods(node, sandboxes, containers, api_pods(lab.cluster), namespaces)


def node_has_no_notready_sandbox(lab: Lab, node: str) -> Verdict:
    sandboxes = NodeRuntime(lab.pool.session(node)).sandboxes()
    return judge_notready(node, sandboxes, api_pods(lab.cluster))


def node_has_no_leftover_pod_dirs(lab: Lab, node: str) -> Verdict:
    session = lab.pool.session(node)
    dirs, mounts = kubelet_pod_dirs(session), kubelet_pod_mounts(session)
    return judge_pod_dirs(node, dirs, mounts, api_pods(lab.cluster))


def clean_checks(spec: LabSpec, baseline: Baseline, keep: frozenset[Ref]) -> list[Check]:
    """Every check that a lab is at its baseline; `keep` are the exercise objects a reset re-applied."""
    namespaces = baseline.namespaces | {r.namespace for r in keep if r.namespace}
    checks = [Check("API: nothing beyond the baseline", partial(api_beyond_baseline, baseline=baseline, keep=keep)),
              Check("API: every baseline object present", partial(api_lacks_baseline, baseline=baseline))]
    for node in spec.nodes:
        checks += [
            Check(f"{node.name}: sandboxes and containers all of API pods",
                  partial(node_runs_only_api_pods, node=node.name, namespaces=namespaces)),
            Check(f"{node.name}: no NOTREADY sandbox", partial(node_has_no_notready_sandbox, node=node.name)),
            Check(f"{node.name}: no pod directory or mount left", partial(node_has_no_leftover_pod_dirs,
                                                                           node=node.name)),
        ]
    return checks
