"""The audit trail nobody can quietly rewrite: rescore refuses tampering and keeps every
score version; the chain is keyed (HMAC, key outside the database); REPLACE is refused;
schema changes are named; the head can be anchored and checked later."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from psyq import audit
from psyq.store import open_store

CLI = Callable[..., Result]
PHQ = "1,2,0,1,1,0,2,1,0,0"


def db(home: Path) -> Path:
    return home / "psyq.db"


def record(cli: CLI, client: str, answers: str = PHQ, day: str = "2026-09-01") -> Result:
    result = cli("record", "phq9", "--client", client, "--date", day, "--answers", answers)
    assert result.exit_code == 0, result.output
    return result


def sql(path: Path, *statements: str) -> None:
    """Change the file behind psyq's back, as someone with the sqlite3 shell could."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in statements:
        conn.execute(statement)
    conn.close()


def tamper_answer(path: Path, admin_id: int) -> None:
    conn = sqlite3.connect(path)
    (text,) = conn.execute(
        "SELECT answers FROM administrations WHERE id = ?", (admin_id,)
    ).fetchone()
    answers = json.loads(text)
    answers["phq9_1"] = 3
    conn.execute(
        "UPDATE administrations SET answers = ? WHERE id = ?", (json.dumps(answers), admin_id)
    )
    conn.commit()
    conn.close()


# -- 1: rescore verifies first and keeps every score version ---------------------------


