"""Graded exams and classes as one self-contained HTML file each: a page a person would rather read.

Pure functions from the exam result document (`kubelab exam grade --json`) and the class result
document to HTML with inline CSS and SVG: no script, no external URL, no fonts fetched, so the file
opens the same from a mail attachment as from a web server. Every string from the document is
escaped: expected/seen/evidence come from the cluster, where a student can write anything.
"""

from __future__ import annotations

import json
import re
from html import escape

from kubelab.checks.verdict import PASS, RAW_KEYS
from kubelab.errors import KubelabError

EXAM_KIND, CLASS_KIND, VERSION = "kubelab-exam-result", "kubelab-class-result", 1
# A raw transcript can be hundreds of kB (every API object a check read); the page shows its start
# and points to the JSON result for the rest, so one exam page stays a few hundred kB at most.
RAW_ENTRY_CHARS, RAW_BLOCK_CHARS = 1_500, 6_000

_NUMBER, _TEXT, _LIST, _OBJECT, _FLAG = (int, float), (str,), (list,), (dict,), (bool,)
_TOP = "(top level)"


class ResultDocumentError(KubelabError):
    """An exam or class result document lacks a field the page needs; no page is written."""

    def __init__(self, kind: str, where: str, problem: str):
        self.where, self.problem = where, problem
        label = kind.removeprefix("kubelab-").replace("-", " ")
        super().__init__(f"{label} document: {where}: {problem}. Fix: render the JSON that `kubelab exam grade "
                         f"--json` (or the class grade) wrote, unedited")


def _need(obj, where: str, key: str, types: tuple, kind: str):
    """obj[key], of one of `types`, or an error naming the field's path."""
    path = f"{where}.{key}" if where else key
    if not isinstance(obj, dict):
        raise ResultDocumentError(kind, where or _TOP, "not a JSON object")
    if key not in obj:
        raise ResultDocumentError(kind, path, "missing field")
    value = obj[key]
    # bool is an int in Python; a flag where a number belongs (or the reverse) is still wrong.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ResultDocumentError(kind, path, f"expected {' or '.join(t.__name__ for t in types)}, "
                                              f"got {type(value).__name__}")
    return value


def _fields(kind: str, obj, where: str, types: dict) -> list:
    """The fields named in `types`, in that order, each of its type(s)."""
    return [_need(obj, where, key, t, kind) for key, t in types.items()]


def _document(kind: str, doc) -> None:
    found, version = _fields(kind, doc, "", {"kind": _TEXT, "version": _NUMBER})
    if found != kind:
        raise ResultDocumentError(kind, "kind", f"is {found!r}, not {kind!r}")
    if version != VERSION:
        raise ResultDocumentError(kind, "version", f"is {version}; this kubelab renders version {VERSION}")


