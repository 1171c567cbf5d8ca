"""Container images as docker-archive tars, built without a registry or a running container.

No registry is reachable here and podman can run containers only with runc,
so every image is a rootfs tar imported with `podman import --change ...`
and saved with `podman save`: static Go binaries go on an empty rootfs;
images that shell out to iptables/ipset/conntrack, and the nginx stand-in,
sit on a debootstrapped Debian minbase rootfs. Each image is cached by the
sha256 of everything that goes into it, so a rebuild only repeats what changed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kubelab import paths
from kubelab.artifacts import sha256_of
from kubelab.bundle.gobuild import Built
from kubelab.bundle.lock import exclusive
from kubelab.errors import ArtifactError
from kubelab.versions import EXERCISE_IMAGES, Release

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# kube-proxy and kube-router program the node's netfilter through these
# commands; minbase brings the sh and cp kube-router's CNI install step runs.
NETFILTER_TOOLS = ("iptables", "ipset", "conntrack")
ENV_PATH = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Bump when the way a rootfs tar is composed changes, so cached images are rebuilt.
RECIPE_REVISION = 1

# Upstream's image serves /usr/share/nginx/html, which exercises mount
# volumes over; Debian's default site serves /var/www/html. IPv4 only,
# because upstream adds the IPv6 listener only where the pod has IPv6.
NGINX_SITE = """\
server {
    listen 80 default_server;
    server_name _;
    root /usr/share/nginx/html;
    index index.html index.htm;
    location / {
        try_files $uri $uri/ =404;
    }
}
"""
BUSYBOX_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
BUSYBOX_GROUP = "root:x:0:\nnobody:x:65534:\n"


@dataclass(frozen=True)
class ImageSpec:
    """One image: a rootfs (Debian packages or empty) plus files, and its config."""

    ref: str
    changes: tuple[str, ...]
    base_packages: tuple[str, ...] = ()  # empty: FROM scratch
    files: tuple[tuple[str, Path], ...] = ()  # path in the image, file here
    texts: tuple[tuple[str, str], ...] = ()  # path in the image, content
    links: tuple[tuple[str, str], ...] = ()  # path in the image, symlink target
    dirs: tuple[tuple[str, int], ...] = ()  # path in the image, mode
    stand_in_from: str = ""  # the Debian package a stand-in is built from


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    path: Path
    seconds: float
    cached: bool


def bundle_name(ref: str) -> str:
    """The image's file name in a bundle: the reference, made safe for a path."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", ref) + ".tar"


