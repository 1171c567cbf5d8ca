"""The lab's CNI: kube-router, for pod routing and NetworkPolicy.

kube-router is chosen over Flannel because CKAD tasks use NetworkPolicy,
which Flannel does not enforce, and because it builds from the Go module
proxy here while Flannel does not (see the README).
"""

from __future__ import annotations

import hashlib
import json

import yaml

from kubelab.spec import LabSpec

CONF_FILE = "/etc/cni/net.d/10-kuberouter.conflist"
MANIFEST_PATH = "/etc/kubernetes/kubelab/kube-router.yaml"
HASH_ANNOTATION = "kubelab.io/manifest-sha256"

# kube-router writes the node's podCIDR into host-local's range at start.
CNI_CONF = {
    "cniVersion": "0.3.0",
    "name": "kubelab",
    "plugins": [
        {"name": "kubernetes", "type": "bridge", "bridge": "kube-bridge", "isDefaultGateway": True,
         "ipam": {"type": "host-local"}},
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
    ],
}

_READ = ["get", "list", "watch"]
RULES = [
    {"apiGroups": [""], "resources": ["namespaces", "pods", "services", "nodes", "endpoints"], "verbs": _READ},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _READ},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": _READ},
]


def manifest(spec: LabSpec) -> str:
    image = spec.release.images()["kube-router"]
    meta = {"name": "kube-router", "namespace": "kube-system"}
    labels = {"k8s-app": "kube-router"}
    install_cni = (f"test -f {CONF_FILE} || {{ cp /etc/kube-router/cni-conf.json {CONF_FILE}.tmp && "
                   f"mv {CONF_FILE}.tmp {CONF_FILE}; }}")
    daemonset = {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {**meta, "labels": labels},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "priorityClassName": "system-node-critical",
            "serviceAccountName": "kube-router",
            "hostNetwork": True,
            "tolerations": [{"operator": "Exists"}],
            "initContainers": [{
                "name": "install-cni", "image": image, "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/sh", "-c", install_cni],
                "volumeMounts": [{"name": "cni-conf-dir", "mountPath": "/etc/cni/net.d"},
                                 {"name": "kube-router-cfg", "mountPath": "/etc/kube-router"}],
            }],
            "containers": [{
                "name": "kube-router", "image": image, "imagePullPolicy": "IfNotPresent",
                "command": ["/usr/local/bin/kube-router"],
                # The kube-proxy ConfigMap's kubeconfig talks to the API
                # server directly, so pod networking does not wait for the
                # service network it is needed to build.
                "args": ["--run-router=true", "--run-firewall=true", "--run-service-proxy=false",
                         "--kubeconfig=/var/lib/kube-router/kubeconfig.conf"],
                "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                        # v2.1.0 otherwise looks for 10-kuberouter.conf and exits.
                        {"name": "KUBE_ROUTER_CNI_CONF_FILE", "value": CONF_FILE}],
                "securityContext": {"privileged": True},
                "volumeMounts": [
                    {"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": True},
                    {"name": "cni-conf-dir", "mountPath": "/etc/cni/net.d"},
                    {"name": "kubeconfig", "mountPath": "/var/lib/kube-router", "readOnly": True},
                    {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
                ],
            }],
            "volumes": [
                # Node containers have no /lib/modules of their own.
                {"name": "lib-modules", "hostPath": {"path": "/lib/modules", "type": "DirectoryOrCreate"}},
                {"name": "cni-conf-dir", "hostPath": {"path": "/etc/cni/net.d"}},
                {"name": "kube-router-cfg", "configMap": {"name": "kube-router-cfg"}},
                {"name": "kubeconfig", "configMap": {"name": "kube-proxy"}},
                {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
            ],
        }}},
    }
    docs = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "kube-router"}, "rules": RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "kube-router"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kube-router"},
         "subjects": [{"kind": "ServiceAccount", **meta}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-router-cfg", "namespace": "kube-system"},
         "data": {"cni-conf.json": json.dumps(CNI_CONF, indent=2)}},
        daemonset,
    ]
    body = "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)
    digest = hashlib.sha256(body.encode()).hexdigest()
    daemonset["metadata"]["annotations"] = {HASH_ANNOTATION: digest}
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def manifest_hash(text: str) -> str:
    """The hash `manifest` stamped on the DaemonSet, read back from the text."""
    for doc in yaml.safe_load_all(text):
        if doc and doc.get("kind") == "DaemonSet":
            return doc["metadata"]["annotations"][HASH_ANNOTATION]
    raise ValueError("no DaemonSet in the kube-router manifest")
