"""psyq's own parse of report HTML gives tinyhtml5's tree exactly, or gives up.

:func:`psyq.html_tree.report_tree` replaces WeasyPrint's HTML parser for psyq's
reports (a fifth of the CPU). These tests hold it to tinyhtml5's tree on every
report psyq writes and on generated documents, check that it falls back on
anything outside its subset, and pin the WeasyPrint behaviour it relies on.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tinyhtml5
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psyq import pdf as psyq_pdf
from psyq.html_tree import FOREIGN_ATTRIBUTES, SVG_ATTRIBUTES, report_tree

CLI = Callable[..., Result]


def tinyhtml5_tree(html: str) -> ET.Element:
    tree: ET.Element = tinyhtml5.parse(html, namespace_html_elements=False)
    return tree


def difference(a: ET.Element, b: ET.Element, path: str = "") -> str | None:
    """Where two trees differ (tag, attributes, text, tail, children), or None."""
    here = f"{path}/{a.tag}"
    if a.tag != b.tag:
        return f"{here}: tag {b.tag!r}"
    for what, x, y in (
        ("attributes", dict(a.attrib), dict(b.attrib)),
        ("text", a.text or None, b.text or None),
        ("tail", a.tail or None, b.tail or None),
        ("children", len(a), len(b)),
    ):
        if x != y:
            return f"{here}: {what} {x!r} != {y!r}"
    for x, y in zip(a, b, strict=True):
        found = difference(x, y, here)
        if found:
            return found
    return None


def assert_same_tree_or_fallback(html: str) -> bool:
    """True if psyq built the tree (and it is tinyhtml5's), False if it gave up."""
    ours = report_tree(html)
    if ours is None:
        return False
    assert difference(tinyhtml5_tree(html), ours) is None, html
    return True


def test_every_report_psyq_writes_is_parsed_by_psyq_as_tinyhtml5_would(
    report_pages: Callable[..., list[str]], tmp_path: Path
) -> None:
    # Every built-in instrument (CCTS included) and trend charts: the demo reports.
    pages = report_pages("demo", "--out", str(tmp_path / "demo"))
    out = str(tmp_path / "r.pdf")
    # PHQ-9 with item 9 positive, item 9 unanswered, a note and a clinician with
    # markup characters, and US letter paper.
    pages += report_pages("report", "phq9", "--answers", "2,3,2,3,1,2,2,1,1", "--client",
                          "C-1", "-o", out)  # fmt: skip
    pages += report_pages("report", "phq9", "--answers", "2,3,2,3,1,2,2,1,-", "--client",
                          "C-2", "-o", out, "--force")  # fmt: skip
    pages += report_pages("report", "phq9", "--answers", "0,0,1,0,0,0,0,0,0", "--client",
                          "C-3", "--clinician", 'Dr <B> & "Q" \'x\'', "--note",
                          "Seen & assessed <today>.\nSecond line", "--paper", "letter",
                          "-o", out, "--force")  # fmt: skip
    assert len(pages) >= 20
    for html in pages:
        assert assert_same_tree_or_fallback(html), html[:300]


@pytest.mark.parametrize(
    "html",
    [
        "<p>no doctype</p>",
        "<!DOCTYPE html><html><head></head><body><p>a<div>b</div></p></body></html>",
        "<!DOCTYPE html><html><head></head><body><p>a<p>b</body></html>",
        "<!DOCTYPE html><html><head></head><body><table><td>x</td></table></body></html>",
        "<!DOCTYPE html><html><head></head><body><table><div>x</div></table></body></html>",
        "<!DOCTYPE html><html><head></head><body><table>text</table></body></html>",
        "<!DOCTYPE html><html><head></head><body><b><i>x</b></i></body></html>",
        "<!DOCTYPE html><html><head></head><body><!-- c --></body></html>",
        "<!DOCTYPE html><html><head></head><body>a\r\nb</body></html>",
        "<!DOCTYPE html><html><head></head><body>a &copy b</body></html>",
        "<!DOCTYPE html><html><head></head><body>a &#128; b</body></html>",
        "<!DOCTYPE html><html><head></head><body><pre>\nx</pre></body></html>",
        "<!DOCTYPE html><html><head></head><body><div/>x</body></html>",
        "<!DOCTYPE html><html><head><base href='http://x/'></head><body></body></html>",
        "<!DOCTYPE html><html><head></head><body><script>1<2</script></body></html>",
        "<!DOCTYPE html><html><head></head><body><svg><title><b>x</b></title></svg></body></html>",
        "<!DOCTYPE html><html><head></head><body><svg><div>x</div></svg></body></html>",
        "<!DOCTYPE html><html><head></head><body><p a=1 a=2>x</p></body></html>",
        "<!DOCTYPE html><html><head></head><body>x</body></html>trailing text",
        "<!DOCTYPE html><html><head></head><body><ul><li>a<li>b</ul></body></html>",
        "<!DOCTYPE html><html><head></head><body><h1><h2>x</h2></h1></body></html>",
        "<!DOCTYPE html><html><head></head><body>",
        "<!DOCTYPE html><html><head>text</head><body></body></html>",
        "<!DOCTYPE html><html><head></head><body>a < b</body></html>",
    ],
)
def test_html_outside_the_subset_falls_back_to_tinyhtml5(html: str) -> None:
    assert report_tree(html) is None


# Fragments of report-like HTML, some inside the subset and some not, glued at random:
# whatever psyq builds must be tinyhtml5's tree.
FRAGMENTS = [
    "<p>", "</p>", "<div class=\"a b\">", "</div>", "<span>", "</span>", "<strong>",
    "</strong>", "<em>", "</em>", "<br>", "<br/>", "<table>", "</table>", "<tr>",
    "</tr>", "<td>", "</td>", "<th scope=col>", "</th>", "<thead>", "</thead>",
    "<tbody>", "</tbody>", "<ul>", "</ul>", "<li>", "</li>", "<h2>", "</h2>",
    "<section>", "</section>", "<figure>", "</figure>", "<figcaption>", "</figcaption>",
    "<img src=\"data:,\" alt=\"\">", "<hr>", "<col>", "<colgroup>", "</colgroup>",
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 9 9" preserveAspectRatio=none>',
    "</svg>", "<rect x=1 y=2 width=3 height=4/>", "<text x=\"1\" textLength=5>",
    "</text>", "<g>", "</g>", "<title>", "</title>", "<line x1=0 y1=0 x2=1 y2=1/>",
    "<a xlink:href=#x>", "</a>",
    "text", " ", "\n", "  \n ", "a &amp; b", "&lt;x&gt;", "&#39;q&#34;", "&nbsp;", "é ü 中",
    "\t", "&copy;", "<!-- c -->", "<", "&", "\r", "<pre>", "</pre>", "<p/>",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.lists(st.sampled_from(FRAGMENTS), max_size=30),
    head=st.sampled_from(["", "\n", '<meta charset="utf-8">\n<title>T &amp; x</title>\n']),
    after=st.sampled_from(["", "\n", "\n\n", " x"]),
)
def test_generated_documents_give_tinyhtml5s_tree_or_fall_back(
    body: list[str], head: str, after: str
) -> None:
    html = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>{head}</head>\n'
        f"<body>{''.join(body)}</body>\n</html>{after}"
    )
    assert_same_tree_or_fallback(html)


