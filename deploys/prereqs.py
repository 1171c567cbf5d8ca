"""Node prerequisites kubeadm checks in preflight: swap off, kernel modules, sysctls."""

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server

from kubelab import configs
from kubelab.errors import KubelabError
from kubelab.facts import KernelFeatures, SwapState


@deploy("Node prerequisites")
def node_prerequisites():
    swap = host.get_fact(SwapState)
    if swap["active"]:
        server.shell(name="Turn swap off now", commands=["swapoff -a"])
    if swap["fstab"]:
        server.shell(name="Keep swap off after reboot (comment fstab swap lines)",
                     commands=[r"sed -i -E '/^[[:space:]]*#/!{/[[:space:]]swap[[:space:]]/s/^/# kubelab: /}' /etc/fstab"])

    # Modules may be built into the kernel (node containers share the host's
    # kernel); only a module that is neither present nor loadable is an error.
    features = host.get_fact(KernelFeatures)
    missing = sorted(m for m, state in features.items() if state == "missing")
    if missing:
        raise KubelabError(
            f"{host.name}: kernel lacks {', '.join(missing)} (not loaded, not built in, no module to load). "
            "Fix: use a kernel with overlay and br_netfilter, or install its modules package")
    for module, state in sorted(features.items()):
        if state == "loadable":
            server.modprobe(name=f"Load {module}", module=module)
    files.put(name="Load kernel modules at boot", src=StringIO(configs.MODULES_LOAD),
              dest="/etc/modules-load.d/kubernetes.conf", mode="644")

    for key, value in configs.SYSCTLS.items():
        server.sysctl(name=f"sysctl {key}={value}", key=key, value=value,
                      persist=True, persist_file=configs.SYSCTL_FILE)
