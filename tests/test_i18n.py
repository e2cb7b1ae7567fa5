"""psyq's own strings: the gettext catalogues are complete and compiled (Babel).

Update them after changing a marked string::

    pybabel extract -F babel.cfg --no-location --omit-header -o core/locale/psyq.pot .
    pybabel update -i core/locale/psyq.pot -d core/locale -D psyq --no-location
    (translate the new entries)  pybabel compile -d core/locale -D psyq
"""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "core" / "locale"
LANGUAGES = sorted(p.name for p in LOCALE.iterdir() if p.is_dir())
METHODS = [
    ("core/**.py", "python"),
    ("plugins/**.py", "python"),
    ("templates/**.j2", "jinja2"),
    ("templates/cohort_summary.html", "jinja2"),  # psyq batch --language
]


def marked() -> set[str]:
    """Every string marked for translation in the source, extracted as Babel does."""
    found = extract_from_dir(str(ROOT), METHODS, keywords=DEFAULT_KEYWORDS, options_map={})
    return {message for _file, _line, message, _comments, _context in found if message}


MARKED = marked()


def test_strings_are_marked() -> None:
    assert {"Thank you", "Skip", "Client", "form given in %(language)s"} <= MARKED


def test_spanish_and_german_ship() -> None:
    assert {"de", "es"} <= set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_is_complete_and_compiled(language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / "psyq.po").open("rb") as fh:
        catalogue = read_po(fh)
    texts = {m.id: m.string for m in catalogue if m.id}
    missing = sorted(MARKED - set(texts))
    assert not missing, f"{language}: untranslated (run pybabel extract/update): {missing}"
    # A plural entry's id and text are tuples (singular, plural) and (one form per count).
    empty = sorted(str(k) for k, v in texts.items() if not v or not all(v))
    assert not empty, f"{language}: empty translations: {empty}"
    fuzzy = sorted(str(m.id) for m in catalogue if m.id and m.fuzzy)
    assert not fuzzy, f"{language}: fuzzy entries: {fuzzy}"
    with (folder / "psyq.mo").open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)

    def compiled_as(key: object, text: object) -> bool:
        if isinstance(key, tuple) and isinstance(text, tuple):
            # A count that picks each plural form in turn (German 1, 2; Spanish 1, 10**6, 2).
            counts = {compiled.plural(n): n for n in (2, 10**6, 1)}  # type: ignore[attr-defined]
            return all(
                compiled.ngettext(str(key[0]), str(key[1]), counts[i]) == form
                for i, form in enumerate(text)
            )
        return compiled.gettext(str(key)) == text

    stale = sorted(str(k) for k, v in texts.items() if not compiled_as(k, v))
    assert not stale, f"{language}: psyq.mo is stale (run pybabel compile): {stale}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_is_packaged(language: str) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"psyq.locale.{language}.LC_MESSAGES"' in pyproject, f"list {language} in pyproject"


def test_template_catalogue_names_every_marked_string() -> None:
    """psyq.pot (what a new language starts from) holds every marked string."""
    with (LOCALE / "psyq.pot").open("rb") as fh:
        template = read_po(fh)
    missing = sorted(str(m) for m in MARKED - {m.id for m in template if m.id})
    assert not missing, f"psyq.pot lacks: {missing}"
