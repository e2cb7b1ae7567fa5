"""Skip rules and ``enableWhen``, both ways.

``compile --to fhir`` writes an item's skip rule as the ``enableWhen`` (or SDC
``enableWhenExpression``) under which the form asks it; ``import-fhir`` turns an
``enableWhen`` back into the draft's skip rule. Round trip on the instruments with
skips (AUDIT, PC-PTSD-5, K10): every golden example scores exactly as the original,
through the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from fhir.resources.R4B.questionnaire import Questionnaire
from fhirpathpy import evaluate
from fhirpathpy.models import models

from psyq.manager import PsyqPluginManager
from psyq.models import Condition
from psyq.registry import InstrumentRegistry

from .conftest import SHARED
from .test_fhir_compile import response_for
from .test_fhir_import import choice, questionnaire

CLI = Callable[..., Result]
SKIPPING = ["audit", "pcptsd5", "k10"]
SKIP_EXTENSION = "http://psyq.local/fhir/StructureDefinition/skip"
ENABLE_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression"
)
AUDIT = SHARED / "corpus/fhir/uwcirg-asbi__1_Questionnaire-WHOAUDIT.json"


def compile_fhir(psyq_cli: CLI, instrument_id: str, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / f"{instrument_id}.json"
    result = psyq_cli("compile", instrument_id, "--to", "fhir", "-o", path)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(path.read_text())
    Questionnaire.model_validate(data)
    return data


def import_draft(psyq_cli: CLI, q: dict[str, Any], tmp_path: Path, name: str) -> Path:
    source = tmp_path / f"{name}.json"
    source.write_text(json.dumps(q))
    draft = tmp_path / f"{name}.yaml"
    result = psyq_cli("import-fhir", source, "--id", name, "-o", draft)
    assert result.exit_code == 0, result.output
    return draft


def scored(psyq_cli: CLI, instrument: str | Path, answers: dict[str, Any], tmp: Path) -> Any:
    answers_file = tmp / "answers.json"
    answers_file.write_text(json.dumps(answers))
    result = psyq_cli("score", instrument, "--answers-file", answers_file, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    return (
        {k: (v["value"], v["band"], v["answered"]) for k, v in data["scores"].items()},
        [f["id"] for f in data["flags"]],
        data.get("skipped"),
    )


def assert_scores_as_original(
    psyq_cli: CLI, registry: InstrumentRegistry, instrument_id: str, draft: Path, tmp: Path
) -> None:
    original = registry.get(instrument_id)
    assert original.examples
    for example in original.examples:
        answers = dict(example.answers)
        ours = scored(psyq_cli, instrument_id, answers, tmp)
        assert scored(psyq_cli, draft, answers, tmp) == ours, example.name


@pytest.mark.parametrize("instrument_id", SKIPPING)
def test_round_trip_keeps_skip_rules(
    psyq_cli: CLI, registry: InstrumentRegistry, tmp_path: Path, instrument_id: str
) -> None:
    q = compile_fhir(psyq_cli, instrument_id, tmp_path)
    draft = import_draft(psyq_cli, q, tmp_path, f"{instrument_id}_rt")
    items = {i["id"]: i for i in yaml.safe_load(draft.read_text())["items"]}
    for item in registry.get(instrument_id).items:
        expected = None if item.skip is None else item.skip.model_dump(exclude_defaults=True)
        got = items[item.id].get("skip")
        assert (got and {**got, "when": Condition.model_validate(got["when"])}) == (
            expected and {**expected, "when": item.skip.when if item.skip else None}
        ), item.id
    assert_scores_as_original(psyq_cli, registry, instrument_id, draft, tmp_path)


@pytest.mark.parametrize("instrument_id", ["pcptsd5", "k10"])
def test_enable_when_alone_gives_the_same_scores(
    psyq_cli: CLI, registry: InstrumentRegistry, tmp_path: Path, instrument_id: str
) -> None:
    """Another tool's form has no psyq extension: the enableWhen alone says the skips
    (each of these skips on one answer of one earlier item; the skipped score is the
    item's lowest answer, which is what both manuals score)."""
    q = compile_fhir(psyq_cli, instrument_id, tmp_path)
    gated = [i for i in q["item"] if "enableWhen" in i]
    assert gated and all(i["enableWhen"][0]["operator"] == "!=" for i in gated)
    for item in q["item"]:
        item["extension"] = [e for e in item.get("extension", []) if e["url"] != SKIP_EXTENSION]
    draft = import_draft(psyq_cli, q, tmp_path, f"{instrument_id}_ew")
    text = draft.read_text()
    assert "skip rule from its enableWhen" in " ".join(text.split())
    assert_scores_as_original(psyq_cli, registry, instrument_id, draft, tmp_path)


def test_audit_nested_skip_is_an_enable_when_expression(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, registry: InstrumentRegistry, tmp_path: Path
) -> None:
    """AUDIT items 4-8 (skipped after Never on 1, or 0 on both 2 and 3) need nested
    logic, which one enableWhen list cannot say: FHIRPath, checked with fhirpathpy."""
    q = compile_fhir(psyq_cli, "audit", tmp_path)
    by_link = {i["linkId"]: i for i in q["item"]}
    assert by_link["audit_2"]["enableWhen"] == [
        {
            "question": "audit_1",
            "operator": "!=",
            "answerCoding": by_link["audit_1"]["answerOption"][0]["valueCoding"],
        }
    ]
    item4 = by_link["audit_4"]
    assert "enableWhen" not in item4
    expression = next(e for e in item4["extension"] if e["url"] == ENABLE_EXPRESSION)
    audit = registry.get("audit")
    skip = audit.item("audit_4").skip
    assert skip is not None and skip.when is not None
    cases = [dict(e.answers) for e in audit.examples]
    cases += [
        {"audit_1": 1, "audit_2": 0, "audit_3": 0},
        {"audit_1": 1, "audit_2": 0, "audit_3": 1},
        {"audit_1": 0},
        {"audit_1": None, "audit_2": 0, "audit_3": 0},
        {},
    ]
    seen = set()
    for answers in cases:
        full = {i.id: answers.get(i.id) for i in audit.items}
        response = response_for(psyq_pm, audit, full)
        context = {"resource": response, "questionnaire": q}
        got = evaluate(
            response, expression["valueExpression"]["expression"], context, model=models["r4"]
        )
        skipped = full["audit_1"] == 0 or (full["audit_2"] == 0 and full["audit_3"] == 0)
        assert got == [not skipped], answers
        seen.add(skipped)
    assert seen == {True, False}


@pytest.mark.skipif(not AUDIT.is_file(), reason="shared FHIR corpus is not present")
def test_uwcirg_audit_skips_from_enable_when(psyq_cli: CLI, tmp_path: Path) -> None:
    """The uwcirg AUDIT in place: q2 is asked when q1 != Never and answered; so a blank q2
    after Never scores 0 (the manual's rule), and a blank q2 after Monthly is missing."""
    draft = tmp_path / "audit.yaml"
    result = psyq_cli("import-fhir", AUDIT, "-o", draft)
    assert result.exit_code == 0, result.output
    items = {i["id"]: i for i in yaml.safe_load(draft.read_text())["items"]}
    assert items["q2"]["skip"]["score"] == 0
    assert Condition.model_validate(items["q2"]["skip"]["when"]) == Condition.model_validate(
        {"any": [{"item": "q1", "op": "==", "value": 0}, {"item": "q1", "missing": True}]}
    )
    base = {f"q{n}": 1 for n in range(4, 11)} | {"q9": 0, "q10": 0}
    never = scored(psyq_cli, draft, base | {"q1": 0, "q3": 0}, tmp_path)
    assert never[2] == {"q2": 0.0}
    monthly = scored(psyq_cli, draft, base | {"q1": 2, "q3": 0}, tmp_path)
    assert monthly[2] in (None, {})
    assert monthly[0]["total"][2] == never[0]["total"][2] - 1  # q2 now counts as missing
    header = " ".join(draft.read_text().split())
    assert "enableWhen not converted" in header  # items gated on the unscored prescreen


def test_foreign_enable_when_shapes(psyq_cli: CLI, tmp_path: Path) -> None:
    """enableBehavior any/all, >=, exists and answerBoolean, in the shapes LHC-Forms' and
    HL7 SDC's published examples use (imitating lforms test_data/R4 enableWhen forms)."""
    gate = choice("gate", ["no", "yes"])
    freq = choice("freq", ["never", "sometimes", "often", "always"])
    a = {**choice("a", ["x", "y"]), "enableBehavior": "any", "enableWhen": [
        {"question": "freq", "operator": ">=", "answerInteger": 2},
        {"question": "gate", "operator": "=", "answerBoolean": True}]}  # fmt: skip
    b = {**choice("b", ["x", "y"]), "enableBehavior": "all", "enableWhen": [
        {"question": "gate", "operator": "exists", "answerBoolean": True},
        {"question": "freq", "operator": "!=", "answerCoding": {"code": "never"}}]}  # fmt: skip
    q = questionnaire([gate, freq, a, b], id="shapes")
    source = tmp_path / "q.json"
    source.write_text(json.dumps(q))
    draft = tmp_path / "shapes.yaml"
    assert psyq_cli("import-fhir", source, "-o", draft).exit_code == 0
    items = {i["id"]: i for i in yaml.safe_load(draft.read_text())["items"]}
    assert Condition.model_validate(items["a"]["skip"]["when"]) == Condition.model_validate(
        {"all": [
            {"any": [{"item": "freq", "op": "<", "value": 2}, {"item": "freq", "missing": True}]},
            {"any": [{"item": "gate", "op": "!=", "value": 1}, {"item": "gate", "missing": True}]},
        ]}
    )  # fmt: skip
    assert Condition.model_validate(items["b"]["skip"]["when"]) == Condition.model_validate(
        {"any": [{"item": "gate", "missing": True}, {"item": "freq", "op": "==", "value": 0}]}
    )
    # Scored: a blank a is skipped (scores 0) only when the form would not have asked it.
    assert scored(psyq_cli, draft, {"gate": 0, "freq": 1, "b": 1}, tmp_path)[2] == {"a": 0.0}
    assert scored(psyq_cli, draft, {"gate": 1, "freq": 1, "b": 1}, tmp_path)[2] in (None, {})
    assert scored(psyq_cli, draft, {"gate": 0, "freq": 3, "b": 1}, tmp_path)[2] in (None, {})
    assert scored(psyq_cli, draft, {"freq": 0, "a": 1}, tmp_path)[2] == {"b": 0.0}
