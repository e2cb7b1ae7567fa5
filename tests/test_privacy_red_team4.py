"""Red team 4 of "every file holding client data is private, created safely".

psyq's own data folder (``$PSYQ_HOME``: the store and its keys) that others can open
or write is made 0700, with one line saying so; one that belongs to someone else (root
running psyq against a clinician's folder) is refused, naming its owner, and nothing is
made in it. A folder the user names for one output file (``-o FILE``) is the user's and
is not changed: one others could swap the file in is refused, one others can list is
said once, and the file is 0600 either way. Tests that need another user's folder chown
it to ``nobody``, so they run as root (as this project's test machines do)."""

from __future__ import annotations

import json
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
NOBODY = 65534
RECORD = ("record", "phq9", "--client", "C0042", "--answers", "1,2,0,1,1,0,2,1,3")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_psyq(
    *args: object, env: dict[str, str], umask: int = 0o022
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "psyq", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(umask),
        timeout=300,
    )


# -- psyq's own data folder ---------------------------------------------------------


@pytest.mark.parametrize("loose", [0o755, 0o777, 0o770, 0o701], ids=oct)
def test_a_data_folder_others_can_open_is_made_private_and_said_once(
    psyq_cli: CLI, psyq_home: Path, loose: int
) -> None:
    psyq_home.chmod(loose)  # as `mkdir ~/psyq-data` under umask 022 (or 000) leaves it
    result = psyq_cli(*RECORD)
    assert result.exit_code == 0, result.output
    assert mode_of(psyq_home) == 0o700
    line = f"{psyq_home}: others could open psyq's data folder (mode {loose:04o}); made it 0700"
    assert result.stderr.count(line) == 1
    again = psyq_cli(*RECORD)
    assert again.exit_code == 0 and "data folder" not in again.stderr


def test_a_linked_data_folder_is_followed_and_the_folder_it_names_made_private(
    tmp_path: Path,
) -> None:
    real = tmp_path / "encrypted" / "psyq"
    real.mkdir(parents=True)
    real.chmod(0o755)
    link = tmp_path / "psyq-home"
    link.symlink_to(real)
    done = run_psyq(*RECORD, env={**os.environ, "PSYQ_HOME": str(link)})
    assert done.returncode == 0, done.stderr
    assert mode_of(real) == 0o700
    assert link.is_symlink()
    assert {p.name for p in real.iterdir()} >= {"psyq.db", "audit.key"}
    assert {mode_of(p) for p in real.iterdir()} == {0o600}


@pytest.mark.parametrize("mode", [0o700, 0o755])
@pytest.mark.parametrize(
    "args",
    [
        RECORD,
        ("export", "--deidentify"),
        ("kiosk", "start", "--instruments", "phq9", "--client", "C1"),
    ],
    ids=["record", "export", "kiosk"],
)
def test_root_never_writes_into_another_users_data_folder(
    tmp_path: Path, mode: int, args: tuple[str, ...]
) -> None:
    """`sudo psyq ...` with PSYQ_HOME in a clinician's home: files root made there would
    be root's (the clinician could no longer read the audit key or the store) and the
    audit log would name root for the clinician's work."""
    home = tmp_path / "alice-psyq"
    home.mkdir()
    home.chmod(mode)
    os.chown(home, NOBODY, -1)
    done = run_psyq(*args, env={**os.environ, "PSYQ_HOME": str(home)})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        f"psyq: error: {home}: psyq's data folder belongs to nobody (uid {NOBODY}), not to "
        "you (root (uid 0))"
    )
    assert "run psyq as nobody (sudo -u nobody psyq ...)" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(home.iterdir()) == []
    assert home.stat().st_uid == NOBODY and mode_of(home) == mode


def test_root_never_writes_another_users_store_named_with_db(tmp_path: Path) -> None:
    home = tmp_path / "home"
    theirs = tmp_path / "shared"
    theirs.mkdir(mode=0o755)
    db = theirs / "clinic.db"
    env = {**os.environ, "PSYQ_HOME": str(home)}
    assert run_psyq("--db", db, *RECORD, env=env).returncode == 0
    os.chown(db, NOBODY, -1)  # a store the clinician (here: nobody) owns
    before = sorted(p.name for p in theirs.iterdir())
    done = run_psyq("--db", db, *RECORD, env=env)
    assert done.returncode == 2, done.stderr
    assert f"{db}: the store belongs to nobody (uid {NOBODY}), not to you" in done.stderr
    assert sorted(p.name for p in theirs.iterdir()) == before
    assert db.stat().st_uid == NOBODY
    # Only read (an archive made read-only, in its owner's folder): psyq makes nothing.
    db.chmod(0o444)
    os.chown(theirs, NOBODY, -1)
    read = run_psyq("--db", db, "history", "C0042", env=env)
    assert read.returncode == 0, read.stderr
    assert "C0042" in read.stdout
    assert sorted(p.name for p in theirs.iterdir()) == before


