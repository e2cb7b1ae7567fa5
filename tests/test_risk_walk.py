"""One PHQ-9 administration walked through every output: the risk signal and the
proration mark are in each.

A: item 9 unanswered (8 of 9 answered, prorated 9 -> 10, Moderate; 9 would be Mild).
B: item 9 at 2, item 3 unanswered (prorated 10 -> 11).
Both complete, then both as partial (unfinished) forms.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

CLI = Callable[..., Result]

CASES = {
    # client, answers, critical flag id, its message start, total
    "A": ("C0101", "1,2,1,1,1,1,1,1,-", "critical_item_unanswered", "Critical item phq9_9", "10"),
    "B": ("C0102", "1,2,-,1,1,1,1,1,2", "suicidal_ideation", "The client endorsed", "11"),
}


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def pdf_text(path: Path) -> str:
    run = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True)
    return " ".join(run.stdout.split())


@pytest.mark.parametrize("case", sorted(CASES))
def test_complete_administration_everywhere(psyq_cli: CLI, tmp_path: Path, case: str) -> None:
    client, answers, flag, message, total = CASES[case]
    alert = f"CRITICAL (item phq9_9): {message}"
    table = ok(psyq_cli("score", "phq9", "--answers", answers)).output
    assert f"!!! {alert}" in table and "8/9 prorated" in table
    assert "total: prorated from 8 of 9 answers" in table
    doc = json.loads(ok(psyq_cli("score", "phq9", "--answers", answers, "--json")).stdout)
    assert doc["scores"]["total"]["prorated"] is True
    assert (doc["flags"][0]["id"], doc["flags"][0]["item_ids"]) == (flag, ["phq9_9"])
    ok(psyq_cli("record", "phq9", "--client", client, "--date", "2026-10-01", "--answers", answers))
    history = ok(psyq_cli("history", client)).output
    assert f"{total} (prorated 8/9)" in history and f"CRITICAL (item phq9_9): {flag}" in history
    [entry] = json.loads(ok(psyq_cli("history", client, "--json")).stdout)
    assert entry["scores"]["total"]["prorated"] and entry["flags"][0]["id"] == flag
    # `clients` shows the latest complete administration's critical flag, not a bare count.
    clients = ok(psyq_cli("clients")).output
    assert f"!!! CRITICAL in latest administration 1 (phq9) (item phq9_9): {flag}" in clients
    [listed] = json.loads(ok(psyq_cli("clients", "--json")).output)
    assert [f["id"] for f in listed["latest_critical_flags"]] == [flag]
    [row] = csv.DictReader(io.StringIO(ok(psyq_cli("export", "--format", "csv")).output))
    assert (row["score.total"], row["prorated.total"]) == (total, "true")
    assert flag in row["flags"].split(";") and f"{flag}:phq9_9" in row["flag_items"]
    [line] = ok(psyq_cli("export", "--format", "jsonl")).output.splitlines()
    exported = json.loads(line)
    assert exported["prorated"]["total"] is True and exported["flags"][0]["id"] == flag
    pdf = tmp_path / "r.pdf"
    said = ok(psyq_cli("report", "--administration", "1", "-o", pdf)).output
    assert "(prorated)" in said and f"CRITICAL (item phq9_9): {flag}" in said
    text = pdf_text(pdf)
    assert text.upper().index("SAFETY ALERT") < text.index("Patient Health Questionnaire-9")
    assert "the score was prorated from the 8 answered items" in text
    bundle_path = tmp_path / "b.json"
    ok(psyq_cli("report", "--administration", "1", "--format", "fhir", "-o", bundle_path))
    bundle = json.loads(bundle_path.read_text())
    obs = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and e["resource"].get("component")
    )
    notes = [n["text"] for n in obs["note"]]
    assert any(n.startswith("PRORATED: prorated from 8 of 9 answers") for n in notes)
    assert any(n.startswith(alert) for n in notes)
    assert f"psyq flag {flag} (critical) (item phq9_9)" in obs["component"][0]["code"]["text"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_batch_row_carries_flag_and_proration(psyq_cli: CLI, tmp_path: Path, case: str) -> None:
    _, answers, flag, _, total = CASES[case]
    items = ",".join(f"phq9_{k}" for k in range(1, 10))
    cells = answers.replace("-", "")
    src = tmp_path / "in.csv"
    src.write_text(f"client_id,{items}\nC0201,{cells}\n")
    for fmt in ("--scores-only", "json"):  # the columnar path, and the per-row path
        out = tmp_path / fmt.strip("-")
        args = ["--scores-only"] if fmt == "--scores-only" else ["--format", "json"]
        ok(psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--quiet", *args))
        [row] = csv.DictReader(io.StringIO((out / "scores.csv").read_text()))
        assert (row["total"], row["total_prorated"]) == (total, "1")
        assert flag in row["flags"].split(";") and f"{flag}:phq9_9" in row["flag_items"]


def test_partial_administrations_everywhere(psyq_cli: CLI, tmp_path: Path) -> None:
    # A: stopped after item 5 (item 9 not reached). B: items 1-9 with item 3 skipped
    # and item 9 at 2, stopped before item 10.
    stops = {"C0301": "1\n2\n1\n1\n1\nq\n", "C0302": "1\n2\n\n1\n1\n1\n1\n1\n2\nq\n"}
    expected = {"C0301": "critical_item_unanswered", "C0302": "suicidal_ideation"}
    for n, (client, keys) in enumerate(stops.items(), start=1):
        stopped = psyq_cli("administer", "phq9", "--client", client, input=keys)
        assert stopped.exit_code == 1, stopped.output
        assert "!!! CRITICAL (item phq9_9)" in stopped.output
        history = ok(psyq_cli("history", client)).output
        assert "PARTIAL" in history and "CRITICAL (item phq9_9)" in history
        clients = ok(psyq_cli("clients")).output
        assert f"CRITICAL in partial administration {n} (phq9) (item phq9_9): " in clients
        pdf = tmp_path / f"p{n}.pdf"
        said = ok(psyq_cli("report", "--administration", str(n), "-o", pdf)).output
        assert "PARTIAL" in said and f"CRITICAL (item phq9_9): {expected[client]}" in said
        assert "SAFETY ALERT" in pdf_text(pdf).upper()
    rows = list(
        csv.DictReader(
            io.StringIO(ok(psyq_cli("export", "--format", "csv", "--include-partial")).output)
        )
    )
    assert [(r["status"], r["flag_items"].split(";")[0]) for r in rows] == [
        ("partial", "critical_item_unanswered:phq9_9"),
        ("partial", "suicidal_ideation:phq9_9"),
    ]
    # B's partial total is prorated (8 of 9 answered): said in the export.
    assert (rows[1]["score.total"], rows[1]["prorated.total"]) == ("11", "true")
