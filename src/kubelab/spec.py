"""The lab spec: one declarative description of a lab, validated before any host is touched.

A spec is YAML (`kubelab nodes up` writes one for the local lab; VM labs keep
one beside their inventory). Every problem is reported as a SpecError naming
the file, the field and the fix, and nothing is contacted until the whole spec
is valid.
"""

from __future__ import annotations

import difflib
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubelab import versions
from kubelab.errors import SpecError

ROLES = ("control-plane", "worker")
SOURCES = ("bundle", "upstream")


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    role: str


@dataclass(frozen=True)
class SSH:
    user: str = "root"
    port: int = 22
    key: str | None = None
    known_hosts: str | None = None
    # Host keys are verified unless a user explicitly opts out.
    strict_host_key_checking: bool = True


@dataclass(frozen=True)
class LabSpec:
    name: str
    kubernetes: str
    source: str
    bundle: Path | None
    nodes: tuple[Node, ...]
    ssh: SSH
    registry_mirrors: dict[str, str] = field(default_factory=dict)
    pod_subnet: str = "10.244.0.0/16"
    service_subnet: str = "10.96.0.0/12"
    kubelet: dict[str, Any] = field(default_factory=dict)
    # "auto" detects per node whether negative oom_score_adj is allowed.
    restrict_oom_score_adj: str | bool = "auto"
    exercises: tuple[str, ...] = ("multi-container-pods",)
    path: Path | None = None

    @property
    def release(self) -> versions.Release:
        return versions.release(self.kubernetes)

    @property
    def control_plane(self) -> Node:
        return next(n for n in self.nodes if n.role == "control-plane")

    @property
    def workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.role == "worker")

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


