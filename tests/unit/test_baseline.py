"""Baseline recording and diffing on real API listings of the lab `reset` (tests/fixtures/clean).

`snapshot-fresh.json` is a freshly built lab with the exercise pod applied;
`snapshot-mess.json` is the same lab after a student's work: namespaces
mess-a and mess-b with a pod each, a Deployment `web` (2 replicas) and a
ConfigMap `notes` in default.
"""

import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from kubelab import paths
from kubelab.baseline import (Baseline, BaselineError, Ref, baseline_from, diff, generated, load_baseline,
                              namespace_ref, save_baseline, snapshot_from)
from kubelab.spec import parse_spec

CLEAN = Path(__file__).parents[1] / "fixtures" / "clean"
EXERCISE = Ref("default", "", "Pod", "nginx-with-sidecar")


def listed(name):
    return [(o["group"], o["kind"], o["metadata"]) for o in json.loads((CLEAN / name).read_text())]


@pytest.fixture
def fresh():
    return snapshot_from(listed("snapshot-fresh.json"))


@pytest.fixture
def baseline(fresh):
    return baseline_from(fresh, "reset", "kube-system-uid", {EXERCISE})


def test_a_fresh_lab_is_clean_against_its_own_baseline_but_for_the_exercise(fresh, baseline):
    assert diff(fresh, baseline, keep={EXERCISE}).clean
    # Without the exercise kept, its pod is the one thing a reset deletes.
    assert [o.ref for o in diff(fresh, baseline).extra] == [EXERCISE]


def test_the_baseline_names_roots_and_leaves_controller_made_objects_implied(baseline):
    names = {str(r) for r in baseline.objects}
    assert "Deployment.apps kube-system/coredns" in names
    assert "DaemonSet.apps kube-system/kube-proxy" in names
    # Static pods have no controller in the API (their owner is the Node): named one by one.
    assert "Pod kube-system/etcd-cp1" in names
    assert not any(n.startswith(("Pod kube-system/coredns-", "ReplicaSet.apps kube-system/coredns-",
                                 "Pod kube-system/kube-proxy-", "ControllerRevision.apps")) for n in names)
    assert baseline.namespaces == {"default", "kube-node-lease", "kube-public", "kube-system"}
    assert EXERCISE not in baseline.objects


def test_per_namespace_objects_are_never_recorded(fresh, baseline):
    raw = {(g, k, m.get("namespace", ""), m["name"]) for g, k, m in listed("snapshot-fresh.json")}
    # The capture holds them, so leaving them out is the rule's doing, not the fixture's.
    assert ("", "ConfigMap", "default", "kube-root-ca.crt") in raw
    assert not any(generated(o.ref) for o in fresh.objects)
    assert not any(r.kind == "ServiceAccount" and r.name == "default" for r in baseline.objects)


def with_objects(snapshot, *metas):
    """The snapshot plus objects given as (group, kind, metadata), as the API would list them."""
    return snapshot_from([*((o.ref.group, o.ref.kind, meta_of(o)) for o in snapshot.objects), *metas])


def meta_of(o):
    meta = {"name": o.ref.name, "uid": o.uid}
    if o.ref.namespace:
        meta["namespace"] = o.ref.namespace
    if o.controller_uid:
        meta["ownerReferences"] = [{"uid": o.controller_uid, "controller": True}]
    return meta


def test_a_bootstrap_token_a_student_adds_is_extra_and_an_expired_one_is_not_missing(fresh, baseline):
    tokens = [r for r in baseline.objects if r.kind == "Secret" and r.name.startswith("bootstrap-token-")]
    assert tokens  # kubeadm's own, recorded with the baseline
    student = ("", "Secret", {"name": "bootstrap-token-abcdef", "namespace": "kube-system", "uid": "t1"})
    assert [str(o.ref) for o in diff(with_objects(fresh, student), baseline, keep={EXERCISE}).extra] == [
        "Secret kube-system/bootstrap-token-abcdef"]
    expired = snapshot_from([(o.ref.group, o.ref.kind, meta_of(o)) for o in fresh.objects if o.ref not in tokens])
    assert diff(expired, baseline, keep={EXERCISE}).clean