def image_specs(release: Release, built: dict[str, Built]) -> list[ImageSpec]:
    """Every image `release` pulls, plus the exercise stand-ins."""
    refs = release.images()
    k8s = built["kubernetes"]

    def bin_image(ref: str, binary: Path, *changes: str, base: tuple[str, ...] = ()) -> ImageSpec:
        return ImageSpec(ref, (ENV_PATH, *changes), base, files=((f"usr/local/bin/{binary.name}", binary),))

    specs = [bin_image(refs[name], k8s.binary(name))
             for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
    specs += [
        bin_image(refs["kube-proxy"], k8s.binary("kube-proxy"), base=NETFILTER_TOOLS),
        bin_image(refs["etcd"], built["etcd"].binary("etcd")),
        bin_image(refs["kube-router"], built["kube-router"].binary("kube-router"),
                  'ENTRYPOINT ["/usr/local/bin/kube-router"]', base=NETFILTER_TOOLS),
        # Where upstream's images keep them; kubeadm's CoreDNS Deployment passes args only.
        ImageSpec(refs["coredns"], (ENV_PATH, 'ENTRYPOINT ["/coredns"]'),
                  files=(("coredns", built["coredns"].binary("coredns")),)),
        ImageSpec(refs["pause"], (ENV_PATH, 'ENTRYPOINT ["/pause"]', "USER 65535:65535"),
                  files=(("pause", built["pause"].binary("pause")),)),
    ]
    return specs + exercise_image_specs()


def exercise_image_specs() -> list[ImageSpec]:
    nginx, busybox = "docker.io/library/nginx:1.27", "docker.io/library/busybox:1.37"
    if set(EXERCISE_IMAGES) != {nginx, busybox}:
        raise ArtifactError(f"kubelab.versions.EXERCISE_IMAGES lists {sorted(EXERCISE_IMAGES)}, but the bundle "
                            "knows how to build stand-ins only for nginx:1.27 and busybox:1.37. "
                            "Fix: add a recipe in kubelab/bundle/images.py.")
    box = _host_busybox()
    applets = _run([str(box), "--list"], "apt-get install busybox-static").split()
    return [
        ImageSpec(nginx, (ENV_PATH, 'CMD ["nginx", "-g", "daemon off;"]', "EXPOSE 80/tcp", "STOPSIGNAL SIGQUIT"),
                  base_packages=("nginx-light",), texts=(("etc/nginx/sites-available/default", NGINX_SITE),),
                  stand_in_from="nginx-light"),
        # Upstream's layout: every applet linked in /bin.
        ImageSpec(busybox, ("ENV PATH=/bin", 'CMD ["sh"]'),
                  files=(("bin/busybox", box),),
                  links=tuple((f"bin/{a}", "busybox") for a in applets if a != "busybox"),
                  texts=(("etc/passwd", BUSYBOX_PASSWD), ("etc/group", BUSYBOX_GROUP)),
                  dirs=(("tmp", 0o1777), ("root", 0o700)),
                  stand_in_from="busybox-static"),
    ]


def build_image(spec: ImageSpec) -> BuiltImage:
    """The image as a docker-archive tar, from the cache when its inputs are unchanged."""
    start = time.monotonic()
    base = debian_rootfs(spec.base_packages) if spec.base_packages else None
    changes = spec.changes
    if spec.stand_in_from:
        versions = base.versions if base else _dpkg_versions(None)
        what = f"Debian package {spec.stand_in_from} {versions[spec.stand_in_from]}"
        # One label per change: podman's --change parser takes one key=value per LABEL.
        changes += ("LABEL kubelab.stand-in=true",
                    f'LABEL org.opencontainers.image.description="kubelab stand-in for {spec.ref}, '
                    f'built from {what}; not the upstream image"')
    key = _digest({
        "revision": RECIPE_REVISION, "ref": spec.ref, "changes": changes,
        "base": base.sha256 if base else None,
        "files": [(p, sha256_of(src), os.stat(src).st_mode & 0o7777) for p, src in spec.files],
        "texts": spec.texts, "links": spec.links, "dirs": spec.dirs,
    })
    out = paths.cache_dir() / "images" / key[:24] / "image.tar"
    # podman's store holds one image per reference: one build of a reference at a time.
    with exclusive(paths.cache_dir() / "images" / f".{bundle_name(spec.ref)}.lock"):
        if out.is_file():
            return BuiltImage(spec.ref, out, round(time.monotonic() - start, 1), cached=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            rootfs = Path(tmp) / "rootfs.tar"
            _compose_rootfs(spec, base.tar if base else None, rootfs)
            saved = Path(tmp) / "image.tar"
            _podman_import_save(spec.ref, changes, rootfs, saved)
            os.replace(saved, out)
    return BuiltImage(spec.ref, out, round(time.monotonic() - start, 1), cached=False)


@dataclass(frozen=True)
class Rootfs:
    tar: Path
    sha256: str
    versions: dict[str, str]  # package -> version, as dpkg has them installed


def debian_rootfs(packages: tuple[str, ...]) -> Rootfs:
    """A debootstrapped minbase rootfs with `packages`, as a tar, cached by the package list."""
    key = _digest({"suite": DEBIAN_SUITE, "mirror": DEBIAN_MIRROR, "packages": sorted(packages)})
    root = paths.cache_dir() / "rootfs" / key[:24]
    with exclusive(root.with_name(f".{root.name}.lock")):
        return _debootstrap_locked(packages, root)


def _debootstrap_locked(packages: tuple[str, ...], root: Path) -> Rootfs:
    tar, marker = root / "rootfs.tar", root / "rootfs.json"
    if marker.is_file() and tar.is_file():
        meta = json.loads(marker.read_text())
        return Rootfs(tar, meta["sha256"], meta["versions"])
    shutil.rmtree(root, ignore_errors=True)
    target = root / "target"
    target.mkdir(parents=True)
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", DEBIAN_SUITE, str(target),
          DEBIAN_MIRROR], "apt-get install debootstrap")
    versions = _dpkg_versions(target / "var/lib/dpkg")
    # The runtime provides /dev, resolv.conf and hostname; the package
    # cache and apt lists are dead weight in an image.
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "dev"):
        for item in (target / junk).glob("*"):
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()
    for name in ("etc/resolv.conf", "etc/hostname"):
        (target / name).unlink(missing_ok=True)
    _run(["tar", "--numeric-owner", "-C", str(target), "-cf", str(tar), "."], "apt-get install tar")
    shutil.rmtree(target)
    rootfs = Rootfs(tar, sha256_of(tar), versions)
    marker.write_text(json.dumps({"packages": sorted(packages), "sha256": rootfs.sha256, "versions": versions}))
    return rootfs


