"""Renders in one process share computed styles and line breaks, and nothing on a
page changes: every PDF is byte for byte the one WeasyPrint renders on its own.

:mod:`psyq.render_sharing` keeps WeasyPrint's per-document work (computed styles,
first-line breaks) across the reports a process renders. These tests render every
report psyq writes, and documents built to reach the edges of what is shared (a
document's own stylesheet, ``style`` attributes, a font added by ``@font-face``,
right-to-left text, generated content), with sharing and without, in several
orders, and compare the bytes; through ``psyq batch`` too. They also check that
sharing is off with WeasyPrint code psyq has not verified, and when turned off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import tinyhtml5
import weasyprint

from psyq import pdf as psyq_pdf
from psyq import render_sharing
from psyq.batch.manifest import MANIFEST_NAME

from .cohorts import phq9_rows, write_csv

PAGE = '<!DOCTYPE html>\n<html lang="{lang}" dir="{dir}"><head><meta charset="utf-8">{head}</head><body>{body}</body></html>\n'  # noqa: E501

ALERT_BODY = (
    '<h1>Title</h1><p class="alert">Item 9: positive</p><p>Plain text that wraps '
    + "over several lines because it is long enough to need more than one. " * 4
    + "</p><table><tr><td>1</td><td>Several days</td></tr></table>"
)

EDGE_DOCUMENTS = [
    # A document's own stylesheet: the elements its rules match are styled for it alone;
    # the same words without it must not pick up its styles.
    *(
        PAGE.format(lang="en", dir="ltr", head=head, body=ALERT_BODY)
        for head in (
            "<style>p.alert { color: #b00; font-weight: bold } td { padding: 3mm }</style>",
            "",
        )
    ),
    # style attributes, equal and different.
    PAGE.format(
        lang="en",
        dir="ltr",
        head="",
        body='<p style="font-size: 14pt">Big</p><p style="font-size: 14pt">Big again</p>'
        '<p style="font-size: 7pt; letter-spacing: 1px">Small and spaced</p>'
        '<div style="width: 30mm"><p>Narrow column text that must wrap at its own width.</p></div>',
    ),
    # A font added by @font-face changes what "Added" means from this document on.
    PAGE.format(
        lang="en",
        dir="ltr",
        head='<style>@font-face { font-family: Added; src: local("DejaVu Sans Mono") }'
        " .m { font-family: Added, serif }</style>",
        body='<p class="m">Monospace by another name</p><p>Plain text that wraps over several '
        "lines because it is long enough to need more than one.</p>",
    ),
    # Right to left, another language, generated content.
    PAGE.format(
        lang="ar",
        dir="rtl",
        head="<style>li::before { content: '• ' }</style>",
        body="<h1>تقرير</h1><p>خلال الأسبوعين الماضيين، كم مرة انزعجت من أي من المشكلات التالية؟"
        "</p><ul><li>أبدًا</li><li>عدة أيام</li></ul>",
    ),
    # Viewport units are the page's: the same element on A4 and on US letter paper.
    *(
        PAGE.format(
            lang="en",
            dir="ltr",
            head=f"<style>@page {{ size: {paper} }}</style>",
            body='<div style="width: 50vw; border: 1px solid #000">Half the page wide</div>'
            '<p style="font-size: 3vmin">Three hundredths of the shorter side</p>',
        )
        for paper in ("A4", "letter", "A4")
    ),
    # A footnote's layout writes its number into its style: never shared.
    *(
        PAGE.format(
            lang="en",
            dir="ltr",
            head="",
            body=f'<p>Scored by the manual<span style="float: footnote">{note}</span>.</p>',
        )
        for note in ("Kroenke 2001, table 2.", "Spitzer 2006.")
    ),
    # SVG text (laid out letter by letter) in other families, weights, sizes and
    # directions: the same words must not borrow another's letters.
    *(
        PAGE.format(
            lang="en",
            dir="ltr",
            head="",
            body='<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 60" width="300">'
            f'<text x="5" y="20" font-size="{size}" {attrs}>Moderately severe</text>'
            '<text x="5" y="45" font-size="10" text-anchor="middle">Mild 27</text></svg>',
        )
        for size, attrs in (
            (10, ""),
            (10, 'font-weight="bold"'),
            (12, 'font-weight="bold"'),
            (10, 'font-family="DejaVu Sans Mono"'),
            (10, 'font-style="italic" direction="rtl"'),
            (10, ""),
        )
    ),
    # Text cut short for an ellipsis (drawing changes its layout), twice in a
    # document, beside the same words drawn whole.
    *(
        PAGE.format(
            lang="en",
            dir="ltr",
            head="",
            body=f'<p style="{cut}">More than half the days, nearly every day</p>' * 2
            + "<p>More than half the days, nearly every day</p>",
        )
        for cut in (
            "width: 25mm; overflow: hidden; white-space: nowrap; text-overflow: ellipsis",
            "width: 30mm; overflow: hidden; line-clamp: 1",
        )
    ),
    # Percentages, calc() and box-sizing resolved against containing blocks whose
    # size depends on the other cells' words: the same styles, other used values.
    *(
        PAGE.format(
            lang="en",
            dir="ltr",
            head="",
            body=f'<table style="width: 100%"><tr><td>{words}</td><td>'
            '<p style="width: 50%; padding: 2% 1em; margin: 3% auto; min-width: calc(10% + 1em);'
            ' max-height: 40%; box-sizing: border-box; border: 1px solid #000">Several days</p>'
            "</td></tr></table>",
        )
        for words in ("Not at all", "More than half the days and a few words more", "")
    ),
    # Glyphs placed by the font's marks (offsets and rises in the drawn line), spaced
    # words and letters, and the same words again in one document.
    *(
        PAGE.format(
            lang="vi",
            dir="ltr",
            head="",
            body=f'<p style="{spacing}">Ti\u0065\u0302\u0301ng Vi\u0065\u0323\u0302t, '
            f'a\u0308 o\u0303 n\u0303</p><p style="{spacing}">Ti\u0065\u0302\u0301ng</p>'
            "<p>Ti\u0065\u0302\u0301ng Vi\u0065\u0323\u0302t</p>" * 2,
        )
        for spacing in ("", "word-spacing: 4pt; letter-spacing: 0.5pt", "font-size: 14pt")
    ),
    # Rules of psyq's report stylesheet that test siblings and attributes
    # (``.alert-flag + .alert-flag``, ``[dir="rtl"] td.c-range``,
    # ``:not(.provisional-banner)``), matched once and kept: the same elements in
    # other places must match what they match there.
    *(
        PAGE.format(lang="en", dir=direction, head="", body=body)
        for direction, body in (
            ("ltr", '<div class="alert-flag">One</div><div class="alert-flag">Two</div>'),
            ("ltr", '<div class="alert-flag">One</div><p>x</p><div class="alert-flag">Two</div>'),
            ("ltr", '<div class="alert-flag">Two</div><div class="alert-flag">One</div><p></p>'),
            ("rtl", '<table><tr><td class="c-range">0-27</td></tr></table>'),
            ("ltr", '<table><tr><td class="c-range">0-27</td></tr></table>'),
            ("ltr", '<section class="section-notices provisional-banner">Provisional</section>'),
            ("ltr", '<section class="section-notices">Provisional</section>'),
        )
    ),
    # A note's layout numbers its anchor in its style and links its call to it: never
    # shared (the second note of a document after a one-note document lost its link).
    *(
        PAGE.format(
            lang="en",
            dir="ltr",
            head="",
            body=f'<p>Scored<span style="position: note(note)">Kroenke 2001.</span></p>{more}',
        )
        for more in ("", '<p>Again<span style="position: note(note)">Spitzer 2006.</span></p>')
    ),
    # List markers (a pseudo-element every list item has), numbered per document.
    *(
        PAGE.format(lang="en", dir="ltr", head="", body=body)
        for body in (
            "<ol><li>Not at all</li><li>Several days</li></ol>",
            '<ol start="7"><li>Not at all</li><li>Several days</li></ol>',
            '<ul style="list-style-position: inside"><li>Not at all</li></ul><ul><li>x</li></ul>',
        )
    ),
    # Font subsets: other glyphs of the same fonts, and a glyph no font has (its
    # placeholder changes how the font is subset).
    *(
        PAGE.format(lang="en", dir="ltr", head="", body=f"<p>{words}</p><p><b>{words}</b></p>")
        for words in ("Several days", "Nearly every day", "Several \U000f0000 days", "Several days")
    ),
    PAGE.format(
        lang="de",
        dir="ltr",
        head="",
        body="<p>Wenig Interesse oder Freude an Ihren Tätigkeiten, über mehrere Zeilen "
        "hinweg, damit der Umbruch zählt, und noch ein wenig mehr Text dazu.</p>",
    ),
]


def render_all(documents: list[str]) -> list[bytes]:
    return [psyq_pdf.html_to_pdf(html) for html in documents]


def test_every_report_renders_the_same_bytes_with_sharing_as_without(
    report_pages: Callable[..., list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = report_pages("demo", "--out", str(tmp_path / "demo"))
    out = str(tmp_path / "r.pdf")
    for answers, client in (("2,3,2,3,1,2,2,1,1", "C-1"), ("2,3,2,3,1,2,2,1,-", "C-2")):
        pages += report_pages("report", "phq9", "--answers", answers, "--client", client,
                              "-o", out, "--force")  # fmt: skip
    pages += report_pages("report", "phq9", "--answers", "0,0,1,0,0,0,0,0,0", "--client",
                          "C-3", "--paper", "letter", "-o", out, "--force")  # fmt: skip
    assert len(pages) >= 20
    documents = pages + EDGE_DOCUMENTS

    monkeypatch.setenv(render_sharing.ENV_OFF, "1")
    before = render_sharing.hits()
    alone = render_all(documents)
    assert render_sharing.hits() == before  # nothing shared while turned off
    monkeypatch.delenv(render_sharing.ENV_OFF)

    render_sharing.clear()
    styles_before, lines_before, subsets_before = render_sharing.hits()
    forward = render_all(documents)
    backward = render_all(documents[::-1])[::-1]
    twice = render_all([html for html in documents for _ in range(2)])[::2]
    styles, lines, subsets = render_sharing.hits()
    if render_sharing.available():
        assert styles > styles_before and lines > lines_before, "nothing was shared"
        assert subsets > subsets_before, "no font subset was shared"
    for index, html in enumerate(documents):
        assert forward[index] == alone[index], html[:400]
        assert backward[index] == alone[index], html[:400]
        assert twice[index] == alone[index], html[:400]


def test_sharing_is_on_with_the_weasyprint_it_was_verified_against() -> None:
    """VERIFIED holds the digests of WeasyPrint 70.0's code, so 70.0 shares. Another
    WeasyPrint shares only if every piece of code sharing stands on is unchanged (a
    WeasyPrint whose code differs shares nothing: next test)."""
    if weasyprint.__version__ == render_sharing.VERIFIED_VERSION:
        assert render_sharing.mismatches() == []
    assert render_sharing.available() == (render_sharing.mismatches() == [])


def test_documents_own_stylesheets_never_lend_their_styles_to_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each document's own stylesheet is parsed anew and freed after its render, so a
    later document's sheet may be given the same memory (and ``id``): styles matched
    by such a sheet are never shared. Two documents alike but for their own sheet's
    colours and sizes, rendered alternately."""
    documents = [
        PAGE.format(
            lang="en",
            dir="ltr",
            head=f"<style>p.x {{ color: {colour}; font-size: {size}pt }}</style>",
            body='<p class="x">Several days, more than half the days, nearly every day</p>',
        )
        for colour, size in (("#c00", 9), ("#00c", 12))
    ]
    monkeypatch.delenv(render_sharing.ENV_OFF, raising=False)
    alone = render_all(documents)
    assert alone[0] != alone[1]
    for _ in range(6):
        assert render_all(documents) == alone


