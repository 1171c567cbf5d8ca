"""What a container wrote to its log, as its node keeps it, set against what the candidate read from it.

The API view is the ConfigMap the candidate wrote. The node view is the
container's log as the runtime keeps it on the pod's node (`crictl logs` of
the container ID the API names, the file under /var/log/pods), read for every
container of the pod: the value must be a whole line of the named
container's log, and a value that is another container's line is named as
such, since `kubectl logs POD` without `-c` shows the first container only.
"""

from __future__ import annotations

from kubelab.checks.lab import Lab
from kubelab.checks.objects import get
from kubelab.checks.pods import judge_pod_running
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.cluster import PodView


@check
def config_map_holds_log_line(lab: Lab, *, namespace: str, config_map: str, key: str, pod: str,
                              container: str) -> Verdict:
    """ConfigMap `config_map`'s `key` is a line that `container` of `pod` wrote to its log, read on its node."""
    found = get(lab, "v1", "ConfigMap", namespace, config_map)
    view = lab.pod(namespace, pod)
    if view is None or not view.node:
        return judge_pod_running(view, f"{namespace}/{pod}")
    runtime = lab.runtime(view.node)
    logs = {c.name: runtime.logs(c.container_id).stdout for c in view.containers if c.container_id}
    return judge_log_line(f"{namespace}/{config_map}", key, found, view, container, logs)


def lines(log: str) -> list[str]:
    return [line.strip() for line in log.splitlines() if line.strip()]


def judge_log_line(ref: str, key: str, config_map: dict | None, pod: PodView, container: str,
                   logs: dict[str, str]) -> Verdict:
    """`logs`: each container's log as its node printed it (container name -> text)."""
    expected = (f"ConfigMap {ref} key {key} holds a line that container {container} of pod {pod.namespace}/"
                f"{pod.name} wrote to its log (read on {pod.node})")
    if container not in logs:
        return verdict(FAIL, pod.node, expected, f"no log of container {container} on {pod.node} (the pod's "
                                                 f"containers with a log: {', '.join(sorted(logs)) or 'none'})")
    evidence = {"log_lines": len(lines(logs[container]))}
    if config_map is None:
        return verdict(FAIL, pod.node, expected, f"no ConfigMap {ref} in the API", **evidence)
    data = config_map.get("data") or {}
    if key not in data:
        return verdict(FAIL, pod.node, expected, f"ConfigMap {ref} has no key {key} (its keys: "
                                                 f"{', '.join(sorted(data)) or 'none'})", **evidence)
    value = data[key].strip()
    evidence["value"] = value
    if not value:
        return verdict(FAIL, pod.node, expected, f"key {key} is empty", **evidence)
    if value in lines(logs[container]):
        return verdict(PASS, pod.node, expected, f"{value!r} is a line of {container}'s log on {pod.node}",
                       **evidence)
    elsewhere = sorted(name for name, log in logs.items() if name != container and value in lines(log))
    if elsewhere:
        return verdict(FAIL, pod.node, expected, f"{value!r} is a line of {', '.join(elsewhere)}'s log, not of "
                                                 f"{container}'s", **evidence)
    return verdict(FAIL, pod.node, expected, f"{value!r} is no line of any log of the pod", **evidence)
