"""What checks read: the lab's API server and each node's runtime, with a transcript."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator

from kubelab.cluster import Cluster, PodView
from kubelab.errors import KubelabError
from kubelab.runtime import NodeRuntime
from kubelab.spec import LabSpec
from kubelab.ssh import CommandResult, SSHPool

# A polling check can make hundreds of reads; its evidence keeps both ends.
KEEP_FIRST, KEEP_LAST = 10, 30


@dataclass
class Transcript:
    commands: list[CommandResult] = field(default_factory=list)
    api_reads: list[dict] = field(default_factory=list)

    def evidence(self) -> dict:
        return {"commands": _ends([c.as_evidence() for c in self.commands]),
                "api_reads": _ends(self.api_reads)}


def _ends(items: list) -> list:
    if len(items) <= KEEP_FIRST + KEEP_LAST:
        return items
    skipped = len(items) - KEEP_FIRST - KEEP_LAST
    return items[:KEEP_FIRST] + [{"omitted": skipped}] + items[-KEEP_LAST:]


class Lab:
    def __init__(self, spec: LabSpec, cluster: Cluster, pool: SSHPool):
        self.spec, self.cluster, self.pool = spec, cluster, pool
        self._api_recorders: list[list[dict]] = []
        self._node_names: dict[str, str] = {}

    @classmethod
    @contextlib.contextmanager
    def open(cls, spec: LabSpec) -> Iterator["Lab"]:
        with SSHPool(spec) as pool:
            yield cls(spec, Cluster.for_lab(spec), pool)

    def pod(self, namespace: str, name: str) -> PodView | None:
        pod = self.cluster.pod(namespace, name)
        read = {"read": f"Pod {namespace}/{name}",
                "resourceVersion": (pod or {}).get("metadata", {}).get("resourceVersion"), "object": pod}
        for recorder in self._api_recorders:
            recorder.append(read)
        return PodView.from_api(pod) if pod else None

    def runtime(self, api_node: str) -> NodeRuntime:
        """The runtime of the spec node the API calls `api_node` (by name, else by address)."""
        if api_node not in self._node_names:
            self._node_names[api_node] = self._spec_node_for(api_node)
        return NodeRuntime(self.pool.session(self._node_names[api_node]))

    def _spec_node_for(self, api_node: str) -> str:
        names = {n.name for n in self.spec.nodes}
        if api_node in names:
            return api_node
        addresses = set(self.cluster.node_addresses(api_node))
        for node in self.spec.nodes:
            if node.address in addresses:
                return node.name
        raise KubelabError(
            f"the API's node {api_node} (addresses {', '.join(sorted(addresses)) or 'none'}) is no node of "
            f"lab {self.spec.name} ({', '.join(sorted(names))}). Fix: check that the kubeconfig belongs to this lab")

    @contextlib.contextmanager
    def record(self) -> Iterator[Transcript]:
        transcript = Transcript()
        self._api_recorders.append(transcript.api_reads)
        try:
            with self.pool.record() as commands:
                transcript.commands = commands
                yield transcript
        finally:
            self._api_recorders.remove(transcript.api_reads)
