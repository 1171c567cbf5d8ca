"""Verdicts for people (a rich table, progress while checks run) and for machines (JSON, JUnit XML).

Only a run where every check passed exits 0. A "waiting" verdict (the kubelet
is still in restart back-off) is not a pass: nothing was proven yet, so JUnit
counts it as a failure of type "waiting" and the exit code is non-zero.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from kubelab.checks import FAIL, PASS, STATUSES, WAITING, Check, Lab, Verdict, run_check

STYLE = {PASS: "bold green", FAIL: "bold red", WAITING: "bold yellow"}

# XML 1.0 cannot hold most control characters, which raw logs (colour codes) do contain.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def run_checks(checks: list[Check], lab: Lab, console: Console) -> list[Verdict]:
    """Run the checks in order with a progress display on `console`."""
    verdicts = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("checks", total=len(checks))
        for check in checks:
            progress.update(task, description=escape(check.name))
            verdicts.append(run_check(check, lab))
            progress.advance(task)
    return verdicts


def counts(verdicts: list[Verdict]) -> dict[str, int]:
    return {"total": len(verdicts), **{s: sum(v.status == s for v in verdicts) for s in STATUSES}}


def exit_code(verdicts: list[Verdict]) -> int:
    return 0 if verdicts and all(v.passed for v in verdicts) else 1


def render(verdicts: list[Verdict], console: Console) -> None:
    table = Table(title="kubelab checks", show_lines=False)
    for column, kwargs in (("check", {}), ("node", {}), ("verdict", {}), ("evidence", {"overflow": "fold"}),
                           ("seconds", {"justify": "right"})):
        table.add_column(column, **kwargs)
    for v in verdicts:
        table.add_row(escape(v.check), escape(v.node), f"[{STYLE[v.status]}]{v.status}[/]",
                      escape(v.summary()), f"{v.seconds:.2f}")
    console.print(table)
    for v in verdicts:
        if v.passed:
            continue
        console.print(f"[{STYLE[v.status]}]{v.status.upper()}[/] {escape(v.check)} [dim]on {escape(v.node)}[/]")
        console.print(f"  expected: {escape(v.expected)}")
        console.print(f"  seen:     {escape(v.seen)}")
        for finding in v.findings:
            console.print(f"  finding:  {escape(finding)}")
    c = counts(verdicts)
    console.print(f"{c[PASS]} passed, {c[FAIL]} failed, {c[WAITING]} waiting of {c['total']}")


def to_json(verdicts: list[Verdict]) -> str:
    return json.dumps({"summary": counts(verdicts), "verdicts": [asdict(v) for v in verdicts]}, indent=2)


def junit_xml(verdicts: list[Verdict]) -> str:
    c = counts(verdicts)
    seconds = f"{sum(v.seconds for v in verdicts):.3f}"
    attrs = {"tests": str(c["total"]), "failures": str(c[FAIL] + c[WAITING]), "errors": "0", "time": seconds}
    suites = ET.Element("testsuites", name="kubelab", **attrs)
    suite = ET.SubElement(suites, "testsuite", name="kubelab.checks", skipped="0", **attrs)
    for v in verdicts:
        case = ET.SubElement(suite, "testcase", classname=f"kubelab.{v.node}", name=v.check, time=f"{v.seconds:.3f}")
        if not v.passed:
            failure = ET.SubElement(case, "failure", type=v.status, message=_xml(v.seen))
            failure.text = _xml("\n".join([f"expected: {v.expected}", f"seen: {v.seen}"]
                                          + [f"finding: {f}" for f in v.findings]))
        ET.SubElement(case, "system-out").text = _xml(json.dumps(v.evidence, indent=2, ensure_ascii=False))
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def write_junit(verdicts: list[Verdict], path: str | Path) -> None:
    Path(path).write_text(junit_xml(verdicts) + "\n", encoding="utf-8")
