"""Files that hold client data found, not created, by psyq: the store and the
de-identification key as a restore or someone else left them.

A store restored from a backup with ``cp`` (or written by ``sqlite3 .backup``) under
the usual umask 022 is 0644; a shared folder may hold a symlink planted where the
store or key is about to be created. psyq must never write client data into a file
others can read, nor create it (or use a key) through a link.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

CLI = Callable[..., Result]
ANSWERS = "1,1,1,1,1,1,1,1,1"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def record(psyq_cli: CLI, *extra: str) -> Result:
    return psyq_cli("record", "phq9", "--client", "C0042", "--answers", ANSWERS, *extra)


@pytest.mark.parametrize("loose", [0o644, 0o660, 0o666])
def test_a_restored_store_readable_by_others_is_made_private(
    psyq_cli: CLI, psyq_home: Path, loose: int
) -> None:
    assert record(psyq_cli).exit_code == 0
    db = psyq_home / "psyq.db"
    db.chmod(loose)  # as `cp backup.db psyq.db` under umask 022 leaves it
    result = record(psyq_cli)
    assert result.exit_code == 0, result.output
    assert mode(db) == 0o600
    for side in ("psyq.db-wal", "psyq.db-shm"):
        if (psyq_home / side).exists():
            assert mode(psyq_home / side) == 0o600
    assert f"{db}: was readable by others (mode {loose:04o}); made it 0600" in result.stderr
    # Reading it is opening it too: `history` tightens it the same way.
    db.chmod(loose)
    assert psyq_cli("history", "C0042").exit_code == 0
    assert mode(db) == 0o600


def test_a_link_planted_where_the_store_will_be_created_is_refused(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "shared"
    elsewhere.mkdir()
    target = elsewhere / "their.db"
    (psyq_home / "psyq.db").symlink_to(target)
    result = record(psyq_cli)
    assert result.exit_code == 2
    assert not target.exists()  # nothing created, nothing written through the link
    [line] = result.stderr.strip().splitlines()
    assert str(psyq_home / "psyq.db") in line and "link" in line
    assert "Traceback" not in result.output


def test_the_store_is_private_whatever_the_umask(psyq_cli: CLI, psyq_home: Path) -> None:
    old = os.umask(0)
    try:
        assert record(psyq_cli).exit_code == 0
        (psyq_home / "psyq.db").chmod(0o666)
        assert record(psyq_cli).exit_code == 0
    finally:
        os.umask(old)
    assert mode(psyq_home / "psyq.db") == 0o600


# -- the de-identification key ---------------------------------------------------


def pseudonyms(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [row["client_id"] for row in csv.DictReader(io.StringIO(result.stdout))]


def test_a_planted_deidentification_key_is_never_used(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    assert record(psyq_cli).exit_code == 0
    theirs = tmp_path / "known.key"  # a key someone else knows: pseudonyms reversible
    theirs.write_text("ab" * 32 + "\n")
    theirs.chmod(0o600)
    (psyq_home / "deidentify.key").symlink_to(theirs)
    result = psyq_cli("export", "--deidentify")
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "deidentify.key" in line
    assert "x" + "C0042" not in result.stdout and "C0042" not in result.stdout
    # A dangling link is not followed to create the key either.
    (psyq_home / "deidentify.key").unlink()
    (psyq_home / "deidentify.key").symlink_to(tmp_path / "new.key")
    assert psyq_cli("export", "--deidentify").exit_code == 2
    assert not (tmp_path / "new.key").exists()


def test_a_deidentification_key_others_can_read_is_refused(psyq_cli: CLI, psyq_home: Path) -> None:
    assert record(psyq_cli).exit_code == 0
    first = pseudonyms(psyq_cli("export", "--deidentify"))
    key = psyq_home / "deidentify.key"
    assert mode(key) == 0o600
    key.chmod(0o644)
    result = psyq_cli("export", "--deidentify")
    assert result.exit_code == 2
    assert f"{key}: the de-identification key is readable by others (mode 0644)" in result.stderr
    assert "chmod 600" in result.stderr and "C0042" not in result.stdout
    key.chmod(0o600)
    assert pseudonyms(psyq_cli("export", "--deidentify")) == first


def test_the_deidentification_key_is_created_private_whatever_the_umask(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    assert record(psyq_cli).exit_code == 0
    old = os.umask(0)
    try:
        first = pseudonyms(psyq_cli("export", "--deidentify"))
    finally:
        os.umask(old)
    assert mode(psyq_home / "deidentify.key") == 0o600
    assert pseudonyms(psyq_cli("export", "--deidentify")) == first


def test_a_kiosk_sessions_file_readable_by_others_is_made_private(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    start = ("kiosk", "start", "--client", "C0042", "--instruments", "phq9")
    assert psyq_cli(*start).exit_code == 0
    kiosk = psyq_home / "psyq.kiosk.db"  # holds which client each session is for
    assert mode(kiosk) == 0o600
    kiosk.chmod(0o644)
    assert psyq_cli("kiosk", "status").exit_code == 0
    assert mode(kiosk) == 0o600


# -- the batch manifest ---------------------------------------------------------------


BATCH = "client_id,phq9_1,phq9_2,phq9_3,phq9_4,phq9_5,phq9_6,phq9_7,phq9_8,phq9_9\n" + "".join(
    f"C{n:03d},0,0,0,0,0,0,0,0,{n % 4}\n" for n in range(1, 7)
)


def shared_batch(tmp_path: Path, *options: str) -> tuple[Path, tuple[str, ...]]:
    """A batch of BATCH into a folder anyone may write to: the folder, the command line."""
    rows = tmp_path / "rows.csv"
    rows.write_text(BATCH)
    out = tmp_path / "shared"
    out.mkdir()
    out.chmod(0o777)
    return out, ("batch", str(rows), "--instrument", "phq9", "--out", str(out), *options)


def test_resume_never_appends_client_rows_through_a_planted_manifest(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    # A batch run into a shared folder; someone swaps its manifest (which holds every
    # row's scores) for a link to a file of theirs, keeping the lines psyq expects.
    out, run = shared_batch(tmp_path, "--scores-only")
    assert psyq_cli(*run, "--chunk-size", "1").exit_code == 0
    manifest = out / "batch-manifest.jsonl"
    theirs = tmp_path / "theirs.jsonl"
    theirs.write_bytes(b"".join(manifest.read_bytes().splitlines(keepends=True)[:2]))
    before = theirs.read_bytes()
    manifest.unlink()
    manifest.symlink_to(theirs)
    result = psyq_cli(*run, "--chunk-size", "1", "--resume")
    assert result.exit_code == 2
    assert theirs.read_bytes() == before  # not a byte of client data written to it
    [line] = result.stderr.strip().splitlines()
    assert str(manifest) in line and "--force" in line
    # A hard link to their file is not psyq's own manifest either.
    manifest.unlink()
    os.link(theirs, manifest)
    assert psyq_cli(*run, "--chunk-size", "1", "--resume").exit_code == 2
    assert theirs.read_bytes() == before
    # --force starts over with a manifest of psyq's own; their file is left alone.
    assert psyq_cli(*run, "--chunk-size", "1", "--force").exit_code == 0
    assert theirs.read_bytes() == before and not manifest.is_symlink()
    assert manifest.stat().st_nlink == 1 and mode(manifest) == 0o600


def test_batch_reports_are_never_written_through_a_planted_folder_link(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    out, run = shared_batch(tmp_path, "--format", "json")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    assert psyq_cli(*run, "--chunk-size", "1").exit_code == 0
    # Unfinish the batch (forget the last chunks), and put a link where reports go.
    manifest = out / "batch-manifest.jsonl"
    manifest.write_bytes(b"".join(manifest.read_bytes().splitlines(keepends=True)[:2]))
    for report in (out / "reports").iterdir():
        report.unlink()
    (out / "reports").rmdir()
    (out / "reports").symlink_to(theirs)
    result = psyq_cli(*run, "--chunk-size", "1", "--resume")
    assert result.exit_code == 2
    assert list(theirs.iterdir()) == []  # no report (nor a client id in a name) there
    [line] = result.stderr.strip().splitlines()
    assert str(out / "reports") in line and "--force" in line
    assert psyq_cli(*run, "--chunk-size", "1", "--force").exit_code == 0
    assert list(theirs.iterdir()) == [] and not (out / "reports").is_symlink()
    assert len(list((out / "reports").iterdir())) == 6
