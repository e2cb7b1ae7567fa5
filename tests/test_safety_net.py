"""The clinical safety net (issue 9): each case a review found, through the CLI.

No risk signal may be lost to a skipped item, an unfinished form, or a
reassuring sentence beside an alert.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

CLI = Callable[..., Result]


def score_json(psyq_cli: CLI, instrument: str, answers: str) -> dict[str, object]:
    result = psyq_cli("score", instrument, "--answers", answers, "--json")
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def test_phq9_item_9_skipped_raises_ask_directly(psyq_cli: CLI) -> None:
    for answers in ("3,3,3,3,3,3,3,3,-", "3,3,3,3,3,3,3,3"):
        doc = score_json(psyq_cli, "phq9", answers)
        flags = doc["flags"]
        assert isinstance(flags, list)
        first = flags[0]
        assert (first["id"], first["level"], first["item"]) == (
            "critical_item_unanswered",
            "critical",
            "phq9_9",
        )
        assert "not answered" in first["message"] and "directly" in first["message"]
        total = doc["scores"]["total"]  # type: ignore[index]
        assert (total["value"], total["prorated"]) == (27, True)
        table = psyq_cli("score", "phq9", "--answers", answers).output
        assert table.splitlines()[1].startswith("!!! CRITICAL"), table


def test_who5_any_item_at_0_or_1_is_a_warning_not_adequate(psyq_cli: CLI) -> None:
    doc = score_json(psyq_cli, "who5", "5,5,3,0,0")
    total = doc["scores"]["total"]  # type: ignore[index]
    assert (total["value"], total["band"]) == (52, "adequate")
    flags = doc["flags"]
    assert isinstance(flags, list)
    assert [(f["id"], f["level"], f["item"]) for f in flags] == [
        ("item_at_most_1", "warning", "who5_4")
    ]
    assert "assessment for depression" in flags[0]["message"]


def test_no_reassuring_interpretation_beside_item_9(psyq_cli: CLI, tmp_path: Path) -> None:
    # PHQ-9 0,0,0,0,0,0,0,0,3: total 3 (minimal) with item 9 at 3.
    out = tmp_path / "r.html"
    result = psyq_cli(
        "report", "phq9", "--answers", "0,0,0,0,0,0,0,0,3", "--client", "C1", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "No treatment action indicated" not in html
    assert "Act on the safety flag before anything else" in html
    # Without the flag the manual's text stands.
    result = psyq_cli(
        "report", "phq9", "--answers", "0,0,0,0,0,0,0,0,0", "--client", "C1", "-o", str(out)
    )
    assert "No treatment action indicated" in out.read_text()


def test_who5_adequate_with_low_item_does_not_say_no_indication(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    result = psyq_cli("report", "who5", "--answers", "5,5,3,0,0", "--client", "C1", "-o", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "No indication of poor well-being" not in html
    assert "asks for an assessment for depression" in html


def test_score_json_shows_every_answer_unscored_included(psyq_cli: CLI) -> None:
    doc = score_json(psyq_cli, "phq9", "0,1,2,3,0,1,2,3,0,2")
    assert doc["answers"] == {
        f"phq9_{i}": v for i, v in enumerate([0, 1, 2, 3, 0, 1, 2, 3, 0, 2], 1)
    }
    doc = score_json(psyq_cli, "phq9", "0,1,2,3,0,1,2,3,0")
    assert doc["answers"]["phq9_10"] is None  # type: ignore[index]
