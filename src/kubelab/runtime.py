"""What the container runtime on a node reports, as typed records.

One parser per tool output, each written against the shapes in upstream source:

- `crictl pods -o json` and `crictl ps -a -o json` print the CRI v1 list
  responses through protojson (cri-tools cmd/crictl/util.go
  `protobufObjectToJSON`, EmitDefaultValues): camelCase keys, enum names such
  as "SANDBOX_READY", int64 nanosecond times as JSON strings.
- `crictl inspect -o json ID` / `crictl inspectp -o json ID` print
  `{"status": ..., "info": ...}`. `status` is the same protojson except that
  crictl rewrites createdAt/startedAt/finishedAt as RFC 3339 strings
  (`marshalContainerStatus`, `marshalPodSandboxStatus`); `info` is the runtime's
  verbose map, which for containerd 2.1 is `ContainerInfo` (pid, sandboxID,
  runtimeSpec, ...) and `SandboxInfo` (pid, image, runtimeSpec, sandboxMetadata,
  ...) from internal/cri.
- `nerdctl --namespace k8s.io ps -a --no-trunc --format json` prints one
  `ListItem` JSON object per line (nerdctl pkg/cmd/container/list.go).
- `ctr -n k8s.io containers ls` prints a CONTAINER / IMAGE / RUNTIME table.
- `crictl images -o json` prints the CRI ListImagesResponse the same way:
  `{"images": [{"id", "repoTags", "repoDigests", "size", ...}]}`.
- `curl -sS -o /dev/null -w CURL_WRITE_OUT URL`, run in a pod's network
  namespace, prints the status, the local address and the connect time
  (curl's `--write-out` variables); its exit code and `curl: (N) ...` line on
  stderr say why a request got no answer (curl's libcurl-errors.3).
- `conntrack -L` prints one flow a line, `proto num ttl [STATE] key=value...`
  with the original direction's src/dst/sport/dport first and the reply's
  second (conntrack-tools src/conntrack.c via libnetfilter_conntrack's
  `nfct_snprintf`), then flags such as `[ASSURED]`.

- A container's main process, read on its node: `/proc/<pid>/status`
  (`Key:\tvalue` lines; Uid/Gid as real, effective, saved, filesystem;
  Cap* as hex masks), `/proc/<pid>/mountinfo` and `/proc/<pid>/cgroup`
  (proc(5)), and the limit files of its cgroup (v1 `memory.limit_in_bytes`,
  `cpu.cfs_quota_us`, `cpu.shares`; v2 `memory.max`, `cpu.max`,
  `cpu.weight`).

`NodeRuntime` runs these over one node's SSH session.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, NamedTuple

from kubelab.errors import KubelabError
from kubelab.ssh import CommandResult, Session

SANDBOX_READY = "SANDBOX_READY"
CONTAINER_RUNNING = "CONTAINER_RUNNING"
CONTAINER_EXITED = "CONTAINER_EXITED"

# Labels the kubelet puts on every sandbox and container it creates.
POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
RESTART_COUNT = "io.kubernetes.container.restartCount"

# ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
_DIGITS = re.compile(r"[0-9]+")

# Named explicitly so crictl never probes other sockets (and warns on stderr).
CRI_ENDPOINT = "unix:///run/containerd/containerd.sock"
CRICTL = f"crictl --runtime-endpoint {CRI_ENDPOINT}"
K8S_NAMESPACE = "k8s.io"


class RuntimeOutputError(KubelabError):
    """A runtime tool printed something other than the shape kubelab parses."""

    def __init__(self, what: str, problem: str, fix: str = "compare the tool's version with the one in the lab spec",
                 node: str | None = None):
        self.what, self.problem, self.fix, self.node = what, problem, fix, node
        super().__init__(f"{what}: {problem}. Fix: {fix}")


class Mount(NamedTuple):
    container_path: str
    host_path: str


@dataclass(frozen=True)
class Sandbox:
    id: str
    pod_name: str
    namespace: str
    uid: str
    attempt: int
    state: str
    created: datetime | None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    runtime_handler: str = ""
    # Only `crictl inspectp` reports these.
    ip: str | None = None
    pid: int | None = None
    image: str | None = None
    netns_path: str | None = None

    @property
    def ready(self) -> bool:
        return self.state == SANDBOX_READY


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    sandbox_id: str
    state: str
    image: str
    image_ref: str
    attempt: int
    created: datetime | None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # Only `crictl inspect` reports these.
    started: datetime | None = None
    finished: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    pid: int | None = None
    mounts: tuple[Mount, ...] = ()

    @property
    def running(self) -> bool:
        return self.state == CONTAINER_RUNNING

    @property
    def pod_uid(self) -> str | None:
        return self.labels.get(POD_UID)

    @property
    def label_name(self) -> str | None:
        """The container name the kubelet labelled it with (the API's name for it)."""
        return self.labels.get(CONTAINER_NAME)

    @property
    def restart_count(self) -> int | None:
        value = self.annotations.get(RESTART_COUNT)
        return int(value) if value is not None and _DIGITS.fullmatch(value) else None


@dataclass(frozen=True)
class ContainerdContainer:
    """A container as containerd itself lists it (below the CRI), from nerdctl or ctr."""

    id: str
    image: str
    runtime: str
    # nerdctl reports these; `ctr containers ls` does not. nerdctl reads a CRI
    # container whose task is gone (exited) as "Created", not "Exited".
    status: str | None = None
    created: datetime | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Image:
    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]

    def digest_for(self, tag: str) -> str:
        """The repo digest of the tag's repository (what a pull by that name resolves to), else the image ID."""
        return next((d for d in self.repo_digests if d.split("@", 1)[0] == image_repository(tag)), self.id)


