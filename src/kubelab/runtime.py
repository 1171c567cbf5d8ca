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

    def remove_sandbox(self, sandbox_id: str) -> CommandResult:
        """`crictl rmp`: stop and remove a sandbox and its containers (the kubelet may have raced us to it)."""
        return self.session.run(f"{CRICTL} rmp --force {shlex.quote(sandbox_id)}")

    def nerdctl_containers(self) -> list[ContainerdContainer]:
        return self._parsed(f"nerdctl --namespace {K8S_NAMESPACE} ps -a --no-trunc --format json", parse_nerdctl_ps)

    def ctr_containers(self) -> list[ContainerdContainer]:
        return self._parsed(f"ctr -n {K8S_NAMESPACE} containers ls", parse_ctr_containers)

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
