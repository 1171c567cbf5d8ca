"""The report pages opened in a real browser: Debian's chromium, headless, from a file:// URL.

Each page is written to a temporary directory and loaded once by chromium with both --dump-dom
(the DOM after the browser parsed the page) and --screenshot (1280x2000). The assertions read the
rendered DOM, not the string kubelab wrote, and decode the PNG with the standard library: its size,
its chunks' CRCs, its pixel data's length, and enough distinct scanlines that it cannot be blank.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kubelab.exam_page import render_class, render_exam

FIXTURES = Path(__file__).parents[1] / "fixtures" / "exam"
WIDTH, HEIGHT = 1280, 2000
# A blank 1280x2000 page gives 1 distinct scanline; these pages give well over a thousand.
MIN_DISTINCT_ROWS = 200
# Both pages take about 5 s on an idle 2-core machine and 12-18 s while other labs load it (load
# average 40-60); past this budget something waits that should not (a network fetch, a hung renderer).
SECONDS_BUDGET = 30.0


class Text(HTMLParser):
    """The visible text of a DOM, whitespace folded; style contents left out."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.parts, self.in_style = [], False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.in_style = tag == "style"

    def handle_endtag(self, tag):
        self.in_style = False

    def handle_data(self, data):
        if not self.in_style and data.strip():
            self.parts.append(" ".join(data.split()))

    def __str__(self) -> str:
        return " ".join(self.parts)


def open_in_chromium(page: Path, home: Path) -> tuple[str, bytes, float]:
    """(rendered DOM, screenshot PNG bytes, seconds) for one page."""
    browser = shutil.which("chromium")
    if browser is None:
        pytest.fail("chromium is not installed: `.ci/setup` installs Debian's `chromium` package "
                    "(or `apt-get install -y chromium`)")
    home.mkdir()
    shot = home / "screenshot.png"
    started = time.monotonic()
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                           f"--user-data-dir={home / 'profile'}", f"--window-size={WIDTH},{HEIGHT}",
                           f"--screenshot={shot}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")})
    seconds = time.monotonic() - started
    assert done.returncode == 0 and shot.is_file(), f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout, shot.read_bytes(), seconds


def png_rows(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, filtered scanlines) of a PNG, every chunk's CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + width * (3 if colour == 2 else 4)
    assert len(raw) == height * stride
    return width, height, [raw[i:i + stride] for i in range(0, len(raw), stride)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Both pages, loaded in parallel (one chromium each): {name: (dom text, png, seconds)}."""
    root = tmp_path_factory.mktemp("pages")
    pages = {"exam": render_exam(json.loads((FIXTURES / "exam-result.json").read_text())),
             "class": render_class(json.loads((FIXTURES / "class-result.json").read_text()))}
    for name, html in pages.items():
        (root / f"{name}.html").write_text(html)
    started = time.monotonic()
    with ThreadPoolExecutor(len(pages)) as pool:
        futures = {n: pool.submit(open_in_chromium, root / f"{n}.html", root / f"home-{n}") for n in pages}
        results = {n: f.result() for n, f in futures.items()}
    wall = time.monotonic() - started
    assert wall < SECONDS_BUDGET, f"chromium took {wall:.1f} s for both pages"
    print(f"chromium: {wall:.1f} s wall, " + ", ".join(f"{n} {r[2]:.1f} s" for n, r in results.items()))
    return {n: (str(Text(dom)), png, s) for n, (dom, png, s) in results.items()}


def assert_real_screenshot(png: bytes):
    width, height, rows = png_rows(png)
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(set(rows)) >= MIN_DISTINCT_ROWS, f"{len(set(rows))} distinct scanlines: the page looks blank"


def test_the_exam_page_in_a_browser_shows_the_score_the_domains_and_a_failed_check(rendered):
    text, png, _ = rendered["exam"]
    doc = json.loads((FIXTURES / "exam-result.json").read_text())
    assert f"{doc['percent']:.1f}% {doc['score']} of {doc['points']} points" in text
    for d in doc["domains"]:
        assert d["name"] in text
    failed = next(c for t in doc["tasks"] for c in t["checks"] if c["verdict"]["status"] == "fail")
    assert f"expected {failed['verdict']['expected']} seen {failed['verdict']['seen']}" in text
    assert_real_screenshot(png)


def test_the_class_page_in_a_browser_shows_each_student_and_domain(rendered):
    text, png, _ = rendered["class"]
    doc = json.loads((FIXTURES / "class-result.json").read_text())
    for name in doc["domains"]:
        assert name in text
    for s in doc["students"]:
        assert f"{s['student']} {s['lab']}" in text and f"{s['student']}: exam on {s['lab']}" in text
    assert "class mean" in text and "2 of 3 passed" in text
    assert_real_screenshot(png)
