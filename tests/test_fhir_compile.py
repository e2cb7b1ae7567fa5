"""``psyq compile --to fhir``: the Questionnaire, its FHIRPath, and the round trip
compile -> import-fhir -> the same scores for every golden example."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaire import Questionnaire
from fhirpathpy import evaluate
from fhirpathpy.models import models

from psyq.manager import PsyqPluginManager
from psyq.models import Instrument
from psyq.outputs import RenderRequest, get_output_format
from psyq.registry import InstrumentRegistry, load_instrument_file
from psyq.scoring import Scorer

CLI = Callable[..., Result]
BUILT_IN = ["phq9", "gad7", "who5", "ccts"]
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
CALCULATED = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"


def compiled(psyq_cli: CLI, instrument_id: str, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / f"{instrument_id}.json"
    result = psyq_cli("compile", instrument_id, "--to", "fhir", "-o", path)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(path.read_text())
    return path, data


@pytest.mark.parametrize("instrument_id", BUILT_IN)
def test_compiled_questionnaire_is_valid_r4(
    psyq_cli: CLI, registry: InstrumentRegistry, tmp_path: Path, instrument_id: str
) -> None:
    _, data = compiled(psyq_cli, instrument_id, tmp_path)
    Questionnaire.model_validate(data)  # raises on anything R4B does not allow
    inst = registry.get(instrument_id)
    assert data["url"] == f"http://psyq.local/fhir/Questionnaire/{instrument_id}"
    assert data["version"] == inst.version
    by_link = {i["linkId"]: i for i in data["item"]}
    for item in inst.items:
        q_item = by_link[item.id]
        options = q_item["answerOption"]
        assert [o["extension"][0]["valueDecimal"] for o in options] == [
            o.value for o in inst.response_scale_for(item).options
        ]
        unscored = [e for e in q_item.get("extension", []) if e["url"].endswith("/unscored")]
        assert bool(unscored) == (not item.scored)
    for scale in inst.scales:
        q_item = by_link[f"score:{scale.id}"]
        assert q_item["readOnly"] is True and q_item["type"] == "decimal"
        assert {e["url"] for e in q_item["extension"]} >= {VARIABLE, CALCULATED}


def test_phq9_questionnaire_keeps_loinc_codes(psyq_cli: CLI, tmp_path: Path) -> None:
    _, data = compiled(psyq_cli, "phq9", tmp_path)
    by_link = {i["linkId"]: i for i in data["item"]}
    assert by_link["phq9_1"]["code"] == [{"system": "http://loinc.org", "code": "44250-9"}]
    first = by_link["phq9_1"]["answerOption"][0]["valueCoding"]
    assert (first["code"], first["display"]) == ("LA6568-5", "Not at all")
    assert by_link["score:total"]["code"][0]["code"] == "44261-6"
    assert "suicidal_ideation" in data["description"]


def response_for(pm: PsyqPluginManager, inst: Instrument, answers: dict[str, Any]) -> Any:
    """psyq's own QuestionnaireResponse for ``answers`` (what `report --format fhir` writes)."""
    result = Scorer(pm).score(inst, answers)
    raw = get_output_format(pm, "fhir").render(RenderRequest(result=result, instrument=inst))
    bundle = json.loads(raw)
    Bundle.model_validate(bundle)
    return bundle["entry"][0]["resource"]


def fhirpath_score(q: dict[str, Any], response: Any, scale_id: str) -> float | None:
    """Evaluate one scale's variable and calculatedExpression with fhirpathpy."""
    item = next(i for i in q["item"] if i["linkId"] == f"score:{scale_id}")
    exts = {e["url"]: e["valueExpression"] for e in item["extension"] if "valueExpression" in e}
    context = {"resource": response, "questionnaire": q}
    variable = exts[VARIABLE]
    context[variable["name"]] = evaluate(
        response, variable["expression"], context, model=models["r4"]
    )
    got = evaluate(response, exts[CALCULATED]["expression"], context, model=models["r4"])
    assert len(got) <= 1
    return float(Decimal(got[0])) if got else None


