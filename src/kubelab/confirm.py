"""Asking before a command destroys a lab's work: the lab's name, typed, or --yes."""

from __future__ import annotations

from typing import Callable

from kubelab.errors import KubelabError


class NotConfirmed(KubelabError):
    """Nobody confirmed a destructive command; nothing was changed."""


def confirm(lab: str, action: str, what: str, *, yes: bool, interactive: bool, ask: Callable[[str], str]) -> None:
    """Go on only with --yes, or when a person at a terminal types the lab's name.

    `action` completes "refusing to ..." (e.g. "reset lab x"); `what` lists what will be lost.
    """
    if yes:
        return
    if not interactive:
        raise NotConfirmed(f"refusing to {action} without confirmation: there is no terminal to ask on. "
                           f"Fix: pass --yes (as CI does) when you mean it")
    answer = ask(f"{what}\nType the lab's name ({lab}) to go on: ")
    if answer.strip() != lab:
        raise NotConfirmed(f"not confirmed (typed {answer.strip()!r}, not {lab!r}); nothing was changed")
