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
    phq9("2", "week_4_arm_1", "1 1 1 1 0 0 0 0 2", "0"),  # Incomplete, item 9 positive
    phq9("3", "baseline_arm_1", "1 1 1 - - - - - -", "0"),  # Incomplete, item 9 blank
    phq9("4", "week_4_arm_1", "1 1 1 1 1 1 1 1 0", "1"),  # Unverified: scored, 8
    phq9("5", "baseline_arm_1", "1 1 1 1 1 1 1 1 1", ""),  # no status: not known finished
    # A form never opened exports 0: not started, listed without a CRITICAL lead (no
    # answer to be critical about; see test_redcap_other_form_rows.py).
    phq9("6", "baseline_arm_1", "- - - - - - - - -", "0"),
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
        "row 3: CRITICAL item phq9_9 answered 2 (More than half the days): act on it. "
        f"The REDCap form {FORM} is "
        f"Incomplete ({STATUS} 0): an unfinished form, not scored "
        "(redcap_event_name week_4_arm_1)"  # which of the record's forms it is
    )
    assert lines["3"].startswith("row 4: CRITICAL item phq9_9 not answered: act on it.")
    assert lines["5"].startswith(
        "row 6: CRITICAL item phq9_9 answered 1 (Several days): act on it. "
    )
    assert f"has no status ({STATUS} is empty)" in lines["5"]
    assert lines["6"].startswith(f"row 7: the REDCap form {FORM} was not started (Incomplete")
    # The label export's "Nearly every day" is read as its code, 3.
    assert lines["7"].startswith(
        "row 8: CRITICAL item phq9_9 answered 3 (Nearly every day): act on it."
    )
    assert "Incomplete" in lines["7"]
    # The terminal says it too (even with --quiet), and names the Unverified row.
    assert "!!! CRITICAL: 4 row(s) not scored name a critical item" in result.output
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
                      "--out", out, "--format", "json", "--summary", "html", "--quiet",
                      "--jobs", "1")  # fmt: skip
    check_outputs(result, out)
    # The cohort summary counts them as rows naming a critical item, not as scored ones.
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["rows"], summary["failed"], summary["failed_critical"]) == (7, 5, 4)
    page = (out / "cohort-summary.html").read_text()
    assert "!!! CRITICAL: 4 row(s) not scored name a critical item" in page
    # Reports for the finished forms only; none reads as a finished score of record 2.
    assert sorted(p.name for p in (out / "reports").iterdir()) == ["1_phq9.json", "4_phq9.json"]
    report = json.loads((out / "reports" / "1_phq9.json").read_text())
    assert report["scores"]["total"]["value"] == 7 and report["notices"] == []
    # The Unverified form is scored, and its report says it was not yet checked.
    unverified = json.loads((out / "reports" / "4_phq9.json").read_text())
    assert unverified["scores"]["total"]["value"] == 8
    assert [n for n in unverified["notices"] if "Unverified" in n] == [
        "REDCap form status Unverified: every answer was entered but not yet checked; the "
        "scores change if an answer is corrected."
    ]


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


ANSWERS = {f"phq9_{n}": 1 for n in range(1, 10)}  # item 9 positive


@pytest.mark.parametrize("status", ["in-progress", "stopped", "Incomplete"])
def test_answers_file_saying_unfinished_is_stored_partial(
    psyq_cli: CLI, tmp_path: Path, status: str
) -> None:
    # FHIR's and REDCap's words for an unfinished form were stored as a finished one:
    # only psyq's own "partial" was read.
    src = tmp_path / "answers.json"
    src.write_text(json.dumps({**ANSWERS, "@status": status}))
    recorded = psyq_cli("record", "phq9", "--client", "C0042", "--answers-file", src)
    assert recorded.exit_code == 0, recorded.output
    assert "as a PARTIAL administration" in recorded.output
    history = psyq_cli("history", "C0042", "--json")
    assert history.exit_code == 0, history.output
    [entry] = json.loads(history.output)
    assert entry["administration"]["status"] == "partial"
    assert [f["id"] for f in entry["flags"]] == ["suicidal_ideation"]
    shown = psyq_cli("history", "C0042").output
    assert "partial: administration 1 (phq9, " in shown and "CRITICAL (item phq9_9)" in shown
    scored = psyq_cli("score", "phq9", "--answers-file", src)
    assert "PARTIAL" in scored.output and "CRITICAL" in scored.output


