"""The lab spec: one declarative description of a lab, validated before any host is touched.

A spec is YAML (`kubelab nodes up` writes one for the local lab; VM labs keep
one beside their inventory; `kubelab validate` checks one). Every problem is
reported as a SpecError naming the file, the field and the fix, and nothing is
contacted until the whole spec is valid. No input may end in a traceback:
the file's size, its encoding, the YAML's depth and number of values, the
node count and the kubelet overrides are all bounded before anything walks
them.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import reprlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import yaml

from kubelab import names, versions
from kubelab.errors import SpecError

ROLES = ("control-plane", "worker")
SOURCES = ("bundle", "upstream")

# A spec is a short hand-written file; the cap keeps a wrong path (an image,
# a log) from being read and parsed at all.
MAX_SPEC_BYTES = 1 << 20
# YAML values a spec may hold, and how deep they may nest: far above a
# 64-node spec with a full set of kubelet overrides (a few hundred values,
# ten levels), yet parsing stops within a fraction of a second and never
# recurses deep enough to raise RecursionError.
MAX_YAML_VALUES = 5000
MAX_YAML_DEPTH = 20
# A practice lab is a handful of nodes; 64 is far above any classroom cluster,
# yet a generated or pasted list cannot make one deploy open thousands of SSH
# sessions and podman containers.
MAX_NODES = 64
# The deepest KubeletConfiguration field (logging.options.json.infoBufferSize)
# is four levels down; a few hundred settings is more than the type has.
MAX_KUBELET_DEPTH = 8
MAX_KUBELET_VALUES = 500

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# The user reaches ssh and sudo on every node: the portable POSIX user name
# characters only, never starting with '-' (which ssh would read as an option).
_SSH_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
# A mirror URL is written into TOML strings on the nodes and fetched by
# download commands: only characters that need quoting nowhere.
_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/\[\]%-]*")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_NAME_RULE = f"use {names.RULE}"
_URL_RULE = "write an http or https URL with a host and nothing else"

_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 80


def _show(value: Any) -> str:
    """A short repr for messages: a value may be a megabyte string or nested a thousand deep."""
    return _SHOW.repr(value)


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
    # A site laid out like the upstream download hosts (<mirror>/dl.k8s.io/...,
    # <mirror>/github.com/...) to fetch the release files from instead.
    download_mirror: str | None = None
    # Upstream file name -> sha256, adding to or replacing the published checksums for this lab.
    sha256: dict[str, str] = field(default_factory=dict)
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

    def fail(self, field: str, problem: str, fix: str) -> NoReturn:
        raise SpecError(self.file, field, problem, fix)

    def keys(self, value: Any, where: str, example: str) -> dict:
        """`value` when it is a mapping with string keys."""
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping, got {type(value).__name__} {_show(value)}",
                      f"write it as `key: value` pairs, like `{example}`")
        for key in value:
            if not isinstance(key, str):
                self.fail(where or "(file)", f"the key {_show(key)} is {_kind_name(type(key))}, not a string",
                          "write every key as a string (quote it if YAML reads it as a number or date)")
        return value

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...]) -> dict:
        self.keys(value, where, f"{allowed[0]}: ...")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean `{close[0]}`?" if close else f"known fields: {', '.join(allowed)}"
                self.fail(_join(where, key), "unknown field", f"remove it or correct the name ({hint})")
        return value

    def typed(self, value: Any, where: str, kind: type | tuple[type, ...], example: str) -> Any:
        # bool is an int in Python; a port of `true` is still a mistake.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(where, f"expected {_kind_name(kind)}, got {type(value).__name__} {_show(value)}",
                      f"set it like `{example}`")
        return value

    def choice(self, value: Any, where: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            self.fail(where, f"{_show(value)} is not one of {', '.join(choices)}",
                      f"use one of: {', '.join(choices)}")
        return value

    def text(self, value: Any, where: str, problem: Callable[[str], str | None], example: str, rule: str) -> str:
        """A string in which `problem` finds nothing wrong."""
        self.typed(value, where, str, example)
        why = problem(value)
        if why:
            self.fail(where, why, f"{rule}, like `{example}`")
        return value

    def path(self, value: Any, where: str, example: str) -> Path:
        self.typed(value, where, str, example)
        if not value or _CONTROL.search(value):
            self.fail(where, f"{_show(value)} is empty or holds a control character", f"set it like `{example}`")
        try:
            return Path(value).expanduser()
        except RuntimeError:
            self.fail(where, f"{_show(value)} names a user whose home directory is unknown",
                      "write the full path")

    def cidr(self, value: Any, where: str) -> str:
        self.typed(value, where, str, f"{where.split('.')[-1]}: 10.244.0.0/16")
        try:
            ipaddress.ip_network(value)
        except ValueError as exc:
            self.fail(where, f"not a network: {_show(str(exc))}", "use CIDR notation such as 10.244.0.0/16")
        return value


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "a mapping"}
    return " or ".join(words.get(k, f"a {k.__name__}") for k in kinds)


def _port_problem(port: Any) -> str | None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        return f"port {_show(port)} is not a whole number from 1 to 65535"
    return None


def _host_problem(host: str) -> str | None:
    """Why `host` is neither an IP address nor an RFC 1123 hostname, or None."""
    if not host:
        return "empty"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        # A zone (fe80::1%eth0) is meaningless to kubeadm, and '%' reaches commands.
        return f"{_show(host)} has an IPv6 zone" if getattr(ip, "scope_id", None) else None
    if len(host) > 253:
        return f"a hostname of {len(host)} characters (at most 253)"
    labels = host.split(".")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return (f"{_show(host)} is neither an IP address nor a hostname (dot-separated labels of letters, "
                "digits and '-', each 1-63 long, not starting or ending with '-')")
    # An all-digit last label makes it a mistyped IPv4 address, not a name (RFC 3696 section 2).
    if labels[-1].isdigit():
        return f"{_show(host)} is not a valid IP address"
    return None


def _user_problem(user: str) -> str | None:
    return None if _SSH_USER.fullmatch(user) else f"{_show(user)} is not a user name"


def _host_port_problem(text: str) -> str | None:
    """Why `text` is not `host[:port]` (an IPv6 host in brackets), or None."""
    bracketed = re.fullmatch(r"\[(?P<host>[^\]]*)\](?::(?P<port>.*))?", text)
    match = bracketed or re.fullmatch(r"(?P<host>[^:]*)(?::(?P<port>.*))?", text)
    if not match:
        return f"{_show(text)} is not host[:port] (write an IPv6 address in brackets: [fd00::1]:5000)"
    host, port = match["host"], match["port"]
    why = _host_problem(host)
    if why is None and bracketed and ":" not in host:
        why = f"{_show(host)} is in brackets but is not an IPv6 address"
    if why is None and port is not None:
        why = _port_problem(int(port) if re.fullmatch(r"[0-9]{1,5}", port) else port)
    return why


def _url_problem(url: str) -> str | None:
    """Why `url` is not a plain http(s) URL (host, optional port and path), or None."""
    if any(c.isspace() for c in url) or _CONTROL.search(url):
        return f"{_show(url)} holds whitespace or a control character"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket
        return f"{_show(url)} is not a URL: {exc}"
    if not parts.scheme or "://" not in url:
        return f"{_show(url)} has no scheme"
    if parts.scheme not in ("http", "https"):
        return f"the scheme {_show(parts.scheme)} is not http or https"
    if "@" in parts.netloc:
        return "it holds a user name or password (credentials do not belong in a spec)"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "it has a query or fragment"
    if not parts.netloc:
        return f"{_show(url)} has no host"
    bad = _URL_CHARS.sub("", url)
    if bad:
        return f"{_show(url)} holds {bad[0]!r}; only letters, digits and - . _ ~ : / [ ] % may appear"
    return _host_port_problem(parts.netloc)


TOP_FIELDS = ("name", "kubernetes", "artifacts", "nodes", "ssh", "registry_mirrors", "networking",
              "kubelet", "containerd", "exercises", "provider")


def parse_spec(raw: Any, file: str = "<spec>") -> LabSpec:
    """Validate raw spec data (as loaded from YAML) into a LabSpec."""
    r = _Reader(file)
    if not isinstance(raw, dict):
        what = "empty" if raw is None else f"{_kind_name(type(raw))}, not a mapping"
        r.fail("(file)", f"the spec is {what}",
               "write the spec as `key: value` pairs, starting with `name: classroom-a`")
    data = r.mapping(raw, "", TOP_FIELDS)
    if "name" not in data:
        r.fail("name", "missing: every lab has its own name",
               f"add `name: classroom-a` (the name must be {names.RULE})")
    name = r.text(data["name"], "name", names.problem, "name: classroom-a", _NAME_RULE)

    minor = data.get("kubernetes", versions.DEFAULT_MINOR)
    # Unquoted, YAML reads 1.35 as a number; accept it, but nothing that is not a version.
    if isinstance(minor, bool) or not isinstance(minor, (str, int, float)) or str(minor) not in versions.RELEASES:
        r.fail("kubernetes", f"version {_show(minor)} is not in the version table",
               f"use one of {', '.join(sorted(versions.RELEASES))} (a Kubernetes minor, quoted: kubernetes: \"{versions.DEFAULT_MINOR}\")")
    minor = str(minor)

    source, bundle, download_mirror, sha256 = _artifacts(r, data.get("artifacts", {}), versions.RELEASES[minor])
    nodes = _nodes(r, data.get("nodes"))
    ssh = _ssh(r, data.get("ssh", {}))

    mirrors = r.keys(data.get("registry_mirrors", {}), "registry_mirrors", "docker.io: http://10.89.0.1:5000")
    for host, url in mirrors.items():
        # The key becomes the directory /etc/containerd/certs.d/<key> on every node.
        r.text(host, f"registry_mirrors.{host}", _host_port_problem, "registry.local:5000: http://10.89.0.1:5000",
               "name the registry as host[:port]")
        r.text(url, f"registry_mirrors.{host}", _url_problem, f"{host}: http://10.89.0.1:5000", _URL_RULE)

    net = r.mapping(data.get("networking", {}), "networking", ("pod_subnet", "service_subnet"))
    pod_subnet = r.cidr(net.get("pod_subnet", LabSpec.pod_subnet), "networking.pod_subnet")
    service_subnet = r.cidr(net.get("service_subnet", LabSpec.service_subnet), "networking.service_subnet")
    pods, services = ipaddress.ip_network(pod_subnet), ipaddress.ip_network(service_subnet)
    if pods.version == services.version and pods.overlaps(services):
        r.fail("networking.service_subnet", f"{service_subnet} overlaps pod_subnet {pod_subnet}",
               "give pods and services separate ranges, like 10.244.0.0/16 and 10.96.0.0/12")

    kubelet = _kubelet(r, data.get("kubelet", {}))
    containerd = r.mapping(data.get("containerd", {}), "containerd", ("restrict_oom_score_adj",))
    restrict = containerd.get("restrict_oom_score_adj", "auto")
    if restrict != "auto":
        r.typed(restrict, "containerd.restrict_oom_score_adj", bool, "restrict_oom_score_adj: auto")

    exercises = r.typed(data.get("exercises", list(LabSpec.exercises)), "exercises", list,
                        "exercises: [multi-container-pods]")
    for i, ex in enumerate(exercises):
        r.typed(ex, f"exercises[{i}]", str, "- multi-container-pods")
    provider = r.mapping(data.get("provider", {}), "provider", ("kind", "network"))
    for key, value in provider.items():
        r.typed(value, f"provider.{key}", str, f"{key}: podman")

    return LabSpec(
        name=name, kubernetes=minor, source=source, bundle=bundle, nodes=nodes, ssh=ssh,
        download_mirror=download_mirror, sha256=sha256,
        registry_mirrors=dict(mirrors), pod_subnet=pod_subnet, service_subnet=service_subnet,
        kubelet=kubelet, restrict_oom_score_adj=restrict, exercises=tuple(exercises),
        path=Path(file) if file != "<spec>" else None,
    )


def _artifacts(r: _Reader, raw: Any, release: versions.Release) -> tuple[str, Path | None, str | None, dict]:
    arts = r.mapping(raw, "artifacts", ("source", "bundle", "download_mirror", "sha256"))
    source = r.choice(arts.get("source", "upstream"), "artifacts.source", SOURCES)
    bundle = None
    if source == "bundle":
        if "bundle" not in arts:
            r.fail("artifacts.bundle", "source is bundle but no bundle directory is given",
                   "set artifacts.bundle to the directory `kubelab bundle build` printed")
        bundle = r.path(arts["bundle"], "artifacts.bundle", "bundle: /path/to/bundle")
    mirror = arts.get("download_mirror")
    if mirror is not None:
        if source != "upstream":
            r.fail("artifacts.download_mirror", "a download mirror stands in for the upstream hosts, "
                   "but source is bundle", "remove download_mirror, or set `source: upstream`")
        r.text(mirror, "artifacts.download_mirror", _url_problem, "download_mirror: http://10.89.0.1:8080",
               _URL_RULE)
    if "sha256" in arts and source != "upstream":
        r.fail("artifacts.sha256", "pins apply to downloads, but source is bundle (the bundle's manifest has the "
               "sums)", "remove sha256, or set `source: upstream`")
    sums = r.keys(arts.get("sha256", {}), "artifacts.sha256", "kubeadm: <64 hex digits>")
    known = sorted(a.filename for a in release.artifacts())
    for filename, digest in sums.items():
        where = f"artifacts.sha256.{filename}"
        if filename not in known:
            r.fail(where, f"Kubernetes {release.kubernetes} has no file named {_show(filename)}",
                   f"use one of: {', '.join(known)}")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            r.fail(where, f"{_show(digest)} is not a sha256 (64 hexadecimal digits)",
                   f"paste the digest `sha256sum {filename}` prints, quoted")
    return source, bundle, mirror, {f: d.lower() for f, d in sums.items()}


def _nodes(r: _Reader, raw: Any) -> tuple[Node, ...]:
    example = "nodes: [{name: cp1, address: 10.0.0.10, role: control-plane}]"
    if raw is None:
        r.fail("nodes", "missing", f"list the nodes: `{example}`")
    r.typed(raw, "nodes", list, example)
    if len(raw) > MAX_NODES:
        r.fail("nodes", f"{len(raw)} nodes (at most {MAX_NODES})", "a practice lab needs a handful of nodes; "
               "split a larger one into several labs")
    nodes = []
    for i, item in enumerate(raw):
        where = f"nodes[{i}]"
        entry = r.mapping(item, where, ("name", "address", "role"))
        for key in ("name", "address", "role"):
            if key not in entry:
                r.fail(f"{where}.{key}", "missing", f"give every node a {key}"
                       + (f" ({' or '.join(ROLES)})" if key == "role" else ""))
        r.text(entry["name"], f"{where}.name", names.problem, "name: cp1", _NAME_RULE)
        r.text(entry["address"], f"{where}.address", _host_problem, "address: 10.0.0.10",
               "use an IP address or a hostname")
        r.choice(entry["role"], f"{where}.role", ROLES)
        nodes.append(Node(entry["name"], entry["address"], entry["role"]))
    for attr in ("name", "address"):
        counts = Counter(getattr(n, attr) for n in nodes)
        dupes = sorted(v for v, count in counts.items() if count > 1)
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
    if "user" in entry:
        kwargs["user"] = r.text(entry["user"], "ssh.user", _user_problem, "user: root",
                                "use at most 32 letters, digits, '_', '.' or '-', starting with a letter or '_'")
    if "port" in entry:
        port = r.typed(entry["port"], "ssh.port", int, "port: 22")
        why = _port_problem(port)
        if why:
            r.fail("ssh.port", why, "set it like `port: 22`")
        kwargs["port"] = port
    if "strict_host_key_checking" in entry:
        kwargs["strict_host_key_checking"] = r.typed(
            entry["strict_host_key_checking"], "ssh.strict_host_key_checking", bool, "strict_host_key_checking: true")
    for key, example in (("key", "key: ~/.ssh/id_ed25519"), ("known_hosts", "known_hosts: ~/.ssh/known_hosts")):
        if key in entry:
            path = r.path(entry[key], f"ssh.{key}", example)
            try:
                readable = path.is_file()
            except OSError:  # too long a name, or a directory that may not be searched
                readable = False
            if not readable:
                r.fail(f"ssh.{key}", f"file {path} cannot be read", "point it at an existing file")
            kwargs[key] = str(path)
    return SSH(**kwargs)


def _kubelet_guards() -> tuple[tuple[tuple[str, ...], Any, str], ...]:
    """(path, the only value an override may set, what any other value would do)."""
    # configs imports this module for LabSpec, so it is read once parsing runs.
    from kubelab import configs

    return (
        (("authentication", "anonymous", "enabled"), False,
         "would let anyone who reaches port 10250 use the kubelet API, exec into pods included"),
        (("authentication", "webhook", "enabled"), True,
         "would stop the kubelet from checking bearer tokens with the API server"),
        (("authorization", "mode"), "Webhook",
         "would let the kubelet serve requests the API server has not authorized"),
        (("readOnlyPort",), 0, "would open the kubelet's unauthenticated read-only port"),
        (("cgroupDriver",), configs.CGROUP_DRIVER,
         f"differs from containerd's {configs.CGROUP_DRIVER} driver; pods fail to start when the two disagree"),
    )


def _kubelet(r: _Reader, raw: Any) -> dict[str, Any]:
    """The KubeletConfiguration overrides: plain, bounded YAML that leaves kubelab's safety settings alone."""
    r.keys(raw, "kubelet", "kubelet: {maxPods: 50}")
    pending, count = [("kubelet", raw, 1)], 0
    while pending:
        where, value, depth = pending.pop()
        if depth > MAX_KUBELET_DEPTH:
            r.fail(where, f"nested deeper than {MAX_KUBELET_DEPTH} levels",
                   "write the KubeletConfiguration fields as documented; none nests this deep")
        if isinstance(value, dict):
            children = [(_join(where, k), v, depth + 1) for k, v in r.keys(value, where, "field: value").items()]
        elif isinstance(value, list):
            children = [(f"{where}[{i}]", v, depth + 1) for i, v in enumerate(value)]
        elif value is None or isinstance(value, (str, int, float)):
            children = []
        else:
            r.fail(where, f"{type(value).__name__} {_show(value)} is not a value a KubeletConfiguration holds",
                   "quote it to make it a string")
        count += len(children)
        if count > MAX_KUBELET_VALUES:
            r.fail("kubelet", f"more than {MAX_KUBELET_VALUES} values",
                   "set only the KubeletConfiguration fields the lab needs")
        pending.extend(children)
    for path, safe, harm in _kubelet_guards():
        value: Any = raw
        for depth, key in enumerate(path, 1):
            where = "kubelet." + ".".join(path[:depth])
            if key not in value:
                break
            value = value[key]
            if depth < len(path) and not isinstance(value, dict):
                r.fail(where, f"expected a mapping, got {type(value).__name__} {_show(value)}",
                       "write it as the KubeletConfiguration documents it, or remove it")
        else:
            if type(value) is not type(safe) or value != safe:
                r.fail(where, f"{_show(value)} {harm}",
                       f"remove `{where}` (kubelab keeps it {yaml.safe_dump(safe).splitlines()[0]})")
    return dict(raw)


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader that refuses what no spec needs and later code could not survive.

    Aliases are refused: a spec is short enough to write out, and an alias bomb
    (a few lines expanding to billions of values) would otherwise reach every
    walk and dump of the data. Depth and the number of values are bounded
    while composing, before anything recurses, and a key given twice is an
    error rather than a silent last-one-wins. Each refusal names the field by
    its path.
    """

    def __init__(self, text: str, file: str):
        self.file = file
        self.steps: list[str | int] = []
        self.values = self.depth = 0
        super().__init__(text)

    def refuse(self, field: str, problem: str, mark: yaml.Mark, fix: str) -> NoReturn:
        raise SpecError(self.file, field or "(file)", f"{problem} (line {mark.line + 1})", fix)

    def where(self) -> str:
        return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in self.steps).lstrip(".")

    def compose_node(self, parent, index):
        # Mapping values come with their key node, sequence items with their index.
        step = index.value if isinstance(index, yaml.ScalarNode) else index
        if step is not None:
            self.steps.append(step)
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.refuse(self.where(), f"an alias (*{event.anchor})", event.start_mark,
                        "write the value out in full: a spec may not use YAML aliases")
        self.values += 1
        if self.values > MAX_YAML_VALUES:
            self.refuse(str(self.steps[0]) if self.steps else "", f"more than {MAX_YAML_VALUES} values in the spec",
                        event.start_mark, "a spec needs a few hundred values at most; check that this is the right file")
        # Counted apart from the path: a complex key (`? [[...]]`) nests without adding a step.
        self.depth += 1
        if self.depth > MAX_YAML_DEPTH:
            self.refuse(self.where(), f"nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark,
                        "no spec field nests this deep; check the brackets and indentation")
        node = super().compose_node(parent, index)
        self.depth -= 1
        if step is not None:
            self.steps.pop()
        return node

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        seen = set()
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                self.refuse(self.where(), f"a {key.id} as a key", key.start_mark,
                            "write every key as a plain string")
            if (key.tag, key.value) in seen:
                self.refuse(_join(self.where(), key.value), "given twice", key.start_mark, "keep one of them")
            seen.add((key.tag, key.value))
        return node


def load_spec(path: str | Path) -> LabSpec:
    """Read and validate a spec file; a missing or malformed file is a SpecError."""
    return parse_spec(read_yaml(path, "check the path; for the local lab run `kubelab nodes up` first"), str(path))


def read_yaml(path: str | Path, unreadable_fix: str) -> Any:
    """A short YAML file read within bounds (size, UTF-8, the bounded loader); a SpecError naming the file else."""
    path = Path(path)
    file = str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(file, "(file)", f"cannot be read: {exc.strerror or exc}", unreadable_fix) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(file, "(file)", f"larger than {MAX_SPEC_BYTES} bytes",
                        "a spec is a short YAML file: check that this is the right file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SpecError(file, f"line {line}", f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}",
                        "save the file as UTF-8") from None
    return _load_yaml(text, file)


def _load_yaml(text: str, file: str) -> Any:
    try:
        loader = _SpecLoader(text, file)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise SpecError(file, f"line {line}", f"holds the control character #x{exc.character:02x}",
                        "remove it; a spec is plain text") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise SpecError(file, where, f"invalid YAML: {exc.problem or exc.context}",
                        "fix the YAML syntax at that line") from None
