"""The one table of pinned versions, download URLs and checksums.

Everything kubelab installs is named here and nowhere else (kubespray's
checksums.yml is the model): the deploys, the offline bundle builder and the
tests all read this module. A Kubernetes minor maps to one `Release`; a
release expands to the `Artifact`s a node needs and the images a cluster pulls.
"""

from __future__ import annotations

from dataclasses import dataclass

ARCH = "amd64"

# The CKAD exam runs v1.35 (cncf/curriculum CKAD_Curriculum_v1.35.pdf, Feb 2026).
DEFAULT_MINOR = "1.35"

UPSTREAM_K8S_REGISTRY = "registry.k8s.io"


@dataclass(frozen=True)
class Artifact:
    """One file a node needs, as upstream publishes it.

    `filename` is the upstream file name and also the name of the file in an
    offline bundle, so the two sources are interchangeable. `install` maps a
    member of the file (the file itself when the member is "") to its path on
    the node.
    """

    component: str
    version: str
    filename: str
    url: str
    sha256: str | None
    install: tuple[tuple[str, str], ...]

    @property
    def is_archive(self) -> bool:
        return self.filename.endswith((".tar.gz", ".tgz"))


@dataclass(frozen=True)
class Release:
    """The versions that belong together for one Kubernetes minor."""

    kubernetes: str
    etcd: str  # image tag, as `kubeadm config images list` prints it
    coredns: str
    pause: str
    containerd: str
    runc: str
    cni_plugins: str
    crictl: str
    nerdctl: str
    kube_router: str

    @property
    def minor(self) -> str:
        return ".".join(self.kubernetes.lstrip("v").split(".")[:2])

    @property
    def pause_image(self) -> str:
        return f"{UPSTREAM_K8S_REGISTRY}/pause:{self.pause}"

    def images(self) -> dict[str, str]:
        """Image references the cluster pulls, by component."""
        k8s = UPSTREAM_K8S_REGISTRY
        refs = {
            name: f"{k8s}/{name}:{self.kubernetes}"
            for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
        }
        refs["etcd"] = f"{k8s}/etcd:{self.etcd}"
        refs["coredns"] = f"{k8s}/coredns/coredns:{self.coredns}"
        refs["pause"] = self.pause_image
        refs["kube-router"] = f"docker.io/cloudnativelabs/kube-router:{self.kube_router}"
        return refs

    def artifacts(self) -> list[Artifact]:
        k8s = self.kubernetes
        gh = "https://github.com"
        arts = [
            _artifact(name, k8s, name, f"https://dl.k8s.io/release/{k8s}/bin/linux/{ARCH}/{name}",
                      (("", f"/usr/local/bin/{name}"),))
            for name in ("kubeadm", "kubelet", "kubectl")
        ]
        c = self.containerd
        arts.append(_artifact(
            "containerd", c, f"containerd-{c}-linux-{ARCH}.tar.gz",
            f"{gh}/containerd/containerd/releases/download/v{c}/containerd-{c}-linux-{ARCH}.tar.gz",
            tuple((f"bin/{b}", f"/usr/local/bin/{b}") for b in CONTAINERD_BINARIES),
        ))
        arts.append(_artifact(
            "runc", self.runc, f"runc.{ARCH}",
            f"{gh}/opencontainers/runc/releases/download/{self.runc}/runc.{ARCH}",
            (("", "/usr/local/sbin/runc"),),
        ))
        cni = self.cni_plugins
        arts.append(_artifact(
            "cni-plugins", cni, f"cni-plugins-linux-{ARCH}-{cni}.tgz",
            f"{gh}/containernetworking/plugins/releases/download/{cni}/cni-plugins-linux-{ARCH}-{cni}.tgz",
            tuple((p, f"/opt/cni/bin/{p}") for p in CNI_PLUGINS),
        ))
        cr = self.crictl
        arts.append(_artifact(
            "crictl", cr, f"crictl-{cr}-linux-{ARCH}.tar.gz",
            f"{gh}/kubernetes-sigs/cri-tools/releases/download/{cr}/crictl-{cr}-linux-{ARCH}.tar.gz",
            (("crictl", "/usr/local/bin/crictl"),),
        ))
        n = self.nerdctl
        arts.append(_artifact(
            "nerdctl", n, f"nerdctl-{n}-linux-{ARCH}.tar.gz",
            f"{gh}/containerd/nerdctl/releases/download/v{n}/nerdctl-{n}-linux-{ARCH}.tar.gz",
            (("nerdctl", "/usr/local/bin/nerdctl"),),
        ))
        return arts

    def artifact(self, component: str) -> Artifact:
        for art in self.artifacts():
            if art.component == component:
                return art
        raise KeyError(component)


