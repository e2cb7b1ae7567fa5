"""Red-team pass 3 on "never hide a risk signal": a critical item positive, unanswered,
or in an unfinished form is shown in every output that shows that administration.

Each test is a gap found by trying the CLI: a batch row not scored for another reason
(a bad answer elsewhere, a bad date, an empty client id) whose critical item is
positive or unanswered.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from .definitions import definition

CLI = Callable[..., Result]

# A local instrument with its own critical item (r3, "Decline" 777 counts as missing)
# and its own critical flag, as a clinic writes one into $PSYQ_HOME/instruments/.
RISK = definition(
    "riskx",
    """\
    items:
      - {id: r1, text: Felt down, response_scale: freq}
      - {id: r2, text: Felt worried, response_scale: freq}
      - {id: r3, text: Thoughts of hurting others, response_scale: freq, critical: true}
      - {id: r4, text: Slept badly, response_scale: freq}
    scales:
      - id: total
        label: RTS total
        items: [r1, r2, r3, r4]
        missing: {max_missing: 1, prorate: true}
        bands:
          - {id: none, min: 0, max: 3, label: No concern, interpretation: All is well.}
          - {id: some, min: 4, max: 12, label: Some concern, severity: 2}
    flags:
      - id: harm_others
        level: critical
        message: The client reported thoughts of hurting others. Assess risk today.
        when: {item: r3, op: ">", value: 0}
    translations:
      de:
        source: Written in German for this test; not an instrument translation.
        title: Risikotestskala
        response_scales:
          freq: {0: Nie, 1: Manchmal, 2: Oft, 3: Immer, 777: Verweigert}
        items: {r1: Niedergeschlagen, r2: Besorgt, r3: Gedanken andere zu verletzen, r4: Schlecht}
        bands:
          total:
            none: {label: Keine Sorge, interpretation: Alles gut.}
            some: {label: Etwas Sorge}
        flags: {harm_others: Gedanken andere zu verletzen. Heute abklären.}
      es:
        source: Written in Spanish for this test; not an instrument translation.
        title: Escala de prueba
        response_scales:
          freq: {0: Nunca, 1: A veces, 2: A menudo, 3: Siempre, 777: Rechaza}
        items: {r1: Decaído, r2: Preocupado, r3: Pensamientos de dañar a otros, r4: Dormí mal}
        bands:
          total:
            none: {label: Sin preocupación, interpretation: Todo bien.}
            some: {label: Algo de preocupación}
        flags: {harm_others: Pensamientos de dañar a otros. Evaluar hoy.}
    """,
    title="Risk Test Scale",
    short_name="RTS",
    missing={777: "Decline"},
)


@pytest.fixture
def riskx(psyq_home: Path) -> str:
    folder = psyq_home / "instruments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "riskx.yaml").write_text(RISK, encoding="utf-8")
    return "riskx"


def errors_by_client(out: Path) -> dict[str, str]:
    with (out / "errors.csv").open(encoding="utf-8", newline="") as f:
        return {row["client_id"]: row["reason"] for row in csv.DictReader(f)}


PHQ9_ROWS = (
    "client_id,date," + ",".join(f"phq9_{i}" for i in range(1, 11)) + "\n"
    # Item 3 is not an allowed answer; item 9 is 2.
    "BAD_ANSWER,2026-01-05,1,1,7,1,1,1,1,1,2,0\n"
    # A date that is not a date; item 9 is 1.
    "BAD_DATE,2026-13-05,0,0,0,0,0,0,0,0,1,0\n"
    # Item 9 itself is not an allowed answer: unanswered, ask directly.
    "BAD_ITEM9,2026-01-05,0,0,0,0,0,0,0,0,x,0\n"
    # Item 9 left blank and item 1 not allowed.
    "BLANK_ITEM9,2026-01-05,9,0,0,0,0,0,0,0,,0\n"
    # Item 9 at 0: a bad answer elsewhere is only that.
    "NO_RISK,2026-01-05,5,0,0,0,0,0,0,0,0,0\n"
    "FINE,2026-01-05,0,0,0,0,0,0,0,0,0,0\n"
)


@pytest.mark.parametrize("reports", [False, True], ids=["scores-only", "reports"])
def test_a_batch_row_not_scored_still_names_its_critical_item(
    psyq_cli: CLI, tmp_path: Path, reports: bool
) -> None:
    data = tmp_path / "phq9.csv"
    data.write_text(PHQ9_ROWS, encoding="utf-8")
    out = tmp_path / "out"
    given = ["--format", "json"] if reports else ["--scores-only"]
    result = psyq_cli(
        "batch", data, "--instrument", "phq9", "--out", out, "--summary", "html", "--quiet", *given
    )
    assert result.exit_code == 1, result.output
    errors = errors_by_client(out)
    assert set(errors) == {"BAD_ANSWER", "BAD_DATE", "BAD_ITEM9", "BLANK_ITEM9", "NO_RISK"}
    assert errors["BAD_ANSWER"].startswith(
        "row 2: CRITICAL item phq9_9 answered 2 (More than half the days): act on it."
    )
    assert "Item phq9_3: '7' is not an allowed answer" in errors["BAD_ANSWER"]
    assert errors["BAD_DATE"].startswith(
        "row 3: CRITICAL item phq9_9 answered 1 (Several days): act on it."
    )
    assert "'2026-13-05' is not a date" in errors["BAD_DATE"]
    assert errors["BAD_ITEM9"].startswith("row 4: CRITICAL item phq9_9 answered x: act on it.")
    assert errors["BLANK_ITEM9"].startswith("row 5: CRITICAL item phq9_9 not answered: act on it.")
    assert "CRITICAL" not in errors["NO_RISK"]
    # Said on the terminal even with --quiet, in the cohort summary and summary.json.
    assert "!!! CRITICAL: 4 row(s) not scored name a critical item" in result.output
    summary = (out / "cohort-summary.html").read_text(encoding="utf-8")
    assert "CRITICAL: 4 row(s) not scored name a critical item" in summary
    assert summary.index("CRITICAL: 4 row(s)") < summary.index("Distribution of the")
    stats = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (stats["failed"], stats["failed_critical"]) == (5, 4)


def test_a_reverse_keyed_critical_item_is_named_with_its_label(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """EPDS item 10 is reverse-keyed: its answer 0 (the 1st option) is the most severe,
    so a row not scored names it with its label, never as a bare, calm-looking 0."""
    data = tmp_path / "epds.csv"
    items = ",".join(f"epds_{i}" for i in range(1, 11))
    data.write_text(
        f"client_id,{items}\nP0,0,0,3,0,3,3,3,3,9,0\nP3,0,0,3,0,3,3,3,3,9,3\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    result = psyq_cli("batch", data, "--instrument", "epds", "--out", out, "--scores-only")
    assert result.exit_code == 1, result.output
    errors = errors_by_client(out)
    assert errors["P0"].startswith(
        "row 2: CRITICAL item epds_10 answered 0 (1st option as printed): act on it. Item epds_9"
    )
    assert "CRITICAL" not in errors["P3"]  # the 4th option scores 0: no risk answered


def test_a_local_instruments_batch_row_not_scored_names_its_critical_flag(
    psyq_cli: CLI, tmp_path: Path, riskx: str
) -> None:
    data = tmp_path / "rows.csv"
    data.write_text(
        "client_id,date,r1,r2,r3,r4\n"
        "POSITIVE,2026-01-05,9,0,1,0\n"  # r1 not allowed; r3 at 1 raises harm_others
        "DECLINED,2026-01-05,1,9,777,0\n"  # r2 not allowed; r3 declined: counts as missing
        ",2026-01-05,0,0,3,0\n"  # no client id; r3 at 3
        "NONE,2026-01-05,9,0,0,0\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = psyq_cli("batch", data, "--instrument", riskx, "--out", out, "--scores-only")
    assert result.exit_code == 1, result.output
    errors = errors_by_client(out)
    assert errors["POSITIVE"].startswith(
        "row 2: CRITICAL item r3 answered 1 (Sometimes): act on it."
    )
    assert errors["DECLINED"].startswith(
        "row 3: CRITICAL item r3 answered 777 (Decline): act on it."
    )
    assert errors[""].startswith(
        "row 4: CRITICAL item r3 answered 3 (Always): act on it. The client id"
    )
    assert "CRITICAL" not in errors["NONE"]
    assert "!!! CRITICAL: 3 row(s) not scored name a critical item" in result.output


def test_export_says_which_partial_forms_it_left_out_raise_a_critical_flag(
    psyq_cli: CLI, tmp_path: Path, riskx: str
) -> None:
    # Stopped with q before the critical item (unanswered), and after it (positive).
    before = psyq_cli("administer", riskx, "--client", "C1", input="1\n0\nq\n")
    assert "saved as partial administration 1" in before.output, before.output
    after = psyq_cli("administer", "phq9", "--client", "C2", input="0\n" * 8 + "2\nq\n")
    assert "saved as partial administration 2" in after.output, after.output
    done = psyq_cli("record", "phq9", "--client", "C3", "--answers", "0,0,0,0,0,0,0,0,0")
    assert done.exit_code == 0, done.output
    out = tmp_path / "export.csv"
    result = psyq_cli("export", "-o", out)
    assert result.exit_code == 0, result.output
    assert "!!! CRITICAL: 2 partial administration(s) left out of this export" in result.output
    assert "--include-partial" in result.output
    assert "partial administration 1 (riskx) (item r3): critical_item_unanswered" in result.output
    assert "partial administration 2 (phq9) (item phq9_9): suicidal_ideation" in result.output
    # De-identified, it names no administration; with the partial forms, it needs no note.
    hidden = psyq_cli("export", "--deidentify", "--format", "jsonl")
    assert "!!! CRITICAL: 2 partial administration(s) left out" in hidden.output
    assert "partial administration 1" not in hidden.output
    whole = psyq_cli("export", "--include-partial", "-o", tmp_path / "all.csv")
    assert whole.exit_code == 0 and "left out" not in whole.output, whole.output
    only = psyq_cli("export", "--instrument", "phq9", "-o", tmp_path / "phq9.csv")
    assert "!!! CRITICAL: 1 partial administration(s) left out" in only.output


@pytest.fixture
def markdown(psyq_register: Callable[..., object]) -> str:
    """The example third-party plugin, whose ``markdown`` format is a plugin's text output."""
    import psyq_example.plugin

    psyq_register(psyq_example.plugin)
    return "markdown"


