"""Instrument-only packs: one hook registers YAML files; `psyq validate` checks them too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from psyq import hookimpl
from psyq.manager import PsyqPluginManager
from psyq.plugins.builtin_instruments import builtin_instruments_dir
from psyq.registry import InstrumentSource

CLI = Callable[..., Result]
Register = Callable[..., Any]


class Pack:
    """A plugin that ships nothing but data files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @hookimpl
    def psyq_instrument_sources(self) -> list[InstrumentSource]:
        return [InstrumentSource("acme pack", self.path)]


@pytest.fixture
def pack_dir(tmp_path: Path, minimal_yaml: str) -> Path:
    pack = tmp_path / "acme"
    pack.mkdir()
    (pack / "mini.yaml").write_text(minimal_yaml)
    (pack / "README.txt").write_text("not an instrument: ignored by suffix")
    return pack


def test_pack_is_listed_shown_scored_and_validated(
    psyq_register: Register, psyq_cli: CLI, pack_dir: Path
) -> None:
    psyq_register(Pack(pack_dir), name="acme")
    listed = json.loads(psyq_cli("list", "--json").output)
    assert [(row["id"], row["source"]) for row in listed if row["id"] == "mini"] == [
        ("mini", "acme pack")
    ]
    assert "Source: acme pack" in psyq_cli("show", "mini").output
    scored = json.loads(psyq_cli("score", "mini", "--answers", "2,2,0", "--json").output)
    assert scored["scores"]["total"]["value"] == 6
    validated = psyq_cli("validate")
    assert validated.exit_code == 0, validated.output
    ok_lines = [line for line in validated.output.splitlines() if line.startswith("ok   ")]
    builtins = len(list(builtin_instruments_dir().glob("*.yaml")))
    assert len(ok_lines) == builtins + 1  # every built-in and the pack's file
    assert f"ok   {pack_dir / 'mini.yaml'}: mini v1, 1 golden example(s) pass" in ok_lines
    rows = {r["name"]: r for r in json.loads(psyq_cli("plugins", "--json").output)}
    assert rows["acme"]["hooks"] == ["psyq_instrument_sources"]


def test_single_file_source(psyq_register: Register, psyq_cli: CLI, pack_dir: Path) -> None:
    psyq_register(Pack(pack_dir / "mini.yaml"), name="acme")
    assert "mini" in psyq_cli("list").output


def test_validate_fails_on_a_pack_golden_example(
    psyq_register: Register, psyq_cli: CLI, pack_dir: Path
) -> None:
    path = pack_dir / "mini.yaml"
    path.write_text(path.read_text().replace("scores: {total: 2}", "scores: {total: 3}"))
    psyq_register(Pack(pack_dir), name="acme")
    result = psyq_cli("validate")
    assert result.exit_code == 2
    assert f"FAIL {path}: mini example 'zeros': total expected 3.0, got 2" in result.stderr
    assert result.stderr.strip().endswith("1 problem(s) found")


def test_validate_fails_on_a_broken_pack_file_but_list_keeps_working(
    psyq_register: Register, psyq_cli: CLI, pack_dir: Path, psyq_pm: PsyqPluginManager
) -> None:
    (pack_dir / "broken.yaml").write_text("id: broken\nitems: [\n")
    psyq_register(Pack(pack_dir), name="acme")
    result = psyq_cli("validate")
    assert result.exit_code == 2
    assert f"acme pack: {pack_dir / 'broken.yaml'}:" in result.stderr
    assert "Traceback" not in result.stderr
    psyq_pm.strict = False  # psyq.testing's manager is strict; a normal run only warns
    listed = psyq_cli("list")
    assert listed.exit_code == 0
    assert "mini" in listed.output and "phq9" in listed.output
    assert len(listed.stderr.strip().splitlines()) == 1