def normalize_image(ref: str) -> str:
    """An image reference as containerd pulls it: `nginx:1.27` is docker.io/library/nginx:1.27."""
    first, _, rest = ref.partition("/")
    if not rest:
        return f"docker.io/library/{ref}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{ref}"
    return ref


def image_repository(ref: str) -> str:
    """`registry:5000/name:tag` -> `registry:5000/name`: a colon before the last slash is a port, not a tag."""
    head, sep, tail = ref.rpartition(":")
    return head if sep and "/" not in tail else ref


def _parser(what: str):
    """Make a parser's every failure on unexpected output a RuntimeOutputError naming the tool.

    The parsers read what a node printed; a field of the wrong type (a list
    where an object belongs, letters in a pid) must not escape as a bare
    KeyError or ValueError. The wrapped function gets `what` as its second argument.
    """
    def wrap(parse):
        @functools.wraps(parse)
        def parser(text: str):
            try:
                return parse(text, what)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
                raise RuntimeOutputError(what, f"unexpected shape ({type(exc).__name__}: {str(exc)[:200]})") from None
        return parser
    return wrap


@_parser("crictl images -o json")
def parse_images(text: str, what: str) -> list[Image]:
    """`crictl images -o json` -> images."""
    doc = _json(text, what)
    return [Image(_get(item, "id", what, str), tuple(item.get("repoTags") or ()), tuple(item.get("repoDigests") or ()))
            for item in _get(doc, "images", what, list)]


@_parser("crictl pods -o json")
def parse_pods(text: str, what: str) -> list[Sandbox]:
    """`crictl pods -o json` -> sandboxes."""
    return [_sandbox(item, what) for item in _get(_json(text, what), "items", what, list)]


@_parser("crictl ps -o json")
def parse_ps(text: str, what: str) -> list[Container]:
    """`crictl ps -a -o json` -> containers (without the inspect-only fields)."""
    return [_container(item, what) for item in _get(_json(text, what), "containers", what, list)]


def _inspected(text: str, what: str, kind: str) -> tuple[dict, dict]:
    """The `status` and verbose `info` of one inspected object."""
    doc = _json(text, what)
    if not isinstance(doc, dict):
        raise RuntimeOutputError(what, f"expected the object for one {kind}", "inspect one ID at a time")
    return _get(doc, "status", what, dict), _info(doc, what)


