"""The instruments that ship with psyq (``instruments/`` in the source tree)."""

from __future__ import annotations

from pathlib import Path

from psyq.hookspecs import hookimpl
from psyq.registry import InstrumentSource

BUILTIN_SOURCE = "psyq (built-in)"


def builtin_instruments_dir() -> Path:
    """The folder of the ``psyq.instruments`` package: what ``importlib.resources.files``
    gives for a package on disk, without importing importlib.resources at every start-up."""
    import psyq.instruments as package

    return Path(next(iter(package.__path__)))


@hookimpl
def psyq_instrument_sources() -> list[InstrumentSource]:
    return [InstrumentSource(name=BUILTIN_SOURCE, path=builtin_instruments_dir())]
