"""Hostile text is inert: escaped, never evaluated, and it reads no file.

The fetcher is the second line of defence: even markup that does reach
WeasyPrint (a plugin's template) cannot load a local file or a URL.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pypdf
import pytest
from click.testing import Result

from psyq import pdf as psyq_pdf
from psyq.manager import PsyqPluginManager
from psyq.outputs import RenderRequest
from psyq.registry import InstrumentRegistry
from psyq.report import render_report_html
from psyq.scoring import Scorer

CLI = Callable[..., Result]

HOSTILE = (
    "<b>bold</b> <link rel=attachment href=file:///etc/passwd> "
    "<style>@import url(file:///etc/passwd);</style> "
    '<img src="file:///etc/hostname"> <script>alert(1)</script> {{ 7*7 }} {% if 1 %}x{% endif %}'
)


def note_markup(html: str) -> str:
    match = re.search(r'<p class="note-text">(.*?)</p>', html, re.S)
    assert match, "the note section is missing"
    return match.group(1)


def test_hostile_note_is_escaped_text_in_html(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    inst = registry.get("gad7")
    request = RenderRequest(
        result=Scorer(psyq_pm).score(inst, {}),
        instrument=inst,
        client_id="<img src=x onerror=alert(1)>",
        note=HOSTILE,
    )
    html = render_report_html(psyq_pm, request)
    note = note_markup(html)
    assert "&lt;link rel=attachment href=file:///etc/passwd&gt;" in note
    assert "&lt;style&gt;@import" in note
    assert "{{ 7*7 }}" in note and "{% if 1 %}x{% endif %}" in note
    assert "49" not in note
    assert "<" not in note  # not one tag survives
    assert "<img" not in html and "<link" not in html and "<script" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_hostile_note_in_pdf_is_literal_and_fetches_nothing(
    psyq_cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetchers: list[Any] = []
    real = psyq_pdf.make_fetcher

    def recording(assets_root: Any = None) -> Any:
        fetcher = real(assets_root)
        fetchers.append(fetcher)
        return fetcher

    monkeypatch.setattr(psyq_pdf, "make_fetcher", recording)
    out = tmp_path / "hostile.pdf"
    result = psyq_cli(
        "report", "gad7", "--answers", "1,1,1,1,1,1,1", "--client", "C-666", "--note", HOSTILE,
        "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert fetchers, "the PDF was not rendered through psyq's fetcher"
    assert all(f.requested == [] for f in fetchers)
    raw = out.read_bytes()
    reader = pypdf.PdfReader(io.BytesIO(raw))
    assert not reader.attachments
    assert b"/EmbeddedFiles" not in raw and b"/FileAttachment" not in raw
    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in reader.pages))
    note = text[text.upper().index("CLINICIAN'S NOTE") : text.index("Spitzer RL")]
    assert "{{ 7*7 }}" in note and "49" not in note
    assert "<link rel=attachment href=file:///etc/passwd>" in note
    assert "@import url(file:///etc/passwd);" in note
    assert "root:" not in text


def test_fetcher_refuses_files_urls_and_serves_data_uris(tmp_path: Path) -> None:
    """Markup that does reach WeasyPrint (say, from a plugin's template) reads nothing."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    pixel = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
        "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    html = f"""<!DOCTYPE html><html><head>
    <link rel="attachment" href="file://{secret}">
    <link rel="stylesheet" href="file://{secret}">
    <style>@import url("http://127.0.0.1:9/x.css"); p {{ color: black }}</style>
    </head><body>
    <img src="file://{secret}"><img src="https://example.invalid/x.png">
    <img src="ftp://example.invalid/x.png"><img src="{pixel}">
    <a rel="attachment" href="file://{secret}">attach</a>
    <img src="psyq:assets/../report.css"><p>body text</p></body></html>"""
    fetcher = psyq_pdf.make_fetcher()
    raw = psyq_pdf.html_to_pdf(html, fetcher=fetcher, stylesheets=False)
    refused = " ".join(fetcher.refused)
    assert f"file://{secret}" in refused
    assert "http://127.0.0.1:9/x.css" in refused
    assert "https://example.invalid/x.png" in refused and "ftp://" in refused
    assert "psyq:assets/../report.css" in refused
    assert fetcher.requested.count(pixel) == 1 and pixel not in fetcher.refused
    assert b"TOP-SECRET" not in raw
    assert b"/EmbeddedFiles" not in raw and b"/FileAttachment" not in raw
    assert not pypdf.PdfReader(io.BytesIO(raw)).attachments


def test_asset_urls_serve_only_plain_names_in_the_assets_folder(tmp_path: Path) -> None:
    (tmp_path / "logo.svg").write_text("<svg/>")
    assert psyq_pdf.asset_bytes("psyq:assets/logo.svg", tmp_path) == (b"<svg/>", "image/svg+xml")
    for bad in ("psyq:assets/../x", "psyq:assets/.hidden", "psyq:assets/a/b", "file:///x"):
        with pytest.raises(psyq_pdf.FetchRefused):
            psyq_pdf.asset_bytes(bad, tmp_path)
    with pytest.raises(psyq_pdf.FetchRefused, match="no such psyq asset"):
        psyq_pdf.asset_bytes("psyq:assets/missing.png", tmp_path)
