"""One parser per runtime tool output, run on the fixtures in tests/fixtures/runtime.

The fixtures follow the upstream output shapes (see their README); when real
captures replace them, these tests must still hold.
"""

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from kubelab.runtime import (
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    SANDBOX_READY,
    Mount,
    RuntimeOutputError,
    parse_ctr_containers,
    parse_inspect,
    parse_inspectp,
    parse_nerdctl_ps,
    parse_pods,
    parse_ps,
)

RUNTIME = Path(__file__).parents[1] / "fixtures" / "runtime"
POD_UID = "5f0c6a8e-2b7d-4c1e-9a53-0d8e4b1f7c21"
EMPTYDIR = f"/var/lib/kubelet/pods/{POD_UID}/volumes/kubernetes.io~empty-dir/logs"


def text(name: str) -> str:
    return (RUNTIME / name).read_text()


def test_crictl_pods_gives_every_sandbox_with_its_pod_identity():
    sandboxes = parse_pods(text("crictl-pods.json"))
    assert [(s.pod_name, s.namespace, s.state) for s in sandboxes] == [
        ("kube-router-7xk2p", "kube-system", "SANDBOX_READY"),
        ("nginx-with-sidecar", "default", "SANDBOX_NOTREADY"),
        ("nginx-with-sidecar", "default", "SANDBOX_READY"),
    ]
    mine = sandboxes[2]
    assert mine.uid == POD_UID and mine.ready and not sandboxes[1].ready
    assert mine.labels["io.kubernetes.pod.uid"] == POD_UID
    assert mine.annotations["kubernetes.io/config.source"] == "api"
    # protojson prints int64 nanoseconds as a string.
    assert mine.created == datetime(2025, 11, 25, 8, 40, 0, 123456, tzinfo=timezone.utc)
    # Listing does not report what only inspectp knows.
    assert (mine.pid, mine.image, mine.netns_path, mine.ip) == (None, None, None, None)


def test_crictl_ps_gives_containers_with_sandbox_attempt_and_kubelet_labels():
    containers = {c.name: c for c in parse_ps(text("crictl-ps-a.json"))}
    assert set(containers) == {"nginx", "sidecar", "kube-router"}
    nginx = containers["nginx"]
    assert nginx.sandbox_id == parse_pods(text("crictl-pods.json"))[2].id
    assert (nginx.state, nginx.running, nginx.attempt, nginx.restart_count) == (CONTAINER_RUNNING, True, 0, 0)
    assert (nginx.pod_uid, nginx.label_name) == (POD_UID, "nginx")
    assert nginx.image.startswith("sha256:") and nginx.image_ref == nginx.image
    assert nginx.created == datetime(2025, 11, 25, 8, 40, 1, 234567, tzinfo=timezone.utc)
    assert (nginx.pid, nginx.exit_code, nginx.mounts) == (None, None, ())


def test_crictl_ps_after_a_kill_shows_the_exited_and_the_new_container():
    nginx = sorted((c for c in parse_ps(text("crictl-ps-a-after-kill.json")) if c.name == "nginx"),
                   key=lambda c: c.attempt)
    assert [(c.attempt, c.state, c.restart_count) for c in nginx] == [(0, CONTAINER_EXITED, 0), (1, CONTAINER_RUNNING, 1)]
    assert nginx[0].sandbox_id == nginx[1].sandbox_id


def test_crictl_inspect_gives_pid_sandbox_and_mounts():
    nginx = parse_inspect(text("crictl-inspect-nginx.json"))
    assert nginx.pid == 41235
    assert nginx.sandbox_id == parse_pods(text("crictl-pods.json"))[2].id
    assert nginx.state == CONTAINER_RUNNING and nginx.exit_code is None
    assert nginx.image == "docker.io/library/nginx:1.27"
    assert nginx.image_ref.startswith("docker.io/library/nginx@sha256:")
    assert Mount("/var/log/nginx", EMPTYDIR) in nginx.mounts
    assert len(nginx.mounts) == 4
    # crictl rewrites times as RFC 3339 for inspect; Go's zero time means "not finished".
    assert nginx.started == datetime(2025, 11, 25, 8, 40, 1, 412345, tzinfo=timezone.utc)
    assert nginx.finished is None


