"""A band of low concern beside a critical flag is the score's band only, never reassurance.

PHQ-9 with item 9 endorsed and a low total is "Minimal" (or "Mild") by the manual's
cut-offs (Kroenke et al. 2001): the band stays factual, but every output that shows it
beside the alert says it is the score's band only ("Minimal (score band only; see the
safety alert)"; in JSON, ``band_beside_alert``), and a band text that would reassure
(EPDS "Possible depression": repeat in 2-4 weeks) is withheld. A band of concern
("Moderately severe") and any band without a critical flag are shown as they always were.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

CLI = Callable[..., Result]
ONLY = "(score band only; see the safety alert)"
ITEM9 = "0,0,0,0,0,0,0,0,1"  # total 1, Minimal, item 9 endorsed
NOTHING = "0,0,0,0,0,0,0,0,0"


def html_text(path: Path) -> str:
    text = re.sub(r"<(style|svg)\b.*?</\1>", " ", path.read_text(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def band_cells(output: str) -> list[str]:
    """The band column of the table format's score rows."""
    rows = [line for line in output.splitlines() if re.match(r"(total|phq2)\s+\d", line)]
    return [re.split(r"\s{2,}", row)[3] for row in rows]


def test_score_and_json_qualify_the_band_beside_a_critical_flag(psyq_cli: CLI) -> None:
    flagged = psyq_cli("score", "phq9", "--answers", ITEM9)
    assert "!!! CRITICAL" in flagged.output
    assert band_cells(flagged.output) == [f"Minimal {ONLY}", f"Negative screen {ONLY}"]
    doc = json.loads(psyq_cli("score", "phq9", "--answers", ITEM9, "--json").output)
    total = doc["scores"]["total"]
    assert total["band_label"] == "Minimal"  # the manual's band, as it is
    assert "does not lessen the flag" in total["band_beside_alert"]
    assert "band_beside_alert" in doc["scores"]["phq2"]
    # A band of concern is no reassurance: beside the flag it stays as it is.
    concern = psyq_cli("score", "phq9", "--answers", "2,3,2,3,1,2,2,1,1")
    assert "!!! CRITICAL" in concern.output
    assert band_cells(concern.output) == ["Moderately severe", "Positive screen"]
    doc = json.loads(psyq_cli("score", "phq9", "--answers", "2,3,2,3,1,2,2,1,1", "--json").output)
    assert not any("band_beside_alert" in s for s in doc["scores"].values())
    plain = psyq_cli("score", "phq9", "--answers", NOTHING)
    assert band_cells(plain.output) == ["Minimal", "Negative screen"]
    doc = json.loads(psyq_cli("score", "phq9", "--answers", NOTHING, "--json").output)
    assert "band_beside_alert" not in doc["scores"]["total"]