@_parser("crictl inspect -o json")
def parse_inspect(text: str, what: str) -> Container:
    """`crictl inspect -o json ID` (one ID) -> the container with pid, exit code and mounts."""
    status, info = _inspected(text, what, "container")
    # ContainerStatus has no sandbox ID; containerd's verbose info carries it.
    base = _container({**status, "podSandboxId": info.get("sandboxID", "")}, what)
    return replace(
        base,
        started=_time(status.get("startedAt"), what),
        finished=_time(status.get("finishedAt"), what),
        # CRI defines the exit code only for a container that finished.
        exit_code=int(status.get("exitCode", 0)) if base.state == CONTAINER_EXITED else None,
        reason=status.get("reason") or None,
        pid=int(info["pid"]) if info.get("pid") else None,
        mounts=tuple(Mount(m.get("containerPath", ""), m.get("hostPath", "")) for m in status.get("mounts") or ()),
    )


@_parser("crictl inspectp -o json")
def parse_inspectp(text: str, what: str) -> Sandbox:
    """`crictl inspectp -o json ID` (one ID) -> the sandbox with its pause pid, image and netns."""
    status, info = _inspected(text, what, "sandbox")
    network = status.get("network") or {}
    return replace(
        _sandbox(status, what),
        ip=network.get("ip") or None,
        pid=int(info["pid"]) if info.get("pid") else None,
        # containerd reports the image the pause container was created from,
        # not its configured default (which may have changed since).
        image=info.get("image") or None,
        netns_path=_netns_path(info),
    )


@_parser("nerdctl ps --format json")
def parse_nerdctl_ps(text: str, what: str) -> list[ContainerdContainer]:
    """`nerdctl ps -a --no-trunc --format json` (one JSON object per line) -> containers."""
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        item = _json(line, what)
        records.append(ContainerdContainer(
            id=_get(item, "ID", what, str), image=item.get("Image", ""), runtime=item.get("Runtime", ""),
            status=item.get("Status"), created=_time(item.get("CreatedAt"), what),
            labels=_nerdctl_labels(item.get("Labels", "")),
        ))
    return records


@_parser("ctr containers ls")
def parse_ctr_containers(text: str, what: str) -> list[ContainerdContainer]:
    """`ctr containers ls` (a CONTAINER IMAGE RUNTIME table) -> containers."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].split() != ["CONTAINER", "IMAGE", "RUNTIME"]:
        raise RuntimeOutputError(what, f"expected a CONTAINER IMAGE RUNTIME header, got {text[:80]!r}")
    records = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) != 3:
            raise RuntimeOutputError(what, f"expected 3 columns, got {line!r}")
        container_id, image, runtime = fields
        # ctr prints "-" for a container created without an image.
        records.append(ContainerdContainer(container_id, "" if image == "-" else image, runtime))
    return records


# curl's --write-out: the HTTP status ("000" without one), the local address
# and port (how conntrack finds the flow), seconds to connect (0 when it did not).
CURL_WRITE_OUT = "%{http_code} %{local_ip} %{local_port} %{time_connect}\\n"
CURL_COULDNT_CONNECT, CURL_TIMEOUT = 7, 28  # libcurl-errors.3: refused, rejected or unreachable; timed out


@dataclass(frozen=True)
class Request:
    """One curl request: whether TCP connected, the HTTP status, and the local port it left from."""

    exit_code: int
    connected: bool
    http_status: int | None  # None: no HTTP answer
    local_ip: str
    local_port: int | None
    error: str  # curl's `curl: (N) ...` line, "" when it succeeded

    @property
    def outcome(self) -> str:
        if self.http_status is not None:
            return f"answered HTTP {self.http_status}"
        if self.connected:
            return f"connected, but no HTTP answer ({self.error or f'curl exit {self.exit_code}'})"
        if self.exit_code == CURL_COULDNT_CONNECT:
            return f"refused or rejected ({self.error})"
        if self.exit_code == CURL_TIMEOUT:
            return f"timed out ({self.error})"
        return f"failed ({self.error or f'curl exit {self.exit_code}'})"


def parse_curl(exit_code: int, stdout: str, stderr: str) -> Request:
    """curl's exit code, its --write-out CURL_WRITE_OUT line and its stderr -> the request."""
    what = "curl --write-out"
    lines = [line for line in stdout.splitlines() if line.strip()]
    fields = lines[-1].split(" ") if lines else []
    if len(fields) != 4:
        # nsenter prints its own error and runs no curl when it cannot enter the namespace.
        raise RuntimeOutputError(what, f"no `status ip port seconds` line (exit {exit_code}, stdout {stdout[:80]!r}, "
                                       f"stderr {stderr.strip()[:200]!r})", "check that the node has curl and "
                                       "that the process whose network namespace is entered still runs")
    status, local_ip, port, connect = fields
    try:
        code, local_port, seconds = int(status), int(port), float(connect)
    except ValueError:
        raise RuntimeOutputError(what, f"cannot read {lines[-1]!r} as `status ip port seconds`") from None
    error = next((line.strip() for line in stderr.splitlines() if line.startswith("curl: (")), "")
    return Request(exit_code=exit_code, connected=seconds > 0, http_status=code or None, local_ip=local_ip,
                   local_port=local_port or None, error=error)


