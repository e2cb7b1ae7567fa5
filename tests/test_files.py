"""Atomic writes: the old file or the new one, never half of one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from psyq.files import TMP_SUFFIX, write_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "r.txt"
    target.write_bytes(b"old")
    write_atomic(target, b"new", durable=True)
    assert target.read_bytes() == b"new"
    assert list(tmp_path.iterdir()) == [target]


def test_private_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "p.pdf", b"x", private=True)
        write_atomic(tmp_path / "o.txt", b"x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "p.pdf") == 0o600
    assert mode(tmp_path / "o.txt") == 0o644


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
