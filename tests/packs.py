"""An instrument pack plugin serving one directory, for tests that edit its files."""

from __future__ import annotations

from pathlib import Path

from psyq import hookimpl
from psyq.registry import InstrumentSource


class DirectoryPack:
    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = directory

    @hookimpl
    def psyq_instrument_sources(self) -> list[InstrumentSource]:
        return [InstrumentSource(self.name, self.directory)]
