"""The SSH layer against a real OpenSSH server on 127.0.0.1.

Each module run starts its own sshd (`sshd -D -f <temp config>`) on a free high
port with a temporary host key and authorized key, and stops it at the end.
Nothing is mocked: paramiko speaks to sshd over TCP.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from kubelab.runtime import CRICTL, NodeRuntime, RuntimeOutputError
from kubelab.spec import parse_spec
from kubelab.ssh import (MAX_OUTPUT_BYTES, AuthenticationFailed, CommandFailed, CommandTimeout, ConnectionLost,
                         HostKeyMismatch, HostUnreachable, Session, SSHPool, UnknownHostKey)

pytestmark = pytest.mark.integration

SSHD = "/usr/sbin/sshd"


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _fingerprint(pub: Path) -> str:
    return subprocess.run(["ssh-keygen", "-lf", str(pub)], check=True, capture_output=True,
                          text=True).stdout.split()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory, free_port, stop):
    if not os.path.exists(SSHD):
        pytest.fail(f"{SSHD} is missing: apt-get install -y openssh-server")
    if os.geteuid() != 0:
        pytest.fail("this test logs in as root to its own sshd: run it as root")
    d = tmp_path_factory.mktemp("sshd")
    _keygen(d / "host_key")
    _keygen(d / "client_key")
    _keygen(d / "other_key")
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    port = free_port()
    config = d / "sshd_config"
    config.write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
SetEnv PATH={d}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
""")
    # A stand-in crictl that prints whatever a test left in crictl.out: real SSH, chosen output.
    (d / "bin").mkdir()
    (d / "bin" / "crictl").write_text(f"#!/bin/sh\ncat {d}/crictl.out\n")
    (d / "bin" / "crictl").chmod(0o755)
    # sshd refuses to start without its privilege-separation directory.
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log = open(d / "sshd.log", "wb")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            pytest.fail(f"sshd exited {proc.returncode}: {(d / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"sshd did not listen on {port} within 10 s: {(d / 'sshd.log').read_text()}")
            time.sleep(0.1)
    host_pub = (d / "host_key.pub").read_text().split()
    known = d / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    try:
        yield {"dir": d, "port": port, "known_hosts": known,
               "fingerprint": _fingerprint(d / "host_key.pub")}
    finally:
        stop(proc, grace_seconds=5)
        log.close()


def _spec(sshd, *, key="client_key", known_hosts=None, strict=True, port=None, nodes=None):
    ssh = {"user": "root", "port": port or sshd["port"], "key": str(sshd["dir"] / key),
           "known_hosts": str(known_hosts or sshd["known_hosts"]), "strict_host_key_checking": strict}
    nodes = nodes or [{"name": "n1", "address": "127.0.0.1", "role": "control-plane"}]
    return parse_spec({"name": "ssh-test", "nodes": nodes, "ssh": ssh}, "ssh-test.yaml")


def test_commands_reuse_one_connection(sshd):
    with SSHPool(_spec(sshd)) as pool:
        session = pool.session("n1")
        results = [session.run("echo $SSH_CONNECTION; echo call-$((1 + 1))") for _ in range(5)]
        assert pool.session("n1") is session
    assert [r.stdout.splitlines()[1] for r in results] == ["call-2"] * 5
    # SSH_CONNECTION holds the client's source port: one value means one TCP connection.
    assert len({r.stdout.splitlines()[0] for r in results}) == 1
    assert pool.counters.connections_opened == 1
    assert pool.counters.commands_run == 5


def test_recording_collects_the_commands_run_inside_it(sshd):
    with SSHPool(_spec(sshd)) as pool:
        session = pool.session("n1")
        session.run("true")
        with pool.record() as recorded:
            session.run("echo a")
            session.run("echo b >&2; exit 4")
        session.run("true")
    assert [(r.command, r.exit_code, r.stdout, r.stderr) for r in recorded] == [
        ("echo a", 0, "a\n", ""), ("echo b >&2; exit 4", 4, "", "b\n")]


def test_non_zero_exit_is_reported_with_both_streams(sshd):
    with Session(_spec(sshd).node("n1"), _spec(sshd).ssh) as session:
        result = session.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (result.exit_code, result.ok, result.stdout, result.stderr) == (3, False, "out\n", "err\n")
        with pytest.raises(CommandFailed) as err:
            session.run("echo broken >&2; exit 7", check=True)
    assert "exited 7" in str(err.value) and "broken" in str(err.value)


def test_a_command_over_its_timeout_stops_and_the_connection_survives(sshd):
    with Session(_spec(sshd).node("n1"), _spec(sshd).ssh) as session:
        started = time.monotonic()
        with pytest.raises(CommandTimeout) as err:
            session.run("sleep 5", timeout=0.5)
        assert time.monotonic() - started < 3
        assert "sleep 5" in str(err.value)
        assert session.run("echo still-here").stdout == "still-here\n"
        assert session.counters.connections_opened == 1


def test_unknown_host_key_is_rejected_naming_host_key_and_fix(sshd, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    spec = _spec(sshd, known_hosts=empty)
    with SSHPool(spec) as pool, pytest.raises(UnknownHostKey) as err:
        pool.session("n1").run("true")
    message = str(err.value)
    for words in ("n1", "127.0.0.1", sshd["fingerprint"], str(empty), "ssh-keyscan", "strict_host_key_checking"):
        assert words in message
    assert pool.counters.connections_opened == 0 and pool.counters.commands_run == 0


def test_a_changed_host_key_is_refused_and_the_hinted_command_forgets_it(sshd, tmp_path):
    other = (sshd["dir"] / "other_key.pub").read_text().split()
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{sshd['port']} {other[0]} {other[1]}\n127.0.0.2 {other[0]} {other[1]}\n")
    with SSHPool(_spec(sshd, known_hosts=wrong)) as pool, pytest.raises(HostKeyMismatch) as err:
        pool.session("n1").run("true")
    assert sshd["fingerprint"] in str(err.value)
    hint = re.search(r"`(ssh-keygen -R [^`]+)`", str(err.value)).group(1)
    assert hint == f"ssh-keygen -R '[127.0.0.1]:{sshd['port']}' -f {wrong}"
    # The hint, run as printed, removes exactly the stale entry, and the node is then trusted again.
    subprocess.run(hint, shell=True, check=True, capture_output=True)
    assert wrong.read_text() == f"127.0.0.2 {other[0]} {other[1]}\n"
    host_pub = (sshd["dir"] / "host_key.pub").read_text().split()
    with wrong.open("a") as known:
        known.write(f"[127.0.0.1]:{sshd['port']} {host_pub[0]} {host_pub[1]}\n")
    with SSHPool(_spec(sshd, known_hosts=wrong)) as pool:
        assert pool.session("n1").run("echo trusted").stdout == "trusted\n"


def test_the_forget_key_hint_on_port_22_names_the_plain_address(sshd, tmp_path):
    # OpenSSH and paramiko write port 22 entries as the bare address; ssh-keygen -R '[a]:22' would miss them.
    key = (sshd["dir"] / "other_key.pub").read_text().split()
    known = tmp_path / "known hosts"
    known.write_text(f"10.0.0.5 {key[0]} {key[1]}\n[10.0.0.5]:2222 {key[0]} {key[1]}\n")
    nodes = [{"name": "n1", "address": "10.0.0.5", "role": "control-plane"}]
    spec = _spec(sshd, known_hosts=known, port=22, nodes=nodes)
    hint = Session(spec.node("n1"), spec.ssh).forget_key_command()
    assert hint == f"ssh-keygen -R 10.0.0.5 -f '{known}'"
    subprocess.run(hint, shell=True, check=True, capture_output=True)
    assert known.read_text() == f"[10.0.0.5]:2222 {key[0]} {key[1]}\n"


def test_output_over_the_cap_is_truncated_and_the_command_still_finishes(sshd):
    with Session(_spec(sshd).node("n1"), _spec(sshd).ssh) as session:
        big = session.run(f"head -c {MAX_OUTPUT_BYTES + 3_000_000} /dev/zero | tr '\\0' o; echo finished >&2")
        assert len(big.stdout) == MAX_OUTPUT_BYTES and set(big.stdout) == {"o"}
        assert big.truncated and big.ok and big.stderr == "finished\n"
        assert big.as_evidence()["truncated"] is True
        small = session.run("echo fits")
        assert (small.stdout, small.truncated) == ("fits\n", False)
        assert session.counters.connections_opened == 1


def test_the_cap_applies_to_stderr_too(sshd):
    spec = _spec(sshd)
    with Session(spec.node("n1"), spec.ssh, max_output=1000) as session:
        result = session.run("head -c 5000 /dev/zero | tr '\\0' e >&2; echo out")
    assert (len(result.stderr), result.stdout, result.truncated) == (1000, "out\n", True)


def test_a_connection_dropped_mid_command_names_node_and_command_then_reconnects(sshd):
    spec = _spec(sshd)
    with Session(spec.node("n1"), spec.ssh) as session:
        started = time.monotonic()
        # The command's parent is the sshd process serving this connection: killing it drops the TCP connection.
        with pytest.raises(ConnectionLost) as err:
            session.run("kill -9 $PPID; sleep 30")
        assert time.monotonic() - started < 10
        assert "n1" in str(err.value) and "kill -9 $PPID; sleep 30" in str(err.value) and "Fix:" in str(err.value)
        assert session.run("echo back").stdout == "back\n"
        assert session.counters.connections_opened == 2


def test_unknown_keys_are_accepted_only_when_the_spec_asks_and_it_says_so_once(sshd, tmp_path, caplog):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    nodes = [{"name": "n1", "address": "127.0.0.1", "role": "control-plane"},
             {"name": "n2", "address": "localhost", "role": "worker"}]
    spec = _spec(sshd, known_hosts=empty, strict=False, nodes=nodes)
    with caplog.at_level(logging.WARNING, logger="kubelab.ssh"), SSHPool(spec) as pool:
        assert pool.session("n1").run("echo one").stdout == "one\n"
        assert pool.session("n2").run("echo two").stdout == "two\n"
    warnings = [r.getMessage() for r in caplog.records if "NOT verified" in r.getMessage()]
    assert len(warnings) == 1
    assert pool.counters.connections_opened == 2
    # Accepting for this run must not silently trust the key next time.
    assert empty.read_text() == ""


def test_a_key_sshd_does_not_know_fails_authentication_clearly(sshd):
    with SSHPool(_spec(sshd, key="other_key")) as pool, pytest.raises(AuthenticationFailed) as err:
        pool.session("n1").run("true")
    assert "root" in str(err.value) and "authorized_keys" in str(err.value)


def test_a_closed_port_is_unreachable_within_the_timeout(sshd, free_port):
    spec = _spec(sshd, port=free_port())
    started = time.monotonic()
    with SSHPool(spec, connect_timeout=2) as pool, pytest.raises(HostUnreachable) as err:
        pool.session("n1").run("true")
    assert time.monotonic() - started < 2
    assert "n1" in str(err.value) and "refused" in str(err.value).lower() and "Fix:" in str(err.value)


def test_a_silent_port_is_unreachable_within_the_timeout(sshd, silent_listener):
    spec = _spec(sshd, port=silent_listener)
    started = time.monotonic()
    with SSHPool(spec, connect_timeout=1) as pool, pytest.raises(HostUnreachable) as err:
        pool.session("n1").run("true")
    assert time.monotonic() - started < 4
    assert "banner" in str(err.value)


@pytest.mark.parametrize("printed, problem", [
    ('{"items": [{"id": "abc", "metadata": {"na', "not JSON"),
    ('{"items": [{"id": "abc", "metadata": {"attempt": "first"}}]}', "unexpected shape"),
])
def test_runtime_output_kubelab_cannot_read_names_the_node_and_the_command(sshd, printed, problem):
    (sshd["dir"] / "crictl.out").write_text(printed)
    spec = _spec(sshd)
    with Session(spec.node("n1"), spec.ssh) as session, pytest.raises(RuntimeOutputError) as err:
        NodeRuntime(session).sandboxes()
    assert str(err.value).startswith(f"node n1: `{CRICTL} pods -o json`: {problem}")
    assert err.value.node == "n1"


def test_runtime_output_over_the_cap_is_refused_not_parsed(sshd):
    (sshd["dir"] / "crictl.out").write_text('{"items": []}' + " " * 2000)
    spec = _spec(sshd)
    with Session(spec.node("n1"), spec.ssh, max_output=1000) as session, pytest.raises(RuntimeOutputError) as err:
        NodeRuntime(session).sandboxes()
    assert f"node n1: `{CRICTL} pods -o json`: printed more than 1000 bytes" in str(err.value)
