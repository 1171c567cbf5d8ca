"""A check's verdict and the runner that times it and attaches its raw evidence."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

from kubelab.errors import KubelabError

if TYPE_CHECKING:
    from kubelab.checks.lab import Lab

PASS, FAIL, WAITING = "pass", "fail", "waiting"
STATUSES = (PASS, FAIL, WAITING)

# Evidence keys that hold raw transcripts, not a one-line summary.
RAW_KEYS = ("commands", "api_reads")


@dataclass(frozen=True)
class Verdict:
    check: str
    node: str
    status: str
    expected: str
    seen: str
    evidence: dict = field(default_factory=dict)
    seconds: float = 0.0
    # Places where the API and the node disagree; any one fails the check.
    findings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def summary(self, width: int = 90) -> str:
        """The short scalar evidence, for a table cell."""
        parts = [f"{k}={v}" for k, v in self.evidence.items()
                 if k not in RAW_KEYS and isinstance(v, (str, int, float, bool)) and v != ""]
        text = " ".join(parts)
        return text if len(text) <= width else text[: width - 1] + "…"


def verdict(status: str, node: str | None, expected: str, seen: str, *,
            findings: list[str] | tuple[str, ...] = (), **evidence) -> Verdict:
    """A verdict whose check name and timing the runner fills in."""
    if findings and status == PASS:
        raise ValueError("a verdict with findings cannot pass")
    return Verdict(check="", node=node or "-", status=status, expected=expected, seen=seen,
                   evidence=evidence, findings=tuple(findings))


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[["Lab"], Verdict]
    # Changes the lab (kills processes); runs after the read-only checks.
    disruptive: bool = False


def run_check(check: Check, lab: "Lab") -> Verdict:
    """Run one check, timing it and attaching every command and API read it made."""
    started = time.monotonic()
    with lab.record() as transcript:
        try:
            result = check.run(lab)
        except KubelabError as exc:
            # SSH and runtime errors know their node; API errors have none.
            result = verdict(FAIL, getattr(exc, "node", None), "the check can read the API and the node", str(exc),
                             error=type(exc).__name__)
    return replace(result, check=check.name, seconds=round(time.monotonic() - started, 2),
                   evidence={**result.evidence, **transcript.evidence()})
