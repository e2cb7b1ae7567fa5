"""The plugin manager: built by a factory, never a module-level global.

Default plugins (:data:`DEFAULT_PLUGINS`, module names, as pytest's
``default_plugins``) are imported by name and registered first. Third-party
plugins come from the ``psyq`` entry-point group; each is loaded inside
try/except, so one that fails to import, names a hook that does not exist,
or raises while being collected becomes a warning line and a ``failed`` row
in ``psyq plugins``, never a dead CLI.

A third-party hook implementation that raises while a command runs is
reported as a :class:`~psyq.errors.PluginHookError` naming the plugin (entry
point and distribution), the hook, and how to disable it. Two plugins
providing the same name (an output format, a command, an instrument id, ...)
is a local problem: the later provider's record is skipped with one warning.

Environment:

``PSYQ_STRICT_PLUGINS=1``
    every plugin problem a normal run warns about (a failed plugin, a name
    clash, a malformed instrument file) is an error, and a hook that raises
    prints its traceback.
``PSYQ_DEBUG=1``
    a hook that raises prints its traceback (as does any internal error).
``PSYQ_DISABLE_PLUGINS=name,name`` or ``all``
    skip those third-party plugins (entry-point or distribution names).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from psyq import hookspecs
from psyq.errors import DuplicateError, PluginError, PluginHookError, PsyqError

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
    "psyq.plugins.analysis.command",
    "psyq.plugins.norms.command",
    "psyq.plugins.norms.report",
)
_DEFAULT_PREFIX = "psyq.plugins."
# Every hook's name starts with this (tests/test_manager.py checks).
_HOOK_PREFIX = "psyq_"

SLOW_IMPORT_SECONDS = 0.5
"""An entry point that takes this long to import is named as slow by ``psyq plugins``."""

PluginSource = Literal["built-in", "entry point", "registered", "failed", "disabled"]

# What a third-party implementation of each collecting hook returns: a list of these
# records, checked by the class's qualified name along its MRO (checking imports
# nothing). A wrong shape fails that plugin with one line, like a hook that raises.
RECORD_TYPES: dict[str, str] = {
    "psyq_instrument_sources": "psyq.registry.InstrumentSource",
    "psyq_translation_sources": "psyq.registry.InstrumentSource",
    "psyq_norm_sources": "psyq.norms.NormSource",
    "psyq_scoring_methods": "psyq.scoring.ScoringMethod",
    "psyq_output_formats": "psyq.outputs.OutputFormat",
    "psyq_register_commands": "click.core.Command",
    "psyq_report_sections": "psyq.report.ReportSection",
    "psyq_batch_executors": "psyq.batch.executors.BatchExecutor",
}

_STAGE_RESULT = "True (it did the stage: the default is skipped) or None (the default runs next)"
# What a plain (not wrapper) implementation of a first-result hook may return: any
# other value stops the call as if it were an answer (``False`` skips the default).
FIRST_RESULTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    **{
        f"psyq_score_{stage}": (lambda r: r is None or r is True, _STAGE_RESULT)
        for stage in ("recode", "reverse", "missing", "aggregate", "transform", "interpret")
    },
    "psyq_score_flags": (lambda r: r is None or r is True, _STAGE_RESULT),
    "psyq_load_definition": (
        lambda r: r is None or isinstance(r, dict),
        "a dict (the definition's data) or None (a file it does not read)",
    ),
    "psyq_parse_answers": (
        lambda r: r is None or isinstance(r, Mapping),
        "a mapping of item id -> answer, or None (a document it does not read)",
    ),
}


# What a plugin's callback returns, by the name :meth:`PsyqPluginManager.attributed` gives it.
CALLBACK_RESULTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "psyq_output_formats (format": (
        lambda r: isinstance(r, bytes),
        "bytes (encode text with .encode('utf-8'))",
    ),
    "psyq_scoring_methods (method": (
        lambda r: isinstance(r, int | float) and not isinstance(r, bool),
        "a number (the scale's raw aggregate)",
    ),
}


def _result_check(hook_name: str) -> tuple[Callable[[Any], bool], str] | None:
    return FIRST_RESULTS.get(hook_name) or CALLBACK_RESULTS.get(hook_name.split(" '")[0])


class WrongResult(TypeError):
    """A plugin's hook returned something of the wrong shape (``returned ...; ...``)."""


