"""Kubernetes on the nodes: binaries, kubelet, kubeadm init/join, CNI, operator kubeconfig.

kubeadm's own state decides what runs: init only where no cluster exists,
join only where the kubelet has no kubeconfig. The join token is made at run
time on the control plane, moved in a 0600 file, and never printed.
"""

from io import StringIO
from pathlib import Path

from pyinfra import host, state
from pyinfra.api import FunctionCommand, deploy, operation
from pyinfra.api.command import StringCommand
from pyinfra.facts.files import Sha256File
from pyinfra.operations import files, python, server, systemd
from pyinfra.operations.util import any_changed

from deploys.binaries import install_binaries
from kubelab import cni, configs, kubeadm, kubeconfig, paths
from kubelab.errors import KubelabError
from kubelab.facts import CgroupVersion, InContainer, KubeadmState, ListeningTCPPorts, ObjectField
from kubelab.inventory import lab_host

KUBELET_UNIT = """\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target containerd.service
After=network-online.target containerd.service

[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""

# kubeadm writes the kubelet's config and flags; this drop-in (the one the
# upstream packages ship) makes the kubelet read them.
KUBEADM_DROPIN = """\
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""

ADMIN = f"kubectl --kubeconfig {kubeadm.ADMIN_CONF}"


def _node_facts() -> kubeadm.NodeFacts:
    return kubeadm.NodeFacts(cgroup_version=host.get_fact(CgroupVersion),
                             in_container=host.get_fact(InContainer) is not None)


def _preflight(ports: tuple[int, ...]) -> None:
    """Fail before kubeadm does, with the fix, when a port kubeadm needs is taken."""
    busy = {p: name for p, name in host.get_fact(ListeningTCPPorts).items() if p in ports}
    if busy:
        taken = ", ".join(f"{p} ({name})" for p, name in sorted(busy.items()))
        raise KubelabError(
            f"{host.name}: ports Kubernetes needs are in use: {taken}. Fix: stop what listens there, "
            "or if an old cluster is left on this node run `kubeadm reset -f` on it (kubelab reset --depth cluster)")


@deploy("Kubernetes node binaries and kubelet")
def kubelet():
    install_binaries("kubeadm", "kubelet", "kubectl")
    unit = files.put(name="kubelet systemd unit", src=StringIO(KUBELET_UNIT),
                     dest="/etc/systemd/system/kubelet.service", mode="644")
    dropin = files.put(name="kubelet reads kubeadm's config", src=StringIO(KUBEADM_DROPIN),
                       dest="/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", mode="644")
    systemd.daemon_reload(name="systemd sees the kubelet unit", _if=any_changed(unit, dropin))
    # kubeadm starts the kubelet itself; until then it is only enabled.
    systemd.service(name="kubelet enabled", service="kubelet", running=None, enabled=True)


@deploy("kubeadm init")
def control_plane():
    spec, node = host.data.kubelab_spec, host.data.kubelab_node
    if host.get_fact(KubeadmState)["control_plane"]:
        return
    _preflight(kubeadm.CONTROL_PLANE_PORTS)
    files.put(name="kubeadm init config", src=StringIO(kubeadm.init_config(spec, node, _node_facts())),
              dest=kubeadm.INIT_CONFIG, mode="600")
    server.shell(name="kubeadm init", commands=[
        f"kubeadm init --config {kubeadm.INIT_CONFIG} --skip-token-print --skip-certificate-key-print"])


@deploy("Control plane reachable")
def api_server_ready():
    # pyinfra orders operations per host; this one operation, shared by every
    # node, is what makes the workers' joins wait for the control plane's init.
    if _cluster_built():
        return
    server.shell(name="the API server answers /readyz", commands=[
        configs.api_ready_command(host.data.kubelab_spec.control_plane.address, kubeadm.API_PORT)])


@deploy("kubeadm join")
def worker():
    if host.get_fact(KubeadmState)["joined"]:
        return
    _preflight(kubeadm.WORKER_PORTS)
    python.call(name="kubeadm join (token made now, never printed)", function=_join,
                spec=host.data.kubelab_spec, node=host.data.kubelab_node, facts=_node_facts())


