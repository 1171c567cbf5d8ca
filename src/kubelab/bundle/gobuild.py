"""Compile each binary of a release from its upstream source at the pinned tag.

The Go module proxy is the only source reachable here (no GitHub, no
registry), so every recipe names Go packages, except nerdctl (a source archive
the proxy refuses, kept in the shared third-party directory) and pause (C, from
the k8s.io/kubernetes module). Outputs land in a cache outside the repository,
keyed by component and version, so CI checkouts and later bundles reuse them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import kubelab
from kubelab import paths
from kubelab.bundle.lock import exclusive
from kubelab.errors import ArtifactError
from kubelab.versions import CNI_PLUGINS, CONTAINERD_BINARIES, Release

OUTPUT_TAIL_LINES = 25
KUBERNETES_COMMANDS = ("kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager",
                       "kube-scheduler", "kube-proxy")
CNI_PLUGIN_PACKAGES = {
    "bridge": "plugins/main/bridge",
    "host-local": "plugins/ipam/host-local",
    "loopback": "plugins/main/loopback",
    "portmap": "plugins/meta/portmap",
    "bandwidth": "plugins/meta/bandwidth",
}


@dataclass(frozen=True)
class Recipe:
    """How upstream builds one component, reduced to what the proxy lets us do.

    `tag` turns the release's version into the upstream tag (the cache key).
    `ldflags` are templates over {tag}, {bare} (tag without "v"), {major},
    {minor}: the -X stamps upstream's Makefile sets, so `--version` tells the
    truth. `source` says where the code comes from: "proxy" (`go get` the
    packages), "kubernetes" (a wrapper module that pins the staging modules),
    "third-party" (a source archive) or "pause" (C from the kubernetes module).
    """

    component: str
    tag: Callable[[Release], str]
    binaries: tuple[tuple[str, str], ...]  # (output name, Go package or C file)
    source: str = "proxy"
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    build_flags: tuple[str, ...] = ()
    cgo: bool = False


def _v(version: str) -> str:
    return version if version.startswith("v") else f"v{version}"


def _k8s_stamps() -> tuple[str, ...]:
    # hack/lib/version.sh stamps both packages; client-go's copy is what
    # `kubectl version` reports for the client.
    return tuple(
        f"-X {pkg}.{var}={val}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for var, val in (("gitVersion", "{tag}"), ("gitMajor", "{major}"), ("gitMinor", "{minor}"),
                         ("gitTreeState", "clean"))
    )


CONTAINERD = "github.com/containerd/containerd/v2"
RECIPES: dict[str, Recipe] = {r.component: r for r in (
    Recipe("kubernetes", lambda r: r.kubernetes,
           tuple((c, f"k8s.io/kubernetes/cmd/{c}") for c in KUBERNETES_COMMANDS),
           source="kubernetes", ldflags=_k8s_stamps()),
    # The image tag's "-0" is kubeadm's image revision, not part of etcd's tag.
    Recipe("etcd", lambda r: "v" + re.sub(r"-\d+$", "", r.etcd),
           (("etcd", "go.etcd.io/etcd/server/v3"),)),
    Recipe("coredns", lambda r: r.coredns, (("coredns", "github.com/coredns/coredns"),)),
    Recipe("containerd", lambda r: _v(r.containerd),
           tuple((b, f"{CONTAINERD}/cmd/{b}") for b in CONTAINERD_BINARIES),
           tags=("no_btrfs", "no_devmapper", "no_zfs"),
           ldflags=(f"-X {CONTAINERD}/version.Version={{tag}}", f"-X {CONTAINERD}/version.Package={CONTAINERD}")),
    # Static like upstream's runc.amd64 (`make static`), so it runs on any node
    # whatever libseccomp it has; cgo is needed for seccomp.
    # runc embeds its VERSION file, so there is nothing to stamp.
    Recipe("runc", lambda r: r.runc, (("runc", "github.com/opencontainers/runc"),),
           tags=("seccomp", "urfave_cli_no_docs", "netgo", "osusergo"), cgo=True, build_flags=("-buildmode=pie",),
           ldflags=("-linkmode external", "-extldflags -static-pie")),
    Recipe("crictl", lambda r: r.crictl, (("crictl", "sigs.k8s.io/cri-tools/cmd/crictl"),),
           ldflags=("-X sigs.k8s.io/cri-tools/pkg/version.Version={tag}",)),
    Recipe("cni-plugins", lambda r: r.cni_plugins,
           tuple((p, f"github.com/containernetworking/plugins/{CNI_PLUGIN_PACKAGES[p]}") for p in CNI_PLUGINS),
           ldflags=("-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion={tag}",)),
    Recipe("nerdctl", lambda r: _v(r.nerdctl), (("nerdctl", "./cmd/nerdctl"),), source="third-party",
           ldflags=("-X github.com/containerd/nerdctl/v2/pkg/version.Version={tag}",)),
    Recipe("kube-router", lambda r: r.kube_router,
           (("kube-router", "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"),),
           ldflags=("-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={tag}",)),
    Recipe("pause", lambda r: r.pause, (("pause", "build/pause/linux/pause.c"),), source="pause"),
)}


@dataclass(frozen=True)
class Built:
    component: str
    version: str
    bin_dir: Path
    seconds: float
    cached: bool

    def binary(self, name: str) -> Path:
        return self.bin_dir / name


def build_root(component: str, version: str) -> Path:
    return paths.cache_dir() / "build" / component / version


def build(component: str, release: Release) -> Built:
    """The component's binaries for `release`, compiled now unless already in the cache."""
    recipe = RECIPES[component]
    tag = recipe.tag(release)
    root = build_root(component, tag)
    with exclusive(root.with_name(f".{tag}.lock")):
        return _build_locked(recipe, tag, release, root)


