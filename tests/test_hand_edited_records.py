"""A stored administration changed outside psyq (the database edited by hand) is shown
with a warning wherever it is shown: history (text and JSON), export (CSV, JSONL, the
terminal), report (HTML banner, JSON, FHIR notes, the terminal line), and in the trend
of a later report. The data is still shown; `audit verify` names what changed."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

CLI = Callable[..., Result]
WARNING = "changed outside psyq after it was saved"


def html_text(path: Path) -> str:
    text = re.sub(r"<(style|svg)\b.*?</\1>", " ", path.read_text(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def hand_edit(db: Path, admin_id: int, edit: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite one administration's stored scores with the sqlite3 module, as someone
    with the sqlite3 shell could (no audit entry)."""
    conn = sqlite3.connect(db)
    (text,) = conn.execute("SELECT scores FROM administrations WHERE id = ?", (admin_id,))
    scores = json.loads(text[0])
    edit(scores)
    conn.execute(
        "UPDATE administrations SET scores = ? WHERE id = ?", (json.dumps(scores), admin_id)
    )
    conn.commit()
    conn.close()


def quieted(scores: dict[str, Any]) -> None:
    """Item 9's flag removed and a total of 18 made a Minimal 3."""
    scores["flags"] = []
    scores["scores"]["total"].update(value=3, raw=3, band="minimal", band_label="Minimal")


@pytest.fixture
def store(psyq_cli: CLI, psyq_home: Path) -> Path:
    record = ("record", "phq9", "--client", "C0042")
    for day, answers in (
        ("2026-09-01", "3,3,2,2,2,2,2,2,2"),
        ("2026-10-01", "2,2,2,2,2,2,2,2,2"),
        ("2026-11-01", "1,1,1,1,1,1,1,1,0"),
    ):
        assert psyq_cli(*record, "--date", day, "--answers", answers).exit_code == 0
    return psyq_home / "psyq.db"


def test_an_untouched_store_shows_no_warning(psyq_cli: CLI, store: Path, tmp_path: Path) -> None:
    assert "CHANGED" not in psyq_cli("history", "C0042").output
    docs = json.loads(psyq_cli("history", "C0042", "--json").output)
    assert [d["administration"]["changed_outside_psyq"] for d in docs] == [None, None, None]
    rows = list(csv.DictReader(io.StringIO(psyq_cli("export").stdout)))
    assert [r["changed_outside_psyq"] for r in rows] == ["", "", ""]
    out = tmp_path / "r.json"
    assert psyq_cli("report", "--administration", "3", "-o", out).exit_code == 0
    assert "changed_outside_psyq" not in json.loads(out.read_text())["report"]
    assert "CHANGED" not in psyq_cli("clients").output
    assert json.loads(psyq_cli("clients", "--json").output)[0]["changed_outside_psyq"] == []


def test_a_hand_edited_record_is_warned_in_history_and_export(psyq_cli: CLI, store: Path) -> None:
    hand_edit(store, 2, quieted)
    assert psyq_cli("audit", "verify").exit_code == 1  # what audit verify already said
    history = psyq_cli("history", "C0042")
    assert history.exit_code == 0, history.output
    rows = {line.split()[0]: line for line in history.output.splitlines() if "  total " in line}
    assert "CHANGED OUTSIDE PSYQ" in rows["2"] and " 3 " in rows["2"]  # shown, and said
    assert "CHANGED" not in rows["1"] and "CHANGED" not in rows["3"]
    [line] = [line for line in history.output.splitlines() if line.startswith("!!! CHANGED")]
    assert "administration 2 (2026-10-01)" in line and WARNING in line
    assert "audit entry #" in line  # what the check found
    docs = json.loads(psyq_cli("history", "C0042", "--json").output)
    changed = [d["administration"]["changed_outside_psyq"] for d in docs]
    assert changed[0] is None and changed[2] is None and WARNING in changed[1]
    assert docs[1]["scores"]["total"]["value"] == 3  # not hidden

    exported = psyq_cli("export")
    assert exported.exit_code == 0
    rows_csv = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [bool(r["changed_outside_psyq"]) for r in rows_csv] == [False, True, False]
    assert WARNING in rows_csv[1]["changed_outside_psyq"]
    assert "CHANGED OUTSIDE PSYQ: 1 exported record(s) (administration 2)" in exported.stderr
    lines = psyq_cli("export", "--format", "jsonl").stdout.splitlines()
    assert WARNING in json.loads(lines[1])["administration"]["changed_outside_psyq"]
    # De-identified: the warning, without the detail naming the record and the user.
    hidden = psyq_cli("export", "--deidentify")
    (marked,) = [r for r in csv.DictReader(io.StringIO(hidden.stdout)) if r["changed_outside_psyq"]]
    assert WARNING in marked["changed_outside_psyq"]
    assert "administration 2" not in marked["changed_outside_psyq"]
    assert "administration 2" not in hidden.stderr
    # The client list says so too.
    clients = psyq_cli("clients").output
    assert "CHANGED OUTSIDE PSYQ: administration 2 (phq9, 2026-10-01)" in clients
    (listed,) = json.loads(psyq_cli("clients", "--json").output)
    assert listed["changed_outside_psyq"] == [2]
    # rescore still refuses to build on it.
    rescored = psyq_cli("rescore")
    assert rescored.exit_code == 1 and "administration 2: not rescored" in rescored.output


