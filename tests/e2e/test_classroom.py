"""A class of three 1-node labs, built by `kubelab class up` (one pyinfra run, in the background
while the session lab's tests run: see conftest.class_build), proven and removed.

Proves on real node containers: every lab Ready and passing the article's
checks; each lab on its own isolated network (a node of one lab cannot open
the ssh or API port of another's, even after another isolated network was
torn down, while inside a lab both answer and every lab reaches its registry
mirror); every node container capped; the class
reset; the class exam started, one student's solved, graded into the class
result document and page. `kubelab class down` removes exactly the class.
KUBELAB_TEST_CLASS names the class (default kc) for side-by-side runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException
from rich.console import Console

from kubelab import exam, paths
from kubelab.cluster import Cluster
from kubelab.local import isolation, nodes, podman
from kubelab.spec import load_spec
from lab_cli import CLASS, EXAM_TASKS, KUBELAB, STUDENTS

PROBE_SECONDS = 3


def class_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*KUBELAB, "class", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def klass(class_build):
    """The class the e2e tier started building in the background, up and checked; removed afterwards."""
    spec = class_build.spec
    try:
        up = class_build.wait()
        print(f"class up of {len(STUDENTS)} labs (in the background): {time.monotonic() - class_build.started:.1f} s")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-6000:]
        yield spec, up
    finally:
        down = class_cli("down", "--class", str(spec.path), "--yes")
        assert down.returncode == 0, down.stderr[-3000:]
        rules = podman.run(["iptables", "-w", "10", "-S", isolation.CHAIN]).stdout.decode()
        for lab in spec.labs:
            assert nodes.containers_of(lab) == [] and not podman.exists("network", nodes.LabNetwork.name_of(lab))
            assert f'"kubelab lab {lab}"' not in rules
        assert not (paths.state_dir() / "classes" / CLASS).exists()


def node_of(lab: str) -> str:
    return f"kubelab-{lab}-cp1"


def address_of(lab: str) -> str:
    return load_spec(nodes.spec_path(lab)).control_plane.address


def connects(container_args: list[str], address: str, port: int) -> bool:
    """Whether a TCP connection from inside a container to address:port opens within PROBE_SECONDS."""
    probe = ["timeout", str(PROBE_SECONDS), "bash", "-c", f"</dev/tcp/{address}/{port}"]
    return podman.podman(*container_args, *probe, check=False, timeout=60).returncode == 0


def test_every_lab_is_ready_and_passes_the_article_checks(klass):
    spec, up = klass
    # `class up` ran every lab's checks (the article's, with the checks library) after its one deploy,
    # and exits 0 only when all of them passed: its table says how many, per lab.
    assert "deploy (one pyinfra run)" in up.stdout
    for lab in spec.labs:
        counts = re.search(rf"│ {re.escape(lab)} +│ (\d+)/(\d+) ", up.stdout)
        assert counts and counts[1] == counts[2] != "0", up.stdout
    status = class_cli("status", "--class", str(spec.path), "--json")
    assert status.returncode == 0, status.stderr
    labs = json.loads(status.stdout)["labs"]
    assert [(lab["lab"], lab["ready"]) for lab in labs] == [(lab, "1/1") for lab in spec.labs]


def test_each_lab_has_its_own_isolated_subnet():
    networks = [podman.inspect("network", nodes.LabNetwork.name_of(f"{CLASS}-{s}")) for s in STUDENTS]
    subnets = [n["subnets"][0]["subnet"] for n in networks]
    assert len(set(subnets)) == len(STUDENTS), subnets
    assert all(n["options"].get("isolate") == "true" for n in networks)


def probe_container(network: str, image: str) -> list[str]:
    """`podman run` arguments for a throwaway container on `network` (runc and the limits it needs here)."""
    return ["--runtime", podman.RUNTIME, "run", "--rm", "--network", network,
            "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096", image]


def test_a_lab_cannot_reach_another_lab_but_reaches_itself_and_its_mirror(klass):
    spec, _ = klass
    a, b, c = spec.labs
    image = podman.inspect("container", node_of(a))["Image"]
    # netavark 1.4 drops the jump its `isolate` option relies on whenever an isolated network is torn down:
    # do that first, so what is proven is kubelab's own isolation, as it stands after any lab goes away.
    gone = f"kubelab-{CLASS}-gone"
    podman.podman("network", "create", "--opt", "isolate=true", gone)
    try:
        podman.podman(*probe_container(gone, image), "true")
    finally:
        podman.podman("network", "rm", "--force", gone)
    for source, target in ((a, b), (b, c), (c, a)):
        for port in (22, 6443):
            assert not connects(["exec", node_of(source)], address_of(target), port), \
                f"{source} reached {target}:{port}"
    # Inside lab a: another container on its network reaches the node's ssh and API ports, and not lab b's.
    inside_a = probe_container(nodes.LabNetwork.name_of(a), image)
    assert connects(inside_a, address_of(a), 22) and connects(inside_a, address_of(a), 6443)
    assert not connects(inside_a, address_of(b), 22)
    for lab in spec.labs:
        mirror = nodes.LabNetwork.of(lab).gateway
        assert connects(["exec", node_of(lab)], mirror, 5000), f"{lab} cannot reach its registry mirror"


def test_every_node_container_is_capped_and_status_shows_its_memory(klass):
    spec, _ = klass
    status = json.loads(class_cli("status", "--class", str(spec.path), "--json").stdout)
    for lab in status["labs"]:
        host = podman.inspect("container", node_of(lab["lab"]))["HostConfig"]
        assert (host["Memory"], host["NanoCpus"]) == (1536 << 20, 10**9)
        (node,) = lab["nodes"]
        assert node["node"] == "cp1" and 0 < node["working_set_bytes"] <= node["memory_bytes"]
        print(f"{lab['lab']}: working set {node['working_set_bytes'] / 2**20:.0f} MiB, "
              f"podman {node['memory_bytes'] / 2**20:.0f} MiB of {node['limit_bytes'] / 2**20:.0f} MiB")


def test_class_reset_removes_what_a_student_made_in_every_lab(klass):
    spec, _ = klass
    made = []
    for lab in spec.labs:
        api = k8s_client.CoreV1Api(Cluster.for_lab(load_spec(nodes.spec_path(lab))).api_client)
        api.create_namespaced_config_map("default", {"metadata": {"name": "student-work"}, "data": {"x": lab}})
        made.append(api)
    started = time.monotonic()
    reset = class_cli("reset", "--class", str(spec.path), "--yes")
    print(f"class reset of {len(spec.labs)} labs: {time.monotonic() - started:.1f} s")
    assert reset.returncode == 0, reset.stdout[-3000:] + reset.stderr[-3000:]
    for api in made:
        with pytest.raises(ApiException) as gone:
            api.read_namespaced_config_map("student-work", "default")
        assert gone.value.status == 404


def test_class_exam_grades_every_student_into_the_class_document(klass, tmp_path):
    spec, _ = klass
    start = class_cli("exam", "start", "--class", str(spec.path), "--yes")
    assert start.returncode == 0, start.stderr[-3000:]
    exam.solve(load_spec(nodes.spec_path(spec.labs[0])), Console(stderr=True))
    page = tmp_path / "class.html"
    grade = class_cli("exam", "grade", "--class", str(spec.path), "--json", "--html", str(page))
    doc = json.loads(grade.stdout)
    assert grade.returncode == 1  # not every student passed
    assert (doc["kind"], doc["class"], len(doc["domains"])) == ("kubelab-class-result", CLASS, 5)
    solved, *others = doc["students"]
    assert (solved["student"], solved["passed"], solved["score"]) == ("a", True, solved["points"])
    assert all(not s["passed"] and s["exam"]["seed"] == 7 and len(s["exam"]["tasks"]) == EXAM_TASKS
               for s in others)
    assert [t["exercise"] for t in solved["exam"]["tasks"]] == [t["exercise"] for t in others[0]["exam"]["tasks"]]
    html = page.read_text()
    assert CLASS in html and all(f">{s}<" in html for s in STUDENTS)
