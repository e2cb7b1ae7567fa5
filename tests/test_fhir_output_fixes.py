"""FHIR output through the CLI: authored keeps its time, ``--format fhir --transaction``,
and a partial administration is never a final result."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from fhir.resources.R4B.bundle import Bundle

from psyq.manager import PsyqPluginManager

from .conftest import SHARED
from .test_fhir_batch import exported_response

CLI = Callable[..., Result]
HL7_QR = SHARED / "corpus/fhir/hl7sdc__questionnaireresponse-sdc-profile-example-PHQ9.json"
ONES = {f"phq9_{i}": 1 for i in range(1, 10)}


def resources(path: Path, kind: str = "collection") -> dict[str, list[dict[str, Any]]]:
    """The Bundle at ``path``, validated with fhir.resources (R4B); resources by type."""
    bundle = json.loads(path.read_text())
    Bundle.model_validate(bundle)
    assert bundle["type"] == kind
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        if kind == "transaction":
            assert entry["fullUrl"].startswith("urn:uuid:")
            assert entry["request"] == {"method": "POST", "url": entry["resource"]["resourceType"]}
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return by_type


def moments(by_type: dict[str, list[dict[str, Any]]]) -> set[str]:
    """Every authored / effectiveDateTime in the Bundle."""
    (response,) = by_type["QuestionnaireResponse"]
    return {response.get("authored", "")} | {
        o.get("effectiveDateTime", "") for o in by_type["Observation"]
    }


# -- item 14: authored keeps its time ----------------------------------------------------


def test_batch_fhir_output_keeps_the_authored_time(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    authored = {
        "A": "2026-03-01T10:15:30+01:00",
        "B": "2026-03-02T23:59:59.250-05:00",  # the date by its own zone, not UTC's
        "C": "2026-03-03",  # a date only stays a date
        "D": "2026-03-04T08:00:00",  # no zone: not a FHIR instant, the date is kept
    }
    lines = []
    for client, when in authored.items():
        response = exported_response(psyq_pm, ONES)
        response.update(subject={"identifier": {"value": client}}, authored=when)
        lines.append(json.dumps(response) + "\n")
    src = tmp_path / "in.ndjson"
    src.write_text("".join(lines))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--quiet",
                      "--format", "fhir", "--summary", "html", "--jobs", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    # Reports are still named by the date alone.
    names = sorted(p.name for p in (out / "reports").iterdir())
    assert names == [
        "A_phq9_2026-03-01.fhir.json",
        "B_phq9_2026-03-02.fhir.json",
        "C_phq9_2026-03-03.fhir.json",
        "D_phq9_2026-03-04.fhir.json",
    ]
    expected = {
        "A": "2026-03-01T10:15:30+01:00",
        "B": "2026-03-02T23:59:59.250-05:00",
        "C": "2026-03-03",
        "D": "2026-03-04",
    }
    for client, when in expected.items():
        by_type = resources(out / "reports" / f"{client}_phq9_{when[:10]}.fhir.json")
        assert moments(by_type) == {when}, client


@pytest.mark.skipif(not HL7_QR.is_file(), reason="shared FHIR corpus is not present")
def test_hl7_response_authored_time_reaches_the_bundle(psyq_cli: CLI, tmp_path: Path) -> None:
    """The HL7 SDC PHQ-9 example (authored 2019-08-21T20:36:57.544Z), read in place."""
    src = tmp_path / "in.ndjson"
    src.write_text(json.dumps(json.loads(HL7_QR.read_text(encoding="utf-8"))) + "\n")
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--quiet",
                      "--format", "fhir", "--summary", "html", "--jobs", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    (path,) = (out / "reports").iterdir()
    assert path.name.endswith("_phq9_2019-08-21.fhir.json")
    assert moments(resources(path)) == {"2019-08-21T20:36:57.544+00:00"}


def test_csv_date_time_column_reaches_the_bundle(psyq_cli: CLI, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    items = ",".join(f"phq9_{i}" for i in range(1, 10))
    src.write_text(
        f"client_id,date,{items}\n"
        "C1,2026-05-06T07:08:09Z,1,1,1,1,1,1,1,1,1\n"
        "C2,2026-05-07,1,1,1,1,1,1,1,1,1\n"
    )
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--quiet",
                      "--format", "fhir", "--summary", "html", "--jobs", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    (c1,) = (out / "reports").glob("C1_*.fhir.json")
    (c2,) = (out / "reports").glob("C2_*.fhir.json")
    assert moments(resources(c1)) == {"2026-05-06T07:08:09+00:00"}
    assert moments(resources(c2)) == {"2026-05-07"}


# -- item 15: --format fhir --transaction ------------------------------------------------


def test_batch_format_fhir_transaction(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    response = exported_response(psyq_pm, ONES)
    response.update(subject={"reference": "Patient/123"}, authored="2026-03-01T10:00:00Z")
    src = tmp_path / "in.ndjson"
    src.write_text(json.dumps(response) + "\n")
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--quiet",
                      "--format", "fhir,json", "--transaction", "--summary", "html")  # fmt: skip
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (out / "reports").iterdir())
    assert names == ["Patient-123_phq9_2026-03-01.fhir-transaction.json",
                     "Patient-123_phq9_2026-03-01.json"]  # fmt: skip
    by_type = resources(out / "reports" / names[0], "transaction")
    # One Observation per scale: the total (LOINC 44261-6) and the PHQ-2 subscale.
    values = {
        o["code"]["coding"][0]["code"]: o["valueQuantity"]["value"] for o in by_type["Observation"]
    }
    assert values == {"44261-6": 9, "55758-7": 2}  # nine ones; items 1-2
    assert moments(by_type) == {"2026-03-01T10:00:00+00:00"}


def test_report_and_score_take_transaction(psyq_cli: CLI, tmp_path: Path) -> None:
    answers = "1,2,3,0,1,2,3"  # GAD-7 total 12
    named = tmp_path / "a.json"
    result = psyq_cli("report", "gad7", "--answers", answers, "--client", "C-7",
                      "--format", "fhir", "--transaction", "-o", named)  # fmt: skip
    assert result.exit_code == 0, result.output
    by_type = resources(named, "transaction")
    assert by_type["Observation"][0]["valueQuantity"]["value"] == 12
    by_suffix = tmp_path / "b.fhir.json"
    result = psyq_cli("report", "gad7", "--answers", answers, "--client", "C-7",
                      "--transaction", "-o", by_suffix)  # fmt: skip
    assert result.exit_code == 0, result.output
    resources(by_suffix, "transaction")
    alias = tmp_path / "c.json"
    result = psyq_cli("report", "gad7", "--answers", answers, "--client", "C-7",
                      "--format", "fhir-transaction", "-o", alias)  # fmt: skip
    assert result.exit_code == 0, result.output
    same, alias_bundle = json.loads(named.read_text()), json.loads(alias.read_text())
    del same["timestamp"], alias_bundle["timestamp"]  # when each was written
    assert alias_bundle == same  # the alias writes the same Bundle
    printed = psyq_cli("score", "gad7", "--answers", answers, "--format", "fhir", "--transaction")
    assert printed.exit_code == 0, printed.output
    bundle = json.loads(printed.output)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"


def test_transaction_without_fhir_is_a_usage_error(psyq_cli: CLI, tmp_path: Path) -> None:
    result = psyq_cli("report", "gad7", "--answers", "1,2,3,0,1,2,3", "--client", "C1",
                      "--transaction", "-o", tmp_path / "r.html")  # fmt: skip
    assert result.exit_code == 2
    assert "--transaction applies to --format fhir (the format here: html)" in result.output
    assert not (tmp_path / "r.html").exists()
    src = tmp_path / "in.csv"
    src.write_text("client_id,gad7_1,gad7_2,gad7_3,gad7_4,gad7_5,gad7_6,gad7_7\nC1,1,1,1,1,1,1,1\n")
    batch = psyq_cli("batch", src, "--instrument", "gad7", "--out", tmp_path / "o",
                     "--format", "json", "--transaction")  # fmt: skip
    assert batch.exit_code == 2
    assert "--transaction applies to --format fhir" in batch.output
    administer = psyq_cli("administer", "gad7", "--client", "C1", "--transaction", input="1\n")
    assert administer.exit_code == 2
    assert "--transaction applies to a FHIR --report" in administer.output


def test_administer_report_transaction(psyq_cli: CLI, tmp_path: Path) -> None:
    report = tmp_path / "c1.fhir.json"
    lines = "1\n2\n0\n1\n1\n0\n2\n1\n0\n1\n"  # PHQ-9 total 8, item 10 answered
    result = psyq_cli("administer", "phq9", "--client", "C0042", "--report", report,
                      "--transaction", input=lines)  # fmt: skip
    assert result.exit_code == 0, result.output
    by_type = resources(report, "transaction")
    assert by_type["Observation"][0]["valueQuantity"]["value"] == 8
    assert by_type["QuestionnaireResponse"][0]["status"] == "completed"


# -- safety: a partial administration is preliminary ---------------------------------------


def statuses(by_type: dict[str, list[dict[str, Any]]]) -> tuple[str, set[str]]:
    (response,) = by_type["QuestionnaireResponse"]
    return response["status"], {o["status"] for o in by_type["Observation"]}


def test_unanswered_scored_item_makes_observations_preliminary(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    partial = tmp_path / "partial.yaml"
    partial.write_text("".join(f"phq9_{i}: 1\n" for i in range(1, 10) if i != 3))
    out = tmp_path / "partial.fhir.json"
    result = psyq_cli("report", "phq9", "--answers-file", partial, "--client", "C1", "-o", out)
    assert result.exit_code == 0, result.output
    by_type = resources(out)
    assert statuses(by_type) == ("in-progress", {"preliminary"})
    # Prorated or not, the score is there, and so is the word that it is not final.
    assert by_type["Observation"][0].get("valueQuantity") is not None
    # Only the unscored item 10 left blank: a whole form, final.
    whole = tmp_path / "whole.fhir.json"
    result = psyq_cli("report", "phq9", "--answers", "1,1,1,1,1,1,1,1,1", "--client", "C1",
                      "-o", whole)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert statuses(resources(whole)) == ("completed", {"final"})


def test_stored_partial_administration_is_preliminary(psyq_cli: CLI, tmp_path: Path) -> None:
    stopped = psyq_cli("administer", "gad7", "--client", "C0001", input="3\n1\n")
    assert stopped.exit_code == 1  # the form stopped after two items
    out = tmp_path / "stored.fhir.json"
    result = psyq_cli("report", "--administration", "1", "-o", out, "--transaction")
    assert result.exit_code == 0, result.output
    assert statuses(resources(out, "transaction")) == ("in-progress", {"preliminary"})
