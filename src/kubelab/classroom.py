"""A class: several students' labs, each with its own nodes, network, state, lock and exam.

A class spec (YAML, validated like a lab spec: bounded, every problem named
by file, field and fix, nothing touched until all of it is valid) names the
class and its students. Student `alice` of class `ckad-mon` gets the lab
`ckad-mon-alice`, so the two names together must keep to the lab name rule.

Two providers: `local` (default) makes podman node containers for every
student, `nodes` per lab, each capped by `resources`; `vms` gives each
student their own SSH-reachable machines (`students[i].nodes`) and the class's
`ssh` and `artifacts`, exactly as in a lab spec. Either way the class's
inventory (inventories/class.py) puts every lab's hosts in one pyinfra run.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelab import curriculum, names, versions
from kubelab.errors import SpecError
from kubelab.inventory import groups_from_specs
from kubelab.local import nodes
from kubelab.spec import LabSpec, _Reader, load_spec, parse_spec, read_yaml

PROVIDERS = ("local", "vms")
CLASS_ENV = "KUBELAB_CLASS"
# Each lab takes a /24 of the 250 in 10.89.0.0/16 and at least one node container.
MAX_STUDENTS = 50
MAX_LOCAL_NODES = 4
# The catalogue refuses more tasks than it holds when the exam starts; these bound the file alone.
MAX_EXAM_TASKS = 100
MAX_EXAM_MINUTES = 600
TOP_FIELDS = ("name", "kubernetes", "provider", "students", "nodes", "resources", "exam", "ssh", "artifacts")


@dataclass(frozen=True)
class Student:
    name: str
    lab: str
    # Only for provider vms: the student's machines, as a lab spec's `nodes`.
    nodes: tuple[dict, ...] = ()


@dataclass(frozen=True)
class ExamSettings:
    seed: int | None = None
    tasks: int = curriculum.EXAM_TASKS
    minutes: int = curriculum.EXAM_MINUTES


@dataclass(frozen=True)
class ClassSpec:
    name: str
    kubernetes: str
    provider: str
    students: tuple[Student, ...]
    nodes: int
    bounds: nodes.Bounds
    exam: ExamSettings
    # provider vms: the lab spec sections every student's lab shares.
    ssh: dict
    artifacts: dict
    path: Path

    @property
    def labs(self) -> list[str]:
        return [s.lab for s in self.students]

    def lab_spec(self, student: Student) -> LabSpec:
        """The student's lab spec: the one `nodes.up` wrote (local), or made from the class (vms)."""
        if self.provider == "vms":
            return _vm_lab_spec(self, student, self.students.index(student))
        path = nodes.spec_path(student.lab)
        if not path.is_file():
            raise SpecError(str(self.path), f"students.{student.name}",
                            f"lab {student.lab} has no node containers on this machine (no {path})",
                            f"run `kubelab class up --class {self.path}` first")
        return load_spec(path)


def load_class(path: str | Path) -> ClassSpec:
    """Read and validate a class spec file; any problem is a SpecError naming the file, field and fix."""
    return parse_class(read_yaml(path, "check the path of --class (classes/example.yaml shows the format)"), str(path))


