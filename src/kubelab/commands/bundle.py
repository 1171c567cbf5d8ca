"""`kubelab bundle build`: compile a release's binaries and images into an offline bundle."""

from __future__ import annotations

import time

from rich.console import Console

from kubelab import versions
from kubelab.bundle.build import build_bundle


def register(sub) -> None:
    parser = sub.add_parser("bundle", help="the offline bundle (binaries and images built from upstream sources)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    build = verbs.add_parser("build", help="build every binary and image of a release (cached by version)")
    build.add_argument("--kubernetes", default=versions.DEFAULT_MINOR, choices=sorted(versions.RELEASES),
                       help=f"Kubernetes minor (default {versions.DEFAULT_MINOR})")
    build.set_defaults(func=_build)


def _build(args) -> int:
    console = Console(stderr=True)
    started = time.monotonic()
    bundle = build_bundle(versions.release(args.kubernetes), console)
    console.print(f"bundle for Kubernetes {args.kubernetes} built in {time.monotonic() - started:.1f} s")
    print(bundle)
    return 0