@pytest.mark.parametrize("instrument_id", BUILT_IN)
def test_fhirpath_gives_the_golden_scores(
    psyq_cli: CLI,
    psyq_pm: PsyqPluginManager,
    registry: InstrumentRegistry,
    tmp_path: Path,
    instrument_id: str,
) -> None:
    """A real FHIRPath engine computes every golden example's scores from the response."""
    _, q = compiled(psyq_cli, instrument_id, tmp_path)
    inst = registry.get(instrument_id)
    checked = 0
    for example in inst.examples:
        response = response_for(psyq_pm, inst, dict(example.answers))
        assert response["questionnaire"] == f"{q['url']}|{q['version']}"
        for scale_id, expected in example.expect.scores.items():
            assert fhirpath_score(q, response, scale_id) == expected, (example.name, scale_id)
            checked += 1
    assert checked >= len(inst.examples)


def test_fhirpath_by_hand(psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path) -> None:
    """Worked by hand: WHO-5 3,3,2,4,1 -> 13 x 4 = 52; PHQ-9 with two missing prorates."""
    _, who5_q = compiled(psyq_cli, "who5", tmp_path)
    registry = InstrumentRegistry(psyq_pm)
    who5 = registry.get("who5")
    answers = dict(zip([i.id for i in who5.items], [3, 3, 2, 4, 1], strict=True))
    assert fhirpath_score(who5_q, response_for(psyq_pm, who5, answers), "total") == 52
    answers["who5_5"] = None  # WHO-5 allows no missing item
    assert fhirpath_score(who5_q, response_for(psyq_pm, who5, answers), "total") is None
    _, phq9_q = compiled(psyq_cli, "phq9", tmp_path)
    phq9 = registry.get("phq9")
    given = [1, 2, 3, None, 1, 0, None, 2, 0]  # 9 answered-sum over 7: 9 x 9 / 7 = 11.57 -> 12
    answers = {f"phq9_{n}": v for n, v in enumerate(given, 1)}
    assert fhirpath_score(phq9_q, response_for(psyq_pm, phq9, answers), "total") == 12


@pytest.mark.parametrize("instrument_id", BUILT_IN)
def test_round_trip_scores_every_golden_example_as_the_original(
    psyq_cli: CLI,
    psyq_pm: PsyqPluginManager,
    registry: InstrumentRegistry,
    tmp_path: Path,
    instrument_id: str,
) -> None:
    path, _ = compiled(psyq_cli, instrument_id, tmp_path)
    draft_path = tmp_path / "draft.yaml"
    imported = psyq_cli("import-fhir", path, "--id", f"{instrument_id}_rt", "-o", draft_path)
    assert imported.exit_code == 0, imported.output
    draft = load_instrument_file(psyq_pm, draft_path)
    original = registry.get(instrument_id)
    assert [i.id for i in draft.items] == [i.id for i in original.items]
    assert [i.scored for i in draft.items] == [i.scored for i in original.items]
    assert [i.reverse for i in draft.items] == [i.reverse for i in original.items]
    assert {s.id for s in draft.scales} == {s.id for s in original.scales}
    assert {f.id for f in draft.flags} == {f.id for f in original.flags}
    scorer = Scorer(psyq_pm)
    assert original.examples
    for example in original.examples:
        ours = scorer.score(original, dict(example.answers))
        theirs = scorer.score(draft, dict(example.answers))
        for scale in original.scales:
            assert theirs.scores[scale.id].value == ours.scores[scale.id].value, example.name
            assert theirs.scores[scale.id].band == ours.scores[scale.id].band, example.name
        assert [f.id for f in theirs.flags] == [f.id for f in ours.flags], example.name
    # The draft also scores by path, without a plugin.
    answers = ",".join("0" for _ in original.items)
    scored = psyq_cli("score", draft_path, "--answers", answers, "--json")
    assert scored.exit_code == 0, scored.output


def test_compile_takes_a_path_and_refuses_to_overwrite(
    psyq_cli: CLI, tmp_path: Path, minimal_yaml: str
) -> None:
    source = tmp_path / "mini.yaml"
    source.write_text(minimal_yaml)
    out = tmp_path / "mini.json"
    assert psyq_cli("compile", source, "--to", "fhir", "-o", out).exit_code == 0
    data = json.loads(out.read_text())
    Questionnaire.model_validate(data)
    total = next(i for i in data["item"] if i["linkId"] == "score:total")
    variable = next(e for e in total["extension"] if e["url"] == VARIABLE)
    # m3 is reverse-keyed on 0-2: written as (0 + 2 - value).
    assert (
        "(2 - (%questionnaire.item.where(linkId='m3')" in variable["valueExpression"]["expression"]
    )
    again = psyq_cli("compile", source, "--to", "fhir", "-o", out)
    assert again.exit_code == 2 and "exists" in again.output