def shown_type(value: object) -> str:
    """``False``, ``None`` or ``a dict``: a returned value, for a one-line message."""
    if value is None or isinstance(value, bool):
        return repr(value)
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _is_a(value: object, qualified: str) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" == qualified for c in type(value).__mro__)


def wrong_records(hook_name: str, result: object) -> str | None:
    """Why a collecting hook's result has the wrong shape, or ``None`` when it is right."""
    if hook_name == "psyq_template_filters":
        if not isinstance(result, Mapping):
            return f"returned {shown_type(result)}; expected a dict of filter name -> function"
        for key, func in result.items():
            if not isinstance(key, str) or not callable(func):
                return (
                    f"returned a dict holding {key!r}: {shown_type(func)}; expected filter "
                    "name -> function"
                )
        return None
    wanted = RECORD_TYPES.get(hook_name)
    if wanted is None:
        return None
    for item in result if isinstance(result, list | tuple) else [result]:
        if not _is_a(item, wanted):
            shape = "a list holding " if isinstance(result, list | tuple) else ""
            return f"returned {shape}{shown_type(item)}; expected a list of {wanted}"
    return None


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
    #: what went wrong with part of the plugin (a clash, a broken instrument file)
    problems: list[str] = field(default_factory=list)


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
        self._warned: set[str] = set()
        self._builtin_module: object | None = None
        self._attributed: dict[tuple[Callable[..., Any], str, str], Callable[..., Any]] = {}
        # id(scoring state) -> plugins whose flags stage took a critical flag away from it
        # or replaced the stage (psyq.stage_checks names them)
        self._flags_dropped: dict[int, list[str]] = {}

    # -- registration ------------------------------------------------------

    def register_builtin(self, module_name: str) -> None:
        module = importlib.import_module(module_name)
        name = module_name.removeprefix(_DEFAULT_PREFIX)
        self._builtin_module = module
        try:
            self.register(module, name=name)
        finally:
            self._builtin_module = None
        self._builtin.add(name)
        self.infos[name] = PluginInfo(name=name, source="built-in", version=_psyq_version())

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        # pluggy looks at every name in a plugin (each with inspect.getattr_static): in
        # psyq's own modules only functions named for a hook are hook implementations
        # (tests/test_manager.py checks), so their imports and helpers are skipped.
        if plugin is self._builtin_module and not name.startswith(_HOOK_PREFIX):
            return None
        return super().parse_hookimpl_opts(plugin, name)

    def register_plugin(
        self, plugin: object, name: str, *, source: PluginSource = "registered", **info: Any
    ) -> bool:
        """Register a third-party plugin object, turning failures into warnings.

        Returns ``True`` when the plugin was registered. A misspelled hook
        name (``check_pending``) counts as a failure of this plugin.
        """
        try:
            _refuse_a_class(plugin)
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
        self._attribute_errors(plugin, name)
        return True

    def _attribute_errors(self, plugin: object, name: str) -> None:
        """Make every hook implementation of ``plugin`` name itself when it raises.

        pluggy calls ``HookImpl.function`` positionally with the argument names
        it read at registration, so a wrapper taking ``*args`` is transparent.
        """
        for caller in self.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    wrapped = _attributed(impl.function, self, name, caller.name)
                    setattr(impl, "function", wrapped)  # noqa: B010 (a Final slot)

    def record_failure(
        self, name: str, exc: BaseException, *, hook: str | None = None, **info: Any
    ) -> None:
        if isinstance(exc, PluginHookError):
            exc = exc.original
        if isinstance(exc, WrongResult):
            reason = f"{hook} {exc}"
        else:
            reason = f"{type(exc).__name__}: {self._reason(exc)}"
            if hook:
                reason = f"{hook} raised {reason}"
        known = self.infos.get(name)
        if known is not None:
            info.setdefault("distribution", known.distribution)
            info.setdefault("version", known.version)
        self.infos[name] = PluginInfo(name=name, source="failed", error=reason, **info)
        if self.strict:
            raise PluginError(f"plugin '{name}' failed: {reason}") from exc
        self.warn(
            f"plugin '{name}' failed and was skipped: {reason} "
            f"(set PSYQ_DISABLE_PLUGINS={name} to silence, PSYQ_STRICT_PLUGINS=1 to debug)"
        )

    def _reason(self, exc: BaseException) -> str:
        """One line saying what ``exc`` means; pluggy's validation errors are reworded
        (their first line names only the plugin and the hook)."""
        lines = [line for line in str(exc).strip().splitlines() if line.strip()] or [""]
        if not isinstance(exc, pluggy.PluginValidationError):
            return lines[0]
        unknown = re.match(r"unknown hook '(\w+)'", lines[0])
        hooks = [  # pluggy makes a caller for an unknown name too, without a spec
            name
            for name, caller in vars(self.hook).items()
            if name.startswith(_HOOK_PREFIX) and getattr(caller, "spec", None) is not None
        ]
        if unknown:
            import difflib  # only for this message: start-up stays light

            name = unknown.group(1)
            close = difflib.get_close_matches(name, hooks, n=1)
            hint = f"did you mean {close[0]}?" if close else "see docs/plugins.md#hook-reference"
            return f"{name} is not a psyq hook; {hint}"
        hook = re.search(r"hook '(\w+)'", lines[0])
        definition = lines[1].removeprefix("hookimpl definition: ") if len(lines) > 2 else ""
        spec = ""
        if hook and hook.group(1) in hooks and "Argument" in lines[-1]:
            caller = getattr(self.hook, hook.group(1))
            if caller.spec is not None:
                spec = f" (the hookspec: {caller.name}({', '.join(caller.spec.argnames)}))"
        return f"{definition}: {lines[-1]}{spec}" if definition else lines[0]

    def is_builtin(self, plugin_name: str | None) -> bool:
        return plugin_name in self._builtin

    def describe(self, plugin_name: str) -> str:
        """``plugin 'x' (distribution psyq-x 1.0)``: who a message is about."""
        info = self.infos.get(plugin_name)
        if info is not None and info.distribution:
            version = f" {info.version}" if info.version else ""
            return f"plugin '{plugin_name}' (distribution {info.distribution}{version})"
        if self.is_builtin(plugin_name):
            return f"built-in plugin '{plugin_name}'"
        return f"plugin '{plugin_name}'"

    def disable_hint(self, plugin_name: str) -> str:
        """How to turn ``plugin_name`` off, in words a user can act on."""
        info = self.infos.get(plugin_name)
        if info is not None and info.source in ("entry point", "failed", "disabled"):
            return f"disable it with PSYQ_DISABLE_PLUGINS={plugin_name}"
        if self.is_builtin(plugin_name):
            return "it is part of psyq"
        return "unregister it"

    def problem(self, message: str, error: type[PsyqError] = PluginError) -> None:
        """A plugin problem a normal run survives: warn once, or fail in strict mode."""
        if self.strict:
            raise error(message)
        if message not in self._warned:
            self._warned.add(message)
            self.warn(message)

    # -- calling -------------------------------------------------------------

    def collect(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of a list-returning hook, one at a time.

        Returns ``(plugin name, item)`` pairs, flattening each returned list,
        in registration order (psyq's built-ins first), so that a duplicate is
        always reported against the plugin that came later.
        A third-party implementation that raises, or returns something other
        than a list of the hook's records (:data:`RECORD_TYPES`), is recorded as
        a failed plugin (and unregistered) instead of breaking the whole call.
        """
        caller: pluggy.HookCaller = getattr(self.hook, hook_name)
        out: list[tuple[str, Any]] = []
        for impl in caller.get_hookimpls():
            args = [kwargs[name] for name in impl.argnames]
            try:
                result = impl.function(*args)
                if result is not None and not self.is_builtin(impl.plugin_name):
                    wrong = wrong_records(hook_name, result)
                    if wrong is not None:
                        raise WrongResult(wrong)
            except Exception as exc:
                if self.is_builtin(impl.plugin_name):
                    raise
                self.unregister(name=impl.plugin_name)
                self.record_failure(impl.plugin_name, exc, hook=hook_name)
                continue
            if result is None:
                continue
            for item in result if isinstance(result, list | tuple) else [result]:
                out.append((impl.plugin_name, item))
        return out

    def collect_named(self, hook_name: str, kind: str, **kwargs: Any) -> dict[str, Any]:
        """:meth:`collect` records that carry a ``name``, first provider wins.

        A name provided twice is local to that name: the later provider's
        record is skipped with one warning naming it (see :meth:`clash`).
        """
        owned = self.collect_owned(hook_name, kind, **kwargs)
        return {name: record for name, (_, record) in owned.items()}

    def collect_owned(self, hook_name: str, kind: str, **kwargs: Any) -> dict[str, tuple[str, Any]]:
        """:meth:`collect_named`, keeping the providing plugin: name -> (plugin, record)."""
        seen: dict[str, tuple[str, Any]] = {}
        for plugin_name, record in self.collect(hook_name, **kwargs):
            name = record.name
            if name in seen:
                self.clash(kind, name, seen[name][0], plugin_name)
                continue
            seen[name] = (plugin_name, record)
        return seen

    def clash(self, kind: str, name: str, kept: str, skipped: str) -> None:
        """Report that ``skipped`` provides a ``kind`` named ``name`` that ``kept`` already did.

        Two built-ins clashing is a bug in psyq, raised as such. Otherwise the
        later provider is named first, by the name ``PSYQ_DISABLE_PLUGINS``
        accepts; in strict mode this is an error.
        """
        if self.is_builtin(kept) and self.is_builtin(skipped):
            raise DuplicateError(f"{kind} '{name}' is provided twice by psyq itself ({kept})")
        if kept == skipped:  # one plugin's own list names it twice
            message = (
                f"{self.describe(skipped)} provides {kind} '{name}' twice; skipped the second "
                f"({self.disable_hint(skipped)})"
            )
            self.note(skipped, f"{kind} '{name}' provided twice: the second skipped")
            self.problem(message, DuplicateError)
            return
        message = (
            f"{self.describe(skipped)} provides {kind} '{name}', which "
            f"{self.describe(kept)} already provides; skipped it ({self.disable_hint(skipped)})"
        )
        self.note(skipped, f"{kind} '{name}' skipped: {self.describe(kept)} provides it")
        self.problem(message, DuplicateError)

    def attributed(
        self, function: Callable[..., Any], plugin_name: str, hook_name: str
    ) -> Callable[..., Any]:
        """Wrap a plugin's callback (a format's ``render``) so that its bugs name the plugin.

        A built-in's callback is returned unchanged.
        """
        if self.is_builtin(plugin_name):
            return function
        # The same wrapper each time: a report's template environment is cached while
        # its filters stay the same objects.
        key = (function, plugin_name, hook_name)
        wrapped = self._attributed.get(key)
        if wrapped is None:
            wrapped = self._attributed[key] = _attributed(function, self, plugin_name, hook_name)
        return wrapped

    def note_flags_dropped(self, state: object, plugin_name: str) -> None:
        """Remember that ``plugin_name``'s flags stage dropped a critical flag from ``state``
        (or replaced the default stage, so the file's critical rules did not run)."""
        names = self._flags_dropped.setdefault(id(state), [])
        if plugin_name not in names:
            names.append(plugin_name)

    def flags_dropped_by(self, state: object) -> list[str]:
        """The plugins :meth:`note_flags_dropped` named for ``state``, forgotten once read."""
        return self._flags_dropped.pop(id(state), [])

    def note(self, plugin_name: str, problem: str) -> None:
        """Remember a problem with part of a plugin, for ``psyq plugins``."""
        info = self.infos.get(plugin_name)
        if info is not None and problem not in info.problems:
            info.problems.append(problem)

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


def _refuse_a_class(plugin: object) -> None:
    """A class whose hooks take ``self`` (an entry point ``module:Plugin``) is registered
    by pluggy, and then every call passes the hook's first argument as ``self``."""
    if not inspect.isclass(plugin):
        return
    for name in dir(plugin):
        attribute = inspect.getattr_static(plugin, name, None)
        if inspect.isfunction(attribute) and hasattr(attribute, f"{hookspecs.PROJECT}_impl"):
            raise TypeError(
                f"it is the class {plugin.__qualname__}, whose hook {name} takes self; "
                f"register an instance ({plugin.__qualname__}()) or a module"
            )


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (plugin errors are shown as one line)."""
    return (str(exc).strip().splitlines() or [""])[0]


def _attributed(
    function: Callable[..., Any], pm: PsyqPluginManager, plugin_name: str, hook_name: str
) -> Callable[..., Any]:
    """``function``, raising :class:`PluginHookError` (naming the plugin) for its bugs.

    A :class:`PsyqError` is a plugin telling the user about their input (a
    malformed file, an answer it cannot map): it passes through unchanged, as
    does an error already attributed to another plugin.
    """

    def attribute(exc: Exception) -> PluginHookError:
        return PluginHookError(
            f"{pm.describe(plugin_name)} raised {type(exc).__name__}: "
            f"{first_line(exc)} in hook "
            f"{hook_name}; {pm.disable_hint(plugin_name)} (PSYQ_DEBUG=1 prints the traceback)",
            plugin=plugin_name,
            hook=hook_name,
            original=exc,
        )

    def wrong_result(result: object, expected: str) -> PluginHookError:
        return PluginHookError(
            f"{pm.describe(plugin_name)} returned {shown_type(result)} from hook "
            f"{hook_name}; it must return {expected}; {pm.disable_hint(plugin_name)}",
            plugin=plugin_name,
            hook=hook_name,
            original=WrongResult(f"returned {shown_type(result)}; expected {expected}"),
        )

    if inspect.isgeneratorfunction(function):  # a wrapper: errors come from the generator

        @functools.wraps(function)
        def wrapper(*args: Any) -> Any:
            gen = function(*args)
            try:
                value = next(gen)
            except PsyqError:
                raise
            except Exception as exc:
                raise attribute(exc) from exc
            try:
                sent = yield value
            except BaseException as thrown:  # raised by the hooks it wraps: not its own
                try:
                    gen.throw(thrown)
                except StopIteration as stop:
                    return stop.value
                except PsyqError:
                    raise
                except Exception as exc:
                    if exc is thrown:
                        raise
                    raise attribute(exc) from exc
            else:
                watched = _critical_keys(args) if hook_name == FLAGS_HOOK else set()
                try:
                    gen.send(sent)
                except StopIteration as stop:
                    if watched - _critical_keys(args):  # its own code took one away
                        pm.note_flags_dropped(args[0], plugin_name)
                    if hook_name in PASSED_ON and sent is not None and stop.value is None:
                        raise wrong_result(
                            None, "the result of the hooks it wraps (`return result`)"
                        ) from None
                    return stop.value
                except PsyqError:
                    raise
                except Exception as exc:
                    raise attribute(exc) from exc
            raise attribute(RuntimeError("the hook wrapper yielded more than once"))

        return wrapper

    check = _result_check(hook_name)

    @functools.wraps(function)
    def call(*args: Any) -> Any:
        try:
            result = function(*args)
        except PsyqError:
            raise
        except Exception as exc:
            raise attribute(exc) from exc
        if hook_name == FLAGS_HOOK and result is True:  # the file's rules did not run
            pm.note_flags_dropped(args[0], plugin_name)
        if check is not None and not check[0](result):
            raise wrong_result(result, check[1])
        return result

    return call


FLAGS_HOOK = "psyq_score_flags"
# First-result hooks whose answer a wrapper must pass on: returning None instead (a
# forgotten ``return result``) would make every file or document unreadable.
PASSED_ON = frozenset({"psyq_load_definition", "psyq_parse_answers"})


def _critical_keys(args: tuple[Any, ...]) -> set[tuple[Any, Any]]:
    """The critical flags in a flags stage's ``state`` (its only argument)."""
    flags = getattr(args[0], "flags", None) if args else None
    if not isinstance(flags, list):
        return set()
    return {
        (getattr(f, "id", None), getattr(f, "item", None))
        for f in flags
        if getattr(f, "level", None) == "critical"
    }


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
    from psyq.entry_points import plugin_entry_points

    for ep in plugin_entry_points(hookspecs.ENTRY_POINT_GROUP):
        info: dict[str, Any] = {"distribution": ep.distribution, "version": ep.version}
        if all_disabled or ep.name in disabled or (ep.distribution in disabled):
            pm.infos[ep.name] = PluginInfo(name=ep.name, source="disabled", **info)
            continue
        if pm.get_plugin(ep.name) is not None or ep.name in pm.infos:
            pm.record_failure(
                ep.name, DuplicateError(f"a plugin named '{ep.name}' is already registered")
            )
            continue
        started = time.perf_counter()
        try:
            plugin = ep.load()
        except Exception as exc:  # ImportError, SyntaxError, anything at import time
            pm.record_failure(ep.name, exc, **info)
            continue
        seconds = time.perf_counter() - started
        if pm.register_plugin(plugin, ep.name, source="entry point", **info) and (
            seconds >= SLOW_IMPORT_SECONDS
        ):
            # Every command imports every plugin: `psyq plugins` says which one is slow.
            pm.note(
                ep.name,
                f"slow to import ({seconds:.1f} s, and every psyq command imports it): import "
                "heavy libraries inside the functions that need them",
            )
