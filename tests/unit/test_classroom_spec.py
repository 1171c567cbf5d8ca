"""Class specs: the example loads; every bad input names the file, the field and the fix, and changes nothing."""

import re

import pytest
import yaml

from kubelab import cli, paths
from kubelab.classroom import load_class, parse_class
from kubelab.errors import SpecError
from kubelab.exam import SEED_MAX
from kubelab.names import MAX_LENGTH

BASE = {"name": "kc", "students": ["alice", "bob"]}


def refused(raw: dict, tmp_path) -> SpecError:
    """The SpecError `load_class` raises for `raw` written to a file."""
    path = tmp_path / "class.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as caught:
        load_class(path)
    assert caught.value.file == str(path)
    return caught.value


def test_the_example_class_loads_with_a_lab_per_student():
    klass = load_class("classes/example.yaml")
    assert klass.labs == ["ckad-mon-alice", "ckad-mon-bob", "ckad-mon-carol"]
    assert (klass.nodes, klass.bounds.memory, klass.bounds.cpus) == (1, "1536m", 1.0)
    assert (klass.exam.seed, klass.exam.tasks, klass.exam.minutes) == (7, 16, 120)


def test_defaults_are_two_nodes_and_the_curriculum_exam():
    klass = parse_class(BASE)
    assert klass.provider == "local" and klass.nodes == 2
    assert (klass.exam.seed, klass.exam.tasks, klass.exam.minutes) == (None, 16, 120)


@pytest.mark.parametrize("raw, field, words", [
    ({**BASE, "students": ["alice", "bob", "alice"]}, "students", "duplicate student alice"),
    ({**BASE, "students": ["alice", "Bob"]}, "students[1]", "not a DNS-1123 label"),
    ({**BASE, "students": [{"name": "alice", "nodes": []}]}, "students[0].nodes", "unknown field"),
    ({**BASE, "students": []}, "students", "0 students"),
    ({"name": "kc"}, "students", "missing"),
    ({**BASE, "studnets": ["x"]}, "studnets", "did you mean `students`"),
    ({**BASE, "name": "KC"}, "name", "not a DNS-1123 label"),
    ({**BASE, "nodes": 0}, "nodes", "0 nodes per lab"),
    ({**BASE, "nodes": 5}, "nodes", "5 nodes per lab"),
    ({**BASE, "nodes": "two"}, "nodes", "expected an integer"),
    ({**BASE, "resources": {"memory": "lots"}}, "resources.memory", "not a size like 2g"),
    ({**BASE, "resources": {"memory": "100m"}}, "resources.memory", "below 512m"),
    ({**BASE, "resources": {"cpus": 0}}, "resources.cpus", "not a number of cores"),
    ({**BASE, "resources": {"cpus": True}}, "resources.cpus", "not a number of cores"),
    ({**BASE, "resources": {"swap": "1g"}}, "resources.swap", "unknown field"),
    ({**BASE, "exam": {"seed": -1}}, "exam.seed", "out of range"),
    ({**BASE, "exam": {"seed": SEED_MAX + 1}}, "exam.seed", "out of range"),
    ({**BASE, "exam": {"tasks": 0}}, "exam.tasks", "out of range"),
    ({**BASE, "exam": {"minutes": "2h"}}, "exam.minutes", "expected an integer"),
    ({**BASE, "exam": {"sead": 7}}, "exam.sead", "did you mean `seed`"),
    ({**BASE, "kubernetes": "1.20"}, "kubernetes", "not in the version table"),
    ({**BASE, "provider": "cloud"}, "provider", "not one of local, vms"),
    ({**BASE, "ssh": {"user": "ubuntu"}}, "ssh", "applies only to provider vms"),
])
def test_a_bad_class_spec_names_the_field_and_the_fix(raw, field, words, tmp_path):
    error = refused(raw, tmp_path)
    assert error.field == field
    assert words in f"{error.problem}. Fix: {error.fix}"
    assert error.fix


