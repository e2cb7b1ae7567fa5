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
import pytest

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


# -- HarfBuzz's glyph arrays: array types made without parsing C (pdf.fixed_arrays_parsed_once)

RENDER_ONE = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
import psyq.pdf
if sys.argv[2] == "off":
    psyq.pdf._arrays_shortcut = False  # as if the probe had failed: cffi parses every string
from psyq.manager import create_plugin_manager
from test_pdf_write import phq9_html
pm = create_plugin_manager(load_entrypoints=False)
for answers in ("2,3,2,3,1,2,2,1,1", "0,0,0,0,0,0,0,0,0", "3,3,3,3,3,3,3,3,3"):
    print(hashlib.sha256(psyq.pdf.html_to_pdf(phq9_html(pm, answers))).hexdigest())
"""


def test_glyph_array_types_are_cffis_own_and_reports_are_unchanged(
    psyq_pm: PsyqPluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys
    from pathlib import Path

    import pycparser

    psyq_pdf.load_weasyprint()
    from weasyprint.text.ffi import ffi

    assert psyq_pdf._arrays_shortcut is True  # the probe agrees with this cffi
    parser = ffi._parser
    for length in (1, 57, 5038):
        cdecl = f"hb_codepoint_t[{length}]"
        own, _ = type(parser).parse_type_and_quals(parser, cdecl)  # cffi's parser itself
        with ffi._lock:
            expected = ffi._get_cached_btype(own)
        assert ffi.typeof(cdecl) is expected
        assert ffi.sizeof(cdecl) == length * ffi.sizeof("hb_codepoint_t")
    # Other strings still go to cffi's parser, errors included.
    assert ffi.typeof("hb_codepoint_t[2]").item is ffi.typeof("hb_codepoint_t")
    with pytest.raises(Exception, match="no_such_type"):
        ffi.typeof("no_such_type[4]")
    # The same PDF bytes as with cffi parsing every string, in a fresh process each.
    tests = str(Path(__file__).parent)
    runs = [
        subprocess.run(
            [sys.executable, "-c", RENDER_ONE, tests, side],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        for side in ("on", "off")
    ]
    assert len(runs[0].split()) == 3 and runs[0] == runs[1]
    # Once a first report has parsed what every report needs, a report whose fonts
    # need glyph arrays of new lengths parses no C at all.
    psyq_pdf.html_to_pdf(phq9_html(psyq_pm, "1,1,1,1,1,1,1,1,1"))
    parsed: list[str] = []
    real = pycparser.CParser.parse

    def counting(self: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(text.splitlines()[-2])
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(pycparser.CParser, "parse", counting)
    before = set(ffi._parsed_types)
    psyq_pdf.html_to_pdf(phq9_html(psyq_pm, "3,2,1,0,1,2,3,2,1") + "<p>ÆØÅ æøå ĳ ŉ</p>")
    assert any(k.startswith("hb_codepoint_t[") for k in set(ffi._parsed_types) - before)
    assert parsed == []