def test_a_plugin_text_format_marks_the_band_and_shows_partial_and_later_alerts(
    psyq_cli: CLI, tmp_path: Path, riskx: str, markdown: str
) -> None:
    """The example plugin's ``markdown`` format, through the CLI: a band of low concern
    beside the alert is the score's band only, a prorated total says so, an unfinished
    form says PARTIAL before the scores, and ``--latest`` names a later unfinished
    form's critical flag."""
    declined = psyq_cli("score", riskx, "--answers", "1,0,777,0", "--format", markdown)
    assert declined.exit_code == 0, declined.output
    text = declined.output
    assert "**CRITICAL (item r3):** Critical item r3 was not answered" in text
    assert "| No concern (score band only; see the safety alert) |" in text
    assert "| No concern |" not in text
    assert "RTS total: prorated from 3 of 4 answers (unprorated 1)" in text
    assert text.index("CRITICAL") < text.index("| scale |")
    # PHQ-9 item 9 at 1, every other item 0: "Minimal" is the score's band only.
    phq9 = psyq_cli("score", "phq9", "--answers", "0,0,0,0,0,0,0,0,1", "--format", markdown)
    assert "| Minimal (score band only; see the safety alert) |" in phq9.output

    assert psyq_cli("record", riskx, "--client", "C1", "--answers", "1,0,0,0").exit_code == 0
    stopped = psyq_cli("administer", riskx, "--client", "C1", input="1\nq\n")
    assert "saved as partial administration 2" in stopped.output, stopped.output
    partial = tmp_path / "partial.md"
    made = psyq_cli("report", "--administration", "2", "--format", markdown, "-o", partial)
    assert made.exit_code == 0, made.output
    shown = partial.read_text(encoding="utf-8")
    assert "**PARTIAL — 1 of 4 items answered**" in shown
    assert shown.index("PARTIAL") < shown.index("CRITICAL (item r3)") < shown.index("| scale |")
    latest = tmp_path / "latest.md"
    made = psyq_cli(
        "report", riskx, "--latest", "--client", "C1", "--format", markdown, "-o", latest
    )
    assert made.exit_code == 0, made.output
    shown = latest.read_text(encoding="utf-8")
    assert "CRITICAL in later partial administration 2" in shown
    assert shown.index("CRITICAL in later partial") < shown.index("| scale |")
    assert "| No concern (score band only; see the safety alert) |" in shown


