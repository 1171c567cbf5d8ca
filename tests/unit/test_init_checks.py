"""The init-container proofs judged on real captures (tests/fixtures/init, see its README): the reference
answer, an init container writing into its own filesystem, and the init work done by a second regular container."""

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from kubelab.checks.init import judge_file_in_volume, judge_init_first, parse_sha256sum
from kubelab.checks.process import Process, judge_process
from kubelab.checks.registry import checks
from kubelab.checks.verdict import FAIL, PASS
from kubelab.cluster import PodView
from kubelab.runtime import RuntimeOutputError, parse_inspect, parse_pods
from kubelab.ssh import CommandResult

FIXTURES = Path(__file__).parents[1] / "fixtures" / "init"


def read(variant: str, what: str) -> str:
    return (FIXTURES / f"{variant}.{what}").read_text()


def raw_pod(variant: str) -> dict:
    return json.loads(read(variant, "pod.json"))


def inspected(variant: str, container: str):
    return parse_inspect(read(variant, f"inspect-{container}.json"))


def init_verdict(variant: str, **changed):
    inputs = {"raw": raw_pod(variant), "sandboxes": parse_pods(read(variant, "crictl-pods.json")),
              "init_c": inspected(variant, "prepare"), "app_c": inspected(variant, "nginx"),
              "init": "prepare", "container": "nginx", **changed}
    return judge_init_first(**inputs)


def app_process(variant: str) -> Process:
    found = judge_process(PodView.from_api(raw_pod(variant)), "nginx", inspected(variant, "nginx"))
    assert isinstance(found, Process), found
    return found


def sha256sum(variant: str) -> CommandResult:
    return CommandResult(**{k: v for k, v in json.loads(read(variant, "sha256sum.json")).items()})


def file_verdict(variant: str, **changed):
    process = app_process(variant)
    host = next(m.host_path for m in process.inspected.mounts if m.container_path == "/usr/share/nginx/html")
    inputs = {"process": process, "volume": "content", "file": "index.html", "mount_path": "/usr/share/nginx/html",
              "host": host, "read": sha256sum(variant), **changed}
    return judge_file_in_volume(**inputs)


# -- the init container ran to exit 0 before the app ---------------------------

def test_the_init_container_exited_0_in_the_sandbox_before_nginx_started():
    result = init_verdict("solution")
    assert result.status == PASS, result.seen
    assert "prepare exited 0" in result.seen and result.evidence["init_exit_code"] == 0
    assert result.evidence["init_finished"] < result.evidence["app_started"]


def test_an_init_container_writing_its_own_filesystem_still_ran_first():
    # It did run first and exit 0: what it failed to do is the volume check's business.
    assert init_verdict("init-own-filesystem").status == PASS


def test_the_work_done_by_a_second_regular_container_is_no_init_container():
    result = init_verdict("second-container")
    assert result.status == FAIL
    assert "no init container prepare" in result.seen and "containers: prepare, nginx" in result.seen


def test_an_init_container_that_exited_1_fails():
    result = init_verdict("solution", init_c=replace(inspected("solution", "prepare"), exit_code=1, reason="Error"))
    assert result.status == FAIL and "prepare exited 1 (Error)" in result.seen


def test_an_app_started_before_the_init_container_finished_fails():
    init_c = inspected("solution", "prepare")
    app_c = replace(inspected("solution", "nginx"), started=init_c.finished - timedelta(seconds=1))
    result = init_verdict("solution", app_c=app_c)
    assert result.status == FAIL and "before prepare finished" in result.seen


def test_containers_in_another_sandbox_fail():
    init_c = replace(inspected("solution", "prepare"), sandbox_id="f" * 64)
    result = init_verdict("solution", init_c=init_c)
    assert result.status == FAIL and "not the pod's READY sandbox" in result.seen


def test_a_node_container_labelled_for_another_pod_is_a_finding():
    init_c = inspected("solution", "prepare")
    result = init_verdict("solution", init_c=replace(init_c, labels={**init_c.labels, "io.kubernetes.pod.uid": "x"}))
    assert result.status == FAIL and result.findings


def test_nothing_read_on_the_node_fails():
    assert init_verdict("solution", init_c=None).status == FAIL
    result = init_verdict("solution", sandboxes=[], app_c=None)
    assert result.status == FAIL and "0 READY sandboxes" in result.seen


# -- the file is in the emptyDir, and nginx reads it -----------------------------

def test_the_file_is_in_the_emptydir_and_nginx_reads_the_same_bytes():
    result = file_verdict("solution")
    assert result.status == PASS, result.seen
    assert result.evidence["sha256"].startswith("cb6edcae6695")
    assert result.evidence["host_path"].endswith("/volumes/kubernetes.io~empty-dir/content")


def test_a_page_written_into_the_init_containers_own_filesystem_is_not_in_the_volume():
    result = file_verdict("init-own-filesystem")
    assert result.status == FAIL
    assert "index.html is not in the emptyDir" in result.seen and "No such file or directory" in result.seen


def test_the_page_written_by_a_second_regular_container_is_in_the_volume():
    assert file_verdict("second-container").status == PASS


def test_nginx_reading_other_bytes_than_the_emptydir_holds_fails():
    read = sha256sum("solution")
    first, second = read.stdout.splitlines()
    tampered = replace(read, stdout=f"{first}\n{'0' * 64}{second[64:]}\n")
    result = file_verdict("solution", read=tampered)
    assert result.status == FAIL and "other bytes" in result.seen


def test_a_mount_that_is_not_the_pods_emptydir_fails():
    result = file_verdict("solution", host="/srv/www")
    assert result.status == FAIL and "not the pod's emptyDir `content`" in result.seen


def test_nothing_mounted_or_nothing_read_fails():
    assert file_verdict("solution", mount_path=None).status == FAIL
    assert file_verdict("solution", host=None).status == FAIL
    result = file_verdict("solution", read=None)
    assert result.status == FAIL and "nothing read" in result.seen


def test_sha256sum_output_other_than_digest_and_path_is_an_error_naming_the_tool():
    assert parse_sha256sum("") == {}
    with pytest.raises(RuntimeOutputError, match="sha256sum"):
        parse_sha256sum("garbage without a digest\n")


def test_the_checks_take_the_arguments_the_exercise_gives():
    registered = checks()
    assert registered["init_container_ran_before_the_app"].required == {"namespace", "name", "init", "container"}
    assert registered["file_is_in_the_volume"].required == {"namespace", "name", "container", "volume", "file"}
