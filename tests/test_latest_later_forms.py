"""`psyq report --client C --latest` and a form left unfinished after the latest one.

The report is of the latest complete administration, but a later unfinished form's
critical flag is never hidden behind it: every format says it (the text table, JSON,
the FHIR bundle's total Observation, the HTML/PDF alert), and the band of low concern
beside it is marked as the score's band only. A later unfinished form edited outside
psyq (its stored answers may no longer show a risk that was there) is warned on in
every format too, whether or not it still raises a flag.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

CLI = Callable[..., Result]
ONLY = "(score band only; see the safety alert)"


def html_text(path: Path) -> str:
    text = re.sub(r"<(style|svg)\b.*?</\1>", " ", path.read_text(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


@pytest.fixture
def stopped(psyq_cli: CLI) -> CLI:
    """C0020: a complete PHQ-9 of 0 on 2026-09-01, then one stopped (q) after item 9
    was answered 3 ("nearly every day"): partial administration 2."""
    record = ("record", "phq9", "--client", "C0020", "--date", "2026-09-01")
    assert psyq_cli(*record, "--answers", "0,0,0,0,0,0,0,0,0").exit_code == 0
    left = psyq_cli("administer", "phq9", "--client", "C0020", input="0\n" * 8 + "3\nq\n")
    assert "partial administration 2" in left.output
    return psyq_cli


def report(cli: CLI, out: Path) -> Result:
    made = cli("report", "--client", "C0020", "--latest", "-o", out)
    assert made.exit_code == 0, made.output
    return made


def test_every_format_names_the_later_forms_critical_flag(stopped: CLI, tmp_path: Path) -> None:
    later = "CRITICAL in later partial administration 2"
    table = tmp_path / "r.txt"
    report(stopped, table)
    lines = table.read_text().splitlines()
    [alert] = [line for line in lines if later in line]
    assert alert.startswith("!!! ") and "(item phq9_9)" in alert
    assert "Assess suicide and self-harm risk today" in alert
    # The alert comes before the scores, whose band is marked beside it.
    assert lines.index(alert) < next(k for k, line in enumerate(lines) if line.startswith("total"))
    assert f"Minimal {ONLY}" in table.read_text()

    doc = tmp_path / "r.json"
    report(stopped, doc)
    meta = json.loads(doc.read_text())
    [entry] = meta["report"]["later_critical"]
    assert entry["administration_id"] == 2 and entry["flags"][0]["id"] == "suicidal_ideation"
    assert "band_beside_alert" in meta["scores"]["total"]

    bundle = tmp_path / "r.fhir.json"
    report(stopped, bundle)
    resources = [e["resource"] for e in json.loads(bundle.read_text())["entry"]]
    [total] = [
        r for r in resources
        if r["resourceType"] == "Observation" and r["code"]["text"].endswith("(total)")
    ]  # fmt: skip
    assert any(later in n["text"] and "(item phq9_9)" in n["text"] for n in total["note"])
    assert total["interpretation"] == [{"text": f"Minimal {ONLY}"}]

    page = tmp_path / "r.html"
    report(stopped, page)
    assert "unfinished administration 2" in html_text(page)


def test_a_later_form_edited_outside_psyq_is_warned_in_every_format(
    stopped: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    # Item 9's answer and its flag taken out of the stored form by hand (sqlite3 shell).
    conn = sqlite3.connect(psyq_home / "psyq.db")
    row = conn.execute("SELECT answers, scores FROM administrations WHERE id = 2").fetchone()
    answers, scores = json.loads(row[0]), json.loads(row[1])
    answers["phq9_9"] = 0
    scores["answers"]["phq9_9"] = 0
    scores["flags"] = []
    conn.execute(
        "UPDATE administrations SET answers = ?, scores = ? WHERE id = 2",
        (json.dumps(answers), json.dumps(scores)),
    )
    conn.commit()
    conn.close()
    warned = "later partial administration 2"
    out = tmp_path / "r.html"
    made = report(stopped, out)
    assert f"{warned} CHANGED OUTSIDE PSYQ" in made.output
    assert "CRITICAL in later" not in made.output  # the edit took the flag away ...
    text = html_text(out)
    # ... and the report says the form was changed, not that all is well.
    assert "Unfinished administration 2 (" in text
    assert "was changed outside psyq after it was saved: its answers, and any risk" in text
    assert "This record was changed" not in text  # the reported record is intact
    table = tmp_path / "r.txt"
    report(stopped, table)
    assert f"!!! CHANGED OUTSIDE PSYQ: {warned}" in table.read_text()
    doc = tmp_path / "r.json"
    report(stopped, doc)
    [entry] = json.loads(doc.read_text())["report"]["later_changed_outside_psyq"]
    assert entry["administration_id"] == 2 and "changed outside psyq" in entry["problem"]
    bundle = tmp_path / "r.fhir.json"
    report(stopped, bundle)
    notes = [
        n["text"]
        for e in json.loads(bundle.read_text())["entry"]
        for n in e["resource"].get("note", [])
    ]
    assert any(n.startswith(f"CHANGED OUTSIDE PSYQ: {warned}") for n in notes)


def test_no_later_form_no_later_lines(psyq_cli: CLI, tmp_path: Path) -> None:
    record = ("record", "phq9", "--client", "C0021", "--date", "2026-09-01")
    assert psyq_cli(*record, "--answers", "0,0,0,0,0,0,0,0,0").exit_code == 0
    table = tmp_path / "r.txt"
    made = psyq_cli("report", "--client", "C0021", "--latest", "-o", table)
    assert made.exit_code == 0, made.output
    assert "!!!" not in table.read_text() and ONLY not in table.read_text()
    doc = tmp_path / "r.json"
    assert psyq_cli("report", "--client", "C0021", "--latest", "-o", doc).exit_code == 0
    meta = json.loads(doc.read_text())["report"]
    assert "later_critical" not in meta and "later_changed_outside_psyq" not in meta
