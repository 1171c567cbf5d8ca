"""`kubelab validate`: a spec and its exercises are checked and summarised without contacting any host."""

import json
import re
import socket
import textwrap

import pytest

from kubelab import cli, versions


def write_spec(tmp_path, body: str):
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture
def listener():
    """A real TCP listener standing where the spec says the node's sshd is."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def test_validate_summarises_the_lab_and_contacts_no_host(tmp_path, capsys, listener):
    path = write_spec(tmp_path, f"""
        name: classroom-a
        kubernetes: "1.34"
        nodes:
          - {{name: cp1, address: 127.0.0.1, role: control-plane}}
          - {{name: worker1, address: nodes.example.test, role: worker}}
        ssh: {{port: {listener.getsockname()[1]}}}
    """)

    assert cli.main(["validate", "--spec", str(path)]) == 0

    out = capsys.readouterr().out
    assert f"{path}: valid" in out
    assert f"lab classroom-a, Kubernetes {versions.RELEASES['1.34'].kubernetes}" in out
    assert re.search(r"cp1 +control-plane +127\.0\.0\.1", out)
    assert re.search(r"worker1 +worker +nodes\.example\.test", out)
    assert "artifacts: upstream from dl.k8s.io and github.com" in out
    assert "exercises: multi-container-pods" in out
    with pytest.raises(BlockingIOError):
        listener.accept()


def test_validate_json_carries_the_artifact_source(tmp_path, capsys):
    digest = "AB" * 32
    path = write_spec(tmp_path, f"""
        name: classroom-b
        artifacts:
          download_mirror: http://127.0.0.1:8080/site
          sha256: {{kubeadm: "{digest}"}}
        nodes: [{{name: cp1, address: "fd00::10", role: control-plane}}]
    """)

    assert cli.main(["validate", "--spec", str(path), "--json"]) == 0

    summary = json.loads(capsys.readouterr().out)
    assert summary["spec"] == str(path)
    assert summary["lab"] == "classroom-b"
    assert summary["kubernetes"] == versions.RELEASES[versions.DEFAULT_MINOR].kubernetes
    assert summary["nodes"] == [{"name": "cp1", "role": "control-plane", "address": "fd00::10"}]
    assert summary["artifacts"] == {"source": "upstream", "bundle": None,
                                    "download_mirror": "http://127.0.0.1:8080/site",
                                    "sha256": {"kubeadm": digest.lower()}}


def test_validate_reads_the_default_spec_and_names_an_unknown_exercise(tmp_path, capsys, monkeypatch):
    path = write_spec(tmp_path, """
        name: classroom-c
        nodes: [{name: cp1, address: 10.0.0.10, role: control-plane}]
        exercises: [multi-container-pods, no-such-exercise]
    """)
    monkeypatch.setenv("KUBELAB_SPEC", str(path))

    assert cli.main(["validate"]) == 2

    captured = capsys.readouterr()
    flat = re.sub(r"\s", "", captured.err)
    assert re.sub(r"\s", "", f"{path}: exercises[1]: no exercise named 'no-such-exercise'") in flat
    assert "Fix:" in captured.err and "Traceback" not in captured.err
    assert captured.out == ""


# Text from a spec is printed as written, never read as rich markup or emoji
# codes (`[/x]` would raise MarkupError, `[x]` vanish, `host:x:` turn into an emoji).
@pytest.mark.parametrize("name, key, shown", [
    ("'[/x]'", "docker.io", "name: '[/x]' is not a DNS-1123 label"),
    ("ok", "[x]:5000", "registry_mirrors.[x]:5000: 'x' is in brackets"),
    ("ok", "host:x", "registry_mirrors.host:x: port 'x' is not a whole number"),
])
def test_spec_text_is_printed_as_written(tmp_path, capsys, name, key, shown):
    path = write_spec(tmp_path, f"""
        name: {name}
        nodes: [{{name: cp1, address: 10.0.0.10, role: control-plane}}]
        registry_mirrors: {{"{key}": http://10.0.0.1:5000}}
    """)

    assert cli.main(["validate", "--spec", str(path)]) == 2

    assert re.sub(r"\s", "", shown) in re.sub(r"\s", "", capsys.readouterr().err)
