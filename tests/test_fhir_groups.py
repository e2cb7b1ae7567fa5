"""``psyq import-fhir``: nested groups that carry a score become subscales.

Fixtures of my own, reproducing two public patterns (nothing copied in):

* Helsenorge's section scores, as in helsenorge/refero
  ``src/components/__tests__/__data__/scoring/section-score/q.json``: question items
  coded ``QS`` (system ``http://ehelse.no/scoringFormulas``) with ``ordinalValue``s,
  a ``quantity`` item coded ``SS`` in each group (the sum of the group's question
  scores, a nested subgroup included), a group without a score, and a ``TS`` total;
* SDC subscales, as in HL7 SDC's and LHC-Forms' scored forms: a score item inside a
  group whose ``calculatedExpression`` sums its siblings'
  ``%resource.repeat(item).where(linkId=...).answer.value.ordinal()``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from click.testing import Result
from fhir.resources.R4B.questionnaire import Questionnaire

CLI = Callable[..., Result]
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
SCORING = "http://ehelse.no/scoringFormulas"
CALCULATED = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"


def question(link_id: str, code: str | None = "QS") -> dict[str, Any]:
    options = [
        {
            "valueCoding": {"code": c, "display": d},
            "extension": [{"url": ORDINAL, "valueDecimal": v}],
        }
        for c, d, v in (("a", "Not at all", 0), ("b", "Some days", 1), ("c", "Most days", 2))
    ]
    item: dict[str, Any] = {"linkId": link_id, "text": f"Question {link_id}", "type": "choice"}
    if code:
        item["code"] = [{"system": SCORING, "code": code, "display": "QuestionScore"}]
    item["answerOption"] = options
    return item


def score(link_id: str, code: str) -> dict[str, Any]:
    return {
        "linkId": link_id,
        "text": "Sum",
        "type": "quantity",
        "readOnly": True,
        "code": [{"system": SCORING, "code": code, "display": code}],
    }


def group(link_id: str, text: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"linkId": link_id, "text": text, "type": "group", "item": items}


def import_and_score(
    psyq_cli: CLI, tmp_path: Path, q: dict[str, Any], answers: dict[str, int]
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    Questionnaire.model_validate(q)  # the fixture is valid R4
    source = tmp_path / "q.json"
    source.write_text(json.dumps(q))
    draft = tmp_path / "draft.yaml"
    result = psyq_cli("import-fhir", source, "-o", draft)
    assert result.exit_code == 0, result.output
    text = draft.read_text()
    (tmp_path / "a.json").write_text(json.dumps(answers))
    scored = psyq_cli("score", draft, "--answers-file", tmp_path / "a.json", "--json")
    assert scored.exit_code == 0, scored.output
    header = " ".join(line.lstrip("#").strip() for line in text.splitlines() if line[:1] == "#")
    return yaml.safe_load(text), header, json.loads(scored.output)["scores"]


def test_helsenorge_section_scores_become_subscales(psyq_cli: CLI, tmp_path: Path) -> None:
    q = {
        "resourceType": "Questionnaire",
        "id": "sections",
        "status": "draft",
        "item": [
            group("2", "Symptoms", [
                group("2.1", "Sleep", [question("2.1.1"), question("2.1.2"), score("ss_21", "SS")]),
                group("2.2", "Mood", [question("2.2.1"), question("2.2.2"), score("ss_22", "SS")]),
                group("2.3", "Worry", [
                    score("ss_23", "SS"),  # first in its group, as in the public file
                    question("2.3.1"),
                    group("2.3.2", "More worry", [question("2.3.2.1"), question("2.3.2.2")]),
                ]),
                group("2.4", "About you", [question("2.4.1", code=None)]),
            ]),
            score("ts", "TS"),
        ],
    }  # fmt: skip
    answers = {"q1": 1, "q2": 2, "q3": 0, "q4": 1, "q5": 2, "q6": 2, "q7": 1, "q8": 0}
    data, header, scores = import_and_score(psyq_cli, tmp_path, q, answers)
    by_id = {s["id"]: s for s in data["scales"]}
    assert by_id["sleep"]["items"] == ["q1", "q2"]
    assert by_id["mood"]["items"] == ["q3", "q4"]
    assert by_id["worry"]["items"] == ["q5", "q6", "q7"]  # the subgroup's items included
    assert "more_worry" not in by_id  # a subgroup without a score of its own
    assert {"system": "urn:psyq:fhir:Questionnaire/sections", "code": "ss_22"} in by_id["mood"][
        "codes"
    ]
    assert (scores["sleep"]["value"], scores["mood"]["value"], scores["worry"]["value"]) == (
        3,
        1,
        5,
    )
    assert scores["total"]["value"] == sum(answers.values())  # TS: every question
    assert "its section score (SS) 'ss_21' becomes subscale sleep" in header
    assert "group '2.3.2' 'More worry' (items q6, q7) has no score of its own" in header
    assert "group '2.4' 'About you' (items q8) has no score of its own" in header


def test_sdc_score_inside_a_group_is_a_subscale(psyq_cli: CLI, tmp_path: Path) -> None:
    def calculated(link_id: str, over: list[str]) -> dict[str, Any]:
        terms = " + ".join(
            f"%resource.repeat(item).where(linkId='{x}').answer.value.ordinal()" for x in over
        )
        return {
            "linkId": link_id,
            "text": f"{link_id} score",
            "type": "decimal",
            "readOnly": True,
            "extension": [
                {"url": CALCULATED, "valueExpression": {"language": "text/fhirpath",
                                                        "expression": terms}}
            ],
        }  # fmt: skip

    q = {
        "resourceType": "Questionnaire",
        "url": "http://example.org/Questionnaire/two-part",
        "status": "draft",
        "item": [
            group("part-a", "Part A", [question("a1", None), question("a2", None),
                                       calculated("score-a", ["a1", "a2"])]),
            group("part-b", "Part B", [question("b1", None), question("b2", None),
                                       calculated("score-b", ["b1", "b2"])]),
        ],
    }  # fmt: skip
    data, header, scores = import_and_score(
        psyq_cli, tmp_path, q, {"a1": 2, "a2": 1, "b1": 0, "b2": 2}
    )
    by_id = {s["id"]: s for s in data["scales"]}
    assert by_id["score_a"]["items"] == ["a1", "a2"]
    assert by_id["score_b"]["items"] == ["b1", "b2"]
    assert (scores["score_a"]["value"], scores["score_b"]["value"]) == (3, 2)
    assert scores["total"]["value"] == 5
    assert "has no score of its own" not in header  # both groups carry one
