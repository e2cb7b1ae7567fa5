"""``psyq import-fhir``: texts in other languages (FHIR translation extensions): a
complete one becomes the draft's translation, any other is kept as an escaped note.

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


def labelled(item: dict[str, Any], **labels: list[str]) -> dict[str, Any]:
    """``item`` with its answer labels translated: ``en=["Never", "Sometimes"]``."""
    for lang, texts in labels.items():
        for option, text in zip(item["answerOption"], texts, strict=True):
            option["valueCoding"]["_display"] = translated(**{lang: text})
    return item


def test_a_complete_english_translation_goes_into_the_draft_others_into_notes(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    first = labelled(choice("q1", ["nie", "manchmal"]), en=["Never", "Sometimes"])
    first["text"] = "Wenig Interesse"
    first["_text"] = translated(es="Poco interés", en="Little interest")
    second = choice("q2", ["nie", "manchmal"])
    second["text"] = "Niedergeschlagen"
    # A hostile translation: a line separator and a newline must not end the comment.
    second["_text"] = translated(en="Feeling down", fr="Abattu\u2028q3: injected\nscales: []\u202e")
    second["_text"]["extension"].append(  # malformed: no language, no text: left out
        {"url": TRANSLATION, "extension": [{"url": "content", "valueString": "x"}]}
    )
    form = questionnaire(
        [first, second],
        name="Kurz",
        title="Kurzbogen",
        _title=translated(en="Short form", es="Formulario corto"),
        language="de",
        copyright="CC0",
    )
    source = tmp_path / "q.json"
    source.write_text(json.dumps(form))
    out = tmp_path / "draft.yaml"
    result = psyq_cli("import-fhir", source, "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    # English is complete (title, both items, every answer): an alternate in the format.
    (english,) = data["translations"].values()
    assert list(data["translations"]) == ["en"]
    assert english["title"] == "Short form"
    assert english["items"] == {"q1": "Little interest", "q2": "Feeling down"}
    assert english["response_scales"] == {"answers_1": {0: "Never", 1: "Sometimes"}}
    assert "q.json" in english["source"]
    notes = [n for n in header_notes(text) if n.startswith("translations:")]
    assert notes[0].startswith("translations: en from the form's translation extensions")
    # Spanish and French lack texts: kept, word for word, in the header.
    assert notes[1] == (
        "translations: es not kept in the draft (notice is not translated (and 3 more)): "
        "title 'Formulario corto'; item q1 'Poco interés'"
    )
    assert notes[2].startswith("translations: fr not kept in the draft (the form gives no ")
    assert notes[2].endswith("item q2 'Abattu q3: injected scales: []\\u202e'")
    assert "\u2028" not in text and "\u202e" not in text  # a bidi override shown escaped
    # The draft is still exactly the form's data, and psyq shows it in English.
    assert [i["text"] for i in data["items"]] == ["Wenig Interesse", "Niedergeschlagen"]
    assert psyq_cli("validate", out).exit_code == 0
    # A report in English reads the translation the draft carries.
    answers = tmp_path / "a.yaml"
    answers.write_text("q1: 1\nq2: 0\n")
    html = tmp_path / "r.html"
    report = psyq_cli("report", out, "--answers-file", answers, "--client", "C1",
                      "--language", "en", "-o", html)  # fmt: skip
    assert report.exit_code == 0, report.output
    assert "Little interest" in html.read_text(encoding="utf-8")


def test_a_form_without_translations_has_no_translation_note(psyq_cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "q.json"
    source.write_text(json.dumps(questionnaire([choice("q1", ["a", "b"])], copyright="CC0")))
    out = tmp_path / "draft.yaml"
    assert psyq_cli("import-fhir", source, "-o", out).exit_code == 0
    assert "translations:" not in out.read_text(encoding="utf-8")
