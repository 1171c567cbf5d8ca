"""The one SSH layer: a paramiko connection per node, reused for every command.

Host keys are checked against the spec's known_hosts file (or ~/.ssh/known_hosts)
with paramiko's RejectPolicy; only a spec that sets
`ssh.strict_host_key_checking: false` accepts unknown keys, and the pool says
so once. Every connection and every command is counted so benchmarks can show
that a check run reuses one connection per node.

Nothing here logs key material, passphrases or command output.
"""

from __future__ import annotations

import contextlib
import logging
import select
import shlex
import socket
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import paramiko

from kubelab.errors import KubelabError
from kubelab.spec import SSH, LabSpec, Node

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 120.0
# Per stream and command. Beyond it output is read and dropped, so the command
# still finishes (a writer blocked on a full channel would never exit) while
# memory stays bounded; the result says it was truncated.
MAX_OUTPUT_BYTES = 8 * 1024 * 1024


class SSHError(KubelabError):
    """Something between kubelab and a node's sshd went wrong."""

    def __init__(self, session: "Session", problem: str, fix: str):
        self.node, self.address, self.port = session.node.name, session.node.address, session.ssh.port
        self.problem, self.fix = problem, fix
        super().__init__(f"node {session.node.name} ({session.target}): {problem}. Fix: {fix}")


class HostUnreachable(SSHError):
    """No SSH server answered at the node's address and port."""


class AuthenticationFailed(SSHError):
    """sshd answered but refused the user and key."""


class UnknownHostKey(SSHError):
    """The node's host key is not in known_hosts and the spec asks for verification."""


class HostKeyMismatch(SSHError):
    """known_hosts holds a different key for this node: reinstalled, or not the node."""


class CommandTimeout(SSHError):
    """A command did not finish within its timeout."""


class CommandFailed(SSHError):
    """A command the caller needed to succeed exited non-zero."""


class ConnectionLost(HostUnreachable):
    """The connection broke while a command ran; its outcome on the node is unknown."""


@dataclass(frozen=True)
class CommandResult:
    node: str
    command: str
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    # True when stdout or stderr went over MAX_OUTPUT_BYTES and holds only its start.
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def as_evidence(self) -> dict:
        return {"node": self.node, "command": self.command, "exit_code": self.exit_code,
                "stdout": self.stdout, "stderr": self.stderr, "seconds": round(self.seconds, 3),
                "truncated": self.truncated}


@dataclass
class Counters:
    connections_opened: int = 0
    commands_run: int = 0


@contextlib.contextmanager
def _recording(recorders: list[list[CommandResult]]) -> Iterator[list[CommandResult]]:
    results: list[CommandResult] = []
    recorders.append(results)
    try:
        yield results
    finally:
        recorders.remove(results)


class _Capped:
    """One output stream, kept up to a byte limit; what comes after is counted and dropped."""

    def __init__(self, limit: int):
        self.limit, self.data, self.dropped = limit, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        self.data += chunk[:room]
        self.dropped += max(len(chunk) - room, 0)


class _RejectUnknownKey(paramiko.RejectPolicy):
    """RejectPolicy that names the node, the key it offered and how to trust it."""

    def __init__(self, session: "Session"):
        self.session = session

    def missing_host_key(self, client, hostname, key):
        s = self.session
        known = s.ssh.known_hosts or "~/.ssh/known_hosts"
        raise UnknownHostKey(
            s, f"host key {key.get_name()} {key.fingerprint} is not in {known}",
            f"check that fingerprint on the node (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`), then add it with "
            f"`ssh-keyscan -p {s.ssh.port} {shlex.quote(s.node.address)} >> {shlex.quote(known)}`; "
            f"for a throwaway local lab only, "
            f"set `ssh.strict_host_key_checking: false` in the spec")