def test_a_hand_edited_record_is_warned_in_its_report_and_later_trends(
    psyq_cli: CLI, store: Path, tmp_path: Path
) -> None:
    hand_edit(store, 2, quieted)
    page = tmp_path / "r2.html"
    made = psyq_cli("report", "--administration", "2", "-o", page)
    assert made.exit_code == 0, made.output
    assert "CHANGED OUTSIDE PSYQ" in made.output
    text = html_text(page)
    assert "This record was changed outside psyq after it was saved" in text
    doc = tmp_path / "r2.json"
    assert psyq_cli("report", "--administration", "2", "-o", doc).exit_code == 0
    assert WARNING in json.loads(doc.read_text())["report"]["changed_outside_psyq"]
    bundle = tmp_path / "r2.fhir.json"
    assert psyq_cli("report", "--administration", "2", "-o", bundle).exit_code == 0
    observations = [
        e["resource"] for e in json.loads(bundle.read_text())["entry"]
        if e["resource"]["resourceType"] == "Observation"
    ]  # fmt: skip
    for observation in observations:
        assert any("CHANGED OUTSIDE PSYQ" in n["text"] for n in observation["note"])
    # The next report plots it in its trend: said there too.
    later = tmp_path / "r3.html"
    made = psyq_cli("report", "--administration", "3", "-o", later)
    assert made.exit_code == 0 and "earlier administration 2" in made.output
    assert "Administration 2 (2026-10-01) in the trend was changed outside psyq" in html_text(later)
    assert "This record was changed" not in html_text(later)  # record 3 itself is intact
    table = psyq_cli("report", "--administration", "3", "-o", tmp_path / "r3.txt")
    assert table.exit_code == 0
    assert "CHANGED OUTSIDE PSYQ: earlier administration 2" in (tmp_path / "r3.txt").read_text()


def test_a_hand_edited_partial_form_is_warned_and_read_without_the_key(
    psyq_cli: CLI, store: Path, psyq_home: Path
) -> None:
    stopped = psyq_cli("administer", "phq9", "--client", "C0042", input="0\n0\n")
    assert stopped.exit_code == 1  # stopped after two items: partial administration 4
    conn = sqlite3.connect(store)
    conn.execute("UPDATE administrations SET answers = ? WHERE id = 4", ('{"phq9_1":3}',))
    conn.commit()
    conn.close()
    history = psyq_cli("history", "C0042")
    assert "partial: administration 4" in history.output
    assert f"CHANGED OUTSIDE PSYQ: This record was {WARNING}" in history.output
    (doc,) = [
        d for d in json.loads(psyq_cli("history", "C0042", "--json").output)
        if d["administration"]["id"] == 4
    ]  # fmt: skip
    assert WARNING in doc["administration"]["changed_outside_psyq"]
    # Without the audit key (kept on other media) history still reads, and still warns.
    (psyq_home / "audit.key").rename(psyq_home / "elsewhere.key")
    history = psyq_cli("history", "C0042")
    assert history.exit_code == 0, history.output
    assert "CHANGED OUTSIDE PSYQ" in history.output