def test_the_caches_stay_bounded_and_renders_stay_the_same_when_they_are_emptied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each cache is emptied when it passes MAX_ENTRIES (here 5), in the middle of a
    run of documents: no render after it differs, and neither cache grows past it."""
    monkeypatch.delenv(render_sharing.ENV_OFF, raising=False)
    documents = EDGE_DOCUMENTS[1:4]
    alone = render_all(documents)
    monkeypatch.setattr(render_sharing, "MAX_ENTRIES", 5)
    # The style cache is emptied before a document, never during one.
    largest = max(len(list(tinyhtml5.parse(html).iter())) for html in documents)
    for _ in range(3):
        assert render_all(documents) == alone
        assert len(render_sharing._lines) <= 6
        assert len(render_sharing._keys) <= 6 + largest


def test_font_subsets_stay_bounded_and_renders_stay_the_same_when_they_are_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Font subsets kept are forgotten when they pass MAX_SUBSETS (here 2): documents
    that each use other glyphs of two fonts, rendered again and again, stay the same."""
    monkeypatch.delenv(render_sharing.ENV_OFF, raising=False)
    documents = [
        PAGE.format(lang="en", dir="ltr", head="", body=f"<p>{w}</p><p><b>{w}</b></p>")
        for w in ("Not at all", "Several days", "More than half the days")
    ]
    alone = render_all(documents)
    monkeypatch.setattr(render_sharing, "MAX_SUBSETS", 2)
    render_sharing.clear()
    for _ in range(3):
        assert render_all(documents) == alone
        assert len(render_sharing._subsets) <= 3