class Session:
    """One node's SSH connection, opened on first use and reused until closed."""

    def __init__(self, node: Node, ssh: SSH, *, connect_timeout: float = CONNECT_TIMEOUT,
                 command_timeout: float = COMMAND_TIMEOUT, max_output: int = MAX_OUTPUT_BYTES,
                 counters: Counters | None = None,
                 recorders: list[list[CommandResult]] | None = None,
                 warn_unverified: Callable[[str], None] | None = None):
        self.node, self.ssh = node, ssh
        self.connect_timeout, self.command_timeout = connect_timeout, command_timeout
        self.max_output = max_output
        self.counters = counters if counters is not None else Counters()
        # Shared with a pool so one recording sees every node's commands.
        self._recorders = recorders if recorders is not None else []
        self._warn_unverified = warn_unverified or log.warning
        self._client: paramiko.SSHClient | None = None

    @property
    def target(self) -> str:
        return f"{self.ssh.user}@{self.node.address}:{self.ssh.port}"

    @property
    def known_hosts_name(self) -> str:
        """The node's name as known_hosts holds it: OpenSSH and paramiko write `[address]:port` off port 22."""
        return self.node.address if self.ssh.port == 22 else f"[{self.node.address}]:{self.ssh.port}"

    def forget_key_command(self) -> str:
        """The `ssh-keygen -R` that removes this node's entry from the known_hosts in use."""
        known = self.ssh.known_hosts or "~/.ssh/known_hosts"
        # ~ stays unquoted so the shell expands it.
        where = "" if self.ssh.known_hosts is None else f" -f {shlex.quote(known)}"
        return f"ssh-keygen -R {shlex.quote(self.known_hosts_name)}{where}"

    @property
    def connected(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return bool(transport and transport.is_active())

    def connect(self) -> None:
        if self.connected:
            return
        self.close()
        sock = self._open_socket()
        client = paramiko.SSHClient()
        # Loaded into the key store only, never as the client's save file: an
        # accepted unverified key must not become permanent trust.
        if self.ssh.known_hosts:
            client.get_host_keys().load(self.ssh.known_hosts)
        else:
            client.load_system_host_keys()
        if self.ssh.strict_host_key_checking:
            client.set_missing_host_key_policy(_RejectUnknownKey(self))
        else:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            self._warn_unverified(
                f"SSH host keys are NOT verified (ssh.strict_host_key_checking: false); "
                f"unknown keys are accepted for this run, starting with {self.node.name} ({self.node.address})")
        try:
            client.connect(
                self.node.address, port=self.ssh.port, username=self.ssh.user, sock=sock,
                key_filename=self.ssh.key,
                # With an explicit key, agent and default keys would only add
                # surprising extra auth attempts (and MaxAuthTries failures).
                allow_agent=self.ssh.key is None, look_for_keys=self.ssh.key is None,
                # The negotiation must outlast the banner wait: when it expires
                # first paramiko carries on and fails with "No existing session".
                timeout=2 * self.connect_timeout, banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout, channel_timeout=self.connect_timeout,
            )
        except SSHError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            known = self.ssh.known_hosts or "~/.ssh/known_hosts"
            raise HostKeyMismatch(
                self, f"host key {exc.key.fingerprint} differs from the one in {known} "
                      f"({exc.expected_key.fingerprint})",
                f"if the node was rebuilt, remove the old entry with `{self.forget_key_command()}` and add "
                f"the new key; otherwise stop: this may not be your node",
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            key = self.ssh.key or "the default keys in ~/.ssh and the agent"
            raise AuthenticationFailed(
                self, f"authentication as {self.ssh.user} failed ({exc})",
                f"put the public half of {key} in ~{self.ssh.user}/.ssh/authorized_keys on the node, "
                f"or set ssh.user / ssh.key in the spec",
            ) from None
        except (paramiko.SSHException, OSError) as exc:
            client.close()
            raise HostUnreachable(
                self, f"SSH handshake failed: {exc}",
                f"check that sshd (not another service) answers on port {self.ssh.port} of the node",
            ) from None
        self._client = client
        self.counters.connections_opened += 1
        log.debug("ssh: connected to %s (%s)", self.node.name, self.target)

    def _open_socket(self) -> socket.socket:
        # Our own TCP connect gives one exact timeout and one error for every
        # address tried, where paramiko folds refusals into a compound error.
        try:
            return socket.create_connection((self.node.address, self.ssh.port), timeout=self.connect_timeout)
        except (socket.timeout, TimeoutError):
            raise HostUnreachable(
                self, f"no answer within {self.connect_timeout:g} s",
                "check that the node is running and the address and ssh.port in the spec are right",
            ) from None
        except OSError as exc:
            raise HostUnreachable(
                self, f"cannot connect: {exc.strerror or exc}",
                "check that the node is running, sshd is started, and the address and ssh.port in the spec are right",
            ) from None

    def run(self, command: str | Sequence[str], *, timeout: float | None = None,
            check: bool = False) -> CommandResult:
        """Run a command as root on the node: directly as root, else through `sudo -n`."""
        text = command if isinstance(command, str) else shlex.join(command)
        wire = text if self.ssh.user == "root" else f"sudo -n -- sh -c {shlex.quote(text)}"
        timeout = self.command_timeout if timeout is None else timeout
        self.connect()
        started = time.monotonic()
        try:
            chan = self._client.get_transport().open_session(timeout=self.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self.close()
            raise ConnectionLost(self, f"connection lost before `{text}` could start: {exc or type(exc).__name__}",
                                 "check that the node is still up; the next command reconnects") from None
        self.counters.commands_run += 1
        log.debug("ssh %s: %s", self.node.name, text)
        try:
            exit_code, out, err = self._exchange(chan, wire, text, timeout, started + timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self.close()
            raise ConnectionLost(self, f"connection lost while `{text}` ran: {exc or type(exc).__name__}",
                                 "check the node (it may have rebooted or sshd restarted), then re-run: "
                                 "whether the command finished there is unknown") from None
        finally:
            chan.close()
        result = CommandResult(self.node.name, text, exit_code, out.data.decode(errors="replace"),
                               err.data.decode(errors="replace"), time.monotonic() - started,
                               truncated=bool(out.dropped or err.dropped))
        if result.truncated:
            log.warning("ssh %s: `%s` printed more than %d bytes on a stream; kept the first %d of each, dropped "
                        "%d", self.node.name, text, self.max_output, self.max_output, out.dropped + err.dropped)
        for recorder in self._recorders:
            recorder.append(result)
        if check and not result.ok:
            raise CommandFailed(self, f"`{text}` exited {exit_code}: {result.stderr.strip()[:500]}",
                                "run it by hand on the node to see why")
        return result

    def _exchange(self, chan: paramiko.Channel, wire: str, text: str, timeout: float,
                  deadline: float) -> tuple[int, _Capped, _Capped]:
        """Start the command, collect both streams (capped) and its exit status before the deadline."""
        chan.exec_command(wire)
        out, err = _Capped(self.max_output), _Capped(self.max_output)
        # The channel's fileno becomes readable on stdout, stderr, EOF and a
        # dropped connection, so select waits for whichever comes without busy polling.
        while True:
            while chan.recv_ready():
                out.add(chan.recv(65536))
            while chan.recv_stderr_ready():
                err.add(chan.recv_stderr(65536))
            if chan.eof_received and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            # Output, EOF and the close can all land between the reads and the EOF test
            # above: a channel closed after its EOF, or with output still buffered, goes
            # round once more to drain it; only a close without EOF is a lost connection.
            if chan.closed and not (chan.eof_received or chan.recv_ready() or chan.recv_stderr_ready()):
                raise EOFError("the channel closed before the command's output ended")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CommandTimeout(self, f"`{text}` did not finish within {timeout:g} s",
                                     "raise the timeout, or check the node for a hung runtime")
            select.select([chan], [], [], remaining)
        # sshd sends the exit status after EOF; wait for it within the same deadline.
        if not chan.status_event.wait(max(deadline - time.monotonic(), 0.1)):
            raise CommandTimeout(self, f"`{text}` sent no exit status within {timeout:g} s",
                                 "check the node's sshd")
        # -1 is also what a command killed by a signal leaves (sshd sends no
        # status then); only with the connection gone is it a lost answer.
        if chan.exit_status == -1 and not chan.get_transport().is_active():
            raise EOFError("the connection closed before the command's exit status came")
        return chan.exit_status, out, err

    def record(self) -> contextlib.AbstractContextManager[list[CommandResult]]:
        """Collect every command result this session produces inside a `with` block."""
        return _recording(self._recorders)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SSHPool:
    """A session per node of a lab, created on first use; closing the pool closes them all."""

    def __init__(self, spec: LabSpec, *, connect_timeout: float = CONNECT_TIMEOUT,
                 command_timeout: float = COMMAND_TIMEOUT):
        self.spec = spec
        self.connect_timeout, self.command_timeout = connect_timeout, command_timeout
        self.counters = Counters()
        self._recorders: list[list[CommandResult]] = []
        self._sessions: dict[str, Session] = {}
        self._warned = False

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(message)

    def session(self, node_name: str) -> Session:
        if node_name not in self._sessions:
            self._sessions[node_name] = Session(
                self.spec.node(node_name), self.spec.ssh, connect_timeout=self.connect_timeout,
                command_timeout=self.command_timeout, counters=self.counters,
                recorders=self._recorders, warn_unverified=self._warn_once)
        return self._sessions[node_name]

    def record(self) -> contextlib.AbstractContextManager[list[CommandResult]]:
        """Collect every command any node runs inside a `with` block."""
        return _recording(self._recorders)

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()

    def __enter__(self) -> "SSHPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
