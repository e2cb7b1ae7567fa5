"""Test instruments and translations for the language machinery (not clinical measures)."""

from __future__ import annotations

from pathlib import Path

from psyq import hookimpl
from psyq.registry import InstrumentSource

HERE = Path(__file__).parent


class LanguagePack:
    """The test instrument (English, Spanish inside) and its Arabic translation file."""

    @hookimpl
    def psyq_instrument_sources(self) -> list[InstrumentSource]:
        return [InstrumentSource("langtest", HERE / "langtest.yaml")]

    @hookimpl
    def psyq_translation_sources(self) -> list[InstrumentSource]:
        return [InstrumentSource("langtest-ar", HERE / "langtest.ar.yaml")]


plugin = LanguagePack()
"""The object a test "installs" through an entry point (tests.tablet.with_language_pack)."""
