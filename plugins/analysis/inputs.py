"""The data input ``psyq analyze`` and ``psyq norms build`` share.

Both read one instrument's answers from a file (or the store) with the same
arguments and options; :func:`data_input` declares them once and hands the
command one :class:`DataInput`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

import click

from psyq.app import App
from psyq.errors import PsyqError

if TYPE_CHECKING:
    from psyq.plugins.analysis.data import ItemData

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class DataInput:
    """INSTRUMENT_ID, [DATA] and the options that say how to read DATA."""

    instrument_id: str
    data_path: str | None
    from_store: bool
    id_column: str
    date_column: str
    ignore_extra_columns: bool

    def load(self, app: App, keep_columns: tuple[str, ...] = ()) -> ItemData:
        """The answers, from DATA or the store's complete administrations."""
        from psyq.plugins.analysis import data

        instrument = app.instrument(self.instrument_id)
        if self.from_store == (self.data_path is not None):
            raise PsyqError("give a DATA file or --from-store (one of them)")
        if self.data_path is None:
            return data.read_store(app, instrument)
        return data.read_file(
            app,
            instrument,
            self.data_path,
            id_column=self.id_column,
            date_column=self.date_column,
            ignore_extra=self.ignore_extra_columns,
            keep_columns=keep_columns,
        )


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
    names = [field.name for field in fields(DataInput)]

    @functools.wraps(f)
    def command(*args: Any, **kwargs: Any) -> Any:
        source = DataInput(**{name: kwargs.pop(name) for name in names})
        return f(*args, source=source, **kwargs)

    wrapped: Any = command
    for param in reversed(_PARAMS):
        wrapped = param(wrapped)
    return wrapped  # type: ignore[no-any-return]
