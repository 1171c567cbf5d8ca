"""The node image: a debootstrapped Debian with systemd and sshd, built once.

The image is named by a hash of its recipe, so changing the package list or
the setup builds a new image and an unchanged recipe reuses the old one (the
podman store outlives any clone, which keeps CI warm).
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from kubelab import paths
from kubelab.local import podman

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"

# systemd + sshd make a node look like a VM to pyinfra and paramiko; the rest
# is what kubeadm's preflight and kube-proxy call on the node.
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "ca-certificates", "python3",
    "sudo", "iptables", "conntrack", "ethtool", "socat", "kmod", "procps", "curl", "libseccomp2",
    "ipset", "util-linux", "mount",
)

# Units that fail or fight the host inside a container.
MASKED_UNITS = ("getty@tty1.service", "serial-getty@.service", "console-getty.service",
                "systemd-udevd.service", "systemd-udev-trigger.service", "systemd-networkd-wait-online.service")

# Who kubelab may log in as: root, or a cloud-VM-style user with passwordless sudo.
USERS = ("root", "ubuntu")

SETUP = f"""
set -e
# A DHCP stanza for eth0 blocks boot in a container; podman configures eth0.
printf 'auto lo\\niface lo inet loopback\\n' > /etc/network/interfaces 2>/dev/null || true
for u in {' '.join(MASKED_UNITS)}; do ln -sf /dev/null /etc/systemd/system/$u; done
# Every node gets its own host key at create time; none is baked into the image.
rm -f /etc/ssh/ssh_host_*
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\\nPasswordAuthentication no\\nPermitRootLogin prohibit-password\\n' \\
  > /etc/ssh/sshd_config.d/kubelab.conf
mkdir -p /root/.ssh && chmod 700 /root/.ssh
useradd --create-home --shell /bin/bash --uid 1000 ubuntu
install -d -m 700 -o ubuntu -g ubuntu /home/ubuntu/.ssh
printf 'ubuntu ALL=(ALL) NOPASSWD:ALL\\n' > /etc/sudoers.d/90-ubuntu && chmod 440 /etc/sudoers.d/90-ubuntu
systemctl enable ssh
apt-get clean
rm -rf /var/lib/apt/lists/*
"""


def home(user: str) -> str:
    return "/root" if user == "root" else f"/home/{user}"


def image_name() -> str:
    recipe = "\n".join((SUITE, MIRROR, *PACKAGES, SETUP)).encode()
    return f"localhost/kubelab-node:{hashlib.sha256(recipe).hexdigest()[:12]}"


def ensure_image(console: Console | None = None) -> str:
    """The node image's name, building it first when this recipe has no image yet."""
    name = image_name()
    if podman.exists("image", name):
        return name
    podman.require("debootstrap", "debootstrap")
    console = console or Console(stderr=True)
    work = Path(tempfile.mkdtemp(prefix="node-rootfs-", dir=_scratch()))
    try:
        rootfs = work / "rootfs"
        with console.status(f"debootstrap {SUITE} node rootfs (about a minute, once per recipe)"):
            podman.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                        SUITE, str(rootfs), MIRROR], timeout=1200)
            podman.run(["chroot", str(rootfs), "/bin/sh", "-c", SETUP])
        with console.status(f"importing {name}"):
            podman.run(["sh", "-c", f"tar -C {shlex.quote(str(rootfs))} -c . | podman import "
                        f"--change 'CMD [\"/sbin/init\"]' --change 'ENV container=podman' - {shlex.quote(name)}"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return name


def _scratch() -> Path:
    path = paths.cache_dir() / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path
