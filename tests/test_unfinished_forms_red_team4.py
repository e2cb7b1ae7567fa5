"""Forms a source says are unfinished are never scored as finished, and their critical
items never vanish (red-team pass 4).

REDCap record exports go through ``psyq batch --redcap DICT.csv``, read with the real
Bridge2AI-Voice data dictionary (../shared/corpus/redcap, in place). The export rows
are our own, in REDCap's export layout (``record_id``, ``redcap_event_name``, the repeat
columns, ``<form>_complete``), as tests/test_redcap_batch.py writes them; the corpus
export (reproschema-py's ``example_redcap_output_redcap.csv``) has no status column.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from .cohorts import read_csv
from .conftest import SHARED

CLI = Callable[..., Result]
BRIDGE2AI = SHARED / "corpus/redcap/bridge2ai_voice_project_data_dictionary.csv"
REPROSCHEMA_EXPORT = SHARED / "corpus/redcap/reproschema-py__example_redcap_output_redcap.csv"
PHQ9_FIELDS = ["no_interest", "feeling_depressed", "trouble_sleeping", "no_energy",
               "no_appetite", "feeling_bad_self", "trouble_concentrate", "move_speak_slow",
               "thoughts_death", "hard_to_work"]  # fmt: skip
FORM = "q_generic_patient_health_questionnaire9"
STATUS = f"{FORM}_complete"
LABELS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]


def export(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    head = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]
    writer.writerow([*head, *PHQ9_FIELDS, STATUS])
    for row in rows:
        assert len(row) == len(head) + len(PHQ9_FIELDS) + 1
        writer.writerow(row)
    return out.getvalue()


def phq9(record: str, event: str, answers: str, status: str) -> list[str]:
    """A row: record, event, the nine answers ("1 0 2 ..."; "-" unanswered), item 10
    blank, the form status."""
    given = ["" if a == "-" else a for a in answers.split()]
    return [record, event, "", "", *given, "", status]


ROWS = [
    phq9("1", "baseline_arm_1", "1 0 2 3 0 0 1 0 0", "2"),  # Complete: scored, 7
    phq9("2", "baseline_arm_1", "1 1 1 1 0 0 0 0 2", "0"),  # Incomplete, item 9 positive
    phq9("3", "baseline_arm_1", "1 1 1 - - - - - -", "0"),  # Incomplete, item 9 blank
    phq9("4", "week_4_arm_1", "1 1 1 1 1 1 1 1 0", "1"),  # Unverified: scored, 8
    phq9("5", "baseline_arm_1", "1 1 1 1 1 1 1 1 1", ""),  # no status: not known finished
    phq9("6", "baseline_arm_1", "- - - - - - - - -", "0"),  # a form never opened exports 0
]
# A label export ("Export labels"): REDCap writes the status as its label too.
LABEL_ROW = ["7", "baseline_arm_1", "", "", *[LABELS[1]] * 8, LABELS[3], "", "Incomplete"]


def unfinished_lines(errors: list[dict[str, str]]) -> dict[str, str]:
    return {e["client_id"]: e["reason"] for e in errors}


def check_outputs(result: Result, out: Path) -> None:
    assert result.exit_code == 1, result.output  # rows not scored
    scores = read_csv(out / "scores.csv")
    # Only the finished forms are scored; the Unverified one says so.
    assert [(s["client_id"], s["redcap_complete"], s["total"]) for s in scores] == [
        ("1", "complete", "7"),
        ("4", "unverified", "8"),
    ]
    lines = unfinished_lines(read_csv(out / "errors.csv"))
    assert sorted(lines) == ["2", "3", "5", "6", "7"]
    assert lines["2"] == (
        f"row 3: CRITICAL item phq9_9 answered 2: act on it. The REDCap form {FORM} is "
        f"Incomplete ({STATUS} 0): an unfinished form, not scored"
    )
    assert lines["3"].startswith("row 4: CRITICAL item phq9_9 not answered: act on it.")
    assert lines["5"].startswith("row 6: CRITICAL item phq9_9 answered 1: act on it. ")
    assert f"has no status ({STATUS} is empty)" in lines["5"]
    assert lines["6"].startswith("row 7: CRITICAL item phq9_9 not answered: act on it.")
    # The label export's "Nearly every day" is read as its code, 3.
    assert lines["7"].startswith("row 8: CRITICAL item phq9_9 answered 3: act on it.")
    assert "Incomplete" in lines["7"]
    # The terminal says it too (even with --quiet), and names the Unverified row.
    assert "!!! CRITICAL: 5 row(s) not scored name a critical item" in result.output
    assert "1 scored row(s) are REDCap forms marked Unverified" in result.output


@pytest.mark.parametrize(
    ("jobs", "env"),
    [
        ("1", {}),
        ("2", {}),
        ("1", {"PSYQ_COLUMNAR": "0"}),
        ("2", {"PSYQ_BATCH_RANGES": "0"}),
    ],
)
def test_incomplete_redcap_forms_are_not_scored_and_name_their_critical_item(
    psyq_cli: CLI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    jobs: str,
    env: dict[str, str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    src = tmp_path / "export.csv"
    src.write_text(export([*ROWS, LABEL_ROW]))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--redcap", BRIDGE2AI, "--to",
                      "redcap", "--out", out, "--scores-only", "--quiet", "--jobs", jobs,
                      "--chunk-size", "2")  # fmt: skip
    check_outputs(result, out)
    # REDCap gets scores for the finished forms only: none an Incomplete form would
    # overwrite a record's earlier, finished scores with.
    imported = read_csv(out / "redcap-import.csv")
    assert [(r["record_id"], r["phq9_psyq_total"]) for r in imported] == [("1", "7"), ("4", "8")]


def test_incomplete_redcap_form_gets_no_report(psyq_cli: CLI, tmp_path: Path) -> None:
    src = tmp_path / "export.csv"
    src.write_text(export([*ROWS, LABEL_ROW]))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--redcap", BRIDGE2AI,
                      "--out", out, "--format", "json", "--quiet", "--jobs", "1")  # fmt: skip
    check_outputs(result, out)
    # Reports for the finished forms only; none reads as a finished score of record 2.
    assert sorted(p.name for p in (out / "reports").iterdir()) == ["1_phq9.json", "4_phq9.json"]
    report = json.loads((out / "reports" / "1_phq9.json").read_text())
    assert report["scores"]["total"]["value"] == 7


def test_redcap_export_without_a_status_column_is_said(psyq_cli: CLI, tmp_path: Path) -> None:
    # reproschema-py's REDCap output has gad7_1..gad7_7 and no gad7_complete column.
    dictionary = tmp_path / "gad7-dictionary.csv"
    assert psyq_cli("compile", "gad7", "--to", "redcap", "-o", dictionary).exit_code == 0
    out = tmp_path / "out"
    result = psyq_cli("batch", REPROSCHEMA_EXPORT, "--instrument", "gad7", "--redcap",
                      dictionary, "--out", out, "--scores-only", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = read_csv(out / "scores.csv")
    assert [(s["client_id"], s["total"]) for s in scores] == [
        ("reproschema_ui_to_redcap_example", "9")
    ]
    assert "no gad7_complete column" in result.output
    assert "every row was scored as a finished form" in result.output