def test_crictl_inspect_of_a_killed_container_gives_exit_code_137():
    old = parse_inspect(text("crictl-inspect-nginx-exited.json"))
    assert (old.state, old.exit_code, old.reason, old.pid) == (CONTAINER_EXITED, 137, "Error", None)
    assert old.finished == datetime(2025, 11, 25, 8, 44, 59, 307512, tzinfo=timezone.utc)


def test_crictl_inspectp_gives_pause_pid_image_netns_and_ip():
    sandbox = parse_inspectp(text("crictl-inspectp.json"))
    assert (sandbox.uid, sandbox.state) == (POD_UID, SANDBOX_READY)
    assert sandbox.pid == 41180
    assert sandbox.image == "registry.k8s.io/pause:3.10.1"
    assert sandbox.netns_path == "/var/run/netns/cni-6f0e2c4b-91a7-3d58-b2e4-0c7f1a9d8e63"
    assert sandbox.ip == "10.244.1.5"
    assert sandbox.created == datetime(2025, 11, 25, 8, 40, 0, 123456, tzinfo=timezone.utc)


def test_inspectp_without_a_runtime_spec_takes_the_netns_from_containerds_metadata():
    doc = json.loads(text("crictl-inspectp.json"))
    del doc["info"]["runtimeSpec"]
    doc["info"]["sandboxMetadata"]["Metadata"]["NetNSPath"] = "/var/run/netns/cni-from-metadata"
    assert parse_inspectp(json.dumps(doc)).netns_path == "/var/run/netns/cni-from-metadata"


def test_nerdctl_ps_gives_containerds_own_view_with_labels():
    records = parse_nerdctl_ps(text("nerdctl-ps-a.jsonl"))
    assert len(records) == 4
    sidecar = next(r for r in records if r.labels.get("io.kubernetes.container.name") == "sidecar")
    assert sidecar.labels["io.kubernetes.pod.uid"] == POD_UID
    # nerdctl joins labels with commas; a value holding one stays whole.
    assert sidecar.labels["note"] == "a,b"
    assert (sidecar.image, sidecar.status, sidecar.runtime) == ("docker.io/library/busybox:1.37", "Up",
                                                               "io.containerd.runc.v2")
    exited = [r for r in records if r.status.startswith("Exited")]
    assert [r.labels["io.cri-containerd.kind"] for r in exited] == ["sandbox"]


def test_ctr_containers_ls_gives_id_image_runtime():
    records = parse_ctr_containers(text("ctr-containers-ls.txt"))
    assert len(records) == 6
    assert {r.runtime for r in records} == {"io.containerd.runc.v2"}
    assert sum(r.image == "registry.k8s.io/pause:3.10.1" for r in records) == 3


def test_cri_and_containerd_views_list_the_same_containers():
    cri = {c.id for c in parse_ps(text("crictl-ps-a.json"))} | {s.id for s in parse_pods(text("crictl-pods.json"))}
    assert {r.id for r in parse_ctr_containers(text("ctr-containers-ls.txt"))} == cri
    nerdctl = {r.id: r for r in parse_nerdctl_ps(text("nerdctl-ps-a.jsonl"))}
    for container in parse_ps(text("crictl-ps-a.json")):
        if container.pod_uid == POD_UID:
            assert nerdctl[container.id].labels["io.kubernetes.container.name"] == container.name


