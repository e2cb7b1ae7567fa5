"""Instrument-scoped hook implementations: ``@for_instruments("rses")``.

A scoring stage, report-context or answers hook that only concerns some
instruments says so once, instead of starting with a hand-written
``if state.instrument.id != ...: return None``::

    @hookimpl(wrapper=True)
    @for_instruments("rses")
    def psyq_score_transform(state: ScoringState) -> Stage:
        result = yield
        ...
        return result

For other instruments the implementation is not run: a plain hook returns
``None`` (so the next implementation or psyq's default runs) and a wrapper
passes the stage's result through untouched. The instrument is read from the
hook's ``state`` (``state.instrument``), ``request`` (``request.instrument``)
or ``instrument`` argument, so the decorator fits the scoring stages,
``psyq_report_context`` and ``psyq_parse_answers``. Report sections have the
same scope as data: ``ReportSection(..., instruments=("rses",))``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

#: hook arguments the instrument can be read from, and how
_CARRIERS = ("state", "request", "instrument")
SCOPE_ATTRIBUTE = "psyq_instruments"


def for_instruments(*instrument_ids: str) -> Callable[[F], F]:
    """Run the decorated hook implementation only for these instrument ids.

    Put it below ``@hookimpl`` (either order works). The ids are shown by
    ``psyq plugins`` beside the hook.
    """
    ids = frozenset(instrument_ids)
    if not ids or not all(isinstance(i, str) and i for i in ids):
        raise TypeError("for_instruments() needs one or more instrument ids")

    def decorate(function: F) -> F:
        params = list(inspect.signature(function).parameters)
        carrier = next((name for name in _CARRIERS if name in params), None)
        if carrier is None:
            raise TypeError(
                f"{function.__qualname__}: for_instruments() fits hooks with a 'state', "
                f"'request' or 'instrument' argument; it has {', '.join(params) or 'none'}"
            )
        index = params.index(carrier)

        def in_scope(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
            value = kwargs[carrier] if carrier in kwargs else args[index]
            instrument = value if carrier == "instrument" else value.instrument
            return instrument.id in ids

        wrapped: Callable[..., Any]
        if inspect.isgeneratorfunction(function):

            @functools.wraps(function)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                if not in_scope(args, kwargs):
                    return (yield)  # another instrument: pass the stage's result on
                return (yield from function(*args, **kwargs))

            wrapped = wrapper
        else:

            @functools.wraps(function)
            def call(*args: Any, **kwargs: Any) -> Any:
                if not in_scope(args, kwargs):
                    return None  # another instrument: the next implementation runs
                return function(*args, **kwargs)

            wrapped = call
        setattr(wrapped, SCOPE_ATTRIBUTE, tuple(sorted(ids)))
        return cast(F, wrapped)

    return decorate


def instruments_of(function: Callable[..., Any]) -> tuple[str, ...]:
    """The instrument ids a hook implementation is scoped to (empty: every instrument)."""
    scope: tuple[str, ...] = getattr(function, SCOPE_ATTRIBUTE, ())
    return scope
