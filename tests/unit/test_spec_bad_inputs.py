"""Bad specs of every kind: each names the file, the field and the fix, and none ends in a traceback.

Every case is written to a file and run through `load_spec` and through
`kubelab validate` (the CLI a user runs); the dict cases are also given to
`parse_spec` directly, as code that builds a spec does.
"""

import datetime
import re
import time

import pytest
import yaml

from kubelab import cli
from kubelab.errors import SpecError
from kubelab.spec import MAX_NODES, MAX_SPEC_BYTES, MAX_YAML_DEPTH, load_spec, parse_spec

# Raw cases append to this, so the field they break is the first one wrong.
BASE_TEXT = b"""\
name: bad-inputs
kubernetes: "1.35"
nodes:
  - {name: cp, address: 10.0.0.10, role: control-plane}
  - {name: w1, address: 10.0.0.11, role: worker}
"""
BASE = yaml.safe_load(BASE_TEXT)
CP, W1 = BASE["nodes"]


def over_base(changes: dict) -> dict:
    """BASE with `changes` applied; a value of None removes the field."""
    raw = {**BASE, **changes}
    return {k: v for k, v in raw.items() if v is not None}


def one_node(**fields) -> dict:
    return {"nodes": [{**CP, **fields}]}


def mirror(key: str, url: str = "http://10.0.0.1:5000") -> dict:
    return {"registry_mirrors": {key: url}}


def kubelet(**overrides) -> dict:
    return {"kubelet": overrides}


def nested(depth: int, leaf=1) -> dict:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


LAUGHS = b"a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + b"".join(
    b"%c: &%c [%s]\n" % (c, c, b", ".join([b"*%c" % (c - 1)] * 9)) for c in b"bcdefghi")
MIRROR_URL = "registry_mirrors.docker.io"