@pytest.mark.parametrize(
    ("language", "withheld", "reassurance"),
    [
        ("de", "Ein kritischer Hinweis liegt vor", "Alles gut."),
        ("es", "Hay una alerta crítica", "Todo bien."),
    ],
)
def test_a_withheld_interpretation_is_in_the_reports_language(
    psyq_cli: CLI, tmp_path: Path, riskx: str, language: str, withheld: str, reassurance: str
) -> None:
    """Beside a critical flag a band of no concern's text is withheld; the sentence
    saying so is in the report's language, never English in a German or Spanish report."""
    for answers in ("0,0,1,0", "1,0,777,0"):  # harm_others; r3 declined (unanswered)
        out = tmp_path / f"{language}-{answers}.html"
        made = psyq_cli(
            "report",
            riskx,
            "--answers",
            answers,
            "--client",
            "C1",
            "--language",
            language,
            "-o",
            out,
        )
        assert made.exit_code == 0, made.output
        page = out.read_text(encoding="utf-8")
        assert withheld in page
        assert "reassurance does not apply" not in page
        assert reassurance not in page
        assert page.index(withheld) > page.index('class="alert')


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("de", "Die kritische Frage r3 wurde nicht beantwortet (Gedanken andere zu verletzen). "
               "Fragen Sie die Person direkt danach."),
        ("es", "El ítem crítico r3 no se respondió (Pensamientos de dañar a otros). "
               "Pregunte directamente a la persona por él."),
    ],
)  # fmt: skip
def test_an_unanswered_critical_items_alert_is_in_the_reports_language(
    psyq_cli: CLI, tmp_path: Path, riskx: str, language: str, said: str
) -> None:
    """psyq's own flag for a critical item left unanswered (r3 declined, 777) quotes the
    item in the report's language and says so in it: it was English, quoting the
    English item, in a German or Spanish report (HTML, JSON, FHIR alike)."""
    for name in ("r.html", "r.json", "r.fhir.json"):
        out = tmp_path / f"{language}-{name}"
        made = psyq_cli("report", riskx, "--answers", "1,0,777,0", "--client", "C1",
                        "--language", language, "-o", out)  # fmt: skip
        assert made.exit_code == 0, made.output
        page = out.read_text(encoding="utf-8")
        assert said in (html.unescape(page) if name.endswith("html") else page)
        assert "Ask the client about it directly" not in page
    english = tmp_path / "en.json"
    made = psyq_cli("report", riskx, "--answers", "1,0,777,0", "--client", "C1", "-o", english)
    assert made.exit_code == 0, made.output
    assert "Critical item r3 was not answered (Thoughts of hurting others). Ask the client " \
        "about it directly." in english.read_text(encoding="utf-8")  # fmt: skip


