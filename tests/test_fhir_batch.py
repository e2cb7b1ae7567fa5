"""`psyq batch` over NDJSON of FHIR QuestionnaireResponses (FHIR Bulk Data style)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

from psyq.manager import PsyqPluginManager
from psyq.outputs import RenderRequest, get_output_format
from psyq.registry import InstrumentRegistry
from psyq.scoring import Scorer

from .cohorts import read_csv
from .conftest import SHARED

CLI = Callable[..., Result]
HL7_QR = SHARED / "corpus/fhir/hl7sdc__questionnaireresponse-sdc-profile-example-PHQ9.json"


def exported_response(pm: PsyqPluginManager, answers: dict[str, Any]) -> dict[str, Any]:
    """A QuestionnaireResponse as psyq's own fhir format writes it."""
    inst = InstrumentRegistry(pm).get("phq9")
    result = Scorer(pm).score(inst, answers)
    raw = get_output_format(pm, "fhir").render(RenderRequest(result=result, instrument=inst))
    response: dict[str, Any] = json.loads(raw)["entry"][0]["resource"]
    return response


def test_ndjson_of_responses_runs_through_batch(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    lines = []
    for k in range(5):
        response = exported_response(psyq_pm, {f"phq9_{i}": (i + k) % 4 for i in range(1, 10)})
        response["subject"] = {"identifier": {"value": f"P{k}"}}
        response["authored"] = f"2026-03-0{k + 1}T10:00:00Z"
        lines.append(response)
    bad = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "subject": {"reference": "Patient/x"},
        "item": [{"linkId": "Q-odd", "answer": [{"valueInteger": 1}]}],
    }
    lines.insert(2, bad)
    lines.append({"resourceType": "Patient", "id": "p"})
    if HL7_QR.is_file():  # the HL7 SDC example, read in place: it must score 10
        lines.append(json.loads(HL7_QR.read_text(encoding="utf-8")))
    src = tmp_path / "responses.ndjson"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    result = psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet"
    )
    assert result.exit_code == 1, result.output  # two bad lines
    scores = read_csv(out / "scores.csv")
    scorer = Scorer(psyq_pm)
    phq9 = InstrumentRegistry(psyq_pm).get("phq9")
    expected = [
        str(scorer.score(phq9, {f"phq9_{i}": (i + k) % 4 for i in range(1, 10)}).total.value)
        for k in range(5)
    ]
    assert [s["client_id"] for s in scores[:5]] == [f"P{k}" for k in range(5)]
    assert [s["total"] for s in scores[:5]] == expected
    assert [s["date"] for s in scores[:5]] == [f"2026-03-0{k + 1}" for k in range(5)]
    if HL7_QR.is_file():
        assert scores[5]["client_id"] == "http://hl7.org/fhir/Patient/proband"
        assert scores[5]["total"] == "10"
    errors = read_csv(out / "errors.csv")
    assert [e["row"] for e in errors] == ["3", "7"]
    assert "linkId 'Q-odd'" in errors[0]["reason"]
    assert "a FHIR Patient holds no answers" in errors[1]["reason"]
