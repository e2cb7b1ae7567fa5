"""Red-team pass 5 on "nothing is silently rewritten": `psyq doctor` checks the store's
integrity, an earlier version psyq kept (of answers, scores or a client's details) deleted
by hand is named on every read, an audit entry altered in the log is named on read even
when it is not its record's last, and the store file replaced by something else is one
clear line."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.cli_checks import ITEM_9, phq9_draft
from tests.cli_checks import hand_edit as _hand_edit

CLI = Callable[..., Result]
DELETED = "!!! DELETED OUTSIDE PSYQ"


@pytest.fixture
def store_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """`psyq doctor` with its store check only: the PDF checks depend on the machine
    (tests/test_doctor.py checks them)."""
    from psyq.plugins.commands import doctor

    monkeypatch.setattr(doctor, "CHECKS", ())


@pytest.fixture
def draft(tmp_path: Path) -> Path:
    """The PHQ-9 as a draft under its own id (a clinic's copy, given by path)."""
    return phq9_draft(tmp_path)


def _rescored(psyq_cli: CLI, draft: Path) -> None:
    """One form of the draft, rescored after the draft changed: score version 1 kept, and
    the form's audit entries are `record`, then (after the kept version's) `rescore`."""
    recorded = psyq_cli("record", draft, "--client", "C0042", "--answers", "1,1,1,1,1,1,1,1,1")
    assert recorded.exit_code == 0, recorded.output
    draft.write_text(draft.read_text().replace(ITEM_9, ITEM_9.replace("0}", "2}")))
    rescored = psyq_cli("rescore", "--instrument", draft)
    assert rescored.exit_code == 0 and "version 1 kept" in rescored.output, rescored.output


# -- 1. psyq doctor checks the store ---------------------------------------------------


def test_doctor_names_each_integrity_problem_and_fails(
    psyq_cli: CLI, psyq_home: Path, store_only: None
) -> None:
    """doctor said "no problems found" (exit 0) for a store whose answers were changed
    and whose forms were deleted by hand: only `audit verify` looked."""
    db = psyq_home / "psyq.db"
    fresh = psyq_cli("doctor")  # no store yet: said, and none made
    assert fresh.exit_code == 0 and f"no store yet at {db}" in fresh.output
    assert not db.exists()
    for answers in ("1,1,1,1,1,1,1,1,1", "2,2,2,2,2,2,2,2,2"):
        assert psyq_cli("record", "phq9", "--client", "C0042", "--answers", answers).exit_code == 0
    clean = psyq_cli("doctor")
    assert clean.exit_code == 0, clean.output
    assert clean.output.startswith(f"ok    store integrity  {db}: ")
    assert "records match" in clean.output and "no problems found" in clean.output
    _hand_edit(
        db,
        "UPDATE administrations SET answers = replace(answers, '1', '0') WHERE id = 1",
        "DELETE FROM administrations WHERE id = 2",
    )
    found = psyq_cli("doctor")
    assert found.exit_code == 1
    lines = found.output.splitlines()
    assert lines[0] == f"FAIL  store integrity  {db}: 2 problem(s) found by `psyq audit verify`"
    assert lines[1].startswith("      administration 1: stored content (answers, scores or")
    assert lines[2].startswith("      administration 2: deleted outside psyq (last audited")
    assert lines[3].startswith("      fix: `psyq audit verify` gives the details")
    assert "psyq doctor: 1 problem(s): store integrity" in found.output
    # What audit verify says, doctor says: the same problems, one line each.
    verify = psyq_cli("audit", "verify")
    assert verify.exit_code == 1
    assert lines[1].strip() in verify.output and lines[2].strip() in verify.output


def test_doctor_names_a_store_it_cannot_check(
    psyq_cli: CLI, psyq_home: Path, store_only: None, tmp_path: Path
) -> None:
    assert psyq_cli("record", "phq9", "--client", "C0042", "--answers", "0,0,0,0,0,0,0,0,0")
    key = psyq_home / "audit.key"
    key.rename(tmp_path / "away.key")
    missing = psyq_cli("doctor")
    assert missing.exit_code == 1
    assert "FAIL  store integrity" in missing.output
    assert "the audit key is missing" in missing.output
    (tmp_path / "away.key").rename(key)
    other = tmp_path / "other.db"
    other.write_bytes(b"%PDF-1.7 not a database at all\n" * 200)
    other.chmod(0o600)
    bad = psyq_cli("--db", other, "doctor")
    assert bad.exit_code == 1
    assert f"FAIL  store integrity  {other}: not a psyq store" in bad.output
    assert "Traceback" not in bad.output


# -- 2. a kept version deleted by hand is named on reads -------------------------------


def test_a_kept_answer_version_deleted_by_hand_is_named_wherever_the_form_is_read(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    """Item 3 answered 1, gone back to with b and answered 3: psyq kept the form as first
    saved (answer version 1). Deleted with the sqlite3 shell, history, export, clients
    and the form's report showed the form as if its answers had never changed."""
    given = psyq_cli("administer", "phq9", "--client", "C0042", input="1\n1\n1\nb\n3\nq\n")
    assert given.exit_code == 1, given.output  # stopped: a partial administration
    before = psyq_cli("history", "C0042")
    assert "ANSWERS CHANGED" in before.output and DELETED not in before.output
    assert "CHANGED OUTSIDE PSYQ" not in before.output  # its earlier entries all check
    _hand_edit(
        psyq_home / "psyq.db",
        "DROP TRIGGER answer_versions_no_delete",
        "DELETE FROM answer_versions",
    )
    said = (
        f"{DELETED}: answer version 1 was deleted outside psyq after psyq saved it (kept of "
        "administration 1; last audited in entry #"
    )
    history = psyq_cli("history", "C0042")
    assert history.exit_code == 0 and said in history.output
    as_json = psyq_cli("history", "C0042", "--json")
    assert said in as_json.stderr and json.loads(as_json.stdout)
    exported = psyq_cli("export", "--include-partial")
    assert exported.exit_code == 0 and said in exported.stderr
    hidden = psyq_cli("export", "--include-partial", "--deidentify")
    assert "1 record(s) psyq kept" in hidden.stderr and "answer version" not in (hidden.stderr)
    assert said in psyq_cli("clients").output
    for name in ("r.txt", "r.json", "r.html"):
        made = psyq_cli("report", "--administration", "1", "-o", tmp_path / name)
        assert made.exit_code == 0, made.output
        assert "answer version 1 DELETED OUTSIDE PSYQ" in made.output
    assert f"{DELETED}: answer version 1 was deleted" in (tmp_path / "r.txt").read_text()
    report = json.loads((tmp_path / "r.json").read_text())["report"]
    (gone,) = report["records_deleted_outside_psyq"]
    assert gone["record"] == "answer version 1" and "entry #" in gone["problem"]
    assert (
        "A record psyq saved (answer version 1) was deleted outside psyq"
        in (tmp_path / "r.html").read_text()
    )


def test_a_kept_score_version_deleted_by_hand_is_named(
    psyq_cli: CLI, psyq_home: Path, draft: Path
) -> None:
    """Score version 1 raised the critical flag the rescore took away; deleted by hand,
    history showed the current scores as the whole story."""
    _rescored(psyq_cli, draft)
    assert "RESCORED (earlier: CRITICAL" in psyq_cli("history", "C0042").output
    _hand_edit(
        psyq_home / "psyq.db",
        "DROP TRIGGER score_versions_no_delete",
        "DELETE FROM score_versions",
    )
    history = psyq_cli("history", "C0042")
    assert f"{DELETED}: score version 1 was deleted" in history.output
    assert "kept of administration 1; last audited in entry #" in history.output


def test_a_kept_client_version_deleted_by_hand_is_named(psyq_cli: CLI, psyq_home: Path) -> None:
    """The client's sex was female, then male (client version 1 keeps female). Deleted by
    hand, `clients show` listed male as if nothing had been recorded before."""
    for sex in ("female", "male"):
        assert psyq_cli("clients", "set", "C0042", "--sex", sex).exit_code == 0
    assert psyq_cli("clients", "set", "C0043", "--sex", "female").exit_code == 0
    assert "client version 1: sex female" in psyq_cli("clients", "show", "C0042").output
    _hand_edit(
        psyq_home / "psyq.db",
        "DROP TRIGGER client_versions_no_delete",
        "DELETE FROM client_versions",
    )
    said = (
        f"{DELETED}: client version 1 was deleted outside psyq after psyq saved it (kept of "
        "client C0042; last audited in entry #"
    )
    shown = psyq_cli("clients", "show", "C0042")
    assert shown.exit_code == 0 and said in shown.output
    doc = json.loads(psyq_cli("clients", "show", "C0042", "--json").stdout)
    assert doc["earlier"] == [] and said in doc["earlier_deleted_outside_psyq"][0]
    assert said in psyq_cli("clients").output
    # Another client's own listing does not claim it.
    other = json.loads(psyq_cli("clients", "show", "C0043", "--json").stdout)
    assert other["earlier_deleted_outside_psyq"] == []


# -- 3. an audit entry altered that is not its record's last ------------------------------


def test_an_altered_earlier_audit_entry_is_named_on_read(
    psyq_cli: CLI, psyq_home: Path, draft: Path, tmp_path: Path
) -> None:
    """The form's first entry (`record`: who saved it, when) rewritten in the log, its
    later `rescore` entry untouched: reads checked each record's last entry only, so
    history, export and the report showed the form as psyq recorded it."""
    _rescored(psyq_cli, draft)
    assert "CHANGED OUTSIDE PSYQ" not in psyq_cli("history", "C0042").output
    _hand_edit(
        psyq_home / "psyq.db",
        "DROP TRIGGER audit_no_update",
        "UPDATE audit SET os_user = 'someone_else' WHERE action = 'record' "
        "AND record = 'administration 1'",
    )
    history = psyq_cli("history", "C0042")
    assert "!!! CHANGED OUTSIDE PSYQ" in history.output
    assert "(record administration 1, an earlier entry for it): altered" in history.output
    exported = psyq_cli("export", "--format", "jsonl")
    (row,) = [json.loads(line) for line in exported.stdout.splitlines()]
    assert "an earlier entry for it): altered" in row["administration"]["changed_outside_psyq"]
    made = psyq_cli("report", "--administration", "1", "-o", tmp_path / "r.json")
    assert made.exit_code == 0
    report = json.loads((tmp_path / "r.json").read_text())["report"]
    assert "an earlier entry for it): altered" in report["changed_outside_psyq"]
    # Not a form moved to another client: it is said once, as changed, not as moved.
    assert "CLIENT UNKNOWN" not in history.output and "LEFT CLIENT" not in history.output
    verify = psyq_cli("audit", "verify")
    assert verify.exit_code == 1 and "altered" in verify.output


def test_an_untouched_store_with_many_entries_per_form_names_nothing(
    psyq_cli: CLI, draft: Path
) -> None:
    _rescored(psyq_cli, draft)
    given = psyq_cli("administer", "phq9", "--client", "C0042", input="1\n1\n1\nb\n3\nq\n")
    assert given.exit_code == 1
    for args in (("history", "C0042"), ("clients",), ("export", "--include-partial")):
        shown = psyq_cli(*args)
        assert shown.exit_code == 0, shown.output
        assert "OUTSIDE PSYQ" not in shown.output, args
    assert psyq_cli("audit", "verify").exit_code == 0


# -- 5. the store file and its log, changed by hand ------------------------------------


def _two_forms(psyq_cli: CLI) -> None:
    for answers in ("1,1,1,1,1,1,1,1,2", "0,0,0,0,0,0,0,0,0"):
        recorded = psyq_cli("record", "phq9", "--client", "C0042", "--answers", answers)
        assert recorded.exit_code == 0, recorded.output


def test_an_audit_entry_appended_by_hand_is_named_and_not_written_after(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    """The triggers let anyone append the next entry with the sqlite3 shell: no trigger
    dropped, so no schema change. Reads said nothing (they check the entries of the
    records shown), and psyq's next write chained onto it, burying it in the chain."""
    _two_forms(psyq_cli)
    db = psyq_home / "psyq.db"
    _hand_edit(
        db,
        "INSERT INTO audit SELECT seq + 1, at, 'someone', 'migrate', 'schema', digest, hash, "
        "hash FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)",
    )
    said = "!!! AUDIT LOG CHANGED OUTSIDE PSYQ: audit entry #"
    for args in (("history", "C0042"), ("clients",), ("export",)):
        shown = psyq_cli(*args)
        assert shown.exit_code == 0 and said in shown.output, args
        assert "(migrate schema, " in shown.output and "was not written by psyq" in shown.output
    made = psyq_cli("report", "--administration", "1", "-o", tmp_path / "r.html")
    assert made.exit_code == 0 and "AUDIT LOG CHANGED OUTSIDE PSYQ (psyq audit" in made.output
    html = (tmp_path / "r.html").read_text()
    assert "audit log holds an entry psyq did not write" in html
    assert "Entries were deleted" not in html  # none were
    entries = sqlite3.connect(db).execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    refused = psyq_cli("record", "phq9", "--client", "C0042", "--answers", "0,0,0,0,0,0,0,0,0")
    assert refused.exit_code == 1
    assert "was not written by psyq" in refused.output and "nothing saved" in refused.output
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == entries
    assert conn.execute("SELECT COUNT(*) FROM administrations").fetchone()[0] == 2
    assert psyq_cli("audit", "verify").exit_code == 1


def test_another_clinics_store_copied_in_is_named_and_not_written_under_this_key(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    """Another clinic's store (its own audit key) copied over this one: reads called it
    this store put back to an older copy, and `record` appended entries under this key to
    the other chain, which then neither key could verify."""
    _two_forms(psyq_cli)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    other = ["--db", elsewhere / "psyq.db", "--audit-key", elsewhere / "audit.key"]
    made = psyq_cli(*other, "record", "phq9", "--client", "C0099", "--answers", "3,3,3,3,3,3,3,3,3")
    assert made.exit_code == 0, made.output
    shutil.copy(elsewhere / "psyq.db", psyq_home / "psyq.db")
    history = psyq_cli("history", "C0099")
    assert "this is not the audit key this store's chain was written with" in history.output
    assert "another store copied in?" in history.output
    entries = sqlite3.connect(psyq_home / "psyq.db").execute("SELECT COUNT(*) FROM audit")
    before = entries.fetchone()[0]
    refused = psyq_cli("record", "phq9", "--client", "C0042", "--answers", "0,0,0,0,0,0,0,0,0")
    assert refused.exit_code == 1
    assert "not the audit key this store's chain was written with" in refused.output
    entries = sqlite3.connect(psyq_home / "psyq.db").execute("SELECT COUNT(*) FROM audit")
    assert entries.fetchone()[0] == before
    # With its own key it is the other clinic's store, whole and unchanged.
    key = ["--audit-key", elsewhere / "audit.key"]
    assert psyq_cli(*key, "audit", "verify").exit_code == 0


def test_a_client_deleted_by_hand_is_named_with_its_forms_and_their_flags(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    """The client row deleted, its forms left: `psyq clients` no longer listed the client
    (nor the critical flag of its latest form), `history` said "no client", and `record`
    made the client anew with a fresh audit entry, after which `audit verify` passed."""
    for answers in ("0,0,0,0,0,0,0,0,0", "1,1,1,1,1,1,1,1,2"):
        assert psyq_cli("record", "phq9", "--client", "C0042", "--answers", answers).exit_code == 0
    assert psyq_cli("record", "phq9", "--client", "C0043", "--answers", "0,0,0,0,0,0,0,0,0")
    _hand_edit(psyq_home / "psyq.db", "DELETE FROM clients WHERE id = 'C0042'")
    said = (
        f"{DELETED}: client C0042 was deleted outside psyq after psyq saved it (2 "
        "administration(s) stored for it remain; last audited in entry #"
    )
    clients = psyq_cli("clients")
    assert clients.exit_code == 0 and said in clients.output
    assert (
        "client C0042 (deleted outside psyq): !!! CRITICAL in latest administration 2"
        in clients.output
    )
    history = psyq_cli("history", "C0042")
    assert history.exit_code == 0 and said in history.output
    rows = [line.split()[0] for line in history.output.splitlines() if "  total  " in line]
    assert rows == ["1", "2"]  # its forms, still shown
    shown = psyq_cli("clients", "show", "C0042")
    assert shown.exit_code == 1 and "it was deleted outside psyq" in shown.output
    refused = psyq_cli("record", "phq9", "--client", "C0042", "--answers", "0,0,0,0,0,0,0,0,0")
    assert refused.exit_code == 1
    assert "client C0042 is no longer in" in refused.output and "nothing saved" in refused.output
    verify = psyq_cli("audit", "verify")
    assert verify.exit_code == 1 and "client C0042: deleted outside psyq" in verify.output


def test_a_schema_version_raised_by_hand_is_not_called_a_newer_psyq(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    """`PRAGMA user_version = 8` on a version 7 store: psyq said "upgrade psyq", and a
    psyq that could read it would have been sought in vain."""
    _two_forms(psyq_cli)
    _hand_edit(psyq_home / "psyq.db", "PRAGMA user_version = 8")
    history = psyq_cli("history", "C0042")
    assert history.exit_code == 2
    assert "its version was changed outside psyq to 8" in history.output
    assert "upgrade psyq" not in history.output and "Traceback" not in history.output


def test_a_client_row_made_unreadable_by_hand_is_one_line(psyq_cli: CLI, psyq_home: Path) -> None:
    _two_forms(psyq_cli)
    _hand_edit(psyq_home / "psyq.db", "UPDATE clients SET created_at = 'x'")
    listed = psyq_cli("clients")
    assert listed.exit_code == 2
    assert listed.output.startswith("psyq: error: client C0042: damaged record (")
    assert "internal error" not in listed.output and len(listed.output.splitlines()) == 1


def test_another_stores_rollback_journal_is_not_played_back_into_the_store(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    """A `-journal` copied in beside the store (from another store, mid-transaction):
    SQLite played it back on the next open, overwriting the store's pages with the other
    file's; the store's own answers were gone, and only named as changed afterwards."""
    _two_forms(psyq_cli)
    other = tmp_path / "other.db"
    assert psyq_cli(
        "--db", other, "record", "phq9", "--client", "C0099", "--answers", "3,3,3,3,3,3,3,3,3"
    )
    conn = sqlite3.connect(other, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA cache_size = 1")  # spill to the file: the journal is "hot"
    conn.execute("BEGIN IMMEDIATE")
    for n in range(50):  # notes over many pages, so that pages spill to the file
        conn.execute("UPDATE administrations SET note = ?", ("x" * 4000 * n,))
    journal = psyq_home / "psyq.db-journal"
    shutil.copy(tmp_path / "other.db-journal", journal)
    journal.chmod(0o600)
    assert journal.read_bytes()[:8] == bytes.fromhex("d9d505f920a163d7")  # a "hot" journal
    conn.execute("ROLLBACK")
    conn.close()
    db = psyq_home / "psyq.db"
    before = db.read_bytes()
    for args in (
        ("history", "C0042"),
        ("record", "phq9", "--client", "C0042", "--answers", "0,0,0,0,0,0,0,0,0"),
    ):
        refused = psyq_cli(*args)
        assert refused.exit_code == 2, refused.output
        assert refused.output.startswith(f"psyq: error: {journal}: a rollback journal beside")
        assert "psyq does not open the store (nothing changed)" in refused.output
    assert db.read_bytes() == before and journal.exists()  # nothing played back, nothing lost
    journal.rename(tmp_path / "kept-journal")
    assert psyq_cli("audit", "verify").exit_code == 0
    # One that goes within moments was another psyq's (two processes creating the store
    # at once: SQLite journals the switch to WAL mode), not a copied one: waited for.
    shutil.copy(tmp_path / "kept-journal", journal)
    going = threading.Timer(0.3, journal.rename, (tmp_path / "gone-journal",))
    going.start()
    waited = psyq_cli("history", "C0042")
    going.join()
    assert waited.exit_code == 0, waited.output


def test_a_kept_definition_deleted_by_hand_is_named_not_asked_for_again(
    psyq_cli: CLI, psyq_home: Path, draft: Path
) -> None:
    """The store's copy of a draft's definition deleted with the sqlite3 shell (the file
    gone too): history said "the store keeps no usable copy of it; give its definition
    file again", as if psyq had never kept one."""
    recorded = psyq_cli("record", draft, "--client", "C0042", "--answers", "1,1,1,1,1,1,1,1,1")
    assert recorded.exit_code == 0, recorded.output
    draft.unlink()
    _hand_edit(
        psyq_home / "psyq.db", "DROP TRIGGER definitions_no_delete", "DELETE FROM definitions"
    )
    history = psyq_cli("history", "C0042")
    assert history.exit_code == 1
    assert "the store's copy of it was deleted outside psyq (definition sha256:" in history.output
    assert "last audited in entry #" in history.output and "give its definition" not in (
        history.output
    )


CANNOT = "!!! CANNOT SHOW: administration 1 (mood9 v1.0, "
STORED_ALERT = (
    "  as stored: CRITICAL in complete administration 1 (mood9) (item phq9_9): The client "
    "endorsed thoughts"
)


@pytest.mark.parametrize("how", ["copy deleted", "copy altered"])
def test_a_form_psyq_cannot_read_hides_neither_the_others_nor_its_alert(
    psyq_cli: CLI, psyq_home: Path, draft: Path, how: str
) -> None:
    """A draft's stored copy deleted (or altered) by hand, its file gone: history,
    `clients` and export failed whole on that one form, so every other form, and the
    critical flag stored with it, went unshown (another client's item 9 too, in
    `clients` and export)."""
    recorded = psyq_cli("record", draft, "--client", "C0042", "--answers", "1,1,1,1,1,1,1,1,1")
    assert recorded.exit_code == 0, recorded.output
    for client, answers in (("C0042", "0,0,0,0,0,0,0,0,0"), ("C0099", "0,0,0,0,0,0,0,0,3")):
        assert psyq_cli("record", "phq9", "--client", client, "--answers", answers).exit_code == 0
    draft.unlink()
    change = (
        "DELETE FROM definitions"
        if how == "copy deleted"
        else "UPDATE definitions SET definition = replace(definition, 'Mild', 'Fine')"
    )
    _hand_edit(psyq_home / "psyq.db", "DROP TRIGGER IF EXISTS definitions_no_delete",
               "DROP TRIGGER IF EXISTS definitions_no_update", change)  # fmt: skip
    history = psyq_cli("history", "C0042")
    assert history.exit_code == 1, history.output
    lines = history.stdout.splitlines()
    assert lines[0].startswith(CANNOT) and "of client C0042: instrument 'mood9'" in lines[0]
    assert lines[1].startswith(STORED_ALERT)
    assert any(line.startswith("   2  ") and "Minimal" in line for line in lines)  # the other
    as_json = psyq_cli("history", "C0042", "--json")
    assert as_json.exit_code == 1 and CANNOT in as_json.stderr
    assert [d["administration"]["id"] for d in json.loads(as_json.stdout)] == [2]
    clients = psyq_cli("clients")
    assert clients.exit_code == 1 and clients.stdout.startswith(CANNOT)
    assert "CRITICAL in latest administration 3 (phq9)" in clients.stdout  # C0099's
    assert "CRITICAL in latest administration 1 (mood9)" in clients.stdout
    exported = psyq_cli("export")
    assert exported.exit_code == 1 and CANNOT in exported.stderr
    assert STORED_ALERT in exported.stderr
    ids = [r["administration_id"] for r in csv.DictReader(io.StringIO(exported.stdout))]
    assert ids == ["2", "3"]
    hidden = psyq_cli("export", "--deidentify")
    assert "!!! CANNOT SHOW: an administration (mood9 v1.0, complete): its definition" in (
        hidden.stderr
    )
    assert "C0042" not in hidden.stdout + hidden.stderr and "root" not in hidden.stderr
    # Its own report cannot be made without the definition: the refusal quotes its flag.
    report = psyq_cli("report", "--administration", "1", "-o", psyq_home / "r.html")
    assert report.exit_code in (1, 2) and not (psyq_home / "r.html").exists()
    (line,) = [x for x in report.stderr.splitlines() if x.startswith("psyq: error: ")]
    assert line.startswith("psyq: error: administration 1: instrument 'mood9' v1.0 is not")
    assert STORED_ALERT.strip() in line
