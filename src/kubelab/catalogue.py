"""The exercise catalogue: one folder per exercise, found by glob, validated before any host is touched.

    exercises/<name>/
      exercise.yaml        title, CKAD domain and competency, points, namespaces, images,
                           steps (disruptions) and checks by registered name, broken variants
      task.md              what the candidate reads; every graded name and number appears in it
      setup/               what the lab holds before the candidate starts (may be absent)
      solution/            the reference answer
      broken/<variant>/    plausible wrong answers, each failing the checks exercise.yaml names

Adding an exercise touches its folder only; a new kind of proof adds one
registered function under kubelab/checks/. Every problem is a SpecError with
the file, the field and the fix, raised while reading, so a catalogue that
loads is one the grader can run.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from kubelab import names, versions
from kubelab.checks.registry import Registered, checks, steps
from kubelab.cluster import DEFAULT_NAMESPACE, load_manifests
from kubelab.curriculum import DOMAINS
from kubelab.errors import SpecError
from kubelab.runtime import normalize_image
from kubelab.spec import MAX_SPEC_BYTES, _load_yaml, _Reader

# Beside the code, like the deploys: the files a candidate reads are the files kubelab applies.
EXERCISES_DIR = Path(__file__).resolve().parents[2] / "exercises"
EXERCISE_FILE, TASK_FILE = "exercise.yaml", "task.md"
SETUP, SOLUTION, BROKEN = "setup", "solution", "broken"
IMPERATIVE_FILE = "imperative/commands.sh"

FIELDS = ("title", "domain", "competency", "points", "namespaces", "cluster_objects", "images", "lab_starts_with",
          "steps", "checks", "broken")
# Cluster-scoped kinds an exercise may own (listed as `Kind/name`): starting it again deletes them
# with its namespaces, so a Released PersistentVolume never outlives its claim into the next attempt.
CLUSTER_KINDS = ("PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
                 "IngressClass", "CustomResourceDefinition")
STEP_FIELDS = ("id", "step", "args")
CHECK_FIELDS = ("id", "check", "args", "points", "hint", "after")
# What the deploy and a reset apply for the exercise; `solution` only where the
# lab has always started with the answer in place (the article's pod).
STARTS = (SETUP, SOLUTION)
# Arguments that tune a poll, not what is graded: the task need not name them.
TUNING_ARGS = frozenset({"timeout", "interval"})


@dataclass(frozen=True)
class StepSpec:
    id: str
    step: str
    args: dict[str, Any]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    check: str
    args: dict[str, Any]
    points: int
    hint: str
    after: str | None = None  # the step whose effect it observes


@dataclass(frozen=True)
class Exercise:
    name: str
    folder: Path
    title: str
    domain: str
    competency: str
    points: int
    namespaces: tuple[str, ...]
    images: tuple[str, ...]
    lab_starts_with: str
    steps: tuple[StepSpec, ...]
    checks: tuple[CheckSpec, ...]
    broken: dict[str, tuple[str, ...]]
    task: str
    # The answer typed as a candidate would (kubectl only), proving graders accept more than the YAML.
    imperative: tuple[str, ...] = ()
    cluster_objects: tuple[tuple[str, str], ...] = ()  # (kind, name) of what it owns outside namespaces

    def manifests(self, part: str) -> list[Path]:
        """The manifest files of `setup`, `solution` or `broken/<variant>`, in name order."""
        return manifest_files(self.folder / part)


def manifest_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def bundle_images() -> frozenset[str]:
    """Every image the offline bundle holds and the lab's mirror serves, for any pinned release."""
    release_images = {ref for release in versions.RELEASES.values() for ref in release.images().values()}
    return frozenset(release_images | set(versions.EXERCISE_IMAGES))


