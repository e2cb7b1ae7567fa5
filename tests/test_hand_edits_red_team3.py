"""Red-team pass on "nothing is silently rewritten": a record changed outside psyq (the
sqlite3 shell) while psyq is still saving to it, a kiosk tablet or `psyq administer`,
must not be given a fresh audit entry by psyq's next save (which would make
`psyq audit verify` pass on the hand edit); the save is refused and said."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.tablet import HttpTablet
from tests.test_tablet_http import _begun, _start, server  # noqa: F401 (the fixture)

CLI = Callable[..., Result]


def _hand_edit(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_a_kiosk_tap_after_a_hand_edit_does_not_launder_it(
    server: tuple[str, list[str]],  # noqa: F811
    psyq_cli: CLI,
    psyq_home: Path,
) -> None:
    url, lines = server
    session_id, tablet = _begun(url, psyq_cli, "--instruments", "phq9")
    for value in (0, 0, 0):
        tablet.act("answer", value)
    db = psyq_home / "psyq.db"
    # While the client is on item 4: someone changes the form's note and an answer.
    _hand_edit(
        db,
        "UPDATE administrations SET note = 'seen, fine', "
        "answers = replace(answers, '\"phq9_1\":0', '\"phq9_1\":3') WHERE id = 1",
    )
    assert psyq_cli("audit", "verify").exit_code == 1
    tablet.act("answer", 0)
    # The tap was not saved over the hand edit: the audit still names it.
    verified = psyq_cli("audit", "verify")
    assert verified.exit_code == 1, verified.output
    assert "administration 1" in verified.output
    conn = sqlite3.connect(db)
    (answers,) = conn.execute("SELECT answers FROM administrations WHERE id = 1").fetchone()
    conn.close()
    assert '"phq9_4":null' in answers  # nothing saved on top of it
    # The clinician's terminal says why, the session is stopped, the tablet is let go.
    said = "\n".join(lines)
    assert f"kiosk session {session_id} (client C0042): STOPPED" in said
    assert "administration 1: stored content differs" in said and "nothing saved" in said
    status = psyq_cli("kiosk", "status", str(session_id)).output
    assert "stopped" in status and "CHANGED OUTSIDE PSYQ" in status
    assert 'name="code"' in tablet.page  # back at the code page, no error shown to the client


def test_administer_refuses_to_save_over_a_hand_edit_made_mid_form(psyq_home: Path) -> None:
    env = {**os.environ, "PSYQ_HOME": str(psyq_home)}
    run = subprocess.Popen(
        [sys.executable, "-m", "psyq", "administer", "phq9", "--client", "C0042"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stdin is not None and run.stdout is not None
    seen = ""
    for answer in ("1", "1"):
        run.stdin.write(answer + "\n")
        run.stdin.flush()
    while "[3/10]" not in seen:  # two answers saved: administration 1, partial
        line = run.stdout.readline()
        assert line, seen
        seen += line
    _hand_edit(psyq_home / "psyq.db", "UPDATE administrations SET client_id = 'C0099'")
    out, err = run.communicate("1\n" * 8, timeout=60)
    assert run.returncode == 1, out + err
    assert "administration 1: stored content differs" in err and "nothing saved" in err
    assert "Traceback" not in err
    verified = subprocess.run(
        [sys.executable, "-m", "psyq", "audit", "verify"], env=env, capture_output=True, text=True
    )
    assert verified.returncode == 1 and "administration 1" in verified.stderr


def test_answers_psyq_changes_keep_the_earlier_version(
    server: tuple[str, list[str]],  # noqa: F811
    psyq_cli: CLI,
    psyq_home: Path,
    tmp_path: Path,
) -> None:
    """A finished PHQ-9 reopened with the tablet's Back and item 9 answered 0 instead of 2:
    the form as first saved (and its critical flag) is kept, audited and shown."""
    url, _ = server
    _, tablet = _begun(url, psyq_cli, "--instruments", "phq9,gad7")
    for value in (0, 0, 0, 0, 0, 0, 0, 0, 2, 0):  # PHQ-9 complete, item 9 positive
        tablet.act("answer", value)
    tablet.act("back")  # from GAD-7's instructions to PHQ-9 item 10
    tablet.act("back")  # item 9
    tablet.act("answer", 0)
    history = psyq_cli("history", "C0042").output
    [row] = [line for line in history.splitlines() if line.strip().startswith("1  ")]
    assert "ANSWERS CHANGED (earlier: CRITICAL suicidal_ideation)" in row
    [line] = [line for line in history.splitlines() if line.startswith("ANSWERS CHANGED")]
    assert "administration 1" in line and "phq9_9 2 -> 0" in line
    assert "the complete form saved" in line and "kept as answer version 1" in line
    (doc,) = json.loads(psyq_cli("history", "C0042", "--json").output)
    assert doc["scores"]["total"]["value"] == 0
    (kept,) = doc["administration"]["answer_versions"]
    assert kept["changed"] == {"phq9_9": [2, 0]} and kept["status"] == "complete"
    (line,) = psyq_cli("export", "--format", "jsonl").stdout.splitlines()
    assert json.loads(line)["administration"]["answers_changed"] == (
        "phq9_9 2 -> 0 (earlier answers: CRITICAL suicidal_ideation)"
    )
    assert kept["answers"]["phq9_9"] == 2 and kept["critical_flags"] == ["suicidal_ideation"]
    log = psyq_cli("audit", "log", "--record", "administration 1").output
    assert "supersede  answer version 1" in log
    assert "administration 1 answers replaced (phq9_9 2 -> 0; the complete form saved" in log
    assert "CRITICAL suicidal_ideation" in log
    assert psyq_cli("audit", "verify").exit_code == 0
    # The report of the form says so too, with the alert the earlier answers raised.
    for name in ("r.txt", "r.json", "r.html"):
        made = psyq_cli("report", "--administration", "1", "-o", tmp_path / name)
        assert made.exit_code == 0, made.output
        assert "ANSWERS CHANGED after saving (answer version 1 kept; it raised CRITICAL" in (
            made.output
        )
    text = (tmp_path / "r.txt").read_text()
    assert "!!! ANSWERS CHANGED: administration 1" in text and "phq9_9 2 -> 0" in text
    (kept,) = json.loads((tmp_path / "r.json").read_text())["report"]["answer_versions"]
    assert kept["critical_flags"] == ["suicidal_ideation"]
    page = (tmp_path / "r.html").read_text()
    assert "Answers of this form were changed after it was saved (phq9_9 2 -&gt; 0" in page
    assert "The earlier answers raised a critical flag: The client endorsed thoughts" in page
    assert "(Item 9: \u201cThoughts that you would be better off dead" in page
    # The kept version is audited like every record, and append-only.
    db = psyq_home / "psyq.db"
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM answer_versions")
    conn.close()
    _hand_edit(db, "DROP TRIGGER answer_versions_no_update")
    _hand_edit(db, "UPDATE answer_versions SET answers = replace(answers, ':2', ':0')")
    verified = psyq_cli("audit", "verify")
    assert verified.exit_code == 1 and "answer version 1" in verified.output
    # And wherever the kept version is shown, it is said to have been changed since.
    [line] = [x for x in psyq_cli("history", "C0042").output.splitlines() if "kept as" in x]
    assert "!!! CHANGED OUTSIDE PSYQ: This record was changed outside psyq" in line
    (doc,) = json.loads(psyq_cli("history", "C0042", "--json").output)
    (kept,) = doc["administration"]["answer_versions"]
    assert "answer version 1: stored content differs" in kept["changed_outside_psyq"]


def test_an_answer_changed_with_b_in_administer_keeps_the_earlier_one(psyq_cli: CLI) -> None:
    # Items 1-3 answered 1, back to item 3, answered 3, then stopped (partial).
    given = psyq_cli("administer", "phq9", "--client", "C0042", input="1\n1\n1\nb\n3\nq\n")
    assert given.exit_code == 1, given.output  # stopped: a partial administration
    history = psyq_cli("history", "C0042").output
    assert "ANSWERS CHANGED: administration 1" in history and "phq9_3 1 -> 3" in history
    (doc,) = json.loads(psyq_cli("history", "C0042", "--json").output)
    assert [v["changed"] for v in doc["administration"]["answer_versions"]] == [{"phq9_3": [1, 3]}]
    # Answering the next item only adds to the form: no version for that.
    assert doc["administration"]["answered"] == 3
    # Exports carry it too, de-identified as well (no date, no name in it).
    for args in ((), ("--deidentify",)):
        exported = psyq_cli("export", "--include-partial", *args)
        (row,) = csv.DictReader(io.StringIO(exported.stdout))
        assert row["answers_changed"] == "phq9_3 1 -> 3"


def test_item_9_answered_away_through_psyq_is_no_reassurance(psyq_cli: CLI, tmp_path: Path) -> None:
    """Item 9 answered 2, then gone back to with b and answered 0: the form is a
    Minimal 0 now, but its earlier answers raised the critical flag. Beside that, the
    band is the score's band only and its "no treatment action" text is withheld, in
    history, export and the report, as beside a critical flag of the form's own."""
    given = psyq_cli("administer", "phq9", "--client", "C0042",
                     input="0\n" * 8 + "2\nb\n0\n0\n")  # fmt: skip
    assert given.exit_code == 0, given.output
    only = "Minimal (score band only; see the safety alert)"
    history = psyq_cli("history", "C0042").output
    [row] = [line for line in history.splitlines() if "ANSWERS CHANGED (earlier: CRITICAL" in line]
    assert only in row
    (doc,) = json.loads(psyq_cli("history", "C0042", "--json").output)
    assert "band_beside_alert" in doc["scores"]["total"]
    exported = [
        json.loads(line) for line in psyq_cli("export", "--format", "jsonl").stdout.splitlines()
    ]
    assert "band_beside_alert" in exported[0]["scores"]["total"]
    page = tmp_path / "r.html"
    made = psyq_cli("report", "--administration", "1", "-o", page)
    assert made.exit_code == 0 and only in made.output, made.output
    text = page.read_text()
    assert "No treatment action indicated" not in text
    assert "reassurance does not apply" in text
    # The same answers given straight (no earlier critical answer): the band as it is.
    plain = psyq_cli("administer", "phq9", "--client", "C0043", input="0\n" * 10)
    assert plain.exit_code == 0, plain.output
    history = psyq_cli("history", "C0043").output
    assert "Minimal" in history and "score band only" not in history


