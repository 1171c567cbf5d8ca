"""The lab's registry mirror is read-only to the nodes; publishing goes through a loopback-only writer.

Every request below comes from inside a lab node over SSH, as a pod or a
student on the node would send it, against the mirror the spec points
containerd at.
"""

import subprocess
import time
import urllib.request
from urllib.parse import urlparse

import pytest

from kubelab import paths
from kubelab.local import registry
from kubelab.status import MANIFEST_TYPES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mirror(lab_spec):
    """The mirror as the nodes reach it: gateway address and port."""
    url = urlparse(lab_spec.registry_mirrors["registry.k8s.io"])
    return url.hostname, url.port


def http_code(node_shell, command: str) -> str:
    # curl prints 000 when nothing answers (and exits non-zero); the code is the verdict.
    return node_shell("w1", f"curl -s -o /dev/null --max-time 5 -w '%{{http_code}}' {command} || true").strip()


def answers(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/v2/", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_a_node_cannot_push_to_the_mirror_but_pulls_from_it(lab_spec, mirror, node_shell):
    host, port = mirror
    base = f"http://{host}:{port}/v2"
    # A push starts with a blob upload and ends with a manifest PUT: both refused.
    assert http_code(node_shell, f"-X POST {base}/pause/blobs/uploads/") == "405"
    assert http_code(node_shell, f"-X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' "
                                 f"--data '{{}}' {base}/pause/manifests/3.10.1") == "405"
    assert http_code(node_shell, f"-X DELETE {base}/pause/manifests/3.10.1") == "405"
    tag = lab_spec.release.pause_image.rsplit(":", 1)[1]
    assert http_code(node_shell, f"-H 'Accept: {MANIFEST_TYPES}' {base}/pause/manifests/{tag}") == "200"


def test_the_writer_takes_pushes_on_loopback_only_and_stops_after(mirror, node_shell):
    host, _ = mirror
    with registry.writer() as pusher:
        port = int(pusher.rsplit(":", 1)[1])
        assert not registry.refuses_push("127.0.0.1", port)
        assert http_code(node_shell, f"http://{host}:{port}/v2/") == "000"
    assert not answers("127.0.0.1", port)


def test_a_registry_left_read_write_is_restarted_read_only(lab_spec, mirror):
    host, port = mirror
    lab = lab_spec.name
    state = paths.lab_dir(lab) / "registry"
    registry.stop(lab)
    assert not answers(host, port)
    # What kubelab ran before the mirror was read-only: same config path and pidfile, no maintenance section.
    config = state / "config.yml"
    config.write_text("version: 0.1\nlog: {level: warn}\n"
                      f"storage: {{filesystem: {{rootdirectory: {paths.cache_dir() / 'registry'}}}}}\n"
                      f"http: {{addr: '{host}:{port}'}}\n")
    old = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    (state / "registry.pid").write_text(str(old.pid))
    deadline = time.monotonic() + 20
    while not answers(host, port):
        assert time.monotonic() < deadline and old.poll() is None, "the read-write registry did not start"
        time.sleep(0.3)
    assert not registry.refuses_push(host, port)

    registry.serve(lab, host)
    assert old.wait(timeout=10) is not None
    assert registry.refuses_push(host, port)
    assert int((state / "registry.pid").read_text()) != old.pid


def test_stop_leaves_alone_a_process_that_is_not_the_labs_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBELAB_HOME", str(tmp_path))
    other = subprocess.Popen(["sleep", "60"])
    try:
        pidfile = paths.lab_dir("helper-pid") / "registry" / "registry.pid"
        pidfile.parent.mkdir(parents=True)
        pidfile.write_text(str(other.pid))
        registry.stop("helper-pid")
        time.sleep(0.5)
        assert other.poll() is None
        assert not pidfile.exists()
    finally:
        other.kill()
        other.wait()