def manifest_images(body: Any) -> Iterator[str]:
    """The image of every container, init container and ephemeral container, however deep (pod templates)."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(value, list):
                yield from (c["image"] for c in value if isinstance(c, dict) and isinstance(c.get("image"), str))
            else:
                yield from manifest_images(value)
    elif isinstance(body, list):
        for item in body:
            yield from manifest_images(item)


def _word_in(value: str, text: str) -> bool:
    return re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w-])", text) is not None


def _read_yaml(path: Path) -> Any:
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(file, "(file)", f"cannot be read: {exc.strerror or exc}",
                        f"every exercise folder holds an {EXERCISE_FILE}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(file, "(file)", f"larger than {MAX_SPEC_BYTES} bytes", "an exercise file is short YAML")
    try:
        return _load_yaml(data.decode("utf-8"), file)
    except UnicodeDecodeError:
        raise SpecError(file, "(file)", "not UTF-8", "save the file as UTF-8") from None


class _ExerciseReader(_Reader):
    def label(self, value: Any, where: str, example: str) -> str:
        return self.text(value, where, names.problem, example, f"use {names.RULE}")

    def words(self, value: Any, where: str, example: str) -> str:
        self.typed(value, where, str, example)
        if not value.strip():
            self.fail(where, "empty", f"write it, like `{example}`")
        return value

    def points(self, value: Any, where: str) -> int:
        self.typed(value, where, int, "points: 2")
        if value < 1:
            self.fail(where, f"{value} points", "give every check at least 1 point")
        return value

    def args(self, value: Any, where: str, registered: Registered) -> dict[str, Any]:
        args = self.keys(value, where, "namespace: default")
        problems = registered.problems(args)
        if problems:
            self.fail(where, f"{registered.name}: {problems[0]}",
                      f"give exactly the arguments {registered.name} takes: "
                      f"{', '.join(sorted(registered.required | registered.optional)) or 'none'}")
        return dict(args)

    def registered(self, value: Any, where: str, table: dict[str, Registered], what: str) -> Registered:
        self.typed(value, where, str, f"{what}: {next(iter(sorted(table)), 'name')}")
        if value not in table:
            self.fail(where, f"no registered {what} {value!r}",
                      f"use one of: {', '.join(sorted(table))}, or add a function with @{what} under kubelab/checks/")
        return table[value]


def load_exercise(folder: Path, images: frozenset[str] | None = None) -> Exercise:
    """Read and validate one exercise folder; the first problem is a SpecError naming file, field and fix."""
    folder = Path(folder)
    path = folder / EXERCISE_FILE
    r = _ExerciseReader(str(path))
    why = names.problem(folder.name)
    if why:
        r.fail("(folder name)", f"{folder.name!r}: {why}", f"rename the folder to {names.RULE}")
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        r.fail("(file)", "not a mapping", "start with `title: ...`")
    data = r.mapping(raw, "", FIELDS)
    for key in ("title", "domain", "competency", "points", "namespaces", "checks"):
        if key not in data:
            r.fail(key, "missing", f"every exercise gives {', '.join(('title', 'domain', 'competency', 'points', 'namespaces', 'checks'))}")
    title = r.words(data["title"], "title", "title: Multi-container pods")
    domain = r.choice(data["domain"], "domain", DOMAINS)
    competency = r.words(data["competency"], "competency", "competency: multi-container Pod patterns")
    namespaces = tuple(r.label(n, f"namespaces[{i}]", "- default")
                       for i, n in enumerate(r.typed(data["namespaces"], "namespaces", list, "namespaces: [default]")))
    if not namespaces:
        r.fail("namespaces", "empty", "name the namespaces the exercise owns, like `namespaces: [default]`")
    owned = []
    for i, ref in enumerate(r.typed(data.get("cluster_objects", []), "cluster_objects", list,
                                    "cluster_objects: [PersistentVolume/static-pv]")):
        kind, _, name = str(ref).partition("/")
        if kind not in CLUSTER_KINDS or names.problem(name):
            r.fail(f"cluster_objects[{i}]", f"{ref!r} is not Kind/name of a cluster-scoped kind",
                   f"write it like `PersistentVolume/static-pv`; kinds: {', '.join(CLUSTER_KINDS)}")
        owned.append((kind, name))
    declared = tuple(r.words(i, f"images[{n}]", "- nginx:1.27")
                     for n, i in enumerate(r.typed(data.get("images", []), "images", list, "images: [nginx:1.27]")))
    known = bundle_images() if images is None else images
    for n, image in enumerate(declared):
        if normalize_image(image) not in known:
            r.fail(f"images[{n}]", f"{image} is not in the offline bundle",
                   f"use one of: {', '.join(sorted(versions.EXERCISE_IMAGES))}, or add it to "
                   f"kubelab.versions.EXERCISE_IMAGES and the bundle's image builds")
    starts = r.choice(data.get("lab_starts_with", SETUP), "lab_starts_with", STARTS)

    step_table, check_table = steps(), checks()
    step_specs = []
    for i, raw_step in enumerate(r.typed(data.get("steps", []), "steps", list, "steps: [{id: kill, step: ...}]")):
        where = f"steps[{i}]"
        s = r.mapping(raw_step, where, STEP_FIELDS)
        for key in ("id", "step"):
            if key not in s:
                r.fail(f"{where}.{key}", "missing", "give every step an `id` and a registered `step`")
        registered = r.registered(s["step"], f"{where}.step", step_table, "step")
        step_specs.append(StepSpec(r.label(s["id"], f"{where}.id", "id: kill-nginx"), s["step"],
                                   r.args(s.get("args", {}), f"{where}.args", registered)))
    step_ids = [s.id for s in step_specs]
    _unique(r, step_ids, "steps")

    check_specs = []
    raw_checks = r.typed(data["checks"], "checks", list, "checks: [{id: running, check: pod_is_running, ...}]")
    if not raw_checks:
        r.fail("checks", "empty", "an exercise needs at least one check")
    for i, raw_check in enumerate(raw_checks):
        where = f"checks[{i}]"
        c = r.mapping(raw_check, where, CHECK_FIELDS)
        for key in ("id", "check", "points", "hint"):
            if key not in c:
                r.fail(f"{where}.{key}", "missing", "give every check an id, a registered check, points and a hint")
        registered = r.registered(c["check"], f"{where}.check", check_table, "check")
        after = c.get("after")
        if after is not None and after not in step_ids:
            r.fail(f"{where}.after", f"no step {after!r}", f"name one of the steps: {', '.join(step_ids) or '(none)'}")
        if registered.observes and after is None:
            r.fail(f"{where}.after", f"{registered.name} observes a step, and none is named",
                   f"add `after: <step id>` naming one of: {', '.join(step_ids) or '(add a step first)'}")
        check_specs.append(CheckSpec(r.label(c["id"], f"{where}.id", "id: pod-running"), c["check"],
                                     r.args(c.get("args", {}), f"{where}.args", registered),
                                     r.points(c["points"], f"{where}.points"),
                                     r.words(c["hint"], f"{where}.hint", "hint: which volume do both containers mount?"),
                                     after))
    check_ids = [c.id for c in check_specs]
    _unique(r, check_ids, "checks")
    for s in step_specs:
        if not any(c.after == s.id for c in check_specs):
            r.fail("steps", f"no check observes step {s.id!r}", f"add a check with `after: {s.id}`, or remove the step")
    points = r.typed(data["points"], "points", int, "points: 10")
    total = sum(c.points for c in check_specs)
    if points != total:
        r.fail("points", f"{points}, but the checks' points add up to {total}",
               f"set `points: {total}` or change the checks' points")

    broken = {}
    raw_broken = r.keys(data.get("broken", {}), "broken", "sidecar-own-volume: [shared-volume]")
    for variant, failing in raw_broken.items():
        where = f"broken.{variant}"
        r.label(variant, where, "sidecar-own-volume: [shared-volume]")
        r.typed(failing, where, list, f"{variant}: [{check_ids[0]}]")
        if not failing:
            r.fail(where, "names no check it must fail", f"list the check ids it fails, like `[{check_ids[0]}]`")
        for n, check_id in enumerate(failing):
            if check_id not in check_ids:
                r.fail(f"{where}[{n}]", f"no check {check_id!r}", f"use one of: {', '.join(check_ids)}")
        if not manifest_files(folder / BROKEN / variant):
            r.fail(where, f"no manifest in {folder / BROKEN / variant}", "put the wrong answer's YAML there")
        broken[variant] = tuple(failing)
    for extra in sorted(p.name for p in (folder / BROKEN).glob("*") if p.is_dir() and p.name not in broken):
        r.fail("broken", f"the folder {BROKEN}/{extra} is not listed", f"add `{extra}: [<check ids it fails>]`")
    if not manifest_files(folder / SOLUTION):
        r.fail(SOLUTION, f"no manifest in {folder / SOLUTION}", "put the reference answer's YAML there")

    task = _task(folder)
    exercise = Exercise(folder.name, folder, title, domain, competency, points, namespaces, declared, starts,
                        tuple(step_specs), tuple(check_specs), broken, task, _imperative(folder), tuple(owned))
    _graded_values_in_task(r, exercise)
    _manifests_fit(r, exercise)
    return exercise


# Anything but kubectl, its arguments, quotes and pipes between kubectl commands.
_NOT_KUBECTL = re.compile(r"[;&`$<>\\(){}]")


def _imperative(folder: Path) -> tuple[str, ...]:
    """The kubectl command lines of `imperative/commands.sh` ((): the exercise has no imperative answer)."""
    path = folder / IMPERATIVE_FILE
    if not path.exists():
        return ()
    r = _ExerciseReader(str(path))
    lines = []
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if _NOT_KUBECTL.search(text) or not all(p.strip().startswith("kubectl ") for p in text.split("|")):
            r.fail(f"line {n}", f"{text!r} is not a kubectl command (or kubectl commands joined by `|`)",
                   "write one kubectl command per line, as a candidate types it; no other programs, no `;`, "
                   "`&&`, `$`, redirections or subshells")
        lines.append(text)
    if not lines:
        r.fail("(file)", "no command", f"write the kubectl commands of the answer, or remove {IMPERATIVE_FILE}")
    return tuple(lines)


def _unique(r: _Reader, ids: list[str], where: str) -> None:
    seen = set()
    for i, value in enumerate(ids):
        if value in seen:
            r.fail(f"{where}[{i}].id", f"{value!r} is used twice", "give every entry its own id")
        seen.add(value)


def _task(folder: Path) -> str:
    path = folder / TASK_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), "(file)", f"cannot be read: {exc}",
                        "write the task the candidate reads there, in UTF-8") from None
    if not text.strip():
        raise SpecError(str(path), "(file)", "empty", "write the task the candidate reads")
    return text


def _graded_values_in_task(r: _Reader, exercise: Exercise) -> None:
    """Every namespace and every name or number a grader compares with is told to the candidate."""
    graded = [(f"steps[{i}].args.{k}", v) for i, s in enumerate(exercise.steps) for k, v in s.args.items()]
    graded += [(f"checks[{i}].args.{k}", v) for i, c in enumerate(exercise.checks) for k, v in c.args.items()]
    graded += [(f"namespaces[{i}]", n) for i, n in enumerate(exercise.namespaces) if n != DEFAULT_NAMESPACE]
    task = exercise.folder / TASK_FILE
    for where, value in graded:
        if where.rsplit(".", 1)[-1] in TUNING_ARGS or isinstance(value, bool) or not isinstance(value, (str, int)):
            continue
        if not _word_in(str(value), exercise.task):
            r.fail(where, f"{value!r} is graded but {task} never says it",
                   f"name {value!r} in {TASK_FILE}: a candidate cannot guess what is graded")
        if where.endswith(".namespace") and value not in exercise.namespaces:
            r.fail(where, f"namespace {value!r} is not one the exercise owns",
                   f"add it to `namespaces` ({', '.join(exercise.namespaces)})")


def _manifests_fit(r: _Reader, exercise: Exercise) -> None:
    """Every manifest loads, stays in the exercise's namespaces and uses only its declared images."""
    declared = {normalize_image(i) for i in exercise.images}
    parts = [SETUP, SOLUTION] + [f"{BROKEN}/{v}" for v in exercise.broken]
    for manifest in load_manifests(f for part in parts for f in exercise.manifests(part)):
        namespace = manifest.namespace or DEFAULT_NAMESPACE
        if (manifest.kind, manifest.name) in exercise.cluster_objects and not manifest.namespace:
            continue
        owned = manifest.kind == "Namespace" and manifest.name in exercise.namespaces
        if manifest.kind in CLUSTER_KINDS or (not owned and namespace not in exercise.namespaces):
            raise SpecError(manifest.file, f"document {manifest.document}: metadata.namespace",
                            f"{manifest.kind} {manifest.name} is cluster-scoped and not in `cluster_objects`"
                            if manifest.kind in CLUSTER_KINDS else f"{namespace!r} is not one the exercise owns",
                            f"add it to `namespaces` in {r.file} (a cluster-scoped object to `cluster_objects` as "
                            f"{manifest.kind}/{manifest.name}), or move the object")
        for image in manifest_images(manifest.body):
            if normalize_image(image) not in declared:
                raise SpecError(manifest.file, f"document {manifest.document}: image",
                                f"{image} is not listed under `images` in {r.file}",
                                f"add `- {image}` to `images` (it must be in the offline bundle)")


@functools.lru_cache(maxsize=4)
def _catalogue(root: Path) -> dict[str, Exercise]:
    return {e.name: e for e in (load_exercise(p.parent) for p in sorted(root.glob(f"*/{EXERCISE_FILE}")))}


def catalogue(root: Path = EXERCISES_DIR) -> dict[str, Exercise]:
    """Every exercise folder under `root`, by name, each validated."""
    return dict(_catalogue(Path(root).resolve()))


def exercise(name: str, root: Path = EXERCISES_DIR) -> Exercise:
    found = catalogue(root)
    if name not in found:
        raise SpecError(str(root), name, "no such exercise", f"use one of: {', '.join(sorted(found))}")
    return found[name]


def start_files(exercises: Iterable[Exercise]) -> list[Path]:
    """What the deploy and a reset apply: each exercise's setup, or its solution where the lab starts solved."""
    return [f for e in exercises for f in e.manifests(e.lab_starts_with)]
