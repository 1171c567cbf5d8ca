"""The classroom's pure parts: subnets, the many-lab inventory, node bounds and usage, the class result."""

import ipaddress
import json
import zlib
from pathlib import Path

import pytest
import yaml
from pyinfra.api import Inventory
from rich.console import Console

from kubelab.classroom import class_result, load_class, parse_class
from kubelab.commands.classroom import class_table
from kubelab.inventory import groups_from_spec, groups_from_specs, lab_group, lab_host
from kubelab.local import isolation, nodes
from kubelab.local.podman import PodmanError
from kubelab.spec import parse_spec

FIXTURES = Path(__file__).parents[1] / "fixtures" / "classroom"


def same_start(count: int) -> list[str]:
    """Lab names whose crc32 picks the same first subnet: the collision the old rule had."""
    seen: dict[int, list[str]] = {}
    for i in range(100000):
        name = f"lab{i}"
        group = seen.setdefault(zlib.crc32(name.encode()) % nodes.SUBNET_POOL, [])
        group.append(name)
        if len(group) == count:
            return group
    raise AssertionError("no collision found")


def test_labs_whose_names_collide_get_different_subnets():
    first, second = same_start(2)
    assert nodes.subnet_candidates(first)[0] == nodes.subnet_candidates(second)[0]
    a = nodes.choose_subnet(first, [])
    b = nodes.choose_subnet(second, [a])
    assert a != b and not a.overlaps(b)


def test_a_lab_gets_the_same_subnet_wherever_it_is_free():
    assert nodes.choose_subnet("kc-a", []) == nodes.choose_subnet("kc-a", [ipaddress.ip_network("10.88.0.0/16")])
    assert nodes.choose_subnet("kc-a", []) == nodes.subnet_candidates("kc-a")[0]


def test_subnets_allocated_one_after_another_never_collide_and_avoid_other_networks():
    used = [ipaddress.ip_network("10.88.0.0/16"), ipaddress.ip_network("10.89.0.0/20")]
    chosen = []
    for i in range(200):
        subnet = nodes.choose_subnet(f"class-s{i}", used + chosen)
        assert not any(subnet.overlaps(other) for other in used + chosen)
        chosen.append(subnet)
    assert len(set(chosen)) == 200


def test_a_full_pool_is_an_error_naming_the_fix():
    with pytest.raises(PodmanError, match="nodes down"):
        nodes.choose_subnet("kc-a", [ipaddress.ip_network("10.89.0.0/16")])


def test_bounds_become_podman_flags_with_no_swap_beyond_the_cap():
    assert nodes.Bounds("2g", 1.5).flags() == ("--memory", "2g", "--memory-swap", "2g", "--cpus", "1.5")


@pytest.mark.parametrize("value, ok", [("1536m", True), ("2G", True), ("524288k", True), ("511m", False),
                                       ("2gb", False), ("1.5g", False), (2048, False), ("", False)])
def test_memory_bounds(value, ok):
    assert (nodes.memory_problem(value) is None) is ok


def test_podman_stats_are_read_from_captured_output():
    unbounded = nodes.parse_stats((FIXTURES / "podman-stats-unbounded.json").read_text())
    exd = {u.container: u for u in unbounded}["kubelab-exd-cp1"]
    assert (exd.memory_bytes, exd.limit_bytes, exd.cpu_percent) == (1_941_000_000, 25_280_000_000, 32.33)
    bounded = nodes.parse_stats((FIXTURES / "podman-stats-bounded.json").read_text())
    assert [u.container for u in bounded] == ["kubelab-kc-a-cp1", "kubelab-kc-b-cp1", "kubelab-kc-c-cp1"]
    assert {u.limit_bytes for u in bounded} == {1_611_000_000}  # 1536m, as podman rounds it


def test_an_unreadable_size_is_an_error_not_a_wrong_figure():
    with pytest.raises(PodmanError, match="cannot read"):
        nodes.parse_stats(json.dumps([{"name": "n", "mem_usage": "12 parsecs / 1GB", "cpu_percent": "1%"}]))


def test_the_working_set_leaves_out_inactive_file_cache():
    stat = (FIXTURES / "memory.stat-v1-1node-cp").read_text()
    assert nodes.inactive_file(stat) == 590_159_872
    assert nodes.inactive_file("inactive_file 4096\nactive_file 1\n") == 4096  # cgroup v2's name


def lab(name: str, *workers: str) -> object:
    return parse_spec({"name": name, "nodes": [{"name": "cp1", "address": f"10.0.{len(name)}.10",
                                               "role": "control-plane"}]
                       + [{"name": w, "address": f"10.0.{len(name)}.{11 + i}", "role": "worker"}
                          for i, w in enumerate(workers)]})


