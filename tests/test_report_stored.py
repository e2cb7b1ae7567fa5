"""`psyq report --administration ID` and `psyq report --client C --latest`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from pypdf import PdfReader

CLI = Callable[..., Result]


@pytest.fixture
def recorded(psyq_cli: CLI) -> CLI:
    forms = [
        ("2026-08-04", "2,3,2,3,1,2,2,1,1"),
        ("2026-09-01", "2,2,1,2,1,1,1,1,0"),
        ("2026-10-06", "1,1,1,1,0,1,0,0,0"),
    ]
    for when, answers in forms:
        result = psyq_cli(
            "record", "phq9", "--client", "C-104", "--answers", answers, "--date", when
        )
        assert result.exit_code == 0, result.output
    psyq_cli(
        "record", "who5", "--client", "C-104", "--answers", "2,2,1,3,2", "--date", "2026-10-07"
    )
    return psyq_cli


def test_latest_pdf_carries_the_trend(recorded: CLI, tmp_path: Path) -> None:
    out = tmp_path / "latest.pdf"
    result = recorded("report", "phq9", "--client", "C-104", "--latest", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = "".join(page.extract_text() for page in PdfReader(out).pages)
    assert "C-104" in text and "2026-10-06" in text
    assert "TREND" in text.upper()
    assert "reliable improvement" in text


def test_latest_without_instrument_takes_the_newest_of_any(recorded: CLI, tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    assert recorded("report", "--client", "C-104", "--latest", "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["instrument"]["id"] == "who5"


def test_administration_by_id(recorded: CLI, tmp_path: Path) -> None:
    out = tmp_path / "first.json"
    result = recorded("report", "--administration", "1", "-o", str(out))
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["scores"]["total"]["value"] == 17
    assert doc["report"]["client_id"] == "C-104"
    assert doc["report"]["administered"] == "2026-08-04"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--administration", "99"], "99"),
        (["--administration", "1", "--answers", "1,1"], "a stored one"),
        (["--latest"], "--latest needs --client"),
        (["--client", "C-999", "--latest"], "C-999"),
        (["who5", "--administration", "1"], "administration 1 is a phq9, not a who5"),
        ([], "give INSTRUMENT_ID"),
    ],
)
def test_stored_report_errors(recorded: CLI, tmp_path: Path, args: list[str], message: str) -> None:
    result = recorded("report", *args, "-o", str(tmp_path / "x.pdf"))
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.pdf").exists()


def test_adhoc_report_takes_the_same_client_ids_as_batch(psyq_cli: CLI, tmp_path: Path) -> None:
    """A report of answers given here stores nothing: its --client is a batch row's id
    (psyq.clients.given_client_id_problem), so an id one refuses the other does too.
    (tests/test_bad_input_red_team5.py checks both ways.)"""
    out = tmp_path / "x.pdf"
    result = psyq_cli("report", "gad7", "--answers", "1,1,1,1,1,1,1", "--client", "C\u202e42",
                      "-o", str(out))  # fmt: skip
    assert result.exit_code == 2
    assert "invisible or control character (U+202E" in result.stderr
    assert not out.exists()
