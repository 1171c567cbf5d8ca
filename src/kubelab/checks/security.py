"""Checks that a securityContext took effect on the process: capabilities, a read-only root, no new privileges.

Capabilities are read from the kernel's masks in /proc/<pid>/status, not
from the pod spec. A capability a process *has* is in its effective set
(CapEff). One it *lacks* is in neither the effective nor the bounding set
(CapBnd): outside the bounding set, no setuid binary or file capability can
give it back. The two differ for a non-root process: runc grants the added
capabilities, but execve clears them for a non-root user without ambient
capabilities, so `add: [NET_ADMIN]` with `runAsUser: 1000` leaves NET_ADMIN
in the bounding set only, which the check says.
"""

from __future__ import annotations

import secrets

from kubelab.checks.lab import Lab
from kubelab.checks.process import CheckArgumentError, Process, conclude, find_process, nothing_read, prove
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.runtime import CAPABILITIES, MountInfo, NodeRuntime, ProcStatus, capability_names, mount_at
from kubelab.ssh import CommandResult

ALL = "ALL"
ALL_MASK = (1 << len(CAPABILITIES)) - 1
READ_ONLY_ERROR = "Read-only file system"  # strerror(EROFS), as touch reports it


def capability_mask(check_name: str, names: list[str]) -> int:
    """`["NET_ADMIN", "CAP_SYS_TIME"]` -> their bits; `ALL` is every capability the kernel defines."""
    if isinstance(names, str):
        raise CheckArgumentError(check_name, "capabilities", f"{names!r} is one string",
                                 f"give a list, e.g. [{names!r}]")
    mask = 0
    for raw in names:
        name = str(raw).upper().removeprefix("CAP_")
        if name == ALL:
            mask |= ALL_MASK
        elif name in CAPABILITIES:
            mask |= 1 << CAPABILITIES.index(name)
        else:
            raise CheckArgumentError(check_name, "capabilities", f"{raw!r} is no Linux capability",
                                     f"use a name from capabilities(7) without CAP_, e.g. NET_ADMIN, or {ALL}")
    if not mask:
        raise CheckArgumentError(check_name, "capabilities", "the list is empty", "name at least one capability")
    return mask


def _names(mask: int) -> str:
    return ", ".join(capability_names(mask)) or "none"


def _masks(status: ProcStatus) -> dict:
    return {"cap_eff": f"{status.cap_eff:016x}", "cap_bnd": f"{status.cap_bnd:016x}"}


# -- capabilities -------------------------------------------------------------

@check
def process_has_capabilities(lab: Lab, *, namespace: str, name: str, container: str,
                             capabilities: list[str]) -> Verdict:
    mask = capability_mask("process_has_capabilities", capabilities)
    return prove(lab, namespace, name, container, NodeRuntime.proc_status, judge_has_capabilities, mask)


def judge_has_capabilities(process: Process, status: ProcStatus | None, mask: int) -> Verdict:
    expected = f"{process.what} has {_names(mask)} in its effective capabilities (CapEff)"
    if status is None:
        return nothing_read(process, expected, process.status_file)
    missing = mask & ~status.cap_eff
    problems = [f"CapEff lacks {_names(missing)} (it has: {_names(status.cap_eff)})"] if missing else []
    if missing & status.cap_bnd:
        problems.append(f"{_names(missing & status.cap_bnd)} only in the bounding set: a non-root process loses "
                        f"added capabilities on exec (Uid {status.uids[1]})")
    return conclude(process, expected, process.status_file, problems, f"CapEff {_names(status.cap_eff)}",
                    **_masks(status))


@check
def process_lacks_capabilities(lab: Lab, *, namespace: str, name: str, container: str,
                               capabilities: list[str]) -> Verdict:
    """None of `capabilities` (`[ALL]` for every one) is effective or can be gained: drop, not just non-root."""
    mask = capability_mask("process_lacks_capabilities", capabilities)
    return prove(lab, namespace, name, container, NodeRuntime.proc_status, judge_lacks_capabilities, mask)


