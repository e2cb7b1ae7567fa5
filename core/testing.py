"""pytest fixtures for testing psyq and psyq plugins (a ``pytest11`` plugin).

Installed with psyq, so any plugin's test suite can use them::

    def test_my_instrument(psyq_register, psyq_cli):
        psyq_register(my_plugin)
        result = psyq_cli("score", "myscale", "--answers", "1,2,3")
        assert result.exit_code == 0

Fixtures:

``psyq_pm``
    a fresh plugin manager with psyq's built-in plugins only (no installed
    third-party plugins), strict, so a broken plugin fails the test.
``psyq_register``
    ``psyq_register(plugin, name=None)`` registers a plugin object or module
    on ``psyq_pm`` for this test only.
``psyq_home``
    an empty data directory, also exported as ``PSYQ_HOME``.
``psyq_cli``
    ``psyq_cli(*args, input=None)`` runs the ``psyq`` command line against
    ``psyq_pm`` and returns click's ``Result``.

And a helper, :func:`assert_golden_examples`, that fails with every
mismatch between an instrument's golden examples and what psyq computes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from psyq.app import App
from psyq.cli import create_cli
from psyq.manager import PsyqPluginManager, create_plugin_manager
from psyq.models import Instrument
from psyq.scoring import Scorer, check_examples


@pytest.fixture
def psyq_pm() -> PsyqPluginManager:
    return create_plugin_manager(load_entrypoints=False, strict=True)


@pytest.fixture
def psyq_register(psyq_pm: PsyqPluginManager) -> Iterator[Callable[..., object]]:
    added: list[str] = []

    def register(plugin: object, name: str | None = None) -> object:
        plugin_name = name or getattr(plugin, "__name__", None) or f"test-plugin-{len(added)}"
        psyq_pm.register_plugin(plugin, plugin_name)
        added.append(plugin_name)
        return plugin

    yield register
    for name in added:
        if psyq_pm.get_plugin(name) is not None:
            psyq_pm.unregister(name=name)


@pytest.fixture
def psyq_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "psyq-home"
    home.mkdir()
    monkeypatch.setenv("PSYQ_HOME", str(home))
    return home


@pytest.fixture
def psyq_cli(psyq_pm: PsyqPluginManager, psyq_home: Path) -> Callable[..., Result]:
    def invoke(*args: str, input: str | bytes | None = None, **kwargs: Any) -> Result:
        cli = create_cli(psyq_pm, App(psyq_pm, home=psyq_home))
        return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False, **kwargs)

    return invoke


def assert_golden_examples(pm: PsyqPluginManager, instrument: Instrument) -> None:
    """Fail with every golden example whose scores, bands or flags differ."""
    assert instrument.examples, f"{instrument.id} has no golden examples"
    problems = check_examples(Scorer(pm), instrument)
    assert not problems, "\n".join(problems)
