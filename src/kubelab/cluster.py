"""The Kubernetes API side of a lab: manifests in, pods out.

Manifests are validated document by document before anything is sent; then
every document goes through a server-side dry run, and only when the API
server accepts all of them are they applied (server-side apply, field manager
"kubelab", conflicts forced). Reads return plain dicts in the API's JSON shape
(camelCase, as `kubectl get -o json` prints them) and `PodView`, the typed
subset that checks compare with what the runtime reports.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError, ResourceNotFoundError

from kubelab import paths
from kubelab.errors import KubelabError, SpecError
from kubelab.spec import LabSpec

FIELD_MANAGER = "kubelab"
DEFAULT_NAMESPACE = "default"
REQUEST_TIMEOUT = 30.0
_DISCOVERY = threading.Lock()
# Lists return metadata only, so reading every Secret never transfers its data.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


class ClusterError(KubelabError):
    """The API server could not be reached or refused a request."""


class ApplyRejected(ClusterError):
    """The API server refused a document; with a dry run first, nothing was applied."""

    def __init__(self, manifest: "Manifest", dry_run: bool, message: str):
        self.manifest, self.dry_run, self.message = manifest, dry_run, message
        stage = "server-side dry run (nothing was applied)" if dry_run else "apply"
        super().__init__(f"{manifest.where}: rejected by the API server in the {stage}: {message}. "
                         f"Fix: correct that field in {manifest.file}")


class WaitTimeout(ClusterError):
    """Pods did not become Running and Ready in time."""


@dataclass(frozen=True)
class Manifest:
    file: str
    document: int  # 1-based position among the file's `---` documents
    body: dict

    @property
    def api_version(self) -> str:
        return self.body["apiVersion"]

    @property
    def kind(self) -> str:
        return self.body["kind"]

    @property
    def name(self) -> str:
        return self.body["metadata"]["name"]

    @property
    def namespace(self) -> str | None:
        return self.body["metadata"].get("namespace")

    @property
    def where(self) -> str:
        return f"{self.file}: document {self.document} ({self.kind} {self.name})"


def load_manifests(files: Iterable[str | Path]) -> list[Manifest]:
    """Read and validate every document of every file; the first problem is a SpecError."""
    manifests = []
    for file in files:
        file = str(file)
        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise SpecError(file, "(file)", f"cannot be read: {exc.strerror}",
                            "check the exercise's manifest paths") from None
        loader = yaml.safe_load_all(text)
        document = 0
        while True:
            document += 1
            try:
                body = next(loader)
            except StopIteration:
                break
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = f" at line {mark.line + 1}" if mark else ""
                raise SpecError(file, f"document {document}",
                                f"invalid YAML{line}: {getattr(exc, 'problem', None) or exc}",
                                "fix the YAML syntax there") from None
            if body is None:  # an empty document, e.g. after a trailing `---`
                continue
            _validate(file, document, body)
            manifests.append(Manifest(file, document, body))
    return manifests


def _validate(file: str, document: int, body: object) -> None:
    where = f"document {document}"
    if not isinstance(body, dict):
        raise SpecError(file, where, f"expected a mapping (a Kubernetes object), got {type(body).__name__}",
                        "start the document with `apiVersion:` and `kind:`")
    for key, example in (("apiVersion", "apiVersion: v1"), ("kind", "kind: Pod")):
        if not isinstance(body.get(key), str) or not body[key]:
            raise SpecError(file, f"{where}: {key}", "missing", f"add `{example}` (or the right value)")
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        raise SpecError(file, f"{where}: metadata", "missing", "add `metadata: {name: ...}`")
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        # Server-side apply addresses objects by name; generateName cannot be applied.
        raise SpecError(file, f"{where}: metadata.name", "missing", "give the object a `metadata.name`")


@dataclass(frozen=True)
class ApiContainer:
    """One container as the API reports it: spec and status joined by name."""

    name: str
    image: str
    container_id: str | None  # the runtime's ID, without the "containerd://" scheme
    ready: bool
    restart_count: int
    state: str | None  # "running", "waiting" or "terminated"
    reason: str | None
    last_exit_code: int | None
    last_reason: str | None
    mounts: dict[str, str]  # volume name -> mount path


@dataclass(frozen=True)
class PodView:
    namespace: str
    name: str
    uid: str
    node: str | None
    phase: str
    ip: str | None
    ready: bool
    containers: tuple[ApiContainer, ...]
    restart_policy: str = "Always"

    def container(self, name: str) -> ApiContainer | None:
        return next((c for c in self.containers if c.name == name), None)

    @property
    def running_and_ready(self) -> bool:
        return self.phase == "Running" and self.ready

    @classmethod
    def from_api(cls, pod: dict) -> "PodView":
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        statuses = {s["name"]: s for s in status.get("containerStatuses") or ()}
        containers = []
        for c in spec.get("containers") or ():
            st = statuses.get(c["name"], {})
            state_name, state = next(iter((st.get("state") or {}).items()), (None, {}))
            last = (st.get("lastState") or {}).get("terminated") or {}
            cid = st.get("containerID")
            containers.append(ApiContainer(
                name=c["name"], image=c.get("image", ""),
                container_id=cid.split("://", 1)[-1] if cid else None,
                ready=bool(st.get("ready")), restart_count=int(st.get("restartCount", 0)),
                state=state_name, reason=(state or {}).get("reason"),
                last_exit_code=last.get("exitCode"), last_reason=last.get("reason"),
                mounts={m["name"]: m["mountPath"] for m in c.get("volumeMounts") or ()},
            ))
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
        return cls(namespace=meta.get("namespace", DEFAULT_NAMESPACE), name=meta["name"], uid=meta["uid"],
                   node=spec.get("nodeName"), phase=status.get("phase", ""), ip=status.get("podIP"),
                   ready=ready, containers=tuple(containers),
                   restart_policy=spec.get("restartPolicy", "Always"))

    def describe(self) -> str:
        parts = [f"phase {self.phase or '?'}" + (f" on {self.node}" if self.node else "")]
        for c in self.containers:
            parts.append(f"{c.name} {c.state or 'no status'}" + (f" ({c.reason})" if c.reason else ""))
        return ", ".join(parts)


def kubeconfig_path(spec: LabSpec) -> Path:
    return paths.lab_dir(spec.name) / "kubeconfig"


class Cluster:
    """The lab's API server, through the dynamic client."""

    def __init__(self, api_client: k8s_client.ApiClient, *, request_timeout: float = REQUEST_TIMEOUT,
                 source: str = "the kubeconfig"):
        self.api_client = api_client
        self.request_timeout = request_timeout
        self.source = source
        self._dynamic: DynamicClient | None = None

    @classmethod
    def for_lab(cls, spec: LabSpec, **kwargs) -> "Cluster":
        path = kubeconfig_path(spec)
        if not path.is_file():
            raise ClusterError(f"lab {spec.name}: no kubeconfig at {path}. "
                               f"Fix: build the cluster first (the deploy writes it there)")
        try:
            api_client = k8s_config.new_client_from_config(config_file=str(path))
        except k8s_config.ConfigException as exc:
            raise ClusterError(f"{path}: not a usable kubeconfig: {exc}. Fix: re-run the deploy that writes it") from None
        return cls(api_client, source=str(path), **kwargs)

    @property
    def server(self) -> str:
        return self.api_client.configuration.host

    @property
    def dynamic(self) -> DynamicClient:
        # Discovery talks to the server, so it waits for the first real call.
        if self._dynamic is None:
            # The client keeps its discovery in one cache file per server, rewritten in place:
            # threads discovering at once (an exam's tasks) would read each other's half-written file.
            with _DISCOVERY, self._reaching("discover the API"):
                self._dynamic = DynamicClient(self.api_client)
        return self._dynamic

    @contextmanager
    def _reaching(self, what: str) -> Iterator[None]:
        try:
            yield
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterError(f"cannot {what} at {self.server} ({type(exc).__name__}: {exc}). "
                               f"Fix: check that the lab's control plane is up; kubeconfig: {self.source}") from None

    def apply(self, manifests: list[Manifest]) -> list[dict]:
        """Dry-run every document on the server, then apply them all; returns the applied objects."""
        targets = [(m, self.resource_for(m)) for m in manifests]
        for manifest, resource in targets:
            self._server_side_apply(manifest, resource, dry_run=True)
        return [self._server_side_apply(m, r, dry_run=False) for m, r in targets]

    def resource_for(self, manifest: Manifest):
        try:
            return self.resource(manifest.api_version, manifest.kind)
        except ResourceNotFoundError:
            raise SpecError(manifest.file, f"document {manifest.document}",
                            f"the API server has no kind {manifest.kind} in {manifest.api_version}",
                            "check apiVersion and kind (`kubectl api-resources` lists them)") from None

    def _server_side_apply(self, manifest: Manifest, resource, *, dry_run: bool) -> dict:
        kwargs = {"body": manifest.body, "name": manifest.name, "field_manager": FIELD_MANAGER,
                  "force_conflicts": True, "_request_timeout": self.request_timeout}
        if resource.namespaced:
            kwargs["namespace"] = manifest.namespace or DEFAULT_NAMESPACE
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            with self._reaching(f"apply {manifest.kind} {manifest.name}"):
                return self.dynamic.server_side_apply(resource, **kwargs).to_dict()
        except DynamicApiError as exc:
            raise ApplyRejected(manifest, dry_run, exc.summary()) from None

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """One object as the API returns it, or None when it does not exist."""
        try:
            resource = self.resource(api_version, kind)
            with self._reaching(f"read {kind} {name}"):
                return self.dynamic.get(resource, name=name, namespace=namespace,
                                        _request_timeout=self.request_timeout).to_dict()
        except NotFoundError:
            return None
        except DynamicApiError as exc:
            raise ClusterError(f"cannot read {kind} {name}: {exc.summary()}. Fix: check the kubeconfig's "
                               f"permissions ({self.source})") from None

    def resource(self, api_version: str, kind: str):
        with self._reaching("discover the API"):
            return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def discover(self) -> list:
        """Every resource the API serves, discovered afresh so a CRD added since is included."""
        with self._reaching("discover the API"):
            self.dynamic.resources.invalidate_cache()
            return self.dynamic.resources.search()

    def list_metadata(self, resource) -> list[dict]:
        """The metadata of every object of one kind, in every namespace ([] when the kind is gone)."""
        try:
            with self._reaching(f"list {resource.kind}"):
                listed = self.dynamic.get(resource, header_params={"Accept": METADATA_ONLY},
                                          _request_timeout=self.request_timeout).to_dict()
        except NotFoundError:
            return []
        except DynamicApiError as exc:
            raise ClusterError(f"cannot list {resource.kind}: {exc.summary()}. Fix: the kubeconfig "
                               f"({self.source}) must be allowed to list every kind") from None
        return [item["metadata"] for item in listed.get("items") or ()]

    def delete(self, resource, name: str, namespace: str | None = None, grace_seconds: int | None = None) -> bool:
        """Delete one object, its dependents in the background; False when it was already gone."""
        try:
            with self._reaching(f"delete {resource.kind} {name}"):
                self.dynamic.delete(resource, name=name, namespace=namespace or None,
                                    grace_period_seconds=grace_seconds, propagation_policy="Background",
                                    _request_timeout=self.request_timeout)
        except NotFoundError:
            return False
        except DynamicApiError as exc:
            raise ClusterError(f"cannot delete {resource.kind} {name}: {exc.summary()}. Fix: check the "
                               f"kubeconfig's permissions ({self.source})") from None
        return True

    def pod(self, namespace: str, name: str) -> dict | None:
        return self.get("v1", "Pod", name, namespace)

    def node_addresses(self, name: str) -> list[str]:
        node = self.get("v1", "Node", name)
        return [a["address"] for a in ((node or {}).get("status") or {}).get("addresses") or ()]

    def wait_for_pods(self, namespace: str, names: Iterable[str], timeout: float,
                      interval: float = 1.0) -> dict[str, PodView]:
        """Poll until every named pod is Running and Ready; WaitTimeout after `timeout` seconds."""
        names = list(names)
        deadline = time.monotonic() + timeout
        while True:
            views = {}
            for name in names:
                pod = self.pod(namespace, name)
                views[name] = PodView.from_api(pod) if pod else None
            if all(v is not None and v.running_and_ready for v in views.values()):
                return views
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = "; ".join(f"{namespace}/{n}: {v.describe() if v else 'not found'}" for n, v in views.items())
                raise WaitTimeout(f"pods not Running and Ready within {timeout:g} s: {seen}. "
                                  f"Fix: `kubectl describe pod` shows why (events, image pulls, scheduling)")
            time.sleep(min(interval, remaining))
