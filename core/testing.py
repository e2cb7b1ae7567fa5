"""pytest fixtures for testing psyq and psyq plugins (a ``pytest11`` plugin).

Installed with psyq, so any plugin's test suite can use them without a
``conftest.py``::

    import my_pack.plugin
    from psyq.testing import assert_golden_examples

    def test_golden_examples(psyq_register, psyq_registry, psyq_pm):
        psyq_register(my_pack.plugin)
        assert_golden_examples(psyq_pm, psyq_registry.get("myscale"))

    def test_score(psyq_register, psyq_cli):
        psyq_register(my_pack.plugin)
        result = psyq_cli("score", "myscale", "--answers", "1,2,3", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["scores"]["total"]["value"] == 6

Fixtures:

``psyq_pm``
    a fresh plugin manager with psyq's built-in plugins only: installed
    third-party plugins (entry points) are never loaded, so a test sees
    exactly the plugins it registers. Strict: a plugin that fails to
    register, a name clash or a malformed instrument file fails the test
    instead of becoming a warning.
``psyq_register``
    ``psyq_register(plugin, name=None)`` registers a plugin object or module
    on ``psyq_pm`` for this test only and returns it. A plugin that
    implements no psyq hook (a forgotten ``@hookimpl``) is an error.
``psyq_registry``
    the :class:`psyq.registry.InstrumentRegistry` of ``psyq_pm``, loaded on
    first use (register plugins before you read it).
``psyq_home``
    an empty data directory, also exported as ``PSYQ_HOME``.
``psyq_cli``
    ``psyq_cli(*args, input=None)`` runs the ``psyq`` command line against
    ``psyq_pm`` (with the plugins registered so far) and returns click's
    ``Result``; exceptions other than psyq's one-line user errors propagate.
    Parse ``result.stdout``: ``result.output`` also holds stderr (warnings).
    A plugin's bug propagates as :class:`psyq.errors.PluginHookError` naming
    the plugin and hook, caused by the plugin's own exception.

And a helper, :func:`assert_golden_examples`, that fails with every
mismatch between an instrument's golden examples and what psyq computes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from psyq import __version__
from psyq.app import App
from psyq.cli import create_cli
from psyq.errors import PluginError
from psyq.manager import PsyqPluginManager, create_plugin_manager
from psyq.models import Instrument
from psyq.registry import InstrumentRegistry
from psyq.scoring import Scorer, check_examples

__all__ = ["assert_golden_examples"]

Register = Callable[..., Any]
CLI = Callable[..., Result]


def pytest_report_header() -> str:
    return f"psyq {__version__}: psyq.testing fixtures (psyq_pm loads no installed plugins)"


@pytest.fixture
def psyq_pm() -> PsyqPluginManager:
    """A plugin manager with psyq's built-ins only, strict."""
    return create_plugin_manager(load_entrypoints=False, strict=True)


@pytest.fixture
def psyq_register(psyq_pm: PsyqPluginManager) -> Iterator[Register]:
    """``psyq_register(plugin, name=None)``: register a plugin on ``psyq_pm`` for one test."""
    added: list[str] = []

    def register(plugin: object, name: str | None = None) -> Any:
        plugin_name = name or getattr(plugin, "__name__", None) or f"test-plugin-{len(added)}"
        if psyq_pm.get_plugin(plugin_name) is not None or psyq_pm.is_registered(plugin):
            raise PluginError(f"plugin '{plugin_name}' is already registered in this test")
        if not psyq_pm.register_plugin(plugin, plugin_name):
            return plugin  # non-strict manager: recorded as failed, as the test asked
        added.append(plugin_name)
        if not psyq_pm.get_hookcallers(plugin):
            raise PluginError(
                f"plugin '{plugin_name}' implements no psyq hook; decorate its functions "
                "with @psyq.hookimpl and name them after a hookspec (see docs/plugins.md)"
            )
        return plugin

    yield register
    for name in reversed(added):
        if psyq_pm.get_plugin(name) is not None:
            psyq_pm.unregister(name=name)


@pytest.fixture
def psyq_registry(psyq_pm: PsyqPluginManager) -> InstrumentRegistry:
    """The instrument registry of ``psyq_pm`` (built-ins plus registered plugins)."""
    return InstrumentRegistry(psyq_pm)


@pytest.fixture
def psyq_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory, exported as ``PSYQ_HOME`` for this test."""
    home = tmp_path / "psyq-home"
    home.mkdir(mode=0o700)  # as psyq makes it (a looser one is made 0700, with a warning)
    monkeypatch.setenv("PSYQ_HOME", str(home))
    return home


@pytest.fixture
def psyq_cli(psyq_pm: PsyqPluginManager, psyq_home: Path) -> CLI:
    """``psyq_cli(*args, input=None)``: run the ``psyq`` command line against ``psyq_pm``."""

    def invoke(*args: str, input: str | bytes | None = None, **kwargs: Any) -> Result:
        # A fresh App per call, so plugins registered between calls are seen.
        cli = create_cli(psyq_pm, App(psyq_pm, home=psyq_home))
        # A plugin's bug propagates (as PluginHookError, caused by the plugin's own
        # exception) so that pytest shows where it happened.
        setattr(cli, "reraise_plugin_errors", True)  # noqa: B010 (a PsyqGroup attribute)
        kwargs.setdefault("catch_exceptions", False)
        return CliRunner().invoke(cli, [str(a) for a in args], input=input, **kwargs)

    return invoke


def assert_golden_examples(pm: PsyqPluginManager, instrument: Instrument | str) -> None:
    """Fail with every golden example whose scores, bands or flags differ.

    ``instrument`` is an :class:`Instrument` or the id of one that ``pm``'s
    plugins provide. An instrument without golden examples fails too: they
    are how a definition proves it scores as its manual says.
    """
    if isinstance(instrument, str):
        instrument = InstrumentRegistry(pm).get(instrument)
    assert instrument.examples, f"{instrument.id} has no golden examples"
    problems = check_examples(Scorer(pm), instrument)
    assert not problems, "\n".join(problems)