class Endpoint(NamedTuple):
    src: str
    dst: str
    sport: int
    dport: int


@dataclass(frozen=True)
class Flow:
    """One conntrack entry: the connection as sent and as the reply came back (after any DNAT)."""

    protocol: str
    state: str
    original: Endpoint
    reply: Endpoint
    assured: bool

    @property
    def answered_by(self) -> str:
        """Who really answered: the reply's source, the backend a Service's DNAT chose."""
        return f"{self.reply.src}:{self.reply.sport}"


@_parser("conntrack -L")
def parse_conntrack(text: str, what: str) -> list[Flow]:
    """`conntrack -L` (the default text format) -> flows; the `N flow entries` summary goes to stderr."""
    flows = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        pairs = [w.split("=", 1) for w in words if "=" in w]
        keys = ("src", "dst", "sport", "dport")
        found = {k: [v for key, v in pairs if key == k] for k in keys}
        if any(len(found[k]) < 2 for k in keys):
            raise RuntimeOutputError(what, f"expected an original and a reply src/dst/sport/dport in {line[:120]!r}")
        # TCP entries name a state (ESTABLISHED, TIME_WAIT) after proto, number and timeout; UDP has none.
        state = words[3] if len(words) > 3 and "=" not in words[3] else ""
        flows.append(Flow(
            protocol=words[0], state=state,
            original=Endpoint(found["src"][0], found["dst"][0], int(found["sport"][0]), int(found["dport"][0])),
            reply=Endpoint(found["src"][1], found["dst"][1], int(found["sport"][1]), int(found["dport"][1])),
            assured="[ASSURED]" in words))
    return flows


# -- a container's main process, as the node's kernel shows it ---------------
# Read from /proc/<pid> (proc(5)) and the process's cgroup directory (the
# kernel's admin-guide cgroup-v1/ and cgroup-v2.rst), one parser each.

# `crictl inspect` reduced by a go template to what `parse_inspect` reads. The
# full output carries the runtime spec, whose process.env holds the values of
# Secrets consumed as env, and every command's output goes into a check's evidence.
INSPECT_PROCESS_TEMPLATE = (
    '{"status": {"id": {{json .status.id}}, "metadata": {{json .status.metadata}}, '
    '"state": {{json .status.state}}, "labels": {{json .status.labels}}, "mounts": {{json .status.mounts}}, '
    '"annotations": {{json .status.annotations}}, "image": {{json .status.image}}, '
    '"imageRef": {{json .status.imageRef}}, "createdAt": {{json .status.createdAt}}, '
    '"startedAt": {{json .status.startedAt}}, "finishedAt": {{json .status.finishedAt}}, '
    '"exitCode": {{json .status.exitCode}}, "reason": {{json .status.reason}}}, '
    '"info": {"pid": {{json .info.pid}}, "sandboxID": {{json .info.sandboxID}}}}')

# linux/capability.h: a capability's number is its bit in the CapEff/CapBnd masks.
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
)

# cgroup v1 reports "no limit" as the largest page-aligned counter, not -1.
_V1_UNLIMITED = 2 ** 62
# Characters of each variable's sha256 the node prints: enough to tell values apart, too few to leak more.
ENVIRON_DIGEST_CHARS = 16