def test_the_class_inventory_groups_hosts_per_lab_and_each_host_says_its_lab():
    a, b = lab("kc-a", "w1"), lab("kc-bb")
    groups = groups_from_specs([a, b])
    assert [name for name, _ in groups["control_plane"]] == ["kc-a.cp1", "kc-bb.cp1"]
    assert [name for name, _ in groups["workers"]] == ["kc-a.w1"]
    assert groups[lab_group("kc-a")] == ["kc-a.cp1", "kc-a.w1"] and groups["lab_kc_bb"] == ["kc-bb.cp1"]
    assert {name: data["kubelab_spec"].name for name, data in groups["control_plane"]} == \
        {"kc-a.cp1": "kc-a", "kc-bb.cp1": "kc-bb"}


def test_a_deploy_finds_the_control_plane_of_its_own_lab_among_many():
    a, b = lab("kc-a", "w1"), lab("kc-bb", "w1")
    groups = groups_from_specs([a, b])
    hosts = [h for g in ("control_plane", "workers") for h in groups[g]]
    inventory = Inventory(([name for name, _ in hosts], {}), **{g: (groups[g], {}) for g in groups})
    assert lab_host(inventory, b, "cp1").name == "kc-bb.cp1"
    assert lab_host(inventory, a, "w1").name == "kc-a.w1"
    with pytest.raises(KeyError):
        lab_host(inventory, a, "w2")


def test_one_lab_keeps_its_plain_host_names(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"name": "solo", "nodes": [
        {"name": "cp1", "address": "10.0.0.10", "role": "control-plane"},
        {"name": "w1", "address": "10.0.0.11", "role": "worker"}]}))
    groups = groups_from_spec(path)
    assert set(groups) == {"control_plane", "workers"}
    assert [n for n, _ in groups["control_plane"]] == ["cp1"] and [n for n, _ in groups["workers"]] == ["w1"]


def test_the_class_result_sums_each_students_exam_by_domain():
    exam = json.loads((FIXTURES / "exam-result-kc-a.json").read_text())
    klass = parse_class({"name": "kc", "students": ["a", "b"]})
    domains = [d["name"] for d in exam["domains"]]
    doc = class_result(klass, {"a": exam, "b": None}, domains, "2026-11-28T09:00:00Z")
    assert (doc["kind"], doc["version"], doc["class"], doc["pass_mark"]) == ("kubelab-class-result", 1, "kc", 66)
    a, b = doc["students"]
    assert (a["student"], a["lab"], a["score"], a["points"], a["passed"]) == \
        ("a", "kc-a", exam["score"], exam["points"], exam["passed"])
    assert a["domains"] == {d["name"]: d["percent"] for d in exam["domains"]} and a["exam"] is exam
    assert (b["exam"], b["passed"], b["points"]) == (None, False, 0)
    assert list(b["domains"]) == domains and set(b["domains"].values()) == {None}
    page = Console(width=200, record=True)
    page.print(class_table(doc))
    text = page.export_text()
    assert "no exam" in text and f"{exam['percent']:.1f}% fail" in text and "5: Services and Networking" in text


def test_the_example_class_renders_through_the_class_page():
    from kubelab.exam_page import render_class

    exam = json.loads((FIXTURES / "exam-result-kc-a.json").read_text())
    klass = load_class("classes/example.yaml")
    doc = class_result(klass, {"alice": exam}, [d["name"] for d in exam["domains"]], "2026-11-28T09:00:00Z")
    html = render_class(doc)
    assert "ckad-mon" in html and "alice" in html and "carol" in html


ISOLATION = (FIXTURES / "iptables-S-kubelab-isolation.txt").read_text()


def test_each_lab_drops_what_leaves_its_bridge_for_a_lab_subnet_and_new_connections_coming_in():
    out, into = isolation.lab_rules("kc-a", "podman7")
    assert out[:7] == ["-i", "podman7", "!", "-o", "podman7", "-d", isolation.LAB_SUBNETS] and out[-2:] == ["-j", "DROP"]
    assert into[:5] == ["-o", "podman7", "!", "-i", "podman7"] and "NEW" in into and "kubelab lab kc-a" in into


def test_removing_a_lab_finds_exactly_its_rules_in_captured_iptables_output():
    gone = isolation.stale(ISOLATION, "kcx2", bridge="")
    assert len(gone) == 2 and all("kubelab lab kcx2" in rule and "podman5" in rule for rule in gone)
    # As `iptables -D` takes them: the comment one argument again.
    assert gone[0] == ["-d", "10.89.0.0/16", "-i", "podman5", "!", "-o", "podman5", "-m", "comment", "--comment",
                       "kubelab lab kcx2", "-j", "DROP"]


def test_a_lab_on_a_reused_bridge_name_replaces_the_rules_left_there_and_keeps_its_own():
    assert isolation.stale(ISOLATION, "kcx1", "podman4") == []
    taken = isolation.stale(ISOLATION, "kc-new", "podman6")
    assert [r[r.index("--comment") + 1] for r in taken] == ["kubelab lab kcx3"] * 2
    moved = isolation.stale(ISOLATION, "kcx1", "podman9")
    assert len(moved) == 2 and all("podman4" in r for r in moved)
