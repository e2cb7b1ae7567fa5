"""Responses whose Questionnaire is named the ways outside systems name it.

Each fixture reproduces a pattern of a public file: the HL7 SDC PHQ-9 example
response (hl7sdc questionnaireresponse-sdc-profile-example-PHQ9.json, read in
place where a test needs its exact content), stored on a server and pointing at
``Questionnaire/<id>``; a form with a *contained* Questionnaire whose answer codes
are slugs weighted by ``ordinalValue``/``itemWeight`` (the PHQ-2 "itemWeight
scoring" snippet of a public SDC form-builder's docs, codes ``not-at-all`` ...
``more-than-half``); a versioned canonical; and a clinic's own linkIds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from psyq.errors import AnswerError
from psyq.manager import PsyqPluginManager
from psyq.plugins.answer_documents import parse_answers
from psyq.plugins.fhir.linking import ReadingAids, reading_aids
from psyq.registry import InstrumentRegistry

from .conftest import SHARED

CLI = Callable[..., Result]
HL7_QR = SHARED / "corpus/fhir/hl7sdc__questionnaireresponse-sdc-profile-example-PHQ9.json"
needs_corpus = pytest.mark.skipif(not HL7_QR.is_file(), reason="shared FHIR corpus is not present")
HL7_URL = "http://hl7.org/fhir/uv/sdc/Questionnaire/questionnaire-sdc-profile-example-PHQ9"
PHQ9_LOINC = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
              "44253-3", "44260-8"]  # fmt: skip
SLUGS = ["not-at-all", "several-days", "more-than-half", "nearly-every-day"]
LABELS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]
WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"


def hl7_response(questionnaire: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(HL7_QR.read_text(encoding="utf-8"))
    data["questionnaire"] = questionnaire
    return data


@needs_corpus
@pytest.mark.parametrize(
    "reference",
    [
        "Questionnaire/sdc-profile-example-PHQ9",  # a server's relative reference
        "Questionnaire/questionnaire-sdc-profile-example-PHQ9/_history/2",
        f"{HL7_URL}|0.0.1",  # a versioned canonical
        "Questionnaire/4711",  # a server's own id: the linkIds say which form
    ],
)
def test_hl7_example_scores_10_however_its_questionnaire_is_named(
    psyq_cli: CLI, tmp_path: Path, reference: str
) -> None:
    path = tmp_path / "qr.json"
    path.write_text(json.dumps(hl7_response(reference)))
    result = psyq_cli("score", "phq9", "--answers-file", path, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    # The HL7 example's answers: 0,0,0,1,2,1,3,2,1 -> 10, moderate (10-14).
    assert [f["id"] for f in doc["flags"]] == ["suicidal_ideation"]  # item 9 "Several days"
    assert doc["scores"]["total"]["value"] == 10
    assert doc["scores"]["total"]["band"] == "moderate"


def slug_questionnaire(weights: list[int], extension: str = WEIGHT) -> dict[str, Any]:
    """A PHQ-9 form with slug answer codes worth ``weights`` (contained or given)."""
    options = [
        {
            "valueCoding": {"system": "http://example.org/cs/freq", "code": slug, "display": text},
            "extension": [{"url": extension, "valueDecimal": weight}],
        }
        for slug, text, weight in zip(SLUGS, LABELS, weights, strict=True)
    ]
    return {
        "resourceType": "Questionnaire",
        "id": "phq9-clinic",
        "url": "http://clinic.example/Questionnaire/phq9-clinic",
        "status": "active",
        "item": [
            {
                "linkId": f"item-{n}",
                "type": "choice",
                "code": [{"system": "http://loinc.org", "code": code}],
                "answerOption": options,
            }
            for n, code in enumerate(PHQ9_LOINC, 1)
        ],
    }


def slug_response(answers: list[int], questionnaire: str) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": questionnaire,
        "item": [
            {
                "linkId": f"item-{n}",
                "answer": [
                    {"valueCoding": {"system": "http://example.org/cs/freq", "code": SLUGS[a]}}
                ],
            }
            for n, a in enumerate(answers, 1)
        ],
    }


def test_contained_questionnaire_links_items_by_loinc_and_values_by_weight(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    phq9 = registry.get("phq9")
    doc = slug_response([2, 2, 1, 0, 3, 2, 0, 1, 0], "#phq9-clinic")
    doc["contained"] = [slug_questionnaire([0, 1, 2, 3])]
    got = parse_answers(psyq_pm, phq9, doc)
    # "more-than-half" matches no psyq label as a code; the contained form's weight says 2.
    assert [got[f"phq9_{i}"] for i in range(1, 10)] == [2, 2, 1, 0, 3, 2, 0, 1, 0]
    # A contained form whose weights contradict the scale is refused, not rescaled.
    doc["contained"] = [slug_questionnaire([1, 2, 3, 4], ORDINAL)]
    # (Its first answer already: the form's own label for the code is another answer.)
    with pytest.raises(AnswerError, match=r"linkId 'item-1' \(phq9_1\): .* is 3 by its"):
        parse_answers(psyq_pm, phq9, doc)


def test_an_unknown_contained_questionnaire_name_is_refused(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    doc = slug_response([0] * 9, "#not-there")
    doc["contained"] = [slug_questionnaire([0, 1, 2, 3])]
    with pytest.raises(AnswerError, match="linkId 'item-1': no PHQ-9 item matches it"):
        parse_answers(psyq_pm, registry.get("phq9"), doc)


def test_given_questionnaire_and_link_map_through_the_cli(psyq_cli: CLI, tmp_path: Path) -> None:
    form = tmp_path / "phq9-clinic.json"
    form.write_text(json.dumps(slug_questionnaire([0, 1, 2, 3])))
    qr = tmp_path / "qr.json"
    qr.write_text(json.dumps(slug_response([3, 3, 2, 2, 1, 1, 0, 0, 2], f"{HL7_URL}-x")))
    refused = psyq_cli("score", "phq9", "--answers-file", qr)
    assert refused.exit_code == 2 and "linkId 'item-1'" in refused.output
    qr.write_text(
        json.dumps(slug_response([3, 3, 2, 2, 1, 1, 0, 0, 2], "Questionnaire/phq9-clinic"))
    )
    given = psyq_cli("score", "phq9", "--answers-file", qr, "--questionnaire", form, "--json")
    assert given.exit_code == 0, given.output
    assert json.loads(given.stdout)["scores"]["total"]["value"] == 14  # 3+3+2+2+1+1+0+0+2

    own = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": [{"linkId": f"Frage {n}", "answer": [{"valueInteger": 1}]} for n in range(1, 10)],
    }
    qr.write_text(json.dumps(own))
    link_map = tmp_path / "links.yaml"
    link_map.write_text("".join(f"Frage {n}: phq9_{n}\n" for n in range(1, 10)))
    mapped = psyq_cli("score", "phq9", "--answers-file", qr, "--link-map", link_map, "--json")
    assert mapped.exit_code == 0, mapped.output
    assert json.loads(mapped.stdout)["scores"]["total"]["value"] == 9
    link_map.write_text("Frage 1: phq9_99\n")
    bad = psyq_cli("score", "phq9", "--answers-file", qr, "--link-map", link_map)
    assert bad.exit_code == 2
    assert "linkId 'Frage 1' maps to 'phq9_99', not an item of PHQ-9" in bad.output


def test_link_map_in_batch(psyq_cli: CLI, tmp_path: Path) -> None:
    lines = [
        {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "subject": {"reference": f"Patient/{k}"},
            "item": [{"linkId": f"g{n}", "answer": [{"valueInteger": k}]} for n in range(1, 8)],
        }
        for k in range(4)
    ]
    src = tmp_path / "in.ndjson"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    link_map = tmp_path / "links.json"
    link_map.write_text(json.dumps({f"g{n}": f"gad7_{n}" for n in range(1, 8)}))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "gad7", "--out", out, "--scores-only",
                      "--quiet", "--link-map", link_map)  # fmt: skip
    assert result.exit_code == 0, result.output
    totals = [row.split(",")[3] for row in (out / "scores.csv").read_text().splitlines()[1:]]
    assert totals == ["0", "7", "14", "21"]


def test_reading_aids_end_with_their_block(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    gad7 = registry.get("gad7")
    doc = {"resourceType": "QuestionnaireResponse", "status": "completed",
           "item": [{"linkId": "x", "answer": [{"valueInteger": 1}]}]}  # fmt: skip
    with reading_aids(ReadingAids(link_map={"x": "gad7_1"})):
        assert parse_answers(psyq_pm, gad7, doc)["gad7_1"] == 1
    with pytest.raises(AnswerError, match="linkId 'x'"):
        parse_answers(psyq_pm, gad7, doc)
