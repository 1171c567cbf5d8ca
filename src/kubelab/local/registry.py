"""The local lab's registry mirror: Debian's docker-registry on the lab bridge.

Nodes pull every image (control plane, CNI, exercises) through containerd's
hosts.toml mirrors from here, under the images' real names, so no manifest
is rewritten for the testbed. It listens only on the lab network's gateway
address, which only this machine and its node containers can reach.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from rich.console import Console

from kubelab import paths
from kubelab.artifacts import sha256_of
from kubelab.bundle.manifest import MANIFEST_NAME, load_manifest
from kubelab.local import podman

PORT = 5000
START_SECONDS = 20


def _dir(lab: str) -> Path:
    path = paths.lab_dir(lab) / "registry"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}:{PORT}/v2/", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def serve(lab: str, address: str) -> None:
    """Start the lab's registry on address:5000 unless it already answers there.

    Every lab's registry shares one storage directory, so an image pushed
    for one lab is not stored twice.
    """
    if _answers(address):
        return
    podman.require("docker-registry", "docker-registry")
    state = _dir(lab)
    storage = paths.cache_dir() / "registry"
    storage.mkdir(parents=True, exist_ok=True)
    config = state / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {storage}}}}}\n"
        f"http: {{addr: '{address}:{PORT}'}}\n")
    with open(state / "registry.log", "ab") as log:
        proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    (state / "registry.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + START_SECONDS
    while not _answers(address):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise podman.PodmanError(
                f"the registry mirror did not start on {address}:{PORT}. "
                f"Fix: read {state / 'registry.log'}; is the port taken (`ss -ltnp | grep {PORT}`)?")
        time.sleep(0.5)


def stop(lab: str) -> None:
    pidfile = _dir(lab) / "registry.pid"
    if not pidfile.exists():
        return
    try:
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
    except (ProcessLookupError, ValueError):
        pass
    pidfile.unlink()


def publish(bundle: Path, address: str, console: Console) -> int:
    """Push every image of the bundle to the mirror under its own name; returns how many."""
    podman.require("skopeo", "skopeo")
    manifest = load_manifest(bundle)
    # The registry's storage outlives labs: skip images this bundle already pushed.
    marker = paths.cache_dir() / "registry" / f"published-{sha256_of(bundle / MANIFEST_NAME)}"
    if marker.exists() and _answers(address):
        return 0
    with console.status(f"pushing {len(manifest.images)} images to the mirror {address}:{PORT}"):
        for ref, entry in sorted(manifest.images.items()):
            # A mirror serves a registry's repositories without its host name:
            # registry.k8s.io/pause -> /v2/pause, docker.io/library/nginx -> /v2/library/nginx.
            path = ref.split("/", 1)[1]
            podman.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                        f"docker-archive:{bundle / entry.file}", f"docker://{address}:{PORT}/{path}"])
    marker.touch()
    return len(manifest.images)