def test_a_lab_name_over_the_limit_says_how_it_is_made_and_how_long_it_may_be(tmp_path):
    error = refused({"name": "ckad-monday-morning", "students": ["alice", "bartholomew"]}, tmp_path)
    assert error.field == "students[1]"
    assert "ckad-monday-morning-bartholomew" in error.problem and "<class>-<student>" in error.problem
    assert f"at most {MAX_LENGTH}" in error.problem
    assert re.search(r"shorten the class name \(19\) or the student's \(11\)", error.fix)


def vm_class(tmp_path, students) -> dict:
    key, known = tmp_path / "key", tmp_path / "known_hosts"
    key.write_text("k")
    known.write_text("")
    return {"name": "kc", "provider": "vms", "ssh": {"user": "ubuntu", "key": str(key), "known_hosts": str(known)},
            "artifacts": {"source": "upstream"}, "students": students}


def test_vm_students_need_their_machines(tmp_path):
    error = refused(vm_class(tmp_path, [{"name": "alice"}]), tmp_path)
    assert error.field == "students[0].nodes" and "provider vms" in error.problem


def test_local_only_fields_are_refused_for_vms(tmp_path):
    raw = {**vm_class(tmp_path, [{"name": "alice", "nodes": []}]), "nodes": 2}
    assert refused(raw, tmp_path).field == "nodes"


def test_a_bad_vm_address_is_named_where_the_class_spec_has_it(tmp_path):
    raw = vm_class(tmp_path, [
        {"name": "alice", "nodes": [{"name": "cp1", "address": "192.168.56.10", "role": "control-plane"}]},
        {"name": "bob", "nodes": [{"name": "cp1", "address": "192.168.56.300", "role": "control-plane"}]}])
    path = tmp_path / "class.yaml"
    path.write_text(yaml.safe_dump(raw))
    klass = load_class(path)
    with pytest.raises(SpecError) as caught:
        klass.lab_spec(klass.students[1])
    assert caught.value.field == "students[1].nodes[0].address"


def test_two_students_may_not_share_a_machine(tmp_path):
    from kubelab.classroom import validate_vms

    same = [{"name": "cp1", "address": "192.168.56.10", "role": "control-plane"}]
    path = tmp_path / "class.yaml"
    # Copies: one list given twice would be dumped as a YAML alias, which the loader refuses first.
    path.write_text(yaml.safe_dump(vm_class(tmp_path, [{"name": "alice", "nodes": [dict(same[0])]},
                                                       {"name": "bob", "nodes": [dict(same[0])]}])))
    with pytest.raises(SpecError) as caught:
        validate_vms(load_class(path))
    assert caught.value.field == "students" and "192.168.56.10" in caught.value.problem


@pytest.mark.parametrize("verb", [["up"], ["status"], ["reset", "--yes"], ["down", "--yes"],
                                  ["exam", "start", "--yes"], ["exam", "grade"]])
def test_every_class_command_refuses_a_bad_spec_and_touches_nothing(verb, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KUBELAB_HOME", str(tmp_path / "home"))
    path = tmp_path / "class.yaml"
    path.write_text(yaml.safe_dump({**BASE, "students": ["alice", "alice"]}))
    command = ["class", *verb[:2], "--class", str(path), *verb[2:]] if verb[0] == "exam" else \
        ["class", verb[0], "--class", str(path), *verb[1:]]
    assert cli.main(command) == 2
    err = capsys.readouterr().err
    assert "students: duplicate student alice" in err and "Traceback" not in err
    assert not paths.state_dir().exists()


def test_the_cli_refuses_a_bad_memory_bound(capsys):
    with pytest.raises(SystemExit):
        cli.main(["class", "up", "--class", "classes/example.yaml", "--memory", "10"])
    assert "not a size like 2g" in capsys.readouterr().err