def test_a_mild_band_is_marked_and_its_wait_and_see_text_withheld(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    mild = "1,1,1,1,1,0,0,0,2"  # total 7, Mild ("watchful waiting"), item 9 endorsed
    flagged = psyq_cli("score", "phq9", "--answers", mild)
    assert "!!! CRITICAL" in flagged.output
    assert band_cells(flagged.output) == [f"Mild {ONLY}", f"Negative screen {ONLY}"]
    doc = json.loads(psyq_cli("score", "phq9", "--answers", mild, "--json").output)
    assert doc["scores"]["total"]["band_label"] == "Mild"
    assert "does not lessen the flag" in doc["scores"]["total"]["band_beside_alert"]
    # EPDS 11, "Possible depression", whose text asks to repeat the scale in 2-4 weeks;
    # item 10 (thoughts of self-harm) at "Yes, quite often". The EPDS has no text of its
    # own for this band beside the flag: psyq withholds the band's.
    possible = "3,3,3,2,3,3,3,3,3,0"
    out = tmp_path / "epds.html"
    made = psyq_cli("report", "epds", "--answers", possible, "--client", "C1", "-o", out)
    assert made.exit_code == 0, made.output
    assert (
        f"EPDS: CRITICAL (item epds_10): self_harm_thoughts; total 11 Possible depression {ONLY}"
        in (made.output)
    )
    text = html_text(out)
    assert "2-4 weeks" not in text
    assert "this band's reassurance does not apply. Act on the flag first." in text
    assert "† Score band only" in text
    # Without the flag, the same band keeps its own text and no mark.
    unflagged = "3,3,3,2,3,0,3,3,3,3"  # item 6 scores 3 instead of item 10
    out = tmp_path / "epds-plain.html"
    made = psyq_cli("report", "epds", "--answers", unflagged, "--client", "C1", "-o", out)
    assert made.exit_code == 0 and "CRITICAL" not in made.output, made.output
    assert "total 11 Possible depression" in made.output and ONLY not in made.output
    assert "repeat the EPDS in 2-4 weeks" in html_text(out)


def test_history_and_record_qualify_it_on_the_flagged_form_only(psyq_cli: CLI) -> None:
    record = ("record", "phq9", "--client", "C0050")
    recorded = psyq_cli(*record, "--date", "2026-09-01", "--answers", ITEM9)
    assert f"Minimal {ONLY}" in recorded.output
    assert psyq_cli(*record, "--date", "2026-10-01", "--answers", NOTHING).exit_code == 0
    history = psyq_cli("history", "C0050").output
    [flagged] = [line for line in history.splitlines() if "2026-09-01" in line]
    [plain] = [line for line in history.splitlines() if "2026-10-01" in line]
    assert f"Minimal {ONLY}" in flagged and "CRITICAL (item phq9_9): suicidal_ideation" in flagged
    assert "Minimal" in plain and ONLY not in plain
    first, second = json.loads(psyq_cli("history", "C0050", "--json").output)
    assert "band_beside_alert" in first["scores"]["total"]
    assert "band_beside_alert" not in second["scores"]["total"]


def test_report_marks_the_band_in_the_table_and_the_chart_caption(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    made = psyq_cli("report", "phq9", "--answers", ITEM9, "--client", "C1", "-o", out)
    assert made.exit_code == 0, made.output
    assert (
        f"PHQ-9: CRITICAL (item phq9_9): suicidal_ideation; total 1 Minimal {ONLY}" in made.output
    )
    page = out.read_text()
    assert re.search(r"Minimal</span><sup[^>]*>†</sup>", page)  # the scores table's chip
    text = html_text(out)
    assert f"Depression severity (total) : 1 · Minimal {ONLY}" in text  # the band chart
    assert "† Score band only: the band the manual gives for this score." in text
    bundle = tmp_path / "r.fhir.json"
    assert psyq_cli("report", "phq9", "--answers", ITEM9, "--client", "C1",
                    "-o", bundle).exit_code == 0  # fmt: skip
    observations = [e["resource"] for e in json.loads(bundle.read_text())["entry"][1:]]
    assert observations[0]["interpretation"] == [{"text": f"Minimal {ONLY}"}]
    # No flag: the band as it always was, no mark, no footnote.
    out = tmp_path / "no-flag.html"
    made = psyq_cli("report", "phq9", "--answers", NOTHING, "--client", "C1", "-o", out)
    assert made.exit_code == 0 and ONLY not in made.output
    assert "†" not in out.read_text() and "score band only" not in html_text(out)


def test_latest_report_marks_the_band_beside_a_later_unfinished_forms_flag(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    record = ("record", "phq9", "--client", "C0020", "--date", "2026-09-01")
    assert psyq_cli(*record, "--answers", NOTHING).exit_code == 0
    stopped = psyq_cli("administer", "phq9", "--client", "C0020", input="0\n" * 8 + "3\nq\n")
    assert "partial administration 2" in stopped.output
    out = tmp_path / "latest.html"
    made = psyq_cli("report", "--client", "C0020", "--latest", "-o", out)
    assert made.exit_code == 0, made.output
    assert f"Minimal {ONLY}" in made.output
    assert "unfinished administration 2" in html_text(out)
    assert "† Score band only" in html_text(out)


def test_batch_cohort_summary_marks_the_band_of_a_critical_respondent(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    src = tmp_path / "in.csv"
    head = "client_id,date," + ",".join(f"phq9_{k}" for k in range(1, 10))
    src.write_text(f"{head}\nC0001,2026-01-02,{ITEM9}\nC0002,2026-01-02,{NOTHING}\n")
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
                      "--summary", "html", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    listing = html.unescape((out / "cohort-summary.html").read_text())
    [flagged] = [line for line in listing.splitlines() if "C0001" in line]
    [plain] = [line for line in listing.splitlines() if "C0002" in line]
    assert f"Minimal {ONLY}" in flagged and "suicidal_ideation" in flagged
    assert "Minimal" in plain and ONLY not in plain
