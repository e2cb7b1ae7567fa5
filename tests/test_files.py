"""Atomic writes: the old file or the new one, never half of one."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from pathlib import Path

import pytest

from psyq.files import TMP_SUFFIX, create_private, private_dir, temporary_name, write_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "r.txt"
    target.write_bytes(b"old")
    write_atomic(target, b"new", durable=True)
    assert target.read_bytes() == b"new"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_every_output_is_owner_only_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "p.pdf", b"x", private=True)
        write_atomic(tmp_path / "o.txt", b"x")
        private_dir(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert mode(tmp_path / "p.pdf") == 0o600
    assert mode(tmp_path / "o.txt") == 0o600
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700


def test_temporary_names_are_unpredictable_and_match_the_sweep_pattern(tmp_path: Path) -> None:
    names = {temporary_name(tmp_path / "r.pdf").name for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert re.fullmatch(r"\.r\.pdf\.[0-9a-f]{32}" + re.escape(TMP_SUFFIX), name)
        assert fnmatch.fnmatch(name, f".*{TMP_SUFFIX}")  # what a resumed batch sweeps


def test_a_planted_link_or_file_is_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    planted = tmp_path / "planted"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):
        create_private(planted)  # O_EXCL | O_NOFOLLOW: neither followed nor reused
    assert victim.read_text() == "precious"


def test_old_predictable_names_cannot_be_hijacked(psyq_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Another user of a shared folder plants, at the name psyq used to pick
    (``.NAME.<pid>.psyq-tmp``), a symlink to a file of theirs and a 0666 file."""
    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "root-owned.conf"
    victim.write_text("precious")
    (shared / f".r.json.{os.getpid()}{TMP_SUFFIX}").symlink_to(victim)
    planted = shared / f".x.csv.{os.getpid()}{TMP_SUFFIX}"
    planted.write_text("")
    planted.chmod(0o666)
    out = psyq_cli("report", "gad7", "--answers", "1,1,1,1,1,1,1", "--client", "C-1",
                   "-o", str(shared / "r.json"))  # fmt: skip
    assert out.exit_code == 0, out.output
    assert victim.read_text() == "precious"
    assert (
        psyq_cli("record", "gad7", "--client", "C0001", "--answers", "1,1,1,1,1,1,1").exit_code == 0
    )
    export = psyq_cli("export", "-o", str(shared / "x.csv"))
    assert export.exit_code == 0, export.output
    assert mode(shared / "x.csv") == 0o600 and (shared / "x.csv").stat().st_uid == os.getuid()
    assert planted.read_text() == ""  # left alone, not written through


def test_failed_rename_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "dir-in-the-way"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert (target / "keep").exists()
    assert not list(tmp_path.glob(f"*{TMP_SUFFIX}"))


def test_report_files_are_private(psyq_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r.json"
    result = psyq_cli("report", "gad7", "--answers", "1,1,1,1,1,1,1", "--client", "C-1",
                      "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o600
