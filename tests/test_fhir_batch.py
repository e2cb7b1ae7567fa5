"""`psyq batch` over NDJSON of FHIR QuestionnaireResponses (FHIR Bulk Data style)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from fhir.resources.R4B.bundle import Bundle

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


def phq9_ndjson(pm: PsyqPluginManager) -> list[dict[str, Any]]:
    """Five responses as psyq writes them (answers (i + k) % 4), one bad line, one Patient."""
    lines = []
    for k in range(5):
        response = exported_response(pm, {f"phq9_{i}": (i + k) % 4 for i in range(1, 10)})
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
    return lines


def run_batch(psyq_cli: CLI, tmp_path: Path, lines: list[dict[str, Any]]) -> Result:
    src = tmp_path / "responses.ndjson"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", tmp_path / "out", "--scores-only", "--quiet"
    )


def test_ndjson_of_responses_runs_through_batch(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    result = run_batch(psyq_cli, tmp_path, phq9_ndjson(psyq_pm))
    assert result.exit_code == 1, result.output  # two bad lines
    out = tmp_path / "out"
    scores = read_csv(out / "scores.csv")
    scorer = Scorer(psyq_pm)
    phq9 = InstrumentRegistry(psyq_pm).get("phq9")
    expected = [
        str(scorer.score(phq9, {f"phq9_{i}": (i + k) % 4 for i in range(1, 10)}).total.value)
        for k in range(5)
    ]
    assert [s["client_id"] for s in scores] == [f"P{k}" for k in range(5)]
    assert [s["total"] for s in scores] == expected
    # By hand: k=0 answers 1,2,3,0,1,2,3,0,1 = 13; k=1 2,3,0,1,2,3,0,1,2 = 14;
    # k=2 3,0,1,2,3,0,1,2,3 = 15; k=3 0,1,2,3,0,1,2,3,0 = 12; k=4 repeats k=0 = 13.
    assert [s["total"] for s in scores] == ["13", "14", "15", "12", "13"]
    assert [s["date"] for s in scores] == [f"2026-03-0{k + 1}" for k in range(5)]
    errors = read_csv(out / "errors.csv")
    assert [e["row"] for e in errors] == ["3", "7"]
    assert "linkId 'Q-odd'" in errors[0]["reason"]
    assert errors[0]["client_id"] == "Patient/x"  # the refused response's subject
    assert "a FHIR Patient holds no answers" in errors[1]["reason"]


@pytest.mark.skipif(not HL7_QR.is_file(), reason="shared FHIR corpus is not present")
def test_hl7_example_response_in_a_batch_scores_10(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    lines = phq9_ndjson(psyq_pm)
    lines.append(json.loads(HL7_QR.read_text(encoding="utf-8")))  # read in place
    result = run_batch(psyq_cli, tmp_path, lines)
    assert result.exit_code == 1, result.output  # the same two bad lines
    scores = read_csv(tmp_path / "out" / "scores.csv")
    assert scores[5]["client_id"] == "http://hl7.org/fhir/Patient/proband"
    # The HL7 example's answers 0,0,0,1,2,1,3,2,1 sum to 10.
    assert scores[5]["total"] == "10"


def test_batch_fhir_output_keeps_references_and_validates(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    response = exported_response(psyq_pm, {f"phq9_{i}": 1 for i in range(1, 10)})
    response["subject"] = {"reference": "Patient/123"}
    src = tmp_path / "in.ndjson"
    src.write_text(json.dumps(response) + "\n")
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--quiet",
                      "--format", "fhir,fhir-transaction", "--summary", "html")  # fmt: skip
    assert result.exit_code == 0, result.output
    (collection,) = sorted((out / "reports").glob("*.fhir.json"))
    (transaction,) = sorted((out / "reports").glob("*.fhir-transaction.json"))
    for path, kind in ((collection, "collection"), (transaction, "transaction")):
        bundle = json.loads(path.read_text())
        Bundle.model_validate(bundle)
        assert bundle["type"] == kind
        for entry in bundle["entry"]:
            assert entry["resource"]["subject"] == {"reference": "Patient/123"}
            assert entry["fullUrl"].startswith("urn:uuid:")
            if kind == "transaction":
                assert entry["request"] == {
                    "method": "POST",
                    "url": entry["resource"]["resourceType"],
                }
            else:
                assert "request" not in entry
    # PHQ-9 all ones: 9, mild (5-9).
    obs = json.loads(collection.read_text())["entry"][1]["resource"]
    assert obs["valueQuantity"]["value"] == 9
