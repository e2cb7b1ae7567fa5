"""The clinical safety net (issue 9): each case a review found, through the CLI.

No risk signal may be lost to a skipped item, an unfinished form, or a
reassuring sentence beside an alert.
"""

from __future__ import annotations

import itertools
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
    # Left off the end, it is refused as a miscount (item 9 must be marked as not answered).
    short = psyq_cli("score", "phq9", "--answers", "3,3,3,3,3,3,3,3")
    assert short.exit_code == 2 and "none for phq9_9" in short.stderr
    for answers in ("3,3,3,3,3,3,3,3,-", "3,3,3,3,3,3,3,3,"):
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
        "report", "phq9", "--answers", "0,0,0,0,0,0,0,0,0", "--client", "C1", "-o", str(out),
        "--force",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
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


def record(psyq_cli: CLI, *args: str) -> None:
    result = psyq_cli("record", *args)
    assert result.exit_code == 0, result.output


def test_proration_that_changes_the_band_is_said_everywhere(psyq_cli: CLI) -> None:
    # GAD-7 9 from 6 of 7 answers: 9 x 7 / 6 = 10.5 -> 11 (Moderate); 9 would be Mild.
    sentence = "band from 6 of 7 answers: unprorated 9 would be Mild"
    answers = "2,2,2,1,1,1,-"
    table = psyq_cli("score", "gad7", "--answers", answers).output
    assert "6/7 prorated" in table and f"total: prorated from 6 of 7 answers; {sentence}" in table
    doc = score_json(psyq_cli, "gad7", answers)
    total = doc["scores"]["total"]  # type: ignore[index]
    assert (total["value"], total["raw"], total["band"], total["prorated"]) == (
        11,
        9,
        "moderate",
        True,
    )
    fhir = json.loads(psyq_cli("score", "gad7", "--answers", answers, "--format", "fhir").output)
    obs = fhir["entry"][1]["resource"]
    assert obs["valueQuantity"]["value"] == 11
    assert {"text": f"PRORATED: prorated from 6 of 7 answers; {sentence}."} in obs["note"]
    record(psyq_cli, "gad7", "--client", "C0009", "--date", "2026-10-01", "--answers", answers)
    record(
        psyq_cli,
        "gad7",
        "--client",
        "C0009",
        "--date",
        "2026-11-01",
        "--answers",
        ",".join("1" * 7),
    )
    history = psyq_cli("history", "C0009").output
    assert "11 (prorated 6/7)" in history
    assert f"PRORATED: total 2026-10-01: prorated from 6 of 7 answers; {sentence}" in history
    csv_out = psyq_cli("export", "--format", "csv").output.splitlines()
    header = csv_out[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in csv_out[1:]]
    assert [(r["score.total"], r["prorated.total"]) for r in rows] == [
        ("11", "true"),
        ("7", "false"),
    ]
    jsonl = [
        json.loads(line) for line in psyq_cli("export", "--format", "jsonl").output.splitlines()
    ]
    assert [r["prorated"]["total"] for r in jsonl] == [True, False]


def test_fhir_status_completed_when_every_scored_item_is_answered(psyq_cli: CLI) -> None:
    def status(answers: str) -> str:
        out = psyq_cli("score", "phq9", "--answers", answers, "--format", "fhir").output
        value: str = json.loads(out)["entry"][0]["resource"]["status"]
        return value

    assert status("1,1,1,1,1,1,1,1,1") == "completed"  # item 10 (unscored) blank
    assert status("1,1,1,1,1,1,1,1,1,2") == "completed"
    assert status("1,1,1,1,1,1,1,1,-,2") == "in-progress"  # item 9 blank


# -- reports -----------------------------------------------------------------


def pdf_pages(path: Path) -> list[str]:
    import io

    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


