"""A flag quotes every item that raised it, in every output, not only the first.

WHO-5 answered 5,5,3,0,0: items 4 and 5 are both at 0, so the "item at 0 or 1"
warning names both (the scoring sheet asks for an assessment for either).
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

CLI = Callable[..., Result]

WHO5 = "5,5,3,0,0"


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def test_score_table_and_json_name_every_item(psyq_cli: CLI) -> None:
    table = ok(psyq_cli("score", "who5", "--answers", WHO5)).output
    assert "!   WARNING (items who5_4, who5_5): At least one item was answered 0" in table
    doc = json.loads(ok(psyq_cli("score", "who5", "--answers", WHO5, "--json")).stdout)
    [flag] = doc["flags"]
    assert (flag["id"], flag["item"], flag["item_ids"]) == (
        "item_at_most_1",
        "who5_4",
        ["who5_4", "who5_5"],
    )
    # One item at 0: one item named, in the singular.
    table = ok(psyq_cli("score", "who5", "--answers", "5,1,5,5,5")).output
    assert "!   WARNING (item who5_2): " in table


def test_a_count_names_the_items_counted_and_a_critical_flag_its_item(psyq_cli: CLI) -> None:
    # PHQ-9 items 1-4 at 2, 5-8 at 1, item 9 at 1: the syndrome algorithm counts
    # items 1-4 (2 or more) and item 9 (1 or more); item 9 also raises the critical flag.
    doc = json.loads(
        ok(psyq_cli("score", "phq9", "--answers", "2,2,2,2,1,1,1,1,1", "--json")).stdout
    )
    by_id = {f["id"]: f["item_ids"] for f in doc["flags"]}
    assert by_id["suicidal_ideation"] == ["phq9_9"]
    assert by_id["major_depressive_syndrome"] == ["phq9_1", "phq9_2", "phq9_3", "phq9_4", "phq9_9"]


def test_history_export_and_fhir_name_every_item(psyq_cli: CLI, tmp_path: Path) -> None:
    ok(psyq_cli("record", "who5", "--client", "W1", "--date", "2026-10-01", "--answers", WHO5))
    history = ok(psyq_cli("history", "W1")).output
    assert "WARNING (items who5_4, who5_5): item_at_most_1" in history
    [entry] = json.loads(ok(psyq_cli("history", "W1", "--json")).stdout)
    assert entry["flags"][0]["item_ids"] == ["who5_4", "who5_5"]
    rows = list(csv.DictReader(io.StringIO(ok(psyq_cli("export", "--format", "csv")).output)))
    assert (rows[0]["flags"], rows[0]["flag_items"]) == (
        "item_at_most_1",
        "item_at_most_1:who5_4 who5_5",
    )
    [line] = ok(psyq_cli("export", "--format", "jsonl")).output.splitlines()
    assert json.loads(line)["flags"][0]["item_ids"] == ["who5_4", "who5_5"]
    bundle = json.loads(ok(psyq_cli("score", "who5", "--answers", WHO5, "--format", "fhir")).output)
    obs = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and "component" in e["resource"]
    )
    assert "(items who5_4, who5_5)" in obs["component"][0]["code"]["text"]
    assert any(
        n["text"].startswith("WARNING (items who5_4, who5_5): At least one item")
        for n in obs["note"]
    )


def test_report_names_every_item(psyq_cli: CLI, tmp_path: Path) -> None:
    html_path = tmp_path / "w.html"
    ok(psyq_cli("report", "who5", "--answers", WHO5, "--client", "W2", "-o", html_path))
    html = html_path.read_text()
    section = re.search(r'<section class="section-flags">(.*?)</section>', html, re.S)
    assert section is not None
    # Several items: their numbers after the message (texts and answers: the items table).
    assert "(items 4, 5)</span>" in section.group(1)
    pdf_path = tmp_path / "w.pdf"
    ok(psyq_cli("report", "who5", "--answers", WHO5, "--client", "W2", "-o", pdf_path))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"Warning: At least one item was answered 0 .*?\(items 4, 5\)", text, re.S)


def test_partial_administration_lines_name_every_item(psyq_cli: CLI) -> None:
    # A PHQ-9 stopped after items 1-8 at 2: item 9 unanswered (critical), and the
    # syndrome counted over items 1-8, in `clients` and `history` alike.
    result = psyq_cli("administer", "phq9", "--client", "P1", input="2\n2\n2\n2\n2\n2\n2\n2\nq\n")
    assert result.exit_code == 1, result.output
    counted = "items " + ", ".join(f"phq9_{k}" for k in range(1, 9))
    assert f"({counted})" in result.output
    history = ok(psyq_cli("history", "P1")).output
    assert "CRITICAL (item phq9_9): Critical item phq9_9 was not answered" in history
    assert f"({counted}): " in history
    clients = ok(psyq_cli("clients")).output
    assert "(item phq9_9): critical_item_unanswered" in clients
    assert f"({counted}): major_depressive_syndrome" in clients
    [client] = json.loads(ok(psyq_cli("clients", "--json")).output)
    first = client["partial_flags"][0]
    # "items" stays the form's item count; the flag's items are "item_ids".
    assert (first["id"], first["items"], first["item_ids"]) == (
        "critical_item_unanswered",
        10,
        ["phq9_9"],
    )
