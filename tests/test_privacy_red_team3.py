"""Red team of "every file holding client data is private, created safely".

Folders psyq fills with client files are private: those it creates are 0700 whatever
the umask, and one the user made others can open (mode 0755 after ``mkdir`` under
umask 022) is made 0700 before a batch writes reports named by client id into it. A
folder psyq cannot make private (shared by design, or another user's) is refused.
A store's -wal or -shm file that someone else owns (planted, to read every write
through a descriptor kept open) is refused. Tests that plant another user's file
chown it to ``nobody``, so they run as root (as this project's test machines do)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from .cohorts import phq9_rows, write_csv

CLI = Callable[..., Result]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o000, 0o022], ids=oct)
def test_the_demo_folder_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "demo" / "reports"
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "psyq", "demo", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(umask),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    files = list(out.iterdir())
    assert files
    for path in (out.parent, out):
        assert mode_of(path) == 0o700, (path, oct(mode_of(path)))
    assert {mode_of(p) for p in files} == {0o600}


@pytest.mark.parametrize("loose", [0o755, 0o777, 0o750], ids=oct)
def test_a_batch_folder_others_can_open_is_made_private_and_said(
    psyq_cli: CLI, tmp_path: Path, loose: int
) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(3))
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(loose)  # as `mkdir out` under umask 022 (or 000) leaves it
    result = psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", out, "--format", "json", "--jobs", "1",
        "--summary", "html", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert mode_of(out) == 0o700
    assert f"{out}: others could open this folder (mode {loose:04o}); made it 0700" in (
        result.stderr
    )
    assert len(list((out / "reports").iterdir())) == 3


def test_a_batch_folder_reached_through_a_link_is_made_private(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(2))
    real = tmp_path / "real"
    real.mkdir()
    real.chmod(0o755)
    (tmp_path / "out").symlink_to(real)
    result = psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", tmp_path / "out", "--scores-only",
        "--summary", "html", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert mode_of(real) == 0o700
    assert (real / "scores.csv").exists()


def test_a_resumed_batch_in_a_loosened_folder_is_made_private(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(2))
    out = tmp_path / "out"
    args = ("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
            "--summary", "html", "--quiet")  # fmt: skip
    assert psyq_cli(*args).exit_code == 0
    out.chmod(0o755)  # as a copy, or an older psyq, left it
    result = psyq_cli(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert mode_of(out) == 0o700
    assert "made it 0700" in result.stderr


def test_a_shared_sticky_folder_is_refused_before_anything_is_written(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(2))
    out = tmp_path / "shared"
    out.mkdir()
    out.chmod(0o1777)  # as /tmp: everyone may create files in it
    result = psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet"
    )
    assert result.exit_code == 2
    assert f"{out}: a shared folder that others can open (mode 1777)" in result.stderr
    assert "Traceback" not in result.output
    assert list(out.iterdir()) == []
    assert mode_of(out) == 0o1777  # not psyq's to change


NOBODY = 65534


def test_another_users_batch_folder_that_others_can_open_is_refused(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(2))
    out = tmp_path / "theirs"
    out.mkdir()
    out.chmod(0o755)
    os.chown(out, NOBODY, -1)
    result = psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet"
    )
    assert result.exit_code == 2
    assert f"{out}: another user's folder that others can open (mode 0755)" in result.stderr
    assert list(out.iterdir()) == []
    assert mode_of(out) == 0o755


@pytest.mark.parametrize("companion", ["-wal", "-shm"])
@pytest.mark.parametrize("existing", [False, True], ids=["new store", "existing store"])
def test_a_store_companion_file_someone_else_owns_is_never_written(
    psyq_cli: CLI, tmp_path: Path, companion: str, existing: bool
) -> None:
    db = tmp_path / "shared" / "clinic.db"
    db.parent.mkdir()
    record = ("--db", db, "record", "phq9", "--client", "C1", "--answers", "1,1,1,1,1,1,1,1,3")
    if existing:
        assert psyq_cli(*record).exit_code == 0
    planted = db.with_name(db.name + companion)
    planted.unlink(missing_ok=True)
    planted.touch()
    planted.chmod(0o666)  # or 0600: its owner can read it through a descriptor kept open
    os.chown(planted, NOBODY, -1)
    result = psyq_cli(*record)
    assert result.exit_code == 2
    assert f"{planted}: belongs to another user (uid {NOBODY})" in result.stderr
    assert "Traceback" not in result.output
    assert planted.stat().st_size == 0
    assert planted.stat().st_uid == NOBODY


def record_c0042(psyq_cli: CLI) -> None:
    result = psyq_cli("record", "phq9", "--client", "C0042", "--answers", "1,2,0,1,1,0,2,1,0")
    assert result.exit_code == 0, result.output


def test_a_deidentification_key_another_user_put_there_is_never_used(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    record_c0042(psyq_cli)
    key = psyq_home / "deidentify.key"
    key.write_text("ab" * 32 + "\n")  # a key its owner knows: every pseudonym reversible
    key.chmod(0o600)
    os.chown(key, NOBODY, -1)
    result = psyq_cli("export", "--deidentify")
    assert result.exit_code == 2
    assert f"{key}: cannot read the de-identification key (it belongs to another user" in (
        result.stderr
    )
    assert "C0042" not in result.stdout and "phq9" not in result.stdout


def test_an_audit_key_another_user_put_there_is_never_used(psyq_cli: CLI, psyq_home: Path) -> None:
    key = psyq_home / "audit.key"
    key.write_text("cd" * 32 + "\n")  # known to its owner: they could forge the chain
    key.chmod(0o600)
    os.chown(key, NOBODY, -1)
    result = psyq_cli("record", "phq9", "--client", "C0042", "--answers", "1,2,0,1,1,0,2,1,0")
    assert result.exit_code == 1  # as every audit key problem
    assert f"{key}: cannot read the audit key: it belongs to another user" in result.stderr
    assert "saved administration" not in result.output


@pytest.mark.parametrize(
    ("key", "args", "code"),
    [
        ("deidentify.key", ["export", "--deidentify"], 2),
        ("audit.key", ["record", "phq9", "--client", "C1", "--answers", "1,2,0,1,1,0,2,1,0"], 1),
        # The list of stores the key keyed is best effort: not kept, and the write goes on.
        (
            "audit.key.stores",
            ["record", "phq9", "--client", "C1", "--answers", "1,2,0,1,1,0,2,1,0"],
            0,
        ),
    ],
)
def test_a_fifo_planted_as_a_key_cannot_hang_psyq(
    tmp_path: Path, key: str, args: list[str], code: int
) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "PSYQ_HOME": str(home)}
    psyq = [sys.executable, "-m", "psyq"]
    if key.endswith(".stores"):  # read and written when a new store's chain is keyed
        home.mkdir(mode=0o700)
    else:
        first = ["record", "phq9", "--client", "C0", "--answers", "0,0,0,0,0,0,0,0,0"]
        assert subprocess.run([*psyq, *first], env=env, capture_output=True).returncode == 0
        (home / key).unlink(missing_ok=True)
    os.mkfifo(home / key, 0o600)  # opening it would wait for the other end forever
    done = subprocess.run([*psyq, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == code, done.stderr
    if code:
        assert f"{home / key}: cannot read the" in done.stderr
        assert "it is not a regular file" in done.stderr
    else:
        assert "saved administration" in done.stdout


def test_a_new_folder_swapped_for_a_link_is_refused_and_its_target_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a folder others can write, someone may rename the folder psyq just made and
    put a link in its place before psyq sets its mode: the mode must not be set through
    the link (as root, on any file the link names)."""
    from psyq.files import private_dir

    theirs = tmp_path / "theirs.txt"
    theirs.write_text("not psyq's")
    theirs.chmod(0o644)
    real_mkdir = os.mkdir

    def mkdir_then_swap(path: str | os.PathLike[str], mode: int = 0o777) -> None:
        real_mkdir(path, mode)
        os.rename(path, tmp_path / "moved")
        os.symlink(theirs, path)

    monkeypatch.setattr(os, "mkdir", mkdir_then_swap)
    with pytest.raises(OSError):
        private_dir(tmp_path / "out")
    assert mode_of(theirs) == 0o644