def capability_names(mask: int) -> tuple[str, ...]:
    return tuple(CAPABILITIES[bit] if bit < len(CAPABILITIES) else f"CAP_{bit}"
                 for bit in range(mask.bit_length()) if mask >> bit & 1)


@dataclass(frozen=True)
class ProcStatus:
    uids: tuple[int, ...]  # real, effective, saved, filesystem
    gids: tuple[int, ...]
    groups: tuple[int, ...]
    cap_eff: int
    cap_prm: int
    cap_bnd: int
    cap_amb: int
    no_new_privs: int


@_parser("/proc/<pid>/status")
def parse_proc_status(text: str, what: str) -> ProcStatus:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()

    def ids(key: str) -> tuple[int, ...]:
        return tuple(int(v) for v in fields[key].split())

    uids, gids = ids("Uid"), ids("Gid")
    if len(uids) != 4 or len(gids) != 4:
        raise RuntimeOutputError(what, f"expected 4 ids on Uid and Gid, got {uids} and {gids}")
    return ProcStatus(uids, gids, ids("Groups"), int(fields["CapEff"], 16), int(fields["CapPrm"], 16),
                      int(fields["CapBnd"], 16), int(fields["CapAmb"], 16), int(fields["NoNewPrivs"]))


@dataclass(frozen=True)
class MountInfo:
    mount_point: str
    root: str  # the directory of the source filesystem mounted there
    fstype: str
    source: str
    options: tuple[str, ...]  # of this mount: `ro` makes it read-only whatever the filesystem's own options

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field_text: str) -> str:
    # The kernel writes space, tab, newline and backslash in paths as \040, \011, \012, \134.
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field_text)


@_parser("/proc/<pid>/mountinfo")
def parse_mountinfo(text: str, what: str) -> list[MountInfo]:
    """One mount a line: id parent major:minor root point options [optional...] - fstype source super-options."""
    mounts = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split()
        tail = fields.index("-")
        if tail < 6 or len(fields) < tail + 3:
            raise RuntimeOutputError(what, f"expected 6 fields, '-', fstype and source, got {line[:120]!r}")
        mounts.append(MountInfo(_unescape(fields[4]), _unescape(fields[3]), fields[tail + 1],
                                _unescape(fields[tail + 2]), tuple(fields[5].split(","))))
    return mounts


def mount_at(mounts: list[MountInfo], path: str) -> MountInfo | None:
    """The mount a process sees at `path`: the last one listed there (a later mount hides an earlier)."""
    wanted = "/" + path.strip("/")
    return next((m for m in reversed(mounts) if m.mount_point == wanted), None)


@_parser("/proc/<pid>/cgroup")
def parse_proc_cgroup(text: str, what: str) -> dict[str, str]:
    """controller -> cgroup path, from `hierarchy:controllers:path` lines; the v2 hierarchy (`0::path`) under ''."""
    paths = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        hierarchy, controllers, path = line.split(":", 2)
        int(hierarchy)
        if not path.startswith("/"):
            raise RuntimeOutputError(what, f"expected an absolute cgroup path, got {line[:120]!r}")
        for controller in controllers.split(",") if controllers else ("",):
            paths[controller] = path
    return paths


@dataclass(frozen=True)
class CgroupLimits:
    version: int
    memory_bytes: int | None  # None: no limit
    cpu_quota_us: int | None  # None: no limit
    cpu_period_us: int
    cpu_shares: int | None = None  # v1
    cpu_weight: int | None = None  # v2


def cgroup_files(paths: dict[str, str]) -> tuple[str, ...]:
    """The limit files of a process's cgroups, relative to /sys/fs/cgroup: v1 controllers first (a hybrid host
    keeps its controllers there and an empty v2 hierarchy beside them), else the v2 directory."""
    if "memory" in paths and "cpu" in paths:
        memory, cpu = paths["memory"].lstrip("/"), paths["cpu"].lstrip("/")
        return (f"memory/{memory}/memory.limit_in_bytes", f"cpu/{cpu}/cpu.cfs_quota_us",
                f"cpu/{cpu}/cpu.cfs_period_us", f"cpu/{cpu}/cpu.shares")
    if "" in paths:
        unified = paths[""].lstrip("/")
        return tuple(f"{unified}/{name}".lstrip("/") for name in ("memory.max", "cpu.max", "cpu.weight"))
    raise RuntimeOutputError("/proc/<pid>/cgroup", f"neither v1 memory and cpu controllers nor a v2 hierarchy "
                                                   f"in {sorted(paths)}", "check the node's cgroup mounts")


