"""REDCap record exports through ``psyq batch --redcap DICT.csv [--to redcap]``.

The export fixture follows REDCap's own export layout (``record_id``,
``redcap_event_name``, repeat columns, ``<form>_complete``) for the Bridge2AI-Voice
project whose real data dictionary is read in place from ../shared/corpus/redcap.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from .cohorts import read_csv
from .conftest import SHARED

CLI = Callable[..., Result]
BRIDGE2AI = SHARED / "corpus/redcap/bridge2ai_voice_project_data_dictionary.csv"
PHQ9_FIELDS = ["no_interest", "feeling_depressed", "trouble_sleeping", "no_energy",
               "no_appetite", "feeling_bad_self", "trouble_concentrate", "move_speak_slow",
               "thoughts_death", "hard_to_work"]  # fmt: skip
FORM = "q_generic_patient_health_questionnaire9"


def export(rows: list[list[str]], fields: list[str], form: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    head = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]
    writer.writerow([*head, *fields, f"{form}_complete"])
    writer.writerows(rows)
    return out.getvalue()


@pytest.mark.skipif(not BRIDGE2AI.is_file(), reason="shared corpus is not present")
def test_bridge2ai_export_with_labels_events_and_completion(psyq_cli: CLI, tmp_path: Path) -> None:
    labels = ["Not at all", "Several days", "More than half the days", "Nearly every day"]
    rows = [
        # A label export: 1+0+2+3+0+0+1+0+0 = 7, mild (5-9).
        ["1", "baseline_arm_1", "", "", *[labels[v] for v in [1, 0, 2, 3, 0, 0, 1, 0, 0]], "", "2"],
        # Raw codes, one item missing: 8 answered sum 9 x 9 / 8 = 10.125 -> 10, item 9 flagged.
        ["1", "week_4_arm_1", "", "", "1", "1", "1", "1", "", "1", "1", "2", "1", "", "1"],
        # 7 is no PHQ-9 answer (a finished form: an Incomplete one is not scored at all,
        # see test_unfinished_forms_red_team4.py).
        ["2", "baseline_arm_1", "", "", *["0"] * 8, "7", "", "2"],
    ]
    src = tmp_path / "export.csv"
    src.write_text(export(rows, PHQ9_FIELDS, FORM))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--redcap", BRIDGE2AI, "--to",
                      "redcap", "--out", out, "--scores-only", "--quiet")  # fmt: skip
    assert result.exit_code == 1, result.output  # one bad row
    scores = read_csv(out / "scores.csv")
    assert [
        (s["client_id"], s["redcap_event_name"], s["redcap_complete"], s["total"]) for s in scores
    ] == [("1", "baseline_arm_1", "complete", "7"), ("1", "week_4_arm_1", "unverified", "10")]
    assert "suicidal_ideation" in scores[1]["flags"]
    errors = read_csv(out / "errors.csv")
    assert [(e["row"], e["client_id"]) for e in errors] == [("4", "2")]
    assert "phq9_9: '7' is not an allowed answer" in errors[0]["reason"]
    imported = read_csv(out / "redcap-import.csv")
    assert [
        (
            r["record_id"],
            r["redcap_event_name"],
            r["phq9_psyq_total"],
            r["phq9_psyq_total_prorated"],
        )
        for r in imported
    ] == [("1", "baseline_arm_1", "7", "0"), ("1", "week_4_arm_1", "10", "1")]
    assert [s["total_prorated"] for s in scores] == ["0", "1"]
    assert imported[1]["phq9_psyq_flags"] == scores[1]["flags"]
    assert imported[1]["phq9_psyq_flag_items"] == "suicidal_ideation:phq9_9"
    assert (out / "redcap-import.csv").stat().st_mode & 0o077 == 0
    fields = [r["Variable / Field Name"] for r in read_csv(out / "redcap-import-dictionary.csv")]
    # Every scale of PHQ-9 (the total, prorated or not, and its PHQ-2 subscale), then flags.
    assert fields == [
        "phq9_psyq_total",
        "phq9_psyq_total_band",
        "phq9_psyq_total_band_beside_alert",
        "phq9_psyq_total_prorated",
        "phq9_psyq_phq2",
        "phq9_psyq_phq2_band",
        "phq9_psyq_phq2_band_beside_alert",
        "phq9_psyq_flags",
        "phq9_psyq_flag_items",
    ]


def test_missing_data_codes_count_as_missing(psyq_cli: CLI, tmp_path: Path) -> None:
    dictionary = tmp_path / "dict.csv"
    compiled = psyq_cli("compile", "gad7", "--to", "redcap", "-o", dictionary)
    assert compiled.exit_code == 0
    text = dictionary.read_text().replace(
        "3, Nearly every day", "3, Nearly every day | 777, Decline to answer | 999, Don't know"
    )
    dictionary.write_text(text)
    items = [f"gad7_{n}" for n in range(1, 8)]
    rows = [
        # 777 on item 3 is missing: 6 answered, 1+2+3+0+1+2 = 9, x 7 / 6 = 10.5 -> 11.
        ["a", "", "", "", "1", "2", "777", "3", "0", "1", "2", "2"],
        # 999 on two items: more than GAD-7's one missing item: not scored.
        ["b", "", "", "", "999", "999", "1", "1", "1", "1", "1", "2"],
    ]
    src = tmp_path / "export.csv"
    src.write_text(export(rows, items, "gad7"))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "gad7", "--redcap", dictionary,
                      "--out", out, "--scores-only", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = read_csv(out / "scores.csv")
    assert [(s["client_id"], s["total"]) for s in scores] == [("a", "11"), ("b", "")]
    assert not (out / "redcap-import.csv").exists()


def test_redcap_options_are_checked(psyq_cli: CLI, tmp_path: Path) -> None:
    src = tmp_path / "export.csv"
    src.write_text("record_id,gad7_1\n1,1\n")
    out = tmp_path / "out"
    alone = psyq_cli("batch", src, "--instrument", "gad7", "--out", out, "--to", "redcap")
    assert alone.exit_code == 2 and "--to redcap needs --redcap DICT.csv" in alone.output
    dictionary = tmp_path / "dict.csv"
    psyq_cli("compile", "phq9", "--to", "redcap", "-o", dictionary)
    wrong = psyq_cli("batch", src, "--instrument", "gad7", "--redcap", dictionary, "--out", out)
    assert wrong.exit_code == 2
    assert "no form's fields match the items of GAD-7" in wrong.output