# (what is written: changes over BASE, or the raw bytes of the file; the field the error must name)
CASES = [
    # The file itself.
    pytest.param(b"name: caf\xe9\n", "line 1", id="not-utf-8"),
    pytest.param(b"name: t\nkubernetes: \"1.35\x00\"\n", "line 2", id="nul-byte"),
    pytest.param(b"name: t\x07\n", "line 1", id="control-character"),
    pytest.param(BASE_TEXT + b"kubelet: " + b"[" * 10000 + b"\n", "kubelet" + "[0]" * (MAX_YAML_DEPTH - 1),
                 id="10000-deep-nesting"),
    pytest.param(b"name: t\nnodes: [" + b"{}, " * 100_000 + b"]\n", "nodes", id="100k-node-list"),
    pytest.param(LAUGHS, "b[0]", id="alias-bomb"),
    pytest.param(b"name: t\nname: u\n", "name", id="key-given-twice"),
    pytest.param(BASE_TEXT + b"ssh:\n  ? [user]\n  : root\n", "ssh", id="list-as-key"),
    pytest.param(BASE_TEXT + b"kubelet: {1: x}\n", "kubelet", id="number-as-key"),
    pytest.param(BASE_TEXT + b"registry_mirrors: {2020-01-01: http://10.0.0.1}\n", "registry_mirrors",
                 id="date-as-key"),
    pytest.param(b"- name: t\n", "(file)", id="top-level-list"),
    pytest.param(b"just words\n", "(file)", id="top-level-scalar"),
    pytest.param(b"", "(file)", id="empty-file"),
    pytest.param(b"#" * (MAX_SPEC_BYTES + 1), "(file)", id="larger-than-the-cap"),
    pytest.param(b"name: [unclosed\n", "line 2", id="yaml-syntax"),
    pytest.param(b"name: !!python/object/apply:os.system [reboot]\n", "line 1", id="python-tag"),
    # A wrong type in every top-level field.
    pytest.param({"name": 5}, "name", id="name-int"),
    pytest.param({"kubernetes": ["1.35"]}, "kubernetes", id="kubernetes-list"),
    pytest.param({"artifacts": "upstream"}, "artifacts", id="artifacts-str"),
    pytest.param({"nodes": {"cp": CP}}, "nodes", id="nodes-mapping"),
    pytest.param({"ssh": "root@10.0.0.10"}, "ssh", id="ssh-str"),
    pytest.param({"registry_mirrors": ["docker.io"]}, "registry_mirrors", id="registry-mirrors-list"),
    pytest.param({"networking": "10.244.0.0/16"}, "networking", id="networking-str"),
    pytest.param({"kubelet": "maxPods=50"}, "kubelet", id="kubelet-str"),
    pytest.param({"containerd": True}, "containerd", id="containerd-bool"),
    pytest.param({"exercises": "multi-container-pods"}, "exercises", id="exercises-str"),
    pytest.param({"provider": "podman"}, "provider", id="provider-str"),
    pytest.param({"provider": {"kind": ["podman"]}}, "provider.kind", id="provider-kind-list"),
    # Lab and node names: one rule (kubelab.names), and required.
    pytest.param({"name": None}, "name", id="name-missing"),
    pytest.param({"name": ""}, "name", id="name-empty"),
    pytest.param({"name": ".."}, "name", id="name-dotdot"),
    pytest.param({"name": "a/b"}, "name", id="name-slash"),
    pytest.param({"name": "Classroom"}, "name", id="name-uppercase"),
    pytest.param({"name": "x" * 27}, "name", id="name-too-long"),
    pytest.param({"name": "a\x00b"}, "name", id="name-nul"),
    pytest.param(one_node(name="../cp"), "nodes[0].name", id="node-name-path"),
    pytest.param({"nodes": [CP, {**W1, "name": "cp"}]}, "nodes", id="node-names-twice"),
    pytest.param({"nodes": [CP, {**W1, "address": CP["address"]}]}, "nodes", id="node-addresses-twice"),
    pytest.param({"nodes": [CP] + [{**W1, "name": f"w{i}", "address": f"10.0.1.{i}"} for i in range(MAX_NODES)]},
                 "nodes", id="one-node-over-the-cap"),
    # Addresses: an IP or an RFC 1123 hostname.
    pytest.param(one_node(address="10.0.0.300"), "nodes[0].address", id="address-octet-300"),
    pytest.param(one_node(address="host name"), "nodes[0].address", id="address-space"),
    pytest.param(one_node(address="a..b"), "nodes[0].address", id="address-empty-label"),
    pytest.param(one_node(address="-x"), "nodes[0].address", id="address-leading-dash"),
    pytest.param(one_node(address="$(reboot)"), "nodes[0].address", id="address-shell"),
    pytest.param(one_node(address="fe80::1%eth0"), "nodes[0].address", id="address-ipv6-zone"),
    pytest.param(one_node(address=("a" * 63 + ".") * 4 + "a"), "nodes[0].address", id="address-over-253"),
    # SSH: the port, the user that reaches ssh and sudo, the files.
    pytest.param({"ssh": {"port": 0}}, "ssh.port", id="port-0"),
    pytest.param({"ssh": {"port": 65536}}, "ssh.port", id="port-65536"),
    pytest.param({"ssh": {"port": True}}, "ssh.port", id="port-true"),
    pytest.param({"ssh": {"port": "22"}}, "ssh.port", id="port-string"),
    pytest.param({"ssh": {"user": "-oProxyCommand=reboot"}}, "ssh.user", id="user-option"),
    pytest.param({"ssh": {"user": "root; reboot"}}, "ssh.user", id="user-shell"),
    pytest.param({"ssh": {"key": "/tmp/k\x00ey"}}, "ssh.key", id="ssh-key-nul"),
    pytest.param({"ssh": {"known_hosts": "x" * 5000}}, "ssh.known_hosts", id="known-hosts-name-too-long"),
    # Registry mirrors: the key becomes a directory on every node, the URL a TOML string.
    pytest.param(mirror("../../etc"), "registry_mirrors.../../etc", id="mirror-key-dotdot"),
    pytest.param(mirror("a/b"), "registry_mirrors.a/b", id="mirror-key-slash"),
    pytest.param(mirror("host:0"), "registry_mirrors.host:0", id="mirror-key-port-0"),
    pytest.param(mirror("host:x"), "registry_mirrors.host:x", id="mirror-key-port-x"),
    pytest.param(mirror("[host]:5000"), "registry_mirrors.[host]:5000", id="mirror-key-brackets-not-ipv6"),
    pytest.param(mirror("docker.io", "http:///v2"), MIRROR_URL, id="mirror-url-no-host"),
    pytest.param(mirror("docker.io", "http://user:pw@10.0.0.1:5000"), MIRROR_URL, id="mirror-url-userinfo"),
    pytest.param(mirror("docker.io", "ftp://10.0.0.1"), MIRROR_URL, id="mirror-url-ftp"),
    pytest.param(mirror("docker.io", "http://h:99999"), MIRROR_URL, id="mirror-url-port-99999"),
    pytest.param(mirror("docker.io", "http://h /v2"), MIRROR_URL, id="mirror-url-space"),
    pytest.param(mirror("docker.io", 'http://h/"x'), MIRROR_URL, id="mirror-url-toml-quote"),
    pytest.param(mirror("docker.io", "http://h/v2?x=1"), MIRROR_URL, id="mirror-url-query"),
    pytest.param(mirror("docker.io", "10.0.0.1:5000"), MIRROR_URL, id="mirror-url-no-scheme"),
    pytest.param(mirror("docker.io", "http://[fd00::1:5000"), MIRROR_URL, id="mirror-url-unclosed-bracket"),
    # Kubelet overrides may not undo what kubelab sets for safety.
    pytest.param(kubelet(authorization={"mode": "AlwaysAllow"}), "kubelet.authorization.mode",
                 id="kubelet-always-allow"),
    pytest.param(kubelet(authentication={"anonymous": {"enabled": True}}),
                 "kubelet.authentication.anonymous.enabled", id="kubelet-anonymous"),
    pytest.param(kubelet(authentication={"webhook": {"enabled": False}}),
                 "kubelet.authentication.webhook.enabled", id="kubelet-no-webhook"),
    pytest.param(kubelet(authentication="none"), "kubelet.authentication", id="kubelet-authentication-str"),
    pytest.param(kubelet(readOnlyPort=10255), "kubelet.readOnlyPort", id="kubelet-read-only-port"),
    pytest.param(kubelet(cgroupDriver="cgroupfs"), "kubelet.cgroupDriver", id="kubelet-cgroupfs"),
    pytest.param(kubelet(maxPods=50, x=nested(9)), "kubelet.x" + ".a" * 7, id="kubelet-too-deep"),
    pytest.param(kubelet(featureGates={f"Gate{i}": True for i in range(501)}), "kubelet", id="kubelet-too-many"),
    pytest.param(kubelet(shutdownGracePeriod=datetime.date(2026, 1, 1)), "kubelet.shutdownGracePeriod",
                 id="kubelet-date"),
    # Networking, artifacts.
    pytest.param({"networking": {"pod_subnet": "10.96.0.0/16"}}, "networking.service_subnet",
                 id="subnets-overlap"),
    pytest.param({"networking": {"pod_subnet": "10.244.0.1/16"}}, "networking.pod_subnet", id="subnet-host-bits"),
    pytest.param({"artifacts": {"sha256": {"kubeadm": "abc"}}}, "artifacts.sha256.kubeadm", id="sha256-short"),
    pytest.param({"artifacts": {"sha256": {"kubeadm": "g" * 64}}}, "artifacts.sha256.kubeadm", id="sha256-not-hex"),
    pytest.param({"artifacts": {"sha256": {"kubeadm": 1234}}}, "artifacts.sha256.kubeadm", id="sha256-int"),
    pytest.param({"artifacts": {"sha256": {"kubeadm.exe": "0" * 64}}}, "artifacts.sha256.kubeadm.exe",
                 id="sha256-unknown-file"),
    pytest.param({"artifacts": {"sha256": ["kubeadm"]}}, "artifacts.sha256", id="sha256-list"),
    pytest.param({"artifacts": {"download_mirror": "ftp://10.0.0.5"}}, "artifacts.download_mirror",
                 id="download-mirror-ftp"),
    pytest.param({"artifacts": {"source": "bundle", "bundle": "/b", "download_mirror": "http://10.0.0.5"}},
                 "artifacts.download_mirror", id="download-mirror-with-bundle"),
    pytest.param({"artifacts": {"source": "bundle", "bundle": "/b", "sha256": {"kubeadm": "0" * 64}}},
                 "artifacts.sha256", id="sha256-with-bundle"),
    pytest.param({"artifacts": {"source": "bundle", "bundle": ""}}, "artifacts.bundle", id="bundle-empty"),
]