@_parser("grep -H '' <cgroup files>")
def parse_cgroup_limits(text: str, what: str) -> CgroupLimits:
    """`grep -H '' FILE...` (`path:value` a line) of the files `cgroup_files` names -> the limits."""
    values = {}
    for line in text.splitlines():
        path, sep, value = line.rpartition(":")
        if sep:
            values[path.rsplit("/", 1)[-1]] = value.strip()
    if "memory.limit_in_bytes" in values:
        memory, quota = int(values["memory.limit_in_bytes"]), int(values["cpu.cfs_quota_us"])
        return CgroupLimits(1, memory if memory < _V1_UNLIMITED else None, quota if quota >= 0 else None,
                            int(values["cpu.cfs_period_us"]), cpu_shares=int(values["cpu.shares"]))
    quota, period = values["cpu.max"].split()
    memory = values["memory.max"]
    return CgroupLimits(2, None if memory == "max" else int(memory), None if quota == "max" else int(quota),
                        int(period), cpu_weight=int(values["cpu.weight"]))


@_parser("sha256 of each variable in /proc/<pid>/environ")
def parse_environ_digests(text: str, what: str) -> dict[str, str]:
    """`DIGEST NAME` a line (what `NodeRuntime.environ_digests` prints) -> name -> digest prefix."""
    digests = {}
    for line in text.splitlines():
        if not line:
            continue
        digest, _, name = line.partition(" ")
        if not re.fullmatch(f"[0-9a-f]{{{ENVIRON_DIGEST_CHARS}}}", digest):
            raise RuntimeOutputError(what, f"expected a {ENVIRON_DIGEST_CHARS}-digit sha256 prefix, got {line[:40]!r}")
        digests[name] = digest
    return digests


