"""psyq.testing, the pytest plugin for plugin authors: its fixtures and golden-example helper."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from psyq import __version__, hookimpl
from psyq.errors import PluginError
from psyq.manager import PsyqPluginManager
from psyq.models import Instrument
from psyq.outputs import OutputFormat, RenderRequest
from psyq.plugins.builtin_instruments import builtin_instruments_dir
from psyq.registry import InstrumentRegistry, InstrumentSource
from psyq.testing import assert_golden_examples

CLI = Callable[..., Result]
Register = Callable[..., Any]


class Shout:
    """A tiny plugin: an output format printing the total in capitals."""

    @hookimpl
    def psyq_output_formats(self) -> list[OutputFormat]:
        def render(request: RenderRequest) -> bytes:
            return f"TOTAL {request.result.total.value}\n".encode()

        return [OutputFormat("shout", ".shout", render)]


@pytest.fixture
def pm_checked_at_teardown(psyq_pm: PsyqPluginManager) -> Iterator[PsyqPluginManager]:
    # Set up before psyq_register, so torn down after it: the plugin must be gone by then.
    yield psyq_pm
    assert psyq_pm.get_plugin("shout") is None
    assert "shout" not in {c.plugin_name for c in psyq_pm.hook.psyq_output_formats.get_hookimpls()}


def test_psyq_pm_has_builtins_only(psyq_pm: PsyqPluginManager) -> None:
    sources = {info.source for info in psyq_pm.plugin_infos()}
    assert sources == {"built-in"}
    assert psyq_pm.strict is True
    assert InstrumentRegistry(psyq_pm).ids() == sorted(
        p.stem for p in builtin_instruments_dir().glob("*.yaml")
    )


def test_register_is_seen_by_the_cli_and_removed_after_the_test(
    pm_checked_at_teardown: PsyqPluginManager, psyq_register: Register, psyq_cli: CLI
) -> None:
    before = psyq_cli("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,1", "--format", "shout")
    assert before.exit_code == 2
    assert "unknown output format 'shout'" in before.stderr
    plugin = Shout()
    assert psyq_register(plugin, name="shout") is plugin
    after = psyq_cli("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,1", "--format", "shout")
    assert after.exit_code == 0
    assert after.stdout == "TOTAL 9\n"
    # The format leaves PHQ-9 item 9's alert out; psyq says it on stderr.
    assert after.stderr.startswith("psyq: CRITICAL (item phq9_9)")
    row = {i.name: i for i in pm_checked_at_teardown.plugin_infos()}["shout"]
    assert (row.source, row.hooks) == ("registered", ["psyq_output_formats"])


def test_register_a_module_by_its_name(
    psyq_register: Register, psyq_registry: InstrumentRegistry, tmp_path: Path, minimal_yaml: str
) -> None:
    (tmp_path / "mini.yaml").write_text(minimal_yaml)
    module = type(sys)("pack_module")

    @hookimpl
    def psyq_instrument_sources() -> list[InstrumentSource]:
        return [InstrumentSource("pack", tmp_path)]

    module.psyq_instrument_sources = psyq_instrument_sources  # type: ignore[attr-defined]
    psyq_register(module)
    assert psyq_registry.entry("mini").source == "pack"


def test_plugin_without_hooks_is_an_error(psyq_register: Register) -> None:
    class Forgot:
        def psyq_output_formats(self) -> list[OutputFormat]:  # no @hookimpl
            return []

    with pytest.raises(PluginError, match="'forgot' implements no psyq hook"):
        psyq_register(Forgot(), name="forgot")


def test_misspelled_hook_fails_the_test(psyq_register: Register) -> None:
    class Typo:
        @hookimpl
        def psyq_output_format(self) -> list[OutputFormat]:
            return []

    with pytest.raises(PluginError, match=r"plugin 'typo' failed: .*psyq_output_format"):
        psyq_register(Typo(), name="typo")


def test_same_name_twice_is_an_error(psyq_register: Register) -> None:
    psyq_register(Shout(), name="shout")
    with pytest.raises(PluginError, match="'shout' is already registered"):
        psyq_register(Shout(), name="shout")


def test_cli_user_error_is_one_line_and_bugs_propagate(psyq_cli: CLI, psyq_home: Path) -> None:
    assert os.environ["PSYQ_HOME"] == str(psyq_home)
    result = psyq_cli("show", "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith("psyq: error: unknown instrument 'nope'")
    assert psyq_cli("show", "nope", catch_exceptions=True).exit_code == 2


def test_golden_examples_helper_passes_and_reports_every_mismatch(
    psyq_pm: PsyqPluginManager, psyq_registry: InstrumentRegistry
) -> None:
    assert_golden_examples(psyq_pm, "phq9")
    data = psyq_registry.get("gad7").model_dump()
    data["examples"][0]["expect"]["scores"]["total"] = 99
    data["examples"][1]["expect"]["bands"]["total"] = "severe"
    with pytest.raises(AssertionError) as info:
        assert_golden_examples(psyq_pm, Instrument.model_validate(data))
    lines = str(info.value).splitlines()
    assert any("total expected 99" in line for line in lines)
    assert any("band expected severe" in line for line in lines)
    data["examples"] = []
    with pytest.raises(AssertionError, match="gad7 has no golden examples"):
        assert_golden_examples(psyq_pm, Instrument.model_validate(data))


PLUGIN_AUTHOR_TESTS = """
from psyq import hookimpl
from psyq.testing import assert_golden_examples


class Pack:
    @hookimpl
    def psyq_instrument_sources(self):
        from pathlib import Path
        from psyq.registry import InstrumentSource

        return [InstrumentSource("pack", Path(__file__).parent / "pack")]


def test_fixtures_without_a_conftest(psyq_pm, psyq_register, psyq_cli):
    assert "installed_broken" not in {i.name for i in psyq_pm.plugin_infos()}
    psyq_register(Pack(), name="pack")
    assert_golden_examples(psyq_pm, "mini")
    assert psyq_cli("score", "mini", "--answers", "0,0,0").exit_code == 0
"""


def test_pytest11_entry_point_for_plugin_authors(tmp_path: Path, minimal_yaml: str) -> None:
    """End to end, as a plugin's own test suite: no conftest, an installed plugin ignored."""
    project = tmp_path / "project"
    (project / "pack").mkdir(parents=True)
    (project / "pack" / "mini.yaml").write_text(minimal_yaml)
    (project / "test_pack.py").write_text(textwrap.dedent(PLUGIN_AUTHOR_TESTS))
    # An installed plugin that would fail (strict) if psyq_pm loaded entry points.
    site = tmp_path / "site"
    dist = site / "installed_broken-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: installed-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[psyq]\ninstalled_broken = no_such_module_xyz\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_pack.py"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    header = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-p", "no:cacheprovider", "test_pack.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"psyq {__version__}: psyq.testing fixtures" in header.stdout
