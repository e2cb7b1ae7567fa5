"""PDF reports end to end: text extracted with pypdf, page sizes, no attachments.

Each render takes a fraction of a second, so the cases are few and each checks a lot.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pypdf
import pytest
from click.testing import Result

CLI = Callable[..., Result]

pytestmark = pytest.mark.slow

A4 = (595, 842)  # points, rounded
LETTER = (612, 792)


def read_pdf(path: Path) -> tuple[str, list[tuple[int, int]], object]:
    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    text = "\n".join(page.extract_text() for page in reader.pages)
    sizes = [
        (round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages
    ]
    return text, sizes, reader


def flat(text: str) -> str:
    """Extracted text with line breaks folded, for phrases that may wrap."""
    return re.sub(r"\s+", " ", text)


def test_phq9_with_item_9_puts_the_alert_first(psyq_cli: CLI, tmp_path: Path) -> None:
    out = tmp_path / "c104.pdf"
    result = psyq_cli(
        "report", "phq9", "--answers", "2,3,2,3,1,2,2,1,1,2", "--client", "C-104",
        "--date", "2026-10-06", "--clinician", "Dr A. Example", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text, sizes, reader = read_pdf(out)
    words = flat(text)
    assert sizes == [A4]  # a single-scale instrument without history fits on one page
    assert words.upper().index("SAFETY ALERT") < words.index("Patient Health Questionnaire-9")
    assert "Item 9: “Thoughts that you would be better off dead or of hurting yourself" in words
    assert "Answer given: Several days (1)" in words
    assert "C-104" in words and "2026-10-06" in words and "Dr A. Example" in words
    assert "version 1.0" in words
    assert re.search(r"Depression severity \(total\) 17 0–27 Moderately severe", words)
    assert "Page 1 of 1" in words
    assert "phq9@1.0" in words and "sha256:" in words and "psyq 0.1.0" in words
    assert "Kroenke K, Spitzer RL, Williams JBW" in words and "Pfizer" in words
    assert "/EmbeddedFiles" not in out.read_bytes().decode("latin-1")
    assert not reader.attachments


def test_ccts_letter_shows_banner_profile_and_flag(psyq_cli: CLI, tmp_path: Path) -> None:
    out = tmp_path / "ccts.pdf"
    result = psyq_cli(
        "report", "ccts", "--answers", "3,3,2,3,4,3,1,2,1,3,2,3,3,1,2,1", "--client", "C-2",
        "--paper", "letter", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text, sizes, _ = read_pdf(out)
    words = flat(text)
    assert set(sizes) == {LETTER}
    assert "PROVISIONAL INSTRUMENT" in words
    assert "no norms" in words and "not diagnostic" in words
    assert "outside the therapist's view" in words
    assert "SUBSCALE PROFILE" in words.upper()
    for label, value in [
        ("Putting the therapist first", "2.25"),
        ("Protecting the therapist", "2.50"),
        ("Deflecting from own needs", "1.75"),
        ("Taking the helper's role", "2.25"),
    ]:
        assert re.search(rf"{re.escape(label)} {re.escape(value)} 0–4", words), label
    # v0.2 has no bands: the total is a number with no label ("Sometimes" is not "Elevated").
    assert re.search(r"Caretaking tendency \(total\) 2\.19 0–4", words)
    assert "Elevated" not in words and "High" not in words
    assert "Warning: The client reports often holding things back" in words
    assert "SAFETY ALERT" not in words.upper()


def test_missing_data_note_in_pdf(psyq_cli: CLI, tmp_path: Path) -> None:
    out = tmp_path / "missing.pdf"
    result = psyq_cli(
        "report", "phq9", "--answers", "2,3,,3,1,2,2,1,0", "--client", "C-5", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    words = flat(read_pdf(out)[0])
    assert "MISSING DATA" in words.upper()
    assert "1 of 9 items unanswered; the score was prorated from the 8 answered items" in words
    assert re.search(r"Depression severity \(total\) 16\s?p", words)
    assert "missing" in words


def test_phq9_with_a_trend_takes_two_pages_and_page_two_is_not_near_blank(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    for day, answers in [
        ("2026-09-01", "3,3,3,2,2,2,2,2,0"),
        ("2026-10-01", "2,2,2,2,1,1,1,1,0"),
        ("2026-11-01", "1,1,1,1,1,0,1,0,0"),
    ]:
        result = psyq_cli(
            "record", "phq9", "--client", "C0042", "--date", day, "--answers", answers
        )
        assert result.exit_code == 0, result.output
    out = tmp_path / "trend.pdf"
    result = psyq_cli("report", "--client", "C0042", "--latest", "-o", str(out))
    assert result.exit_code == 0, result.output
    _, sizes, reader = read_pdf(out)
    # What the README says: with a trend, two pages; the second carries answer rows
    # with the citations, never the citations alone.
    assert sizes == [A4, A4]
    pages = [flat(page.extract_text()) for page in reader.pages]
    assert "TREND" in pages[0].upper() and "Page 1 of 2" in pages[0]
    # The running footer names the client, instrument and date once on every page: it
    # comes from an attribute, with no hidden copy of the text in the page.
    assert [page.count("C0042 · PHQ-9 · 2026-11-01") for page in pages] == [1, 1]
    assert "Kroenke K, Spitzer RL, Williams JBW" in pages[1]
    item_texts = [
        "Little interest or pleasure", "Feeling down, depressed", "Trouble falling or staying",
        "Feeling tired", "Poor appetite", "Feeling bad about yourself", "Trouble concentrating",
        "Moving or speaking so slowly", "Thoughts that you would be better off dead",
        "If you checked off any problems",
    ]  # fmt: skip
    assert any(text in pages[1] for text in item_texts), pages[1][:200]