def _compose_rootfs(spec: ImageSpec, base: Path | None, out: Path) -> None:
    added: dict[str, tuple[tarfile.TarInfo, bytes | Path | None]] = {}

    def info(path: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(f"./{path}")
        ti.type, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = kind, mode, 0, 0, "root", "root"
        return ti

    for path, mode in spec.dirs:
        added[path] = (info(path, tarfile.DIRTYPE, mode), None)
    for path, src in spec.files:
        ti = info(path, tarfile.REGTYPE, os.stat(src).st_mode & 0o7777)
        ti.size = src.stat().st_size
        added[path] = (ti, src)
    for path, text in spec.texts:
        data = text.encode()
        ti = info(path, tarfile.REGTYPE, 0o644)
        ti.size = len(data)
        added[path] = (ti, data)
    for path, target in spec.links:
        ti = info(path, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        added[path] = (ti, None)

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        present = set()
        if base is not None:
            with tarfile.open(base) as src:
                for member in src:
                    name = member.name.removeprefix("./").rstrip("/")
                    # An added file replaces the base's, rather than being
                    # written through whatever the base has at that path.
                    if name in added:
                        continue
                    present.add(name)
                    dst.addfile(member, src.extractfile(member) if member.isreg() else None)
        for path in sorted(added):
            for parent in reversed(Path(path).parents[:-1]):
                if str(parent) not in present:
                    present.add(str(parent))
                    dst.addfile(info(str(parent), tarfile.DIRTYPE, 0o755))
            ti, payload = added[path]
            present.add(path)
            if isinstance(payload, Path):
                with open(payload, "rb") as fh:
                    dst.addfile(ti, fh)
            else:
                dst.addfile(ti, io.BytesIO(payload) if payload is not None else None)


def _podman_import_save(ref: str, changes: tuple[str, ...], rootfs: Path, out: Path) -> None:
    args = [a for change in changes for a in ("--change", change)]
    _run(["podman", "import", *args, str(rootfs), ref], "apt-get install podman")
    try:
        _run(["podman", "save", "-m", "--format", "docker-archive", "-o", str(out), ref], "apt-get install podman")
    finally:
        # The tar is the product; keep podman's own store from piling up copies.
        subprocess.run(["podman", "rmi", "--force", ref], capture_output=True)


def _host_busybox() -> Path:
    listing = _run(["dpkg", "-L", "busybox-static"], "apt-get install busybox-static")
    for line in listing.splitlines():
        if line.endswith("/bin/busybox") and Path(line).is_file():
            return Path(line)
    raise ArtifactError("the busybox-static package lists no /bin/busybox. "
                        "Fix: apt-get install --reinstall busybox-static")


def _dpkg_versions(admindir: Path | None) -> dict[str, str]:
    cmd = ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"]
    if admindir is not None:
        cmd.insert(1, f"--admindir={admindir}")
    out = _run(cmd, "build on Debian, where dpkg-query exists")
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def _digest(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _run(cmd: list[str], install: str) -> str:
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise ArtifactError(f"building images needs `{cmd[0]}`, which is not on PATH. Fix: {install}") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
        raise ArtifactError(f"image build step failed: `{' '.join(cmd)}` exited {proc.returncode}:\n{tail}\n"
                            "Fix: address the error above, then rerun `kubelab bundle build`.")
    return proc.stdout
