"""Languages: psyq's own fixed strings (gettext catalogues) and instrument translations.

* **Fixed strings** of the tablet pages, reports and CLI are marked with
  ``_()`` / ``{% trans %}`` and kept in gettext catalogues under
  ``psyq/locale/<lang>/LC_MESSAGES/psyq.po`` (extracted and compiled with Babel:
  ``pybabel extract -F babel.cfg``, ``pybabel compile``). :func:`ui_language`
  loads one; an unknown language falls back to English for these strings only.
* **Instrument text** is never taken from a catalogue and never falls back:
  :func:`instrument_in` returns the instrument in a language only when a
  complete translation (:mod:`psyq.translations`) exists, and fails otherwise.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Literal, NamedTuple

from psyq.errors import PsyqError

# gettext and importlib.resources are imported where a catalogue is read: psyq.models
# imports this module (for N_) at every `psyq score` and `psyq show`.
if TYPE_CHECKING:
    import gettext

    from psyq.app import App
    from psyq.models import Instrument

DOMAIN = "psyq"
RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "ks", "ps", "sd", "ug", "ur", "yi"}
)
"""Primary language subtags written right to left."""


class LanguageError(PsyqError):
    """A language was asked for that an instrument or psyq cannot give."""


def N_(message: str) -> str:
    """Marks ``message`` for psyq's catalogue where it is made; it is translated where it
    is shown (a report template or context, in the report's language)."""
    return message


def primary(tag: str) -> str:
    """``es-MX`` -> ``es``."""
    return tag.replace("_", "-").split("-")[0].lower()


def direction(tag: str | None) -> Literal["ltr", "rtl"]:
    return "rtl" if tag is not None and primary(tag) in RTL_LANGUAGES else "ltr"


class UiLanguage(NamedTuple):
    """psyq's fixed strings in one language, with the writing direction."""

    language: str
    direction: Literal["ltr", "rtl"]
    translations: gettext.NullTranslations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)


@cache
def ui_language(tag: str | None) -> UiLanguage:
    """The catalogue for ``tag`` (``es``, ``de``, ``es-MX`` uses ``es``), else English."""
    import gettext
    from importlib import resources

    if not tag:
        return UiLanguage("en", "ltr", gettext.NullTranslations())
    folder = resources.files("psyq") / "locale"
    for candidate in (tag.replace("-", "_"), primary(tag)):
        mo = folder / candidate / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if mo.is_file():
            with mo.open("rb") as fh:
                return UiLanguage(tag, direction(tag), gettext.GNUTranslations(fh))
    return UiLanguage(tag, direction(tag), gettext.NullTranslations())


def ui_languages() -> list[str]:
    """Languages psyq's own strings are translated into (besides English)."""
    from importlib import resources

    folder = resources.files("psyq") / "locale"
    if not folder.is_dir():
        return []
    return sorted(
        p.name for p in folder.iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file()
    )


def tablet_translations(tag: str | None) -> UiLanguage:
    """The tablet pages' strings (same catalogue as the CLI and reports)."""
    return ui_language(tag)


def instrument_in(app: App, instrument: Instrument, language: str | None) -> Instrument:
    """``instrument`` with every text in ``language``; the instrument itself for None.

    Raises :class:`LanguageError` when there is no complete translation: a form
    is never shown half in one language and half in another.
    """
    if language is None:
        return instrument
    from psyq.translations import translated

    return translated(app, instrument, language)
