"""The container runtime: containerd, runc, CNI plugins, crictl and nerdctl."""

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from deploys.binaries import install_binaries
from kubelab import configs
from kubelab.facts import NegativeOomScoreAdjAllowed


def _restrict_oom_score_adj(spec) -> bool:
    if spec.restrict_oom_score_adj == "auto":
        return not host.get_fact(NegativeOomScoreAdjAllowed)
    return spec.restrict_oom_score_adj


@deploy("Container runtime")
def container_runtime():
    spec = host.data.kubelab_spec
    # Checked first: a mirror key that would write outside certs.d stops the run before any operation.
    mirrors = configs.registry_mirror_files(spec)
    install_binaries("containerd", "runc", "cni-plugins")
    files.directory(name="CNI config directory", path="/etc/cni/net.d")

    changed = [
        files.put(name="containerd config", src=StringIO(configs.containerd_config(
            spec, _restrict_oom_score_adj(spec))), dest="/etc/containerd/config.toml", mode="644"),
    ]
    for registry, dest, text in mirrors:
        changed.append(files.put(name=f"registry mirror for {registry}", src=StringIO(text), dest=dest, mode="644"))
    unit = files.put(name="containerd systemd unit", src=StringIO(configs.CONTAINERD_UNIT),
                     dest="/etc/systemd/system/containerd.service", mode="644")
    systemd.daemon_reload(name="systemd sees the containerd unit", _if=unit.did_change)
    systemd.service(name="containerd running and enabled", service="containerd", running=True, enabled=True)
    systemd.service(name="Restart containerd for its new config", service="containerd",
                    restarted=True, _if=any_changed(unit, *changed))


@deploy("Runtime tools")
def runtime_tools():
    install_binaries("crictl", "nerdctl")
    files.put(name="crictl talks to containerd", src=StringIO(configs.crictl_yaml()),
              dest="/etc/crictl.yaml", mode="644")