def parse_class(raw: Any, file: str = "<class>") -> ClassSpec:
    r = _Reader(file)
    if not isinstance(raw, dict):
        r.fail("(file)", "the class spec is not a mapping", "write it as `key: value` pairs, starting with "
               "`name: ckad-mon` (classes/example.yaml shows the format)")
    data = r.mapping(raw, "", TOP_FIELDS)
    if "name" not in data:
        r.fail("name", "missing: every class has a name", "add `name: ckad-mon`")
    name = r.text(data["name"], "name", names.problem, "name: ckad-mon", f"use {names.RULE}")
    minor = str(data.get("kubernetes", versions.DEFAULT_MINOR))
    if minor not in versions.RELEASES:
        r.fail("kubernetes", f"version {minor!r} is not in the version table",
               f"use one of {', '.join(sorted(versions.RELEASES))}, quoted: kubernetes: \"{versions.DEFAULT_MINOR}\"")
    provider = r.choice(data.get("provider", "local"), "provider", PROVIDERS)
    local = provider == "local"
    for key in ("nodes", "resources") if not local else ("ssh", "artifacts"):
        if key in data:
            r.fail(key, f"applies only to provider {'local' if not local else 'vms'}, but provider is {provider}",
                   f"remove `{key}`" + (" (give each student's machines as students[i].nodes)" if not local else ""))
    count = r.typed(data.get("nodes", 2), "nodes", int, "nodes: 2")
    if not 1 <= count <= MAX_LOCAL_NODES:
        r.fail("nodes", f"{count} nodes per lab", f"use 1 (a control plane that runs pods) to {MAX_LOCAL_NODES}")
    return ClassSpec(
        name=name, kubernetes=minor, provider=provider,
        students=_students(r, data.get("students"), name, local), nodes=count,
        bounds=_bounds(r, data.get("resources", {})), exam=_exam(r, data.get("exam", {})),
        ssh=dict(r.keys(data.get("ssh", {}), "ssh", "user: ubuntu")),
        artifacts=dict(r.keys(data.get("artifacts", {}), "artifacts", "source: upstream")),
        path=Path(file))


def _students(r: _Reader, raw: Any, klass: str, local: bool) -> tuple[Student, ...]:
    example = "students: [alice, bob]" if local else "students: [{name: alice, nodes: [...]}]"
    if raw is None:
        r.fail("students", "missing", f"list the students: `{example}`")
    r.typed(raw, "students", list, example)
    if not 1 <= len(raw) <= MAX_STUDENTS:
        r.fail("students", f"{len(raw)} students", f"list 1 to {MAX_STUDENTS} students (each lab needs its own "
               "subnet and node containers); split a larger class into several")
    students = []
    for i, item in enumerate(raw):
        where = f"students[{i}]"
        if isinstance(item, str) and local:
            entry = {"name": item}
        else:
            entry = r.mapping(item, where, ("name",) if local else ("name", "nodes"))
        if "name" not in entry:
            r.fail(f"{where}.name", "missing", "give every student a name")
        student = r.text(entry["name"], f"{where}.name" if isinstance(item, dict) else where, names.problem,
                         "alice", f"use {names.RULE}")
        lab = f"{klass}-{student}"
        if names.problem(lab):
            r.fail(where, f"the student's lab `{lab}` is {len(lab)} characters long; a lab is named "
                   f"<class>-<student> and may be at most {names.MAX_LENGTH}",
                   f"shorten the class name ({len(klass)}) or the student's ({len(student)}) so both, with the "
                   f"'-', fit in {names.MAX_LENGTH} characters")
        if not local and "nodes" not in entry:
            r.fail(f"{where}.nodes", "missing: provider vms needs each student's machines",
                   "list them as in a lab spec: `nodes: [{name: cp1, address: 10.0.0.10, role: control-plane}]`")
        students.append(Student(student, lab, tuple(entry.get("nodes", ()))))
    dupes = sorted(n for n, c in Counter(s.name for s in students).items() if c > 1)
    if dupes:
        r.fail("students", f"duplicate student {', '.join(dupes)}",
               "give every student their own name (each gets their own lab)")
    return tuple(students)


def _bounds(r: _Reader, raw: Any) -> nodes.Bounds:
    entry = r.mapping(raw, "resources", ("memory", "cpus"))
    memory = entry.get("memory", nodes.Bounds.memory)
    cpus = entry.get("cpus", nodes.Bounds.cpus)
    for key, value, why, example in (("memory", memory, nodes.memory_problem(memory), "memory: 1536m"),
                                     ("cpus", cpus, nodes.cpus_problem(cpus), "cpus: 1")):
        if why:
            r.fail(f"resources.{key}", why, f"set it like `{example}` (each node container's cap)")
    return nodes.Bounds(memory, float(cpus))


