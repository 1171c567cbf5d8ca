"""Firewall rules that keep each local lab's network apart from every other network's.

podman's own `isolate` option (netavark 1.4 here) is not enough: tearing
down any isolated network removes the one FORWARD jump that every isolated
network relies on, so when one lab goes down the others can reach each other
again (measured on this machine). kubelab therefore keeps its own chain,
jumped to first from FORWARD, with two rules per lab keyed by the lab's
bridge: nothing forwarded out of the lab's bridge may reach a lab subnet, and
no new connection may be forwarded into it. Traffic inside a bridge, to this
machine (the registry mirror on the gateway) and out to the internet (and its
replies) is untouched. Every rule carries the lab's name, so removing a lab
removes exactly its rules.
"""

from __future__ import annotations

from kubelab.local import podman

CHAIN = "KUBELAB-ISOLATION"
# Where every local lab's subnet comes from (nodes.SUBNET_POOL /24s of it).
LAB_SUBNETS = "10.89.0.0/16"


def lab_rules(lab: str, bridge: str) -> list[list[str]]:
    """The lab's rules, as `iptables -A CHAIN` arguments."""
    tag = ["-m", "comment", "--comment", f"kubelab lab {lab}"]
    return [["-i", bridge, "!", "-o", bridge, "-d", LAB_SUBNETS, *tag, "-j", "DROP"],
            ["-o", bridge, "!", "-i", bridge, "-m", "conntrack", "--ctstate", "NEW", *tag, "-j", "DROP"]]


def stale(listing: str, lab: str, bridge: str) -> list[list[str]]:
    """The rules in `iptables -S CHAIN` output to delete before the lab's go in: the lab's own on another
    bridge, and another lab's on this bridge (a lab removed without its rules whose bridge name podman
    has given out again). With `bridge` empty: every rule of the lab."""
    found = []
    for line in listing.splitlines():
        words = line.split()
        if words[:2] != ["-A", CHAIN]:
            continue
        rule = _unquoted(words[2:])
        bridges = {rule[i + 1] for i, w in enumerate(rule[:-1]) if w in ("-i", "-o")}
        mine = f"kubelab lab {lab}" in rule
        if (mine and bridge not in bridges) or (not mine and bridge in bridges):
            found.append(rule)
    return found


def _iptables(*args: str, check: bool = True):
    podman.require("iptables", "iptables")
    # -w: netavark and other labs change the same tables; wait for the lock instead of failing.
    return podman.run(["iptables", "-w", "10", *args], check=check, timeout=60)


def _ensure_chain() -> None:
    if _iptables("-S", CHAIN, check=False).returncode != 0:
        _iptables("-N", CHAIN)
    if _iptables("-C", "FORWARD", "-j", CHAIN, check=False).returncode != 0:
        # First, before netavark's ACCEPT rules for each subnet.
        _iptables("-I", "FORWARD", "1", "-j", CHAIN)


def isolate(lab: str, bridge: str) -> None:
    """Make the lab's rules exactly what `lab_rules` says (run on every `nodes up`: a flushed table heals)."""
    _ensure_chain()
    for rule in stale(_iptables("-S", CHAIN).stdout.decode(), lab, bridge):
        _iptables("-D", CHAIN, *rule)
    for rule in lab_rules(lab, bridge):
        if _iptables("-C", CHAIN, *rule, check=False).returncode != 0:
            _iptables("-A", CHAIN, *rule)


def release(lab: str) -> None:
    """Remove the lab's rules (and nothing else)."""
    if _iptables("-S", CHAIN, check=False).returncode != 0:
        return
    for rule in stale(_iptables("-S", CHAIN).stdout.decode(), lab, bridge=""):
        _iptables("-D", CHAIN, *rule)


def _unquoted(rule: list[str]) -> list[str]:
    """`iptables -S` quotes a comment with spaces; -D wants it as one argument."""
    text = " ".join(rule)
    head, quote, rest = text.partition('"')
    if not quote:
        return rule
    comment, _, tail = rest.partition('"')
    return [*head.split(), comment, *tail.split()]
