"""Texts a Questionnaire gives in other languages (the FHIR ``translation`` extension).

FHIR puts a text's translations on the text's primitive element: an item's
``_text``, an answer coding's ``_display``, an answer string's
``_valueString``, the form's ``_title``, each holding extensions
``http://hl7.org/fhir/StructureDefinition/translation`` with a ``lang`` code
and a ``content`` string. A language whose texts the form gives completely (title, every item, every
answer; an English one takes the draft's own English notice) becomes the
draft's ``translations:`` entry for it; any other language's texts are kept as
a note in the draft's header, escaped like every other note.
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


class Gathered:
    """The texts a Questionnaire gives in other languages, by language, as read."""

    def __init__(self) -> None:
        self.by_language: dict[str, dict[str, Any]] = {}

    def _language(self, lang: str) -> dict[str, Any]:
        return self.by_language.setdefault(lang, {"items": {}, "response_scales": {}})

    def title(self, q: JSON) -> None:
        for lang, text in translations(q.get("_title")).items():
            self._language(lang)["title"] = text[:500]

    def item(self, item_id: str, node: JSON, scale_id: str, values: list[int | None]) -> None:
        """An item's text and its answers' labels (``values``: each answerOption's value)."""
        for lang, text in translations(node.get("_text")).items():
            self._language(lang)["items"][item_id] = text
        options = [o for o in as_list(node.get("answerOption")) if isinstance(o, dict)]
        for option, value in zip(options, values, strict=False):
            for lang, label in option_translations(option).items():
                labels = self._language(lang)["response_scales"].setdefault(scale_id, {})
                labels.setdefault(value, label[:500])

    def kept(
        self, data: dict[str, Any], source: str, notice: str
    ) -> tuple[dict[str, Any], list[str]]:
        """The translations complete enough for the format (every text it needs), and a
        note for each other language keeping its texts.

        ``notice``: the draft's own (English) notice, which an English translation uses.
        """
        from pydantic import ValidationError

        from psyq.models import Instrument
        from psyq.translation_format import Translation
        from psyq.translations import problems

        try:
            instrument = Instrument.model_validate(data)
        except ValidationError:
            instrument = None
        kept: dict[str, Any] = {}
        notes: list[str] = []
        for lang, texts in self.by_language.items():
            english = lang.lower() == "en" or lang.lower().startswith("en-")
            candidate = {
                "source": f"{source} (its FHIR translation extensions, language {lang}); "
                "check it against the published translation",
                "title": texts.get("title", ""),
                "items": texts["items"],
                "response_scales": texts["response_scales"],
                "notice": notice if english else "",
            }
            why = "the form gives no translated title"
            if instrument is not None and texts.get("title"):
                try:
                    missing = problems(instrument, Translation.model_validate(candidate), lang)
                except ValidationError:
                    missing = [f"'{lang}' is not a language tag psyq accepts"]
                if not missing:
                    kept[lang] = candidate
                    continue
                more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                why = missing[0].split(": ", 1)[-1] + more
            notes.append(f"translations: {lang} not kept in the draft ({why}): {_listed(texts)}")
        return kept, notes


def _listed(texts: dict[str, Any]) -> str:
    parts = [f"title '{texts['title']}'"] if texts.get("title") else []
    parts += [f"item {k} '{v}'" for k, v in texts["items"].items()]
    for scale_id, labels in texts["response_scales"].items():
        parts.append(f"{scale_id} " + ", ".join(f"{v}='{t}'" for v, t in labels.items()))
    return "; ".join(parts)
