"""API reads for the checks beyond one pod: Services, EndpointSlices, Jobs, ReplicaSets, Events.

Each read goes into the running check's transcript as `Lab.pod` does, so a
verdict carries the objects it was judged on.
"""

from __future__ import annotations

from kubernetes.dynamic.exceptions import DynamicApiError

from kubelab.checks.lab import Lab
from kubelab.cluster import ClusterError


def _record(lab: Lab, read: str, found) -> None:
    for recorder in lab._api_recorders:
        recorder.append({"read": read, "object": found})


def get(lab: Lab, api_version: str, kind: str, namespace: str, name: str) -> dict | None:
    found = lab.cluster.get(api_version, kind, name, namespace)
    _record(lab, f"{kind} {namespace}/{name}", found)
    return found


def list_objects(lab: Lab, api_version: str, kind: str, namespace: str, *, labels: str = "",
                 fields: str = "") -> list[dict]:
    """The objects of one kind in `namespace` that match the label and field selectors."""
    cluster = lab.cluster
    resource = cluster.resource(api_version, kind)
    try:
        with cluster._reaching(f"list {kind} in {namespace}"):
            listed = cluster.dynamic.get(resource, namespace=namespace, label_selector=labels or None,
                                         field_selector=fields or None,
                                         _request_timeout=cluster.request_timeout).to_dict()
    except DynamicApiError as exc:
        raise ClusterError(f"cannot list {kind} in {namespace}: {exc.summary()}. Fix: check the kubeconfig's "
                           f"permissions ({cluster.source})") from None
    items = listed.get("items") or []
    _record(lab, f"{kind} in {namespace} (labels {labels or '-'}, fields {fields or '-'})", items)
    return items


def label_selector(selector: dict | None) -> str:
    """A Service's selector map, or a LabelSelector (matchLabels + matchExpressions), as selector text."""
    selector = selector or {}
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr["key"], expr["operator"], ",".join(expr.get("values") or ())
        terms.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": key, "DoesNotExist": f"!{key}"}[op])
    return ",".join(terms)
