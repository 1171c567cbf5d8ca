"""Spec validation: every bad input names the file, the field and the fix."""

import textwrap

import pytest

from kubelab import configs, kubeadm, versions
from kubelab.errors import SpecError
from kubelab.inventory import groups_from_spec
from kubelab.spec import MAX_NODES, load_spec, parse_spec

GOOD = {
    "name": "t",
    "kubernetes": "1.35",
    "artifacts": {"source": "upstream"},
    "nodes": [
        {"name": "cp", "address": "10.0.0.10", "role": "control-plane"},
        {"name": "w1", "address": "10.0.0.11", "role": "worker"},
    ],
}


def spec_with(**changes):
    raw = {**GOOD, **changes}
    return {k: v for k, v in raw.items() if v is not None}


def test_good_spec_parses_with_defaults():
    spec = parse_spec(GOOD, "lab.yaml")
    assert spec.control_plane.name == "cp"
    assert [w.name for w in spec.workers] == ["w1"]
    assert spec.release.kubernetes == versions.RELEASES["1.35"].kubernetes
    assert spec.ssh.strict_host_key_checking is True
    assert spec.restrict_oom_score_adj == "auto"


def test_addresses_and_mirrors_may_be_ips_or_hostnames_with_ports():
    spec = parse_spec(spec_with(
        nodes=[{"name": "cp", "address": "fd00::10", "role": "control-plane"},
               {"name": "w1", "address": "w1.lab.example", "role": "worker"}],
        registry_mirrors={"docker.io": "https://mirror.example:8443/v2", "registry.local:5000": "http://10.0.0.1",
                          "[fd00::1]:5000": "http://[fd00::1]:5000"},
        artifacts={"source": "upstream", "download_mirror": "http://127.0.0.1:8080/site",
                   "sha256": {"runc.amd64": "AB" * 32}},
    ), "lab.yaml")
    assert [n.address for n in spec.nodes] == ["fd00::10", "w1.lab.example"]
    assert set(spec.registry_mirrors) == {"docker.io", "registry.local:5000", "[fd00::1]:5000"}
    assert spec.download_mirror == "http://127.0.0.1:8080/site"
    assert spec.sha256 == {"runc.amd64": "ab" * 32}


def test_a_spec_may_hold_exactly_the_node_cap():
    nodes = [{"name": f"n{i}", "address": f"10.0.1.{i}", "role": "worker"} for i in range(MAX_NODES)]
    nodes[0]["role"] = "control-plane"
    assert len(parse_spec(spec_with(nodes=nodes), "lab.yaml").nodes) == MAX_NODES


def test_kubelet_overrides_that_keep_the_safety_settings_reach_the_kubelet_configuration():
    overrides = {"maxPods": 50, "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}},
                 "authorization": {"mode": "Webhook"}, "readOnlyPort": 0, "cgroupDriver": configs.CGROUP_DRIVER}
    spec = parse_spec(spec_with(kubelet=overrides), "lab.yaml")
    conf = kubeadm.kubelet_configuration(spec, kubeadm.NodeFacts(cgroup_version=2, in_container=False))
    assert {k: conf[k] for k in overrides} == overrides


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"nodse": []}, "nodse", "did you mean `nodes`"),
        ({"kubernetes": "1.20"}, "kubernetes", "not in the version table"),
        ({"nodes": None}, "nodes", "missing"),
        ({"nodes": "cp"}, "nodes", "expected a list"),
        ({"nodes": [{"name": "cp", "address": "10.0.0.10"}]}, "nodes[0].role", "missing"),
        ({"nodes": [{"name": "cp", "address": "10.0.0.10", "role": "master"}]}, "nodes[0].role", "not one of"),
        ({"nodes": [{"name": "w", "address": "10.0.0.10", "role": "worker"}]}, "nodes", "0 nodes have role control-plane"),
        ({"nodes": GOOD["nodes"] + [{"name": "cp", "address": "10.0.0.12", "role": "worker"}]}, "nodes", "duplicate node name cp"),
        ({"name": None}, "name", "missing"),
        ({"nodes": [{"name": "cp", "address": "10.0.0.300", "role": "control-plane"}]}, "nodes[0].address",
         "not a valid IP address"),
        ({"kubelet": {"authorization": {"mode": "AlwaysAllow"}}}, "kubelet.authorization.mode",
         "remove `kubelet.authorization.mode` (kubelab keeps it Webhook)"),
        ({"artifacts": {"source": "bundle"}}, "artifacts.bundle", "no bundle directory"),
        ({"artifacts": {"source": "ftp"}}, "artifacts.source", "not one of"),
        ({"ssh": {"port": "22"}}, "ssh.port", "expected an integer"),
        ({"ssh": {"port": True}}, "ssh.port", "expected an integer"),
        ({"ssh": {"key": "/nonexistent/key"}}, "ssh.key", "cannot be read"),
        ({"registry_mirrors": {"docker.io": "10.0.0.1:5000"}}, "registry_mirrors.docker.io", "no scheme"),
        ({"networking": {"pod_subnet": "10.244.0.0/33"}}, "networking.pod_subnet", "not a network"),
        ({"containerd": {"restrict_oom_score_adj": "yes"}}, "containerd.restrict_oom_score_adj", "true or false"),
    ],
)
def test_bad_spec_names_file_field_and_fix(changes, field, words):
    with pytest.raises(SpecError) as err:
        parse_spec(spec_with(**changes), "lab.yaml")
    assert err.value.file == "lab.yaml"
    assert err.value.field == field
    assert words in str(err.value)
    assert "Fix:" in str(err.value)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(SpecError, match="cannot be read"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError) as err:
        load_spec(bad)
    assert err.value.field.startswith("line ")


def test_inventory_groups_verify_host_keys_by_default(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent("""
        name: t
        nodes:
          - {name: cp, address: 10.0.0.10, role: control-plane}
          - {name: w1, address: 10.0.0.11, role: worker}
    """))
    groups = groups_from_spec(path)
    assert [h for h, _ in groups["control_plane"]] == ["cp"]
    (_, data), = groups["workers"]
    assert data["ssh_hostname"] == "10.0.0.11"
    assert data["ssh_strict_host_key_checking"] == "yes"