BAND_ONLY = "(score band only; see the safety alert)"


def test_the_band_an_unprorated_score_would_have_is_no_reassurance_beside_an_alert(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """EPDS item 10 (reverse-keyed) left blank: the total is prorated from 9 answers to
    10, "Possible depression"; unprorated, 9 would be "Below the cut-off". Beside the
    critical flag that band is the score's band only in every output that names it."""
    blank10 = "3,3,0,0,3,3,3,3,3,"
    would_be = f"unprorated 9 would be Below the cut-off {BAND_ONLY}"
    table = psyq_cli("score", "epds", "--answers", blank10)
    assert table.exit_code == 0, table.output
    assert "!!! CRITICAL (item epds_10)" in table.output and would_be in table.output
    fhir = psyq_cli("score", "epds", "--answers", blank10, "--format", "fhir")
    assert f"PRORATED: prorated from 9 of 10 answers; band from 9 of 10 answers: {would_be}." in (
        fhir.output
    )
    page = tmp_path / "epds.html"
    made = psyq_cli("report", "epds", "--answers", blank10, "--client", "C1", "-o", page)
    assert made.exit_code == 0, made.output
    assert f"unprorated 9 would be Below the cut-off ({BAND_ONLY[1:-1]})." in page.read_text()
    assert psyq_cli("record", "epds", "--client", "C1", "--answers", blank10).exit_code == 0
    history = psyq_cli("history", "C1")
    assert would_be in history.output, history.output
    # Item 10 answered "4th option" (no risk), item 9 blank: the same numbers, no alert,
    # and the band is named as it is.
    calm = psyq_cli("score", "epds", "--answers", "3,3,0,0,3,3,3,3,,3")
    assert "CRITICAL" not in calm.output
    assert "unprorated 9 would be Below the cut-off" in calm.output
    assert BAND_ONLY not in calm.output


@pytest.mark.parametrize("suffix", [".txt", ".json", ".fhir.json"])
def test_a_stopped_administration_still_writes_the_report_asked_for(
    psyq_cli: CLI, tmp_path: Path, riskx: str, suffix: str
) -> None:
    """``administer --report`` stopped with q before the critical item: the file the
    clinician asked for is written, marked partial, with the unanswered critical item."""
    report = tmp_path / f"r3{suffix}"
    stopped = psyq_cli("administer", riskx, "--client", "C1", "--report", report, input="1\nq\n")
    assert "saved as partial administration 1" in stopped.output, stopped.output
    assert f"report written to {report} (PARTIAL" in stopped.output
    text = report.read_text(encoding="utf-8")
    if suffix == ".txt":
        assert text.index("PARTIAL — 1 of 4 items answered") < text.index("!!! CRITICAL (item r3)")
    elif suffix == ".json":
        doc = json.loads(text)
        assert doc["report"]["status"] == "partial"
        assert [f["id"] for f in doc["flags"]] == ["critical_item_unanswered"]
    else:
        bundle = json.loads(text)
        assert bundle["entry"][0]["resource"]["status"] == "in-progress"
        assert "critical_item_unanswered" in text
    # Resumed and finished, --force replaces it with the complete one.
    done = psyq_cli("administer", "--resume", "1", "--report", report, "--force", input="0\n2\n0\n")
    assert done.exit_code == 0, done.output
    final = report.read_text(encoding="utf-8")
    assert "PARTIAL" not in final and "in-progress" not in final
    assert '"status": "partial"' not in final and "harm_others" in final.replace(
        "The client reported thoughts of hurting others", "harm_others"
    )
    nothing = psyq_cli(
        "administer", riskx, "--client", "C2", "--report", tmp_path / "none.txt", input="q\n"
    )
    assert "no report written" in nothing.output and not (tmp_path / "none.txt").exists()


def test_a_fhir_observations_first_note_is_its_critical_flag(
    psyq_cli: CLI, tmp_path: Path, riskx: str
) -> None:
    """A provisional instrument's notice and the proration note come after the alert."""
    scored = psyq_cli("score", riskx, "--answers", "1,0,777,0", "--format", "fhir")
    assert scored.exit_code == 0, scored.output
    (obs,) = [
        e["resource"]
        for e in json.loads(scored.output)["entry"]
        if e["resource"]["resourceType"] == "Observation"
    ]
    notes = [n["text"] for n in obs["note"]]
    assert notes[0].startswith("CRITICAL (item r3): Critical item r3 was not answered")
    assert notes[1].startswith("Provisional instrument")
    assert notes[2] == "PRORATED: prorated from 3 of 4 answers (unprorated 1)."
    # report --latest: a later unfinished form's alert comes before the notices too.
    assert psyq_cli("record", riskx, "--client", "C1", "--answers", "0,0,0,0").exit_code == 0
    assert "partial" in psyq_cli("administer", riskx, "--client", "C1", input="1\nq\n").output
    out = tmp_path / "latest.fhir.json"
    made = psyq_cli("report", riskx, "--latest", "--client", "C1", "-o", out)
    assert made.exit_code == 0, made.output
    (obs,) = [
        e["resource"]
        for e in json.loads(out.read_text())["entry"]
        if e["resource"]["resourceType"] == "Observation"
    ]
    assert obs["note"][0]["text"].startswith("CRITICAL in later partial administration 2")


def test_the_report_commands_terminal_line_leads_with_the_alert(
    psyq_cli: CLI, tmp_path: Path, riskx: str
) -> None:
    out = tmp_path / "r.txt"
    made = psyq_cli("report", riskx, "--answers", "0,0,1,0", "--client", "C1", "-o", out)
    assert made.exit_code == 0, made.output
    assert made.stderr.startswith(f"wrote {out} (table): RTS: CRITICAL (item r3): harm_others; ")
    assert made.stderr.rstrip().endswith(f"total 1 No concern {BAND_ONLY}")
    calm = psyq_cli("report", riskx, "--answers", "0,0,0,0", "--client", "C1", "-o", out, "--force")
    assert calm.stderr == f"wrote {out} (table): RTS total 0 No concern\n"


def test_printed_json_puts_the_alert_and_a_partial_status_before_the_scores(
    psyq_cli: CLI, tmp_path: Path, riskx: str
) -> None:
    scored = psyq_cli("score", "epds", "--answers", "3,3,0,0,3,3,3,3,3,2", "--json")
    assert scored.exit_code == 0, scored.output
    text = scored.output
    assert list(json.loads(text))[:2] == ["instrument", "flags"]
    assert text.index('"self_harm_thoughts"') < text.index('"scores"')
    assert "partial" in psyq_cli("administer", riskx, "--client", "C1", input="1\nq\n").output
    out = tmp_path / "partial.json"
    assert psyq_cli("report", "--administration", "1", "-o", out).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert list(json.loads(text))[:3] == ["instrument", "report", "flags"]
    assert text.index('"status": "partial"') < text.index('"scores"')


def test_history_leads_with_a_later_unfinished_forms_critical_flag(
    psyq_cli: CLI, riskx: str
) -> None:
    """``history``: a partial form's critical flag is named under the heading, before
    the score table, and the complete form before it shows its band as the score's only
    (as ``report --latest`` does)."""
    assert psyq_cli("record", riskx, "--client", "C1", "--answers", "0,0,0,0").exit_code == 0
    assert psyq_cli("record", "phq9", "--client", "C1", "--answers", "0," * 8 + "0").exit_code == 0
    assert "partial" in psyq_cli("administer", riskx, "--client", "C1", input="1\nq\n").output
    text = psyq_cli("history", "C1").output
    lines = text.splitlines()
    assert lines[1] == (
        "!!! CRITICAL in partial administration 3 (riskx) (item r3): critical_item_unanswered "
        "(details below)"
    )
    assert f"No concern {BAND_ONLY}" in text
    # Another instrument's form is not the one the unfinished form follows.
    assert "Minimal" in text and f"Minimal {BAND_ONLY}" not in text
    assert text.index("(details below)") < text.index("  id  date")


@pytest.mark.parametrize("given", [["--scores-only"], ["--format", "json"]])
def test_a_quiet_batch_still_says_how_many_rows_raise_a_critical_flag(
    psyq_cli: CLI, tmp_path: Path, given: list[str]
) -> None:
    data = tmp_path / "phq9.csv"
    data.write_text(
        "client_id," + ",".join(f"phq9_{i}" for i in range(1, 10)) + "\n"
        "A,0,0,0,0,0,0,0,0,1\n"  # item 9 at 1: suicidal_ideation
        "B,0,0,0,0,0,0,0,0,\n"  # item 9 blank: critical_item_unanswered
        "C,2,2,2,2,2,2,2,2,0\n"  # flagged (major depressive syndrome), nothing critical
        "D,0,0,0,0,0,0,0,0,0\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = psyq_cli(
        "batch", data, "--instrument", "phq9", "--out", out, "--quiet", "--summary", "html", *given
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == (
        f"!!! CRITICAL: 2 row(s) raise a critical flag: see the flags column of "
        f"{out / 'scores.csv'} and the cohort summary\n"
    )
    stats = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (stats["flagged"], stats["critical"]) == (3, 2)
    assert "<strong>2</strong> with a critical flag" in (out / "cohort-summary.html").read_text()
    loud = psyq_cli("batch", data, "--instrument", "phq9", "--out", out, "--force", *given)
    assert "4 rows: 4 scored, 0 failed, 3 flagged (2 critical)" in loud.stderr


def test_validate_notes_a_critical_item_no_critical_flag_tests(
    psyq_cli: CLI, tmp_path: Path, riskx: str
) -> None:
    """A critical item whose answer no critical flag tests: a risk answer ("Always")
    would raise nothing, only a blank would; validate says so."""
    bare = tmp_path / "bare.yaml"
    bare.write_text(RISK.replace("id: riskx", "id: riskbare").split("flags:")[0])
    checked = psyq_cli("validate", bare)
    assert checked.exit_code == 0, checked.output
    assert "note" in checked.stderr and "critical item r3: no critical flag tests its answer" in (
        checked.stderr
    )
    # Only a "missing" test of it is not a test of its answer either.
    missing_only = tmp_path / "missing.yaml"
    missing_only.write_text(
        RISK.replace("id: riskx", "id: riskmiss")
        .replace('when: {item: r3, op: ">", value: 0}', "when: {item: r3, missing: true}")
        .split("translations:")[0]
    )
    assert "critical item r3: no critical flag" in psyq_cli("validate", missing_only).stderr
    shipped = psyq_cli("validate")
    assert shipped.exit_code == 0, shipped.output
    assert "no critical flag tests" not in shipped.stderr  # PHQ-9, BDI-II, EPDS, local riskx


def test_rescore_says_which_stored_forms_now_raise_a_critical_flag(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    """A definition that gained a critical flag: rescoring the stored forms with it names
    each one that now raises it (the totals alone do not change)."""
    folder = psyq_home / "instruments"
    folder.mkdir(parents=True)
    installed = folder / "riskx.yaml"
    installed.write_text(RISK.split("flags:")[0], encoding="utf-8")  # r3 critical, no flag
    assert psyq_cli("record", "riskx", "--client", "C1", "--answers", "0,0,2,0").exit_code == 0
    assert psyq_cli("record", "riskx", "--client", "C1", "--answers", "0,0,0,0").exit_code == 0
    installed.write_text(RISK.split("translations:")[0], encoding="utf-8")  # with harm_others
    result = psyq_cli("rescore", "--instrument", "riskx")
    assert result.exit_code == 0, result.output
    assert (
        "!!! CRITICAL now raised on administration 1 (item r3): The client reported thoughts "
        "of hurting others. Assess risk today."
    ) in result.stdout
    assert "CRITICAL now raised on administration 2" not in result.stdout
