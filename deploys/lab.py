"""Build a lab: `pyinfra inventories/<lab>.py deploys/lab.py`.

Stages follow kubeadm's order, and each can be run alone or re-run:
`--data kubelab_stages=runtime` stops after the container runtime,
`--data kubelab_stages=network,exercises` re-applies the CNI and exercises.
The default runs every stage; a second run of any stage changes nothing.
`--data kubelab_lock=FILE` (from `kubelab status --lock FILE`) stops the run
before any host is changed when it would install other versions or image digests than the lock.
"""

from pyinfra import host

from deploys.baseline import baseline
from deploys.exercises import exercises
from deploys.kubernetes import api_server_ready, control_plane, kubelet, network, operator_kubeconfig, worker
from deploys.prereqs import node_prerequisites
from deploys.runtime import container_runtime, runtime_tools
from kubelab import lablock
from kubelab.status import refuse_drift

STAGES = ("runtime", "control-plane", "join", "network", "exercises")
stages = host.data.get("kubelab_stages", ",".join(STAGES)).split(",")
unknown = sorted(set(stages) - set(STAGES))
if unknown:
    raise ValueError(f"unknown kubelab_stages {unknown}: use a comma list of {', '.join(STAGES)}")
# The lab's lock, for the whole pyinfra run (kubelab up and reset already hold it for us).
lablock.hold_until_exit(host.data.kubelab_spec.name, "pyinfra deploys/lab.py")
if host.data.get("kubelab_lock"):
    refuse_drift(host.data.kubelab_spec, host.data.kubelab_lock)
on_control_plane = "control_plane" in host.groups

if "runtime" in stages:
    node_prerequisites()
    container_runtime()
    runtime_tools()

if "control-plane" in stages:
    kubelet()
    if on_control_plane:
        control_plane()

if "join" in stages:
    api_server_ready()
    if not on_control_plane:
        worker()

if "network" in stages and on_control_plane:
    network()
    operator_kubeconfig()
    baseline()

if "exercises" in stages and on_control_plane:
    exercises()
