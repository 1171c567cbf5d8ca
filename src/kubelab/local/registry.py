"""The local lab's registry mirror: Debian's docker-registry on the lab bridge, read-only.

Nodes pull every image (control plane, CNI, exercises) through containerd's
hosts.toml mirrors from here, under the images' real names, so no manifest
is rewritten for the testbed. It listens only on the lab network's gateway
address, which only this machine and its node containers can reach, and it
serves reads only (distribution's `maintenance: readonly`; pushes get 405):
a node, or a pod on it, cannot replace an image every other node then pulls.
`publish` pushes through a second, writable instance on the same storage,
bound to 127.0.0.1 for the length of the push, which no node can reach.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from kubelab import paths
from kubelab.artifacts import sha256_of
from kubelab.bundle.manifest import MANIFEST_NAME, load_manifest
from kubelab.local import podman

PORT = 5000
START_SECONDS = 20
STOP_SECONDS = 10
# A repository no image uses: a registry that accepts the probe's upload is cancelled right away.
PROBE_REPOSITORY = "kubelab/push-probe"


def _dir(lab: str) -> Path:
    path = paths.lab_dir(lab) / "registry"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _storage() -> Path:
    """Every lab's registry shares one storage directory, so an image pushed for one lab is not stored twice."""
    storage = paths.cache_dir() / "registry"
    storage.mkdir(parents=True, exist_ok=True)
    return storage


def _write_config(path: Path, host: str, port: int, readonly: bool) -> Path:
    maintenance = ", maintenance: {readonly: {enabled: true}}" if readonly else ""
    path.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {_storage()}}}{maintenance}}}\n"
        f"http: {{addr: '{host}:{port}'}}\n")
    return path


def _answers(host: str, port: int = PORT) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/v2/", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def refuses_push(host: str, port: int = PORT) -> bool:
    """Whether the registry at host:port refuses to start a blob upload (a push's first request)."""
    base = f"http://{host}:{port}"
    try:
        with urllib.request.urlopen(urllib.request.Request(
                f"{base}/v2/{PROBE_REPOSITORY}/blobs/uploads/", method="POST"), timeout=5) as resp:
            location = resp.headers.get("Location", "")
    except urllib.error.HTTPError:
        return True
    # It accepted: cancel the upload, so the probe leaves nothing in the storage.
    with contextlib.suppress(OSError):
        urllib.request.urlopen(urllib.request.Request(urllib.parse.urljoin(base, location), method="DELETE"),
                               timeout=5).close()
    return False


def _start(config: Path, log: Path, host: str, port: int) -> subprocess.Popen:
    with open(log, "ab") as out:
        proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_SECONDS
    while not _answers(host, port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            tail = " / ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
            raise podman.PodmanError(
                f"the registry did not start on {host}:{port} ({tail or 'no log output'}). "
                f"Fix: read {log}; is the port taken (`ss -ltnp | grep :{port}`)?")
        time.sleep(0.5)
    return proc


def _own_process(lab: str) -> int | None:
    """The pid in the lab's pidfile, if that process is still this lab's registry (pids get reused)."""
    state = _dir(lab)
    try:
        pid = int((state / "registry.pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if cmdline[:3] == [b"docker-registry", b"serve", str(state / "config.yml").encode()] else None


def serve(lab: str, address: str) -> None:
    """Have the lab's read-only registry answer on address:5000, starting it if needed.

    One that answers but accepts pushes (started read-write by an older
    kubelab) is this lab's own process: it is stopped and started read-only.
    """
    if _answers(address):
        if refuses_push(address):
            return
        if _own_process(lab) is None:
            raise podman.PodmanError(
                f"a registry on {address}:{PORT} accepts pushes, and it is not lab {lab}'s "
                f"(no live pid in {_dir(lab) / 'registry.pid'}), so kubelab leaves it alone. "
                f"Fix: stop it (`ss -ltnp | grep :{PORT}` names its process), then run this again")
        stop(lab)
    podman.require("docker-registry", "docker-registry")
    state = _dir(lab)
    config = _write_config(state / "config.yml", address, PORT, readonly=True)
    proc = _start(config, state / "registry.log", address, PORT)
    (state / "registry.pid").write_text(str(proc.pid))


def stop(lab: str) -> None:
    """Stop the lab's registry: only the process its pidfile names, and only if that is still it."""
    pidfile = _dir(lab) / "registry.pid"
    pid = _own_process(lab)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        # The address:port must be free before a read-only registry can take it.
        deadline = time.monotonic() + STOP_SECONDS
        while _own_process(lab) == pid and time.monotonic() < deadline:
            time.sleep(0.2)
    pidfile.unlink(missing_ok=True)


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def writer() -> Iterator[str]:
    """A writable registry on the shared storage, on a loopback port, for one publish; yields host:port."""
    podman.require("docker-registry", "docker-registry")
    port = _free_loopback_port()
    with tempfile.TemporaryDirectory(prefix="kubelab-registry-writer-") as tmp:
        config = _write_config(Path(tmp) / "config.yml", "127.0.0.1", port, readonly=False)
        proc = _start(config, Path(tmp) / "registry.log", "127.0.0.1", port)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_SECONDS)
            proc.kill()  # only reaches a writer that outlived SIGTERM: Popen skips an exited one
            proc.wait()


def publish(bundle: Path, address: str, console: Console) -> int:
    """Push every image of the bundle to the mirror under its own name; returns how many."""
    podman.require("skopeo", "skopeo")
    manifest = load_manifest(bundle)
    # The registry's storage outlives labs: skip images this bundle already pushed.
    marker = _storage() / f"published-{sha256_of(bundle / MANIFEST_NAME)}"
    if marker.exists() and _answers(address):
        return 0
    with writer() as pusher, console.status(f"pushing {len(manifest.images)} images to the mirror "
                                             f"{address}:{PORT} (through {pusher})"):
        for ref, entry in sorted(manifest.images.items()):
            # A mirror serves a registry's repositories without its host name:
            # registry.k8s.io/pause -> /v2/pause, docker.io/library/nginx -> /v2/library/nginx.
            path = ref.split("/", 1)[1]
            podman.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                        f"docker-archive:{bundle / entry.file}", f"docker://{pusher}/{path}"])
    marker.touch()
    return len(manifest.images)
