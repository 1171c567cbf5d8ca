"""One parser per runtime tool output, run on the fixtures in tests/fixtures/runtime.

The fixtures are real captures from the lab's worker w1 (see their README):
one pod `default/nginx-with-sidecar`, freshly applied, then after a `kill -9`
of nginx. Values are cross-checked between files where two tools (or the API)
report the same thing: the API's container IDs, pod IP and image digest, the
sandbox ID each container names, and the same instant printed as protojson
nanoseconds by `crictl ps`/`pods` and as RFC 3339 by `inspect`/`inspectp`.
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
    parse_images,
    parse_inspect,
    parse_inspectp,
    parse_nerdctl_ps,
    parse_pods,
    parse_ps,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
RUNTIME = FIXTURES / "runtime"


def text(name: str) -> str:
    return (RUNTIME / name).read_text()


def api(name: str) -> dict:
    return json.loads((FIXTURES / "api" / name).read_text())


def api_status(pod: dict, container: str) -> dict:
    return next(s for s in pod["status"]["containerStatuses"] if s["name"] == container)


def api_id(pod: dict, container: str) -> str:
    return api_status(pod, container)["containerID"].removeprefix("containerd://")


# The pod as the API server reported it when the runtime fixtures were captured.
RUNNING = api("pod-running.json")
POD_UID = RUNNING["metadata"]["uid"]
EMPTYDIR = f"/var/lib/kubelet/pods/{POD_UID}/volumes/kubernetes.io~empty-dir/logs"


def pod_sandbox(sandboxes):
    (mine,) = [s for s in sandboxes if s.uid == POD_UID]
    return mine


def test_crictl_pods_gives_every_sandbox_with_its_pod_identity():
    sandboxes = parse_pods(text("crictl-pods.json"))
    assert [(s.pod_name, s.namespace, s.state) for s in sandboxes] == [
        ("nginx-with-sidecar", "default", "SANDBOX_READY"),
        ("nginx-with-sidecar", "default", "SANDBOX_NOTREADY"),
        ("kube-router-prbhz", "kube-system", "SANDBOX_READY"),
        ("kube-proxy-gf2wd", "kube-system", "SANDBOX_READY"),
    ]
    mine, stale = sandboxes[0], sandboxes[1]
    assert mine.uid == POD_UID and mine.ready
    # The deleted pod's sandbox stays on the node, NOTREADY, under the old pod's uid.
    assert not stale.ready and stale.uid != POD_UID and stale.id != mine.id
    assert mine.labels["io.kubernetes.pod.uid"] == POD_UID
    assert stale.labels["io.kubernetes.pod.uid"] == stale.uid
    assert mine.annotations["kubernetes.io/config.source"] == "api"
    assert mine.attempt == 0 and mine.runtime_handler == ""
    # protojson prints int64 nanoseconds as a string ("1795597638193986350").
    assert mine.created == datetime(2026, 11, 25, 9, 7, 18, 193986, tzinfo=timezone.utc)
    # ... and inspectp prints the same instant as RFC 3339.
    assert mine.created == parse_inspectp(text("crictl-inspectp.json")).created
    # Listing does not report what only inspectp knows.
    assert (mine.pid, mine.image, mine.netns_path, mine.ip) == (None, None, None, None)


def test_crictl_ps_gives_containers_with_sandbox_attempt_and_kubelet_labels():
    containers = parse_ps(text("crictl-ps-a.json"))
    assert {c.name for c in containers} == {"nginx", "sidecar", "kube-router", "install-cni", "kube-proxy"}
    mine = {c.name: c for c in containers if c.pod_uid == POD_UID}
    assert set(mine) == {"nginx", "sidecar"}
    nginx = mine["nginx"]
    # The IDs the API reports are the runtime's IDs.
    assert {n: c.id for n, c in mine.items()} == {n: api_id(RUNNING, n) for n in mine}
    sandbox = pod_sandbox(parse_pods(text("crictl-pods.json")))
    assert nginx.sandbox_id == mine["sidecar"].sandbox_id == sandbox.id
    assert (nginx.state, nginx.running, nginx.attempt, nginx.restart_count) == (CONTAINER_RUNNING, True, 0, 0)
    assert (nginx.pod_uid, nginx.label_name) == (POD_UID, "nginx")
    # containerd lists the image by its config ID, for both image and imageRef.
    assert nginx.image.startswith("sha256:") and nginx.image_ref == nginx.image
    assert mine["sidecar"].image.startswith("sha256:") and mine["sidecar"].image != nginx.image
    # protojson nanoseconds ("1795597638409209518") = inspect's RFC 3339 createdAt.
    assert nginx.created == datetime(2026, 11, 25, 9, 7, 18, 409209, tzinfo=timezone.utc)
    assert nginx.created == parse_inspect(text("crictl-inspect-nginx.json")).created
    assert (nginx.pid, nginx.exit_code, nginx.mounts) == (None, None, ())
    # kube-router's init container has run to completion; ps -a lists it too.
    (install_cni,) = [c for c in containers if c.name == "install-cni"]
    assert (install_cni.state, install_cni.running) == (CONTAINER_EXITED, False)


def test_crictl_ps_after_a_kill_shows_the_exited_and_the_new_container():
    nginx = sorted((c for c in parse_ps(text("crictl-ps-a-after-kill.json")) if c.name == "nginx"),
                   key=lambda c: c.attempt)
    assert [(c.attempt, c.state, c.restart_count) for c in nginx] == [(0, CONTAINER_EXITED, 0), (1, CONTAINER_RUNNING, 1)]
    assert nginx[0].sandbox_id == nginx[1].sandbox_id == pod_sandbox(parse_pods(text("crictl-pods.json"))).id
    # The exited one is the container that ran before the kill; the API now reports the new one,
    # and the killed one as its last state.
    after = api("pod-after-kill.json")
    assert nginx[0].id == api_id(RUNNING, "nginx")
    assert nginx[1].id == api_id(after, "nginx")
    last = api_status(after, "nginx")["lastState"]["terminated"]
    assert last["containerID"].removeprefix("containerd://") == nginx[0].id


def test_crictl_inspect_gives_pid_sandbox_and_mounts():
    nginx = parse_inspect(text("crictl-inspect-nginx.json"))
    sidecar = parse_inspect(text("crictl-inspect-sidecar.json"))
    pause = parse_inspectp(text("crictl-inspectp.json"))
    assert nginx.id == api_id(RUNNING, "nginx") and sidecar.id == api_id(RUNNING, "sidecar")
    assert nginx.pid == 2365
    assert len({nginx.pid, sidecar.pid, pause.pid}) == 3 and sidecar.pid > 0
    assert nginx.sandbox_id == sidecar.sandbox_id == pod_sandbox(parse_pods(text("crictl-pods.json"))).id
    assert nginx.state == CONTAINER_RUNNING and nginx.exit_code is None
    assert (nginx.label_name, nginx.restart_count) == ("nginx", 0)
    assert nginx.image == "docker.io/library/nginx:1.27"
    assert nginx.image_ref.startswith("docker.io/library/nginx@sha256:")
    # The digest the node reports is the one the API reports as imageID.
    assert nginx.image_ref == api_status(RUNNING, "nginx")["imageID"]
    assert Mount("/var/log/nginx", EMPTYDIR) in nginx.mounts
    assert Mount("/var/log/nginx", EMPTYDIR) in sidecar.mounts
    # The emptyDir, the service-account token, /etc/hosts and the termination log.
    assert [m.container_path for m in nginx.mounts] == [
        "/var/log/nginx", "/var/run/secrets/kubernetes.io/serviceaccount", "/etc/hosts", "/dev/termination-log"]
    # crictl rewrites times as RFC 3339 for inspect; Go's zero time means "not finished".
    assert nginx.started == datetime(2026, 11, 25, 9, 7, 18, 588100, tzinfo=timezone.utc)
    api_started = api_status(RUNNING, "nginx")["state"]["running"]["startedAt"]
    assert nginx.started.replace(microsecond=0).isoformat().replace("+00:00", "Z") == api_started
    assert nginx.finished is None


def test_crictl_inspect_of_a_killed_container_gives_exit_code_137():
    old = parse_inspect(text("crictl-inspect-nginx-exited.json"))
    # containerd reports pid 0 once the task is gone.
    assert (old.state, old.exit_code, old.reason, old.pid) == (CONTAINER_EXITED, 137, "Error", None)
    assert old.finished == datetime(2026, 11, 25, 9, 7, 52, 36464, tzinfo=timezone.utc)
    # The same container as inspected while it ran: same ID, sandbox and start time.
    running = parse_inspect(text("crictl-inspect-nginx.json"))
    assert (old.id, old.sandbox_id, old.started) == (running.id, running.sandbox_id, running.started)
    assert old.finished > old.started
    # The API's last state of nginx is this container, with the same exit code and times.
    last = api_status(api("pod-after-kill.json"), "nginx")["lastState"]["terminated"]
    assert last["containerID"].removeprefix("containerd://") == old.id
    assert (last["exitCode"], last["reason"]) == (old.exit_code, old.reason)
    rfc3339 = {k: old_time.replace(microsecond=0).isoformat().replace("+00:00", "Z")
               for k, old_time in (("startedAt", old.started), ("finishedAt", old.finished))}
    assert {k: last[k] for k in rfc3339} == rfc3339


def test_crictl_inspectp_gives_pause_pid_image_netns_and_ip():
    sandbox = parse_inspectp(text("crictl-inspectp.json"))
    assert sandbox.id == pod_sandbox(parse_pods(text("crictl-pods.json"))).id
    assert (sandbox.uid, sandbox.state) == (POD_UID, SANDBOX_READY)
    assert (sandbox.pod_name, sandbox.namespace) == ("nginx-with-sidecar", "default")
    assert sandbox.pid == 2338
    assert sandbox.image == "registry.k8s.io/pause:3.10.1"
    assert sandbox.netns_path == "/var/run/netns/cni-80d11de2-c264-639b-1662-cb41176dd3c7"
    # The runtime spec's network namespace and containerd's own metadata agree.
    meta = json.loads(text("crictl-inspectp.json"))["info"]["sandboxMetadata"]["Metadata"]
    assert meta["NetNSPath"] == sandbox.netns_path
    # The sandbox's IP is the pod IP the API reports.
    assert sandbox.ip == "10.244.1.4" == RUNNING["status"]["podIP"]
    assert sandbox.created == datetime(2026, 11, 25, 9, 7, 18, 193986, tzinfo=timezone.utc)


def test_inspectp_without_a_runtime_spec_takes_the_netns_from_containerds_metadata():
    doc = json.loads(text("crictl-inspectp.json"))
    real = doc["info"]["sandboxMetadata"]["Metadata"]["NetNSPath"]
    del doc["info"]["runtimeSpec"]
    assert parse_inspectp(json.dumps(doc)).netns_path == real
    doc["info"]["sandboxMetadata"]["Metadata"]["NetNSPath"] = "/var/run/netns/cni-from-metadata"
    assert parse_inspectp(json.dumps(doc)).netns_path == "/var/run/netns/cni-from-metadata"


def test_nerdctl_ps_gives_containerds_own_view_with_labels():
    records = parse_nerdctl_ps(text("nerdctl-ps-a.jsonl"))
    assert len(records) == 9
    sidecar = next(r for r in records if r.labels.get("io.kubernetes.container.name") == "sidecar")
    assert sidecar.id == api_id(RUNNING, "sidecar")
    assert sidecar.labels["io.kubernetes.pod.uid"] == POD_UID
    assert sidecar.labels["io.cri-containerd.kind"] == "container"
    # nerdctl joins labels with commas; the image's description holds one and stays whole.
    assert sidecar.labels["org.opencontainers.image.description"] == (
        "kubelab stand-in for docker.io/library/busybox:1.37, built from Debian package "
        "busybox-static 1:1.35.0-4+deb12u1+b1; not the upstream image")
    assert sidecar.labels["kubelab.stand-in"] == "true"
    assert (sidecar.image, sidecar.status, sidecar.runtime) == ("docker.io/library/busybox:1.37", "Up",
                                                               "io.containerd.runc.v2")
    assert sidecar.created == datetime(2026, 11, 25, 9, 7, 18, 651654, tzinfo=timezone.utc)
    # nerdctl shows a CRI container or sandbox whose task is gone as "Created", never "Exited":
    # here the deleted pod's NOTREADY sandbox and kube-router's finished init container.
    gone = {s.id for s in parse_pods(text("crictl-pods.json")) if not s.ready}
    gone |= {c.id for c in parse_ps(text("crictl-ps-a.json")) if c.state == CONTAINER_EXITED}
    assert len(gone) == 2
    assert {r.id for r in records if r.status == "Created"} == gone
    assert {r.status for r in records} == {"Up", "Created"}


def test_ctr_containers_ls_gives_id_image_runtime():
    records = parse_ctr_containers(text("ctr-containers-ls.txt"))
    assert len(records) == 9
    assert {r.runtime for r in records} == {"io.containerd.runc.v2"}
    # One pause container per sandbox, ready or not.
    sandboxes = {s.id for s in parse_pods(text("crictl-pods.json"))}
    assert {r.id for r in records if r.image == "registry.k8s.io/pause:3.10.1"} == sandboxes
    assert len(sandboxes) == 4
    by_id = {r.id: r for r in records}
    assert by_id[api_id(RUNNING, "nginx")].image == "docker.io/library/nginx:1.27"
    assert by_id[api_id(RUNNING, "sidecar")].image == "docker.io/library/busybox:1.37"
    # ctr lists no status or labels.
    assert all((r.status, r.created, r.labels) == (None, None, {}) for r in records)


def test_cri_and_containerd_views_list_the_same_containers():
    cri = {c.id for c in parse_ps(text("crictl-ps-a.json"))} | {s.id for s in parse_pods(text("crictl-pods.json"))}
    assert {r.id for r in parse_ctr_containers(text("ctr-containers-ls.txt"))} == cri
    nerdctl = {r.id: r for r in parse_nerdctl_ps(text("nerdctl-ps-a.jsonl"))}
    assert set(nerdctl) == cri
    for container in parse_ps(text("crictl-ps-a.json")):
        assert nerdctl[container.id].labels["io.kubernetes.container.name"] == container.name
        assert nerdctl[container.id].labels["io.kubernetes.pod.uid"] == container.pod_uid
    for sandbox in parse_pods(text("crictl-pods.json")):
        assert nerdctl[sandbox.id].labels["io.cri-containerd.kind"] == "sandbox"
        assert nerdctl[sandbox.id].labels["io.kubernetes.pod.uid"] == sandbox.uid


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


PARSERS_AND_FIXTURES = [
    (parse_pods, "crictl-pods.json", "crictl pods -o json"),
    (parse_ps, "crictl-ps-a.json", "crictl ps -o json"),
    (parse_inspect, "crictl-inspect-nginx.json", "crictl inspect -o json"),
    (parse_inspectp, "crictl-inspectp.json", "crictl inspectp -o json"),
    (parse_images, "crictl-images.json", "crictl images -o json"),
    (parse_nerdctl_ps, "nerdctl-ps-a.jsonl", "nerdctl ps --format json"),
]


@pytest.mark.parametrize("parser, fixture, tool", PARSERS_AND_FIXTURES)
@pytest.mark.parametrize("cut", [0.1, 0.5, 0.99])
def test_truncated_output_is_an_error_naming_the_tool(parser, fixture, tool, cut):
    # What a dropped connection or an output cap leaves: the start of a real capture.
    whole = text(fixture)
    with pytest.raises(RuntimeOutputError) as err:
        parser(whole[:int(len(whole) * cut)])
    assert str(err.value).startswith(f"{tool}: not JSON")


@pytest.mark.parametrize("parser, fixture, tool", PARSERS_AND_FIXTURES)
def test_binary_garbage_is_an_error_naming_the_tool(parser, fixture, tool):
    with pytest.raises(RuntimeOutputError) as err:
        parser(bytes(range(256)).decode("latin-1"))
    assert str(err.value).startswith(f"{tool}: ")


def _edited(fixture: str, edit) -> str:
    doc = json.loads(text(fixture))
    edit(doc)
    return json.dumps(doc)


@pytest.mark.parametrize("parser, output", [
    # Right keys, wrong types: each once escaped as a bare KeyError, TypeError or ValueError.
    (parse_inspect, _edited("crictl-inspect-nginx.json", lambda d: d["info"].update(pid="12ab"))),
    (parse_inspect, _edited("crictl-inspect-nginx.json", lambda d: d["status"].update(mounts=["/data"]))),
    (parse_inspect, _edited("crictl-inspect-nginx.json", lambda d: d["status"].update(image="nginx"))),
    (parse_inspectp, _edited("crictl-inspectp.json", lambda d: d["status"].update(network="10.0.0.1"))),
    (parse_inspectp, _edited("crictl-inspectp.json", lambda d: d["info"]["runtimeSpec"].update(linux=[1]))),
    (parse_pods, _edited("crictl-pods.json", lambda d: d["items"][0]["metadata"].update(attempt="first"))),
    (parse_pods, _edited("crictl-pods.json", lambda d: d["items"][0].update(labels=["a", "b"]))),
    (parse_pods, _edited("crictl-pods.json", lambda d: d["items"][0].update(createdAt="9" * 40))),
    (parse_pods, _edited("crictl-pods.json", lambda d: d["items"][0].update(createdAt="²"))),
    (parse_ps, _edited("crictl-ps-a.json", lambda d: d["containers"].append("not an object"))),
    (parse_images, _edited("crictl-images.json", lambda d: d["images"].append(["id"]))),
    (parse_nerdctl_ps, '{"ID": "abc", "Labels": ["k=v"]}\n'),
    (parse_pods, "[" * 100_000 + "]" * 100_000),
])
def test_output_of_the_wrong_shape_is_a_runtime_output_error_naming_the_tool(parser, output):
    with pytest.raises(RuntimeOutputError) as err:
        parser(output)
    tool = next(t for p, _, t in PARSERS_AND_FIXTURES if p is parser)
    assert str(err.value).startswith(f"{tool}: ")


def test_a_restart_count_annotation_that_is_not_a_number_is_unknown():
    (nginx, *_) = parse_ps(_edited("crictl-ps-a.json", lambda d: d["containers"][0]["annotations"].update(
        {"io.kubernetes.container.restartCount": "²"})))
    assert nginx.restart_count is None


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


# No kubelet and no API object there: the uid is the one its pod-config.json set.
RUNP_POD_UID = json.loads(captured("pod-config.json"))["metadata"]["uid"]


def test_real_crictl_output_parses_into_one_sandbox_and_its_container():
    (sandbox,) = parse_pods(captured("crictl-pods.json"))
    (container,) = parse_ps(captured("crictl-ps-a.json"))
    inspected = parse_inspect(captured("crictl-inspect-sidecar.json"))
    pause = parse_inspectp(captured("crictl-inspectp.json"))
    assert sandbox.ready and sandbox.uid == RUNP_POD_UID and sandbox.created is not None
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
    assert kinds["container"].labels["io.kubernetes.pod.uid"] == RUNP_POD_UID
