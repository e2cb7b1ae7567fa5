"""Red-team pass 4 on "never hide a risk signal": every output words an alert alike.

A critical item that is positive, unanswered, or in an unfinished form is shown in
every output that shows that administration, worded by one function
(:mod:`psyq.alerts`), so no output says less than another; no reassuring text stands
beside an alert. Each test is a gap found by trying the CLI.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from .test_latest_later_forms import html_text
from .test_risk_red_team3 import RISK

CLI = Callable[..., Result]
ONLY = "(score band only; see the safety alert)"


@pytest.fixture
def riskx(psyq_home: Path) -> str:
    """A local instrument with a critical item r3 (777 "Decline" counts as missing), its
    own critical flag harm_others, and German and Spanish translations."""
    folder = psyq_home / "instruments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "riskx.yaml").write_text(RISK, encoding="utf-8")
    return "riskx"


def pdf_text(path: Path) -> str:
    """What a clinician reads in a PDF (pdftotext, poppler-utils)."""
    import subprocess

    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def errors_by_client(out: Path) -> dict[str, str]:
    with (out / "errors.csv").open(encoding="utf-8", newline="") as f:
        return {row["client_id"]: row["reason"] for row in csv.DictReader(f)}


def questionnaire_response(client: str, answers: dict[str, int | None], status: str) -> str:
    """A FHIR QuestionnaireResponse line (one per client), each answer a valueInteger."""
    doc: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "status": status,
        "subject": {"identifier": {"value": client}},
        "item": [
            {"linkId": k, "answer": [{"valueInteger": v}]}
            for k, v in answers.items()
            if v is not None
        ],
    }
    return json.dumps(doc) + "\n"


def test_an_unfinished_fhir_forms_errors_line_names_only_its_risk_items_with_labels(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """An in-progress form in a batch: its errors.csv line names each critical item that
    is positive or unanswered with the answer's label, as a row not scored for another
    reason does, and never an item answered "Not at all" as a risk to act on."""
    phq9 = [f"phq9_{i}" for i in range(1, 10)]
    epds = [f"epds_{i}" for i in range(1, 11)]
    src = tmp_path / "forms.ndjson"
    src.write_text(
        questionnaire_response("POS", {k: 2 if k == "phq9_9" else 0 for k in phq9}, "in-progress")
        + questionnaire_response("ZERO", dict.fromkeys(phq9, 0), "stopped")
        + questionnaire_response(
            "BLANK", {k: None if k == "phq9_9" else 1 for k in phq9}, "stopped"
        )
        + questionnaire_response("EMPTY", {}, "in-progress"),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only")
    assert result.exit_code == 1, result.output
    errors = errors_by_client(out)
    unfinished = "act on it. The QuestionnaireResponse is in-progress or stopped"
    assert errors["POS"] == (
        f"row 1: CRITICAL item phq9_9 answered 2 (More than half the days): {unfinished}"
        + errors["POS"].split(unfinished)[1]
    )
    assert errors["ZERO"].startswith("row 2: the QuestionnaireResponse is in-progress")
    assert "CRITICAL" not in errors["ZERO"]
    assert errors["BLANK"].startswith(f"row 3: CRITICAL item phq9_9 not answered: {unfinished}")
    assert errors["EMPTY"].startswith(f"row 4: CRITICAL item phq9_9 not answered: {unfinished}")
    assert "!!! CRITICAL: 3 row(s) not scored name a critical item" in result.output
    # EPDS item 10 is reverse-keyed: its 0 is the most severe answer, its 3 "Never".
    src = tmp_path / "epds.ndjson"
    src.write_text(
        questionnaire_response("WORST", {k: 0 for k in epds}, "in-progress")
        + questionnaire_response("NEVER", {k: 3 if k == "epds_10" else 0 for k in epds}, "stopped"),
        encoding="utf-8",
    )
    out = tmp_path / "epds"
    assert psyq_cli("batch", src, "--instrument", "epds", "--out", out, "--scores-only").exit_code
    errors = errors_by_client(out)
    assert errors["WORST"].startswith(
        f"row 1: CRITICAL item epds_10 answered 0 (1st option as printed): {unfinished}"
    )
    assert "CRITICAL" not in errors["NEVER"]
    # A CSV whose "@status" column says the form was not finished: the same line.
    src = tmp_path / "rows.csv"
    src.write_text(
        "client_id," + ",".join(phq9) + ",@status\n"
        "C1,0,0,0,0,0,0,0,0,2,in-progress\n"
        "C2,0,0,0,0,0,0,0,0,0,stopped\n",
        encoding="utf-8",
    )
    out = tmp_path / "csv"
    made = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
                    "--ignore-extra-columns")  # fmt: skip
    assert made.exit_code == 1, made.output
    errors = errors_by_client(out)
    assert errors["C1"].startswith(
        "row 2: CRITICAL item phq9_9 answered 2 (More than half the days): act on it. "
    )
    assert "CRITICAL" not in errors["C2"] and "not finished (partial)" in errors["C2"]


def test_a_later_form_of_another_instrument_is_named_alike_in_every_one_line_output(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """``report --latest`` of a client's PHQ-9 followed by an unfinished EPDS whose item 10
    raises a critical flag: the terminal line, the text table, the FHIR note and the
    history word its alert alike (:func:`psyq.alerts.alert_line`), each saying which
    instrument and date it is: the PHQ-9 report is not read as a later PHQ-9 of 0."""
    record = ("record", "phq9", "--client", "C1", "--date", "2026-09-01")
    assert psyq_cli(*record, "--answers", "0,0,0,0,0,0,0,0,0").exit_code == 0
    epds = tmp_path / "epds.json"
    unfinished = json.loads(
        questionnaire_response("C1", {f"epds_{i}": 0 for i in range(1, 10)}, "in-progress")
    )
    unfinished["item"].append({"linkId": "epds_10", "answer": [{"valueInteger": 0}]})
    unfinished["authored"] = "2026-10-01"
    epds.write_text(json.dumps(unfinished), encoding="utf-8")
    saved = psyq_cli("record", "epds", "--client", "C1", "--answers-file", epds)
    assert "PARTIAL administration" in saved.output, saved.output
    alert = "CRITICAL in later partial administration 2 (EPDS, 2026-10-01) (item epds_10): "
    message = "The mother reported thoughts of harming herself"
    table = tmp_path / "r.txt"
    made = psyq_cli("report", "--client", "C1", "--latest", "-o", table)
    assert made.exit_code == 0, made.output
    assert made.stderr.startswith(f"wrote {table} (table): PHQ-9: {alert}self_harm_thoughts; ")
    lines = table.read_text(encoding="utf-8").splitlines()
    assert lines[2].startswith(f"!!! {alert}{message}"), lines
    fhir = tmp_path / "r.fhir.json"
    assert psyq_cli("report", "--client", "C1", "--latest", "-o", fhir).exit_code == 0
    observations = [
        e["resource"]
        for e in json.loads(fhir.read_text(encoding="utf-8"))["entry"]
        if e["resource"]["resourceType"] == "Observation"
    ]
    # Every Observation (the total and PHQ-2) leads with the later form's alert.
    assert len(observations) == 2
    for observation in observations:
        assert observation["note"][0]["text"].startswith(f"{alert}{message}")
    # history: the same words, the form named as it is there (not "later": no form is shown).
    history = psyq_cli("history", "C1").output.splitlines()
    assert history[1] == (
        "!!! CRITICAL in partial administration 2 (epds) (item epds_10): self_harm_thoughts "
        "(details below)"
    )


def test_history_claims_no_remission_beside_a_later_unfinished_forms_alert(
    psyq_cli: CLI,
) -> None:
    """PHQ-9 19 then 0 (a response and, by the total, a remission), then a form left
    unfinished with item 9 at 3: ``history`` leads with its alert and marks the band of
    the form before it as the score's only; that row must not say "remission" beside
    it either, and ``history --json`` marks the same band (``band_beside_alert``)."""
    record = ("record", "phq9", "--client", "C1")
    assert (
        psyq_cli(*record, "--date", "2026-08-01", "--answers", "3,3,3,2,2,2,2,2,0").exit_code == 0
    )
    assert (
        psyq_cli(*record, "--date", "2026-09-01", "--answers", "0,0,0,0,0,0,0,0,0").exit_code == 0
    )
    left = psyq_cli("administer", "phq9", "--client", "C1", input="0\n" * 8 + "3\nq\n")
    assert "partial administration 3" in left.output, left.output
    text = psyq_cli("history", "C1").output
    assert "!!! CRITICAL in partial administration 3 (phq9) (item phq9_9)" in text
    [row] = [line for line in text.splitlines() if "2026-09-01" in line]
    assert f"Minimal {ONLY}" in row
    assert "response, remission withheld (critical flag)" in row
    assert not row.rstrip().endswith("remission")
    docs = json.loads(psyq_cli("history", "C1", "--json").stdout)
    [second] = [d for d in docs if d["administration"]["id"] == 2]
    assert "does not lessen the flag" in second["scores"]["total"]["band_beside_alert"]
    [first] = [d for d in docs if d["administration"]["id"] == 1]
    assert "band_beside_alert" not in first["scores"]["total"]  # not the form it follows


def test_a_later_unfinished_forms_alert_is_in_the_reports_language(
    psyq_cli: CLI, tmp_path: Path, riskx: str
) -> None:
    """``report --latest --language de|es``: the safety alert of a form left unfinished
    after the one reported is in the report's language, as this form's own alert is,
    never the one English sentence in a German or Spanish alert."""
    record = ("record", riskx, "--client", "C1", "--date", "2026-09-01")
    assert psyq_cli(*record, "--answers", "0,0,0,0").exit_code == 0
    # r3 at 2 (harm_others), and then r3 declined (777: unanswered, ask directly).
    assert "partial" in psyq_cli("administer", riskx, "--client", "C1", input="0\n0\n2\nq\n").output
    out = tmp_path / "de.html"
    made = psyq_cli("report", "--client", "C1", "--latest", "--language", "de", "-o", out)
    assert made.exit_code == 0, made.output
    text = html_text(out)
    assert "Gedanken andere zu verletzen. Heute abklären." in text
    assert "Assess risk today" not in text
    table = tmp_path / "de.txt"
    assert (
        psyq_cli("report", "--client", "C1", "--latest", "--language", "de", "-o", table).exit_code
        == 0
    )
    assert "(item r3): Gedanken andere zu verletzen. Heute abklären." in table.read_text()
    assert psyq_cli("record", riskx, "--client", "C2", "--answers", "0,0,0,0").exit_code == 0
    declined = psyq_cli("administer", riskx, "--client", "C2", input="0\n0\n777\nq\n")
    assert "partial" in declined.output, declined.output
    out = tmp_path / "es.html"
    assert (
        psyq_cli("report", "--client", "C2", "--latest", "--language", "es", "-o", out).exit_code
        == 0
    )
    text = html_text(out)
    assert "El ítem crítico r3 no se respondió (Pensamientos de dañar a otros)" in text
    assert "was not answered" not in text


def test_a_batch_report_in_another_language_says_an_unanswered_critical_item_in_it(
    psyq_cli: CLI, tmp_path: Path, riskx: str
) -> None:
    """``batch --language de``: a row whose critical item is blank gets a German report
    whose alert is German too (psyq's own sentence, quoting the German item text), as
    ``report --language de`` says it, not the English sentence inside a German alert."""
    data = tmp_path / "rows.csv"
    data.write_text("client_id,r1,r2,r3,r4\nC1,0,0,,0\n", encoding="utf-8")
    out = tmp_path / "out"
    made = psyq_cli("batch", data, "--instrument", riskx, "--out", out, "--format", "html",
                    "--language", "es", "--quiet")  # fmt: skip
    assert made.exit_code == 0, made.output
    text = html_text(out / "reports" / "C1_riskx.html")
    assert "El ítem crítico r3 no se respondió (Pensamientos de dañar a otros)" in text
    assert "was not answered" not in text
    single = tmp_path / "one.html"
    assert psyq_cli("report", riskx, "--answers", "0,0,,0", "--client", "C1", "--language", "es",
                    "-o", single).exit_code == 0  # fmt: skip
    assert "El ítem crítico r3 no se respondió" in html_text(single)


def test_an_improvement_beside_an_alert_is_the_totals_only(psyq_cli: CLI, tmp_path: Path) -> None:
    """PHQ-9 19, then 1 with item 9 at 1: "-18 reliable improvement, clinically
    significant" beside the suicidal-ideation alert reads as good news. The report's trend
    and the history say it is the change of the total only; a deterioration needs no such
    word, and without an alert neither does an improvement."""
    record = ("record", "phq9", "--client", "C1")
    assert (
        psyq_cli(*record, "--date", "2026-08-01", "--answers", "3,3,3,2,2,2,2,2,0").exit_code == 0
    )
    assert (
        psyq_cli(*record, "--date", "2026-09-01", "--answers", "0,0,0,0,0,0,0,0,1").exit_code == 0
    )
    assert (
        psyq_cli(*record, "--date", "2026-10-01", "--answers", "0,0,0,0,0,0,0,0,0").exit_code == 0
    )
    total_only = "The change of the total only: it does not lessen the critical flag"
    out = tmp_path / "r.html"
    assert psyq_cli("report", "--administration", "2", "-o", out).exit_code == 0
    text = html_text(out)
    assert f"clinically significant. {total_only}" in text
    calm = tmp_path / "calm.html"
    assert psyq_cli("report", "--administration", "3", "-o", calm).exit_code == 0
    assert total_only not in html_text(calm)
    history = psyq_cli("history", "C1").output
    [row] = [line for line in history.splitlines() if "2026-09-01" in line]
    assert "-18 reliable improvement* \u2020" in row
    [row] = [line for line in history.splitlines() if "2026-10-01" in line]
    assert "\u2020" not in row
    assert history.rstrip().endswith(
        "\u2020 beside a critical flag: the change of the score only; it does not lessen the flag"
    )


def test_a_risk_answered_away_through_psyq_is_in_clients_and_fhir_too(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """Item 9 answered 2, the form left, then resumed, gone back into (b) and item 9
    changed to 0: history and report say the earlier answers raised the critical flag;
    ``clients`` (which lists each latest form's critical flags) and the FHIR bundle's
    total Observation must say it too."""
    left = psyq_cli("administer", "phq9", "--client", "C1", input="0\n" * 8 + "2\nq\n")
    assert "partial administration 1" in left.output, left.output
    resumed = psyq_cli("administer", "--resume", "1", input="b\n0\n0\n")
    assert resumed.exit_code == 0, resumed.output
    history = psyq_cli("history", "C1").output
    said = "the earlier answers raised CRITICAL (item phq9_9): The client endorsed thoughts"
    assert said in history
    listed = psyq_cli("clients").output
    assert (
        "!!! CRITICAL in latest administration 1 (phq9) (item phq9_9): suicidal_ideation, raised "
        "by its earlier answers, since changed through psyq (kept as answer version 1)"
    ) in listed
    [client] = json.loads(psyq_cli("clients", "--json").output)
    [flag] = client["latest_critical_flags"]
    assert (flag["id"], flag["answer_version"]) == ("suicidal_ideation", 1)
    fhir = tmp_path / "r.fhir.json"
    assert psyq_cli("report", "--administration", "1", "-o", fhir).exit_code == 0
    notes = [
        n["text"]
        for e in json.loads(fhir.read_text(encoding="utf-8"))["entry"]
        for n in e["resource"].get("note", [])
    ]
    assert any(
        n.startswith("ANSWERS CHANGED: administration 1")
        and "the earlier answers raised CRITICAL (item phq9_9): The client endorsed thoughts" in n
        for n in notes
    ), notes


def test_a_report_of_a_form_whose_risk_was_answered_away_has_a_safety_alert(
    psyq_cli: CLI, tmp_path: Path, riskx: str
) -> None:
    """r3 answered "Often" (harm_others), the form left, resumed, and r3 changed to 0:
    the report's bands say "see the safety alert", so there is one, quoting the item and
    the answer as first saved with the flag's message (not a flag id in a banner), in
    the report's language too."""
    left = psyq_cli("administer", riskx, "--client", "C1", input="0\n0\n2\nq\n")
    assert "partial administration 1" in left.output, left.output
    assert psyq_cli("administer", "--resume", "1", input="b\n0\n0\n").exit_code == 0
    pdf = tmp_path / "r.pdf"
    made = psyq_cli("report", "--administration", "1", "-o", pdf)
    assert made.exit_code == 0, made.output
    text = " ".join(pdf_text(pdf).split())
    assert text.startswith(
        "SAFETY ALERT This form's answers as first saved (kept as answer version 1) raised a "
        "critical flag; they were changed after saving: Item 3: “Thoughts of hurting others” "
        "Answer as first saved: Often (2) The client reported thoughts of hurting others."
    ), text[:400]
    assert f"No concern {ONLY}" in text
    german = tmp_path / "r.html"
    assert (
        psyq_cli("report", "--administration", "1", "--language", "de", "-o", german).exit_code == 0
    )
    text = html_text(german)
    assert "Antwort, wie zuerst gespeichert: Oft (2)" in text
    assert "Gedanken andere zu verletzen. Heute abklären." in text
    # A form whose answers were changed without taking a risk away has no such alert.
    calm = psyq_cli("administer", riskx, "--client", "C2", input="1\n0\n0\nq\n")
    assert "partial administration 2" in calm.output, calm.output
    assert psyq_cli("administer", "--resume", "2", input="b\nb\n1\n0\n0\n").exit_code == 0
    assert "ANSWERS CHANGED: administration 2" in psyq_cli("history", "C2").output
    plain = tmp_path / "calm.html"
    assert psyq_cli("report", "--administration", "2", "-o", plain).exit_code == 0
    assert "Safety alert" not in html_text(plain)


def test_a_later_unfinished_forms_alert_quotes_the_answer_that_raised_it(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """``report --latest``: the PDF's alert for a later unfinished PHQ-9 quotes item 9
    and the answer given ("Nearly every day"), as this form's own alert does, not only
    the flag's message and an item id."""
    record = ("record", "phq9", "--client", "C1", "--date", "2026-09-01")
    assert psyq_cli(*record, "--answers", "0,0,0,0,0,0,0,0,0").exit_code == 0
    left = psyq_cli("administer", "phq9", "--client", "C1", input="0\n" * 8 + "3\nq\n")
    assert "partial administration 2" in left.output, left.output
    pdf = tmp_path / "r.pdf"
    assert psyq_cli("report", "--client", "C1", "--latest", "-o", pdf).exit_code == 0
    text = " ".join(pdf_text(pdf).split())
    assert "raised a critical flag: Item 9: “Thoughts that you would be better off dead" in text
    assert "in some way” Answer given: Nearly every day (3) The client endorsed" in text


def test_every_fhir_observation_carries_the_critical_note(psyq_cli: CLI) -> None:
    """A record system showing PHQ-2's Observation alone read "Negative screen (score band
    only; see the safety alert)" with no alert in it: the note was on the total's only."""
    made = psyq_cli("score", "phq9", "--answers", "0,0,0,0,0,0,0,0,2", "--format", "fhir")
    assert made.exit_code == 0, made.output
    observations = {
        e["resource"]["code"]["text"]: e["resource"]
        for e in json.loads(made.stdout)["entry"]
        if e["resource"]["resourceType"] == "Observation"
    }
    phq2 = observations["PHQ-9 PHQ-2 (items 1-2)"]
    assert "see the safety alert" in phq2["interpretation"][0]["text"]
    assert phq2["note"][0]["text"].startswith("CRITICAL (item phq9_9): ")
