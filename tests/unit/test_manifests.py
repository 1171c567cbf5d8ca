"""Manifest validation names the file and the document before anything is applied;
exercises are folders of real files, and a grade runs disruptive checks last."""

import pytest

from kubelab.cli import main
from kubelab.cluster import load_manifests
from kubelab.errors import SpecError
from kubelab.catalogue import catalogue, exercise
from kubelab.exercises import checks_for, exercises_for
from kubelab.spec import parse_spec

GOOD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_articles_manifest_loads_as_one_pod_with_two_containers():
    (path,) = exercise("multi-container-pods").manifests("solution")
    (manifest,) = load_manifests([path])
    assert (manifest.kind, manifest.name, manifest.namespace, manifest.document) == ("Pod", "nginx-with-sidecar", None, 1)
    assert [c["name"] for c in manifest.body["spec"]["containers"]] == ["nginx", "sidecar"]
    assert manifest.body["spec"]["volumes"] == [{"name": "logs", "emptyDir": {}}]


def test_documents_are_numbered_and_empty_ones_skipped(tmp_path):
    path = write(tmp_path, "two.yaml", GOOD + "---\n---\n" + GOOD.replace("name: a", "name: b"))
    assert [(m.name, m.document) for m in load_manifests([path])] == [("a", 1), ("b", 3)]


@pytest.mark.parametrize("text, field, words", [
    (GOOD + "---\nkind: Pod\n  metadata: [\n", "document 2", "invalid YAML at line"),
    (GOOD + "---\napiVersion: v1\nmetadata:\n  name: x\n", "document 2: kind", "missing"),
    ("kind: Pod\nmetadata:\n  name: x\n", "document 1: apiVersion", "missing"),
    ("apiVersion: v1\nkind: Pod\n", "document 1: metadata", "missing"),
    ("apiVersion: v1\nkind: Pod\nmetadata:\n  generateName: x-\n", "document 1: metadata.name", "missing"),
    ("- apiVersion: v1\n", "document 1", "expected a mapping"),
])
def test_a_bad_document_names_file_document_and_problem(tmp_path, text, field, words):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(SpecError) as err:
        load_manifests([write(tmp_path, "good.yaml", GOOD), path])
    assert (err.value.file, err.value.field) == (str(path), field)
    assert words in err.value.problem and err.value.fix


def test_a_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError) as err:
        load_manifests([tmp_path / "nope.yaml"])
    assert "cannot be read" in str(err.value)


def test_an_unknown_exercise_is_named_with_the_known_ones():
    spec = parse_spec({"name": "t", "nodes": [{"name": "cp", "address": "10.0.0.1", "role": "control-plane"}],
                       "exercises": ["multi-container-pods", "nope"]}, "lab.yaml")
    with pytest.raises(SpecError) as err:
        exercises_for(spec)
    assert err.value.field == "exercises[1]" and "multi-container-pods" in err.value.fix


def test_disruptive_checks_run_after_every_read_only_check():
    checks = checks_for(list(catalogue().values()))
    flags = [c.disruptive for c in checks]
    assert flags == sorted(flags) and any(flags) and not all(flags)


def test_apply_without_a_kubeconfig_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KUBELAB_HOME", str(tmp_path))
    spec = write(tmp_path, "spec.yaml", "name: nocluster\nnodes:\n- {name: cp, address: 10.0.0.1, role: control-plane}\n")
    assert main(["apply", "--spec", str(spec)]) == 2
    assert "no kubeconfig" in capsys.readouterr().err
