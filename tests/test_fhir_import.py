"""``psyq import-fhir``: public FHIR Questionnaires become provisional psyq drafts.

The corpus files (../shared/corpus/fhir, read in place) were written by others and
each exercises one difficulty; built Questionnaires cover the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from psyq.manager import PsyqPluginManager
from psyq.models import Instrument
from psyq.plugins.answer_documents import parse_answers
from psyq.registry import InstrumentRegistry, load_instrument_file
from psyq.scoring import Scorer

from .conftest import SHARED

FHIR = SHARED / "corpus" / "fhir"
needs_corpus = pytest.mark.skipif(not FHIR.is_dir(), reason="shared FHIR corpus is not present")
CLI = Callable[..., Any]
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"


def import_draft(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, source: Path, tmp_path: Path
) -> tuple[Instrument, str]:
    """Run the command; the draft must pass `psyq validate` (with no golden examples)."""
    out = tmp_path / "draft.yaml"
    result = psyq_cli("import-fhir", source, "-o", out)
    assert result.exit_code == 0, result.output
    validated = psyq_cli("validate", out)
    assert validated.exit_code == 0, validated.output
    assert "no golden examples" in validated.output
    text = out.read_text(encoding="utf-8")
    return load_instrument_file(psyq_pm, out), text


def header(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.startswith("#"))


def total(pm: PsyqPluginManager, inst: Instrument, value: int) -> Any:
    return Scorer(pm).score(inst, {i.id: value for i in inst.items}).total.value


@needs_corpus
def test_lforms_phq9_item_10_without_values_is_skipped_and_reported(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    inst, text = import_draft(psyq_cli, psyq_pm, FHIR / "lforms__test_data_R4_phq9.json", tmp_path)
    assert inst.status == "provisional" and inst.licence == "UNKNOWN: check before use"
    assert len(inst.items) == 9 and not inst.examples
    assert [c.code for c in inst.codes] == ["44249-1"]
    assert inst.item("q1").codes[0].code == "44250-9"
    assert inst.response_scale_for(inst.item("q1")).options[0].codes[0].code == "LA6568-5"
    assert [c.code for c in inst.total.codes] == ["44261-6"]
    head = header(text)
    assert "/69722-7" in head and "no ordinalValue" in head
    # LHC-Forms' total (one variable per item, blanks as 0 once any is answered) is read.
    assert "'/44261-6': its FHIRPath read as a sum of 9 items (q1, q2" in head
    assert "no golden examples" in head
    assert total(psyq_pm, inst, 3) == 27
    assert inst.total.missing.min_answered == 1


@needs_corpus
def test_lforms_phq9_total_agrees_with_a_fhirpath_engine(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    """The original expression, run by fhirpathpy in the test only, and the draft agree."""
    from fhirpathpy import evaluate
    from fhirpathpy.models import models

    source = FHIR / "lforms__test_data_R4_phq9.json"
    inst, _ = import_draft(psyq_cli, psyq_pm, source, tmp_path)
    q = json.loads(source.read_text(encoding="utf-8"))
    node = next(i for i in q["item"] if i["linkId"] == "/44261-6")
    expressions = [e["valueExpression"] for e in node["extension"] if "valueExpression" in e]
    links = [c.code for i in inst.items for c in i.codes if c.system == "http://loinc.org"]
    options = {o["valueCoding"]["code"]: o for o in q["item"][0]["answerOption"]}
    codes = list(options)
    # The form marks every item required, so psyq scores complete answer sets only.
    cases = [[0] * 9, [3] * 9, [1, 2, 0, 3, 1, 0, 2, 3, 1]]
    for answers in cases:
        response = {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "item": [
                {"linkId": f"/{link}", "answer": [{"valueCoding": {"code": codes[a]}}]}
                for link, a in zip(links, answers, strict=True)
                if a is not None
            ],
        }
        context: dict[str, Any] = {"resource": response, "questionnaire": q}
        for expression in expressions:
            got = evaluate(response, expression["expression"], context, model=models["r4"])
            if "name" in expression:
                context[expression["name"]] = got
        engine = int(got[0])
        ours = Scorer(psyq_pm).score(inst, {f"q{n}": a for n, a in enumerate(answers, 1)})
        assert ours.total.value == engine, answers
    assert engine == 13  # by hand: 1+2+0+3+1+0+2+3+1


@needs_corpus
def test_hl7_sdc_phq9_contained_value_set_and_its_response(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    source = FHIR / "hl7sdc__questionnaire-sdc-profile-example-PHQ9.json"
    inst, text = import_draft(psyq_cli, psyq_pm, source, tmp_path)
    assert inst.licence.startswith("This content is an unaltered digital reproduction")
    options = inst.response_scale_for(inst.item("q5")).options
    assert [(o.value, o.codes[0].code) for o in options] == [
        (0, "Not-at-all"),
        (1, "Several-days"),
        (2, "More than half the days"),  # the odd codes are kept as they are
        (3, "Nearly every day"),
    ]
    url = "http://hl7.org/fhir/uv/sdc/Questionnaire/questionnaire-sdc-profile-example-PHQ9"
    assert [c.model_dump() for c in inst.item("q9").codes] == [
        {"system": url, "code": "H1/T1/Q9", "display": None}
    ]
    head = " ".join(line.lstrip("# ") for line in header(text).splitlines())
    assert "%resource.answers().value.ordinal().sum()" in head
    # The source's own description of its bands is quoted for the person adding them,
    # typo included (19-14 for 10-14): the draft itself has no bands.
    assert "19-14: Moderate" in head and not inst.total.bands
    # The example's own response, read with the draft: 10, not the 13 it claims.
    qr = json.loads(
        (FHIR / "hl7sdc__questionnaireresponse-sdc-profile-example-PHQ9.json").read_text()
    )
    answers = parse_answers(psyq_pm, inst, qr)
    assert Scorer(psyq_pm).score(inst, answers).total.value == 10


@needs_corpus
def test_uwcirg_phq9_item_10_is_asked_not_summed(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, registry: InstrumentRegistry, tmp_path: Path
) -> None:
    """Its CQL total is not run, but the form names it a "9 item total score" and nine
    items share the same answers: the difficulty item (LOINC 69722-7) is not summed, so
    the draft's totals are the PHQ-9's (it used to add item 10)."""
    source = FHIR / "uwcirg-asbi__1_Questionnaire-PHQ9.json"
    inst, text = import_draft(psyq_cli, psyq_pm, source, tmp_path)
    assert len(inst.items) == 10
    q10 = inst.item("q10")
    assert [c.code for c in q10.codes if c.system == "http://loinc.org"] == ["69722-7"]
    assert q10.scored is False and inst.total.items == [f"q{n}" for n in range(1, 10)]
    head = " ".join(line.lstrip("#").strip() for line in header(text).splitlines())
    assert "a 9-item score and 9 items share the same answers: items q10" in head
    assert "IS included in the total" not in head
    assert "text/cql" in head and "ScoreFullPhq9" in head
    phq9 = registry.get("phq9")
    scorer = Scorer(psyq_pm)
    for example in phq9.examples:
        answers = dict(example.answers)
        if any(answers.get(f"phq9_{n}") is None for n in range(1, 10)):
            continue  # the draft has no proration rule (the form states none)
        mapped = {f"q{n}": answers.get(f"phq9_{n}") for n in range(1, 11)}
        theirs = scorer.score(inst, mapped).total.value
        assert theirs == scorer.score(phq9, answers).total.value, example.name
    assert "Draft converted" in inst.notice  # shown on every output


@needs_corpus
def test_uwcirg_gad7_answer_code_variant(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    source = FHIR / "uwcirg-asbi__1_Questionnaire-GAD7.json"
    inst, _ = import_draft(psyq_cli, psyq_pm, source, tmp_path)
    q2 = inst.response_scale_for(inst.item("q2"))
    assert [(o.value, o.codes[0].code) for o in q2.options][2] == (2, "LA18938-3")
    assert [c.code for c in inst.total.codes if c.system == "http://loinc.org"] == ["70274-6"]
    # No url: linkIds are kept under the resource id, as responses on a server name it.
    system = "urn:psyq:fhir:Questionnaire/CIRG-GAD7"
    assert [c.code for c in inst.item("q1").codes if c.system == system] == ["/69725-0"]
    assert total(psyq_pm, inst, 3) == 21


@needs_corpus
def test_researchkit_gad7_uuid_linkids(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    inst, text = import_draft(psyq_cli, psyq_pm, FHIR / "researchkitonfhir__GAD-7.json", tmp_path)
    assert [i.id for i in inst.items] == [f"q{k}" for k in range(1, 8)]
    assert inst.item("q1").codes[0].code == "2bab9480-5251-4997-8a2e-937a1701cfe9"
    assert "no calculated total" in header(text)
    assert total(psyq_pm, inst, 2) == 14


@needs_corpus
def test_uwcirg_audit_zero_two_four_items(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    source = FHIR / "uwcirg-asbi__1_Questionnaire-WHOAUDIT.json"
    inst, text = import_draft(psyq_cli, psyq_pm, source, tmp_path)
    assert len(inst.items) == 10
    assert inst.response_scale_for(inst.item("q9")).values == [0, 2, 4]
    assert inst.bounds("total") == (0, 40)
    head = header(text)
    assert "prescreen-question" in head and "pregnancy-question" in head  # yes/no: skipped
    assert "auditc-score" in head and "audit-score" in head
    assert "asked only under a condition" in head
    assert inst.licence.startswith("(C) 2020 The MITRE Corporation")


@needs_corpus
def test_invalid_json_is_one_line_naming_the_line(psyq_cli: CLI, tmp_path: Path) -> None:
    source = FHIR / "uwcirg-fhirq__deprecated_GAD-7.INVALID_JSON.json"
    out = tmp_path / "draft.yaml"
    result = psyq_cli("import-fhir", source, "-o", out)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert f"{source}:7:7: not valid JSON" in result.output
    assert "end of line 6" in result.output  # where the comma is missing
    assert not out.exists()


def questionnaire(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Questionnaire", "status": "draft", "item": items, **extra}


def choice(link_id: str, codes: list[str], ordinals: bool = True) -> dict[str, Any]:
    options = []
    for n, code in enumerate(codes):
        option: dict[str, Any] = {"valueCoding": {"code": code, "display": code.title()}}
        if ordinals:
            option["extension"] = [{"url": ORDINAL, "valueDecimal": n}]
        options.append(option)
    return {"linkId": link_id, "type": "choice", "text": link_id, "answerOption": options}


def test_integer_codes_and_unconverted_items(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    source = tmp_path / "q.json"
    items = [
        choice("a", ["0", "1", "2"], ordinals=False),  # integer codes are values
        choice("b", ["no", "yes"], ordinals=False),  # no values: skipped
        {"linkId": "c", "type": "string", "text": "Name"},
        {"linkId": "d", "type": "choice", "answerValueSet": "http://example.org/vs"},
    ]
    source.write_text(json.dumps(questionnaire(items, name="Tiny", copyright="CC0")))
    inst, text = import_draft(psyq_cli, psyq_pm, source, tmp_path)
    # Item ids are the linkIds when every converted linkId is a psyq id.
    assert [i.id for i in inst.items] == ["a"] and inst.licence == "CC0"
    head = header(text)
    assert "item b" in head and "item c" in head
    assert "http://example.org/vs" in head and "fetches nothing" in head


def test_refusals(psyq_cli: CLI, tmp_path: Path) -> None:
    cases = {
        "patient.json": ({"resourceType": "Patient"}, "a FHIR Patient, not a Questionnaire"),
        "none.json": (questionnaire([choice("b", ["no", "yes"], False)]), "nothing psyq can"),
        "deep.json": (json.loads("[" * 40 + "]" * 40), "nesting is deeper than"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_text(json.dumps(data))
        result = psyq_cli("import-fhir", path)
        assert result.exit_code == 2 and message in result.output, result.output
    comma = tmp_path / "comma.json"
    comma.write_text('{\n  "resourceType": "Questionnaire"\n  "status": "draft"\n}\n')
    result = psyq_cli("import-fhir", comma)
    assert result.exit_code == 2
    assert f"{comma}:3:3: not valid JSON" in result.output and "end of line 2" in result.output
    big = tmp_path / "big.json"
    big.write_text(json.dumps(questionnaire([], description="x" * 2_000_000)))
    result = psyq_cli("import-fhir", big)
    assert result.exit_code == 2 and "larger than" in result.output
    good = tmp_path / "good.json"
    good.write_text(json.dumps(questionnaire([choice("x", ["a", "b"])])))
    existing = tmp_path / "draft.yaml"
    existing.write_text("mine")
    result = psyq_cli("import-fhir", good, "-o", existing)
    assert result.exit_code == 2 and "exists" in result.output
    assert existing.read_text() == "mine"
    assert psyq_cli("import-fhir", good, "-o", existing, "--force").exit_code == 0
    assert existing.read_text().startswith("# psyq instrument DRAFT")


def test_draft_yaml_is_plain_data(psyq_cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "q.json"
    source.write_text(json.dumps(questionnaire([choice("x", ["a", "b"])], id="My-Form.v2")))
    result = psyq_cli("import-fhir", source)
    assert result.exit_code == 0
    data = yaml.safe_load(result.output)
    assert data["id"] == "my_form_v2" and data["status"] == "provisional"
    assert data["scales"][0]["items"] == ["x"]


@pytest.mark.skipif(not (FHIR / "lforms__test_data_R4_ValueSet_yesnodontknow.json").is_file(),
                    reason="shared FHIR corpus is not present")  # fmt: skip
def test_value_set_given_beside_the_questionnaire(psyq_cli: CLI, tmp_path: Path) -> None:
    """LHC-Forms' yes/no/don't-know form names its ValueSet by URL; the file is given."""
    q = FHIR / "lforms__test_data_R4_q-with-answerValueSet-radiobutton-checkbox.json"
    vs = FHIR / "lforms__test_data_R4_ValueSet_yesnodontknow.json"
    alone = psyq_cli("import-fhir", q)
    assert alone.exit_code == 2 and "nothing psyq can score" in alone.output
    given = psyq_cli("import-fhir", q, "--value-set", vs)
    assert given.exit_code == 2  # Yes/No have no numbers: still nothing to score
    assert "nothing psyq can score" in given.output
    notvs = tmp_path / "not-vs.json"
    notvs.write_text(json.dumps({"resourceType": "Patient"}))
    refused = psyq_cli("import-fhir", q, "--value-set", notvs)
    assert refused.exit_code == 2 and "--value-set takes a FHIR ValueSet" in refused.output


def test_value_set_by_url_with_expansion_weights_and_a_missing_answer(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    """The pattern of SDC forms whose answers come from a ValueSet by canonical URL, weighted
    in ``expansion.contains`` with ``itemWeight``, with an "Unable to evaluate" answer (as
    in clinician-rated scales such as the NIH Stroke Scale on LHC-Forms)."""
    weight = "http://hl7.org/fhir/StructureDefinition/itemWeight"
    concepts = [
        ("0", "None", 0),
        ("1", "Mild", 1),
        ("2", "Severe", 2),
        ("UN", "Unable to evaluate", None),
    ]
    value_set = {
        "resourceType": "ValueSet",
        "url": "http://example.org/fhir/ValueSet/severity",
        "status": "active",
        "expansion": {
            "timestamp": "2026-01-01T00:00:00Z",
            "contains": [
                {"system": "http://example.org/cs/sev", "code": code, "display": label}
                | ({"extension": [{"url": weight, "valueDecimal": w}]} if w is not None else {})
                for code, label, w in concepts
            ],
        },
    }
    items = [
        {"linkId": f"s{n}", "type": "choice", "text": f"Sign {n}",
         "answerValueSet": "http://example.org/fhir/ValueSet/severity|1.0"}
        for n in range(1, 4)
    ]  # fmt: skip
    source = tmp_path / "q.json"
    source.write_text(json.dumps(questionnaire(items, copyright="CC0")))
    vs_path = tmp_path / "vs.json"
    vs_path.write_text(json.dumps(value_set))
    draft_path = tmp_path / "draft.yaml"
    result = psyq_cli("import-fhir", source, "--value-set", vs_path, "-o", draft_path)
    assert result.exit_code == 0, result.output
    inst = load_instrument_file(psyq_pm, draft_path)
    options = inst.response_scale_for(inst.item("s1")).options
    assert [(o.value, o.label, o.missing) for o in options] == [
        (0, "None", False), (1, "Mild", False), (2, "Severe", False),
        (777, "Unable to evaluate", True),
    ]  # fmt: skip
    assert "counts as missing" in header(draft_path.read_text())
    # By hand: 2 + 1 with s3 unable to evaluate: one item missing, the draft allows none.
    scored = Scorer(psyq_pm).score(inst, {"s1": 2, "s2": 1, "s3": 777})
    assert scored.scores["total"].value is None
    assert Scorer(psyq_pm).score(inst, {"s1": 2, "s2": 1, "s3": 0}).scores["total"].value == 3


def test_typed_total_keeps_its_loinc_code_and_repeats_are_named(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    """Forms that ask a clinician to type the total (an integer item with the LOINC total
    code, as uwcirg's screening forms and many paper-derived forms do)."""
    items = [
        choice("a", ["n", "s", "m"]),
        choice("b", ["n", "s", "m"]),
        {**choice("c", ["x", "y"]), "repeats": True},
        {"linkId": "score", "type": "integer", "text": "PHQ total",
         "code": [{"system": "http://loinc.org", "code": "44261-6"}]},
    ]  # fmt: skip
    source = tmp_path / "q.json"
    source.write_text(json.dumps(questionnaire(items, url="http://example.org/Q/typed")))
    inst, text = import_draft(psyq_cli, psyq_pm, source, tmp_path)
    assert [i.id for i in inst.items] == ["a", "b"]
    assert inst.total.label == "PHQ total"
    assert [c.code for c in inst.total.codes] == ["44261-6", "score"]
    head = header(text)
    assert "'score' is a score a person types in" in head
    assert "item c 'c' repeats" in head
    # A response's typed total is ignored: psyq computes 1 + 2 = 3 itself.
    response = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": "http://example.org/Q/typed",
        "item": [
            {"linkId": "a", "answer": [{"valueInteger": 1}]},
            {"linkId": "b", "answer": [{"valueInteger": 2}]},
            {"linkId": "score", "answer": [{"valueInteger": 9}]},
        ],
    }
    answers = parse_answers(psyq_pm, inst, response)
    assert Scorer(psyq_pm).score(inst, answers).total.value == 3


