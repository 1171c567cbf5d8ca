"""A download site laid out like the upstream hosts, serving an offline bundle's files.

`artifacts.download_mirror` in a lab spec points the upstream path at a site
that keeps each file under its upstream host and path
(`<site>/dl.k8s.io/release/...`, `<site>/github.com/...`). This module makes
one from the offline bundle (links in a temporary directory) and serves it
with Python's http.server, so the upstream path (URL rewriting, download,
checksum refusal) runs for real on a machine that cannot reach dl.k8s.io or
GitHub. The machine running pyinfra is the one that downloads (nodes never
do), so the site listens on loopback unless told otherwise.
"""

from __future__ import annotations

import contextlib
import http.server
import tempfile
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import yaml

from kubelab import artifacts, paths
from kubelab.errors import ArtifactError
from kubelab.spec import load_spec
from kubelab.versions import Release


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files as SimpleHTTPRequestHandler does; records requests instead of printing them."""

    server: _Server

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server.requests.append((self.path, int(code)))

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    requests: list[tuple[str, int]]


class DownloadSite:
    """An HTTP server on `address` serving the directory `root`; a context manager.

    `requests` lists (path, status) of every request answered, so a caller
    can prove which files were really fetched from it.
    """

    def __init__(self, root: Path, address: str = "127.0.0.1", port: int = 0):
        self.root = root
        try:
            self._server = _Server((address, port), partial(_Handler, directory=str(root)))
        except OSError as exc:
            raise ArtifactError(f"the download site cannot listen on {address}:{port}: {exc.strerror or exc}. "
                                "Fix: give a free port (0 picks one) and an address of this machine") from None
        self._server.requests = self.requests = []
        self._thread = threading.Thread(target=self._server.serve_forever, name="download-site", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> DownloadSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def lay_out(bundle: Path, release: Release, root: Path) -> dict[str, str]:
    """Link each bundle file of `release` under its upstream host and path in `root`.

    Returns the manifest's sha256 by upstream file name: the pins a spec
    needs for the upstream path to accept these files (nerdctl has no
    published sum, and the bundle's builds are not upstream's bytes).
    """
    sums = artifacts.bundle_checksums(bundle, release)
    for art in release.artifacts():
        link = root / artifacts.mirror_path(art.url)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(bundle / "files" / art.filename)
    return sums


@contextlib.contextmanager
def serve_bundle(bundle: Path, release: Release, address: str = "127.0.0.1",
                 port: int = 0) -> Iterator[tuple[DownloadSite, dict[str, str]]]:
    """Serve the bundle's files of `release` laid out like the upstream hosts; yields the site and the sums."""
    with tempfile.TemporaryDirectory(prefix="kubelab-downloads-") as tmp:
        sums = lay_out(bundle, release, Path(tmp))
        with DownloadSite(Path(tmp), address, port) as site:
            yield site, sums


def write_upstream_spec(spec_path: Path, mirror: str, sums: dict[str, str], out: Path) -> Path:
    """Write to `out` a copy of the lab spec at `spec_path` whose artifacts come the upstream way from `mirror`.

    Nodes, SSH and registry mirrors stay as they are; `artifacts` becomes
    `{source: upstream, download_mirror: mirror, sha256: sums}`. The copy is
    validated like any spec, and private like the lab state it names.
    """
    load_spec(spec_path)
    raw = yaml.safe_load(spec_path.read_text())
    raw["artifacts"] = {"source": "upstream", "download_mirror": mirror, "sha256": dict(sums)}
    paths.write_private(out, yaml.safe_dump(raw, sort_keys=False))
    load_spec(out)
    return out