def test_rescore_refuses_a_tampered_record_and_does_not_launder_it(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    record(psyq_cli, "C0001")
    record(psyq_cli, "C0002")
    tamper_answer(db(psyq_home), 1)
    # Make the tampered scores differ from a fresh scoring, so a rescore would rewrite them.
    sql(db(psyq_home), "UPDATE administrations SET scored_with = 'sha256:old' WHERE id = 1")
    result = psyq_cli("rescore")
    assert result.exit_code == 1
    assert "administration 1: not rescored" in result.stderr
    after = psyq_cli("audit", "verify")
    assert after.exit_code == 1
    assert after.stderr.startswith("psyq: audit FAILED: administration 1: stored content")


def test_rescore_refuses_everything_when_the_chain_is_broken(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    record(psyq_cli, "C0001")
    sql(db(psyq_home), "DROP TRIGGER audit_no_update", "UPDATE audit SET os_user = 'x'")
    result = psyq_cli("rescore")
    assert result.exit_code == 1
    assert "nothing rescored" in result.stderr


def test_resume_of_a_tampered_partial_is_refused(psyq_cli: CLI, psyq_home: Path) -> None:
    first = psyq_cli("administer", "phq9", "--client", "C0042", input="1\n2\nq\n")
    assert "saved as partial administration 1" in first.output
    tamper_answer(db(psyq_home), 1)
    again = psyq_cli("administer", "--resume", "1", input="0\n" * 8)
    assert again.exit_code == 1
    assert "administration 1: stored content differs" in again.output
    with open_store(db(psyq_home)) as store:
        assert store.get(1).status == "partial"  # nothing was built on it
    assert psyq_cli("audit", "verify").exit_code == 1


def test_rescore_keeps_the_superseded_version_and_the_log_shows_it(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    record(psyq_cli, "C0001")
    # Scores computed earlier with another definition, written through psyq (audited).
    with open_store(db(psyq_home)) as store:
        adm = store.get(1)
        assert adm.result is not None and adm.score_version == 1
        assert adm.scoring is not None and "plugins" in adm.scoring
        store.set_scores(1, adm.result, "sha256:an-older-definition", ["old-plugin 0.1"])
    result = psyq_cli("rescore")
    assert result.exit_code == 0, result.output
    assert "score version 3; version 2 kept" in result.output
    with open_store(db(psyq_home)) as store:
        versions = store.score_versions(1)
        current = store.get(1)
    assert [(v.version, v.scored_with) for v in versions] == [
        (1, current.definition_hash),
        (2, "sha256:an-older-definition"),
    ]
    assert versions[1].scoring is not None
    assert versions[1].scoring["plugins"] == ["old-plugin 0.1"]
    assert current.score_version == 3 and current.scored_with == current.definition_hash
    log = psyq_cli("audit", "log", "--record", "administration 1").output
    assert "supersede" in log and "administration 1 score version 2 superseded" in log
    assert "definition sha256:an-older-de" in log and "old-plugin 0.1" in log
    assert psyq_cli("audit", "verify").exit_code == 0
    history = json.loads(psyq_cli("history", "C0001", "--json").output)
    assert history[0]["administration"]["id"] == 1  # history shows the one current version
    # Score versions are append-only too, and checked by verify.
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        sql(db(psyq_home), "UPDATE score_versions SET scores = '{}'")
    sql(
        db(psyq_home),
        "DROP TRIGGER score_versions_no_update",
        "UPDATE score_versions SET scored_with = 'x' WHERE version = 2",
    )
    bad = psyq_cli("audit", "verify")
    assert bad.exit_code == 1 and "score version 2: stored content" in bad.stderr


# -- 2: keyed chain, REPLACE refused, schema changes named -----------------------------


def test_key_lives_outside_the_database_0600_at_a_configurable_path(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    record(psyq_cli, "C0001")
    key = psyq_home / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().strip() not in db(psyq_home).read_bytes().decode("latin-1")
    moved = tmp_path / "usb" / "psyq-audit.key"
    moved.parent.mkdir()
    key.rename(moved)
    missing = psyq_cli("record", "phq9", "--client", "C0002", "--answers", PHQ)
    assert missing.exit_code == 1
    assert "the audit key is missing" in missing.output
    assert not key.exists()  # never silently replaced by a new key
    ok = psyq_cli("--audit-key", str(moved), "audit", "verify")
    assert ok.exit_code == 0, ok.output
    os.environ["PSYQ_AUDIT_KEY"] = str(moved)
    try:
        assert psyq_cli("audit", "verify").exit_code == 0
        moved.chmod(0o644)
        loose = psyq_cli("audit", "verify")
        assert loose.exit_code == 1 and "readable by others" in loose.output
    finally:
        del os.environ["PSYQ_AUDIT_KEY"]


def test_a_wrong_key_is_named_as_such(psyq_cli: CLI, psyq_home: Path, tmp_path: Path) -> None:
    record(psyq_cli, "C0001")
    other = tmp_path / "other.key"
    other.write_text("ab" * 32 + "\n")
    other.chmod(0o600)
    result = psyq_cli("--audit-key", str(other), "audit", "verify")
    assert result.exit_code == 1
    assert "not the audit key this store's chain was written with" in result.output


def test_insert_or_replace_into_the_log_is_refused(psyq_cli: CLI, psyq_home: Path) -> None:
    record(psyq_cli, "C0001")
    conn = sqlite3.connect(db(psyq_home))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute(
            "INSERT OR REPLACE INTO audit SELECT seq, at, 'mallory', action, record, digest, "
            "prev, hash FROM audit WHERE seq = 2"
        )
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("INSERT INTO audit VALUES (99, 'a', 'b', 'c', 'd', 'e', 'f', 'g')")
    conn.close()
    assert psyq_cli("audit", "verify").exit_code == 0


@pytest.mark.parametrize("key", [None, b"\x01" * 32], ids=["plain-sha256", "guessed-key"])
def test_a_recomputed_chain_is_caught_without_the_key(
    psyq_cli: CLI, psyq_home: Path, key: bytes | None
) -> None:
    """The attack that beat an unkeyed chain: change a record, then recompute every hash
    (and its digest), restoring the triggers so the schema looks untouched."""
    record(psyq_cli, "C0001")
    record(psyq_cli, "C0002")
    path = db(psyq_home)
    tamper_answer(path, 1)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"
    ).fetchall()
    for trigger in triggers:
        conn.execute(f"DROP TRIGGER {trigger['name']}")
    row = conn.execute("SELECT * FROM administrations WHERE id = 1").fetchone()
    new_digest = audit.record_digest(dict(row))
    prev = audit.GENESIS
    for e in audit.entries(conn):
        digest = new_digest if e.record == "administration 1" else e.digest
        digest_hash = audit.entry_hash(
            e.seq, e.at, e.os_user, e.action, e.record, digest, prev, key
        )
        conn.execute(
            "UPDATE audit SET digest = ?, prev = ?, hash = ? WHERE seq = ?",
            (digest, prev, digest_hash, e.seq),
        )
        prev = digest_hash
    for trigger in triggers:
        conn.execute(trigger["sql"])
    conn.close()
    result = psyq_cli("audit", "verify")
    assert result.exit_code == 1
    assert result.stderr.startswith("psyq: audit FAILED: audit entry #1 (")
    assert "altered" in result.stderr


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (["DROP TRIGGER audit_next_only"], "schema: trigger audit_next_only is missing"),
        (
            [
                "DROP TRIGGER audit_no_delete",
                "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit WHEN 0 "
                "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
            ],
            "schema: trigger audit_no_delete was changed outside psyq",
        ),
        (
            ["CREATE TRIGGER sneaky AFTER INSERT ON clients BEGIN SELECT 1; END"],
            "schema: trigger sneaky was added outside psyq",
        ),
        (["DROP TABLE score_versions"], "schema: table score_versions is missing"),
    ],
    ids=["dropped", "altered", "added", "dropped-table"],
)
def test_schema_changes_are_reported(
    psyq_cli: CLI, psyq_home: Path, statements: list[str], expected: str
) -> None:
    record(psyq_cli, "C0001")
    sql(db(psyq_home), *statements)
    result = psyq_cli("audit", "verify")
    assert result.exit_code == 1
    assert expected in result.stderr


def test_a_dropped_audit_table_and_a_blob_cell_are_named_not_internal_errors(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    record(psyq_cli, "C0001")
    sql(db(psyq_home), "UPDATE administrations SET answers = x'00ff' WHERE id = 1")
    blob = psyq_cli("audit", "verify")
    assert blob.exit_code == 1 and "administration 1: stored content" in blob.stderr
    sql(db(psyq_home), "DROP TABLE audit")
    gone = psyq_cli("audit", "verify")
    assert gone.exit_code == 1
    assert "the audit table is missing" in gone.stderr


# -- 3: anchoring ----------------------------------------------------------------------------


def test_head_anchor_catches_a_cut_off_tail(psyq_cli: CLI, psyq_home: Path) -> None:
    record(psyq_cli, "C0001")
    head = psyq_cli("audit", "head").output.strip()
    seq, digest = head.split(":")
    with open_store(db(psyq_home)) as store:
        last = audit.entries(store.connection)[-1]
    assert (int(seq), digest) == (last.seq, last.hash)
    assert digest in psyq_cli("audit", "log").output  # the log shows hashes
    record(psyq_cli, "C0001", day="2026-10-01")
    later = psyq_cli("audit", "head").output.strip()
    assert psyq_cli("audit", "verify", "--head", head).exit_code == 0
    assert psyq_cli("audit", "verify", "--head", digest).exit_code == 0
    ok = psyq_cli("audit", "verify", "--head", later)
    assert ok.exit_code == 0 and "anchored head found" in ok.output
    # Cut off the newest administration and its audit entry, triggers restored after.
    path = db(psyq_home)
    conn = sqlite3.connect(path, isolation_level=None)
    (trigger,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'audit_no_delete'"
    ).fetchone()
    conn.execute("DROP TRIGGER audit_no_delete")
    conn.execute("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)")
    conn.execute("DELETE FROM administrations WHERE id = 2")
    conn.execute(trigger)
    conn.close()
    # Shorter, but consistent: the head psyq noted beside the key after its last write
    # names the cut (test_integrity_red_team4 has more).
    cut_off = psyq_cli("audit", "verify")
    assert cut_off.exit_code == 1 and "is no longer in its log" in cut_off.stderr
    cut = psyq_cli("audit", "verify", "--head", later)
    assert cut.exit_code == 1
    assert "is not in the audit chain" in cut.stderr
    bad = psyq_cli("audit", "verify", "--head", "not-a-hash")
    assert bad.exit_code == 2 and "is not a head" in bad.output


# -- 4: a read-only store still opens for reading ------------------------------------------------


def test_a_read_only_store_opens_for_verify_history_and_export(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    store_path = media / "psyq.db"
    assert psyq_cli("--db", str(store_path), "record", "phq9", "--client", "C0001",
                    "--date", "2026-09-01", "--answers", PHQ).exit_code == 0  # fmt: skip
    assert sorted(p.name for p in media.iterdir()) == ["psyq.db"]  # cleanly closed
    store_path.chmod(0o400)
    media.chmod(0o500)
    try:
        verify = psyq_cli("--db", str(store_path), "audit", "verify")
        assert verify.exit_code == 0, verify.output
        history = psyq_cli("--db", str(store_path), "history", "C0001", "--json")
        assert history.exit_code == 0 and json.loads(history.output)[0]["administration"]["id"] == 1
        export = psyq_cli("--db", str(store_path), "export")
        assert export.exit_code == 0 and "C0001" in export.output
        write = psyq_cli("--db", str(store_path), "record", "phq9", "--client", "C0002",
                         "--answers", PHQ)  # fmt: skip
        assert write.exit_code == 2 and "the store is read-only" in write.output
        assert sorted(p.name for p in media.iterdir()) == ["psyq.db"]  # nothing written
    finally:
        media.chmod(0o700)
        store_path.chmod(0o600)


# -- migration: a store written before keying ---------------------------------------------------


def test_an_unkeyed_version_2_store_migrates_without_losing_anything(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    """A store exactly as the previous psyq left it (schema 2, plain SHA-256 chain)."""
    from psyq.store import MIGRATIONS, _statements

    path = db(psyq_home)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")

    def legacy(action: str, record: str, digest: str) -> None:
        last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, audit.GENESIS)
        at = f"2026-01-0{seq}T00:00:00.000000+00:00"
        digest_hash = audit.entry_hash(seq, at, "olduser", action, record, digest, prev)
        conn.execute(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at, "olduser", action, record, digest, prev, digest_hash),
        )

    for version, script in enumerate(MIGRATIONS[:2], start=1):
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        legacy("migrate", "schema", audit.record_digest({"v": version}))
    conn.execute("INSERT INTO clients VALUES ('C0001', '2026-01-01T00:00:00+00:00')")
    legacy("add client", "client C0001", audit.record_digest(
        {"id": "C0001", "created_at": "2026-01-01T00:00:00+00:00"}))  # fmt: skip
    conn.execute("COMMIT")
    conn.close()

    before = psyq_cli("audit", "log").output
    assert "olduser" in before  # opened, migrated, listed
    verify = psyq_cli("audit", "verify")
    assert verify.exit_code == 0, verify.output
    record(psyq_cli, "C0001")
    with open_store(path) as store:
        entries = audit.entries(store.connection)
        assert [e.action for e in entries[:4]] == ["migrate", "migrate", "add client", "key chain"]
        assert entries[3].prev == entries[2].hash  # the keyed part chains onto the old one
        assert entries[4].action == "migrate" and store.has_client("C0001")
        assert [a.client_id for a in store.administrations()] == ["C0001"]
    assert psyq_cli("audit", "verify").exit_code == 0
    # The old, unkeyed entries are still protected: changing one breaks the keyed link.
    sql(path, "DROP TRIGGER audit_no_update", "UPDATE audit SET os_user = 'x' WHERE seq = 2")
    assert psyq_cli("audit", "verify").exit_code == 1
