"""One writer at a time per lab: real flock(2) between real processes."""

import os
import subprocess
import sys
import textwrap

import pytest

from kubelab import lablock


@pytest.fixture(autouse=True)
def scratch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBELAB_HOME", str(tmp_path))
    monkeypatch.delenv(lablock.HELD_ENV, raising=False)


def other_process(code: str, env_drop=(lablock.HELD_ENV,)) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=30)


TRY_EXCLUSIVE = """
    from kubelab import lablock
    try:
        with lablock.hold("lab1", wait=0.3):
            print("got it")
    except lablock.LabBusy as exc:
        print("busy:", exc)
"""


def test_a_second_writer_is_told_who_holds_the_lab():
    with lablock.hold("lab1", command="kubelab reset --lab lab1"):
        out = other_process(TRY_EXCLUSIVE).stdout
    assert out.startswith("busy:")
    assert "`kubelab reset --lab lab1`" in out and f"pid {os.getpid()}" in out and "Fix:" in out


def test_readers_share_but_exclude_a_writer():
    with lablock.hold("lab1", shared=True):
        reader = other_process("""
            from kubelab import lablock
            with lablock.hold("lab1", shared=True, wait=0.3):
                print("reading")
        """).stdout
        writer = other_process(TRY_EXCLUSIVE).stdout
    assert reader.strip() == "reading"
    assert writer.startswith("busy:")


def test_the_lock_is_free_again_after_the_holder_ends_even_by_sigkill():
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from kubelab import lablock
        with lablock.hold("lab1"):
            print("holding", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert holder.stdout.readline().strip() == "holding"
    assert other_process(TRY_EXCLUSIVE).stdout.startswith("busy:")
    holder.kill()
    holder.wait(timeout=10)
    assert other_process(TRY_EXCLUSIVE).stdout.strip() == "got it"


def test_a_child_of_the_holder_runs_under_its_parents_lock():
    with lablock.hold("lab1"):
        child = other_process(TRY_EXCLUSIVE, env_drop=())
    assert child.stdout.strip() == "got it"
    assert lablock.HELD_ENV not in os.environ  # restored once released