PHQ9_COURSE = [  # nine days apart at the end: the dates that once overprinted
    ("2026-01-05", "3,3,3,3,2,2,2,2,1"),
    ("2026-03-02", "3,3,2,2,2,2,2,1,0"),
    ("2026-06-01", "2,2,2,2,2,2,1,1,0"),
    ("2026-09-07", "2,2,1,1,1,1,1,1,0"),
    ("2026-11-20", "1,1,1,1,1,1,0,0,0"),
    ("2026-11-29", "1,0,1,0,0,0,0,0,0"),
]


def test_partial_report_says_partial_on_every_page(psyq_cli: CLI, tmp_path: Path) -> None:
    for day, answers in PHQ9_COURSE[:-1]:
        record(psyq_cli, "phq9", "--client", "C0046", "--date", day, "--answers", answers)
    result = psyq_cli(
        "administer", "phq9", "--client", "C0046", input="0\n0\n0\n0\n0\n0\n0\n0\n3\nq\n"
    )
    assert result.exit_code == 1
    out = tmp_path / "partial.pdf"
    result = psyq_cli("report", "--administration", "6", "-o", str(out))
    assert result.exit_code == 0, result.output
    pages = pdf_pages(out)
    assert len(pages) >= 2  # the trend makes this a two-page report
    for page in pages:
        assert "PARTIAL — 9 of 10 items answered" in page
    assert "The form was not finished" in pages[0]
    assert "PHQ-9 (PARTIAL administration): CRITICAL (item phq9_9): suicidal_ideation; total 3" in (
        result.stderr
    )
    text = tmp_path / "partial.txt"
    psyq_cli("report", "--administration", "6", "-o", str(text))
    assert "PARTIAL — 9 of 10 items answered" in text.read_text().splitlines()[2]
    doc = tmp_path / "partial.json"
    psyq_cli("report", "--administration", "6", "-o", str(doc))
    assert json.loads(doc.read_text())["report"]["status"] == "partial"
    html = tmp_path / "complete.html"
    psyq_cli("report", "--administration", "5", "-o", str(html))
    assert "PARTIAL" not in html.read_text()