def test_an_apiservice_the_api_server_manages_is_never_a_leftover_but_a_students_is(fresh, baseline):
    crd_group = ("apiregistration.k8s.io", "APIService", {
        "name": "v1.mess.kubelab.test", "uid": "a1", "labels": {"kube-aggregator.kubernetes.io/automanaged": "true"}})
    bogus = ("apiregistration.k8s.io", "APIService", {"name": "v1.mess.kubelab.example", "uid": "a2"})
    extra = diff(with_objects(fresh, crd_group, bogus), baseline, keep={EXERCISE}).extra
    assert [o.ref.name for o in extra] == ["v1.mess.kubelab.example"]


def test_every_piece_of_a_students_work_is_found(baseline):
    extra = {str(o.ref) for o in diff(snapshot_from(listed("snapshot-mess.json")), baseline).extra}
    mess_pods = {e for e in extra if e.startswith("Pod default/web-")}
    assert len(mess_pods) == 2
    web_rs = {e for e in extra if e.startswith("ReplicaSet.apps default/web-")}
    assert len(web_rs) == 1
    assert extra - mess_pods - web_rs == {
        "Namespace mess-a", "Namespace mess-b", "Pod mess-a/sleeper", "Pod mess-b/sleeper2",
        "Deployment.apps default/web", "ConfigMap default/notes", str(EXERCISE)}


def test_a_baseline_deployment_that_made_a_new_replicaset_is_still_clean(fresh, baseline):
    # A student's `kubectl rollout restart deployment/coredns`: new ReplicaSet and pods, new names.
    rs = next(o for o in fresh.objects if o.ref.kind == "ReplicaSet" and o.ref.name.startswith("coredns-"))
    new_rs = replace(rs, ref=replace(rs.ref, name="coredns-5f5c8d7b9c"), uid="new-rs-uid")
    new_pod = replace(next(o for o in fresh.objects if o.controller_uid == rs.uid),
                      ref=Ref("kube-system", "", "Pod", "coredns-5f5c8d7b9c-abcde"), uid="new-pod-uid",
                      controller_uid="new-rs-uid")
    rolled = replace(fresh, objects=[*fresh.objects, new_rs, new_pod])
    assert diff(rolled, baseline, keep={EXERCISE}).clean


def test_a_pod_owned_by_a_students_replicaset_is_extra_even_in_kube_system(fresh, baseline):
    mine = Ref("kube-system", "apps", "ReplicaSet", "mine")
    rs = replace(fresh.objects[0], ref=mine, uid="rs", controller_uid=None)
    pod = replace(fresh.objects[0], ref=Ref("kube-system", "", "Pod", "mine-x"), uid="pod", controller_uid="rs")
    extra = {o.ref for o in diff(replace(fresh, objects=[*fresh.objects, rs, pod]), baseline, {EXERCISE}).extra}
    assert extra == {mine, pod.ref}


def test_a_deleted_baseline_object_is_reported_missing(fresh, baseline):
    gone = Ref("kube-system", "", "ConfigMap", "coredns")
    without = replace(fresh, objects=[o for o in fresh.objects if o.ref != gone])
    assert diff(without, baseline, {EXERCISE}).missing == (gone,)


def test_baseline_file_round_trip_is_private(tmp_path, monkeypatch, baseline):
    monkeypatch.setenv("KUBELAB_HOME", str(tmp_path))
    spec = parse_spec({"name": "reset", "nodes": [{"name": "cp1", "address": "10.0.0.1", "role": "control-plane"}]})
    path = save_baseline(spec, baseline)
    assert path == paths.lab_dir("reset") / "baseline.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_baseline(spec) == baseline
    assert namespace_ref("kube-system") in load_baseline(spec).objects


def test_a_file_that_is_not_a_baseline_is_refused_with_the_fix():
    with pytest.raises(BaselineError, match="baseline record --force"):
        Baseline.from_json('{"format": 1, "lab": "x"}', "somewhere.json")
