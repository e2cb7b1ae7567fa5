"""A REDCap flat export's rows that are not an administration of the form at all.

A longitudinal project with repeating instruments exports one row per record, event
and repeat instance of every form: a row of another repeating instrument, or of an
event the form is not designated for, has this form's fields and ``<form>_complete``
all empty; a form designated but never opened exports ``<form>_complete`` 0 and every
field empty (REDCapR issue #420, redcap-etl issue #26). Such rows were each an
errors.csv line "CRITICAL item phq9_9 not answered", burying the real alerts.

The corpus has no export with events or repeating instruments (its one export,
reproschema-py's, has neither), so ``EXPORT`` is our own. Its layout imitates
REDCapR's test project ``inst/test-data/projects/longitudinal-with-repeating-instrument/
data.csv`` (OuhscBbmc/REDCapR): ``record_id``, ``redcap_event_name``,
``redcap_repeat_instrument``, ``redcap_repeat_instance``, then each form's fields
followed by its ``<form>_complete``; a non-repeating form's row has the repeat columns
empty and every repeating instrument's fields empty, a repeating instrument's row has
every other form's fields and status empty, and a form not in an event is empty there.
The fields are those of the real Bridge2AI-Voice data dictionary (read in place from
../shared/corpus/redcap), whose ``session`` form is a repeating instrument.
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
FORM = "q_generic_patient_health_questionnaire9"
PHQ9_FIELDS = ["no_interest", "feeling_depressed", "trouble_sleeping", "no_energy",
               "no_appetite", "feeling_bad_self", "trouble_concentrate", "move_speak_slow",
               "thoughts_death", "hard_to_work"]  # fmt: skip
HEAD = [
    "record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
    "selected_language", "subjectparticipant_basic_information_complete",
    "session_id", "session_status", "session_complete",
    *PHQ9_FIELDS, f"{FORM}_complete",
]  # fmt: skip
EMPTY = "- - - - - - - - - -"


def row(record: str, event: str, phq9: str = EMPTY, status: str = "", *, basic: str = "",
        session: str = "", instance: str = "", form: str = "") -> list[str]:  # fmt: skip
    """One export row: the PHQ-9 answers ("1 0 2 ..."; "-" empty) and status; ``basic``
    fills the basic-information form (a language), ``session`` a session instance."""
    answers = ["" if a == "-" else a for a in phq9.split()]
    repeat = form or ("session" if session else "")
    return [
        record, event, repeat, instance or ("1" if session else ""),
        basic, "2" if basic else "",
        session, "2" if session else "", "2" if session else "",
        *answers, status,
    ]  # fmt: skip


ROWS = [
    row("1", "enrollment_arm_1", basic="english"),  # 2: PHQ-9 not in this event
    row("1", "baseline_arm_1", "1 0 2 3 0 0 1 0 0 -", "2"),  # 3: Complete, 7
    row("1", "baseline_arm_1", session="s-1-1"),  # 4: a session instance
    row("1", "baseline_arm_1", session="s-1-2", instance="2"),  # 5
    row("1", "week_4_arm_1", EMPTY, "0"),  # 6: designated, never opened
    row("2", "enrollment_arm_1", basic="spanish"),  # 7
    row("2", "baseline_arm_1", "1 1 1 1 0 0 0 0 2 -", "0"),  # 8: Incomplete, item 9 is 2
    row("2", "baseline_arm_1", session="s-2-1"),  # 9
    row("2", "week_4_arm_1", "1 1 1 1 1 1 1 1 1 -", "2"),  # 10: Complete, 9, item 9 flagged
    row("3", "enrollment_arm_1", basic="english"),  # 11
    row("3", "baseline_arm_1", "- - - - - - - - 1 -"),  # 12: only item 9, no status
    row("3", "week_4_arm_1"),  # 13: exported blank (not designated, or blank-for-gray)
    row("3", "week_12_arm_1", "0 0 0 0 0 0 0 0 0 -", "2", form=FORM, instance="1"),  # 14: 0
    # 15: the form's own repeat instance with nothing in it (an edited file): not another
    # form's row, so it stays an unfinished form with its critical item named.
    row("3", "week_12_arm_1", form=FORM, instance="2"),
    row("3", "week_12_arm_1"),  # 16: the event's row of the other forms
]
SKIPPED = 8  # rows 2, 4, 5, 7, 9, 11, 13, 16


def export(rows: list[list[str]], head: list[str] = HEAD) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(head)
    for cells in rows:
        assert len(cells) == len(head)
        writer.writerow(cells)
    text = out.getvalue()
    assert '"' not in text  # so the line-range reader (PSYQ_BATCH_RANGES) takes it
    return text


def check_outputs(result: Result, out: Path) -> None:
    assert result.exit_code == 1, result.output  # rows not scored
    scores = read_csv(out / "scores.csv")
    assert [(s["row"], s["client_id"], s["redcap_event_name"], s["total"]) for s in scores] == [
        ("3", "1", "baseline_arm_1", "7"),
        ("10", "2", "week_4_arm_1", "9"),
        ("14", "3", "week_12_arm_1", "0"),
    ]
    errors = {e["row"]: e["reason"] for e in read_csv(out / "errors.csv")}
    # No line for another form's or event's row; one for each administration of PHQ-9.
    assert sorted(errors, key=int) == ["6", "8", "12", "15"]
    assert errors["6"] == (
        f"row 6: the REDCap form {FORM} was not started (Incomplete, no answers): not "
        "scored (redcap_event_name week_4_arm_1)"
    )
    assert errors["8"].startswith("row 8: CRITICAL item phq9_9 answered 2 (More than half the")
    assert errors["12"].startswith("row 12: CRITICAL item phq9_9 answered 1 (Several days): act")
    assert errors["15"] == (
        f"row 15: CRITICAL item phq9_9 not answered: act on it. The REDCap form {FORM} has "
        f"no status ({FORM}_complete is empty): not known to be finished, not scored "
        f"(redcap_event_name week_12_arm_1, redcap_repeat_instrument {FORM}, "
        "redcap_repeat_instance 2)"
    )
    said = " ".join(result.output.split())  # the terminal, wrapped or not
    skipped = f"psyq: {SKIPPED} export rows hold no PHQ-9 answers (other forms or events): skipped"
    assert skipped in said
    assert f"psyq: 1 REDCap form(s) {FORM} were not started (Incomplete, no answers)" in said
    # Three alerts, not twelve: the skipped rows and the form not started name none.
    assert "!!! CRITICAL: 3 row(s) not scored name a critical item" in said
    assert "!!! CRITICAL: 1 row(s) raise a critical flag" in said


@pytest.mark.parametrize(
    ("jobs", "env"),
    [
        ("1", {}),
        ("2", {}),  # line ranges read by the workers
        ("1", {"PSYQ_COLUMNAR": "0"}),
        ("2", {"PSYQ_COLUMNAR": "0"}),
        ("1", {"PSYQ_BATCH_RANGES": "0"}),
        ("2", {"PSYQ_BATCH_RANGES": "0", "PSYQ_COLUMNAR": "0"}),
    ],
)
def test_other_forms_rows_are_skipped_and_a_form_not_started_is_listed(
    psyq_cli: CLI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    jobs: str,
    env: dict[str, str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    src = tmp_path / "export.csv"
    src.write_text(export(ROWS))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--redcap", BRIDGE2AI, "--to",
                      "redcap", "--out", out, "--scores-only", "--quiet", "--jobs", jobs,
                      "--chunk-size", "3")  # fmt: skip
    check_outputs(result, out)
    # REDCap gets the three scored forms back, and nothing for the skipped rows.
    imported = read_csv(out / "redcap-import.csv")
    assert [
        (
            r["record_id"],
            r["redcap_event_name"],
            r["redcap_repeat_instrument"],
            r["redcap_repeat_instance"],
            r["phq9_psyq_total"],
        )
        for r in imported
    ] == [
        ("1", "baseline_arm_1", "", "", "7"),
        ("2", "week_4_arm_1", "", "", "9"),
        ("3", "week_12_arm_1", FORM, "1", "0"),
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["rows"], summary["scored"], summary["failed"]) == (7, 3, 4)
    assert (summary["failed_critical"], summary["skipped"]) == (3, SKIPPED)


def test_other_forms_rows_get_no_report_and_are_counted_in_the_summary(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    src = tmp_path / "export.csv"
    src.write_text(export(ROWS))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--redcap", BRIDGE2AI,
                      "--out", out, "--format", "json", "--summary", "html", "--jobs", "2",
                      "--chunk-size", "2")  # fmt: skip
    check_outputs(result, out)
    # A report for each scored form only, named for its record. A skipped row takes no
    # name (record 1's is not pushed to "1_phq9-2"); a row not scored keeps taking one,
    # as every batch row does (record 2's row 8, record 3's row 12).
    assert sorted(p.name for p in (out / "reports").iterdir()) == [
        "1_phq9.json",
        "2_phq9-2.json",
        "3_phq9-2.json",
    ]
    report = json.loads((out / "reports" / "3_phq9-2.json").read_text())
    assert report["scores"]["total"]["value"] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["rows"], summary["failed"], summary["skipped"]) == (7, 4, SKIPPED)
    page = (out / "cohort-summary.html").read_text()
    assert "!!! CRITICAL: 3 row(s) not scored name a critical item" in page
    assert f"<strong>{SKIPPED}</strong> skipped (other forms' or events' rows)" in page
    # Without --quiet, the row count is of PHQ-9's rows.
    assert "7 rows: 3 scored, 4 failed" in " ".join(result.output.split())


def test_a_missing_data_code_is_an_answer_not_an_empty_form(psyq_cli: CLI, tmp_path: Path) -> None:
    # A 777 "Decline to answer" on item 9 is the respondent's answer to the question:
    # that row is an unfinished form with its critical item named, never skipped as
    # another form's row nor called a form not started.
    dictionary = tmp_path / "dict.csv"
    assert psyq_cli("compile", "phq9", "--to", "redcap", "-o", dictionary).exit_code == 0
    text = dictionary.read_text().replace(
        "3, Nearly every day", "3, Nearly every day | 777, Decline to answer"
    )
    dictionary.write_text(text)
    items = [f"phq9_{n}" for n in range(1, 11)]
    head = ["record_id", "redcap_event_name", "redcap_repeat_instrument",
            "redcap_repeat_instance", *items, "phq9_complete"]  # fmt: skip
    blank = [""] * 10
    declined = [*[""] * 8, "777", ""]
    rows = [
        ["a", "baseline_arm_1", "", "", *declined, ""],  # 2: no status, 777 on item 9
        ["b", "baseline_arm_1", "", "", *declined, "0"],  # 3: Incomplete, 777 on item 9
        ["c", "baseline_arm_1", "", "", *blank, ""],  # 4: another event's row: skipped
        ["d", "baseline_arm_1", "", "", *blank, "0"],  # 5: not started
        ["e", "baseline_arm_1", "", "", *[*["1"] * 8, "777", "0"], "2"],  # 6: Complete
    ]
    src = tmp_path / "export.csv"
    src.write_text(export(rows, head))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--redcap", dictionary,
                      "--out", out, "--scores-only", "--quiet")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert [s["client_id"] for s in read_csv(out / "scores.csv")] == ["e"]
    errors = {e["client_id"]: e["reason"] for e in read_csv(out / "errors.csv")}
    assert sorted(errors) == ["a", "b", "d"]
    declined_lead = "CRITICAL item phq9_9 not answered: act on it."
    assert errors["a"].startswith(f"row 2: {declined_lead} The REDCap form phq9 has no status")
    assert errors["b"].startswith(f"row 3: {declined_lead} The REDCap form phq9 is Incomplete")
    assert errors["d"] == (
        "row 5: the REDCap form phq9 was not started (Incomplete, no answers): not scored "
        "(redcap_event_name baseline_arm_1)"
    )
    said = " ".join(result.output.split())
    assert "psyq: 1 export row holds no PHQ-9 answers (other forms or events): skipped" in said
    assert "!!! CRITICAL: 2 row(s) not scored name a critical item" in said