UNVERIFIED = """
import json, sys
from psyq import pdf, render_sharing
if sys.argv[1] == "changed":
    render_sharing.VERIFIED["weasyprint.css:StyleFor.__init__"] = "0" * 16
out = [pdf.html_to_pdf("<p>Report %d: several days, more than half the days</p>" % (i % 2))
       for i in range(4)]
print(json.dumps({"hits": render_sharing.hits(), "mismatches": render_sharing.mismatches(),
                  "same": [out[0] == out[2], out[1] == out[3]]}))
"""


@pytest.mark.parametrize("case", ["changed", "turned off"])
def test_nothing_is_shared_with_unverified_code_or_when_turned_off(
    tmp_path: Path, case: str
) -> None:
    script = tmp_path / "unverified.py"
    script.write_text(UNVERIFIED)
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    env.pop(render_sharing.ENV_OFF, None)
    if case == "turned off":
        env[render_sharing.ENV_OFF] = "1"
    done = subprocess.run(
        [sys.executable, str(script), case], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["hits"] == [0, 0, 0]
    assert seen["same"] == [True, True]
    if case == "changed":
        assert "weasyprint.css:StyleFor.__init__" in seen["mismatches"]


def test_a_batchs_reports_are_the_same_bytes_with_sharing_as_without(tmp_path: Path) -> None:
    """Through the command line: a batch's reports (rendered by one warm worker, so
    sharing from its first report) against the same batch rendered with sharing off.
    The second batch resumes a copy of the first one's manifest header, so both
    stamp their reports with the same start time."""
    rows = phq9_rows(8)
    rows[1]["phq9_9"] = "3"  # item 9 positive
    rows[2]["phq9_9"] = ""  # item 9 unanswered
    rows[3]["phq9_4"] = ""  # one item missing
    src = write_csv(tmp_path / "cohort.csv", rows)
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    env.pop(render_sharing.ENV_OFF, None)

    def batch(out: Path, extra: list[str], **more: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "psyq", "batch", str(src), "--instrument", "phq9",
             "--out", str(out), "--format", "pdf", "--jobs", "1", "--quiet", *extra],
            capture_output=True, text=True, env={**env, **more}, timeout=300,
        )  # fmt: skip
        assert done.returncode in (0, 1), done.stderr

    shared, alone = tmp_path / "shared", tmp_path / "alone"
    batch(shared, [])
    (alone / "reports").mkdir(parents=True, mode=0o700)
    header = (shared / MANIFEST_NAME).read_text().splitlines()[0]
    (alone / MANIFEST_NAME).write_text(header + "\n")
    batch(alone, ["--resume"], **{render_sharing.ENV_OFF: "1"})

    reports = sorted(p.name for p in (shared / "reports").iterdir())
    assert len(reports) == len(rows)
    assert reports == sorted(p.name for p in (alone / "reports").iterdir())
    for name in reports:
        assert (shared / "reports" / name).read_bytes() == (alone / "reports" / name).read_bytes()


def test_reports_for_other_clients_reuse_what_the_first_one_matched(
    report_pages: Callable[..., list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report's client id and date (in attributes no selector tests, such as the
    running footer's ``data-running-id``) do not make its elements new ones: reports
    for other clients reuse the rules matched for the first, and the caches do not
    fill up (and get emptied) report after report."""
    monkeypatch.delenv(render_sharing.ENV_OFF, raising=False)
    out = str(tmp_path / "r.pdf")

    def report(k: int) -> None:
        client, date = f"C-{k:04d}", f"2026-0{k + 1}-1{k}"
        report_pages("report", "phq9", "--answers", "1,2,1,3,0,2,1,0,1", "--client", client,
                     "--date", date, "-o", out, "--force")  # fmt: skip

    report(0)
    report(1)
    signatures, styles = len(render_sharing._signatures), len(render_sharing._keys)
    for k in range(2, 6):
        report(k)
    if render_sharing.available():
        assert len(render_sharing._signatures) - signatures <= 8
        assert len(render_sharing._keys) - styles <= 8
