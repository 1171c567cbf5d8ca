"""The PersistentVolumeClaim proofs judged on real transcripts (tests/fixtures/claims, see its README): the
static-volume answer, a pod on an emptyDir beside a bound claim, a volume at another hostPath, and a stale
file left on the node's disk by an earlier pod."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from kubelab.checks.claims import claim_mount_path, judge_claim_bound, judge_claim_file, parse_file_reads
from kubelab.checks.process import Process, judge_process
from kubelab.checks.registry import checks
from kubelab.checks.verdict import FAIL, PASS
from kubelab.cluster import PodView
from kubelab.runtime import RuntimeOutputError, parse_inspect

FIXTURES = Path(__file__).parents[1] / "fixtures" / "claims"
HOST_PATH = "/srv/kubelab/static-volume"


def transcript(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def read(doc: dict, what: str):
    return next((r["object"] for r in doc["api_reads"] if r["read"] == what), None)


def bound(variant: str, **changed):
    doc = transcript(f"{variant}.claim-bound")
    given = {"ref": "ex-storage/data", "pvc": read(doc, "PersistentVolumeClaim ex-storage/data"),
             "volume": "static-pv", "pv": read(doc, "PersistentVolume /static-pv"), "host_path": HOST_PATH,
             "size": "1Gi", **changed}
    return judge_claim_bound(**given)


def process(doc: dict) -> Process:
    pod = PodView.from_api(read(doc, "Pod ex-storage/writer"))
    found = judge_process(pod, "writer", parse_inspect(doc["commands"][0]["stdout"]))
    assert isinstance(found, Process), found
    return found


def on_node(variant: str, reads=None):
    doc = transcript(f"{variant}.file-on-node-disk")
    proc = process(doc)
    mount_path = claim_mount_path(read(doc, "Pod ex-storage/writer"), "writer", "data")
    pv = next((r["object"] for r in doc["api_reads"] if r["read"].startswith("PersistentVolume /")), None)
    if reads is None and len(doc["commands"]) > 1:
        host = pv["spec"]["hostPath"]["path"]
        reads = parse_file_reads(doc["commands"][1]["stdout"], [f"{host}/hello.txt",
                                                               f"/proc/{proc.pid}/root{mount_path}/hello.txt"])
    return judge_claim_file(proc, "data", "hello.txt", "written by writer", mount_path, pv, reads)


def test_the_reference_claim_is_bound_to_the_volume_the_task_names():
    result = bound("solution")
    assert result.status == PASS, result.seen
    assert result.seen == "Bound to static-pv: hostPath /srv/kubelab/static-volume, 1Gi"


def test_a_volume_at_another_host_path_is_named():
    result = bound("wrong-host-path")
    assert result.status == FAIL and result.seen == "its hostPath is /mnt/data, not /srv/kubelab/static-volume"


def test_another_size_is_named():
    result = bound("solution", size="2Gi")
    assert result.status == FAIL and result.seen == "its capacity is 1Gi, not 2Gi"


def test_a_pending_claim_is_no_binding():
    doc = transcript("solution.claim-bound")
    pending = json.loads(json.dumps(read(doc, "PersistentVolumeClaim ex-storage/data")))
    pending["status"] = {"phase": "Pending"}
    result = bound("solution", pvc=pending)
    assert result.status == FAIL and result.seen.startswith("the claim is Pending (storageClassName manual")


def test_given_nothing_the_claim_check_fails():
    assert bound("start").seen == "no PersistentVolumeClaim ex-storage/data in the API"
    assert judge_claim_bound("ex-storage/data", None, "static-pv", None, HOST_PATH, "1Gi").status == FAIL


def test_the_reference_file_is_the_same_inode_on_the_nodes_disk():
    result = on_node("solution")
    assert result.status == PASS, result.seen
    assert result.evidence["node_file"] == result.evidence["container_file"]
    assert result.evidence["runtime_source"] == HOST_PATH


def test_a_pod_on_an_emptydir_mounts_no_volume_of_the_claim():
    result = on_node("emptydir-instead-of-claim")
    assert result.status == FAIL and result.seen == "writer mounts no volume of claim data"


def test_a_stale_file_on_the_node_is_another_inode():
    # Read by hand on w1 while the wrong-host-path pod ran: its /data is /mnt/data, and the reference
    # pod's file was still under /srv/kubelab/static-volume.
    doc = transcript("wrong-host-path.file-on-node-disk")
    command = transcript("stale-file")["command"]
    paths = [f"{HOST_PATH}/hello.txt", f"/proc/{process(doc).pid}/root/data/hello.txt",
             f"{HOST_PATH}/nothing.txt"]
    reads = parse_file_reads(command["stdout"], paths)
    assert reads[0].first_line == reads[1].first_line == "written by writer"
    assert reads[0].identity != reads[1].identity and reads[2].identity is None
    proc = process(doc)
    pv = read(transcript("solution.file-on-node-disk"), "PersistentVolume /static-pv")
    moved = Process(proc.pod, proc.container, replace(proc.inspected, mounts=tuple(
        m._replace(host_path=HOST_PATH) if m.container_path == "/data" else m for m in proc.inspected.mounts)))
    result = judge_claim_file(moved, "data", "hello.txt", "written by writer", "/data", pv, reads[:2])
    assert result.status == FAIL and "is another file than the container's" in result.seen


def test_other_content_is_named():
    doc = transcript("solution.file-on-node-disk")
    proc, pv = process(doc), read(doc, "PersistentVolume /static-pv")
    reads = parse_file_reads(doc["commands"][1]["stdout"], [f"{HOST_PATH}/hello.txt",
                                                             f"/proc/{proc.pid}/root/data/hello.txt"])
    result = judge_claim_file(proc, "data", "hello.txt", "hello", "/data", pv, reads)
    assert result.status == FAIL and result.seen.endswith("begins 'written by writer'")


def test_given_nothing_the_file_check_fails():
    doc = transcript("solution.file-on-node-disk")
    assert judge_claim_file(process(doc), "data", "hello.txt", "x", "/data", None, None).status == FAIL
    pv = read(doc, "PersistentVolume /static-pv")
    result = judge_claim_file(process(doc), "data", "hello.txt", "x", "/data", pv, None)
    assert result.status == FAIL and result.seen == "nothing was read on the node"


def test_unreadable_output_names_the_tool():
    with pytest.raises(RuntimeOutputError, match="unexpected line"):
        parse_file_reads("stat: cannot stat 'x'", ["x"])


def test_the_checks_are_registered_with_their_arguments():
    assert checks()["claim_is_bound_to"].required == {"namespace", "claim", "volume", "host_path", "size"}
    assert checks()["claim_file_is_on_the_node"].required == {"namespace", "name", "container", "claim", "file",
                                                               "content"}
