"""The data input ``psyq analyze`` and ``psyq norms build`` share.

Both read one instrument's answers from a file (or the store) with the same
arguments and options; :func:`data_input` declares them once and hands the
command one :class:`~psyq.plugins.analysis.data.DataInput` (that module loads
when the command runs, not at every start-up).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


_PARAMS = [
    click.argument("instrument_id"),
    click.argument("data_path", metavar="[DATA]", required=False),
    click.option(
        "--from-store",
        is_flag=True,
        help="Analyse the store's complete administrations instead of a file.",
    ),
    click.option("--id-column", default="client_id", show_default=True),
    click.option("--date-column", default="date", show_default=True),
    click.option("--ignore-extra-columns", is_flag=True, help="Skip columns that are not items."),
]


def data_input(f: F) -> F:
    """Declare INSTRUMENT_ID, [DATA] and the input options; pass them as ``source``."""

    @functools.wraps(f)
    def command(*args: Any, **kwargs: Any) -> Any:
        from psyq.plugins.analysis.data import DataInput

        names = [field.name for field in fields(DataInput)]
        source = DataInput(**{name: kwargs.pop(name) for name in names})
        return f(*args, source=source, **kwargs)

    wrapped: Any = command
    for param in reversed(_PARAMS):
        wrapped = param(wrapped)
    return wrapped  # type: ignore[no-any-return]