def test_linkids_of_a_questionnaire_without_url_score_its_responses(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """A form stored on a server with an id but no canonical url; its responses name it
    ``Questionnaire/<id>`` and use its own linkIds."""
    items = [{**choice(f"item-{k}", ["n", "s", "m"]), "text": f"Item {k}"} for k in (1, 2)]
    source = tmp_path / "q.json"
    source.write_text(json.dumps(questionnaire(items, id="clinic-form")))
    draft = tmp_path / "draft.yaml"
    assert psyq_cli("import-fhir", source, "-o", draft).exit_code == 0
    head = " ".join(header(draft.read_text()).replace("#", " ").split())
    assert "its linkIds are kept as codes of urn:psyq:fhir:Questionnaire/clinic-form" in head
    qr = tmp_path / "qr.json"
    answers = [{"linkId": "item-1", "answer": [{"valueInteger": 2}]},
               {"linkId": "item-2", "answer": [{"valueInteger": 1}]}]  # fmt: skip
    response = {"resourceType": "QuestionnaireResponse", "status": "completed",
                "questionnaire": "Questionnaire/clinic-form", "item": answers}  # fmt: skip
    qr.write_text(json.dumps(response))
    result = psyq_cli("score", draft, "--answers-file", qr, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scores"]["total"]["value"] == 3  # 2 + 1


def test_an_item_no_score_uses_is_not_summed(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    """An SDC total over ``ordinal()`` of two items, beside a category question with integer
    codes (the "1=Bleeding ... 9=Other" pattern of adverse-event forms)."""
    calc = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
    total_expression = (
        "%resource.item.where(linkId='a').answer.value.ordinal() + "
        "%resource.item.where(linkId='b').answer.value.ordinal()"
    )
    category = choice("c", [str(k) for k in range(1, 10)], ordinals=False)
    items = [
        choice("a", ["n", "s", "m"]),
        choice("b", ["n", "s", "m"]),
        category,
        {"linkId": "t", "type": "integer", "text": "Score", "readOnly": True,
         "extension": [{"url": calc, "valueExpression": {"language": "text/fhirpath",
                                                          "expression": total_expression}}]},
    ]  # fmt: skip
    source = tmp_path / "q.json"
    source.write_text(json.dumps(questionnaire(items)))
    inst, text = import_draft(psyq_cli, psyq_pm, source, tmp_path)
    assert [(i.id, i.scored) for i in inst.items] == [("a", True), ("b", True), ("c", False)]
    assert inst.total.items == ["a", "b"] and inst.total.label == "Score"
    assert "items c are in no calculated score" in " ".join(header(text).split())
    # a + b = 2 + 1; the category answer 9 is not added.
    assert Scorer(psyq_pm).score(inst, {"a": 2, "b": 1, "c": 9}).total.value == 3
