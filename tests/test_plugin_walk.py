"""docs/plugins.md "A complete walk", step by step, as a plugin author would take it.

Scaffold with ``psyq new-plugin``; append the documented scoring stage and golden
example; install the package through real metadata (a dist-info carrying the
generated entry point, as pip writes); then ``psyq validate`` and ``psyq plugins
--json`` must say what the page says, and the scaffold's own tests still pass.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from psyq.scoring import matches

from .installed import plugin_env, run_psyq

ROOT = Path(__file__).resolve().parents[1]
WALK = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")


def walk_block(marker: str) -> str:
    match = re.search(rf"<!-- walk: {re.escape(marker)} -->\n```\w+\n(.*?)```\n", WALK, re.DOTALL)
    assert match, f"docs/plugins.md has no walk block '{marker}'"
    return match.group(1)


def install(package: Path, site: Path) -> None:
    """A dist-info with the package's own entry points, like ``pip install -e .``."""
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    eps = "".join(f"{k} = {v}\n" for k, v in project["entry-points"]["psyq"].items())
    (info / "entry_points.txt").write_text(f"[psyq]\n{eps}")


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("walk")
    env = plugin_env(tmp, tmp / "site")
    created = run_psyq(env, "new-plugin", "mood-log", "--dir", tmp)
    assert created.returncode == 0, created.stderr
    package = tmp / "psyq-mood-log"
    for marker in (
        "append psyq_mood_log/plugin.py",
        "append psyq_mood_log/instruments/mood_log.yaml",
    ):
        path = package / marker.removeprefix("append ")
        with path.open("a", encoding="utf-8") as out:
            out.write("\n" + walk_block(marker) if path.suffix == ".py" else walk_block(marker))
    install(package, tmp / "site")
    env["PYTHONPATH"] = f"{tmp / 'site'}:{package}"  # where an editable install points
    return package, env


def test_validate_passes_with_the_hook_raised_flag_and_extra(
    walked: tuple[Path, dict[str, str]],
) -> None:
    package, env = walked
    run = run_psyq(env, "validate")
    assert run.returncode == 0, run.stderr
    path = package / "psyq_mood_log" / "instruments" / "mood_log.yaml"
    assert f"ok   {path}: mood_log v0.1, 6 golden example(s) pass" in run.stdout
    scored = run_psyq(env, "score", "mood_log", "--answers", "3,0,1,2", "--json")
    data = json.loads(scored.stdout)
    assert sorted(f["id"] for f in data["flags"]) == ["core_mismatch", "item1_nearly_always"]
    assert data["extra"] == {"mood_log_core": {"value": 3}}
    # Scoped: the stage never touches another instrument.
    other = json.loads(
        run_psyq(env, "score", "gad7", "--answers", "3,0,1,2,0,0,0", "--json").stdout
    )
    assert "extra" not in other


def test_plugins_json_lists_what_the_page_shows(walked: tuple[Path, dict[str, str]]) -> None:
    _, env = walked
    run = run_psyq(env, "plugins", "--json")
    assert run.returncode == 0, run.stderr
    rows: dict[str, Any] = {row["name"]: row for row in json.loads(run.stdout)}
    shown = json.loads(walk_block("psyq plugins --json"))
    assert matches(shown, rows["mood_log"]), json.dumps(rows["mood_log"], indent=2)


def test_without_the_stage_validate_says_the_plugin_may_be_missing(
    walked: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The same golden example with the stage removed: the flag and extra are unexplained."""
    package, env = walked
    plugin = (package / "psyq_mood_log" / "plugin.py").read_text()
    without = tmp_path / "psyq_mood_log"
    without.mkdir()
    (without / "__init__.py").write_text("")
    (without / "plugin.py").write_text(plugin.split("\nfrom collections.abc import Generator")[0])
    instruments = package / "psyq_mood_log" / "instruments"
    (without / "instruments").symlink_to(instruments)
    run = run_psyq(
        {**env, "PYTHONPATH": f"{env['PYTHONPATH'].split(':')[0]}:{tmp_path}"}, "validate"
    )
    assert run.returncode == 2
    assert (
        "flag 'core_mismatch' is not declared in the file and no installed plugin raised it; "
        "is the plugin that raises it installed (`psyq plugins`)?"
    ) in run.stderr
    assert "extra 'mood_log_core' expected, but no installed plugin set it" in run.stderr


def test_the_scaffold_tests_still_pass(walked: tuple[Path, dict[str, str]]) -> None:
    package, env = walked
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
