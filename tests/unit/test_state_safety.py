"""Lab names and state paths: nothing outside the labs directory is ever named, written or removed."""

import os
import stat

import pytest

from kubelab import names, paths
from kubelab.commands._lab_arg import lab_name
from kubelab.names import InvalidName


@pytest.fixture(autouse=True)
def scratch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBELAB_HOME", str(tmp_path / "state"))
    return tmp_path


@pytest.mark.parametrize("good", ["local", "a", "classroom-a", "lab-01", "0", "x" * names.MAX_LENGTH])
def test_dns_labels_are_lab_names(good):
    assert names.problem(good) is None
    assert paths.lab_dir(good) == (paths.labs_dir() / good).resolve()


@pytest.mark.parametrize("bad, words", [
    ("", "empty"), ("..", "not a DNS-1123 label"), ("../..", "not a DNS-1123 label"),
    ("../../../..", "not a DNS-1123 label"), ("a/b", "not a DNS-1123 label"), ("/etc", "not a DNS-1123 label"),
    (".", "not a DNS-1123 label"), ("Lab", "not a DNS-1123 label"), ("-lab", "not a DNS-1123 label"),
    ("lab-", "not a DNS-1123 label"), ("la b", "not a DNS-1123 label"), ("lab\x00", "not a DNS-1123 label"),
    ("lab\n", "not a DNS-1123 label"), ("x" * (names.MAX_LENGTH + 1), "characters long"),
    ("$(reboot)", "not a DNS-1123 label"), ("*", "not a DNS-1123 label"), (None, "expected a string"),
])
def test_anything_else_is_refused_before_a_path_is_made(bad, words):
    with pytest.raises(InvalidName, match="Fix: use a DNS-1123 label") as err:
        paths.lab_dir(bad)
    assert words in str(err.value)
    if isinstance(bad, str):
        with pytest.raises(Exception, match=words.split()[0]):
            lab_name(bad)


def test_a_symlink_planted_in_the_labs_directory_is_not_followed_out(scratch_home):
    outside = scratch_home / "precious"
    outside.mkdir()
    paths.labs_dir().mkdir(parents=True)
    (paths.labs_dir() / "evil").symlink_to(outside)
    with pytest.raises(InvalidName, match="outside"):
        paths.lab_dir("evil")


def test_private_files_are_0600_and_never_written_through_a_symlink(scratch_home):
    target = scratch_home / "victim"
    target.write_text("keep me")
    state = paths.lab_dir("lab1")
    state.mkdir(parents=True)
    link = state / "kubeconfig"
    link.symlink_to(target)
    paths.write_private(link, "secret")
    assert target.read_text() == "keep me"
    assert not link.is_symlink() and link.read_text() == "secret"
    assert stat.S_IMODE(link.stat().st_mode) == 0o600
    assert [p.name for p in state.iterdir()] == ["kubeconfig"]  # no temporary file left


def test_a_failed_private_write_leaves_the_old_file_and_no_temporary(scratch_home, monkeypatch):
    path = paths.lab_dir("lab1") / "baseline.json"
    paths.write_private(path, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        paths.write_private(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in path.parent.iterdir()] == ["baseline.json"]