class _Reader:
    """Walks the raw YAML, naming each field by its path for error messages."""

    def __init__(self, file: str):
        self.file = file

    def fail(self, field: str, problem: str, fix: str) -> None:
        raise SpecError(self.file, field, problem, fix)

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping, got {type(value).__name__}",
                      f"write it as `key: value` pairs with keys from: {', '.join(allowed)}")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean `{close[0]}`?" if close else f"known fields: {', '.join(allowed)}"
                self.fail(_join(where, key), "unknown field", f"remove it or correct the name ({hint})")
        return value

    def typed(self, value: Any, where: str, kind: type | tuple[type, ...], example: str) -> Any:
        # bool is an int in Python; a port of `true` is still a mistake.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(where, f"expected {_kind_name(kind)}, got {type(value).__name__} {value!r}",
                      f"set it like `{example}`")
        return value

    def choice(self, value: Any, where: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            self.fail(where, f"{value!r} is not one of {', '.join(choices)}",
                      f"use one of: {', '.join(choices)}")
        return value

    def cidr(self, value: Any, where: str) -> str:
        self.typed(value, where, str, f"{where.split('.')[-1]}: 10.244.0.0/16")
        try:
            ipaddress.ip_network(value)
        except ValueError as exc:
            self.fail(where, f"not a network: {exc}", "use CIDR notation such as 10.244.0.0/16")
        return value


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "a mapping"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


TOP_FIELDS = ("name", "kubernetes", "artifacts", "nodes", "ssh", "registry_mirrors", "networking",
              "kubelet", "containerd", "exercises", "provider")


def parse_spec(raw: Any, file: str = "<spec>") -> LabSpec:
    """Validate raw spec data (as loaded from YAML) into a LabSpec."""
    r = _Reader(file)
    data = r.mapping(raw, "", TOP_FIELDS)
    name = r.typed(data.get("name", "lab"), "name", str, "name: classroom-a")

    minor = str(data.get("kubernetes", versions.DEFAULT_MINOR))
    if minor not in versions.RELEASES:
        r.fail("kubernetes", f"version {minor!r} is not in the version table",
               f"use one of {', '.join(sorted(versions.RELEASES))} (a Kubernetes minor, quoted: kubernetes: \"{versions.DEFAULT_MINOR}\")")

    arts = r.mapping(data.get("artifacts", {"source": "upstream"}), "artifacts", ("source", "bundle"))
    source = r.choice(arts.get("source", "upstream"), "artifacts.source", SOURCES)
    bundle = None
    if source == "bundle":
        if "bundle" not in arts:
            r.fail("artifacts.bundle", "source is bundle but no bundle directory is given",
                   "set artifacts.bundle to the directory `kubelab bundle build` printed")
        bundle = Path(r.typed(arts["bundle"], "artifacts.bundle", str, "bundle: /path/to/bundle")).expanduser()

    nodes = _nodes(r, data.get("nodes"))
    ssh = _ssh(r, data.get("ssh", {}))

    mirrors = r.mapping(data.get("registry_mirrors", {}), "registry_mirrors",
                        tuple(data.get("registry_mirrors", {}) or ()))
    for host, url in mirrors.items():
        where = f"registry_mirrors.{host}"
        r.typed(url, where, str, f"{host}: http://10.89.0.1:5000")
        if not url.startswith(("http://", "https://")):
            r.fail(where, f"{url!r} has no scheme", f"write it as http://{url} or https://{url}")

    net = r.mapping(data.get("networking", {}), "networking", ("pod_subnet", "service_subnet"))
    pod_subnet = r.cidr(net.get("pod_subnet", LabSpec.pod_subnet), "networking.pod_subnet")
    service_subnet = r.cidr(net.get("service_subnet", LabSpec.service_subnet), "networking.service_subnet")

    kubelet = r.typed(data.get("kubelet", {}), "kubelet", dict, "kubelet: {maxPods: 50}")
    containerd = r.mapping(data.get("containerd", {}), "containerd", ("restrict_oom_score_adj",))
    restrict = containerd.get("restrict_oom_score_adj", "auto")
    if restrict != "auto":
        r.typed(restrict, "containerd.restrict_oom_score_adj", bool, "restrict_oom_score_adj: auto")

    exercises = r.typed(data.get("exercises", list(LabSpec.exercises)), "exercises", list,
                        "exercises: [multi-container-pods]")
    for i, ex in enumerate(exercises):
        r.typed(ex, f"exercises[{i}]", str, "- multi-container-pods")
    r.mapping(data.get("provider", {}), "provider", ("kind", "network"))

    return LabSpec(
        name=name, kubernetes=minor, source=source, bundle=bundle, nodes=nodes, ssh=ssh,
        registry_mirrors=dict(mirrors), pod_subnet=pod_subnet, service_subnet=service_subnet,
        kubelet=dict(kubelet), restrict_oom_score_adj=restrict, exercises=tuple(exercises),
        path=Path(file) if file != "<spec>" else None,
    )


def _nodes(r: _Reader, raw: Any) -> tuple[Node, ...]:
    if raw is None:
        r.fail("nodes", "missing", "list the nodes: `nodes: [{name: cp1, address: 10.0.0.10, role: control-plane}]`")
    r.typed(raw, "nodes", list, "nodes: [{name: cp1, address: 10.0.0.10, role: control-plane}]")
    nodes = []
    for i, item in enumerate(raw):
        where = f"nodes[{i}]"
        entry = r.mapping(item, where, ("name", "address", "role"))
        for key in ("name", "address", "role"):
            if key not in entry:
                r.fail(f"{where}.{key}", "missing", f"give every node a {key}"
                       + (f" ({' or '.join(ROLES)})" if key == "role" else ""))
            r.typed(entry[key], f"{where}.{key}", str, f"{key}: ...")
        r.choice(entry["role"], f"{where}.role", ROLES)
        nodes.append(Node(entry["name"], entry["address"], entry["role"]))
    for attr in ("name", "address"):
        seen = [getattr(n, attr) for n in nodes]
        dupes = sorted({v for v in seen if seen.count(v) > 1})
        if dupes:
            r.fail("nodes", f"duplicate node {attr} {', '.join(dupes)}", f"give every node its own {attr}")
    cps = [n for n in nodes if n.role == "control-plane"]
    if len(cps) != 1:
        r.fail("nodes", f"{len(cps)} nodes have role control-plane",
               "mark exactly one node `role: control-plane` (multi-control-plane labs are not supported yet)")
    return tuple(nodes)


def _ssh(r: _Reader, raw: Any) -> SSH:
    entry = r.mapping(raw, "ssh", ("user", "port", "key", "known_hosts", "strict_host_key_checking"))
    kwargs: dict[str, Any] = {}
    for key, kind, example in (("user", str, "user: root"), ("port", int, "port: 22"),
                               ("key", str, "key: ~/.ssh/id_ed25519"),
                               ("known_hosts", str, "known_hosts: ~/.ssh/known_hosts"),
                               ("strict_host_key_checking", bool, "strict_host_key_checking: true")):
        if key in entry:
            kwargs[key] = r.typed(entry[key], f"ssh.{key}", kind, example)
    for key in ("key", "known_hosts"):
        if key in kwargs:
            path = Path(kwargs[key]).expanduser()
            if not path.is_file():
                r.fail(f"ssh.{key}", f"file {path} cannot be read", "point it at an existing file")
            kwargs[key] = str(path)
    return SSH(**kwargs)


def load_spec(path: str | Path) -> LabSpec:
    """Read and validate a spec file; a missing or malformed file is a SpecError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(str(path), "(file)", f"cannot be read: {exc.strerror}",
                        "check the path; for the local lab run `kubelab nodes up` first") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise SpecError(str(path), where, f"invalid YAML: {getattr(exc, 'problem', exc)}",
                        "fix the YAML syntax at that line") from None
    return parse_spec(raw, str(path))
