"""The ``fhir`` output format: a valid FHIR R4 Bundle that reads back to the same scores."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from psyq.manager import PsyqPluginManager
from psyq.models import Instrument
from psyq.outputs import RenderRequest, format_for_path, get_output_format
from psyq.plugins.answer_documents import parse_answers
from psyq.registry import InstrumentRegistry
from psyq.scoring import Scorer

QR_STATUS = {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
OBS_STATUS = {"registered", "preliminary", "final", "amended"}


def export(
    pm: PsyqPluginManager, inst: Instrument, answers: dict[str, Any], **meta: Any
) -> dict[str, Any]:
    result = Scorer(pm).score(inst, answers)
    fmt = get_output_format(pm, "fhir")
    data: dict[str, Any] = json.loads(
        fmt.render(RenderRequest(result=result, instrument=inst, **meta))
    )
    return data


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def check_bundle(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Structure checks of the FHIR R4 rules psyq relies on; resources by type.

    Every Bundle is also validated against the R4B models of ``fhir.resources``.
    """
    Bundle.model_validate(bundle)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(urls)) == len(urls) and all(u.startswith("urn:uuid:") for u in urls)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        by_type.setdefault(resource["resourceType"], []).append(resource)
    for qr in by_type["QuestionnaireResponse"]:
        assert qr["status"] in QR_STATUS
        for item in qr["item"]:
            assert item["linkId"] and len(item["answer"]) == 1
            (value_key,) = [k for k in item["answer"][0] if k.startswith("value")]
            assert value_key in {"valueCoding", "valueInteger"}
    for obs in by_type["Observation"]:
        assert obs["status"] in OBS_STATUS
        assert obs["code"].get("coding") or obs["code"].get("text")
        assert ("valueQuantity" in obs) != ("dataAbsentReason" in obs)
        assert obs["derivedFrom"]
    # Every reference resolves inside the bundle: nothing points outside it.
    refs = list(references(bundle))
    assert refs and set(refs) <= set(urls)
    return by_type


@pytest.fixture
def phq9(registry: InstrumentRegistry) -> Instrument:
    return registry.get("phq9")


def test_phq9_bundle(psyq_pm: PsyqPluginManager, phq9: Instrument) -> None:
    answers = dict(zip([i.id for i in phq9.items], [2, 2, 1, 1, 1, 1, 1, 1, 2, 3], strict=True))
    bundle = export(
        psyq_pm,
        phq9,
        answers,
        client_id="C-1",
        administered=date(2026, 10, 1),
        clinician="Dr A",
        generated_at=datetime(2026, 10, 1, 9, 30, tzinfo=UTC),
    )
    by_type = check_bundle(bundle)
    (qr,) = by_type["QuestionnaireResponse"]
    # One Observation per scale, the total first (PHQ-9 also has its PHQ-2 subscale).
    obs, *_subscales = by_type["Observation"]
    assert qr["status"] == "completed" and qr["authored"] == "2026-10-01"
    assert qr["subject"] == obs["subject"] == {"identifier": {"value": "C-1"}}
    item1 = qr["item"][0]["answer"][0]["valueCoding"]
    assert (item1["code"], item1["display"]) == ("LA6570-1", "More than half the days")
    assert obs["code"]["coding"] == [{"system": "http://loinc.org", "code": "44261-6"}]
    assert obs["valueQuantity"]["value"] == 12
    assert obs["interpretation"] == [{"text": "Moderate"}]
    assert obs["derivedFrom"] == [{"reference": bundle["entry"][0]["fullUrl"]}]
    assert obs["performer"] == [{"display": "Dr A"}]
    # Items 1, 2 and 9 count for the PHQ-9 algorithm: other depressive syndrome (info).
    critical, info = obs["component"]
    assert "suicidal_ideation" in critical["code"]["text"]
    assert "other_depressive_syndrome (info)" in info["code"]["text"]
    assert any(n["text"].startswith("CRITICAL (item phq9_9): ") for n in obs["note"])
    assert bundle["timestamp"] == "2026-10-01T09:30:00+00:00"


def test_same_administration_same_file(psyq_pm: PsyqPluginManager, phq9: Instrument) -> None:
    one = export(psyq_pm, phq9, {"phq9_1": 1}, client_id="C-1")
    assert one == export(psyq_pm, phq9, {"phq9_1": 1}, client_id="C-1")
    other = export(psyq_pm, phq9, {"phq9_1": 1}, client_id="C-2")
    assert one["entry"][0]["fullUrl"] != other["entry"][0]["fullUrl"]


def test_unscored_and_provisional(psyq_pm: PsyqPluginManager, registry: InstrumentRegistry) -> None:
    phq9 = registry.get("phq9")
    by_type = check_bundle(export(psyq_pm, phq9, {"phq9_1": 1}))
    assert by_type["QuestionnaireResponse"][0]["status"] == "in-progress"
    # One Observation per scale, the total first (PHQ-9 also has its PHQ-2 subscale).
    obs, *_subscales = by_type["Observation"]
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["text"].startswith("not scored: ")
    assert obs["dataAbsentReason"]["coding"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
            "code": "unknown",
            "display": "Unknown",
        }
    ]
    ccts = registry.get("ccts")
    answers = {item.id: 2 for item in ccts.items}
    by_type = check_bundle(export(psyq_pm, ccts, answers))
    assert len(by_type["Observation"]) == len(ccts.scales) > 1
    for obs in by_type["Observation"]:
        # No LOINC code for a provisional scale: psyq's own code system names it.
        (coding,) = obs["code"]["coding"]
        assert coding["system"] == "http://psyq.local/fhir/CodeSystem/scale"
        assert coding["code"].startswith("ccts.")
        assert obs["note"][0]["text"].startswith("Provisional instrument")


@pytest.mark.parametrize("instrument_id", ["phq9", "gad7", "who5", "ccts"])
def test_round_trip_gives_the_same_answers_and_scores(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry, instrument_id: str
) -> None:
    inst = registry.get(instrument_id)
    scorer = Scorer(psyq_pm)
    for k in range(4):
        answers: dict[str, Any] = {}
        for n, item in enumerate(inst.items):
            values = inst.response_scale_for(item).values
            answers[item.id] = None if (n + k) % 7 == 3 else values[(n * 3 + k) % len(values)]
        bundle = export(psyq_pm, inst, answers, client_id="C-9")
        back = parse_answers(psyq_pm, inst, bundle)
        assert back == scorer.score(inst, answers).answers
        assert scorer.score(inst, back).scores == scorer.score(inst, answers).scores


def test_fhir_suffix_beats_json(psyq_pm: PsyqPluginManager) -> None:
    fmt = format_for_path(psyq_pm, "c104.FHIR.json")
    assert fmt is not None and fmt.name == "fhir"
    plain = format_for_path(psyq_pm, "c104.json")
    assert plain is not None and plain.name == "json"


def test_report_command_writes_fhir(psyq_cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "c1.fhir.json"
    result = psyq_cli("report", "gad7", "--answers", "1,2,3,0,1,2,3", "--client", "C-1", "-o", out)
    assert result.exit_code == 0, result.output
    by_type = check_bundle(json.loads(out.read_text()))
    # One Observation per scale, the total first (PHQ-9 also has its PHQ-2 subscale).
    obs, *_subscales = by_type["Observation"]
    assert obs["code"]["coding"][0]["code"] == "70274-6" and obs["valueQuantity"]["value"] == 12
    again = psyq_cli("score", "gad7", "--answers-file", out, "--json")
    assert json.loads(again.output)["scores"]["total"]["value"] == 12
