"""The plugin manager: built by a factory, never a module-level global.

Default plugins (:data:`DEFAULT_PLUGINS`, module names, as pytest's
``default_plugins``) are imported by name and registered first. Third-party
plugins come from the ``psyq`` entry-point group; each is loaded inside
try/except, so one that fails to import, names a hook that does not exist,
or raises while being collected becomes a warning line and a ``failed`` row
in ``psyq plugins``, never a dead CLI.

Environment:

``PSYQ_STRICT_PLUGINS=1``
    re-raise the first plugin failure instead of warning.
``PSYQ_DISABLE_PLUGINS=name,name`` or ``all``
    skip those third-party plugins (entry-point or distribution names).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

import pluggy

from psyq import hookspecs
from psyq.errors import DuplicateError, PluginError

Warn = Callable[[str], None]

# psyq's default plugins, in registration order, named by module so that core
# never imports ``psyq.plugins`` itself (pytest's ``default_plugins`` does the same).
# Each is registered under its path below ``psyq.plugins`` (``fhir.export``).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "psyq.plugins.data_files",
    "psyq.plugins.builtin_instruments",
    "psyq.plugins.local_instruments",
    "psyq.plugins.scoring_stages",
    "psyq.plugins.output.table",
    "psyq.plugins.output.json",
    "psyq.plugins.commands.instruments",
    "psyq.plugins.commands.score",
    "psyq.plugins.commands.plugins",
    "psyq.plugins.commands.demo",
    "psyq.plugins.report.sections",
    "psyq.plugins.report.html",
    "psyq.plugins.report.pdf",
    "psyq.plugins.report.command",
    "psyq.plugins.commands.doctor",
    "psyq.plugins.commands.scaffold",
    "psyq.plugins.commands.compile",
    "psyq.plugins.commands.store",
    "psyq.plugins.commands.administer",
    "psyq.plugins.batch.command",
    "psyq.plugins.batch.dask_executor",
    "psyq.plugins.answer_documents",
    "psyq.plugins.fhir.answers",
    "psyq.plugins.fhir.export",
    "psyq.plugins.fhir.importer",
    "psyq.plugins.redcap.importer",
    "psyq.plugins.tablet.command",
)
_DEFAULT_PREFIX = "psyq.plugins."

PluginSource = Literal["built-in", "entry point", "registered", "failed", "disabled"]


@dataclass
class PluginInfo:
    """One row of ``psyq plugins``.

    A dataclass, not a pydantic model: one is built for every plugin at every
    start-up, and creating a pydantic class costs about 8 ms.
    """

    name: str
    source: PluginSource
    version: str | None = None
    distribution: str | None = None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None


def _stderr_warning(message: str) -> None:
    print(f"psyq: warning: {message}", file=sys.stderr)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


class PsyqPluginManager(pluggy.PluginManager):
    """A pluggy manager that knows where its plugins came from."""

    def __init__(self, *, strict: bool = False, warn: Warn = _stderr_warning) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.strict = strict
        self.warn = warn
        self.infos: dict[str, PluginInfo] = {}
        self._builtin: set[str] = set()

    # -- registration ------------------------------------------------------

    def register_builtin(self, module_name: str) -> None:
        module = importlib.import_module(module_name)
        name = module_name.removeprefix(_DEFAULT_PREFIX)
        self.register(module, name=name)
        self._builtin.add(name)
        self.infos[name] = PluginInfo(name=name, source="built-in", version=_psyq_version())

    def register_plugin(
        self, plugin: object, name: str, *, source: PluginSource = "registered", **info: Any
    ) -> bool:
        """Register a third-party plugin object, turning failures into warnings.

        Returns ``True`` when the plugin was registered. A misspelled hook
        name (``check_pending``) counts as a failure of this plugin.
        """
        try:
            self.register(plugin, name=name)
            try:
                self.check_pending()
            except pluggy.PluginValidationError:
                self.unregister(name=name)
                raise
        except Exception as exc:  # a broken plugin must not kill the CLI
            self.record_failure(name, exc, **info)
            return False
        self.infos[name] = PluginInfo(name=name, source=source, **info)
        return True

    def record_failure(self, name: str, exc: BaseException, **info: Any) -> None:
        reason = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        self.infos[name] = PluginInfo(name=name, source="failed", error=reason, **info)
        if self.strict:
            raise PluginError(f"plugin '{name}' failed: {reason}") from exc
        self.warn(
            f"plugin '{name}' failed and was skipped: {reason} "
            f"(set PSYQ_DISABLE_PLUGINS={name} to silence, PSYQ_STRICT_PLUGINS=1 to debug)"
        )

    def is_builtin(self, plugin_name: str | None) -> bool:
        return plugin_name in self._builtin

    # -- calling -------------------------------------------------------------

    def collect(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of a list-returning hook, one at a time.

        Returns ``(plugin name, item)`` pairs, flattening each returned list,
        in registration order (psyq's built-ins first), so that a duplicate is
        always reported against the plugin that came later.
        A third-party implementation that raises is recorded as a failed
        plugin (and unregistered) instead of breaking the whole call.
        """
        caller: pluggy.HookCaller = getattr(self.hook, hook_name)
        out: list[tuple[str, Any]] = []
        for impl in caller.get_hookimpls():
            args = {name: kwargs[name] for name in impl.argnames}
            try:
                result = impl.function(**args)
            except Exception as exc:
                if self.is_builtin(impl.plugin_name):
                    raise
                self.unregister(name=impl.plugin_name)
                self.record_failure(impl.plugin_name, exc)
                continue
            if result is None:
                continue
            for item in result if isinstance(result, list | tuple) else [result]:
                out.append((impl.plugin_name, item))
        return out

    def collect_named(self, hook_name: str, kind: str, **kwargs: Any) -> dict[str, Any]:
        """:meth:`collect` records that carry a ``name``; duplicates are an error."""
        seen: dict[str, tuple[str, Any]] = {}
        for plugin_name, record in self.collect(hook_name, **kwargs):
            name = record.name
            if name in seen:
                raise DuplicateError(
                    f"{kind} '{name}' is provided by both plugin '{seen[name][0]}' and "
                    f"plugin '{plugin_name}'; uninstall or disable one "
                    f"(PSYQ_DISABLE_PLUGINS={plugin_name})"
                )
            seen[name] = (plugin_name, record)
        return {name: record for name, (_, record) in seen.items()}

    # -- introspection ---------------------------------------------------------

    def plugin_infos(self) -> list[PluginInfo]:
        """Every plugin psyq knows of, with the hooks each one implements."""
        rows = []
        for name, info in self.infos.items():
            plugin = self.get_plugin(name)
            if plugin is not None:
                info.hooks = sorted(caller.name for caller in self.get_hookcallers(plugin) or [])
            rows.append(info)
        return rows


