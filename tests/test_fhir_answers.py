"""Answers from FHIR R4 QuestionnaireResponses, through the psyq_parse_answers hook."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from psyq.errors import AnswerError
from psyq.hookspecs import hookimpl
from psyq.manager import PsyqPluginManager
from psyq.models import Instrument
from psyq.plugins.answer_documents import parse_answers
from psyq.registry import InstrumentRegistry

from .conftest import SHARED

FHIR = SHARED / "corpus" / "fhir"
needs_corpus = pytest.mark.skipif(not FHIR.is_dir(), reason="shared FHIR corpus is not present")
LOINC = "http://loinc.org"
PHQ9_LOINC = [
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
]
LA = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
LABELS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]


def response(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "status": "completed", "item": items, **extra}


def coded(link_id: str, value: int) -> dict[str, Any]:
    coding = {"system": LOINC, "code": LA[value], "display": LABELS[value]}
    return {"linkId": link_id, "answer": [{"valueCoding": coding}]}


@pytest.fixture
def phq9(registry: InstrumentRegistry) -> Instrument:
    return registry.get("phq9")


def test_psyq_parse_answers_default_takes_a_plain_mapping(
    psyq_pm: PsyqPluginManager, phq9: Instrument
) -> None:
    got = psyq_pm.hook.psyq_parse_answers(instrument=phq9, data={"phq9_1": 2})
    assert got == {"phq9_1": 2}
    assert psyq_pm.hook.psyq_parse_answers(instrument=phq9, data=[1, 2]) is None


def test_loinc_linkids_in_nested_groups_with_answer_codes(
    psyq_pm: PsyqPluginManager, phq9: Instrument
) -> None:
    values = [0, 1, 2, 3, 0, 1, 2, 3, 1]
    group = {
        "linkId": "g",
        "item": [coded("/" + c, v) for c, v in zip(PHQ9_LOINC, values, strict=True)],
    }
    total = {"linkId": "/44261-6", "answer": [{"valueDecimal": 99}]}  # the sender's claim
    answers = parse_answers(psyq_pm, phq9, response([group, total]))
    assert [answers[f"phq9_{i}"] for i in range(1, 10)] == values
    assert answers["phq9_10"] is None


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"valueInteger": 2}, 2),
        ({"valueDecimal": 3.0}, 3),
        ({"valueCoding": {"system": LOINC, "code": "LA6569-3"}}, 1),
        # An unknown code with an ordinalValue extension on the coding.
        (
            {
                "valueCoding": {
                    "code": "x",
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                            "valueDecimal": 3,
                        }
                    ],
                }
            },
            3,
        ),
        ({"valueCoding": {"code": "More-than-half-the-days"}}, 2),  # label, normalised
        ({"valueString": "nearly every day"}, 3),
    ],
)
def test_answer_value_kinds(
    psyq_pm: PsyqPluginManager, phq9: Instrument, answer: dict[str, Any], expected: int
) -> None:
    got = parse_answers(psyq_pm, phq9, response([{"linkId": "phq9_1", "answer": [answer]}]))
    assert got["phq9_1"] == expected


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"linkId": "/44250-9", "answer": [{"valueCoding": {"code": "LA9999-9"}}]}], "/44250-9"),
        ([{"linkId": "Q-unknown", "answer": [{"valueInteger": 1}]}], "linkId 'Q-unknown'"),
        ([{"linkId": "phq9_2", "answer": [{"valueBoolean": True}]}], "valueBoolean"),
        ([{"linkId": "phq9_2", "answer": [{"valueDecimal": 1.5}]}], "not a whole number"),
        ([coded("phq9_3", 1), coded("/44259-0", 2)], "already answered"),
        ([{"linkId": "phq9_4", "answer": [{"valueInteger": 1}, {"valueInteger": 2}]}], "2 answers"),
        (
            [{"linkId": "phq9_9", "answer": [{"valueInteger": 7}]}],
            "linkId 'phq9_9' (phq9_9): 7 is not",
        ),
    ],
)
def test_unmappable_answers_are_refused_naming_the_linkid(
    psyq_pm: PsyqPluginManager, phq9: Instrument, items: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(AnswerError) as info:
        parse_answers(psyq_pm, phq9, response(items), where="r.json: ")
    text = str(info.value)
    assert text.startswith("r.json: ") and message in text and "\n" not in text


def test_other_resources_and_bundles(psyq_pm: PsyqPluginManager, phq9: Instrument) -> None:
    with pytest.raises(AnswerError, match="a FHIR Patient holds no answers"):
        parse_answers(psyq_pm, phq9, {"resourceType": "Patient"})
    bundle = {"resourceType": "Bundle", "entry": [{"resource": response([coded("phq9_2", 3)])}]}
    assert parse_answers(psyq_pm, phq9, bundle)["phq9_2"] == 3
    bundle["entry"] = bundle["entry"] * 2
    with pytest.raises(AnswerError, match="2 QuestionnaireResponses"):
        parse_answers(psyq_pm, phq9, bundle)
    with pytest.raises(AnswerError, match="entered-in-error"):
        parse_answers(psyq_pm, phq9, response([], status="entered-in-error"))


def test_a_plugin_reads_its_own_format_first(psyq_pm: PsyqPluginManager, phq9: Instrument) -> None:
    class CsvLine:
        @hookimpl
        def psyq_parse_answers(self, instrument: Instrument, data: Any) -> dict[str, Any] | None:
            if not isinstance(data, str):
                return None
            return {i.id: v for i, v in zip(instrument.items, data.split(";"), strict=False)}

    psyq_pm.register_plugin(CsvLine(), "csv-line")
    assert parse_answers(psyq_pm, phq9, "1;2;3")["phq9_3"] == 3
    assert parse_answers(psyq_pm, phq9, {"phq9_1": 1})["phq9_1"] == 1  # default still there


@needs_corpus
def test_hl7_sdc_response_scores_10_not_its_claimed_13(
    psyq_cli: Callable[..., Any],
) -> None:
    path = FHIR / "hl7sdc__questionnaireresponse-sdc-profile-example-PHQ9.json"
    claimed = [
        a["valueQuantity"]["value"]
        for item in json.loads(path.read_text())["item"][0]["item"]
        for a in item["answer"]
        if "valueQuantity" in a
    ]
    assert claimed == [13]  # the file's own total, which is wrong
    result = psyq_cli("score", "phq9", "--answers-file", path, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["scores"]["total"]["value"] == 10
    assert doc["scores"]["total"]["band"] == "moderate"
    assert [f["id"] for f in doc["flags"]] == ["suicidal_ideation"]  # Q9 "Several days"


@needs_corpus
def test_hl7_sdc_response_is_not_gad7(psyq_cli: Callable[..., Any]) -> None:
    path = FHIR / "hl7sdc__questionnaireresponse-sdc-profile-example-PHQ9.json"
    result = psyq_cli("score", "gad7", "--answers-file", path)
    assert result.exit_code == 2
    assert "linkId 'H1/T1/Q1'" in result.output and "Traceback" not in result.output


def test_cli_reads_a_response_file(psyq_cli: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "qr.json"
    items = [coded(f"/{c}", 2) for c in PHQ9_LOINC[:8]] + [coded("/44260-8", 0)]
    path.write_text(json.dumps(response(items)))
    result = psyq_cli("score", "phq9", "--answers-file", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["scores"]["total"]["value"] == 16


def test_questionnaire_linkids_and_the_la18938_variant(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    gad7 = registry.get("gad7")
    url = "http://biodesign.stanford.edu/fhir/questionnaire/GAD-7"
    link = {c.code: i.id for i in gad7.items for c in i.codes if c.system == url}
    assert len(link) == 7
    items = [{"linkId": code, "answer": [{"valueInteger": 1}]} for code in link]
    got = parse_answers(psyq_pm, gad7, response(items, questionnaire=f"{url}|1.0"))
    assert set(got.values()) == {1}
    # The same linkIds without the Questionnaire they belong to are not trusted.
    with pytest.raises(AnswerError, match="no GAD-7 item matches"):
        parse_answers(psyq_pm, gad7, response(items))
    long_link = "x" * 70  # matched as written, shortened only in messages
    with pytest.raises(AnswerError, match=r"linkId ''x{57}'\.\.\.'"):
        parse_answers(
            psyq_pm, gad7, response([{"linkId": long_link, "answer": [{"valueInteger": 1}]}])
        )
    variant = {"valueCoding": {"code": "LA18938-3", "display": "More days than not"}}
    got = parse_answers(psyq_pm, gad7, response([{"linkId": "/68509-9", "answer": [variant]}]))
    assert got["gad7_2"] == 2


def test_long_linkids_match_as_written(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    data = registry.get("gad7").model_dump()
    url, link = "http://example.org/Questionnaire/q", "section-1/" + "y" * 70
    data["items"][0]["codes"].append({"system": url, "code": link})
    inst = Instrument.model_validate(data)
    items = [{"linkId": link, "answer": [{"valueInteger": 3}]}]
    assert parse_answers(psyq_pm, inst, response(items, questionnaire=url))["gad7_1"] == 3
