"""Third-party plugins: failures become warnings, strict mode re-raises, disabling works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from psyq import hookimpl
from psyq.entry_points import PluginEntryPoint
from psyq.errors import DuplicateError, PluginError
from psyq.manager import PsyqPluginManager, create_plugin_manager
from psyq.plugins.builtin_instruments import builtin_instruments_dir
from psyq.registry import InstrumentRegistry, InstrumentSource

from .installed import installed_broken_plugin

GOOD = """
from psyq import hookimpl
from psyq.registry import InstrumentSource
from pathlib import Path

@hookimpl
def psyq_instrument_sources():
    return [InstrumentSource("good pack", Path(__file__).parent / "good_pack")]
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minimal_yaml: str) -> Path:
    (tmp_path / "good_plugin.py").write_text(GOOD)
    (tmp_path / "good_pack").mkdir()
    (tmp_path / "good_pack" / "mini.yaml").write_text(minimal_yaml)
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "typo_plugin.py").write_text(
        "from psyq import hookimpl\n\n@hookimpl\ndef psyq_instrument_sorces():\n    return []\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, **modules: str) -> None:
    eps = [PluginEntryPoint(name, module) for name, module in modules.items()]
    monkeypatch.setattr(
        "psyq.entry_points.plugin_entry_points", lambda group: eps if group == "psyq" else []
    )


def test_broken_plugin_is_a_warning_and_a_failed_row(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_entry_points(monkeypatch, good="good_plugin", broken="broken_plugin", typo="typo_plugin")
    warnings: list[str] = []
    pm = create_plugin_manager(strict=False, warn=warnings.append)
    infos = {i.name: i for i in pm.plugin_infos()}
    assert infos["good"].source == "entry point"
    assert infos["good"].hooks == ["psyq_instrument_sources"]
    assert infos["broken"].source == "failed"
    assert infos["broken"].error == "RuntimeError: boom at import"
    assert infos["typo"].source == "failed"
    assert "psyq_instrument_sorces" in (infos["typo"].error or "")
    assert pm.get_plugin("typo") is None
    assert len(warnings) == 2
    assert all("\n" not in w for w in warnings)
    assert "mini" in InstrumentRegistry(pm).ids()


def test_strict_mode_reraises(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, broken="broken_plugin")
    with pytest.raises(PluginError, match="plugin 'broken' failed: RuntimeError: boom at import"):
        create_plugin_manager(strict=True)
    monkeypatch.setenv("PSYQ_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError):
        create_plugin_manager()


@pytest.mark.parametrize("disable", ["broken", "all", "good, broken"])
def test_disabled_plugins_are_not_imported(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch, disable: str
) -> None:
    fake_entry_points(monkeypatch, broken="broken_plugin")
    monkeypatch.setenv("PSYQ_DISABLE_PLUGINS", disable)
    warnings: list[str] = []
    pm = create_plugin_manager(strict=True, warn=warnings.append)
    assert {i.name: i.source for i in pm.plugin_infos()}["broken"] == "disabled"
    assert warnings == []


def test_plugin_raising_in_a_hook_is_dropped_not_fatal(psyq_pm: PsyqPluginManager) -> None:
    class Raises:
        @hookimpl
        def psyq_instrument_sources(self) -> list[InstrumentSource]:
            raise ValueError("cannot find my data")

    warnings: list[str] = []
    psyq_pm.strict = False
    psyq_pm.warn = warnings.append
    psyq_pm.register_plugin(Raises(), "raises")
    assert InstrumentRegistry(psyq_pm).ids() == sorted(
        p.stem for p in builtin_instruments_dir().glob("*.yaml")
    )
    assert {i.name: i.source for i in psyq_pm.plugin_infos()}["raises"] == "failed"
    assert "cannot find my data" in warnings[0]


def test_same_instrument_from_two_sources_names_both(
    psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    builtin = Path(__file__).resolve().parents[1] / "instruments" / "phq9.yaml"
    copy = tmp_path / "pack" / "phq9-copy.yaml"
    copy.parent.mkdir()
    copy.write_bytes(builtin.read_bytes())

    class Pack:
        @hookimpl
        def psyq_instrument_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("acme pack", copy.parent)]

    psyq_pm.register_plugin(Pack(), "acme")
    with pytest.raises(DuplicateError) as info:
        InstrumentRegistry(psyq_pm).ids()
    message = str(info.value)
    assert "'phq9' is defined twice" in message
    assert "psyq (built-in)" in message and "acme pack" in message
    assert "phq9-copy.yaml" in message


def test_broken_file_in_a_pack_is_skipped_with_a_problem(
    psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    (tmp_path / "bad.yaml").write_text("id: [\n")

    class Pack:
        @hookimpl
        def psyq_instrument_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("acme pack", tmp_path)]

    psyq_pm.register_plugin(Pack(), "acme")
    registry = InstrumentRegistry(psyq_pm)
    assert registry.ids() == sorted(p.stem for p in builtin_instruments_dir().glob("*.yaml"))
    assert len(registry.problems) == 1
    assert registry.problems[0].startswith("acme pack: ")
    assert "bad.yaml:" in registry.problems[0]


def test_installed_plugin_that_raises_on_import_leaves_cli_working(tmp_path: Path) -> None:
    """End to end through real package metadata: a dist-info with an entry point."""
    env = installed_broken_plugin(tmp_path, "import not_a_real_module_xyz\n")
    run = [sys.executable, "-m", "psyq"]
    listed = subprocess.run([*run, "list"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0
    assert "phq9" in listed.stdout
    warning_lines = listed.stderr.strip().splitlines()
    assert len(warning_lines) == 1
    assert "plugin 'broken_demo' failed" in warning_lines[0]
    assert "Traceback" not in listed.stderr
    plugins = subprocess.run([*run, "plugins"], env=env, capture_output=True, text=True, timeout=60)
    assert "broken_demo 1.0 (psyq-broken-demo)  [failed]" in plugins.stdout
    assert "ModuleNotFoundError" in plugins.stdout
    strict = subprocess.run(
        [*run, "list"],
        env={**env, "PSYQ_STRICT_PLUGINS": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert strict.returncode == 1
    assert "psyq: error: plugin 'broken_demo' failed" in strict.stderr


def test_every_hook_implementation_of_psyq_is_found_by_its_name() -> None:
    """psyq looks for hook implementations in its own modules only among names starting
    with psyq_ (pluggy would inspect every name): each hook, and each function psyq marks
    as one, must be named so; and a third-party plugin is searched in full."""
    import importlib

    from psyq import hookspecs
    from psyq.manager import _HOOK_PREFIX, DEFAULT_PLUGINS

    specs = [n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "psyq_spec")]
    assert specs and all(n.startswith(_HOOK_PREFIX) for n in specs)
    pm = create_plugin_manager(load_entrypoints=False)
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        marked = {n for n in dir(module) if hasattr(getattr(module, n), "psyq_impl")}
        registered = {
            impl.function.__name__
            for caller in pm.get_hookcallers(module) or []
            for impl in caller.get_hookimpls()
            if impl.plugin is module
        }
        assert marked == registered, module_name
        assert all(n.startswith(_HOOK_PREFIX) for n in marked), module_name

    class Renamed:
        @hookimpl(specname="psyq_register_commands")
        def commands(self) -> list[object]:
            return []

    pm.register_plugin(Renamed(), "renamed")
    assert "renamed" in {
        impl.plugin_name for impl in pm.hook.psyq_register_commands.get_hookimpls()
    }