def _build_locked(recipe: Recipe, tag: str, release: Release, root: Path) -> Built:
    component = recipe.component
    bin_dir, marker = root / "bin", root / "built.json"
    names = [name for name, _ in recipe.binaries]
    # A changed recipe (a new stamp, a tag) must not be served an old build.
    recipe_id = hashlib.sha256(json.dumps([recipe.binaries, recipe.source, recipe.tags, recipe.ldflags,
                                           recipe.build_flags, recipe.cgo]).encode()).hexdigest()
    if marker.is_file() and all((bin_dir / n).is_file() for n in names):
        meta = json.loads(marker.read_text())
        if meta.get("recipe") == recipe_id:
            return Built(component, tag, bin_dir, meta["seconds"], cached=True)
    # No marker means no build or an interrupted one: start from nothing.
    shutil.rmtree(root, ignore_errors=True)
    work = root / "work"
    work.mkdir(parents=True)
    bin_dir.mkdir()
    start = time.monotonic()
    _Builder(recipe, tag, release, work, bin_dir).run()
    seconds = round(time.monotonic() - start, 1)
    marker.write_text(json.dumps({"binaries": names, "seconds": seconds, "recipe": recipe_id}) + "\n")
    return Built(component, tag, bin_dir, seconds, cached=False)


def third_party_dir() -> Path:
    if env := os.environ.get("KUBELAB_THIRD_PARTY"):
        return Path(env)
    repo = Path(kubelab.__file__).resolve().parents[2]
    return repo.parent / "shared" / "third-party"