class NodeRuntime:
    """The container runtime of one node, read over that node's SSH session."""

    def __init__(self, session: Session):
        self.session = session

    @property
    def node(self) -> str:
        return self.session.node.name

    def sandboxes(self) -> list[Sandbox]:
        return self._parsed(f"{CRICTL} pods -o json", parse_pods)

    def containers(self) -> list[Container]:
        return self._parsed(f"{CRICTL} ps -a -o json", parse_ps)

    def inspect(self, container_id: str) -> Container:
        return self._parsed(f"{CRICTL} inspect -o json {shlex.quote(container_id)}", parse_inspect)

    def inspectp(self, sandbox_id: str) -> Sandbox:
        return self._parsed(f"{CRICTL} inspectp -o json {shlex.quote(sandbox_id)}", parse_inspectp)

    def images(self) -> list[Image]:
        return self._parsed(f"{CRICTL} images -o json", parse_images)

    def inspect_process(self, container_id: str) -> Container:
        """`crictl inspect` of one container without its runtime spec: pid, state, labels and mounts."""
        return self._parsed(f"{CRICTL} inspect -o go-template --template {shlex.quote(INSPECT_PROCESS_TEMPLATE)} "
                            f"{shlex.quote(container_id)}", parse_inspect)

    def proc_status(self, pid: int) -> ProcStatus:
        return self._parsed(f"cat /proc/{int(pid)}/status", parse_proc_status)

    def mountinfo(self, pid: int) -> list[MountInfo]:
        return self._parsed(f"cat /proc/{int(pid)}/mountinfo", parse_mountinfo)

    def cgroup_limits(self, pid: int) -> CgroupLimits:
        files = cgroup_files(self._parsed(f"cat /proc/{int(pid)}/cgroup", parse_proc_cgroup))
        return self._parsed(f"cd /sys/fs/cgroup && grep -H '' {shlex.join(files)}", parse_cgroup_limits)

    def environ_digests(self, pid: int) -> dict[str, str]:
        """name -> sha256 prefix of each variable in the process's environment, hashed on the node: the
        values (a Secret's among them) never leave it."""
        each = (f'v="${{1#*=}}"; d=$(printf %s "$v" | sha256sum | cut -c1-{ENVIRON_DIGEST_CHARS}); '
                f'printf "%s %s\\n" "$d" "${{1%%=*}}"')
        return self._parsed(f"xargs -0 -r -n1 sh -c {shlex.quote(each)} _ < /proc/{int(pid)}/environ",
                            parse_environ_digests)

    def write_probe(self, pid: int, name: str) -> CommandResult:
        """Create, then remove, the file `name` at the root of the process's filesystem, through
        /proc/<pid>/root: the container's mounts apply, and the image needs no tool of its own."""
        path = shlex.quote(f"/proc/{int(pid)}/root/{name}")
        return self.session.run(f"touch {path} && rm -f {path}")

    def remove_sandbox(self, sandbox_id: str) -> CommandResult:
        """`crictl rmp`: stop and remove a sandbox and its containers (the kubelet may have raced us to it)."""
        return self.session.run(f"{CRICTL} rmp --force {shlex.quote(sandbox_id)}")

    def nerdctl_containers(self) -> list[ContainerdContainer]:
        return self._parsed(f"nerdctl --namespace {K8S_NAMESPACE} ps -a --no-trunc --format json", parse_nerdctl_ps)

    def ctr_containers(self) -> list[ContainerdContainer]:
        return self._parsed(f"ctr -n {K8S_NAMESPACE} containers ls", parse_ctr_containers)

    def request(self, url: str, *, netns_pid: int | None = None, resolve: str | None = None,
                timeout: float = 3.0) -> Request:
        """GET `url` with the node's curl, from the network namespace of `netns_pid` (else the node's own).

        `nsenter -n` switches only the network namespace: the node's curl and
        files stay, so a name is never looked up with the pod's resolver;
        `resolve` (`host:port:ip`, curl's --resolve) pins it to an address the caller found.
        """
        curl = ["curl", "-sS", "-o", "/dev/null", "--noproxy", "*", "--connect-timeout", f"{timeout:g}",
                "--max-time", f"{2 * timeout:g}", "-w", CURL_WRITE_OUT]
        if resolve:
            curl += ["--resolve", resolve]
        command = shlex.join((["nsenter", "-t", str(int(netns_pid)), "-n", "--"] if netns_pid else []) + curl + [url])
        result = self.session.run(command, timeout=2 * timeout + 15)
        try:
            return parse_curl(result.exit_code, result.stdout, result.stderr)
        except RuntimeOutputError as exc:
            raise RuntimeOutputError(f"node {self.node}: `{command}`", exc.problem, exc.fix, node=self.node) from None

    def flows(self, local_port: int, destination: str) -> list[Flow]:
        """The node's conntrack entries for TCP from `local_port` to `destination`."""
        return self._parsed(f"conntrack -L -p tcp --sport {int(local_port)} --orig-dst {shlex.quote(destination)}",
                            parse_conntrack)

    def logs(self, container_id: str, tail: int = 200) -> CommandResult:
        """The container's log as crictl prints it: its stdout on stdout, its stderr on stderr."""
        return self._checked(f"{CRICTL} logs --tail {int(tail)} {shlex.quote(container_id)}")

    def kill(self, pid: int, signal: str = "KILL") -> CommandResult:
        """Signal a process on the node by its host PID (as the article does with kill -9)."""
        return self.session.run(f"kill -s {shlex.quote(signal)} {int(pid)}")

    def _checked(self, command: str) -> CommandResult:
        result = self.session.run(command)
        if not result.ok:
            raise RuntimeOutputError(
                f"node {self.node}: `{command}`", f"exited {result.exit_code}: {result.stderr.strip()[:500]}",
                "check that containerd is running and crictl/nerdctl/ctr are installed on the node", node=self.node)
        return result

    def _parsed(self, command: str, parse: Callable[[str], Any]) -> Any:
        """The command's stdout through its parser; what the parser cannot read names this node and command."""
        result = self._checked(command)
        where = f"node {self.node}: `{command}`"
        if result.truncated:
            raise RuntimeOutputError(where, f"printed more than {self.session.max_output} bytes, so kubelab "
                                            f"read only the start", "remove what the node does not need "
                                            "(old containers, images), or raise the session's max_output",
                                     node=self.node)
        try:
            return parse(result.stdout)
        except RuntimeOutputError as exc:
            raise RuntimeOutputError(where, exc.problem, exc.fix, node=self.node) from None


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuntimeOutputError(what, f"not JSON ({exc.msg} at line {exc.lineno}): {text[:80]!r}") from None
    except RecursionError:
        raise RuntimeOutputError(what, f"JSON nested too deeply to read: {text[:80]!r}") from None