# The series' exercise images. Where the offline bundle cannot pull them, it
# builds stand-ins under the same names, labelled as such.
EXERCISE_IMAGES = {
    "docker.io/library/nginx:1.27": "Debian nginx-light and curl, laid out as upstream's image",
    "docker.io/library/busybox:1.37": "busybox compiled from upstream's source with upstream's image config",
    # A second tag of one app, for rolling updates and rollbacks: the nginx:1.27
    # stand-in's recipe under its own reference, so its image ID differs.
    "docker.io/library/nginx:1.28": "the nginx:1.27 stand-in's recipe, tagged 1.28",
}
# The busybox stand-in is compiled from upstream's release tarball, as
# docker-library/busybox builds busybox:1.37 (Debian's busybox-static 1.35 is
# configured without wget -T, which it parses anyway and crashes on, and
# without nc -z). busybox.net is not reachable here; Debian's pool serves the
# same file as the package's orig tarball. The sha256 is busybox.net's, for
# busybox-1.37.0.tar.bz2.
BUSYBOX_VERSION = "1.37.0"
BUSYBOX_SOURCE_URL = f"http://deb.debian.org/debian/pool/main/b/busybox/busybox_{BUSYBOX_VERSION}.orig.tar.bz2"
BUSYBOX_SOURCE_SHA256 = "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4"

CONTAINERD_BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr")
# What kube-router's CNI config chains, plus portmap for hostPort exercises.
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap", "bandwidth")

RELEASES: dict[str, Release] = {
    "1.35": Release(
        kubernetes="v1.35.4", etcd="3.6.6-0", coredns="v1.13.1", pause="3.10.1",
        containerd="2.1.9", runc="v1.3.6", cni_plugins="v1.9.1",
        # crictl v1.35.0 is not served by the Go module proxy reachable here;
        # crictl speaks CRI v1, and v1.34 is supported against 1.35 nodes.
        crictl="v1.34.0", nerdctl="2.3.5", kube_router="v2.1.0",
    ),
    "1.34": Release(
        kubernetes="v1.34.4", etcd="3.6.5-0", coredns="v1.12.1", pause="3.10.1",
        containerd="2.1.9", runc="v1.3.6", cni_plugins="v1.9.1",
        crictl="v1.34.0", nerdctl="2.3.5", kube_router="v2.1.0",
    ),
}

# Published sha256 of the upstream release files for linux/amd64, keyed by
# (component, version). Copied, never computed here (this machine cannot reach
# the download hosts), from kubespray
# roles/kubespray_defaults/vars/main/checksums.yml at commit
# 46dbdd3994b32640bcd806b0097f50e8fdf1d514 ("Patch versions updates (#13423)"),
# amd64 entries; kubespray writes versions without the leading "v". kubespray
# downloads the same files from the same URLs (non-static containerd archive),
# so its checksums are the ones upstream publishes beside each file.
# A missing entry means no published table was found for that version:
# nerdctl 2.3.5 is absent (kubespray stops at 2.3.0), so the upstream path
# refuses it until a published value is added here or a lab spec pins one
# under artifacts.sha256 (the offline bundle records its own checksums).
CHECKSUMS: dict[tuple[str, str], str] = {
    ("kubeadm", "v1.35.4"): "0c0497da793f8897c14e45340da919534b615294a1aab69dc1998896c0f11145",
    ("kubelet", "v1.35.4"): "983a6ba5a49823dcdd745c674e5e2416377dd27d6ad1b42d2befa0fb961a19f6",
    ("kubectl", "v1.35.4"): "b529430df69a688fd61b64ad2299edb5fd71cb58be2a4779dba624c7d3510efd",
    ("kubeadm", "v1.34.4"): "b967f1fa0e36621c402d38bb560eb4a943954d5cf5a00e5150842f6f5da73455",
    ("kubelet", "v1.34.4"): "03b8fea715a7ef82eeaf518dee34c72670c57cc7bc40dc1320c04fbf4f15172f",
    ("kubectl", "v1.34.4"): "d50c359d95e0841eaad08ddc27c7be37cba8fdccfba5c8e2ded65e121ff112db",
    ("containerd", "2.1.9"): "0083d2a4c2e77eeb20e55b6d955822fb957ff386c0c23959c8b27f598317586c",
    ("runc", "v1.3.6"): "3f3921dbbee7723e9868f97e88e51ffc910206e3ba55646e74d93d24ea76023c",
    ("cni-plugins", "v1.9.1"): "b98f74a0f8522f0a83867178729c1aa70f2158f90c45a2ca8fa791db1c76b303",
    ("crictl", "v1.34.0"): "a8ff2a3edb37a98daf3aba7c3b284fe0aa5bff24166d896ab9ef64c8913c9f51",
}


# Pinned artifacts with no published checksum to copy. Each is a known gap,
# named with its reason, so the test that demands checksums stays strict for
# everything else; the upstream path refuses these files unless the lab spec
# pins them (artifacts.sha256), the bundle builds them.
UNPUBLISHED: dict[tuple[str, str], str] = {
    ("nerdctl", "2.3.5"): "kubespray's checksums.yml stops at nerdctl 2.3.0; the value is only in the "
                          "release's .sha256sum file, which this machine cannot reach",
}

def _artifact(component: str, version: str, filename: str, url: str,
              install: tuple[tuple[str, str], ...]) -> Artifact:
    return Artifact(component, version, filename, url, CHECKSUMS.get((component, version)), install)


def release(minor: str) -> Release:
    """The release for a Kubernetes minor such as "1.35"."""
    try:
        return RELEASES[minor]
    except KeyError:
        known = ", ".join(sorted(RELEASES))
        raise KeyError(f"Kubernetes {minor} is not in the version table (known: {known})") from None
