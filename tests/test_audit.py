"""The hash-chained audit log: every write is logged; tampering of any kind is named."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from psyq import audit
from psyq.app import App
from psyq.manager import PsyqPluginManager
from psyq.store import Store


@pytest.fixture
def app(psyq_pm: PsyqPluginManager, psyq_home: Path) -> App:
    return App(psyq_pm, home=psyq_home)


@pytest.fixture
def filled(app: App) -> Path:
    """A store with two clients and three administrations, written through psyq."""
    inst = app.instrument("gad7")
    with app.open_store() as store:
        for client, values, day in [
            ("C0001", [2, 2, 2, 2, 2, 2, 2], date(2026, 9, 1)),
            ("C0001", [1, 1, 1, 1, 1, 1, 1], date(2026, 10, 1)),
            ("C0002", [0, 1, 0, 1, 0, 1, 0], date(2026, 10, 2)),
        ]:
            answers: dict[str, int | None] = {f"gad7_{i}": v for i, v in enumerate(values, start=1)}
            store.add_administration(
                instrument=inst,
                client_id=client,
                answers=answers,
                result=app.scorer.score_valid(inst, answers),
                administered=day,
            )
    return app.store_path


def tamper(path: Path, *sql: str) -> None:
    """Change the file behind psyq's back, as someone with the sqlite3 shell could."""
    conn = sqlite3.connect(path)
    for statement in sql:
        conn.execute(statement)
    conn.commit()
    conn.close()


def verify(app: App) -> audit.VerifyReport:
    with app.open_store() as store:
        return audit.verify(store)


def test_every_write_is_logged_with_user_action_time_and_record(app: App, filled: Path) -> None:
    with app.open_store() as store:
        entries = audit.entries(store.connection)
    records = [(e.action, e.record) for e in entries if e.record not in ("schema", "audit key")]
    assert records == [
        ("add client", "client C0001"),
        ("record", "administration 1"),
        ("record", "administration 2"),
        ("add client", "client C0002"),
        ("record", "administration 3"),
    ]
    assert all(e.os_user == audit.os_user() and e.at.endswith("+00:00") for e in entries)
    assert [e.prev for e in entries[1:]] == [e.hash for e in entries[:-1]]
    report = verify(app)
    assert report.ok and report.records == 5 and report.head == entries[-1].hash


def test_altered_answer_is_named(app: App, filled: Path) -> None:
    with app.open_store() as store:
        answers = store.get(2).answers
    answers["gad7_1"] = 3
    tamper(filled, f"UPDATE administrations SET answers = '{json.dumps(answers)}' WHERE id = 2")
    report = verify(app)
    assert not report.ok
    assert report.problems[0].startswith("administration 2: stored content")
    assert len(report.problems) == 1


def test_altered_score_is_named(app: App, filled: Path) -> None:
    tamper(
        filled,
        "UPDATE administrations SET scores = replace(scores, '\"value\":7', '\"value\":1')",
    )
    report = verify(app)
    assert [p.split(":")[0] for p in report.problems] == ["administration 2"]


def test_first_bad_record_comes_first(app: App, filled: Path) -> None:
    tamper(
        filled,
        "UPDATE administrations SET administered = '2026-01-01' WHERE id = 3",
        "UPDATE administrations SET clinician = 'someone' WHERE id = 1",
    )
    report = verify(app)
    assert report.problems[0].startswith("administration 1:")
    assert report.problems[1].startswith("administration 3:")


def test_audit_table_refuses_updates_and_deletes(app: App, filled: Path) -> None:
    conn = sqlite3.connect(filled)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET os_user = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE seq = 3")
    conn.close()


def test_rewritten_audit_entry_breaks_the_chain(app: App, filled: Path) -> None:
    tamper(
        filled, "DROP TRIGGER audit_no_update", "UPDATE audit SET os_user = 'mallory' WHERE seq = 4"
    )
    report = verify(app)
    assert report.problems[0].startswith("audit entry #4 (")
    assert "altered" in report.problems[0]
    assert report.problems[1:] == [
        "schema: trigger audit_no_update is missing (dropped outside psyq)"
    ]


def test_deleted_audit_entry_is_found(app: App, filled: Path) -> None:
    tamper(filled, "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE seq = 5")
    report = verify(app)
    assert report.problems == [
        "audit entry #5 is missing (next is #6): entries were deleted",
        "schema: trigger audit_no_delete is missing (dropped outside psyq)",
    ]


def test_rows_added_or_deleted_outside_psyq(app: App, filled: Path) -> None:
    tamper(
        filled,
        "INSERT INTO administrations (client_id, instrument_id, instrument_version, "
        "definition_hash, administered, answers, status, created_at, updated_at) "
        "SELECT client_id, instrument_id, instrument_version, definition_hash, administered, "
        "answers, status, created_at, updated_at FROM administrations WHERE id = 1",
        "DELETE FROM administrations WHERE id = 3",
    )
    problems = verify(app).problems
    assert problems[0] == "administration 4: not in the audit log (written outside psyq)"
    assert problems[1].startswith("administration 3: deleted outside psyq")


def test_psyq_writes_after_tampering_do_not_launder_it(app: App, filled: Path) -> None:
    tamper(filled, "UPDATE administrations SET status = 'partial' WHERE id = 1")
    with app.open_store() as store:
        assert isinstance(store, Store)
        store.add_client("C0003")  # an unrelated, legitimate write
    assert verify(app).problems[0].startswith("administration 1:")