def test_sudo_psyq_does_not_start_a_second_store_in_roots_data_folder(tmp_path: Path) -> None:
    """`sudo psyq record ...` (no PSYQ_HOME): the record would go to root's own data
    folder, apart from the clinician's store: a split history nobody sees whole."""
    env = {
        **os.environ,
        "SUDO_USER": "alice",
        "HOME": str(tmp_path / "root-home"),
        "XDG_DATA_HOME": str(tmp_path / "root-data"),
    }
    env.pop("PSYQ_HOME", None)
    done = run_psyq(*RECORD, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("psyq: error: psyq runs as root through sudo")
    assert "run psyq as alice, without sudo" in done.stderr
    assert not (tmp_path / "root-data").exists()
    # Root's own folder, chosen on purpose, is root's to use.
    chosen = run_psyq(*RECORD, env={**env, "PSYQ_HOME": str(tmp_path / "root-psyq")})
    assert chosen.returncode == 0, chosen.stderr


def test_a_planted_wal_beside_the_store_a_link_names_is_refused(tmp_path: Path) -> None:
    """SQLite keeps -wal and -shm beside the file a link names, not beside the link."""
    real = tmp_path / "real" / "clinic.db"
    real.parent.mkdir(mode=0o700)
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    assert run_psyq("--db", real, *RECORD, env=env).returncode == 0
    link = tmp_path / "clinic.db"
    link.symlink_to(real)
    planted = real.with_name("clinic.db-wal")
    planted.touch()
    planted.chmod(0o666)
    os.chown(planted, NOBODY, -1)
    done = run_psyq("--db", link, *RECORD, env=env)
    assert done.returncode == 2, done.stderr
    assert f"{planted}: belongs to another user (uid {NOBODY})" in done.stderr
    assert planted.stat().st_size == 0


# -- a folder the user names for one output file --------------------------------------


def record_c0042(psyq_cli: CLI) -> None:
    result = psyq_cli(*RECORD)
    assert result.exit_code == 0, result.output


OUTPUTS = {
    "report": ("report", "phq9", "--latest", "--client", "C0042", "-o"),
    "export": ("export", "-o"),
    "fhir": ("report", "phq9", "--latest", "--client", "C0042", "--format", "fhir", "-o"),
}
NAMES = {"report": "C0042.html", "export": "clinic.csv", "fhir": "C0042.fhir.json"}


@pytest.mark.parametrize("what", OUTPUTS)
@pytest.mark.parametrize("loose", [0o755, 0o750, 0o1777], ids=oct)
def test_an_output_folder_others_can_list_is_left_as_it_is_and_said(
    psyq_cli: CLI, tmp_path: Path, what: str, loose: int
) -> None:
    record_c0042(psyq_cli)
    folder = tmp_path / "letters"
    folder.mkdir()
    folder.chmod(loose)
    target = folder / NAMES[what]
    result = psyq_cli(*OUTPUTS[what], target)
    assert result.exit_code == 0, result.output
    assert mode_of(target) == 0o600
    assert mode_of(folder) == loose  # the user's folder: not changed behind their back
    said = [line for line in result.stderr.splitlines() if line.startswith("psyq: warning")]
    assert said == [
        f"psyq: warning: {folder}: others can list this folder (mode {loose:04o}); "
        f"{target.name} itself is private (0600), but its name is not"
    ]


@pytest.mark.parametrize("what", OUTPUTS)
@pytest.mark.parametrize("loose", [0o777, 0o775, 0o757], ids=oct)
def test_an_output_folder_others_can_write_is_refused_before_anything_is_written(
    psyq_cli: CLI, tmp_path: Path, what: str, loose: int
) -> None:
    record_c0042(psyq_cli)
    folder = tmp_path / "drop"
    folder.mkdir()
    folder.chmod(loose)  # without the sticky bit anyone may rename a file in it away
    result = psyq_cli(*OUTPUTS[what], folder / NAMES[what])
    assert result.exit_code == 2, result.output
    assert f"{folder}: others can write in this folder (mode {loose:04o})" in result.stderr
    assert "Traceback" not in result.output
    assert list(folder.iterdir()) == []
    assert mode_of(folder) == loose


def test_root_never_writes_a_report_into_another_users_folder(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    record_c0042(psyq_cli)
    folder = tmp_path / "alice"
    folder.mkdir(mode=0o700)
    os.chown(folder, NOBODY, -1)
    result = psyq_cli(*OUTPUTS["report"], folder / "C0042.html")
    assert result.exit_code == 2, result.output
    assert f"{folder}: the folder belongs to nobody (uid {NOBODY}), not to you" in result.stderr
    assert list(folder.iterdir()) == []


# -- every file a run makes, whatever the umask ---------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o027, 0o277], ids=oct)
def test_every_client_file_and_folder_is_private_whatever_the_umask(
    tmp_path: Path, umask: int
) -> None:
    """A data folder the user made with `mkdir` under the same umask, then a day's work:
    every file that can hold client data is 0600, every folder 0700."""
    old = os.umask(umask & 0o077)  # 0o277 would make a folder its owner cannot write
    try:
        home = tmp_path / "home"
        home.mkdir()  # 0777 / 0755 / 0750 / 0700
        out = tmp_path / "out"
        out.mkdir(mode=0o700)
        out.chmod(0o700)
    finally:
        os.umask(old)
    cohort = write_csv(tmp_path / "cohort.csv", phq9_rows(3))
    env = {**os.environ, "PSYQ_HOME": str(home), "PSYQ_CACHE_DIR": str(tmp_path / "cache")}
    steps: list[tuple[object, ...]] = [
        RECORD,
        ("report", "phq9", "--latest", "--client", "C0042", "-o", out / "C0042.html"),
        ("report", "phq9", "--latest", "--client", "C0042", "--format", "json", "-o",
         out / "C0042.json"),
        ("export", "-o", out / "all.csv"),
        ("export", "--deidentify", "--format", "jsonl", "-o", out / "deid.jsonl"),
        ("kiosk", "start", "--instruments", "phq9", "--client", "C7"),
        ("batch", cohort, "--instrument", "phq9", "--out", out / "batch", "--format", "json",
         "--jobs", "1", "--summary", "html", "--quiet"),
        ("simulate", "phq9", "--n", "40", "--seed", "1", "-o", out / "sim.csv"),
        ("norms", "build", "phq9", out / "sim.csv", "--ignore-extra-columns",
         "--description", "simulated", "-o", out / "norms.json"),
    ]  # fmt: skip
    for step in steps:
        done = run_psyq(*step, env=env, umask=umask)
        assert done.returncode == 0, (step, done.stderr)
    made = [p for p in home.rglob("*")] + [p for p in out.rglob("*")]
    assert {p.name for p in home.iterdir()} >= {"psyq.db", "audit.key", "deidentify.key",
                                                "psyq.kiosk.db"}  # fmt: skip
    wrong = {
        str(p): oct(mode_of(p))
        for p in [home, out, *made]
        if mode_of(p) != (0o700 if p.is_dir() else 0o600)
    }
    assert wrong == {}
    assert not [p for p in made if ".psyq-tmp" in p.name]


# -- the cache folder -------------------------------------------------------------------


@pytest.mark.parametrize("planted", ["another user's key", "a link to a known key", "0644 key"])
def test_a_cache_key_someone_else_may_know_never_signs_an_entry(
    tmp_path: Path, planted: str
) -> None:
    """Compiled templates in the cache are run and cached definitions are scored with:
    whoever knows the key that signs them could forge an entry (a PHQ-9 without its
    item 9 alert, or code). A key psyq cannot be sure only the user knows is not used."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    key = cache / "definitions.key"
    known = os.urandom(32)
    if planted == "a link to a known key":
        (tmp_path / "known.key").write_bytes(known)
        key.symlink_to(tmp_path / "known.key")
    else:
        key.write_bytes(known)
        key.chmod(0o600 if planted == "another user's key" else 0o644)
        if planted == "another user's key":
            os.chown(key, NOBODY, -1)
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home"), "PSYQ_CACHE_DIR": str(cache)}
    args = ("report", "phq9", "--answers", "1,2,0,1,1,0,2,1,3", "--client", "C1", "-o",
            tmp_path / "r.html")  # fmt: skip
    for _ in range(2):  # the first run writes the cache, the second reads it
        done = run_psyq(*args, "--force", env=env)
        assert done.returncode == 0, done.stderr
        assert "CRITICAL" in done.stdout + done.stderr
    still_known = key.exists() and not key.is_symlink() and key.read_bytes() == known
    signed = [
        p
        for p in cache.rglob("*")
        if p.name.startswith("definitions-") or p.parent.name == "templates"
    ]
    # Either nothing is cached, or it is signed with a new key only the user has.
    assert not (signed and (still_known or key.is_symlink())), signed
    if planted == "another user's key":
        assert key.stat().st_uid == NOBODY and key.read_bytes() == known  # not psyq's


def plugin_list_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    cache = tmp_path / "cache"
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home"), "PSYQ_CACHE_DIR": str(cache)}
    assert "psyq-example-plugin" in run_psyq("plugins", env=env).stdout  # caches the list
    return cache, env


def test_a_plugin_list_another_user_put_in_the_cache_is_not_read(tmp_path: Path) -> None:
    """The cached list of plugin entry points names the modules psyq imports."""
    cache, env = plugin_list_env(tmp_path)
    (listed,) = cache.glob("entry-points-*.json")
    document = json.loads(listed.read_text())
    document["entry_points"] = []  # every plugin installed made to vanish, or others named
    listed.write_text(json.dumps(document))
    os.chown(listed, NOBODY, -1)
    done = run_psyq("plugins", env=env)
    assert done.returncode == 0, done.stderr
    assert "psyq-example-plugin" in done.stdout


@pytest.mark.parametrize("loose", [0o777, 0o1777, 0o775], ids=oct)
def test_a_cache_folder_others_can_write_is_not_used_and_said(tmp_path: Path, loose: int) -> None:
    cache, env = plugin_list_env(tmp_path)
    for cached in cache.rglob("*"):
        if cached.is_file():
            cached.unlink()
    cache.chmod(loose)
    done = run_psyq("score", "phq9", "--answers", "1,2,0,1,1,0,2,1,3", env=env)
    assert done.returncode == 0, done.stderr
    assert "CRITICAL" in done.stdout
    assert (
        done.stderr.count(
            f"psyq: warning: {cache}: not used as psyq's cache (others can write in it, "
            f"mode {loose:04o}); set PSYQ_CACHE_DIR to a folder of your own"
        )
        == 1
    )
    assert [p for p in cache.rglob("*") if p.is_file()] == []
    assert mode_of(cache) == loose


def test_root_never_fills_another_users_private_batch_folder(psyq_cli: CLI, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(2))
    out = tmp_path / "alice-batch"
    out.mkdir(mode=0o700)
    os.chown(out, NOBODY, -1)  # private, but the clinician's: reports made as root are root's
    result = psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet"
    )
    assert result.exit_code == 2, result.output
    assert f"{out}: the folder belongs to nobody (uid {NOBODY}), not to you" in result.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("loose", [0o755, 0o777], ids=oct)
def test_a_store_named_with_db_in_a_loose_folder_is_said_or_refused(
    psyq_cli: CLI, tmp_path: Path, loose: int
) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    folder.chmod(loose)
    db = folder / "clinic.db"
    result = psyq_cli("--db", db, *RECORD)
    assert mode_of(folder) == loose  # the user's folder: checked, not changed
    if loose & 0o002:
        assert result.exit_code == 2, result.output
        assert f"{folder}: others can write in this folder (mode 0777)" in result.stderr
        assert list(folder.iterdir()) == []
        return
    assert result.exit_code == 0, result.output
    assert mode_of(db) == 0o600
    assert result.stderr.count(f"{folder}: others can list this folder (mode 0755)") == 1
    again = psyq_cli("--db", db, *RECORD)  # said when the store is made, not every time
    assert again.exit_code == 0 and "others can list" not in again.stderr


@pytest.mark.parametrize("existing", [False, True], ids=["new store", "existing store"])
def test_a_store_journal_someone_else_put_there_is_never_used(
    psyq_cli: CLI, tmp_path: Path, existing: bool
) -> None:
    """In a shared (sticky) folder anyone may create `clinic.db-journal`; SQLite plays a
    "hot" journal back into the store when it opens it."""
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o1777)
    db = folder / "clinic.db"
    if existing:
        assert psyq_cli("--db", db, *RECORD).exit_code == 0
    planted = folder / "clinic.db-journal"
    planted.touch()
    os.chown(planted, NOBODY, -1)
    result = psyq_cli("--db", db, *RECORD)
    assert result.exit_code == 2, result.output
    assert f"{planted}: belongs to another user (uid {NOBODY})" in result.stderr
    assert planted.stat().st_uid == NOBODY and planted.stat().st_size == 0
