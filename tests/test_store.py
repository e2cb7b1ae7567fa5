"""The SQLite store: round trips, migrations, file modes, concurrency, client ids."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pytest

from psyq import audit
from psyq.app import App
from psyq.errors import PsyqError
from psyq.manager import PsyqPluginManager
from psyq.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Administration,
    Store,
    StoreError,
    check_client_id,
    open_store,
)

PHQ = [2, 2, 3, 2, 1, 1, 2, 1, 0]


@pytest.fixture
def app(psyq_pm: PsyqPluginManager, psyq_home: Path) -> App:
    return App(psyq_pm, home=psyq_home)


def phq_answers(values: list[int]) -> dict[str, int | None]:
    answers: dict[str, int | None] = {f"phq9_{i}": v for i, v in enumerate(values, start=1)}
    answers["phq9_10"] = None
    return answers


def add(
    app: App,
    store: Store,
    client: str,
    values: list[int],
    day: date,
    clinician: str | None = None,
    note: str | None = None,
) -> Administration:
    instrument = app.instrument("phq9")
    answers = phq_answers(values)
    result = app.scorer.score_valid(instrument, answers)
    return store.add_administration(
        instrument=instrument,
        client_id=client,
        answers=answers,
        result=result,
        administered=day,
        clinician=clinician,
        note=note,
    )


def test_round_trip(app: App) -> None:
    with app.open_store() as store:
        saved = add(app, store, "C0042", PHQ, date(2026, 9, 1), clinician="Dr Rao", note="first")
    with app.open_store() as store:
        back = store.get(saved.id)
        assert back == saved
        assert back.client_id == "C0042"
        assert back.instrument_id == "phq9" and back.instrument_version == "1.0"
        assert back.definition_hash == app.instrument("phq9").content_hash()
        assert back.administered == date(2026, 9, 1)
        assert (back.clinician, back.note, back.status) == ("Dr Rao", "first", "complete")
        assert back.answers == phq_answers(PHQ)
        assert list(back.answers) == [f"phq9_{i}" for i in range(1, 11)]  # item order kept
        result = back.result
        assert result is not None and result.total.value == sum(PHQ)
        [client] = store.clients()
        assert (client.id, client.administrations, client.instruments) == ("C0042", 1, {"phq9": 1})


def test_query_order_and_filters(app: App) -> None:
    with app.open_store() as store:
        late = add(app, store, "C0042", PHQ, date(2026, 10, 1))
        early = add(app, store, "C0042", PHQ, date(2026, 9, 1))
        other = add(app, store, "C0099", PHQ, date(2026, 9, 15))
        assert [a.id for a in store.administrations(client_id="C0042")] == [early.id, late.id]
        assert [a.id for a in store.administrations(since=date(2026, 9, 10))] == [other.id, late.id]
        assert store.administrations(instrument_id="gad7") == []
        with pytest.raises(StoreError, match="no administration 999"):
            store.get(999)


def test_new_store_is_migrated_from_empty(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "psyq.db"
    with open_store(path) as store:
        assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        tables = {r[0] for r in store.connection.execute("SELECT name FROM sqlite_master")}
        assert {"clients", "administrations", "audit"} <= tables
        actions = [(e.action, e.record) for e in audit.entries(store.connection)]
        assert actions == [("key chain", "audit key")] + [("migrate", "schema")] * SCHEMA_VERSION
        assert audit.verify(store).ok
        mode = store.connection.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_migration_from_version_1_keeps_data_and_audit(app: App, tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.executescript(MIGRATIONS[0])  # a store as psyq's schema version 1 left it
    conn.execute("BEGIN")
    conn.execute("PRAGMA user_version = 1")
    legacy_append(conn, "migrate", "schema", audit.record_digest({"v": 1}))
    conn.execute("INSERT INTO clients VALUES ('C0001', '2026-01-01T00:00:00+00:00')")
    row = conn.execute("SELECT * FROM clients").fetchone()
    legacy_append(conn, "add client", "client C0001", audit.record_digest(dict(row)))
    conn.execute(
        "INSERT INTO administrations (client_id, instrument_id, instrument_version, "
        "definition_hash, administered, answers, status, created_at, updated_at) "
        "VALUES ('C0001', 'phq9', '1.0', 'sha256:x', '2026-01-02', ?, 'complete', ?, ?)",
        ('{"phq9_1":1}', "2026-01-02T00:00:00+00:00", "2026-01-02T00:00:00+00:00"),
    )
    row = conn.execute("SELECT * FROM administrations").fetchone()
    legacy_append(conn, "record", "administration 1", audit.record_digest(dict(row)))
    conn.execute("COMMIT")
    conn.close()

    with open_store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        old = store.get(1)
        assert old.note is None and old.answers == {"phq9_1": 1}
        report = audit.verify(store)
        assert report.ok, report.problems  # the new NULL column leaves old digests intact
        entries = audit.entries(store.connection)
        # The unkeyed entries are kept as they were; keying starts after them.
        assert [e.action for e in entries[:4]] == ["migrate", "add client", "record", "key chain"]
        assert report.keyed_from == 4 and entries[3].prev == entries[2].hash
        assert entries[-1].action == "migrate"
        new = add(app, store, "C0001", PHQ, date(2026, 2, 1), note="after migration")
        assert store.get(new.id).note == "after migration"


def legacy_append(conn: sqlite3.Connection, action: str, record: str, digest: str) -> None:
    """An audit entry as psyq wrote them before the chain was keyed (plain SHA-256)."""
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, audit.GENESIS)
    at = "2026-01-01T00:00:00.000000+00:00"
    digest_hash = audit.entry_hash(seq, at, "olduser", action, record, digest, prev)
    conn.execute(
        "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, "olduser", action, record, digest, prev, digest_hash),
    )


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}").connection.close()
    with pytest.raises(StoreError, match="newer than this psyq"):
        open_store(path)


def test_another_programs_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE clients (name TEXT)").connection.close()
    with pytest.raises(StoreError, match="cannot set up the psyq store: table clients already"):
        open_store(path)


def test_unwritable_place(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open the store"):
        open_store(blocker / "psyq.db")


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "psyq.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a psyq store"):
        open_store(path)


def test_files_are_private_even_with_a_permissive_umask(app: App, tmp_path: Path) -> None:
    path = tmp_path / "data" / "psyq.db"
    old = os.umask(0o022)
    try:
        store = open_store(path)
        add(app, store, "C0042", PHQ, date(2026, 9, 1))
        # Still open, so the WAL and its index exist alongside the database.
        files = [path, path.with_name("psyq.db-wal"), path.with_name("psyq.db-shm")]
        assert all(f.exists() for f in files)
        for f in files:
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        store.close()
    finally:
        restored = os.umask(old)
    assert restored == 0o022  # psyq's own umask was only in force while it opened the file


@pytest.mark.parametrize(
    "bad", ["Jane Doe", "jane", "", "-C1", "C1;drop", "C" * 32 + "1", "C0042\n", "Ünal1"]
)
def test_client_ids_must_be_pseudonymous_codes(bad: str) -> None:
    with pytest.raises(PsyqError, match="not a valid pseudonymous id"):
        check_client_id(bad)


@pytest.mark.parametrize("good", ["C0042", "c-17_a", "2026x", "A" * 31 + "1"])
def test_valid_client_ids(good: str) -> None:
    assert check_client_id(good) == good


WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import date
    from pathlib import Path
    from psyq.app import App
    from psyq.manager import create_plugin_manager
    from psyq.store import open_store

    db, client, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    app = App(create_plugin_manager(load_entrypoints=False))
    inst = app.instrument("phq9")
    answers = {item.id: 1 for item in inst.items}
    result = app.scorer.score_valid(inst, answers)
    store = open_store(db)
    (go.parent / ("ready-" + client)).touch()
    while not go.exists():  # start both writers together
        time.sleep(0.005)
    for n in range(30):
        store.add_administration(instrument=inst, client_id=client, answers=answers,
                                 result=result, administered=date(2026, 1, 1 + n % 28),
                                 note=f"{client}-{n}")
    store.close()
    """
)


