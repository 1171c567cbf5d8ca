"""The offline bundle, really built from the upstream Go modules (cached after the first run)."""

import dataclasses
import json
import os
import subprocess
import tarfile
import threading
import time
import urllib.request

import pytest

from kubelab import artifacts, versions
from kubelab.bundle import gobuild, images
from kubelab.bundle.build import build_bundle
from kubelab.bundle.manifest import load_manifest
from kubelab.errors import ArtifactError

pytestmark = pytest.mark.integration

RELEASE = versions.release(versions.DEFAULT_MINOR)


@pytest.fixture(scope="module")
def manifest(bundle):
    return load_manifest(bundle)


@pytest.fixture(scope="module")
def binaries(bundle, tmp_path_factory):
    """Every installed binary of the bundle, unpacked by the deploy's own code, by name."""
    out = tmp_path_factory.mktemp("bin")
    found = {}
    for art in RELEASE.artifacts():
        for member, dest in art.install:
            name = dest.rsplit("/", 1)[1]
            if member:
                artifacts._extract_member(bundle / "files" / art.filename, member, out / name)
            else:
                (out / name).write_bytes((bundle / "files" / art.filename).read_bytes())
            (out / name).chmod(0o755)
            found[name] = out / name
    return found


def run(binary, *args):
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_rebuild_never_leaves_the_bundle_without_its_manifest(bundle):
    # Other labs deploy from this bundle while a test session or `kubelab up` rebuilds it.
    seen_missing = []
    builder = threading.Thread(target=build_bundle, args=(RELEASE,))
    builder.start()
    while builder.is_alive():
        if not (bundle / "manifest.json").is_file():
            seen_missing.append(time.monotonic())
        time.sleep(0.02)
    builder.join()
    assert not seen_missing
    load_manifest(bundle).check_release(RELEASE)


def test_manifest_checksums_match_the_files(bundle, manifest):
    manifest.check_release(RELEASE)
    assert set(manifest.files) == {a.filename for a in RELEASE.artifacts()}
    for name, entry in manifest.files.items():
        assert artifacts.sha256_of(bundle / "files" / name) == entry.sha256, name
    assert set(manifest.images) == set(RELEASE.images().values()) | set(versions.EXERCISE_IMAGES)
    for ref, entry in manifest.images.items():
        assert artifacts.sha256_of(bundle / entry.file) == entry.sha256, ref
    assert artifacts.bundle_checksums(bundle, RELEASE) == {n: e.sha256 for n, e in manifest.files.items()}


@pytest.mark.parametrize("art", RELEASE.artifacts(), ids=lambda a: a.component)
def test_every_artifact_has_its_install_members(bundle, art):
    path = bundle / "files" / art.filename
    assert path.is_file()
    if art.is_archive:
        with tarfile.open(path) as tar:
            names = {n.removeprefix("./") for n in tar.getnames()}
        assert {member for member, _ in art.install} <= names
    else:
        with open(path, "rb") as fh:
            assert fh.read(4) == b"\x7fELF"


def test_binaries_print_the_pinned_versions(binaries):
    assert run(binaries["kubeadm"], "version", "-o", "short").strip() == RELEASE.kubernetes
    assert run(binaries["kubelet"], "--version").strip() == f"Kubernetes {RELEASE.kubernetes}"
    client = json.loads(run(binaries["kubectl"], "version", "--client", "-o", "json"))["clientVersion"]
    assert (client["gitVersion"], client["major"], client["minor"]) == (
        RELEASE.kubernetes, *RELEASE.minor.split("."))
    assert run(binaries["containerd"], "--version").split()[2] == f"v{RELEASE.containerd}"
    assert run(binaries["runc"], "--version").splitlines()[0] == f"runc version {RELEASE.runc.removeprefix('v')}"
    assert run(binaries["crictl"], "--version").strip() == f"crictl version {RELEASE.crictl}"
    assert RELEASE.nerdctl in run(binaries["nerdctl"], "--version").split()[-1]


def test_runc_is_static_with_seccomp(binaries):
    """Like upstream's runc.amd64: it must run on any node, whatever libseccomp it has."""
    assert "libseccomp" in run(binaries["runc"], "--version")
    file_info = subprocess.run(["ldd", str(binaries["runc"])], capture_output=True, text=True)
    assert "not a dynamic executable" in file_info.stdout + file_info.stderr or "statically linked" in file_info.stdout


def image_config(path):
    with tarfile.open(path) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(entry["Config"]))["config"]
    return entry["RepoTags"], config


@pytest.mark.parametrize("ref", sorted(set(RELEASE.images().values()) | set(versions.EXERCISE_IMAGES)))
def test_image_tars_carry_their_reference(bundle, manifest, ref):
    entry = manifest.images[ref]
    assert entry.file == f"images/{images.bundle_name(ref)}"
    tags, config = image_config(bundle / entry.file)
    assert tags == [ref]
    assert any(e.startswith("PATH=") for e in config["Env"])


