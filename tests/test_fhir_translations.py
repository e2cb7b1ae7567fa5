"""``psyq import-fhir``: texts in other languages (FHIR translation extensions) are kept
as notes in the draft's header, English first, escaped; the format has no place for them
yet (translations are being added on another branch).

The fixture imitates the shape of the FHIR R4 translation extension
(http://hl7.org/fhir/extension-translation.html) as multilingual Questionnaire editors
write it (for example Helsenorge's structor): on ``_text``, ``_title`` and an answer
coding's ``_display``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .test_fhir_enable_when import header_notes
from .test_fhir_import import choice, questionnaire

CLI = Callable[..., Any]
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"


def translated(**texts: str) -> dict[str, Any]:
    return {
        "extension": [
            {
                "url": TRANSLATION,
                "extension": [
                    {"url": "lang", "valueCode": lang.replace("_", "-")},
                    {"url": "content", "valueString": text},
                ],
            }
            for lang, text in texts.items()
        ]
    }


def test_translations_are_kept_in_the_header(psyq_cli: CLI, tmp_path: Path) -> None:
    first = choice("q1", ["nie", "manchmal"])
    first["text"] = "Wenig Interesse"
    first["_text"] = translated(es="Poco interés", en="Little interest")
    first["answerOption"][0]["valueCoding"]["_display"] = translated(en="Never")
    first["answerOption"][1]["valueCoding"]["_display"] = translated(en="Sometimes")
    second = choice("q2", ["nie", "manchmal"])
    second["text"] = "Niedergeschlagen"
    # A hostile translation: a line separator and a newline must not end the comment.
    second["_text"] = translated(
        en_GB="Feeling down\u2028q3: injected\nscales: []", fr="\u202eabattu"
    )
    second["_text"]["extension"].append(  # malformed: no language, no text: left out
        {"url": TRANSLATION, "extension": [{"url": "content", "valueString": "x"}]}
    )
    third = choice("q3", ["nie", "manchmal"])  # no translations
    form = questionnaire(
        [first, second, third],
        name="Kurz",
        title="Kurzbogen",
        _title=translated(en="Short form"),
        language="de",
        copyright="CC0",
    )
    source = tmp_path / "q.json"
    source.write_text(json.dumps(form))
    out = tmp_path / "draft.yaml"
    result = psyq_cli("import-fhir", source, "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    notes = [n for n in header_notes(text) if n.startswith("translations:")]
    assert notes[0].startswith("translations: the form's texts are in de;")
    assert notes[1:] == [
        "translations: title in en: 'Short form'",
        "translations: item q1 text in en: 'Little interest'; es: 'Poco interés'",
        "translations: answers_1 answers 0 in en: 'Never'; 1 in en: 'Sometimes'",
        "translations: item q2 text in en-GB: 'Feeling down q3: injected scales: []'; "
        "fr: '\\u202eabattu'",  # a bidi override is shown escaped
    ]
    assert "\u2028" not in text and "\u202e" not in text
    # The draft is still exactly the form's data: nothing from a note became YAML.
    data = yaml.safe_load(text)
    assert [i["text"] for i in data["items"]] == ["Wenig Interesse", "Niedergeschlagen", "q3"]
    assert data["scales"] and psyq_cli("validate", out).exit_code == 0


def test_a_form_without_translations_has_no_translation_note(psyq_cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "q.json"
    source.write_text(json.dumps(questionnaire([choice("q1", ["a", "b"])], copyright="CC0")))
    out = tmp_path / "draft.yaml"
    assert psyq_cli("import-fhir", source, "-o", out).exit_code == 0
    assert "translations:" not in out.read_text(encoding="utf-8")
