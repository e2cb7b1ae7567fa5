"""The example's report section in real psyq reports (HTML and PDF), and its Markdown
format through `psyq report`."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psyq_example.plugin as plugin
import pytest
from click.testing import Result

from psyq.manager import PsyqPluginManager

CLI = Callable[..., Result]
MIXED = "2,1,2,2,1,2,2,2,0,2"  # total 19, T 50 in the illustrative table


@pytest.fixture
def cli(psyq_register: Callable[..., Any], psyq_cli: CLI) -> CLI:
    psyq_register(plugin)
    return psyq_cli


def report(cli: CLI, out: Path, instrument: str, answers: str) -> None:
    result = cli("report", instrument, "--answers", answers, "--client", "C-7", "-o", str(out))
    assert result.exit_code == 0, result.output + result.stderr


def test_section_in_the_html_report_in_its_place(cli: CLI, tmp_path: Path) -> None:
    out = tmp_path / "rses.html"
    report(cli, out, "rses", MIXED)
    html = out.read_text(encoding="utf-8")
    section = re.search(r'<section class="example-pomp">.*?</section>', html, re.DOTALL)
    assert section, "example section missing from the report"
    assert "Self-esteem total: 63.3 % of the possible range (POMP)." in section.group(0)
    # The T-score is psyq's norms section, from the plugin's (illustrative) norm table.
    norms = re.search(r'<section class="section-norms">.*?</section>', html, re.DOTALL)
    assert norms, "norms section missing from the report"
    assert "PROVISIONAL norm table" in norms.group(0) and "NOT real norms" in norms.group(0)
    # order 55: after the built-in band charts (50); the footer (1000) stays last
    assert html.index("Rosenberg Self-Esteem Scale") < section.start()
    assert section.end() < html.rindex("psyq 0.1.0")


def test_section_absent_for_other_instruments_and_unscored_totals(cli: CLI, tmp_path: Path) -> None:
    phq9 = tmp_path / "phq9.html"
    report(cli, phq9, "phq9", "1,1,1,1,1,1,1,1,0")
    assert "example-pomp" not in phq9.read_text(encoding="utf-8")
    unscored = tmp_path / "unscored.html"
    report(cli, unscored, "rses", ",1,2,2,1,2,2,2,0,")
    assert "example-pomp" not in unscored.read_text(encoding="utf-8")


@pytest.mark.slow
def test_section_in_the_pdf_report(cli: CLI, tmp_path: Path) -> None:
    import pypdf

    out = tmp_path / "rses.pdf"
    report(cli, out, "rses", MIXED)
    reader = pypdf.PdfReader(io.BytesIO(out.read_bytes()))
    words = re.sub(r"\s+", " ", "\n".join(page.extract_text() for page in reader.pages))
    assert "NORM-REFERENCED SCORES" in words.upper()  # the stylesheet capitalises headings
    assert "PERCENT OF MAXIMUM POSSIBLE" in words.upper()
    assert "63.3 % of the possible range (POMP)" in words
    assert "Rosenberg Self-Esteem Scale" in words


def test_markdown_format_by_report_suffix(cli: CLI, tmp_path: Path) -> None:
    out = tmp_path / "summary.md"
    report(cli, out, "rses", MIXED)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[:3] == ["# Rosenberg Self-Esteem Scale (RSES v1.0)", "", "Client: C-7"]
    assert "| Self-esteem (total) | 19 | 0-30 | Normal range |" in lines


def test_registered_manager_renders_without_the_cli(psyq_pm: PsyqPluginManager) -> None:
    """Embedding: the html format bound to a manager takes part of its plugins."""
    from psyq.outputs import RenderRequest, get_output_format
    from psyq.registry import InstrumentRegistry
    from psyq.scoring import Scorer

    psyq_pm.register_plugin(plugin, "example")
    rses = InstrumentRegistry(psyq_pm).get("rses")
    answers = dict(zip([i.id for i in rses.items], map(int, MIXED.split(",")), strict=True))
    request = RenderRequest(result=Scorer(psyq_pm).score(rses, answers), instrument=rses)
    html = get_output_format(psyq_pm, "html").render(request).decode()
    assert "63.3 % of the possible range (POMP)" in html
    psyq_pm.unregister(name="example")