def test_image_entrypoints_and_stand_in_labels(bundle, manifest):
    refs = RELEASE.images()
    config = {ref: image_config(bundle / manifest.images[ref].file)[1] for ref in manifest.images}
    assert config[refs["coredns"]]["Entrypoint"] == ["/coredns"]
    assert config[refs["pause"]]["Entrypoint"] == ["/pause"]
    assert config[refs["kube-router"]]["Entrypoint"] == ["/usr/local/bin/kube-router"]
    nginx = config["docker.io/library/nginx:1.27"]
    assert nginx["Cmd"] == ["nginx", "-g", "daemon off;"]
    for ref in versions.EXERCISE_IMAGES:
        labels = config[ref]["Labels"]
        assert labels["kubelab.stand-in"] == "true"
        assert "stand-in" in labels["org.opencontainers.image.description"]
    assert "nginx-light" in nginx["Labels"]["org.opencontainers.image.description"]


def layer_names(path):
    with tarfile.open(path) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
        names = set()
        for layer in entry["Layers"]:
            with tarfile.open(fileobj=tar.extractfile(layer)) as inner:
                names |= {n.removeprefix("./") for n in inner.getnames()}
    return names


def test_network_images_have_the_netfilter_tools(bundle, manifest):
    refs = RELEASE.images()
    for component in ("kube-proxy", "kube-router"):
        names = layer_names(bundle / manifest.images[refs[component]].file)
        assert f"usr/local/bin/{component}" in names
        # bookworm is merged-/usr: /bin/sh and /bin/cp resolve to these.
        assert {"usr/sbin/iptables", "usr/sbin/ipset", "usr/sbin/conntrack", "usr/bin/sh", "usr/bin/cp"} <= names
    nginx = layer_names(bundle / manifest.images["docker.io/library/nginx:1.27"].file)
    assert {"usr/sbin/nginx", "var/log/nginx", "usr/share/nginx/html/index.html"} <= nginx


@pytest.fixture
def podman_image(bundle, manifest):
    """Load a bundle image into podman; its containers and the image are removed afterwards."""
    loaded, containers = [], []

    def load(ref):
        podman("load", "-i", str(bundle / manifest.images[ref].file))
        loaded.append(ref)
        return containers

    yield load
    for name in containers:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True)
    for ref in loaded:
        subprocess.run(["podman", "rmi", ref], capture_output=True)


def podman(*args):
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# crun fails on this host's cgroups and the default nofile limit is refused (machine-facts.md).
RUN = ("--runtime", "runc", "run", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096")


def test_nginx_stand_in_serves_and_logs_to_its_output(podman_image):
    ref = "docker.io/library/nginx:1.27"
    name = f"kubelab-test-nginx-{os.getpid()}"
    podman_image(ref).append(name)
    podman(*RUN, "-d", "--name", name, ref)
    ip = podman("inspect", name, "--format", "{{.NetworkSettings.IPAddress}}").strip()
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://{ip}/", timeout=2) as resp:
                assert b"Welcome to nginx" in resp.read()
            break
        except OSError:
            assert time.monotonic() < deadline, f"nginx in {name} did not answer on {ip}:80"
            time.sleep(0.5)
    # As upstream's image: the access log is linked to the container's output.
    assert '"GET / HTTP/1.1" 200' in podman("logs", name)


def test_tool_images_run_their_binaries(podman_image):
    refs = RELEASE.images()
    podman_image("docker.io/library/busybox:1.37")
    assert podman(*RUN, "--rm", "docker.io/library/busybox:1.37", "sh", "-c", "echo ok; id -un").split() == [
        "ok", "root"]
    podman_image(refs["kube-proxy"])
    assert podman(*RUN, "--rm", refs["kube-proxy"], "kube-proxy", "--version").strip() == (
        f"Kubernetes {RELEASE.kubernetes}")
    assert "nf_tables" in podman(*RUN, "--rm", refs["kube-proxy"], "iptables", "--version")
    podman_image(refs["pause"])
    assert podman(*RUN, "--rm", refs["pause"], "-v").strip() == f"pause.c v{RELEASE.pause}"


def test_a_version_the_proxy_refuses_fails_with_gos_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBELAB_CACHE", str(tmp_path))
    # crictl v1.35.0 is the version the proxy reachable here does not serve (see versions.py).
    release = dataclasses.replace(RELEASE, crictl="v1.35.0")
    with pytest.raises(ArtifactError) as err:
        gobuild.build("crictl", release)
    message = str(err.value)
    assert "building crictl v1.35.0 failed: `go get sigs.k8s.io/cri-tools/cmd/crictl@v1.35.0`" in message
    assert "sigs.k8s.io/cri-tools" in message.split("exited", 1)[1]
    assert not (gobuild.build_root("crictl", "v1.35.0") / "built.json").exists()


def test_an_unchanged_bundle_is_recognised_without_rewriting_or_rehashing(bundle):
    build_bundle(RELEASE)  # stamps every file, whatever built it before
    files = sorted((bundle / "files").iterdir()) + sorted((bundle / "images").iterdir())
    before = {p: p.stat().st_mtime_ns for p in files}
    manifest = (bundle / "manifest.json").read_text()
    started = time.monotonic()
    build_bundle(RELEASE)
    print(f"warm bundle recognised in {time.monotonic() - started:.2f} s")
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert (bundle / "manifest.json").read_text() == manifest
    # A file touched since it was written is made (identically) and hashed again.
    touched = bundle / "files" / RELEASE.artifacts()[0].filename
    os.utime(touched, ns=(before[touched] + 1, before[touched] + 1))
    build_bundle(RELEASE)
    assert touched.stat().st_mtime_ns != before[touched] + 1
    assert (bundle / "manifest.json").read_text().count(artifacts.sha256_of(touched)) == 1