def _three_phq9s(psyq_cli: CLI) -> None:
    for day, answers in (
        ("2026-09-01", "3,3,2,2,2,2,2,2,2"),
        ("2026-10-01", "2,2,2,2,2,2,2,2,2"),
        ("2026-11-01", "1,1,1,1,1,1,1,1,0"),
    ):
        recorded = psyq_cli(
            "record", "phq9", "--client", "C0042", "--date", day, "--answers", answers
        )
        assert recorded.exit_code == 0, recorded.output


DELETED = "!!! DELETED OUTSIDE PSYQ: administration 2 was deleted outside psyq after it was saved"


def test_an_administration_deleted_by_hand_is_named_wherever_the_client_is_listed(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    """The October form (item 9 positive) deleted with the sqlite3 shell: history, export,
    clients and the November report (whose trend and change it was in) say so; they
    had shown 8 -> 20 as the whole story."""
    _three_phq9s(psyq_cli)
    _hand_edit(psyq_home / "psyq.db", "DELETE FROM administrations WHERE id = 2")
    history = psyq_cli("history", "C0042")
    assert history.exit_code == 0 and DELETED in history.output
    assert "last audited in entry #" in history.output
    as_json = psyq_cli("history", "C0042", "--json")
    assert len(json.loads(as_json.stdout)) == 2 and DELETED in as_json.stderr
    exported = psyq_cli("export")
    assert exported.exit_code == 0 and DELETED in exported.stderr
    hidden = psyq_cli("export", "--deidentify")  # a count, not the id
    assert "1 administration(s) were deleted outside psyq" in hidden.stderr
    assert "administration 2" not in hidden.stderr
    assert DELETED in psyq_cli("clients").output
    listed = psyq_cli("clients", "--json")
    assert json.loads(listed.stdout)[0]["administrations"] == 2 and DELETED in listed.stderr
    # The November report: its trend and "vs previous" no longer hold October.
    for name in ("r.txt", "r.json", "r.html"):
        made = psyq_cli("report", "--administration", "3", "-o", tmp_path / name)
        assert made.exit_code == 0, made.output
        assert "administration 2 DELETED OUTSIDE PSYQ" in made.output
    assert "DELETED OUTSIDE PSYQ: administration 2 was deleted" in (tmp_path / "r.txt").read_text()
    (deleted,) = json.loads((tmp_path / "r.json").read_text())["report"]["deleted_outside_psyq"]
    assert deleted["administration_id"] == 2 and "entry #" in deleted["problem"]
    assert (
        "Administration 2 was deleted outside psyq after it was saved"
        in (tmp_path / "r.html").read_text()
    )
    # rescore builds on nothing deleted, and says so (exit 1), as for a changed record.
    rescored = psyq_cli("rescore")
    assert rescored.exit_code == 1 and "administration 2: deleted outside psyq" in rescored.output
    # Asked for by id, it is named as deleted by hand, not as a typo.
    asked = psyq_cli("report", "--administration", "2", "-o", tmp_path / "r2.txt")
    assert asked.exit_code == 1
    assert "administration 2 is no longer in" in asked.output
    assert "it was deleted outside psyq (last audited in entry #" in asked.output
    resumed = psyq_cli("administer", "phq9", "--client", "C0042", "--resume", "2")
    assert resumed.exit_code == 1 and "it was deleted outside psyq" in resumed.output
    never = psyq_cli("report", "--administration", "9", "-o", tmp_path / "r9.txt")
    assert never.exit_code == 2 and "no administration 9 in" in never.output


def test_an_untouched_store_names_nothing_deleted(psyq_cli: CLI, tmp_path: Path) -> None:
    _three_phq9s(psyq_cli)
    for args in (("history", "C0042"), ("export",), ("clients",), ("rescore",)):
        result = psyq_cli(*args)
        assert result.exit_code == 0, args
        assert "DELETED" not in result.output and "AUDIT LOG" not in result.output, args
    psyq_cli("report", "--administration", "3", "-o", tmp_path / "r.json")
    assert "deleted_outside_psyq" not in json.loads((tmp_path / "r.json").read_text())["report"]


@pytest.mark.parametrize(
    "edit",
    [
        "status = 'partial'",  # out of the trend and of a default export
        "instrument_version = '0.9'",  # "another version": not compared, not plotted
        "administered = '2027-01-01'",  # after the November form: out of its trend
    ],
)
def test_a_hand_edit_that_moves_a_form_out_of_a_trend_or_export_is_named(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path, edit: str
) -> None:
    _three_phq9s(psyq_cli)
    _hand_edit(psyq_home / "psyq.db", f"UPDATE administrations SET {edit} WHERE id = 2")
    made = psyq_cli("report", "--administration", "3", "-o", tmp_path / "r.txt")
    assert made.exit_code == 0, made.output
    assert "administration 2, not in the trend, CHANGED OUTSIDE PSYQ" in made.output
    text = (tmp_path / "r.txt").read_text()
    assert "!!! CHANGED OUTSIDE PSYQ: administration 2 (" in text
    assert "not in this report's trend" in text
    psyq_cli("report", "--administration", "3", "-o", tmp_path / "r.json")
    (other,) = json.loads((tmp_path / "r.json").read_text())["report"]["other_changed_outside_psyq"]
    assert other["administration_id"] == 2 and "changed outside psyq" in other["problem"]
    psyq_cli("report", "--administration", "3", "-o", tmp_path / "r.html")
    assert (
        "not in this report&#39;s trend, was changed outside psyq"
        in (tmp_path / "r.html").read_text()
    )
    exported = psyq_cli("export", "--since", "2026-01-01", "--instrument", "phq9")
    if "status" in edit:  # a default export leaves partial forms out
        assert "1 record(s) not in this export (administration 2: partial" in exported.stderr
    else:
        assert "CHANGED OUTSIDE PSYQ: 1 exported record(s) (administration 2)" in exported.stderr


def test_a_client_sex_changed_by_hand_is_warned_where_it_is_shown(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    assert psyq_cli("clients", "set", "C0042", "--sex", "female").exit_code == 0
    assert psyq_cli("clients", "set", "C0043", "--sex", "male").exit_code == 0
    _hand_edit(
        psyq_home / "psyq.db",
        """UPDATE clients SET attributes = '{"sex":"male"}' WHERE id = 'C0042'""",
    )
    listed = psyq_cli("clients").output.splitlines()
    at = next(n for n, line in enumerate(listed) if line.startswith("C0042"))
    assert "sex male" in listed[at]  # shown, and said
    assert "CHANGED OUTSIDE PSYQ: client C0042: This record was changed" in listed[at + 1]
    assert "CHANGED" not in "".join(line for line in listed if "C0043" in line)
    docs = {d["id"]: d for d in json.loads(psyq_cli("clients", "--json").output)}
    assert "changed outside psyq" in docs["C0042"]["client_changed_outside_psyq"]
    assert docs["C0043"]["client_changed_outside_psyq"] is None
    shown = psyq_cli("clients", "show", "C0042")
    assert "sex male" in shown.output and "CHANGED OUTSIDE PSYQ" in shown.output
    doc = json.loads(psyq_cli("clients", "show", "C0042", "--json").output)
    assert "audit entry #" in doc["changed_outside_psyq"]
    assert (
        json.loads(psyq_cli("clients", "show", "C0043", "--json").output)["changed_outside_psyq"]
        is None
    )


QUIETING_TRIGGER = """
CREATE TRIGGER quiet AFTER INSERT ON administrations BEGIN
    UPDATE administrations SET answers = replace(NEW.answers, '"phq9_9":3', '"phq9_9":0')
    WHERE id = NEW.id;
END
"""


@pytest.mark.parametrize(
    "args",
    [
        ("record", "phq9", "--client", "C0042", "--answers", "0,0,0,0,0,0,0,0,3"),
        ("clients", "set", "C0042", "--sex", "female"),
    ],
)
def test_psyq_does_not_write_through_a_trigger_added_outside_psyq(
    psyq_cli: CLI, psyq_home: Path, args: tuple[str, ...]
) -> None:
    """A trigger added with the sqlite3 shell rewrites each new form (item 9: 3 -> 0) inside
    psyq's own transaction, so its audit entry digested the rewrite as psyq's write."""
    assert psyq_cli("clients", "set", "C0099", "--sex", "male").exit_code == 0  # a store
    _hand_edit(psyq_home / "psyq.db", QUIETING_TRIGGER)
    refused = psyq_cli(*args)
    assert refused.exit_code == 1, refused.output
    assert "schema: trigger quiet was added outside psyq" in refused.output
    assert "nothing saved" in refused.output and "Traceback" not in refused.output
    conn = sqlite3.connect(psyq_home / "psyq.db")
    assert conn.execute("SELECT COUNT(*) FROM administrations").fetchone() == (0,)
    assert conn.execute("SELECT attributes FROM clients WHERE id = 'C0042'").fetchall() == []
    conn.close()


@pytest.mark.parametrize("version", [0, 2, 6])
def test_a_schema_version_set_back_by_hand_is_named_as_such(
    psyq_cli: CLI, psyq_home: Path, version: int
) -> None:
    assert psyq_cli("clients", "set", "C0042", "--sex", "female").exit_code == 0
    _hand_edit(psyq_home / "psyq.db", f"PRAGMA user_version = {version}")
    for args in (
        ("history", "C0042"),
        ("audit", "verify"),
        ("clients", "set", "C0042", "--sex", "male"),
    ):
        refused = psyq_cli(*args)
        assert refused.exit_code == 2, refused.output
        assert f"but says it is at version {version}: its version was changed outside psyq" in (
            refused.output
        )
        assert "Traceback" not in refused.output and len(refused.output.splitlines()) == 1
    conn = sqlite3.connect(psyq_home / "psyq.db")
    assert conn.execute("PRAGMA user_version").fetchone() == (version,)  # nothing changed
    conn.close()


@pytest.mark.parametrize(
    ("table", "args"),
    [
        ("score_versions", ("audit", "log")),
        ("answer_versions", ("history", "C0042")),
        ("client_versions", ("clients", "show", "C0042")),
        ("definitions", ("export",)),
        ("clients", ("clients",)),
    ],
)
def test_a_table_dropped_by_hand_is_one_line_not_an_internal_error(
    psyq_cli: CLI, psyq_home: Path, table: str, args: tuple[str, ...]
) -> None:
    _three_phq9s(psyq_cli)
    _hand_edit(psyq_home / "psyq.db", f"DROP TABLE {table}")
    result = psyq_cli(*args)
    assert result.exit_code == 1, result.output
    assert "the store cannot be read" in result.output and "dropped or changed outside psyq" in (
        result.output
    )
    assert "internal error" not in result.output and len(result.output.splitlines()) == 1
    verified = psyq_cli("audit", "verify")
    assert verified.exit_code == 1 and f"table {table} is missing" in verified.output


def test_analyses_and_norms_from_the_store_name_records_changed_by_hand(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    for n in range(12):
        answers = ",".join(str((n * k + k) % 4) for k in range(1, 10))
        recorded = psyq_cli("record", "phq9", "--client", f"C{n:04d}", "--answers", answers)
        assert recorded.exit_code == 0, recorded.output
    clean = psyq_cli("analyze", "phq9", "--from-store", "--json")
    assert not any("OUTSIDE" in n for n in json.loads(clean.stdout)["notices"])
    _hand_edit(psyq_home / "psyq.db", "UPDATE administrations SET note = 'x' WHERE id = 5")
    _hand_edit(psyq_home / "psyq.db", "DELETE FROM administrations WHERE id = 7")
    said = "CHANGED OUTSIDE PSYQ: 1 administration(s) used here (administration 5)"
    gone = "DELETED OUTSIDE PSYQ: 1 administration(s) (administration 7)"
    text = psyq_cli("analyze", "phq9", "--from-store")
    assert text.exit_code == 0 and said in text.output and gone in text.output
    notices = json.loads(psyq_cli("analyze", "phq9", "--from-store", "--json").stdout)["notices"]
    assert any(said in n for n in notices) and any(gone in n for n in notices)
    out = tmp_path / "norms.json"
    built = psyq_cli("norms", "build", "phq9", "--from-store", "--description", "t", "-o", out)
    assert built.exit_code == 0, built.output
    assert said in built.output and said in json.loads(out.read_text())["notes"]


def test_a_kiosk_form_deleted_by_hand_is_said_not_a_server_error(
    server: tuple[str, list[str]],  # noqa: F811
    psyq_cli: CLI,
    psyq_home: Path,
) -> None:
    url, lines = server
    session_id, tablet = _begun(url, psyq_cli, "--instruments", "phq9")
    other_id, _ = _begun(url, psyq_cli, "--instruments", "gad7")  # a second session
    for value in (0, 0, 2):
        tablet.act("answer", value)
    _hand_edit(psyq_home / "psyq.db", "DELETE FROM administrations WHERE instrument_id = 'phq9'")
    # The clinician still sees every session, the deleted form named.
    status = psyq_cli("kiosk", "status")
    assert status.exit_code == 0, status.output
    assert "phq9: administration 1: !!! DELETED OUTSIDE PSYQ" in status.output
    assert f"kiosk session {other_id}" in status.output
    doc = json.loads(psyq_cli("kiosk", "status", str(session_id), "--json").output)
    assert doc[0]["forms"][0]["deleted_outside_psyq"] is True
    # The tablet's next tap: no server error; the session stops and the terminal says why.
    tablet.act("answer", 0)
    assert tablet.status == 200 and 'name="code"' in tablet.page
    said = "\n".join(lines)
    assert f"kiosk session {session_id} (client C0042): STOPPED: administration 1 is no" in said
    assert "it was deleted outside psyq (last audited in entry #" in said


def test_a_kiosk_file_pointing_a_tablet_at_another_clients_form_is_refused(
    server: tuple[str, list[str]],  # noqa: F811
    psyq_cli: CLI,
    psyq_home: Path,
) -> None:
    """psyq.kiosk.db changed by hand so C0043's session names C0042's unfinished PHQ-9:
    the tablet showed C0042's answers and saved over them, audited as psyq's own write."""
    url, lines = server
    stopped = psyq_cli("administer", "phq9", "--client", "C0042", input="3\n3\nq\n")
    assert stopped.exit_code == 1  # C0042's partial administration 1: items 1-2 answered 3
    session_id, code = _start(psyq_cli, "--client", "C0043", "--instruments", "phq9")
    tablet = HttpTablet(url)
    tablet.enter(code)
    tablet.act("begin")
    tablet.act("answer", 0)  # C0043's own form: administration 2
    _hand_edit(
        psyq_home / "psyq.kiosk.db",
        f"UPDATE sessions SET admin_ids = '[1]' WHERE id = {session_id}",
    )
    tablet.get("/form")
    assert "phq9_2" not in tablet.page and 'name="code"' in tablet.page  # nothing of C0042's
    tablet.act("answer", 0)
    conn = sqlite3.connect(psyq_home / "psyq.db")
    (answers,) = conn.execute("SELECT answers FROM administrations WHERE id = 1").fetchone()
    conn.close()
    assert '"phq9_1":3,"phq9_2":3,"phq9_3":null' in answers  # C0042's form untouched
    said = "\n".join(lines)
    assert "points at administration 1, which is client C0042's phq9" in said
    assert "the kiosk file was changed outside psyq" in said


def test_audit_entries_cut_from_the_middle_of_the_log_are_named_on_read(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    """The delete trigger dropped, the October form's entry and row deleted, the trigger
    put back as it was: the schema matches, and no administration names the entry."""
    _three_phq9s(psyq_cli)
    db = psyq_home / "psyq.db"
    conn = sqlite3.connect(db)
    (trigger,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'audit_no_delete'"
    ).fetchone()
    conn.executescript(
        "DROP TRIGGER audit_no_delete;"
        "DELETE FROM audit WHERE record = 'administration 2';"
        "DELETE FROM administrations WHERE id = 2;"
        f"{trigger};"
    )
    conn.close()
    line = "!!! AUDIT LOG CHANGED OUTSIDE PSYQ: audit entry #"
    assert line in psyq_cli("history", "C0042").output
    assert line in psyq_cli("history", "C0042", "--json").stderr
    assert line in psyq_cli("export").stderr and line in psyq_cli("export", "--deidentify").stderr
    assert line in psyq_cli("clients").output
    made = psyq_cli("report", "--administration", "3", "-o", tmp_path / "r.txt")
    assert "AUDIT LOG CHANGED OUTSIDE PSYQ" in made.output
    assert line in (tmp_path / "r.txt").read_text()
    psyq_cli("report", "--administration", "3", "-o", tmp_path / "r.json")
    doc = json.loads((tmp_path / "r.json").read_text())["report"]
    assert "is missing" in doc["audit_log_changed_outside_psyq"]
    psyq_cli("report", "--administration", "3", "-o", tmp_path / "r.html")
    assert (
        "Entries were deleted from the store&#39;s audit log outside psyq"
        in (tmp_path / "r.html").read_text()
    )
    assert psyq_cli("audit", "verify").exit_code == 1
