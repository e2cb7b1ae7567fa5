"""The cached list of installed plugins: any change to what is installed is seen at once."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from .installed import install_plugin, plugin_env, run_psyq


def _greeting(word: str) -> str:
    return (
        "import click\n"
        "from psyq import hookimpl\n\n"
        f"@click.command('{word}')\n"
        "def hello():\n"
        f"    '''Say {word}.'''\n"
        f"    click.echo('{word} from a plugin')\n\n"
        "@hookimpl\n"
        "def psyq_register_commands():\n"
        "    return [hello]\n"
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    install_plugin(folder, "greet", _greeting("hello"))
    return folder


@pytest.fixture
def env(tmp_path: Path, site: Path) -> dict[str, str]:
    environment = plugin_env(tmp_path, site, PSYQ_CACHE_DIR=str(tmp_path / "cache"))
    environment.pop("PSYQ_NO_CACHE", None)
    return environment


def _cache_file(tmp_path: Path) -> Path:
    (path,) = (tmp_path / "cache").glob("entry-points-*.json")
    return path


def test_an_installed_plugin_is_loaded_from_a_warm_cache(
    tmp_path: Path, env: dict[str, str]
) -> None:
    for _ in range(2):  # the first run writes the cache, the second reads it
        run = run_psyq(env, "hello")
        assert (run.returncode, run.stdout, run.stderr) == (0, "hello from a plugin\n", "")
    cached = _cache_file(tmp_path)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    rows = json.loads(cached.read_text())["entry_points"]
    assert {"name": "greet", "value": "psyq_greet", "distribution": "psyq-greet"}.items() <= {
        key: value for row in rows if row["name"] == "greet" for key, value in row.items()
    }.items()
    shown = run_psyq(env, "--help")
    assert "Say hello." in shown.stdout


def test_installing_another_plugin_is_seen(site: Path, env: dict[str, str]) -> None:
    assert run_psyq(env, "hello").returncode == 0
    install_plugin(site, "wave", _greeting("wave"))
    run = run_psyq(env, "wave")
    assert (run.returncode, run.stdout) == (0, "wave from a plugin\n"), run.stderr


def test_removing_a_plugin_is_seen(site: Path, env: dict[str, str]) -> None:
    assert run_psyq(env, "hello").returncode == 0
    shutil.rmtree(site / "psyq_greet-1.0.dist-info")
    run = run_psyq(env, "hello")
    assert run.returncode == 2 and "No such command 'hello'" in run.stderr


def test_an_edited_entry_point_is_seen(site: Path, env: dict[str, str]) -> None:
    assert run_psyq(env, "hello").returncode == 0
    (site / "psyq_other.py").write_text(_greeting("salut"))
    (site / "psyq_greet-1.0.dist-info" / "entry_points.txt").write_text(
        "[psyq]\ngreet = psyq_other\n"
    )
    run = run_psyq(env, "salut")
    assert (run.returncode, run.stdout) == (0, "salut from a plugin\n"), run.stderr


def test_upgrading_a_plugin_is_seen(site: Path, env: dict[str, str]) -> None:
    assert run_psyq(env, "hello").returncode == 0
    shutil.rmtree(site / "psyq_greet-1.0.dist-info")
    (site / "psyq_greet.py").unlink()
    install_plugin(site, "greet", _greeting("hello"), version="2.0")
    listed = run_psyq(env, "plugins")
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("greet ")]
    assert "2.0" in row and "1.0" not in row


def test_a_damaged_cache_is_ignored_and_rewritten(tmp_path: Path, env: dict[str, str]) -> None:
    assert run_psyq(env, "hello").returncode == 0
    _cache_file(tmp_path).write_bytes(b"\x00 not json")
    run = run_psyq(env, "hello")
    assert (run.returncode, run.stdout, run.stderr) == (0, "hello from a plugin\n", "")
    assert json.loads(_cache_file(tmp_path).read_text())["entry_points"]


def test_a_broken_plugin_from_the_cache_is_still_one_warning(
    tmp_path: Path, site: Path, env: dict[str, str]
) -> None:
    install_plugin(site, "boom", "raise RuntimeError('boom at import')\n")
    for _ in range(2):
        run = run_psyq(env, "hello")
        assert run.returncode == 0 and run.stdout == "hello from a plugin\n"
        (warning,) = run.stderr.splitlines()
        assert warning.startswith("psyq: warning: plugin 'boom' failed and was skipped: ")
        assert "RuntimeError: boom at import" in warning


def test_no_cache_file_when_caching_is_off(tmp_path: Path, env: dict[str, str]) -> None:
    run = run_psyq({**env, "PSYQ_NO_CACHE": "1"}, "hello")
    assert run.returncode == 0 and run.stdout == "hello from a plugin\n"
    assert not list((tmp_path / "cache").glob("entry-points-*.json"))
