"""``psyq new-plugin``: the scaffolded package passes its own tests, lint, and loads as a plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from psyq.plugins.commands.scaffold import plugin_slug

CLI = Callable[..., Result]
BIN = Path(sys.executable).parent


@pytest.fixture
def generated(psyq_cli: CLI, tmp_path: Path) -> Path:
    result = psyq_cli("new-plugin", "mood-log", "--dir", tmp_path)
    assert result.exit_code == 0, result.output
    target = tmp_path / "psyq-mood-log"
    assert result.output.splitlines()[0] == f"created {target}/"
    return target


def test_layout(generated: Path) -> None:
    files = sorted(str(p.relative_to(generated)) for p in generated.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "psyq_mood_log/__init__.py",
        "psyq_mood_log/instruments/mood_log.yaml",
        "psyq_mood_log/plugin.py",
        "psyq_mood_log/py.typed",
        "pyproject.toml",
        "tests/test_mood_log.py",
    ]
    project = tomllib.loads((generated / "pyproject.toml").read_text())["project"]
    assert project["name"] == "psyq-mood-log"
    assert project["entry-points"]["psyq"] == {"mood_log": "psyq_mood_log.plugin"}


def test_generated_tests_pass_out_of_the_box(generated: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=generated,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout


def test_generated_code_is_lint_clean(generated: Path) -> None:
    for args in (["format", "--check", "."], ["check", "."]):
        run = subprocess.run(
            [str(BIN / "ruff"), *args], cwd=generated, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stdout + run.stderr


def test_generated_entry_point_loads_as_an_installed_plugin(
    generated: Path, tmp_path: Path
) -> None:
    """Install-free: a dist-info carrying the generated entry point, like pip would write."""
    pyproject = tomllib.loads((generated / "pyproject.toml").read_text())["project"]
    site = tmp_path / "site"
    dist = site / "psyq_mood_log-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {pyproject['name']}\nVersion: {pyproject['version']}\n"
    )
    eps = "".join(f"{k} = {v}\n" for k, v in pyproject["entry-points"]["psyq"].items())
    (dist / "entry_points.txt").write_text(f"[psyq]\n{eps}")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(generated)]),
        "PSYQ_HOME": str(tmp_path / "home"),
        "PSYQ_STRICT_PLUGINS": "1",
    }

    def psyq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "psyq", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    listed = psyq("list")
    assert listed.returncode == 0, listed.stderr
    assert "mood_log  Mood Log Scale (v0.1)  [provisional]" in listed.stdout
    rows = {row["name"]: row for row in json.loads(psyq("plugins", "--json").stdout)}
    assert rows["mood_log"]["source"] == "entry point"
    assert rows["mood_log"]["version"] == "0.1.0"
    assert rows["mood_log"]["hooks"] == [
        "psyq_instrument_sources",
        "psyq_report_context",
        "psyq_report_sections",
    ]
    validated = psyq("validate")
    assert validated.returncode == 0, validated.stderr
    assert "mood_log v0.1, 5 golden example(s) pass" in validated.stdout


def test_existing_directory_is_refused(psyq_cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "psyq-mood-log").mkdir()
    (tmp_path / "psyq-mood-log" / "keep.txt").write_text("mine")
    result = psyq_cli("new-plugin", "mood-log", "--dir", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"psyq: error: {tmp_path / 'psyq-mood-log'} already exists and is not empty; "
        "choose another NAME or --dir"
    ]
    assert (tmp_path / "psyq-mood-log" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("name", ["9lives", "my scale", "", "a" * 41, "../evil", "x.y"])
def test_bad_names_are_one_line_errors(psyq_cli: CLI, tmp_path: Path, name: str) -> None:
    result = psyq_cli("new-plugin", name, "--dir", tmp_path)
    assert result.exit_code == 2
    assert "is not usable" in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "psyq-home"]


@pytest.mark.parametrize(
    ("name", "slug"), [("Mood-Log", "mood_log"), ("psyq-sleep", "sleep"), ("k10", "k10")]
)
def test_names_are_normalised(name: str, slug: str) -> None:
    assert plugin_slug(name) == slug


def test_generated_wheel_carries_the_instrument_and_entry_point(
    generated: Path, tmp_path: Path
) -> None:
    """`pip install .` (not only -e) must install the YAML file and register the plugin."""
    out = tmp_path / "wheel"
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "-w", str(out), str(generated)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("psyq_mood_log-0.1.0-*.whl")
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    assert {"psyq_mood_log/instruments/mood_log.yaml", "psyq_mood_log/plugin.py"} <= names
    entry_points = archive.read("psyq_mood_log-0.1.0.dist-info/entry_points.txt").decode()
    assert "[psyq]\nmood_log = psyq_mood_log.plugin" in entry_points
