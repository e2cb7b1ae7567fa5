"""Instrument translations (placeholder until the format lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psyq.i18n import LanguageError

if TYPE_CHECKING:
    from psyq.app import App
    from psyq.models import Instrument


def translated(app: App, instrument: Instrument, language: str) -> Instrument:
    raise LanguageError(f"{instrument.id} has no '{language}' translation")
