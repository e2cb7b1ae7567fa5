"""Administrations scored with a definition given by path stay readable.

A data manager scores a converted draft by path (`psyq record ./draft.yaml ...`);
later the file is moved, edited or deleted. The store keeps a copy of the
definition (by content hash, with its source path), so `history`, `report`,
`export` and `rescore` still find the instrument, and say in one line when the
file has changed or gone.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import Result

CLI = Callable[..., Result]
ANSWERS_1 = "1,1,1,1,1,1,1,1,0,0"
ANSWERS_2 = "2,2,2,2,2,2,2,2,0,0"


@pytest.fixture
def draft(psyq_cli: CLI, tmp_path: Path) -> Path:
    """A PHQ-9 draft (compile -> import-fhir) under an id psyq does not ship."""
    questionnaire = tmp_path / "phq9.json"
    assert psyq_cli("compile", "phq9", "--to", "fhir", "-o", questionnaire).exit_code == 0
    path = tmp_path / "drafts" / "mood.yaml"
    path.parent.mkdir()
    result = psyq_cli("import-fhir", questionnaire, "--id", "mood", "-o", path)
    assert result.exit_code == 0, result.output
    return path


def record(psyq_cli: CLI, path: Path, answers: str, day: str) -> None:
    result = psyq_cli("record", path, "--client", "C001", "--answers", answers, "--date", day)
    assert result.exit_code == 0, result.output


def totals(psyq_cli: CLI) -> list[tuple[str, int]]:
    result = psyq_cli("history", "C001", "--json")
    assert result.exit_code == 0, result.output
    return [
        (d["instrument"]["id"], d["scores"]["total"]["value"]) for d in json.loads(result.stdout)
    ]


def test_store_keeps_the_definition_with_its_source(
    psyq_cli: CLI, draft: Path, psyq_home: Path
) -> None:
    record(psyq_cli, draft, ANSWERS_1, "2026-01-05")
    record(psyq_cli, draft, ANSWERS_1, "2026-01-06")  # the same definition: kept once
    conn = sqlite3.connect(psyq_home / "psyq.db")
    rows = conn.execute(
        "SELECT instrument_id, version, source, source_path, hash FROM definitions"
    ).fetchall()
    stored_hash = conn.execute("SELECT DISTINCT definition_hash FROM administrations").fetchall()
    assert rows == [("mood", "1.0", "file", str(draft.resolve()), stored_hash[0][0])]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE definitions SET version = '9'")
    conn.close()
    assert psyq_cli("audit", "verify").exit_code == 0


def test_history_report_export_after_the_file_moved(
    psyq_cli: CLI, draft: Path, tmp_path: Path
) -> None:
    record(psyq_cli, draft, ANSWERS_1, "2026-01-05")
    record(psyq_cli, draft, ANSWERS_2, "2026-02-05")
    draft.rename(draft.with_name("elsewhere.yaml"))
    history = psyq_cli("history", "C001", "--instrument", "mood")
    assert history.exit_code == 0, history.output
    assert "Patient Health Questionnaire-9 (mood)" in history.stdout
    assert "reliable deterioration" in history.stdout  # change needs the definition's RCI
    notes = [line for line in history.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "is gone (moved or deleted)" in notes[0]
    assert str(draft.resolve()) in notes[0]
    assert totals(psyq_cli) == [("mood", 8), ("mood", 16)]
    out = tmp_path / "report.json"
    report = psyq_cli("report", "--administration", "2", "--format", "json", "-o", out)
    assert report.exit_code == 0, report.output
    doc = json.loads(out.read_text())
    assert doc["instrument"]["id"] == "mood" and doc["scores"]["total"]["value"] == 16
    assert [f["id"] for f in doc["flags"]] == ["major_depressive_syndrome"]
    export = psyq_cli("export", "--instrument", "mood")
    assert export.exit_code == 0, export.output
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    assert [(r["instrument_id"], r["score.total"], r["band.total"]) for r in rows] == [
        ("mood", "8", "mild"),
        ("mood", "16", "moderately_severe"),
    ]


def test_a_changed_file_is_named_and_rescore_takes_it_when_given(
    psyq_cli: CLI, draft: Path
) -> None:
    record(psyq_cli, draft, ANSWERS_1, "2026-01-05")
    data = yaml.safe_load(draft.read_text())
    data["title"] = "Mood draft, edited"
    for item in data["items"][:8]:
        item["reverse"] = True  # a real scoring change: 0-3 reversed
    draft.write_text(yaml.safe_dump(data, sort_keys=False))
    history = psyq_cli("history", "C001")
    assert history.exit_code == 0, history.output
    assert "Patient Health Questionnaire-9 (mood)" in history.stdout  # as it was scored
    notes = [line for line in history.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "has CHANGED since" in notes[0]
    # rescore by id keeps the stored definition: nothing changes.
    same = psyq_cli("rescore", "--instrument", "mood")
    assert same.exit_code == 0 and "0 updated, 1 unchanged" in same.stdout
    # rescore with the file: its new rules, and the old scores kept as version 1.
    again = psyq_cli("rescore", "--instrument", draft)
    assert again.exit_code == 0, again.output
    assert "total 8 -> 16 (score version 2; version 1 kept)" in again.stdout
    after = psyq_cli("history", "C001")
    assert "Mood draft, edited (mood)" in after.stdout
    assert "note:" not in after.stderr  # the file is what it was scored with now
    assert totals(psyq_cli) == [("mood", 16)]


def test_unknown_instrument_filter_is_still_an_error(psyq_cli: CLI, draft: Path) -> None:
    record(psyq_cli, draft, ANSWERS_1, "2026-01-05")
    result = psyq_cli("history", "C001", "--instrument", "nosuch")
    assert result.exit_code == 2 and "unknown instrument 'nosuch'" in result.output
    by_path = psyq_cli("history", "C001", "--instrument", draft)
    assert by_path.exit_code == 0 and "(mood)" in by_path.stdout


def test_a_kept_definition_is_audited_and_tampering_with_it_is_found(
    psyq_cli: CLI, draft: Path, psyq_home: Path
) -> None:
    record(psyq_cli, draft, ANSWERS_1, "2026-01-05")
    log = psyq_cli("audit", "log")
    assert log.exit_code == 0, log.output
    assert "keep definition" in log.output and "definition " in log.output
    assert psyq_cli("audit", "verify").exit_code == 0
    conn = sqlite3.connect(psyq_home / "psyq.db")
    with conn:  # a hand edit: the append-only trigger dropped, the copy changed
        conn.execute("DROP TRIGGER definitions_no_update")
        conn.execute("UPDATE definitions SET version = '9.9'")
    conn.close()
    verify = psyq_cli("audit", "verify")
    assert verify.exit_code != 0
    assert "definition sha256:" in verify.output and "differs" in verify.output, verify.output


def test_history_json_and_export_show_where_a_definition_came_from(
    psyq_cli: CLI, draft: Path
) -> None:
    record(psyq_cli, draft, ANSWERS_1, "2026-01-05")
    result = psyq_cli("record", "phq9", "--client", "C001", "--answers", "1,1,1,1,1,1,1,1,0")
    assert result.exit_code == 0, result.output
    started = psyq_cli("administer", draft, "--client", "C001", input="1\n1\nq\n")
    assert started.exit_code == 1, started.output  # stopped: a partial administration
    draft.rename(draft.with_name("moved.yaml"))  # the path scored from is still shown
    where = str(draft.resolve())
    docs = json.loads(psyq_cli("history", "C001", "--json").stdout)
    origins = [
        (
            d["instrument"]["id"],
            d["administration"]["status"],
            d["administration"]["definition_source"],
            d["administration"]["definition_path"],
        )
        for d in docs
    ]
    assert sorted(origins, key=str) == sorted(
        [
            ("mood", "complete", "file", where),
            ("mood", "partial", "file", where),
            ("phq9", "complete", None, None),
        ],
        key=str,
    )
    result = psyq_cli("export", "--format", "csv", "--include-partial")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    cells = sorted((r["instrument_id"], r["definition_source"], r["definition_path"]) for r in rows)
    assert cells == [("mood", "file", where), ("mood", "file", where), ("phq9", "", "")]
    [line, _] = psyq_cli("export", "--format", "jsonl").stdout.splitlines()
    meta = json.loads(line)["administration"]
    assert (meta["definition_source"], meta["definition_path"]) == ("file", where)
    # De-identified: the source stays, the path (which may name a person) does not.
    result = psyq_cli("export", "--format", "csv", "--deidentify")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert "definition_path" not in rows[0]
    assert sorted(r["definition_source"] for r in rows) == ["", "file"]


def test_a_kept_copy_refused_by_newer_checks_is_not_called_tampered(
    psyq_cli: CLI, draft: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy an older psyq kept may fail checks added since (here: a skip rule whose
    count could never hold, refused from this version on). Its hash still matches its
    text, so psyq says the checks refuse it and why, not that it was changed outside
    psyq, which would point a data protection officer at tampering that never was; and
    it is still the definition the administration was scored with, so history, export
    and reports read it as stored, the positive critical item included."""
    from psyq.models import Instrument

    text = draft.read_text()
    item = "- id: phq9_10\n"
    assert item in text
    skip = (
        "  skip:\n    score: 0\n    when:\n      count:\n"
        "      - {items: [phq9_1, phq9_2], op: '==', value: 0}\n      at_least: 5\n"
    )
    draft.write_text(text.replace(item, item + skip))
    # As a psyq without the check stored it.
    monkeypatch.setattr(Instrument, "_check_count", lambda *args, **kwargs: None)
    record(psyq_cli, draft, "1,1,1,1,1,1,1,1,2,0", "2026-01-05")  # item 9 positive
    monkeypatch.undo()
    draft.unlink()
    assert psyq_cli("audit", "verify").exit_code == 0  # nothing was changed by hand
    history = psyq_cli("history", "C001")
    assert history.exit_code == 0, history.output
    warnings = [line for line in history.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, history.stderr
    assert "refused by this version of psyq's checks" in warnings[0]
    assert "at_least 5 is more than the 2 items counted" in warnings[0]
    assert warnings[0].endswith("; used as it was stored"), warnings[0]
    assert "changed outside psyq" not in history.stderr
    # The risk signal the administration raised is in every output that shows it.
    assert "phq9_9" in history.stdout, history.stdout
    [doc] = json.loads(psyq_cli("history", "C001", "--json").stdout)
    assert any(f["level"] == "critical" and f["item"] == "phq9_9" for f in doc["flags"]), doc
    export = psyq_cli("export")
    assert export.exit_code == 0, export.output
    [row] = list(csv.DictReader(io.StringIO(export.stdout)))
    assert "phq9_9" in ",".join(v for k, v in row.items() if "flag" in k), row
    out = tmp_path / "r.json"
    report = psyq_cli("report", "--administration", "1", "--format", "json", "-o", out)
    assert report.exit_code == 0, report.output
    assert any(f["item"] == "phq9_9" for f in json.loads(out.read_text())["flags"])
