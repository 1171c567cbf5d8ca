"""The exam and class report pages, parsed back with html.parser from real grade results.

tests/fixtures/exam/exam-result.json is an exam result document whose every check verdict is real
(see the README there); class-result.json holds three graded students and one never graded.
"""

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kubelab.errors import KubelabError
from kubelab.exam_page import RAW_BLOCK_CHARS, render_class, render_exam

FIXTURES = Path(__file__).parents[1] / "fixtures" / "exam"
HOSTILE = "<script>alert(1)</script>"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


class Page(HTMLParser):
    """The parts of a page a reader sees: text by element, tags opened, attributes of each."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.stack, self.texts, self.attrs = [], [], [], []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))
        if tag not in ("meta", "rect", "line", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        self.texts.append((tuple(self.stack), data))

    def text(self) -> str:
        return " ".join(" ".join(d.split()) for stack, d in self.texts if d.strip() and "style" not in stack)


def failed_checks(doc: dict):
    return [(t, c) for t in doc["tasks"] for c in t["checks"] if c["verdict"]["status"] != "pass"]


def test_every_domain_the_total_and_the_time_are_on_the_exam_page():
    doc = load("exam-result.json")
    text = Page(render_exam(doc)).text()
    assert "PASSED 76.5% 26 of 34 points · pass mark 66%" in text
    assert "time used 72 min 52 s of 120 min" in text
    assert f"lab {doc['lab']} seed 7 Kubernetes v1.35.4" in text
    for d, (name, shown) in zip(doc["domains"], [("Application Design and Build", "100.0% 21/21"),
                                                  ("Application Deployment", "57.1% 4/7"),
                                                  ("Application Observability and Maintenance", "no task"),
                                                  ("Application Environment, Configuration and Security", "16.7% 1/6"),
                                                  ("Services and Networking", "no task")]):
        assert d["name"] == name and f"{name} ({d['weight']}%) {shown}" in text


def test_a_bar_is_as_long_as_its_percent_and_the_pass_mark_line_stands_at_66():
    page = Page(render_exam(load("exam-result.json")))
    track = [a for t, a in page.attrs if t == "rect" and a.get("class") == "track"][0]
    bars = [a for t, a in page.attrs if t == "rect" and a.get("class", "").startswith("bar ")]
    assert [(b["class"], round(float(b["width"]) / float(track["width"]) * 100, 1)) for b in bars] == \
        [("bar pass", 100.0), ("bar fail", 57.1), ("bar fail", 16.7)]
    line = [a for t, a in page.attrs if t == "line"][0]
    assert float(line["x1"]) == pytest.approx(float(track["x"]) + float(track["width"]) * 0.66, abs=0.1)


def test_each_task_shows_its_score_and_failed_ones_are_open_with_the_failed_checks_text():
    doc = load("exam-result.json")
    page = Page(render_exam(doc))
    tasks = [a for t, a in page.attrs if t == "details" and "task" in a.get("class", "")]
    assert [("open" in a, a["class"]) for a in tasks] == [(False, "task pass"), (False, "task pass"),
                                                          (True, "task fail"), (True, "task fail")]
    text = page.text()
    for t in doc["tasks"]:
        assert f"{t['number']} {t['title']} {t['score']}/{t['points']}" in text
    failed = failed_checks(doc)
    assert [c["id"] for _, c in failed] == ["green-rolled-out", "token-for-builder"]
    for _, c in failed:
        v = c["verdict"]
        assert f"fail {c['id']} 0/{c['points']}" in text
        assert f"expected {v['expected']} seen {v['seen']} hint {c['hint']}" in text
    checks = [a for t, a in page.attrs if t == "details" and "check" in a.get("class", "").split()]
    assert sum("open" in a for a in checks) == len(failed) == 2


def test_scalar_evidence_is_a_table_and_raw_transcripts_are_clipped_inside_their_own_details():
    doc = load("exam-result.json")
    html = render_exam(doc)
    text = Page(html).text()
    assert "revisions 1 docker.io/library/nginx:1.27 (green-7f6888ccbb)" in text  # scalar evidence
    raw = json.dumps(doc["tasks"][0]["checks"][6]["verdict"]["evidence"]["commands"])
    assert len(raw) > 50_000  # the real transcript of one kill -9 check
    assert "commands (" in text and "api_reads (" in text
    pres = [d for stack, d in Page(html).texts if stack and stack[-1] == "pre"]
    # api_reads of the 7 checks, commands of 6 (pod-running ran none: no empty block), both of the traffic check.
    assert len(pres) == 7 + 6 + 2
    assert max(len(p) for p in pres) <= RAW_BLOCK_CHARS + 100
    assert "more characters (the full transcript is in the JSON result)" in text
    assert len(html) < len(json.dumps(doc)) / 3


def test_a_hostile_seen_and_evidence_are_text_not_markup():
    doc = load("exam-result.json")
    check = doc["tasks"][2]["checks"][0]
    check["verdict"]["seen"] = HOSTILE
    check["verdict"]["evidence"]["revisions"] = '"><img src=x onerror=alert(2)>'
    check["verdict"]["evidence"]["commands"] = [{"node": "w1", "command": "cat x", "exit_code": 0,
                                                 "stdout": "</pre><script>alert(3)</script>", "stderr": ""}]
    doc["tasks"][2]["title"] = HOSTILE
    doc["lab"] = '"<b>lab'
    html = render_exam(doc)
    page = Page(html)
    assert "script" not in page.tags and "img" not in page.tags and "b" not in page.tags
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f"seen {HOSTILE}" in page.text() and "</pre><script>alert(3)</script>" in page.text()


def test_the_page_is_self_contained():
    for html in (render_exam(load("exam-result.json")), render_class(load("class-result.json"))):
        page = Page(html)
        assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)
        assert not [a for _, a in page.attrs if "src" in a]
        assert all(a["href"].startswith("#") for t, a in page.attrs if "href" in a)  # anchors on the page itself
        style = html.split("<style>", 1)[1].split("</style>", 1)[0]
        assert "url(" not in style and "@import" not in style and "@font-face" not in style


def test_an_exam_with_no_task_renders():
    doc = load("exam-result.json")
    doc.update(tasks=[], score=0, points=0, percent=0.0, passed=False)
    for d in doc["domains"]:
        d.update(score=0, points=0, percent=0.0)
    text = Page(render_exam(doc)).text()
    assert "NOT PASSED 0.0% 0 of 0 points" in text and "Tasks (0) the exam had no task" in text
    assert text.count("no task") == 6  # five domains and the task list


@pytest.mark.parametrize("path, where", [
    (("tasks", 2, "checks", 0, "verdict", "seen"), "tasks[2].checks[0].verdict.seen"),
    (("domains", 4, "percent"), "domains[4].percent"),
    (("seconds_used",), "seconds_used"),
    (("tasks", 0, "points"), "tasks[0].points"),
])
def test_a_document_missing_a_field_is_an_error_naming_it(path, where):
    doc = load("exam-result.json")
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(KubelabError, match=re.escape(f"exam result document: {where}: missing field")):
        render_exam(doc)


def test_a_field_of_the_wrong_type_or_another_document_is_an_error():
    doc = load("exam-result.json")
    doc["passed"] = "yes"
    with pytest.raises(KubelabError, match=r"passed: expected bool, got str"):
        render_exam(doc)
    with pytest.raises(KubelabError, match=r"kind: is 'kubelab-class-result', not 'kubelab-exam-result'"):
        render_exam(load("class-result.json"))
    with pytest.raises(KubelabError, match=r"version: is 2; this kubelab renders version 1"):
        render_exam({**load("exam-result.json"), "version": 2})
    with pytest.raises(KubelabError, match=r"\(top level\): not a JSON object"):
        render_exam([])


# -- the class page --------------------------------------------------------------

def class_rows(html: str) -> list[list[str]]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[" ".join(Page(c).text().split()) for c in re.findall(r"<td[^>]*>.*?</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body)]


def test_the_class_table_is_student_by_domain_coloured_against_the_pass_mark():
    doc = load("class-result.json")
    html = render_class(doc)
    rows = {r[0]: r[2:] for r in class_rows(html)}
    assert list(rows) == ["alice", "bob", "carol"]
    # "–": the student's exam had no task in that domain, which is no failing 0%.
    assert rows["alice"] == ["100.0%", "57.1%", "–", "16.7%", "–", "76.5% (26/34)", "passed"]
    assert rows["bob"] == ["85.7%", "57.1%", "–", "16.7%", "–", "67.6% (23/34)", "passed"]
    assert rows["carol"] == ["57.1%", "57.1%", "–", "16.7%", "–", "45.0% (9/20)", "not passed"]
    table = html.split("<tbody>", 1)[1].split("</tbody>")[0]
    cells = re.findall(r'<td class="(pass|fail)">([\d.]+)%', table)
    assert len(cells) == 12
    for state, value in cells:
        assert state == ("pass" if float(value) >= 66 else "fail"), (state, value)
    text = Page(html).text()
    for name in doc["domains"]:
        assert name in text
    # Means over the students who had a task in the domain: (100 + 85.7 + 57.1) / 3.
    assert "class mean 80.9% 57.1% – 16.7% – 2 of 3 passed (3 graded)" in text


def test_a_student_not_graded_is_a_row_without_an_exam():
    doc = load("class-result.json")
    doc["students"].append({"student": "dave", "lab": "ckad-mon-dave", "score": 0, "points": 0, "percent": 0.0,
                            "passed": False, "domains": {}, "exam": None})
    html = render_class(doc)
    assert class_rows(html)[3] == ["dave", "ckad-mon-dave"] + ["–"] * 5 + ["not graded"]
    assert "2 of 4 passed (3 graded)" in Page(html).text()


def test_each_graded_student_links_to_their_exam_rendered_on_the_same_page():
    doc = load("class-result.json")
    html = render_class(doc)
    page = Page(html)
    links = [a["href"] for t, a in page.attrs if t == "a"]
    ids = {a["id"] for _, a in page.attrs if "id" in a}
    assert len(links) == 3 and all(link[1:] in ids for link in links)
    assert len(ids) == len([a["id"] for _, a in page.attrs if "id" in a])  # no id twice
    text = page.text()
    for s in doc["students"][:3]:
        assert f"{s['student']}: exam on {s['lab']}" in text
    bob = next(s for s in doc["students"] if s["student"] == "bob")["exam"]
    section = html.split("bob: exam on", 1)[1].split("carol: exam on", 1)[0]
    assert Page(section).text().count("FAIL") + section.count('class="verdict fail"') >= len(failed_checks(bob))
    assert "the token is for system:serviceaccount:ex-identity:default" in section


def test_a_class_student_with_a_broken_exam_names_the_student_and_the_field():
    doc = load("class-result.json")
    bad = copy.deepcopy(doc)
    del bad["students"][1]["exam"]["tasks"][0]["checks"][0]["verdict"]["expected"]
    with pytest.raises(KubelabError, match=re.escape(
            "class result document: students[1].exam.tasks[0].checks[0].verdict.expected: missing field")):
        render_class(bad)
    bad["students"][1]["exam"] = "alice.json"
    with pytest.raises(KubelabError, match=re.escape("class result document: students[1].exam: not a JSON object")):
        render_class(bad)
    del doc["students"][0]["domains"]["Services and Networking"]
    doc["students"][0]["exam"]["domains"][4]["points"] = 3
    with pytest.raises(KubelabError, match=re.escape("students[0].domains.Services and Networking: missing field")):
        render_class(doc)
