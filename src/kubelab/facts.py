"""pyinfra facts kubelab needs about a node, each a command plus a parser.

The deploys never ask what kind of machine they are on; they read these
facts (cgroup version, what the kernel has built in, whether kubeadm has run)
and act on them, so VMs and node containers take the same code path.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError


def _unexpected(fact: FactBase, output, expected: str) -> FactProcessError:
    """The error pyinfra reports for the host (failing it) when a fact's command printed something else."""
    return FactProcessError(f"`{fact.command()}` printed {list(output)[:5]!r}, not {expected}")


class CgroupVersion(FactBase):
    """1 or 2, from the filesystem type mounted at /sys/fs/cgroup."""

    def command(self) -> str:
        return "stat -fc %T /sys/fs/cgroup"

    def process(self, output) -> int:
        return 2 if output and output[0].strip() == "cgroup2fs" else 1


class NegativeOomScoreAdjAllowed(FactBase):
    """Whether the kernel lets root lower oom_score_adj (some sandboxes forbid it)."""

    def command(self) -> str:
        return "sh -c 'echo -1 > /proc/self/oom_score_adj' 2>/dev/null && echo yes || echo no"

    def process(self, output) -> bool:
        return bool(output) and output[0].strip() == "yes"


class InContainer(FactBase):
    """The container manager's name when the node is itself a container, else None."""

    def command(self) -> str:
        return "systemd-detect-virt --container 2>/dev/null || true"

    def process(self, output):
        value = output[0].strip() if output else "none"
        return None if value in ("", "none") else value


# How to tell that each kernel feature kubeadm needs is present, whether
# loaded as a module or built into the kernel.
KERNEL_FEATURES = {
    "overlay": "grep -qw overlay /proc/filesystems",
    "br_netfilter": "test -d /proc/sys/net/bridge",
}


class KernelFeatures(FactBase):
    """Per module kubeadm needs: "present" (loaded or built in), "loadable" or "missing"."""

    def command(self) -> str:
        checks = [
            f"if {probe}; then echo {mod} present; "
            f"elif modinfo {mod} >/dev/null 2>&1; then echo {mod} loadable; "
            f"else echo {mod} missing; fi"
            for mod, probe in KERNEL_FEATURES.items()
        ]
        return "; ".join(checks)

    def process(self, output) -> dict[str, str]:
        try:
            features = dict(line.split() for line in output if line.strip())
        except ValueError:  # a line of other than two words
            features = {}
        if set(features) != set(KERNEL_FEATURES) or set(features.values()) - {"present", "loadable", "missing"}:
            raise _unexpected(self, output, "a `MODULE present|loadable|missing` line per module")
        return features


class KubeadmState(FactBase):
    """Which kubeadm-written files exist: what a node has already joined as."""

    def command(self) -> str:
        return ("for f in /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf; do "
                "test -s $f && echo $f; done; true")

    # pyinfra skips process() when a command prints nothing: no kubeadm files yet.
    def default(self) -> dict[str, bool]:
        return self.process([])

    def process(self, output) -> dict[str, bool]:
        present = {line.strip() for line in output}
        return {
            "control_plane": "/etc/kubernetes/admin.conf" in present,
            "joined": "/etc/kubernetes/kubelet.conf" in present,
        }


class SwapState(FactBase):
    """Active swap devices and /etc/fstab swap lines that are not commented out."""

    def command(self) -> str:
        return ("echo active $(tail -n +2 /proc/swaps | wc -l); "
                "echo fstab $(awk '!/^[[:space:]]*#/ && $3 == \"swap\"' /etc/fstab 2>/dev/null | wc -l)")

    def process(self, output) -> dict[str, int]:
        try:
            counts = {key: int(value) for key, value in (line.split() for line in output)}
        except ValueError:  # a line of other than two words, or a count that is no number
            counts = {}
        if set(counts) != {"active", "fstab"}:
            raise _unexpected(self, output, "`active N` and `fstab N` lines")
        return counts


class ListeningTCPPorts(FactBase):
    """TCP ports something listens on, with the process name when ss can tell."""

    def command(self) -> str:
        return "ss -Hltnp 2>/dev/null || true"

    def default(self) -> dict[int, str]:
        return {}

    def process(self, output) -> dict[int, str]:
        ports = {}
        for line in output:
            fields = line.split()
            if len(fields) < 4:
                continue
            port = fields[3].rsplit(":", 1)[-1]
            users = fields[5] if len(fields) > 5 else ""
            name = users.split('"')[1] if '"' in users else "?"
            if port.isdigit():
                ports[int(port)] = name
        return ports


class ObjectField(FactBase):
    """One field of one API object by JSONPath, read with the node's admin kubeconfig ('' when absent)."""

    def command(self, kind: str, namespace: str, object_name: str, jsonpath: str) -> str:
        # Namespace and name come from manifests: quoted, they stay one argument each.
        argv = ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "-n", namespace, "get", kind, object_name,
                "-o", f"jsonpath={{{jsonpath}}}"]
        return f"{shlex.join(argv)} 2>/dev/null || true"

    def default(self) -> str:
        return ""

    def process(self, output) -> str:
        return "".join(output).strip()
