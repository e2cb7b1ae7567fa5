"""How psyq writes a report's PDF: what it asks of WeasyPrint and pydyf, pinned.

psyq relies on a few WeasyPrint/pydyf behaviours beyond their documented options
(the ``finisher`` hook seeing every stream before it is written; pydyf's stream
serialisation). These tests fail loudly if a new WeasyPrint or pydyf changes them,
rather than letting reports silently get slower or different.
"""

from __future__ import annotations

import gc
import io
import re
import zlib
from datetime import date, datetime
from typing import Any

import pypdf

from psyq import pdf as psyq_pdf
from psyq.answers import parse_answer_list
from psyq.manager import PsyqPluginManager
from psyq.outputs import RenderRequest
from psyq.registry import InstrumentRegistry
from psyq.report import render_report_html
from psyq.scoring import Scorer

# The dictionary of each stream object written straight into the file, then its bytes.
STREAM = re.compile(rb"<<((?:(?!>>\nstream\n).)*?)>>\nstream\n(.*?)\nendstream", re.S)


def phq9_html(pm: PsyqPluginManager, answers: str = "2,3,2,3,1,2,2,1,1") -> str:
    phq9 = InstrumentRegistry(pm).get("phq9")
    request = RenderRequest(
        result=Scorer(pm).score_valid(phq9, parse_answer_list(phq9, answers)),
        instrument=phq9,
        client_id="C0042",
        administered=date(2026, 10, 6),
        clinician="Dr A. Example",
        generated_at=datetime(2026, 10, 6, 12, 0),
    )
    return render_report_html(pm, request, standalone=False)


def content_streams(pdf: bytes) -> list[bytes]:
    """The raw bytes of every stream psyq's finisher handles: all but pydyf's own
    object and cross-reference streams, which it writes after the finisher."""
    found = []
    for head, body in STREAM.findall(pdf):
        if b"/ObjStm" not in head and b"/XRef" not in head:
            assert b"/FlateDecode" in head, head
            found.append(body)
    return found


def test_report_streams_are_compressed_at_psyq_level(psyq_pm: PsyqPluginManager) -> None:
    pdf = psyq_pdf.html_to_pdf(phq9_html(psyq_pm))
    streams = content_streams(pdf)
    # Page content, four fonts (regular, bold, italic, monospace) and their ToUnicode maps.
    assert len(streams) >= 9
    for raw in streams:
        # Compressed by psyq at FLATE_LEVEL, not by pydyf at 9: if pydyf stopped
        # exposing what compress_streams needs, this fails instead of going slow.
        assert zlib.compress(zlib.decompress(raw), psyq_pdf.FLATE_LEVEL) == raw
    assert psyq_pdf.FLATE_LEVEL != 9


def test_recompressed_streams_decode_to_what_pydyf_writes(psyq_pm: PsyqPluginManager) -> None:
    """Same page content and same embedded fonts as WeasyPrint's own uncompressed output."""
    from weasyprint import HTML

    html = phq9_html(psyq_pm)
    ours = pypdf.PdfReader(io.BytesIO(psyq_pdf.html_to_pdf(html)))
    plain_pdf = (
        HTML(string=html, url_fetcher=psyq_pdf.make_fetcher(), base_url=None)
        .render(
            font_config=psyq_pdf.font_config(),
            stylesheets=[psyq_pdf.parsed_stylesheet()],
            presentational_hints=False,
        )
        .write_pdf(uncompressed_pdf=True)
    )
    plain = pypdf.PdfReader(io.BytesIO(plain_pdf))

    def decoded(reader: pypdf.PdfReader) -> tuple[bytes, list[bytes]]:
        page = reader.pages[0]
        fonts = []
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            fonts.append(descriptor["/FontFile2"].get_object().get_data())
            fonts.append(font["/ToUnicode"].get_object().get_data())
        contents = page.get_contents()
        assert contents is not None
        return contents.get_data(), sorted(fonts)

    assert decoded(ours) == decoded(plain)
    assert ours.pages[0].extract_text() == plain.pages[0].extract_text()


def test_compress_streams_leaves_streams_with_their_own_filter_alone() -> None:
    import pydyf

    pdf = pydyf.PDF()
    image = pydyf.Stream([b"\xff\xd8jpeg"], pydyf.Dictionary({"Filter": "/DCTDecode"}), True)
    page = pydyf.Stream([b"BT", "/F1 9 Tf", 1.5, b"ET"], compress=True)
    plain = pydyf.Stream([b"q Q"], compress=False)
    for obj in (image, page, plain):
        pdf.add_object(obj)
    psyq_pdf.compress_streams(None, pdf)
    assert image.stream == [b"\xff\xd8jpeg"] and image.compress
    assert plain.stream == [b"q Q"] and "Filter" not in plain.extra
    assert page.extra["Filter"] == "/FlateDecode" and not page.compress
    assert zlib.decompress(page.stream[0]) == b"BT\n/F1 9 Tf\n1.5\nET"


def test_a_render_runs_with_the_collector_paused_and_leaves_no_cyclic_garbage(
    psyq_pm: PsyqPluginManager,
) -> None:
    html = (
        phq9_html(psyq_pm)
        + '<img src="data:image/svg+xml,<svg xmlns=%22http://www.w3.org/2000/svg%22/>">'
    )
    fetcher = psyq_pdf.make_fetcher()
    collector_on_while_fetching = []
    fetch = fetcher.fetch

    def watching(url: str, headers: Any = None) -> Any:
        collector_on_while_fetching.append(gc.isenabled())
        return fetch(url, headers)

    fetcher.fetch = watching
    gc.collect()
    assert gc.isenabled()
    pdf = psyq_pdf.html_to_pdf(html, fetcher=fetcher)
    assert pdf.startswith(b"%PDF")
    assert collector_on_while_fetching == [False]
    assert gc.isenabled()
    # The render's reference cycles (some 15,000 objects) are gone already.
    assert gc.collect() < 500


def test_a_render_leaves_a_paused_collector_paused(psyq_pm: PsyqPluginManager) -> None:
    gc.disable()
    try:
        psyq_pdf.html_to_pdf("<p>x</p>", stylesheets=False)
        assert not gc.isenabled()
    finally:
        gc.enable()