@pytest.mark.parametrize("parser, output, words", [
    (parse_pods, "time=... level=fatal msg=\"connect: connection refused\"", "crictl pods -o json: not JSON"),
    (parse_pods, '{"containers": []}', "no list `items`"),
    (parse_ps, '{"items": []}', "no list `containers`"),
    (parse_ps, '{"containers": [{"id": "x"}]}', "no dict `metadata`"),
    (parse_inspect, "[]", "expected the object for one container"),
    (parse_inspect, '{"status": {"id": "x", "metadata": {}}}', "no verbose `info`"),
    (parse_inspectp, '{"info": {}}', "no dict `status`"),
    (parse_nerdctl_ps, '{"Image": "x"}\n', "no str `ID`"),
    (parse_ctr_containers, "ID IMAGE\n", "CONTAINER IMAGE RUNTIME header"),
    (parse_ctr_containers, "CONTAINER IMAGE RUNTIME\nabc busybox\n", "expected 3 columns"),
])
def test_unexpected_output_is_a_clear_error(parser, output, words):
    with pytest.raises(RuntimeOutputError) as err:
        parser(output)
    assert words in str(err.value)


def test_a_time_without_an_offset_is_refused():
    doc = json.loads(text("crictl-inspect-nginx.json"))
    doc["status"]["startedAt"] = "2025-11-25T08:40:01"
    with pytest.raises(RuntimeOutputError, match="offset"):
        parse_inspect(json.dumps(doc))


# -- real output of containerd 2.1.9, crictl v1.34.0 and nerdctl 2.3.5 -------------
# Captured on this machine with `crictl runp/create/start` (no kubelet, host
# network); tests/fixtures/runtime/README.md says how.

CAPTURED = RUNTIME / "captured-crictl-runp"


def captured(name: str) -> str:
    return (CAPTURED / name).read_text()


def test_real_crictl_output_parses_into_one_sandbox_and_its_container():
    (sandbox,) = parse_pods(captured("crictl-pods.json"))
    (container,) = parse_ps(captured("crictl-ps-a.json"))
    inspected = parse_inspect(captured("crictl-inspect-sidecar.json"))
    pause = parse_inspectp(captured("crictl-inspectp.json"))
    assert sandbox.ready and sandbox.uid == POD_UID and sandbox.created is not None
    assert container.sandbox_id == inspected.sandbox_id == pause.id == sandbox.id
    assert (inspected.label_name, inspected.running, inspected.exit_code) == ("sidecar", True, None)
    assert inspected.pid > 0 and inspected.pid != pause.pid
    assert inspected.mounts == (Mount("/var/log/nginx", "/tmp/cricap/vol/logs"),)
    # containerd 2.1 reports the sandbox's image in inspectp's info.
    assert pause.image == "registry.k8s.io/pause:3.10.1" and pause.pid > 0
    # A host-network sandbox has neither a network namespace nor an IP of its own.
    assert (pause.netns_path, pause.ip) == (None, None)


def test_real_crictl_output_after_kill_9_shows_exit_code_137():
    (container,) = parse_ps(captured("crictl-ps-a-after-kill.json"))
    killed = parse_inspect(captured("crictl-inspect-sidecar-killed.json"))
    assert container.state == killed.state == CONTAINER_EXITED
    assert (killed.exit_code, killed.reason, killed.pid) == (137, "Error", None)
    assert killed.finished > killed.started


def test_real_containerd_views_match_the_cri_view():
    cri = {parse_pods(captured("crictl-pods.json"))[0].id, parse_ps(captured("crictl-ps-a.json"))[0].id}
    assert {r.id for r in parse_ctr_containers(captured("ctr-containers-ls.txt"))} == cri
    nerdctl = parse_nerdctl_ps(captured("nerdctl-ps-a.jsonl"))
    assert {r.id for r in nerdctl} == cri
    kinds = {r.labels["io.cri-containerd.kind"]: r for r in nerdctl}
    assert kinds["sandbox"].image == "registry.k8s.io/pause:3.10.1"
    assert kinds["container"].labels["io.kubernetes.pod.uid"] == POD_UID