def _psyq_version() -> str:
    from psyq import __version__

    return __version__


def _disabled_names() -> tuple[set[str], bool]:
    raw = os.environ.get("PSYQ_DISABLE_PLUGINS", "")
    names = {part.strip() for part in raw.split(",") if part.strip()}
    return names, "all" in names


def create_plugin_manager(
    *,
    load_entrypoints: bool = True,
    strict: bool | None = None,
    warn: Warn = _stderr_warning,
    extra_plugins: Iterable[tuple[str, object]] = (),
) -> PsyqPluginManager:
    """Build a plugin manager with psyq's defaults and, optionally, installed plugins.

    ``extra_plugins`` are ``(name, plugin)`` pairs registered after the
    defaults, as a test or an embedding application would.
    """
    pm = PsyqPluginManager(
        strict=_env_flag("PSYQ_STRICT_PLUGINS") if strict is None else strict, warn=warn
    )
    for module_name in DEFAULT_PLUGINS:
        pm.register_builtin(module_name)
    pm.check_pending()
    if load_entrypoints:
        _load_entrypoints(pm)
    for name, plugin in extra_plugins:
        pm.register_plugin(plugin, name)
    return pm


def _load_entrypoints(pm: PsyqPluginManager) -> None:
    disabled, all_disabled = _disabled_names()
    for ep in metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
        dist = ep.dist
        info: dict[str, Any] = {
            "distribution": dist.name if dist else None,
            "version": dist.version if dist else None,
        }
        if all_disabled or ep.name in disabled or (dist and dist.name in disabled):
            pm.infos[ep.name] = PluginInfo(name=ep.name, source="disabled", **info)
            continue
        if pm.get_plugin(ep.name) is not None or ep.name in pm.infos:
            pm.record_failure(
                ep.name, DuplicateError(f"a plugin named '{ep.name}' is already registered")
            )
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # ImportError, SyntaxError, anything at import time
            pm.record_failure(ep.name, exc, **info)
            continue
        pm.register_plugin(plugin, ep.name, source="entry point", **info)
