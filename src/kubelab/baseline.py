"""What a fresh lab holds in its API, recorded once, so a reset knows what to keep.

The baseline names objects (group, kind, namespace, name), never their
content: it is written right after the deploy's kubernetes stage, before the
exercises, and a reset deletes whatever the API holds beyond it. An object
also belongs to the baseline when its controller does (a coredns pod through
its ReplicaSet and Deployment, a DaemonSet's ControllerRevisions), because
those names change every time the controller replaces them.

Every kind the API serves is compared, namespaced and cluster-scoped, found
by discovery each time (a CRD a student added is a kind like any other), so
admission webhooks and policies, APIServices, CRDs, RBAC and bootstrap tokens a
student made are all leftovers. Not compared, because the control plane makes
and removes them by itself: events, endpoints and endpoint slices, leases,
Services' IPAddresses, the `kube-root-ca.crt` ConfigMap and `default`
ServiceAccount of every namespace. Bootstrap tokens and CSRs expire on their
own: one in the baseline may go missing, a new one is a leftover.

Lists ask the API for metadata only (Cluster.list_metadata), so Secret data is never read.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml
from kubernetes.dynamic.resource import ResourceList

from kubelab import paths
from kubelab.cluster import DEFAULT_NAMESPACE, Cluster, load_manifests
from kubelab.errors import KubelabError
from kubelab.spec import LabSpec

BASELINE_FILE = "baseline.json"
FORMAT = 1

# Per-pod and per-heartbeat bookkeeping of the control plane: the API server
# allocates a Service's IPAddress and frees it with the Service.
IGNORED_KINDS = frozenset({("", "Event"), ("events.k8s.io", "Event"), ("", "Endpoints"),
                           ("discovery.k8s.io", "EndpointSlice"), ("coordination.k8s.io", "Lease"),
                           ("networking.k8s.io", "IPAddress")})

# Deleted before anything else: a student's webhook or policy could refuse the
# reset's own deletes, or a broken APIService hide a group from discovery.
FIRST_KINDS = frozenset({
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("apiregistration.k8s.io", "APIService"),
})


# On a static pod's mirror in the API: the uid (manifest hash) its node runs it under.
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
# On an APIService the API server keeps for a built-in group or a CRD's group: it
# comes and goes with what it stands for, and deleting it directly only makes it again.
AUTOMANAGED_LABEL = "kube-aggregator.kubernetes.io/automanaged"


class BaselineError(KubelabError):
    """The baseline is missing, unreadable, or does not belong to this cluster."""


@dataclass(frozen=True, order=True)
class Ref:
    """An API object by identity: namespace is "" for cluster-scoped kinds."""

    namespace: str
    group: str
    kind: str
    name: str

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"


def namespace_ref(name: str) -> Ref:
    return Ref("", "", "Namespace", name)


def generated(ref: Ref) -> bool:
    """Objects the control plane makes in every namespace."""
    return (ref.group, ref.kind, ref.name) in (("", "ConfigMap", "kube-root-ca.crt"), ("", "ServiceAccount", "default"))


def expires(ref: Ref) -> bool:
    """Objects the control plane deletes when they expire: their absence is no damage, a new one is a leftover."""
    # kubeadm's bootstrap tokens: the authenticator only honours this name in kube-system.
    return ((ref.group, ref.kind, ref.namespace) == ("", "Secret", "kube-system") and ref.name.startswith("bootstrap-token-")
            or (ref.group, ref.kind) == ("certificates.k8s.io", "CertificateSigningRequest"))


@dataclass(frozen=True)
class ApiObject:
    ref: Ref
    uid: str
    controller_uid: str | None = None  # the ownerReference with controller: true
    deleting: bool = False
    grace_seconds: int | None = None  # of a pending deletion
    mirror: bool = False  # a static pod's mirror: only its node's manifest file can remove it
    automanaged: bool = False  # an APIService the API server keeps for a group it serves

    @classmethod
    def from_metadata(cls, group: str, kind: str, meta: dict) -> "ApiObject":
        controller = next((o["uid"] for o in meta.get("ownerReferences") or () if o.get("controller")), None)
        return cls(Ref(meta.get("namespace") or "", group, kind, meta["name"]), meta["uid"], controller,
                   deleting=bool(meta.get("deletionTimestamp")),
                   grace_seconds=meta.get("deletionGracePeriodSeconds"),
                   mirror=MIRROR_ANNOTATION in (meta.get("annotations") or {}),
                   automanaged=AUTOMANAGED_LABEL in (meta.get("labels") or {}))


@dataclass
class Snapshot:
    """Every tracked object the API holds at one moment, and how to address each kind."""

    objects: list[ApiObject]
    resources: dict[tuple[str, str], object] = field(default_factory=dict)

    def pod_uids(self) -> dict[str, Ref]:
        return {o.uid: o.ref for o in self.objects if (o.ref.group, o.ref.kind) == ("", "Pod")}

    def namespaces(self) -> set[str]:
        return {o.ref.name for o in self.objects if o.ref.kind == "Namespace" and not o.ref.group}


@dataclass(frozen=True)
class Baseline:
    lab: str
    cluster_uid: str  # kube-system's uid: tells one build of a cluster from the next
    recorded_at: str
    objects: frozenset[Ref]

    @property
    def namespaces(self) -> frozenset[str]:
        return frozenset(r.name for r in self.objects if (r.group, r.kind) == ("", "Namespace"))

    def to_json(self) -> str:
        head = json.dumps({"format": FORMAT, "lab": self.lab, "cluster_uid": self.cluster_uid,
                           "recorded_at": self.recorded_at, "namespaces": sorted(self.namespaces)}, indent=2)
        # One object per line keeps the file short enough to read and diff.
        lines = ",\n".join("    " + json.dumps({"namespace": r.namespace, "group": r.group, "kind": r.kind,
                                                "name": r.name})
                           for r in sorted(self.objects) if (r.group, r.kind) != ("", "Namespace"))
        return f'{head[:-2]},\n  "objects": [\n{lines}\n  ]\n}}\n'

    @classmethod
    def from_json(cls, text: str, source: str = "baseline") -> "Baseline":
        try:
            doc = json.loads(text)
            refs = {namespace_ref(n) for n in doc["namespaces"]}
            refs |= {Ref(o["namespace"], o["group"], o["kind"], o["name"]) for o in doc["objects"]}
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, this kubelab reads {FORMAT}")
            return cls(doc["lab"], doc["cluster_uid"], doc["recorded_at"], frozenset(refs))
        except (ValueError, KeyError, TypeError) as exc:
            raise BaselineError(f"{source}: not a kubelab baseline ({type(exc).__name__}: {exc}). "
                                f"Fix: record it again on a fresh lab with `kubelab baseline record --force`") from None


def baseline_path(spec: LabSpec) -> Path:
    return paths.lab_dir(spec.name) / BASELINE_FILE


def load_baseline(spec: LabSpec) -> Baseline | None:
    path = baseline_path(spec)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return Baseline.from_json(text, str(path))


def save_baseline(spec: LabSpec, baseline: Baseline) -> Path:
    return paths.write_private(baseline_path(spec), baseline.to_json())


# -- reading the API -----------------------------------------------------------

def tracked_resources(cluster: Cluster) -> dict[tuple[str, str], object]:
    """(group, kind) -> resource for every kind, namespaced or not, that can be listed and deleted."""
    found = {}
    for r in cluster.discover():
        if isinstance(r, ResourceList) or "/" in r.name or not getattr(r, "preferred", False):
            continue
        key = (r.group, r.kind)
        if not {"list", "delete"} <= set(r.verbs or ()) or key in IGNORED_KINDS:
            continue
        found[key] = r
    return found


def take_snapshot(cluster: Cluster, resources: dict[tuple[str, str], object] | None = None) -> Snapshot:
    resources = resources if resources is not None else tracked_resources(cluster)
    listed = [(group, kind, meta) for (group, kind), resource in sorted(resources.items())
              for meta in cluster.list_metadata(resource)]
    return snapshot_from(listed, resources)


def snapshot_from(listed: Iterable[tuple[str, str, dict]], resources: dict | None = None) -> Snapshot:
    """A snapshot of (group, kind, metadata) as the API listed them, without what `generated` names."""
    objects = [ApiObject.from_metadata(group, kind, meta) for group, kind, meta in listed]
    return Snapshot([o for o in objects if not generated(o.ref)], resources or {})


def cluster_identity(cluster: Cluster) -> tuple[str | None, str | None]:
    """(clusterName from kube-system/kubeadm-config, kube-system's uid); None where absent."""
    config = cluster.get("v1", "ConfigMap", "kubeadm-config", "kube-system")
    name = None
    if config:
        text = (config.get("data") or {}).get("ClusterConfiguration") or ""
        try:
            name = (yaml.safe_load(text) or {}).get("clusterName")
        except yaml.YAMLError:
            name = None
    system = cluster.get("v1", "Namespace", "kube-system")
    return name, (system or {}).get("metadata", {}).get("uid")


def exercise_refs(spec: LabSpec, cluster: Cluster) -> set[Ref]:
    """The objects the lab starts its exercises with (setup, or the solution): not the baseline."""
    from kubelab.catalogue import start_files
    from kubelab.exercises import exercises_for

    refs = set()
    for m in load_manifests(start_files(exercises_for(spec))):
        resource = cluster.resource_for(m)
        namespace = (m.namespace or DEFAULT_NAMESPACE) if resource.namespaced else ""
        refs.add(Ref(namespace, resource.group, m.kind, m.name))
    return refs


# -- comparing -----------------------------------------------------------------

def accounted(objects: Iterable[ApiObject], allowed: set[Ref] | frozenset[Ref]) -> set[str]:
    """UIDs of the objects that are allowed by name, or whose controller chain leads to one."""
    objects = list(objects)
    namespaces = {r.name for r in allowed if (r.group, r.kind) == ("", "Namespace")}
    by_uid = {o.uid: o for o in objects}
    result: dict[str, bool] = {}

    def ok(obj: ApiObject, seen: frozenset[str] = frozenset()) -> bool:
        if obj.uid not in result:
            if obj.ref.namespace and obj.ref.namespace not in namespaces:
                result[obj.uid] = False
            elif obj.ref in allowed:
                result[obj.uid] = True
            else:
                owner = by_uid.get(obj.controller_uid or "")
                # An owner cycle is impossible in a healthy API; the guard keeps a broken one finite.
                result[obj.uid] = owner is not None and owner.uid not in seen and ok(owner, seen | {obj.uid})
        return result[obj.uid]

    return {o.uid for o in objects if ok(o)}


@dataclass(frozen=True)
class Diff:
    extra: tuple[ApiObject, ...]  # in the API, not in the baseline (nor kept)
    missing: tuple[Ref, ...]  # in the baseline, gone from the API

    @property
    def clean(self) -> bool:
        return not self.extra and not self.missing


def diff(snapshot: Snapshot, baseline: Baseline, keep: set[Ref] | frozenset[Ref] = frozenset()) -> Diff:
    allowed = set(baseline.objects) | set(keep)
    ok = accounted(snapshot.objects, allowed)
    extra = sorted((o for o in snapshot.objects if o.uid not in ok and not o.automanaged), key=lambda o: o.ref)
    present = {o.ref for o in snapshot.objects}
    return Diff(tuple(extra), tuple(sorted(r for r in baseline.objects - present if not expires(r))))


def baseline_from(snapshot: Snapshot, lab: str, cluster_uid: str, exclude: set[Ref]) -> Baseline:
    """The snapshot's roots except `exclude`: an object with a controller in the snapshot is implied by it."""
    uids = {o.uid for o in snapshot.objects}
    roots = {o.ref for o in snapshot.objects if o.controller_uid not in uids}
    return Baseline(lab, cluster_uid, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    frozenset(roots - exclude))


def record_baseline(spec: LabSpec, force: bool = False) -> Path:
    """Record the lab's API as its baseline; refuses to replace one unless `force`."""
    path = baseline_path(spec)
    if path.exists() and not force:
        raise BaselineError(f"lab {spec.name} already has a baseline ({path}). Fix: keep it, or pass --force "
                            f"to replace it with what the API holds now (do that only on a fresh lab)")
    cluster = Cluster.for_lab(spec)
    name, uid = cluster_identity(cluster)
    if name != spec.name or not uid:
        raise BaselineError(f"the cluster behind {cluster.source} is named {name!r}, not {spec.name!r} "
                            f"(kube-system/kubeadm-config clusterName). Fix: record a baseline only on the "
                            f"lab's own cluster, built by deploys/lab.py")
    baseline = baseline_from(take_snapshot(cluster), spec.name, uid, exercise_refs(spec, cluster))
    return save_baseline(spec, baseline)
