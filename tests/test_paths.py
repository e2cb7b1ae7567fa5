"""Where psyq keeps a user's data and caches when PSYQ_HOME and PSYQ_CACHE_DIR are unset.

On Linux psyq applies the XDG rules itself rather than importing platformdirs on every
command (psyq.paths): these tests hold it to platformdirs' answer, and check through
the command line that the database and the cache land there, private.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from psyq.paths import data_dir, user_dir

# (HOME, XDG_DATA_HOME, XDG_CACHE_HOME); None: unset. "{tmp}" is the test's folder.
ENVIRONMENTS = {
    "home only": ("{tmp}/home", None, None),
    "XDG folders set": ("{tmp}/home", "{tmp}/xdg-data", "{tmp}/xdg-cache"),
    "XDG folders empty": ("{tmp}/home", "", ""),
    "XDG folders relative (ignored)": ("{tmp}/home", "rel/data", "rel/cache"),
    "XDG folders with ~ (not absolute: ignored)": ("{tmp}/home", "~/data", "~/cache"),
    "HOME with a trailing slash": ("{tmp}/home/", None, None),
    "HOME unset (the password database)": (None, None, None),
    "HOME relative (platformdirs decides)": ("relative-home", None, None),
}


def _set(monkeypatch: pytest.MonkeyPatch, name: str, value: str | None, tmp: Path) -> None:
    if value is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, value.replace("{tmp}", str(tmp)))


@pytest.mark.parametrize("case", sorted(ENVIRONMENTS))
def test_user_folders_are_the_ones_platformdirs_names(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, data, cache = ENVIRONMENTS[case]
    _set(monkeypatch, "HOME", home, tmp_path)
    _set(monkeypatch, "XDG_DATA_HOME", data, tmp_path)
    _set(monkeypatch, "XDG_CACHE_HOME", cache, tmp_path)
    monkeypatch.delenv("PSYQ_HOME", raising=False)

    def expected(kind: str) -> Path | str:
        function = getattr(platformdirs, f"user_{kind}_dir")
        try:
            return Path(function("psyq", appauthor=False))
        except RuntimeError as exc:  # no home folder to be found: both must say so
            return f"RuntimeError: {exc}"

    for kind in ("data", "cache"):
        try:
            got: Path | str = user_dir(kind)  # type: ignore[arg-type]
        except RuntimeError as exc:
            got = f"RuntimeError: {exc}"
        assert got == expected(kind), (case, kind)
    assert data_dir() == expected("data")


def test_psyq_home_wins_over_the_user_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSYQ_HOME", f"{tmp_path}/clinic")
    monkeypatch.setenv("XDG_DATA_HOME", f"{tmp_path}/xdg")
    assert data_dir() == tmp_path / "clinic"


# Runs one command as the `psyq` console script does and says whether platformdirs loaded.
SCRIPT = """
import sys
from psyq.launch import main
sys.argv = ["psyq", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    print(f"EXIT:{exc.code or 0}", file=sys.stderr)
print(f"PLATFORMDIRS:{'platformdirs' in sys.modules}", file=sys.stderr)
"""


@pytest.mark.parametrize("xdg", [False, True], ids=["default folders", "XDG folders"])
def test_a_command_keeps_data_and_cache_in_the_user_folders(
    xdg: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unset = {"PSYQ_HOME", "PSYQ_CACHE_DIR", "PSYQ_NO_CACHE", "XDG_DATA_HOME", "XDG_CACHE_HOME"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["HOME"] = str(tmp_path / "home")
    if xdg:
        env["XDG_DATA_HOME"] = str(tmp_path / "data")
        env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    for name in ("HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):  # for platformdirs, here
        _set(monkeypatch, name, env.get(name), tmp_path)
    data = Path(platformdirs.user_data_dir("psyq", appauthor=False))
    cache = Path(platformdirs.user_cache_dir("psyq", appauthor=False))
    answers = "1,2,0,1,1,0,2,1,0,1"
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, "record", "phq9", "--client", "c1", "--answers", answers],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "EXIT:0" in run.stderr.splitlines(), run.stdout + run.stderr
    assert "administration 1" in run.stdout, run.stdout
    # Found without platformdirs: the folders psyq worked out are the ones it names.
    assert "PLATFORMDIRS:False" in run.stderr.splitlines(), run.stderr
    database = data / "psyq.db"
    assert database.is_file(), sorted(str(p) for p in tmp_path.rglob("*"))
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert any(cache.glob("*.json")), sorted(str(p) for p in tmp_path.rglob("*"))
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    listed = json.loads(
        subprocess.run(
            [sys.executable, "-m", "psyq", "history", "c1", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    assert listed, "history of the recorded client is empty"