def _join(spec, node, facts):
    control = lab_host(state.inventory, spec, spec.control_plane.name)
    ok, out = control.run_shell_command(
        StringCommand("kubeadm", "token", "create", "--kubeconfig", kubeadm.ADMIN_CONF, "--ttl", "15m",
                      "--print-join-command"),
        print_output=False, print_input=False, **_as_root(control))
    if not ok:
        raise KubelabError(f"{control.name}: `kubeadm token create` failed: {out.stderr}. "
                           "Fix: check the control plane with `kubectl get nodes` on it, then re-run")
    token, ca_hash = kubeadm.parse_join_command(out.stdout)
    text = kubeadm.join_config(spec, node, facts, token, ca_hash)
    # The directory is 0700, so the token file is never readable by others,
    # and it is removed whatever kubeadm join does.
    host.run_shell_command(StringCommand("install", "-d", "-m", "700", "/etc/kubernetes/kubelab"), **_as_root(host))
    _put_private(text, kubeadm.JOIN_CONFIG)
    ok, out = host.run_shell_command(
        StringCommand(f"chmod 600 {kubeadm.JOIN_CONFIG} && kubeadm join --config {kubeadm.JOIN_CONFIG}; "
                      f"rc=$?; rm -f {kubeadm.JOIN_CONFIG}; exit $rc"),
        print_output=False, print_input=False, **_as_root(host))
    if not ok:
        raise KubelabError(f"{host.name}: kubeadm join failed: {_redact(out.stderr, token)}")


def _put_private(text: str, dest: str) -> None:
    """Upload a secret to a root-only path without it ever being readable by others on the node.

    With sudo, pyinfra uploads to a temporary file first, by default in /tmp
    with the SSH user's umask; here that file is in a directory only the SSH
    user can enter, removed afterwards.
    """
    root = _as_root(host)
    staging = None
    if root:
        ok, out = host.run_shell_command(StringCommand("mktemp", "-d"), print_output=False, print_input=False)
        staging = out.stdout.strip()
        if not ok or not staging.startswith("/"):
            raise KubelabError(f"{host.name}: `mktemp -d` failed: {out.stderr.strip()[:500]}. "
                               "Fix: check that the SSH user can write to its temporary directory")
    try:
        uploaded = host.put_file(StringIO(text), dest, remote_temp_filename=staging and f"{staging}/upload",
                                 print_output=False, print_input=False, **root)
    finally:
        if staging:
            host.run_shell_command(StringCommand("rm", "-rf", staging))
    if not uploaded:
        raise KubelabError(f"{host.name}: uploading {dest} failed (see the output above). "
                           "Fix: check the node's disk and that the SSH user may sudo, then re-run")


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "<token>")


@deploy("CNI (kube-router)")
def network():
    spec = host.data.kubelab_spec
    text = cni.manifest(spec)
    files.put(name="kube-router manifest", src=StringIO(text), dest=cni.MANIFEST_PATH, mode="644")
    annotation = cni.HASH_ANNOTATION.replace(".", "\\.")
    applied = host.get_fact(ObjectField, kind="daemonset", namespace="kube-system", object_name="kube-router",
                            jsonpath=f".metadata.annotations.{annotation}")
    if applied != cni.manifest_hash(text):
        server.shell(name="apply kube-router", commands=[
            f"{ADMIN} apply --server-side --force-conflicts -f {cni.MANIFEST_PATH}"])
    if applied != cni.manifest_hash(text) or not _cluster_built():
        server.shell(name="wait until every node is Ready", commands=[
            f"{ADMIN} wait --for=condition=Ready nodes --all --timeout=300s"])


def _cluster_built() -> bool:
    """Whether, before this run, the control plane existed and every worker had joined."""
    spec = host.data.kubelab_spec
    built = lab_host(state.inventory, spec, spec.control_plane.name).get_fact(KubeadmState)["control_plane"]
    for node in spec.workers:
        built = built and lab_host(state.inventory, spec, node.name).get_fact(KubeadmState)["joined"]
    return built


@deploy("Operator kubeconfig")
def operator_kubeconfig():
    local = paths.lab_dir(host.data.kubelab_spec.name) / "kubeconfig"
    admin_kubeconfig(name=f"admin kubeconfig -> {local} (0600)", local=str(local))


@operation()
def admin_kubeconfig(local: str):
    """Copy the node's admin.conf to `local` when it differs, reading it as root with no copy on the node."""
    # Read at execution time, after kubeadm init wrote it; None until then.
    remote = host.get_fact(Sha256File, path=kubeadm.ADMIN_CONF)
    if not kubeconfig.is_current(Path(local), remote):
        yield FunctionCommand(_copy_admin_kubeconfig, (Path(local),), {})


def _copy_admin_kubeconfig(state, host, local: Path) -> bool:
    command = StringCommand("base64", "-w0", kubeadm.ADMIN_CONF)
    ok, out = host.run_shell_command(command, print_output=False, print_input=False, **_as_root(host))
    if not ok:
        raise KubelabError(f"{host.name}: `{command}` failed: {out.stderr.strip()[:500]}. "
                           "Fix: check that kubeadm init finished on it, then re-run the deploy")
    kubeconfig.save(local, out.stdout, host.name, str(command))
    return True


def _as_root(target) -> dict:
    """Connector arguments for a command or upload that needs root: sudo when the SSH user is not root.

    Commands a Python callback runs on a host bypass the operation's arguments,
    so the inventory's `_sudo` has to be passed on by hand.
    """
    return {"_sudo": True} if target.data.get("_sudo") else {}
