"""The instruments that ship with psyq (``instruments/`` in the source tree)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from psyq.hookspecs import hookimpl
from psyq.registry import InstrumentSource

BUILTIN_SOURCE = "psyq (built-in)"


def builtin_instruments_dir() -> Path:
    return Path(str(resources.files("psyq.instruments")))


@hookimpl
def psyq_instrument_sources() -> list[InstrumentSource]:
    return [InstrumentSource(name=BUILTIN_SOURCE, path=builtin_instruments_dir())]