def test_critical_item_is_highlighted_and_unanswered_says_ask(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    result = psyq_cli(
        "report", "phq9", "--answers", "1,1,1,1,1,1,1,1,-", "--client", "C1", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    row = html[html.index('critical-item">') :]
    row = row[: row.index("</tr>")]
    assert "critical item" in row and "Thoughts that you would be better off dead" in row
    assert "not answered: ask directly" in row
    alert = html[html.index('<section class="section-safety-alert') :]
    alert = alert[: alert.index("</section>")]
    assert "Not answered: ask the client directly." in alert
    assert "(no label)" not in alert


def test_trend_dates_never_overprint_and_critical_points_are_marked(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    import re

    for day, answers in PHQ9_COURSE:
        record(psyq_cli, "phq9", "--client", "C0100", "--date", day, "--answers", answers)
    out = tmp_path / "trend.html"
    result = psyq_cli("report", "--client", "C0100", "--latest", "-o", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    svg = html[html.index('<section class="section-trend"') :]
    svg = svg[: svg.index("</svg>")]
    dates = [
        (float(x), d)
        for x, d in re.findall(r'<text x="([\d.]+)"[^>]*>(\d{4}-\d\d-\d\d)</text>', svg)
    ]
    assert dates[-1][1] == "2026-11-29"  # the current one is always labelled
    assert all(b[0] - a[0] >= 54 for a, b in itertools.pairwise(dates))
    assert "2026-11-20" not in [d for _, d in dates]  # 9 days before: no room
    # Only the first administration (item 9 at 1) raised a critical flag.
    assert svg.count('class="critical-mark"') == 1
    assert "Red triangles (!) mark administrations with a critical flag" in html
    # Response and remission against the first (21): 2 is a 90 % drop and below 5.
    assert "response (a drop of 50 % or more from 21): yes; remission (below 5): yes" in html


def test_no_near_blank_second_page(psyq_cli: CLI, tmp_path: Path) -> None:
    sentence = "Client reports sleeping better this week and wants to reduce sessions. "
    for n in (2, 6, 10):
        out = tmp_path / f"n{n}.pdf"
        result = psyq_cli(
            "report", "phq9", "--answers", "1,2,1,1,1,1,1,1,1,2", "--client", "C1",
            "--note", sentence * n, "-o", str(out),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        pages = pdf_pages(out)
        # The citations never stand alone on a page: what precedes them comes along.
        assert len(pages) == 1 or "Client reports sleeping" in pages[-1], (n, pages[-1][:80])


def test_one_provisional_caveat_in_the_report(psyq_cli: CLI, tmp_path: Path) -> None:
    from psyq.models import PROVISIONAL_NOTICE

    out = tmp_path / "ccts.html"
    result = psyq_cli("report", "ccts", "--answers", ",".join(["2"] * 16), "--client", "C1",
                      "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "PROVISIONAL INSTRUMENT" in html
    assert PROVISIONAL_NOTICE not in html  # the banner's title says it
    assert html.count("no norms and no validation study") == 1


def test_history_and_clients_show_a_partial_forms_flags(psyq_cli: CLI) -> None:
    answers = "0\n0\n0\n0\n0\n0\n0\n0\n3\nq\n"
    assert psyq_cli("administer", "phq9", "--client", "C0046", input=answers).exit_code == 1
    history = psyq_cli("history", "C0046").output
    assert "PARTIAL: 9 of 10 items answered" in history
    assert "CRITICAL (item phq9_9): The client endorsed thoughts" in history
    docs = json.loads(psyq_cli("history", "C0046", "--json").output)
    [doc] = docs
    assert doc["administration"]["status"] == "partial"
    assert (doc["administration"]["answered"], doc["administration"]["items"]) == (9, 10)
    assert [(f["id"], f["level"], f["item"]) for f in doc["flags"]] == [
        ("suicidal_ideation", "critical", "phq9_9")
    ]
    clients = psyq_cli("clients").output
    assert "!!! CRITICAL in partial administration 1 (phq9) (item phq9_9): suicidal_ideation" in (
        clients
    )
    [client] = json.loads(psyq_cli("clients", "--json").output)
    assert [(f["administration"], f["id"]) for f in client["partial_flags"]] == [
        (1, "suicidal_ideation")
    ]


def test_skipped_item_9_is_never_a_plain_27_anywhere(psyq_cli: CLI, tmp_path: Path) -> None:
    answers = "3,3,3,3,3,3,3,3,-"
    record(psyq_cli, "phq9", "--client", "C0001", "--date", "2026-11-02", "--answers", answers)
    history = psyq_cli("history", "C0001").output
    row = next(line for line in history.splitlines() if "2026-11-02" in line)
    assert "27 (prorated 8/9)" in row and "CRITICAL (item phq9_9): critical_item_unanswered" in row
    csv_out = psyq_cli("export", "--format", "csv").output.splitlines()
    header = csv_out[0].split(",")
    [row_csv] = [dict(zip(header, line.split(","), strict=True)) for line in csv_out[1:]]
    assert row_csv["prorated.total"] == "true"
    assert "critical_item_unanswered" in row_csv["flags"].split(";")
    fhir = json.loads(psyq_cli("score", "phq9", "--answers", answers, "--format", "fhir").output)
    obs = fhir["entry"][1]["resource"]
    notes = [n["text"] for n in obs["note"]]
    assert any(
        n.startswith("CRITICAL (item phq9_9): Critical item phq9_9 was not answered") for n in notes
    )
    assert "PRORATED: prorated from 8 of 9 answers (unprorated 24)." in notes
    assert fhir["entry"][0]["resource"]["status"] == "in-progress"
    out = tmp_path / "r.html"
    assert psyq_cli("report", "--client", "C0001", "--latest", "-o", str(out)).exit_code == 0
    html = out.read_text()
    assert "Not answered: ask the client directly." in html
    assert "rounded half up to 27" in html  # the missing-data note explains the 27
