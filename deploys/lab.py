"""Build a lab: `pyinfra inventories/<lab>.py deploys/lab.py`.

Stages run in kubeadm's order and each can be re-run alone:
`--data kubelab_stages=runtime` stops after the container runtime; the
default runs every stage. A second run of any stage changes nothing.
"""

from pyinfra import host

from deploys.exercises import exercises
from deploys.kubernetes import api_server_ready, control_plane, kubelet, network, operator_kubeconfig, worker
from deploys.prereqs import node_prerequisites
from deploys.runtime import container_runtime, runtime_tools

STAGES = ("runtime", "kubernetes", "exercises")
stages = host.data.get("kubelab_stages", ",".join(STAGES)).split(",")
unknown = sorted(set(stages) - set(STAGES))
if unknown:
    raise ValueError(f"unknown kubelab_stages {unknown}: use a comma list of {', '.join(STAGES)}")

if "runtime" in stages:
    node_prerequisites()
    container_runtime()
    runtime_tools()

if "kubernetes" in stages:
    kubelet()
    if "control_plane" in host.groups:
        control_plane()
    api_server_ready()
    if "workers" in host.groups:
        worker()
    if "control_plane" in host.groups:
        network()
        operator_kubeconfig()

if "exercises" in stages and "control_plane" in host.groups:
    exercises()
