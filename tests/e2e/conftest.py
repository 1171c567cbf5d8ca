"""The e2e tier's cluster: one full deploy of the session lab, shared by every e2e test; and the
classroom tests' class, built in the background meanwhile."""

import pytest

from kubelab import artifacts
from kubelab.deploy import run_deploy
from kubelab.local import downloads
from lab_cli import CLASSROOM_TESTS, ClassBuild


def pytest_collection_modifyitems(items):
    # The classroom tests come last: their class is built while the others run (class_build).
    items.sort(key=lambda item: item.path.name == CLASSROOM_TESTS)


@pytest.fixture(scope="session", autouse=True)
def class_build(request, tmp_path_factory):
    """`kubelab class up` started before the first e2e test, when the classroom tests are selected."""
    if not any(item.path.name == CLASSROOM_TESTS for item in request.session.items):
        yield None
        return
    build = ClassBuild(tmp_path_factory.mktemp("class"))
    yield build
    build.stop()


@pytest.fixture(scope="session")
def cluster_deploy(bundle, lab_spec, lab_spec_path, tmp_path_factory):
    """`pyinfra inventories/local.py deploys/lab.py`, every stage, on the session lab, the upstream way.

    Every artifact is downloaded over HTTP from a site laid out like dl.k8s.io
    and GitHub (the bundle's files, served by kubelab.local.downloads) and
    checked against the sha256 a spec pins, so CI runs the path VMs with
    internet take. Its spec is the session's with only `artifacts` changed.
    The integration tier already ran the runtime stage with the bundle source
    on this lab: the same sha256 means the same files, so this deploy changes
    none of them, and the bundle-spec runs that follow (the zero-change
    re-run, resets, the lock) change nothing either: the two sources are
    interchangeable.
    """
    tmp = tmp_path_factory.mktemp("upstream")
    with downloads.serve_bundle(bundle, lab_spec.release) as (site, sums), pytest.MonkeyPatch.context() as env:
        spec = downloads.write_upstream_spec(lab_spec_path, site.url, sums, tmp / "spec.yaml")
        # A cache of its own: with the shared one warm, no file would be fetched from the site at all.
        env.setenv("KUBELAB_CACHE", str(tmp / "cache"))
        result = run_deploy(spec)
    assert result.returncode == 0, result.output[-6000:]
    fetched = sorted(path for path, status in site.requests if status == 200)
    assert fetched == sorted("/" + artifacts.mirror_path(art.url) for art in lab_spec.release.artifacts())
    return result
