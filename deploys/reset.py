"""Reset a lab's cluster on its nodes: `pyinfra inventories/<lab>.py deploys/reset.py`.

The node side of `kubelab reset --depth cluster`, for pyinfra users: on every
node `kubeadm reset -f` and what kubeadm leaves (CNI config, kube-router's
links and routes, iptables and ipsets, the kubelet's, etcd's and kubeadm's
state), the same script the CLI runs. It also forgets the lab's baseline and
kubeconfig on this machine, so the next `deploys/lab.py` builds a new cluster
and records its baseline. pyinfra shows the plan and asks before it runs
(unless -y). The CLI adds what pyinfra cannot: the check that the cluster is
this lab's, the rebuild, and the verification.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import python, server

from kubelab.reset import forget_cluster, node_reset_script


@deploy("Cluster reset")
def cluster_reset():
    spec = host.data.kubelab_spec
    server.shell(name="kubeadm reset -f and what it leaves", commands=[node_reset_script(spec)])
    if "control_plane" in host.groups:
        python.call(name="forget the lab's baseline and kubeconfig here", function=forget_cluster, spec=spec)


cluster_reset()
