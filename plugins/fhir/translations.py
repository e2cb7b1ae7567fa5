"""Texts a Questionnaire gives in other languages (the FHIR ``translation`` extension).

FHIR puts a text's translations on the text's primitive element: an item's
``_text``, an answer coding's ``_display``, an answer string's
``_valueString``, the form's ``_title``, each holding extensions
``http://hl7.org/fhir/StructureDefinition/translation`` with a ``lang`` code
and a ``content`` string. psyq's instrument format on this version has no
place for other languages, so ``import-fhir`` keeps them as notes in the
draft's header (English first), escaped like every other note.
"""

from __future__ import annotations

import re
from typing import Any

from psyq.plugins.fhir.resources import JSON, as_list

TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
MAX_LANGUAGES = 50
MAX_CHARS = 2000
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,4}")


def translations(element: Any) -> dict[str, str]:
    """Language tag -> text, from the translation extensions of a primitive's element.

    Malformed extensions (no language, a tag that is not BCP 47 in shape, no
    text) are left out; English tags come first.
    """
    found: dict[str, str] = {}
    for ext in as_list(element.get("extension") if isinstance(element, dict) else None):
        if not isinstance(ext, dict) or ext.get("url") != TRANSLATION:
            continue
        parts = {p.get("url"): p for p in as_list(ext.get("extension")) if isinstance(p, dict)}
        lang = parts.get("lang", {}).get("valueCode")
        content = parts.get("content", {})
        text = content.get("valueString", content.get("valueMarkdown"))
        if not isinstance(lang, str) or not _LANGUAGE.fullmatch(lang):
            continue
        if isinstance(text, str) and text.strip() and len(found) < MAX_LANGUAGES:
            found.setdefault(lang, " ".join(text.split())[:MAX_CHARS])
    english = sorted(k for k in found if k.lower() == "en" or k.lower().startswith("en-"))
    return {k: found[k] for k in [*english, *sorted(set(found) - set(english))]}


def option_translations(option: JSON) -> dict[str, str]:
    """The translations of an answerOption's label (coding display or string)."""
    coding = option.get("valueCoding")
    if isinstance(coding, dict) and coding.get("_display") is not None:
        return translations(coding.get("_display"))
    return translations(option.get("_valueString"))


def shown(texts: dict[str, str]) -> str:
    """``lang: 'text'; ...`` for a note."""
    return "; ".join(f"{lang}: '{text}'" for lang, text in texts.items())


def item_note(item_id: str, node: JSON) -> str | None:
    """The note keeping an item's translated text, if it has any."""
    texts = translations(node.get("_text"))
    return f"translations: item {item_id} text in {shown(texts)}" if texts else None


def options_note(scale_id: str, node: JSON, values: list[int | None]) -> str | None:
    """The note keeping the translated answer labels of ``node`` (response scale
    ``scale_id``); ``values``: each answerOption's value, in order."""
    options = [o for o in as_list(node.get("answerOption")) if isinstance(o, dict)]
    labels = []
    for option, value in zip(options, values, strict=False):
        texts = option_translations(option)
        if texts:
            labels.append(f"{value} in {shown(texts)}")
    if not labels:
        return None
    return f"translations: {scale_id} answers " + "; ".join(labels)