def _get(doc: Any, key: str, what: str, kind: type) -> Any:
    if not isinstance(doc, dict) or not isinstance(doc.get(key), kind):
        raise RuntimeOutputError(what, f"no {kind.__name__} `{key}` in {str(doc)[:80]!r}")
    return doc[key]


def _info(doc: dict, what: str) -> dict:
    info = doc.get("info")
    if not isinstance(info, dict):
        raise RuntimeOutputError(what, "no verbose `info` object (the runtime's pid, image, spec)",
                                 "run crictl without --quiet against containerd")
    return info


def _sandbox(item: dict, what: str) -> Sandbox:
    meta = _get(item, "metadata", what, dict)
    return Sandbox(
        id=_get(item, "id", what, str), pod_name=meta.get("name", ""), namespace=meta.get("namespace", ""),
        uid=meta.get("uid", ""), attempt=int(meta.get("attempt", 0)), state=str(item.get("state", "")),
        created=_time(item.get("createdAt"), what), labels=dict(item.get("labels") or {}),
        annotations=dict(item.get("annotations") or {}), runtime_handler=item.get("runtimeHandler", ""),
    )


def _container(item: dict, what: str) -> Container:
    meta = _get(item, "metadata", what, dict)
    return Container(
        id=_get(item, "id", what, str), name=meta.get("name", ""), sandbox_id=item.get("podSandboxId", ""),
        state=str(item.get("state", "")), image=(item.get("image") or {}).get("image", ""),
        image_ref=item.get("imageRef", ""), attempt=int(meta.get("attempt", 0)),
        created=_time(item.get("createdAt"), what), labels=dict(item.get("labels") or {}),
        annotations=dict(item.get("annotations") or {}),
    )


def _netns_path(info: dict) -> str | None:
    namespaces = ((info.get("runtimeSpec") or {}).get("linux") or {}).get("namespaces") or ()
    for ns in namespaces:
        if ns.get("type") == "network" and ns.get("path"):
            return ns["path"]
    # containerd may not have a runtime spec for a sandbox it has not fully
    # created; its own metadata still records the namespace it made.
    meta = ((info.get("sandboxMetadata") or {}).get("Metadata")) or {}
    return meta.get("NetNSPath") or None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FRACTION = re.compile(r"(\.\d{6})\d+")


def _time(value: Any, what: str) -> datetime | None:
    """A CRI time: int64 nanoseconds (as a JSON string or number) or RFC 3339; zero is None."""
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, int) or (isinstance(value, str) and _DIGITS.fullmatch(value)):
        return _EPOCH + timedelta(microseconds=int(value) // 1000)
    text = _FRACTION.sub(r"\1", str(value)).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise RuntimeOutputError(what, f"cannot read {value!r} as an RFC 3339 time with an offset")
    # crictl prints Go's zero time (year 1) or the Unix epoch for "never".
    return None if parsed <= _EPOCH else parsed


def _nerdctl_labels(text: str) -> dict[str, str]:
    # nerdctl joins labels as k=v,k=v; a value holding a comma continues the previous label.
    labels: dict[str, str] = {}
    last = None
    for part in text.split(",") if text else ():
        key, sep, value = part.partition("=")
        if sep:
            labels[key] = value
            last = key
        elif last is not None:
            labels[last] += "," + part
    return labels