def _e(value) -> str:
    return escape(str(value), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def _pct(value: float) -> str:
    return f"{value:.1f}%"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


# -- pieces ----------------------------------------------------------------------

def _domain_chart(domains: list[dict], pass_mark: float, kind: str) -> str:
    """Horizontal bars, one a domain, with the pass mark as a dashed line across all of them."""
    label_w, bar_w, row_h, top = 430, 400, 34, 26
    width, height = label_w + bar_w + 130, top + row_h * len(domains) + 8
    mark_x = label_w + bar_w * pass_mark / 100
    parts = [f'<svg class="chart" role="img" aria-label="score per domain" xmlns="http://www.w3.org/2000/svg" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<text x="{mark_x:.1f}" y="14" text-anchor="middle" class="mark">pass mark {_e(pass_mark)}%</text>']
    for i, d in enumerate(domains):
        where = f"domains[{i}]"
        name, weight, score, points, percent = _fields(kind, d, where, {
            "name": _TEXT, "weight": _NUMBER, "score": _NUMBER, "points": _NUMBER, "percent": _NUMBER})
        y = top + i * row_h
        parts.append(f'<g class="domain"><text x="{label_w - 10}" y="{y + 19}" text-anchor="end" class="label">'
                     f'{_e(name)} <tspan class="weight">({_e(weight)}%)</tspan></text>'
                     f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="22" class="track"/>')
        if points:
            state = "pass" if percent >= pass_mark else "fail"
            parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{bar_w * min(percent, 100) / 100:.1f}" height="22" '
                         f'class="bar {state}"/><text x="{label_w + bar_w + 8}" y="{y + 20}" class="value {state}">'
                         f'{_e(_pct(percent))} <tspan class="points">{_e(score)}/{_e(points)}</tspan></text>')
        else:
            parts.append(f'<text x="{label_w + bar_w + 8}" y="{y + 20}" class="value none">no task</text>')
        parts.append("</g>")
    parts.append(f'<line x1="{mark_x:.1f}" y1="18" x2="{mark_x:.1f}" y2="{height - 4}" class="markline"/></svg>')
    return "".join(parts)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… {len(text) - limit} more characters (the full transcript is in the JSON result)"


def _raw_text(value) -> str:
    """A transcript for reading: commands as a shell session, anything else as indented JSON, each entry clipped."""
    if not isinstance(value, list):
        return _clip(json.dumps(value, indent=1, default=str), RAW_BLOCK_CHARS)
    entries = []
    for entry in value:
        if isinstance(entry, dict) and "command" in entry:
            text = (f"[{entry.get('node', '?')}]$ {entry['command']}\n"
                    f"exit {entry.get('exit_code', '?')}, {entry.get('seconds', '?')} s\n"
                    f"{entry.get('stdout', '')}{entry.get('stderr', '')}")
        elif isinstance(entry, dict) and "read" in entry:
            text = f"read {entry['read']}\n{json.dumps(entry.get('object'), indent=1, default=str)}"
        else:
            text = json.dumps(entry, indent=1, default=str)
        entries.append(_clip(text.rstrip("\n"), RAW_ENTRY_CHARS))
    return _clip("\n\n".join(entries), RAW_BLOCK_CHARS)


def _evidence(evidence: dict) -> str:
    raw = {k for k, v in evidence.items() if k in RAW_KEYS or isinstance(v, (list, dict))}
    scalars = [(k, v) for k, v in evidence.items() if k not in raw]
    # An empty transcript (a check that ran no command) is no block to open.
    others = [(k, v) for k, v in evidence.items() if k in raw and v not in ([], {}, None)]
    html = []
    if scalars:
        html.append('<table class="evidence"><tbody>' + "".join(
            f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in scalars) + "</tbody></table>")
    for key, value in others:
        count = f" ({len(value)})" if isinstance(value, (list, dict)) else ""
        html.append(f'<details class="raw"><summary>{_e(key)}{count}</summary>'
                    f"<pre>{_e(_raw_text(value))}</pre></details>")
    return "".join(html)


def _check(check: dict, where: str, kind: str) -> str:
    name, points, earned, hint, v = _fields(kind, check, where, {
        "id": _TEXT, "points": _NUMBER, "earned": _NUMBER, "hint": _TEXT, "verdict": _OBJECT})
    status, node, expected, seen, evidence, seconds, findings = _fields(kind, v, f"{where}.verdict", {
        "status": _TEXT, "node": _TEXT, "expected": _TEXT, "seen": _TEXT, "evidence": _OBJECT, "seconds": _NUMBER,
        "findings": _LIST})
    state = "pass" if status == PASS else "fail" if status == "fail" else "waiting"
    found = "".join(f"<li>{_e(f)}</li>" for f in findings)
    return (f'<details class="check {state}"{"" if status == PASS else " open"}>'
            f'<summary><span class="verdict {state}">{_e(status)}</span> <span class="name">{_e(name)}</span>'
            f'<span class="pts">{_e(earned)}/{_e(points)}</span></summary>'
            f'<dl><dt>expected</dt><dd class="expected">{_e(expected)}</dd>'
            f'<dt>seen</dt><dd class="seen">{_e(seen)}</dd>'
            + f'<dt>hint</dt><dd class="hint">{_e(hint)}</dd>'
            + (f'<dt>findings</dt><dd><ul class="findings">{found}</ul></dd>' if findings else "")
            + f'<dt>where</dt><dd>node {_e(node)}, {seconds:.2f} s</dd></dl>{_evidence(evidence)}</details>')


def _task(task: dict, where: str, prefix: str, kind: str) -> str:
    number, exercise, title, domain, competency, namespaces, score, points, note, checks = _fields(kind, task, where, {
        "number": _NUMBER, "exercise": _TEXT, "title": _TEXT, "domain": _TEXT, "competency": _TEXT,
        "namespaces": _LIST, "score": _NUMBER, "points": _NUMBER, "note": _TEXT, "checks": _LIST})
    full = score >= points > 0
    state = "pass" if full else "fail"
    body = "".join(_check(c, f"{where}.checks[{i}]", kind) for i, c in enumerate(checks))
    return (f'<details class="task {state}" id="{_e(prefix)}task-{_e(_slug(str(number)))}"{"" if full else " open"}>'
            f'<summary><span class="num">{_e(number)}</span> <span class="title">{_e(title)}</span>'
            f'<span class="pts {state}">{_e(score)}/{_e(points)}</span></summary>'
            f'<p class="meta"><code>{_e(exercise)}</code> · {_e(domain)} · {_e(competency)} · namespace '
            f'{", ".join(f"<code>{_e(n)}</code>" for n in namespaces)}</p>'
            + (f'<p class="note">{_e(note)}</p>' if note else "")
            + (body or '<p class="note">no check was graded</p>') + "</details>")


def _exam_section(doc: dict, prefix: str = "", heading: str = "") -> str:
    """One exam as a <section>; `prefix` keeps ids unique when a class page holds several."""
    kind = EXAM_KIND
    _document(kind, doc)
    (lab, seed, version, started, graded, minutes, used, time_up, pass_mark, score, points, percent, passed, domains,
     tasks) = _fields(kind, doc, "", {
        "lab": _TEXT, "seed": _NUMBER, "kubernetes": _TEXT, "started_at": _TEXT, "graded_at": _TEXT,
        "minutes": _NUMBER, "seconds_used": _NUMBER, "time_up": _FLAG, "pass_mark": _NUMBER, "score": _NUMBER,
        "points": _NUMBER, "percent": _NUMBER, "passed": _FLAG, "domains": _LIST, "tasks": _LIST})
    state = "pass" if passed else "fail"
    used_pct = min(100.0, 100 * used / (minutes * 60)) if minutes else 100.0
    task_html = "".join(_task(t, f"tasks[{i}]", prefix, kind) for i, t in enumerate(tasks))
    return (f'<section class="exam" id="{_e(prefix)}exam">'
            f'<h1>{_e(heading or "CKAD practice exam")}</h1>'
            f'<dl class="facts"><div><dt>lab</dt><dd>{_e(lab)}</dd></div><div><dt>seed</dt><dd>{_e(seed)}</dd></div>'
            f'<div><dt>Kubernetes</dt><dd>{_e(version)}</dd></div><div><dt>started</dt><dd>{_e(started)}</dd></div>'
            f'<div><dt>graded</dt><dd>{_e(graded)}</dd></div></dl>'
            f'<div class="banner {state}"><strong>{"PASSED" if passed else "NOT PASSED"}</strong> '
            f'<span class="total">{_e(_pct(percent))}</span> <span>{_e(score)} of {_e(points)} points · pass mark '
            f'{_e(pass_mark)}%</span></div>'
            f'<div class="time"><span>time used <strong>{_e(_duration(used))}</strong> of {_e(minutes)} min'
            f'{" · time up" if time_up else ""}</span><span class="clock"><span style="width:{used_pct:.1f}%"></span>'
            f'</span></div>'
            f'<h2>Score per domain</h2>{_domain_chart(domains, pass_mark, kind)}'
            f'<h2>Tasks ({len(tasks)})</h2>{task_html or "<p class=note>the exam had no task</p>"}</section>')


_CSS = """
:root{--pass:#1a7f37;--pass-bg:#dafbe1;--fail:#cf222e;--fail-bg:#ffebe9;--wait:#9a6700;--line:#d0d7de;--dim:#57606a}
*{box-sizing:border-box}body{margin:0;background:#f6f8fa;color:#1f2328;font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"DejaVu Sans",sans-serif}main{max-width:1100px;margin:0 auto;padding:24px}
section.exam{background:#fff;border:1px solid var(--line);border-radius:10px;padding:20px 24px;margin-bottom:28px}
h1{margin:0 0 10px;font-size:24px}
h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
code,pre{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
.facts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:0 0 14px}.facts div{display:flex;gap:6px}
.facts dt{color:var(--dim)}.facts dd{margin:0;font-weight:600}
.banner{border-radius:8px;padding:14px 18px;font-size:18px;display:flex;gap:16px;align-items:baseline}
.banner.pass{background:var(--pass-bg);color:var(--pass);border:1px solid var(--pass)}
.banner.fail{background:var(--fail-bg);color:var(--fail);border:1px solid var(--fail)}
.banner .total{font-size:30px;font-weight:700}
.time{display:flex;gap:14px;align-items:center;margin:10px 0;color:var(--dim)}
.clock{flex:0 0 260px;height:10px;background:#eaeef2;border-radius:5px;overflow:hidden}
.clock span{display:block;height:100%;background:#0969da}
svg.chart{max-width:100%;height:auto;font-size:13px}svg .label{fill:#1f2328}svg .weight,svg .points{fill:var(--dim)}
svg .track{fill:#eaeef2}svg .bar.pass{fill:var(--pass)}svg .bar.fail{fill:var(--fail)}
svg .value{font-weight:700}svg .value.pass{fill:var(--pass)}svg .value.fail{fill:var(--fail)}
svg .value.none{fill:var(--dim);font-weight:400;font-style:italic}
svg .markline{stroke:#1f2328;stroke-width:1.5;stroke-dasharray:4 3}svg .mark{fill:#1f2328;font-size:12px}
details{border:1px solid var(--line);border-radius:8px;margin:8px 0;background:#fff}
details>summary{cursor:pointer;padding:8px 12px;display:flex;gap:10px;align-items:center}
details.task>summary{font-weight:600}details.task.fail{border-left:5px solid var(--fail)}
details.task.pass{border-left:5px solid var(--pass)}details.task>*:not(summary){margin-left:14px;margin-right:14px}
.num{display:inline-block;min-width:28px;text-align:center;background:#eaeef2;border-radius:12px;padding:0 6px}
.pts{margin-left:auto;font-variant-numeric:tabular-nums;font-weight:700}.pts.pass{color:var(--pass)}
.pts.fail{color:var(--fail)}
.meta,.note{color:var(--dim);margin:4px 0 8px}.note{font-style:italic}
details.check{background:#fbfcfd}details.check>summary{font-weight:400}
.verdict{font-size:12px;font-weight:700;text-transform:uppercase;border-radius:4px;padding:1px 7px;color:#fff}
.verdict.pass{background:var(--pass)}.verdict.fail{background:var(--fail)}.verdict.waiting{background:var(--wait)}
details.check dl{display:grid;grid-template-columns:90px 1fr;gap:4px 10px;margin:4px 14px 8px}
details.check dt{color:var(--dim)}details.check dd{margin:0;overflow-wrap:anywhere}
dd.seen{font-weight:600}details.check.fail dd.seen{color:var(--fail)}dd.hint{font-style:italic}
table.evidence{border-collapse:collapse;margin:4px 14px 8px;font-size:13px}
table.evidence th{text-align:left;color:var(--dim);font-weight:400;padding:1px 12px 1px 0;vertical-align:top}
table.evidence td{overflow-wrap:anywhere}details.raw{margin:6px 14px}
details.raw summary{font-size:13px;color:var(--dim)}
pre{margin:0;padding:8px 12px;max-height:320px;overflow:auto;background:#f6f8fa;white-space:pre-wrap;
word-break:break-all}
table.class{border-collapse:collapse;width:100%;background:#fff;font-size:14px}
table.class th,table.class td{border:1px solid var(--line);padding:6px 8px;text-align:center}
table.class th{background:#f6f8fa;font-weight:600}table.class td.student{text-align:left}
table.class code{white-space:nowrap}
td.pass{background:var(--pass-bg);color:var(--pass);font-weight:600}
td.fail{background:var(--fail-bg);color:var(--fail);font-weight:600}
td.none{color:var(--dim);font-style:italic}tfoot td{font-weight:600}
"""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>{body}</main></body></html>\n")


# -- pages -----------------------------------------------------------------------

def render_exam(doc: dict) -> str:
    """The exam result document as one self-contained HTML page."""
    body = _exam_section(doc)
    return _page(f"kubelab exam {doc['lab']} (seed {doc['seed']}): {_pct(doc['percent'])}", body)


def _cell(percent: float | None, pass_mark: float, text: str = "") -> str:
    if percent is None:
        return f'<td class="none">{_e(text or "–")}</td>'
    return f'<td class="{"pass" if percent >= pass_mark else "fail"}">{_e(text or _pct(percent))}</td>'


def render_class(doc: dict) -> str:
    """The class result document: a student-by-domain table, then each graded student's exam."""
    kind = CLASS_KIND
    _document(kind, doc)
    name, graded, pass_mark, domains, students = _fields(kind, doc, "", {
        "class": _TEXT, "graded_at": _TEXT, "pass_mark": _NUMBER, "domains": _LIST, "students": _LIST})
    rows, sections, sums = [], [], {d: [] for d in domains}
    for i, s in enumerate(students):
        where = f"students[{i}]"
        student, lab, score, points, percent, passed, per_domain = _fields(kind, s, where, {
            "student": _TEXT, "lab": _TEXT, "score": _NUMBER, "points": _NUMBER, "percent": _NUMBER, "passed": _FLAG,
            "domains": _OBJECT})
        exam = s.get("exam")
        anchor = f"s{i}-{_slug(student)}-"
        if exam is None:
            cells = "".join(_cell(None, pass_mark) for _ in domains)
            rows.append(f'<tr><td class="student">{_e(student)}</td><td><code>{_e(lab)}</code></td>{cells}'
                        f'<td class="none" colspan="2">not graded</td></tr>')
            continue
        try:
            sections.append(_exam_section(exam, anchor, f"{student}: exam on {lab}"))
        except ResultDocumentError as error:
            inner = "" if error.where == _TOP else f".{error.where}"
            raise ResultDocumentError(kind, f"{where}.exam{inner}", error.problem) from error
        # A domain the student's exam had no task in is "–", not a failing 0%.
        empty = {d["name"] for d in exam["domains"] if not d["points"]}
        cells = []
        for d in domains:
            if d in empty:
                cells.append(_cell(None, pass_mark))
                continue
            value = _need(per_domain, f"{where}.domains", d, _NUMBER, kind)
            sums[d].append(value)
            cells.append(_cell(value, pass_mark))
        rows.append(f'<tr><td class="student"><a href="#{_e(anchor)}exam">{_e(student)}</a></td>'
                    f'<td><code>{_e(lab)}</code></td>{"".join(cells)}'
                    f'{_cell(percent, pass_mark, f"{_pct(percent)} ({score}/{points})")}'
                    f'<td class="{"pass" if passed else "fail"}">{"passed" if passed else "not passed"}</td></tr>')
    graded_n = sum(1 for s in students if s.get("exam") is not None)
    means = "".join(_cell(sum(v) / len(v), pass_mark) if v else _cell(None, pass_mark) for v in sums.values())
    passed_n = sum(1 for s in students if s.get("passed"))
    head = "".join(f"<th>{_e(d)}</th>" for d in domains)
    table = (f'<table class="class"><thead><tr><th>student</th><th>lab</th>{head}<th>total</th><th>result</th></tr>'
             f'</thead><tbody>{"".join(rows)}</tbody><tfoot><tr><td class="student">class mean</td><td></td>{means}'
             f'<td colspan="2">{passed_n} of {len(students)} passed ({graded_n} graded)</td></tr></tfoot></table>')
    body = (f'<section class="exam" id="class"><h1>Class {_e(name)}</h1><dl class="facts"><div><dt>graded</dt>'
            f'<dd>{_e(graded)}</dd></div><div><dt>students</dt><dd>{len(students)}</dd></div><div><dt>pass mark</dt>'
            f'<dd>{_e(pass_mark)}%</dd></div></dl>{table}</section>{"".join(sections)}')
    return _page(f"kubelab class {name}: {passed_n} of {len(students)} passed", body)
