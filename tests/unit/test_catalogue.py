"""The exercise catalogue is validated like the spec, before any host is touched: every bad folder
names the file, the field and the fix. Checks and steps are found by name in the registry."""

import shutil
import sys
from pathlib import Path

import pytest
import yaml

from kubelab import catalogue
from kubelab.catalogue import EXERCISES_DIR, load_exercise
from kubelab.checks import registry
from kubelab.commands.exercise import kubectl_hint
from kubelab.errors import SpecError
from kubelab.exercises import grading_plan
from kubelab.spec import parse_spec

POD = """apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: nginx:1.27
"""

GOOD = {
    "title": "One pod",
    "domain": "Application Design and Build",
    "competency": "workloads",
    "points": 3,
    "namespaces": ["default"],
    "images": ["nginx:1.27"],
    "steps": [{"id": "kill-web", "step": "kill_container_process",
               "args": {"namespace": "default", "name": "web", "container": "web"}}],
    "checks": [
        {"id": "running", "check": "pod_is_running", "args": {"namespace": "default", "name": "web"}, "points": 1,
         "hint": "Is it there?"},
        {"id": "back", "check": "container_restarts_in_the_same_sandbox", "after": "kill-web", "points": 2,
         "hint": "What brings it back?"},
    ],
    "broken": {"wrong-name": ["running", "back"]},
}
TASK = "Run a pod `web` with one container `web` (nginx:1.27) in namespace default.\n"