TAGS = [
    "p",
    "div",
    "span",
    "strong",
    "em",
    "section",
    "h2",
    "ul",
    "li",
    "table",
    "tbody",
    "tr",
    "td",
    "th",
    "figure",
    "figcaption",
    "svg",
    "text",
    "rect",
    "g",
    "title",
    "sup",
]
TEXTS = ["x", " ", "\n", "a &amp; b", "&#39;", "é", "&nbsp;", "1 &lt; 2"]
ATTRIBUTES = ["", ' class="c"', " viewBox='0 0 1 1'", " x=1", ' data-x="&quot;"', " hidden"]


def _element(children: Any) -> Any:
    return st.tuples(st.sampled_from(TAGS), st.sampled_from(ATTRIBUTES), children).map(
        lambda t: f"<{t[0]}{t[1]}>{''.join(t[2])}</{t[0]}>"
    )


NESTED = st.recursive(
    st.sampled_from(TEXTS), lambda inner: _element(st.lists(inner, max_size=4)), max_leaves=25
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.lists(NESTED, max_size=5))
def test_generated_nested_documents_give_tinyhtml5s_tree_or_fall_back(body: list[str]) -> None:
    html = f"<!DOCTYPE html>\n<html>\n<head>\n</head>\n<body>\n{''.join(body)}\n</body>\n</html>\n"
    assert_same_tree_or_fallback(html)


def test_balanced_generated_documents_are_built_by_psyq() -> None:
    """Not everything falls back: well-formed documents of the subset are psyq's."""
    html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>x</title>\n'
        "</head>\n<body>\n<section><h2>A &amp; B</h2><table class=t><tr><th>1</th>"
        '<td>2</td></tr></table><figure><svg xmlns="http://www.w3.org/2000/svg" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 9 9"><rect x="1"/>'
        '<text x="1" textLength="3">t</text></svg><figcaption>c</figcaption></figure>'
        "<ul><li>a</li><li>b<br></li></ul></section>\n</body>\n</html>\n"
    )
    assert assert_same_tree_or_fallback(html)


def test_svg_attribute_tables_are_tinyhtml5s() -> None:
    from tinyhtml5 import constants

    assert constants.adjust_svg_attributes == SVG_ATTRIBUTES
    assert {
        name: "{%s}%s" % (namespace, local)  # noqa: UP031
        for name, (_, local, namespace) in constants.adjust_foreign_attributes.items()
    } == FOREIGN_ATTRIBUTES


def test_this_weasyprint_accepts_psyqs_parsed_documents() -> None:
    """psyq builds ``weasyprint.HTML`` objects the way ``HTML.__init__`` does after
    tinyhtml5. If a WeasyPrint release changes that, this fails (and at run time psyq
    quietly goes back to tinyhtml5 for every document)."""
    assert psyq_pdf._prebuilt_html_class() is not None
    from weasyprint import HTML

    page = "<!DOCTYPE html><html><head></head><body><p>x</p></body></html>"
    parsed = psyq_pdf.parse_html(page, psyq_pdf.make_fetcher())
    assert isinstance(parsed, HTML) and type(parsed) is not HTML
    outside = psyq_pdf.parse_html("<p>x</p>", psyq_pdf.make_fetcher())
    assert type(outside) is HTML


def test_report_pdfs_are_byte_identical_whichever_parser_built_the_tree(
    report_pages: Callable[..., list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = report_pages("demo", "--out", str(tmp_path / "demo"))
    # The CCTS (banner, profile) and a PHQ-9 with its trend chart, among others.
    chosen = [p for p in pages if "instrument-ccts" in p][:1] + [
        p for p in pages if "instrument-phq9" in p
    ][-1:]
    assert len(chosen) == 2
    ours = [psyq_pdf.html_to_pdf(html) for html in chosen]
    monkeypatch.setattr("psyq.html_tree.report_tree", lambda html: None)
    theirs = [psyq_pdf.html_to_pdf(html) for html in chosen]
    assert ours == theirs