def _flat(text: str) -> str:
    # rich wraps a long message at 80 columns.
    return re.sub(r"\s", "", text)


@pytest.mark.parametrize("bad, field", CASES)
def test_a_bad_spec_names_the_field_and_the_fix_without_a_traceback(bad, field, tmp_path, capsys):
    path = tmp_path / "lab.yaml"
    path.write_bytes(bad if isinstance(bad, bytes) else yaml.safe_dump(over_base(bad)).encode())
    if isinstance(bad, dict):
        with pytest.raises(SpecError) as err:
            parse_spec(over_base(bad), "lab.yaml")
        assert (err.value.file, err.value.field) == ("lab.yaml", field)

    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert (err.value.file, err.value.field) == (str(path), field)
    assert f"{path}: {field}: " in str(err.value) and ". Fix: " in str(err.value)

    capsys.readouterr()
    assert cli.main(["validate", "--spec", str(path)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert _flat(str(path)) in _flat(captured.err) and "Fix:" in captured.err
    assert captured.out == ""


def test_the_table_holds_at_least_40_bad_specs():
    assert len(CASES) >= 40


@pytest.mark.parametrize("raw, field", [
    pytest.param(over_base({"nodes": [CP] * 100_000}), "nodes", id="100k-nodes"),
    pytest.param(over_base({"kubelet": nested(10_000)}), "kubelet" + ".a" * 8, id="kubelet-10000-deep"),
    pytest.param(over_base({"kubernetes": nested(10_000)}), "kubernetes", id="kubernetes-10000-deep"),
    pytest.param(over_base({"provider": nested(10_000)}), "provider.a", id="provider-10000-deep"),
])
def test_code_built_specs_too_big_or_deep_are_refused_at_once(raw, field):
    # No file cap protects these: the node cap and the bounded walks must come
    # before any per-item work.
    start = time.monotonic()
    with pytest.raises(SpecError) as err:
        parse_spec(raw, "lab.yaml")
    assert err.value.field == field
    assert time.monotonic() - start < 1.0
    assert len(str(err.value)) < 1000