def write_exercise(root: Path, data: dict = GOOD, task: str = TASK, name: str = "one-pod") -> Path:
    folder = root / name
    (folder / "solution").mkdir(parents=True)
    (folder / "broken" / "wrong-name").mkdir(parents=True)
    (folder / "exercise.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (folder / "task.md").write_text(task)
    (folder / "solution" / "pod.yaml").write_text(POD)
    (folder / "broken" / "wrong-name" / "pod.yaml").write_text(POD.replace("name: web\nspec", "name: webb\nspec"))
    return folder


def changed(path: str, value) -> dict:
    """GOOD with the field at a dotted path (list indexes as numbers) set to `value`, or removed for None."""
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target = data
    for p in parents:
        target = target[p]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return data


def test_a_good_folder_loads_with_its_checks_steps_and_broken_variants(tmp_path):
    e = load_exercise(write_exercise(tmp_path))
    assert (e.name, e.points, e.namespaces, e.lab_starts_with) == ("one-pod", 3, ("default",), "setup")
    assert [(c.id, c.after) for c in e.checks] == [("running", None), ("back", "kill-web")]
    assert e.broken == {"wrong-name": ("running", "back")}
    assert [p.name for p in e.manifests("solution")] == ["pod.yaml"] and e.manifests("setup") == []


@pytest.mark.parametrize("path, value, field, words", [
    ("checks.0.check", "pod_is_runing", "checks[0].check", "no registered check 'pod_is_runing'"),
    ("checks.0.args", {"namespace": "default"}, "checks[0].args", "missing argument 'name'"),
    ("checks.0.args", {"namespace": "default", "name": "web", "nmae": "x"}, "checks[0].args", "unknown argument 'nmae'"),
    ("steps.0.step", "kill_everything", "steps[0].step", "no registered step"),
    ("steps.0.args", {"namespace": "default", "name": "web"}, "steps[0].args", "missing argument 'container'"),
    ("images", ["nginx:1.27", "redis:7"], "images[1]", "redis:7 is not in the offline bundle"),
    ("broken", {"wrong-name": []}, "broken.wrong-name", "names no check"),
    ("broken", {"wrong-name": ["runing"]}, "broken.wrong-name[0]", "no check 'runing'"),
    ("broken", {"wrong-name": ["running"], "other": ["back"]}, "broken.other", "no manifest"),
    ("broken", {}, "broken", "broken/wrong-name is not listed"),
    ("points", 4, "points", "the checks' points add up to 3"),
    ("checks.0.points", 0, "checks[0].points", "0 points"),
    ("domain", "Design", "domain", "is not one of"),
    ("title", None, "title", "missing"),
    ("checks.0.hint", " ", "checks[0].hint", "empty"),
    ("titel", "x", "titel", "unknown field"),
    ("checks.1.after", None, "checks[1].after", "observes a step, and none is named"),
    ("checks.1.after", "kill-it", "checks[1].after", "no step 'kill-it'"),
    ("checks.1.id", "running", "checks[1].id", "used twice"),
    ("checks.0.args.name", "db", "checks[0].args.name", "'db' is graded but"),
    ("checks.0.args.namespace", "team-a", "checks[0].args.namespace", "'team-a' is graded but"),
    ("steps", [], "checks[1].after", "no step 'kill-web'"),
    ("lab_starts_with", "broken", "lab_starts_with", "is not one of"),
])
def test_a_bad_exercise_file_names_file_field_and_fix(tmp_path, path, value, field, words):
    folder = write_exercise(tmp_path, changed(path, value))
    with pytest.raises(SpecError) as err:
        load_exercise(folder)
    assert (err.value.file, err.value.field) == (str(folder / "exercise.yaml"), field)
    assert words in err.value.problem, err.value.problem
    assert err.value.fix


def test_a_step_nobody_observes_is_refused(tmp_path):
    data = changed("steps", GOOD["steps"] + [{"id": "kill-again", "step": "kill_container_process",
                                              "args": dict(GOOD["steps"][0]["args"])}])
    with pytest.raises(SpecError) as err:
        load_exercise(write_exercise(tmp_path, data))
    assert err.value.field == "steps" and "kill-again" in err.value.problem


def test_a_namespace_the_task_names_but_the_exercise_does_not_own_is_refused(tmp_path):
    data = changed("checks.0.args.namespace", "team-a")
    with pytest.raises(SpecError) as err:
        load_exercise(write_exercise(tmp_path, data, task=TASK + "Namespace team-a.\n"))
    assert err.value.field == "checks[0].args.namespace" and "not one the exercise owns" in err.value.problem


@pytest.mark.parametrize("manifest, field, words", [
    ("kind: Pod\nmetadata:\n  name: web\n", "document 1: apiVersion", "missing"),
    (POD.replace("name: web\nspec", "name: web\n  namespace: other\nspec"), "document 1: metadata.namespace",
     "'other' is not one the exercise owns"),
    (POD.replace("nginx:1.27", "busybox:1.37"), "document 1: image", "busybox:1.37 is not listed under `images`"),
])
def test_a_bad_manifest_names_its_own_file(tmp_path, manifest, field, words):
    folder = write_exercise(tmp_path)
    (folder / "solution" / "pod.yaml").write_text(manifest)
    with pytest.raises(SpecError) as err:
        load_exercise(folder)
    assert (err.value.file, err.value.field) == (str(folder / "solution" / "pod.yaml"), field)
    assert words in err.value.problem


def test_a_folder_without_a_solution_or_a_task_or_a_good_name_is_refused(tmp_path):
    folder = write_exercise(tmp_path)
    shutil.rmtree(folder / "solution")
    with pytest.raises(SpecError) as err:
        load_exercise(folder)
    assert err.value.field == "solution"
    folder = write_exercise(tmp_path, name="no-task")
    (folder / "task.md").unlink()
    with pytest.raises(SpecError) as err:
        load_exercise(folder)
    assert err.value.file == str(folder / "task.md")
    with pytest.raises(SpecError) as err:
        load_exercise(write_exercise(tmp_path, name="Bad_Name"))
    assert err.value.field == "(folder name)"


def test_every_exercise_folder_of_the_repository_loads():
    found = catalogue.catalogue()
    assert set(found) == {p.parent.name for p in EXERCISES_DIR.glob("*/exercise.yaml")}
    assert "multi-container-pods" in found
    for e in found.values():
        assert e.domain in catalogue.DOMAINS and e.points == sum(c.points for c in e.checks)


def test_the_article_starts_solved_with_its_manifest_unchanged():
    e = catalogue.exercise("multi-container-pods")
    assert e.lab_starts_with == "solution"
    assert [p.name for p in e.manifests("solution")] == ["01-nginx-with-sidecar.yaml"]
    assert {c.check for c in e.checks if c.after} == {"container_restarts_in_the_same_sandbox"}


def test_images_are_compared_as_containerd_names_them():
    assert catalogue.normalize_image("nginx:1.27") == "docker.io/library/nginx:1.27"
    assert catalogue.normalize_image("cloudnativelabs/kube-router:v2.1.0") == "docker.io/cloudnativelabs/kube-router:v2.1.0"
    assert catalogue.normalize_image("registry.k8s.io/pause:3.10.1") == "registry.k8s.io/pause:3.10.1"
    assert "docker.io/library/busybox:1.37" in catalogue.bundle_images()


# -- the registry ------------------------------------------------------------------

def test_every_module_of_the_checks_package_registers_itself():
    registry.checks()
    import kubelab.checks as package
    import pkgutil

    modules = {f"kubelab.checks.{m.name}" for m in pkgutil.iter_modules(package.__path__)}
    assert modules <= set(sys.modules)
    assert {"pod_is_running", "containers_share_the_volume", "container_restarts_in_the_same_sandbox"} <= set(
        registry.checks())
    assert "kill_container_process" in registry.steps() and "kill_container_process" not in registry.checks()


def test_a_registered_function_knows_its_required_optional_and_observed_arguments():
    restart = registry.checks()["container_restarts_in_the_same_sandbox"]
    assert restart.observes and restart.required == frozenset() and {"timeout", "interval"} <= restart.optional
    logged = registry.checks()["request_shows_in_the_log"]
    assert not logged.observes
    assert logged.problems({"namespace": "a", "name": "b", "server": "s", "reader": "r"}) == []
    assert logged.problems({}) == [f"missing argument {a!r}" for a in ("name", "namespace", "reader", "server")]
    assert "unknown argument 'before'" in logged.problems({"namespace": "a", "name": "b", "server": "s", "reader": "r",
                                                           "before": 1})[0]


def test_a_grade_reads_first_then_kills_and_each_grade_has_its_own_step_records():
    e = catalogue.exercise("multi-container-pods")
    plan = grading_plan([e])
    assert [c.id for _, c, _ in plan] == [c.id for c in e.checks if not c.after] + [
        "nginx-back-after-kill-9", "sidecar-back-after-kill-9"]
    assert [check.disruptive for _, _, check in plan] == [False] * 5 + [True] * 2
    again = grading_plan([e])
    assert plan[-1][2].run.keywords["records"] is not again[-1][2].run.keywords["records"]


def test_the_task_footer_says_how_a_sudo_user_reaches_kubectl():
    spec = parse_spec({"name": "t", "ssh": {"user": "ubuntu"},
                       "nodes": [{"name": "cp", "address": "10.0.0.1", "role": "control-plane"}]}, "lab.yaml")
    hint = kubectl_hint(spec)
    assert "ubuntu@10.0.0.1" in hint and "sudo kubectl --kubeconfig /etc/kubernetes/admin.conf" in hint
    assert spec.release.kubernetes in hint


def test_two_functions_registering_one_name_is_an_error():
    def pod_is_running(lab, namespace, name):
        return None

    with pytest.raises(registry.RegistryError) as err:
        registry.check(pod_is_running)
    assert "rename one" in str(err.value)
    assert registry.checks()["pod_is_running"].function.__module__ == "kubelab.checks.pods"


def test_an_imperative_answer_is_read_line_by_line_without_comments(tmp_path):
    folder = write_exercise(tmp_path)
    (folder / "imperative").mkdir()
    (folder / "imperative" / "commands.sh").write_text(
        "# what a candidate types\nkubectl run web --image=nginx:1.27 -n default\n\n"
        "kubectl create deployment d --image=nginx:1.27 --dry-run=client -o yaml | kubectl apply -f -\n")
    assert load_exercise(folder).imperative == (
        "kubectl run web --image=nginx:1.27 -n default",
        "kubectl create deployment d --image=nginx:1.27 --dry-run=client -o yaml | kubectl apply -f -")
    assert load_exercise(write_exercise(tmp_path / "other")).imperative == ()


@pytest.mark.parametrize("line", ["kubectl run web --image=nginx:1.27; reboot", "rm -rf /", "kubectl get pods > /x",
                                  "kubectl run $(id)", "kubectl get pods | sh", "kubectl get pods && true",
                                  "kubectl run `id`"])
def test_an_imperative_answer_may_hold_only_kubectl(tmp_path, line):
    folder = write_exercise(tmp_path)
    (folder / "imperative").mkdir()
    (folder / "imperative" / "commands.sh").write_text(f"kubectl get pods\n{line}\n")
    with pytest.raises(SpecError) as err:
        load_exercise(folder)
    assert err.value.file.endswith("imperative/commands.sh") and err.value.field == "line 2"
    assert "Fix:" in str(err.value)


PV = """apiVersion: v1
kind: PersistentVolume
metadata:
  name: static-pv
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /srv/x}
"""


def test_a_cluster_scoped_object_is_accepted_only_when_the_exercise_owns_it(tmp_path):
    folder = write_exercise(tmp_path)
    (folder / "solution" / "pv.yaml").write_text(PV)
    with pytest.raises(SpecError) as err:
        load_exercise(folder)
    assert "cluster_objects" in err.value.fix and "PersistentVolume/static-pv" in err.value.fix
    (folder / "exercise.yaml").write_text(yaml.safe_dump({**GOOD, "cluster_objects": ["PersistentVolume/static-pv"]}))
    assert load_exercise(folder).cluster_objects == (("PersistentVolume", "static-pv"),)


@pytest.mark.parametrize("ref", ["Pod/web", "PersistentVolume", "PersistentVolume/Bad_Name", 7])
def test_cluster_objects_name_a_cluster_scoped_kind_and_a_name(tmp_path, ref):
    with pytest.raises(SpecError) as err:
        load_exercise(write_exercise(tmp_path, {**GOOD, "cluster_objects": [ref]}))
    assert err.value.field == "cluster_objects[0]" and "PersistentVolume/static-pv" in err.value.fix