def judge_lacks_capabilities(process: Process, status: ProcStatus | None, mask: int) -> Verdict:
    named = "any capability" if mask == ALL_MASK else _names(mask)
    expected = f"{process.what} lacks {named}: in neither its effective (CapEff) nor its bounding set (CapBnd)"
    if status is None:
        return nothing_read(process, expected, process.status_file)
    problems = [f"{field} has {_names(have & mask)}"
                for field, have in (("CapEff", status.cap_eff), ("CapBnd", status.cap_bnd)) if have & mask]
    return conclude(process, expected, process.status_file, problems,
                    f"CapEff {_names(status.cap_eff)}, CapBnd {_names(status.cap_bnd)}", **_masks(status))


# -- no privilege escalation --------------------------------------------------

@check
def process_cannot_gain_privileges(lab: Lab, *, namespace: str, name: str, container: str) -> Verdict:
    """allowPrivilegeEscalation: false, as the kernel's no_new_privs flag of the process."""
    return prove(lab, namespace, name, container, NodeRuntime.proc_status, judge_no_new_privs)


def judge_no_new_privs(process: Process, status: ProcStatus | None) -> Verdict:
    expected = f"{process.what} has no_new_privs set (NoNewPrivs: 1): exec of a setuid binary gains nothing"
    if status is None:
        return nothing_read(process, expected, process.status_file)
    problems = [f"NoNewPrivs: {status.no_new_privs}"] if status.no_new_privs != 1 else []
    return conclude(process, expected, process.status_file, problems, "NoNewPrivs: 1",
                    no_new_privs=status.no_new_privs)


# -- read-only root filesystem ------------------------------------------------

@check
def root_filesystem_is_read_only(lab: Lab, *, namespace: str, name: str, container: str) -> Verdict:
    """The container's / is mounted `ro`, and a write to it from the node fails with EROFS.

    Both are read: the mount flag is the kernel's state, the refused write its
    effect, and a probe that got written (then removed) names a wrong answer
    more plainly than a flag does.
    """
    found = find_process(lab, namespace, name, container)
    if isinstance(found, Verdict):
        return found
    process, runtime = found
    mounts = runtime.mountinfo(process.pid)
    probe = runtime.write_probe(process.pid, f"kubelab-probe-{secrets.token_hex(4)}")
    return judge_read_only_root(process, mounts, probe)


def judge_read_only_root(process: Process, mounts: list[MountInfo], probe: CommandResult | None) -> Verdict:
    expected = (f"the root filesystem of {process.container} in {process.pod.namespace}/{process.pod.name} is "
                f"mounted read-only and a write to it fails ({READ_ONLY_ERROR})")
    root = mount_at(mounts, "/")
    if root is None:
        return verdict(FAIL, process.node, expected, f"/proc/{process.pid}/mountinfo shows no mount at / "
                                                     f"({len(mounts)} mounts read)")
    evidence = process.evidence(root_options=",".join(root.options), root_fstype=root.fstype)
    problems, findings = [], []
    if not root.read_only:
        problems.append(f"/ is mounted {','.join(root.options)} ({root.fstype})")
    if probe is None:
        problems.append("no write to / was tried")
    elif probe.ok:
        problems.append("a file was written at / (and removed again)")
        if root.read_only:
            findings.append("mountinfo says / is ro, yet a write to it succeeded")
    elif READ_ONLY_ERROR not in probe.stderr:
        problems.append(f"the write failed for another reason: {probe.stderr.strip() or f'exit {probe.exit_code}'}")
    elif not root.read_only:
        findings.append(f"mountinfo says / is rw, yet the write failed: {READ_ONLY_ERROR}")
    if probe is not None:
        evidence["write"] = "written" if probe.ok else probe.stderr.strip()
    if problems or findings:
        return verdict(FAIL, process.node, expected, "; ".join(problems + findings), findings=findings, **evidence)
    return verdict(PASS, process.node, expected, f"/ is {','.join(root.options)} ({root.fstype}); a write to it: "
                                                 f"{READ_ONLY_ERROR}", **evidence)
