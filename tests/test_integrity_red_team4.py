"""Red-team pass 4 on "nothing is silently rewritten" and "never hide a risk signal" in
history and export: every kept score version in `history --json`, a form moved to
another client named under the client it left, and each flag's level in the CSV export."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.cli_checks import ITEM_9, phq9_draft
from tests.cli_checks import hand_edit as _hand_edit

CLI = Callable[..., Result]


@pytest.fixture
def draft(tmp_path: Path) -> Path:
    """The PHQ-9 as a draft under its own id (a clinic's copy, given by path)."""
    return phq9_draft(tmp_path)


def test_history_json_carries_every_kept_score_version(
    psyq_cli: CLI, psyq_home: Path, draft: Path
) -> None:
    """Item 9 answered 1 raised the critical flag; the draft then raised it from 3 only
    and a rescore replaced the scores. `history --json` showed the current scores only:
    no trace of the earlier version, its flag, or when and why it changed."""
    recorded = psyq_cli("record", draft, "--client", "C0042", "--answers", "1,1,1,1,1,1,1,1,1")
    assert recorded.exit_code == 0, recorded.output
    draft.write_text(draft.read_text().replace(ITEM_9, ITEM_9.replace("0}", "2}")))
    rescored = psyq_cli("rescore", "--instrument", draft)
    assert rescored.exit_code == 0 and "score version 2; version 1 kept" in rescored.output
    (doc,) = json.loads(psyq_cli("history", "C0042", "--json").stdout)
    adm = doc["administration"]
    assert doc["flags"] == [] and adm["score_version"] == 2 and adm["scored_by"]
    (kept,) = adm["score_versions"]
    assert kept["version"] == 1 and kept["scores"]["total"] == {"value": 9, "band": "mild"}
    assert kept["flags"] == [{"id": "suicidal_ideation", "level": "critical"}]
    assert kept["critical_flags"] == ["suicidal_ideation"]  # raised then, not now
    assert kept["why"].startswith("the definition changed (sha256:")
    assert kept["scored_at"] < kept["superseded_at"] and kept["superseded_by"]
    assert kept["definition_hash"] == adm["definition_hash"] and kept["plugins"]
    assert kept["changed_outside_psyq"] is None
    # The text history names it on the row and under the table.
    history = psyq_cli("history", "C0042").stdout
    [row] = [line for line in history.splitlines() if line.strip().startswith("1  ")]
    assert "RESCORED (earlier: CRITICAL suicidal_ideation)" in row
    [line] = [line for line in history.splitlines() if line.startswith("SCORES REPLACED")]
    assert "score version 1 (total 9" in line and "the definition changed" in line
    assert "it raised CRITICAL (item phq9_9): The client endorsed thoughts" in line
    # A kept version changed by hand is said to be, wherever it is shown.
    _hand_edit(
        psyq_home / "psyq.db",
        "DROP TRIGGER score_versions_no_update",
        "UPDATE score_versions SET scores = replace(scores, 'suicidal_ideation', 'x')",
    )
    (doc,) = json.loads(psyq_cli("history", "C0042", "--json").stdout)
    (kept,) = doc["administration"]["score_versions"]
    assert "score version 1: stored content differs" in kept["changed_outside_psyq"]
    assert "CHANGED OUTSIDE PSYQ" in psyq_cli("history", "C0042").stdout
    # Deleted (its trigger dropped and put back as it was): the number says it is gone.
    _hand_edit(
        psyq_home / "psyq.db",
        "DROP TRIGGER score_versions_no_delete",
        "DELETE FROM score_versions",
    )
    (doc,) = json.loads(psyq_cli("history", "C0042", "--json").stdout)
    (gone,) = doc["administration"]["score_versions"]
    assert gone["version"] == 1 and "it was deleted outside psyq" in gone["changed_outside_psyq"]
    said = "!!! CHANGED OUTSIDE PSYQ: score version 1 of administration 1 is no longer in"
    assert said in psyq_cli("history", "C0042").stdout


def test_a_partial_forms_kept_score_versions_are_in_history_json(
    psyq_cli: CLI, draft: Path
) -> None:
    stopped = psyq_cli("administer", draft, "--client", "C0042", input="1\n" * 9 + "q\n")
    assert stopped.exit_code == 1, stopped.output  # item 10 left: partial
    draft.write_text(draft.read_text().replace(ITEM_9, ITEM_9.replace("0}", "2}")))
    assert psyq_cli("rescore", "--instrument", draft).exit_code == 0
    (doc,) = json.loads(psyq_cli("history", "C0042", "--json").stdout)
    assert doc["administration"]["status"] == "partial"
    (kept,) = doc["administration"]["score_versions"]
    assert kept["critical_flags"] == ["suicidal_ideation"]
    assert "SCORES REPLACED: administration 1" in psyq_cli("history", "C0042").stdout


def _three_phq9s(psyq_cli: CLI) -> None:
    for day, answers in (
        ("2026-09-01", "3,3,2,2,2,2,2,2,2"),
        ("2026-10-01", "2,2,2,2,2,2,2,2,2"),  # item 9 positive: critical
        ("2026-11-01", "1,1,1,1,1,1,1,1,0"),
    ):
        recorded = psyq_cli(
            "record", "phq9", "--client", "C0042", "--date", day, "--answers", answers
        )
        assert recorded.exit_code == 0, recorded.output


LEFT = "!!! LEFT CLIENT C0042 OUTSIDE PSYQ: administration 2 (phq9, 2026-10-01, complete)"


@pytest.mark.parametrize("to", ["C0099", "C0777"])  # another client; an id not in the store
def test_a_form_moved_to_another_client_is_named_under_the_client_it_left(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path, to: str
) -> None:
    """October's PHQ-9 (item 9 positive) re-assigned by hand: C0042's history, report and
    export showed September -> November as the whole story, without a word."""
    _three_phq9s(psyq_cli)
    assert (
        psyq_cli("record", "phq9", "--client", "C0099", "--answers", "0," * 8 + "0").exit_code == 0
    )
    for args in (("history", "C0042"), ("export",)):  # untouched: nothing said
        assert "OUTSIDE PSYQ" not in psyq_cli(*args).output
    _hand_edit(psyq_home / "psyq.db", f"UPDATE administrations SET client_id = '{to}' WHERE id = 2")
    history = psyq_cli("history", "C0042")
    assert history.exit_code == 0, history.output
    lines = history.stdout.splitlines()
    assert lines[1].startswith(LEFT)  # under the heading, before any score
    assert f"is now stored under client {to}: it was moved outside psyq" in lines[1]
    assert "it raises CRITICAL (item phq9_9): The client endorsed thoughts" in lines[1]
    assert "last audited in entry #" in lines[1]
    assert LEFT in psyq_cli("history", "C0042", "--json").stderr
    if to == "C0099":  # where it shows now: said to be C0042's form, not C0099's
        there = psyq_cli("history", "C0099").stdout
        assert "LEFT CLIENT" not in there
        assert "it was saved by psyq as client C0042's and moved here outside psyq" in there
    listed = psyq_cli("clients").stdout.splitlines()
    at = next(n for n, line in enumerate(listed) if line.startswith("C0042"))
    assert "2 administration(s)" in listed[at] and LEFT in listed[at + 1]  # after its flags
    docs = {d["id"]: d for d in json.loads(psyq_cli("clients", "--json").stdout)}
    assert docs["C0042"]["left_outside_psyq"] == [2]
    # The November report (its trend lost October).
    for name in ("r.txt", "r.json", "r.html"):
        made = psyq_cli("report", "--administration", "3", "-o", tmp_path / name)
        assert made.exit_code == 0, made.output
        assert "administration 2 LEFT THIS CLIENT OUTSIDE PSYQ (it raises CRITICAL" in made.output
    assert LEFT in (tmp_path / "r.txt").read_text()
    (moved,) = json.loads((tmp_path / "r.json").read_text())["report"]["left_client_outside_psyq"]
    assert moved["former_client"] == "C0042" and moved["client_id"] == to
    assert moved["critical"] == ["suicidal_ideation (item phq9_9)"]
    own = psyq_cli("report", "--administration", "2", "-o", tmp_path / "r2.txt")
    assert own.exit_code == 0, own.output  # the moved form's own report names its client
    assert "saved by psyq as client C0042's and moved here" in (tmp_path / "r2.txt").read_text()
    fhir = psyq_cli("report", "--administration", "3", "--format", "fhir", "-o", tmp_path / "f")
    assert fhir.exit_code == 0, fhir.output
    assert "LEFT CLIENT C0042 OUTSIDE PSYQ: administration 2" in (tmp_path / "f").read_text()
    page = (tmp_path / "r.html").read_text()
    assert f"was saved by psyq as this client&#39;s and was moved to client {to} outside" in page
    # The export: the row names the client it was saved for; the terminal says so.
    exported = psyq_cli("export")
    rows = {r["administration_id"]: r for r in csv.DictReader(io.StringIO(exported.stdout))}
    assert rows["2"]["client_id"] == to
    assert "(moved outside psyq from client C0042)" in rows["2"]["changed_outside_psyq"]
    assert LEFT in exported.stderr
    hidden = psyq_cli("export", "--deidentify")
    assert "MOVED OUTSIDE PSYQ: an administration (phq9, complete) was moved" in hidden.stderr
    assert "C0042" not in hidden.stdout + hidden.stderr
    cells = [r["changed_outside_psyq"] for r in csv.DictReader(io.StringIO(hidden.stdout))]
    assert sum("moved outside psyq from client x" in cell for cell in cells) == 1
    # rescore does not build on it, and audit verify names it.
    assert psyq_cli("rescore").exit_code == 1
    assert psyq_cli("audit", "verify").exit_code == 1


def test_a_form_moved_with_another_edit_is_named_where_it_may_have_come_from(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    """Moved and its note changed: psyq cannot tell whose it was, so it says so under
    every other client rather than under none."""
    _three_phq9s(psyq_cli)
    assert (
        psyq_cli("record", "phq9", "--client", "C0099", "--answers", "0," * 8 + "0").exit_code == 0
    )
    _hand_edit(
        psyq_home / "psyq.db",
        "UPDATE administrations SET client_id = 'C0099', note = 'x' WHERE id = 2",
    )
    history = psyq_cli("history", "C0042").stdout
    assert (
        "!!! CHANGED OUTSIDE PSYQ, CLIENT UNKNOWN: administration 2 (phq9, 2026-10-01, "
        "complete), now stored under client C0099" in history
    )
    assert "it may have been this client's; it raises CRITICAL (item phq9_9): The client" in history
    # Where it is now, it is the changed record it always was: no "left" line there.
    assert "CLIENT UNKNOWN" not in psyq_cli("history", "C0099").stdout


def test_export_csv_gives_each_flags_level(psyq_cli: CLI) -> None:
    """`flags` named ids only: a data manager could not pick out the critical rows."""
    _three_phq9s(psyq_cli)
    stopped = psyq_cli("administer", "phq9", "--client", "C0043", input="0\n" * 8 + "q\n")
    assert stopped.exit_code == 1  # item 9 unanswered in an unfinished form
    exported = psyq_cli("export", "--include-partial")
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    header = exported.stdout.splitlines()[0].split(",")
    # The columns there before keep their names, order and values.
    assert header.index("flags") + 1 == header.index("flag_items")
    assert header.index("flag_levels") == header.index("flag_items") + 1
    by_id = {r["administration_id"]: r for r in rows}
    assert by_id["2"]["flags"] == "suicidal_ideation;major_depressive_syndrome"
    assert by_id["2"]["flag_levels"] == "suicidal_ideation:critical;major_depressive_syndrome:info"
    assert by_id["3"]["flag_levels"] == ""
    assert "critical_item_unanswered:critical" in by_id["4"]["flag_levels"]
    critical = sorted(r["administration_id"] for r in rows if ":critical" in r["flag_levels"])
    assert critical == ["1", "2", "4"]
    # JSONL carries the same level in each flag's object.
    lines = psyq_cli("export", "--format", "jsonl", "--include-partial").stdout.splitlines()
    levels = {json.loads(line)["administration"]["id"]: json.loads(line)["flags"] for line in lines}
    assert (levels[2][0]["id"], levels[2][0]["level"]) == ("suicidal_ideation", "critical")


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of a store (as `sqlite3 psyq.db .backup copy.db` makes)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()


ROLLED_BACK = "!!! AUDIT LOG CHANGED OUTSIDE PSYQ: audit entry #"


def test_a_store_put_back_to_an_older_copy_is_named_everywhere(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    """A backup from before the mid-November form (item 9 at 3) copied over the store: the
    older chain verified clean and history showed September -> October as all there was."""
    db = psyq_home / "psyq.db"
    _three_phq9s(psyq_cli)
    _copy(db, tmp_path / "backup.db")
    late = ("record", "phq9", "--client", "C0042", "--date", "2026-11-15")
    assert psyq_cli(*late, "--answers", "0,0,0,0,0,0,0,0,3").exit_code == 0
    for side in ("psyq.db-wal", "psyq.db-shm"):
        (psyq_home / side).unlink(missing_ok=True)
    _copy(tmp_path / "backup.db", db)
    said = "the newest psyq wrote to this store (noted in"
    verified = psyq_cli("audit", "verify")
    assert verified.exit_code == 1 and said in verified.stderr
    assert "put back to an older copy" in verified.stderr
    history = psyq_cli("history", "C0042")
    assert history.exit_code == 0 and ROLLED_BACK in history.stdout and said in history.stdout
    assert ROLLED_BACK in psyq_cli("history", "C0042", "--json").stderr
    assert ROLLED_BACK in psyq_cli("export").stderr
    assert ROLLED_BACK in psyq_cli("export", "--deidentify").stderr
    made = psyq_cli("report", "--administration", "3", "-o", tmp_path / "r.txt")
    assert "AUDIT LOG CHANGED OUTSIDE PSYQ" in made.output
    assert ROLLED_BACK in (tmp_path / "r.txt").read_text()
    fhir = psyq_cli("report", "--administration", "3", "--format", "fhir", "-o", tmp_path / "f")
    assert fhir.exit_code == 0, fhir.output
    assert "AUDIT LOG CHANGED OUTSIDE PSYQ: audit entry #" in (tmp_path / "f").read_text()
    rescored = psyq_cli("rescore")
    assert ROLLED_BACK in rescored.stderr
    # The next write does not make the older copy the head psyq remembers: it records
    # the loss in the log first, and every output goes on saying it.
    assert (
        psyq_cli("record", "phq9", "--client", "C0043", "--answers", "0," * 8 + "0").exit_code == 0
    )
    log = psyq_cli("audit", "log").stdout
    assert "rollback noticed store: the log ended at entry #" in log
    again = psyq_cli("audit", "verify")
    assert again.exit_code == 1 and "records that psyq found the store put back" in again.stderr
    assert "records that psyq found the store put back" in psyq_cli("history", "C0042").stdout
    assert psyq_cli("audit", "verify").exit_code == 1  # not a clean audit by itself
    # Only a person can accept the loss, with a reason, in the log; verify names it for good.
    assert psyq_cli("audit", "acknowledge", "--reason", " \t ").exit_code == 2
    said_why = "backup of 14 November restored after a disk failure"
    accepted = psyq_cli("audit", "acknowledge", "--reason", said_why)
    assert accepted.exit_code == 0, accepted.output
    assert "is acknowledged" in accepted.stdout
    clean = psyq_cli("audit", "verify")
    assert clean.exit_code == 0, clean.output
    assert "loss acknowledged: audit entry #" in clean.stdout and said_why in clean.stdout
    assert "records that psyq found" not in psyq_cli("history", "C0042").stdout
    twice = psyq_cli("audit", "acknowledge", "--reason", said_why)
    assert twice.exit_code == 2 and "no loss to acknowledge" in twice.stderr
    # A second loss is not covered by the first acknowledgement.
    _copy(db, tmp_path / "backup2.db")
    assert psyq_cli(*late, "--answers", "0,0,0,0,0,0,0,0,2").exit_code == 0
    for side in ("psyq.db-wal", "psyq.db-shm"):
        (psyq_home / side).unlink(missing_ok=True)
    _copy(tmp_path / "backup2.db", db)
    assert psyq_cli("audit", "verify").exit_code == 1
    assert ROLLED_BACK in psyq_cli("history", "C0042").stdout


def test_a_store_deleted_and_made_anew_at_its_path_is_named(psyq_cli: CLI, psyq_home: Path) -> None:
    """Deleting the store file and letting psyq make an empty one at the same path lost
    every form (the item 9 at 3 among them), and the new store verified clean."""
    _three_phq9s(psyq_cli)
    late = ("record", "phq9", "--client", "C0042", "--date", "2026-11-15")
    assert psyq_cli(*late, "--answers", "0,0,0,0,0,0,0,0,3").exit_code == 0
    for name in ("psyq.db", "psyq.db-wal", "psyq.db-shm"):
        (psyq_home / name).unlink(missing_ok=True)
    assert (
        psyq_cli("record", "phq9", "--client", "C0043", "--answers", "0," * 8 + "0").exit_code == 0
    )
    verified = psyq_cli("audit", "verify")
    assert verified.exit_code == 1
    assert "a new, empty store was made at" in verified.stderr
    assert ROLLED_BACK in psyq_cli("history", "C0043").stdout
    assert ROLLED_BACK in psyq_cli("export").stderr


def test_the_newest_audit_entry_cut_off_with_its_form_is_named(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    """November's form and its audit entry deleted, the trigger put back: the chain was
    shorter but consistent, and `audit verify` passed."""
    _three_phq9s(psyq_cli)
    conn = sqlite3.connect(psyq_home / "psyq.db")
    (trigger,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'audit_no_delete'"
    ).fetchone()
    conn.executescript(
        "DROP TRIGGER audit_no_delete;"
        "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit);"
        "DELETE FROM administrations WHERE id = 3;"
        f"{trigger};"
    )
    conn.close()
    verified = psyq_cli("audit", "verify")
    assert verified.exit_code == 1 and "is no longer in its log" in verified.stderr
    assert ROLLED_BACK in psyq_cli("history", "C0042").stdout
    assert ROLLED_BACK in psyq_cli("clients").stdout


def test_an_earlier_client_value_changed_by_hand_is_said_to_be(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    """The kept earlier sex (female, replaced by male) rewritten to male: `clients show`
    listed it as what psyq kept, as if the client's sex had never changed."""
    assert psyq_cli("clients", "set", "C0001", "--sex", "female").exit_code == 0
    assert psyq_cli("clients", "set", "C0001", "--sex", "male").exit_code == 0
    _hand_edit(
        psyq_home / "psyq.db",
        "DROP TRIGGER client_versions_no_update",
        """UPDATE client_versions SET attributes = '{"sex":"male"}'""",
    )
    shown = psyq_cli("clients", "show", "C0001").stdout
    [line] = [x for x in shown.splitlines() if "client version 1" in x]
    assert "sex male" in line and "!!! CHANGED OUTSIDE PSYQ" in line
    assert "client version 1: stored content differs" in line
    doc = json.loads(psyq_cli("clients", "show", "C0001", "--json").stdout)
    (earlier,) = doc["earlier"]
    assert "client version 1: stored content differs" in earlier["changed_outside_psyq"]
