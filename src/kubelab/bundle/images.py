"""Container images as docker-archive tars, built without a registry or a running container.

No registry is reachable here and podman can run containers only with runc,
so every image is a rootfs tar imported with `podman import --change ...`
and saved with `podman save`: static Go binaries go on an empty rootfs;
images that shell out to iptables/ipset/conntrack, and the nginx stand-in,
sit on a debootstrapped Debian minbase rootfs; the busybox stand-in is
upstream's busybox compiled here. Each image is cached by the sha256 of
everything that goes into it, so a rebuild only repeats what changed.
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
from dataclasses import dataclass, replace
from pathlib import Path

from kubelab import paths
from kubelab.artifacts import sha256_of, sha256_remembered
from kubelab.bundle import busybox
from kubelab.bundle.gobuild import Built
from kubelab.bundle.lock import exclusive
from kubelab.errors import ArtifactError
from kubelab.versions import BUSYBOX_SOURCE_SHA256, BUSYBOX_VERSION, EXERCISE_IMAGES, Release

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# kube-proxy and kube-router program the node's netfilter through these
# commands; minbase brings the sh and cp kube-router's CNI install step runs.
NETFILTER_TOOLS = ("iptables", "ipset", "conntrack")
ENV_PATH = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Bump when the way a rootfs tar is composed changes, so cached images are rebuilt.
RECIPE_REVISION = 2

# Upstream's nginx.conf, but for Debian's worker user and module directory:
# it reads only conf.d/*.conf, so a ConfigMap mounted over conf.d replaces
# the default site, as in upstream's image.
NGINX_CONF = """\
user www-data;
worker_processes auto;
error_log /var/log/nginx/error.log notice;
pid /run/nginx.pid;
include /etc/nginx/modules-enabled/*.conf;

events {
    worker_connections 1024;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" '
                    '"$http_user_agent" "$http_x_forwarded_for"';
    access_log /var/log/nginx/access.log main;
    sendfile on;
    keepalive_timeout 65;
    include /etc/nginx/conf.d/*.conf;
}
"""
# Upstream's conf.d/default.conf. IPv4 only, because upstream's entrypoint
# adds the IPv6 listener only where the pod has IPv6.
NGINX_DEFAULT_SITE = """\
server {
    listen 80;
    server_name localhost;
    location / {
        root /usr/share/nginx/html;
        index index.html index.htm;
    }
    error_page 500 502 503 504 /50x.html;
    location = /50x.html {
        root /usr/share/nginx/html;
    }
}
"""
# Upstream's busybox image takes these from buildroot's skeleton.
BUSYBOX_PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
BUSYBOX_GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""


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
    applet_links: str = ""  # a multi-call binary in the image: /bin gets a link per applet it lists
    # What a stand-in is built from: a Debian package of its base (its
    # installed version is added) or, without a base, a description.
    stand_in_from: str = ""


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
    nginx, nginx_next = "docker.io/library/nginx:1.27", "docker.io/library/nginx:1.28"
    box = "docker.io/library/busybox:1.37"
    if set(EXERCISE_IMAGES) != {nginx, nginx_next, box}:
        raise ArtifactError(f"kubelab.versions.EXERCISE_IMAGES lists {sorted(EXERCISE_IMAGES)}, but the bundle "
                            "knows how to build stand-ins only for nginx:1.27, nginx:1.28 and busybox:1.37. "
                            "Fix: add a recipe in kubelab/bundle/images.py.")
    # curl as in upstream's image; logs to the container's output unless
    # a volume is mounted over /var/log/nginx, as upstream's symlinks do.
    nginx_spec = ImageSpec(nginx, (ENV_PATH, 'CMD ["nginx", "-g", "daemon off;"]', "EXPOSE 80/tcp",
                                   "STOPSIGNAL SIGQUIT"),
                           base_packages=("nginx-light", "curl"),
                           texts=(("etc/nginx/nginx.conf", NGINX_CONF),
                                  ("etc/nginx/conf.d/default.conf", NGINX_DEFAULT_SITE)),
                           links=(("var/log/nginx/access.log", "/dev/stdout"),
                                  ("var/log/nginx/error.log", "/dev/stderr")),
                           stand_in_from="nginx-light")
    return [
        nginx_spec,
        # The same files: its stand-in label names its own reference, so its image ID differs from 1.27's.
        replace(nginx_spec, ref=nginx_next),
        # Upstream's layout: every applet linked in /bin, /usr/bin/env for
        # scripts' #! lines, and buildroot's skeleton files and directories.
        ImageSpec(box, (ENV_PATH, 'CMD ["sh"]'),
                  files=(("bin/busybox", busybox.binary()),),
                  applet_links="bin/busybox",
                  links=(("usr/bin/env", "../../bin/env"),),
                  texts=(("etc/passwd", BUSYBOX_PASSWD), ("etc/group", BUSYBOX_GROUP),
                         ("etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n")),
                  dirs=(("tmp", 0o1777), ("root", 0o700), ("home", 0o755), ("var/spool/mail", 0o755),
                        ("var/www", 0o755)),
                  stand_in_from=f"upstream's busybox {BUSYBOX_VERSION} source (sha256 {BUSYBOX_SOURCE_SHA256[:12]}), "
                                "compiled with upstream's image config"),
    ]


def build_image(spec: ImageSpec) -> BuiltImage:
    """The image as a docker-archive tar, from the cache when its inputs are unchanged."""
    start = time.monotonic()
    base = debian_rootfs(spec.base_packages) if spec.base_packages else None
    changes = spec.changes
    if spec.stand_in_from:
        what = f"Debian package {spec.stand_in_from} {base.versions[spec.stand_in_from]}" if base \
            else spec.stand_in_from
        # One label per change: podman's --change parser takes one key=value per LABEL.
        changes += ("LABEL kubelab.stand-in=true",
                    f'LABEL org.opencontainers.image.description="kubelab stand-in for {spec.ref}, '
                    f'built from {what}; not the upstream image"')
    key = image_key(spec, changes, base.sha256 if base else None)
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


def image_key(spec: ImageSpec, changes: tuple[str, ...], base_sha256: str | None) -> str:
    """The cache key of an image: a change to anything that goes into it (a file's bytes too) is a rebuild."""
    return _digest({
        "revision": RECIPE_REVISION, "ref": spec.ref, "changes": changes, "base": base_sha256,
        "files": [(p, sha256_remembered(src), os.stat(src).st_mode & 0o7777) for p, src in spec.files],
        "texts": spec.texts, "links": spec.links, "dirs": spec.dirs, "applet_links": spec.applet_links,
    })


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
    links = list(spec.links)
    if spec.applet_links:
        multicall = dict(spec.files)[spec.applet_links]
        name = Path(spec.applet_links).name
        applets = _run([str(multicall), "--list"], f"rebuild {multicall}").split()
        links += [(f"bin/{a}", name) for a in applets if a != name]
    for path, target in links:
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


def _dpkg_versions(admindir: Path) -> dict[str, str]:
    out = _run(["dpkg-query", f"--admindir={admindir}", "-W", "-f", "${Package} ${Version}\\n"],
               "build on Debian, where dpkg-query exists")
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