@pytest.mark.slow
def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    db, go = tmp_path / "psyq.db", tmp_path / "go"
    open_store(db).close()  # both writers open an existing, migrated store
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), client, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for client in ("C0001", "C0002")
    ]
    ready = [tmp_path / "ready-C0001", tmp_path / "ready-C0002"]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both are loaded and connected: now they write at the same moment
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with open_store(db) as store:
        notes = sorted(a.note or "" for a in store.administrations())
        assert notes == sorted(f"{c}-{n}" for c in ("C0001", "C0002") for n in range(30))
        report = audit.verify(store)
        assert report.ok, report.problems
        # The key entry, the migrations, 2 new clients, 60 administrations: one chain.
        assert report.entries == 1 + SCHEMA_VERSION + 2 + 60


@pytest.mark.slow
def test_two_processes_creating_the_store_at_once(tmp_path: Path) -> None:
    db, go = tmp_path / "fresh" / "psyq.db", tmp_path / "go"
    go.touch()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER.replace("range(30)", "range(3)"), str(db), c, str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in ("C0001", "C0002")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with open_store(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert len(store.administrations()) == 6
        assert audit.verify(store).ok


def test_damaged_row_is_one_clear_error(app: App) -> None:
    with app.open_store() as store:
        saved = add(app, store, "C0042", PHQ, date(2026, 9, 1))
        store.connection.execute(
            "UPDATE administrations SET answers = '{oops' WHERE id = ?", (saved.id,)
        )
        with pytest.raises(StoreError, match=f"administration {saved.id}: damaged record"):
            store.get(saved.id)