@pytest.mark.parametrize("status", ["done", "entered-in-error", 2])
def test_answers_file_with_an_unknown_status_is_refused(
    psyq_cli: CLI, tmp_path: Path, status: object
) -> None:
    src = tmp_path / "answers.json"
    src.write_text(json.dumps({**ANSWERS, "@status": status}))
    recorded = psyq_cli("record", "phq9", "--client", "C0042", "--answers-file", src)
    assert recorded.exit_code == 2, recorded.output
    assert f'answers.json: "@status" {status!r}' in recorded.output
    assert "refusing rather than guessing" in recorded.output
    listed = psyq_cli("clients", "--json")
    assert "C0042" not in listed.output  # nothing stored


def test_batch_jsonl_row_saying_unfinished_is_not_scored(psyq_cli: CLI, tmp_path: Path) -> None:
    # A plain JSONL row is an answers document too; with --ignore-extra-columns its
    # "@status" was dropped and the unfinished form scored as finished.
    rows = [
        {"client_id": "a", **ANSWERS, "@status": "in-progress"},
        {"client_id": "b", **ANSWERS, "phq9_9": None, "@status": "partial"},
        {"client_id": "c", **ANSWERS, "phq9_9": 0, "@status": "completed"},
        {"client_id": "d", **ANSWERS, "@status": "done"},
    ]
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
                      "--quiet", "--ignore-extra-columns")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert [s["client_id"] for s in read_csv(out / "scores.csv")] == ["c"]
    lines = unfinished_lines(read_csv(out / "errors.csv"))
    assert lines["a"].startswith(
        "row 1: CRITICAL item phq9_9 answered 1 (Several days): act on it. "
    )
    assert "not finished (partial): not scored" in lines["a"]
    assert lines["b"].startswith("row 2: CRITICAL item phq9_9 not answered: act on it. ")
    assert lines["d"].startswith("row 4: CRITICAL item phq9_9 answered 1 (Several days): act on")
    assert "\"@status\" 'done'" in lines["d"]
    assert "!!! CRITICAL: 3 row(s) not scored" in result.output


def test_batch_csv_status_column_is_read(psyq_cli: CLI, tmp_path: Path) -> None:
    # The same "@status" as a CSV column: --ignore-extra-columns dropped it too.
    items = [f"phq9_{n}" for n in range(1, 10)]
    src = tmp_path / "rows.csv"
    src.write_text(
        f"client_id,{','.join(items)},@status\n"
        "a,1,1,1,1,1,1,1,1,1,In-Progress\n"
        "b,1,1,1,1,1,1,1,1,0,completed\n"
        "c,1,1,1,1,1,1,1,1,,stopped\n"
    )
    for jobs in ("1", "2"):  # the whole file, and line ranges read by the workers
        out = tmp_path / f"out{jobs}"
        result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
                          "--quiet", "--ignore-extra-columns", "--jobs", jobs)  # fmt: skip
        assert result.exit_code == 1, result.output
        assert [s["client_id"] for s in read_csv(out / "scores.csv")] == ["b"]
        lines = unfinished_lines(read_csv(out / "errors.csv"))
        assert lines["a"].startswith(
            "row 2: CRITICAL item phq9_9 answered 1 (Several days): act on it. "
        )
        assert lines["c"].startswith("row 4: CRITICAL item phq9_9 not answered: act on it. ")
        assert "not finished (partial): not scored" in lines["c"]
