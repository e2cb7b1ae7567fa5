"""What a third-party plugin's scoring stages leave in the state, checked after the stages.

Only when a plugin other than psyq's own implements a scoring stage that runs for
the instrument scored (psyq's defaults are trusted, so an ordinary score pays
nothing):

* the answers are as the client gave them (a stage writes ``state.values``), every
  flag is a :class:`psyq.results.FlagHit`, every scale's ``raw``, ``scaled``
  and ``value`` a number or ``None``, and ``extra`` something JSON can hold (it is
  printed by ``score --json`` and stored): otherwise the command stops with one line
  naming the plugin (a :class:`~psyq.errors.PluginHookError`), as when its hook
  raises, instead of an internal error later;
* every critical flag the instrument's own rules raise for these answers is still
  raised, at level ``critical``: one a stage dropped or downgraded is raised again,
  with one warning naming the plugin (an error with ``PSYQ_STRICT_PLUGINS=1``).
  A plugin may add flags; it never hides a risk signal.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, NoReturn

from psyq.errors import PluginHookError
from psyq.manager import WrongResult, shown_type
from psyq.scope import instruments_of

if TYPE_CHECKING:
    from psyq.manager import PsyqPluginManager
    from psyq.results import FlagHit
    from psyq.scoring import ScoringState

FLAGS_STAGE = "psyq_score_flags"
_LEVELS = ("critical", "warning", "info")


def stage_plugins(
    pm: PsyqPluginManager, hook_names: list[str], instrument_id: str
) -> dict[str, list[str]]:
    """hook name -> the third-party plugins whose implementation of it runs for this
    instrument (one scoped to other instruments with ``for_instruments`` does not)."""
    out: dict[str, list[str]] = {}
    for hook_name in hook_names:
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if pm.is_builtin(impl.plugin_name):
                continue
            scope = instruments_of(impl.function)
            if scope and instrument_id not in scope:
                continue
            names = out.setdefault(hook_name, [])
            if impl.plugin_name not in names:
                names.append(impl.plugin_name)
    return out


def check_stages(
    pm: PsyqPluginManager,
    state: ScoringState,
    given: dict[str, int | None],
    plugins: dict[str, list[str]],
) -> None:
    """Check what ``plugins`` (from :func:`stage_plugins`) left in ``state``; ``given``
    is a copy of the answers taken before any stage ran."""
    dropped_by = pm.flags_dropped_by(state)  # read (and forgotten) for every score
    if state.answers != given:  # every output quotes them: they stay as the client gave them
        changed = sorted(
            k
            for k in given.keys() | state.answers.keys()
            if state.answers.get(k, "") != given.get(k, "")
        )
        _bug(
            pm,
            plugins,
            f"changed state.answers ({', '.join(changed)}), the answers as given; a stage "
            "writes item values to state.values",
            all_stages=True,
        )
    check_shapes(pm, state, plugins)
    _raise_dropped_critical(pm, state, given, plugins, dropped_by)


def check_shapes(pm: PsyqPluginManager, state: ScoringState, plugins: dict[str, list[str]]) -> None:
    """Raise a :class:`PluginHookError` naming ``plugins`` if they left a flag, a score
    or an extra psyq cannot use (also called when a later stage of psyq's fails)."""
    from psyq.results import FlagHit

    if not isinstance(state.flags, list):
        _bug(pm, plugins, f"set state.flags to {shown_type(state.flags)}; it is a list")
    for flag in state.flags:
        if not isinstance(flag, FlagHit):
            _bug(
                pm,
                plugins,
                f"put {shown_type(flag)} in state.flags; a flag is a psyq.results.FlagHit",
            )
        unknown = [i for i in flag.item_ids if not state.instrument.has_item(i)]
        if unknown:  # every output quotes the items a flag names
            _bug(
                pm,
                plugins,
                f"raised flag '{flag.id}' about item {', '.join(unknown)}, which "
                f"{state.instrument.id} does not have",
            )
    for scale_id, scale_state in state.scales.items():
        for field in ("raw", "scaled", "value"):
            value = getattr(scale_state, field)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not number:
                _bug(
                    pm,
                    plugins,
                    f"set scale '{scale_id}' {field} to {shown_type(value)}; a score is a "
                    "number or None",
                    all_stages=True,
                )
    try:
        json.dumps(state.extra)
    except (TypeError, ValueError) as exc:
        _bug(
            pm,
            plugins,
            f"put a value in state.extra that JSON cannot hold ({exc}); extra is printed "
            "by score --json and stored",
            all_stages=True,
        )


def _raise_dropped_critical(
    pm: PsyqPluginManager,
    state: ScoringState,
    given: dict[str, int | None],
    plugins: dict[str, list[str]],
    dropped_by: list[str],
) -> None:
    from psyq.scoring import ScoringState

    defaults = [
        impl
        for impl in getattr(pm.hook, FLAGS_STAGE).get_hookimpls()
        if pm.is_builtin(impl.plugin_name) and impl.trylast
    ]
    if not defaults:
        return
    # The file's own rules over the answers as given and the scales as scored.
    fresh = ScoringState(
        instrument=state.instrument,
        answers=dict(given),
        methods=state.methods,
        values=dict(state.values),
        scales=state.scales,
        skipped=state.skipped,
        client=state.client,
    )
    impl = defaults[0]
    impl.function(*[{"state": fresh}[name] for name in impl.argnames])
    raised = {_key(flag) for flag in state.flags if flag.level == "critical"}
    dropped = [f for f in fresh.flags if f.level == "critical" and _key(f) not in raised]
    if not dropped:
        return
    flags = dropped + list(state.flags)
    state.flags[:] = sorted(flags, key=lambda flag: _LEVELS.index(flag.level))
    names, hooks = _blamed(plugins, all_stages=False)
    if dropped_by:  # the plugins seen doing it (a wrapper that took one away, a replacement)
        names, hooks = dropped_by, [FLAGS_STAGE]
    ids = ", ".join(dict.fromkeys(f.id for f in dropped))
    pm.problem(
        f"{_who(pm, names)} dropped or downgraded critical flag {ids} of "
        f"{state.instrument.id} in {_hooks_words(hooks)}; psyq raised it again, as every "
        f"output must show it ({pm.disable_hint(names[0])})"
    )


def _key(flag: FlagHit) -> tuple[str, str | None]:
    from psyq.models import CRITICAL_ITEM_FLAG

    # psyq's critical-item flag is raised once per unanswered critical item.
    return (flag.id, flag.item if flag.id == CRITICAL_ITEM_FLAG else None)


def _blamed(plugins: dict[str, list[str]], *, all_stages: bool) -> tuple[list[str], list[str]]:
    """The plugins to name and the hooks they did it in: the flags stage's, for flags."""
    chosen = plugins
    if not all_stages and FLAGS_STAGE in plugins:
        chosen = {FLAGS_STAGE: plugins[FLAGS_STAGE]}
    names = list(dict.fromkeys(name for group in chosen.values() for name in group))
    return names, list(chosen)


def _hooks_words(hooks: list[str]) -> str:
    return ("hook " if len(hooks) == 1 else "hooks ") + ", ".join(hooks)


def _who(pm: PsyqPluginManager, names: list[str]) -> str:
    described = [pm.describe(name) for name in names]
    return described[0] if len(described) == 1 else "one of " + ", ".join(described)


def _bug(
    pm: PsyqPluginManager, plugins: dict[str, list[str]], what: str, *, all_stages: bool = False
) -> NoReturn:
    names, hooks = _blamed(plugins, all_stages=all_stages)
    raise PluginHookError(
        f"{_who(pm, names)} {what} (in {_hooks_words(hooks)}); {pm.disable_hint(names[0])}",
        plugin=names[0],
        hook=hooks[0],
        original=WrongResult(what),
    )