class _Builder:
    def __init__(self, recipe: Recipe, tag: str, release: Release, work: Path, bin_dir: Path):
        self.recipe, self.tag, self.release, self.work, self.bin_dir = recipe, tag, release, work, bin_dir
        self.log = work / "build.log"
        bare = tag.removeprefix("v")
        major, minor = (bare.split(".") + ["", ""])[:2]
        self.stamp_vars = {"tag": tag, "bare": bare, "major": major, "minor": minor}

    def run(self) -> None:
        recipe = self.recipe
        if recipe.source == "pause":
            self._build_pause()
            return
        cwd = self.work
        if recipe.source == "third-party":
            cwd = self._unpack_third_party()
        else:
            self._go("mod", "init", f"kubelab.build/{recipe.component}")
            if recipe.source == "kubernetes":
                self._pin_kubernetes_staging()
            # `go get` of the command packages (not just the module root)
            # records the sums of everything they import.
            self._go("get", *(f"{pkg}@{self.tag}" for _, pkg in recipe.binaries))
        ldflags = " ".join(("-s", "-w", *(f.format(**self.stamp_vars) for f in recipe.ldflags)))
        for name, pkg in recipe.binaries:
            self._go("build", "-trimpath", *recipe.build_flags, "-tags", " ".join(recipe.tags),
                     "-ldflags", ldflags, "-o", str(self.bin_dir / name), pkg, cwd=cwd)

    def _pin_kubernetes_staging(self) -> None:
        # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces
        # them with ./staging paths, which only work inside its own tree; a
        # wrapper module points each at the published v0.X.Y instead.
        upstream = self._module_dir("k8s.io/kubernetes", self.tag) / "go.mod"
        staging = sorted(set(re.findall(r"^\s*(?:replace\s+)?(k8s\.io/\S+)\s+=>\s+\./staging/",
                                        upstream.read_text(), re.MULTILINE)))
        if not staging:
            raise ArtifactError(f"{upstream} has no ./staging replace lines; the kubernetes recipe in "
                                "kubelab/bundle/gobuild.py no longer matches upstream's layout. Fix: update the recipe.")
        staging_version = "v0." + self.tag.removeprefix("v").split(".", 1)[1]
        with open(self.work / "go.mod", "a") as gomod:
            gomod.write("\n" + "".join(f"replace {m} => {m} {staging_version}\n" for m in staging))

    def _module_dir(self, module: str, version: str) -> Path:
        out = self._go("mod", "download", "-json", f"{module}@{version}")
        return Path(json.loads(out)["Dir"])

    def _unpack_third_party(self) -> Path:
        name = f"{self.recipe.component}-{self.tag}.tar.gz"
        directory = third_party_dir()
        archive, sums = directory / name, directory / "SHA256SUMS"
        fix = (f"put the upstream source archive {name} and its line in SHA256SUMS into {directory}, "
               "or point KUBELAB_THIRD_PARTY at the directory that has them")
        try:
            # sha256sum lines: "<hex>  <name>", or "<hex> *<name>" in binary mode.
            listed = {fields[1].lstrip("*"): fields[0]
                      for fields in map(str.split, sums.read_text().splitlines()) if len(fields) == 2}
            data = archive.read_bytes()
        except OSError as exc:
            raise ArtifactError(f"cannot read the {self.recipe.component} source: {exc}. Fix: {fix}") from None
        actual = hashlib.sha256(data).hexdigest()
        if name not in listed:
            raise ArtifactError(f"{sums} does not list {name}; refusing to build from an unverified archive. "
                                f"Fix: {fix}")
        if listed[name] != actual:
            raise ArtifactError(f"{archive} has sha256 {actual}, SHA256SUMS lists {listed[name]}; "
                                f"refusing to build from it. Fix: {fix}")
        src = self.work / "src"
        with tarfile.open(archive) as tar:
            tar.extractall(src, filter="data")
        return src

    def _build_pause(self) -> None:
        self._go("mod", "init", "kubelab.build/pause")
        (name, source), = self.recipe.binaries
        pause_c = self._module_dir("k8s.io/kubernetes", self.release.kubernetes) / source
        # As build/pause/Makefile does, minus the git revision suffix.
        self._exec(["gcc", "-Os", "-Wall", "-Werror", "-static", "-s",
                    f"-DVERSION=v{self.stamp_vars['bare']}", "-o", str(self.bin_dir / name), str(pause_c)],
                   self.work, dict(os.environ))

    def _go(self, *args: str, cwd: Path | None = None) -> str:
        env = dict(os.environ, CGO_ENABLED="1" if self.recipe.cgo else "0", GOTOOLCHAIN="local",
                   # -buildvcs=false: a cache dir inside someone's git checkout
                   # must not make go stamp (or fail on) that checkout's state.
                   GOFLAGS="-mod=mod -buildvcs=false")
        return self._exec(["go", *args], cwd or self.work, env)

    def _exec(self, cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
        what = f"{self.recipe.component} {self.tag}"
        try:
            proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except FileNotFoundError:
            raise ArtifactError(f"building {what} needs `{cmd[0]}`, which is not on PATH. "
                                f"Fix: install it (Go from go.dev/dl, gcc and libseccomp-dev from apt).") from None
        with open(self.log, "a") as log:
            log.write(f"$ {' '.join(cmd)}\n{proc.stderr}")
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-OUTPUT_TAIL_LINES:])
            raise ArtifactError(
                f"building {what} failed: `{' '.join(cmd)}` exited {proc.returncode}:\n{tail}\n"
                f"(full log: {self.log}). Fix: if the proxy refuses a module version, pin one it serves "
                "in kubelab/versions.py; otherwise fix the build environment and rerun `kubelab bundle build`."
            )
        return proc.stdout