def _exam(r: _Reader, raw: Any) -> ExamSettings:
    from kubelab.exam import SEED_MAX

    entry = r.mapping(raw, "exam", ("seed", "tasks", "minutes"))
    values = {}
    for key, low, high in (("seed", 0, SEED_MAX), ("tasks", 1, MAX_EXAM_TASKS), ("minutes", 1, MAX_EXAM_MINUTES)):
        if key in entry:
            value = r.typed(entry[key], f"exam.{key}", int, f"{key}: {getattr(ExamSettings, key) or 7}")
            if not low <= value <= high:
                r.fail(f"exam.{key}", f"{value} is out of range", f"use a whole number from {low} to {high}")
            values[key] = value
    return ExamSettings(**values)


def _vm_lab_spec(klass: ClassSpec, student: Student, index: int) -> LabSpec:
    """The student's lab spec from the class's shared sections and the student's machines."""
    raw = {"name": student.lab, "kubernetes": klass.kubernetes, "nodes": list(student.nodes),
           "ssh": klass.ssh, "artifacts": klass.artifacts}
    try:
        return parse_spec(raw, str(klass.path))
    except SpecError as exc:
        # The lab spec's fields live in different places of the class spec.
        field = exc.field if exc.field.split(".")[0].split("[")[0] in ("ssh", "artifacts") \
            else f"students[{index}].{exc.field}"
        raise SpecError(exc.file, field, exc.problem, exc.fix) from None


def validate_vms(klass: ClassSpec) -> list[LabSpec]:
    """Every student's lab spec (provider vms), and no address shared between two students' machines."""
    specs = [klass.lab_spec(s) for s in klass.students]
    owners = Counter(node.address for spec in specs for node in spec.nodes)
    shared = sorted(address for address, count in owners.items() if count > 1)
    if shared:
        raise SpecError(str(klass.path), "students", f"address {', '.join(shared)} is given to more than one node",
                        "give every student's machines their own addresses (labs must not share a machine)")
    return specs


def class_groups(path: str | Path | None = None) -> dict[str, list]:
    """The pyinfra groups of every lab of the class ($KUBELAB_CLASS unless `path`)."""
    path = path or os.environ.get(CLASS_ENV)
    if not path:
        raise SpecError(CLASS_ENV, "(environment)", "not set: the class inventory needs a class spec",
                        f"run `{CLASS_ENV}=classes/example.yaml pyinfra inventories/class.py deploys/lab.py`")
    klass = load_class(path)
    specs = validate_vms(klass) if klass.provider == "vms" else [klass.lab_spec(s) for s in klass.students]
    return groups_from_specs(specs)



def class_result(klass: ClassSpec, exams: dict[str, dict | None], domains: list[str], graded_at: str) -> dict:
    """The class result document: each student's exam (or None when it could not be graded) summed up
    as percent per domain, in `domains` order (the curriculum's)."""
    marks = {doc["pass_mark"] for doc in exams.values() if doc}
    students = []
    for student in klass.students:
        doc = exams.get(student.name)
        by_domain = {d["name"]: d["percent"] for d in doc["domains"]} if doc else {}
        students.append({
            "student": student.name, "lab": student.lab,
            "score": doc["score"] if doc else 0, "points": doc["points"] if doc else 0,
            "percent": doc["percent"] if doc else 0.0, "passed": bool(doc and doc["passed"]),
            "domains": {name: by_domain.get(name) for name in domains}, "exam": doc})
    return {"kind": "kubelab-class-result", "version": 1, "class": klass.name, "graded_at": graded_at,
            "pass_mark": marks.pop() if len(marks) == 1 else curriculum.PASS_MARK, "domains": list(domains),
            "students": students}
