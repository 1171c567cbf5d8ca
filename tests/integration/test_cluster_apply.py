"""cluster.py against a real kube-apiserver and etcd on 127.0.0.1.

The binaries are the bundle's own builds (compiled once from the Go module
proxy, then cached). No scheduler or kubelet runs, so pods stay Pending: that
is enough to prove server-side apply, the all-documents dry run, and the
bounded wait. The module starts and stops its own processes.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import config as k8s_config

from kubelab import versions
from kubelab.bundle.gobuild import build
from kubelab.cluster import FIELD_MANAGER, ApplyRejected, Cluster, WaitTimeout, load_manifests
from kubelab.errors import SpecError
from kubelab.catalogue import exercise

pytestmark = pytest.mark.integration

TOKEN = "kubelab-test-admin-token"


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory, free_port, stop):
    release = versions.release(versions.DEFAULT_MINOR)
    kube, etcd_bin = build("kubernetes", release), build("etcd", release)
    d = tmp_path_factory.mktemp("apiserver")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (d / "sa.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    (d / "sa.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    (d / "tokens.csv").write_text(f'{TOKEN},admin,admin,"system:masters"\n')
    client_port, peer_port, api_port = free_port(), free_port(), free_port()
    etcd = _start([str(etcd_bin.binary("etcd")), "--data-dir", str(d / "etcd"),
                   "--listen-client-urls", f"http://127.0.0.1:{client_port}",
                   "--advertise-client-urls", f"http://127.0.0.1:{client_port}",
                   "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
                   "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
                   "--initial-cluster", f"default=http://127.0.0.1:{peer_port}"], d / "etcd.log")
    api = _start([str(kube.binary("kube-apiserver")), f"--etcd-servers=http://127.0.0.1:{client_port}",
                  "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
                  f"--cert-dir={d / 'certs'}", f"--token-auth-file={d / 'tokens.csv'}",
                  "--authorization-mode=AlwaysAllow", "--service-account-issuer=https://kubernetes.default.svc",
                  f"--service-account-key-file={d / 'sa.pub'}", f"--service-account-signing-key-file={d / 'sa.key'}",
                  "--service-cluster-ip-range=10.96.0.0/12",
                  # No controller-manager creates the default ServiceAccount here.
                  "--disable-admission-plugins=ServiceAccount"], d / "apiserver.log")
    kubeconfig = d / "kubeconfig"
    kubeconfig.write_text(f"""\
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {{server: "https://127.0.0.1:{api_port}", certificate-authority: "{d / 'certs' / 'apiserver.crt'}"}}
users:
- name: admin
  user: {{token: {TOKEN}}}
contexts:
- name: test
  context: {{cluster: test, user: admin}}
current-context: test
""")
    try:
        deadline = time.monotonic() + 60
        while True:
            for proc, log in ((etcd, "etcd.log"), (api, "apiserver.log")):
                if proc.poll() is not None:
                    pytest.fail(f"{log[:-4]} exited {proc.returncode}: {(d / log).read_text()[-2000:]}")
            ready = subprocess.run(["curl", "-skf", "-H", f"Authorization: Bearer {TOKEN}",
                                    f"https://127.0.0.1:{api_port}/readyz"], capture_output=True)
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"kube-apiserver not ready in 60 s: {(d / 'apiserver.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield Cluster(k8s_config.new_client_from_config(config_file=str(kubeconfig)), source=str(kubeconfig))
    finally:
        stop(api)
        stop(etcd)


def test_the_article_pod_is_server_side_applied_by_kubelab(apiserver):
    manifests = load_manifests(exercise("multi-container-pods").manifests("solution"))
    (applied,) = apiserver.apply(manifests)
    assert (applied["kind"], applied["metadata"]["namespace"]) == ("Pod", "default")
    managers = {(f["manager"], f["operation"]) for f in applied["metadata"]["managedFields"]}
    assert (FIELD_MANAGER, "Apply") in managers
    pod = apiserver.pod("default", "nginx-with-sidecar")
    assert [c["name"] for c in pod["spec"]["containers"]] == ["nginx", "sidecar"]
    # Applying the same documents again is accepted and changes nothing.
    (again,) = apiserver.apply(manifests)
    assert again["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]


def test_a_field_the_api_rejects_fails_before_anything_is_applied(apiserver, tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied-first}\ndata: {a: b}\n---\n"
                    "apiVersion: v1\nkind: Pod\nmetadata: {name: bad-port}\nspec:\n  containers:\n"
                    "  - {name: c, image: busybox:1.37, ports: [{containerPort: 99999}]}\n")
    with pytest.raises(ApplyRejected) as err:
        apiserver.apply(load_manifests([path]))
    assert err.value.dry_run and err.value.manifest.document == 2
    assert "containerPort" in str(err.value) and str(path) in str(err.value)
    assert apiserver.get("v1", "ConfigMap", "applied-first", "default") is None


def test_a_kind_the_server_does_not_serve_is_a_spec_error(apiserver, tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("apiVersion: v1\nkind: Pood\nmetadata: {name: x}\n")
    with pytest.raises(SpecError) as err:
        apiserver.apply(load_manifests([path]))
    assert err.value.field == "document 1" and "Pood" in err.value.problem


def test_waiting_for_pods_is_bounded_and_says_what_it_saw(apiserver):
    apiserver.apply(load_manifests(exercise("multi-container-pods").manifests("solution")))
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as err:
        apiserver.wait_for_pods("default", ["nginx-with-sidecar", "not-there"], timeout=2, interval=0.5)
    assert time.monotonic() - started < 6
    assert "nginx-with-sidecar: phase Pending" in str(err.value) and "not-there: not found" in str(err.value)
