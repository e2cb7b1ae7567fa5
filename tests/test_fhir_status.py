"""A FHIR QuestionnaireResponse's ``status`` says whether the form was finished.

``in-progress`` and ``stopped`` are an unfinished form: psyq shows and stores it as a
partial administration, as it does a form stopped in ``psyq administer`` (the PARTIAL
mark, ``partial`` in JSON, history and export, ``in-progress``/``preliminary`` in FHIR
out). ``completed`` and ``amended`` are complete. ``entered-in-error``, a missing status
(FHIR requires one) and an unknown one are refused in one line.

The responses are the HL7 SDC PHQ-9 example (read in place from the shared corpus) with
its status changed; every scored item is answered, item 9 at 1, so nothing but the
status says the form was unfinished.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from .cohorts import read_csv
from .conftest import SHARED

CLI = Callable[..., Result]
HL7_QR = SHARED / "corpus/fhir/hl7sdc__questionnaireresponse-sdc-profile-example-PHQ9.json"
pytestmark = pytest.mark.skipif(not HL7_QR.is_file(), reason="shared FHIR corpus is not present")


def response(status: str | None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(HL7_QR.read_text(encoding="utf-8"))
    if status is None:
        del data["status"]
    else:
        data["status"] = status
    return data


def written(tmp_path: Path, status: str | None, name: str = "qr.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(response(status)), encoding="utf-8")
    return path


def statuses(path: Path) -> list[str]:
    return [entry["resource"]["status"] for entry in json.loads(path.read_text())["entry"]]


@pytest.mark.parametrize("status", ["in-progress", "stopped"])
def test_an_unfinished_response_is_partial_everywhere(
    psyq_cli: CLI, tmp_path: Path, status: str
) -> None:
    qr = written(tmp_path, status)
    scored = psyq_cli("score", "phq9", "--answers-file", qr)
    assert scored.exit_code == 0, scored.output
    assert "PARTIAL" in scored.output and "!!! CRITICAL" in scored.output
    doc = json.loads(psyq_cli("score", "phq9", "--answers-file", qr, "--json").output)
    assert doc["report"]["status"] == "partial"
    assert doc["flags"][0]["id"] == "suicidal_ideation"
    # Written out again, it is still an unfinished form: not "completed", not "final".
    out = tmp_path / "again.fhir.json"
    made = psyq_cli("report", "phq9", "--answers-file", qr, "--client", "C1", "-o", out)
    assert made.exit_code == 0, made.output
    assert "PARTIAL" in made.output
    assert statuses(out) == ["in-progress", "preliminary", "preliminary"]

    recorded = psyq_cli("record", "phq9", "--client", "C0001", "--answers-file", qr)
    assert recorded.exit_code == 0, recorded.output
    assert "PARTIAL" in recorded.output
    history = psyq_cli("history", "C0001")
    assert "no complete administrations" in history.output
    assert "partial: administration 1" in history.output
    assert "CRITICAL (item phq9_9)" in history.output
    (entry,) = json.loads(psyq_cli("history", "C0001", "--json").output)
    assert entry["administration"]["status"] == "partial"
    # export leaves partial administrations out unless asked, and marks them when asked.
    left_out = psyq_cli("export")
    assert left_out.stdout.count("\n") == 1  # the header only
    # ... and says that the partial form it left out raises a critical flag.
    assert "!!! CRITICAL: 1 partial administration(s) left out" in left_out.stderr
    rows = list(csv.DictReader(io.StringIO(psyq_cli("export", "--include-partial").output)))
    assert [(r["status"], r["flags"]) for r in rows] == [("partial", "suicidal_ideation")]
    stored = tmp_path / "stored.fhir.json"
    assert psyq_cli("report", "--administration", "1", "-o", stored).exit_code == 0
    assert statuses(stored) == ["in-progress", "preliminary", "preliminary"]


@pytest.mark.parametrize("status", ["completed", "amended"])
def test_a_finished_response_is_complete(psyq_cli: CLI, tmp_path: Path, status: str) -> None:
    qr = written(tmp_path, status)
    assert "PARTIAL" not in psyq_cli("score", "phq9", "--answers-file", qr).output
    recorded = psyq_cli("record", "phq9", "--client", "C0001", "--answers-file", qr)
    assert recorded.exit_code == 0, recorded.output
    assert "PARTIAL" not in recorded.output
    (entry,) = json.loads(psyq_cli("history", "C0001", "--json").output)
    assert entry["administration"]["status"] == "complete"
    out = tmp_path / "stored.fhir.json"
    assert psyq_cli("report", "--administration", "1", "-o", out).exit_code == 0
    assert statuses(out) == ["completed", "final", "final"]


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("entered-in-error", "status is entered-in-error"),
        (None, "has no status (FHIR requires one of"),
        ("draft", "status 'draft' is not a FHIR R4 status"),
    ],
)
def test_a_response_recorded_in_error_or_without_a_known_status_is_refused(
    psyq_cli: CLI, tmp_path: Path, status: str | None, said: str
) -> None:
    qr = written(tmp_path, status)
    for command in (
        ("score", "phq9", "--answers-file", qr),
        ("record", "phq9", "--client", "C0001", "--answers-file", qr),
        ("report", "phq9", "--answers-file", qr, "--client", "C1", "-o", tmp_path / "r.json"),
    ):
        result = psyq_cli(*command)
        assert result.exit_code == 2, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith(f"psyq: error: {qr}: QuestionnaireResponse") and said in line
    assert "no clients yet" in psyq_cli("clients").output  # nothing stored
    assert not (tmp_path / "r.json").exists()


def test_batch_names_unfinished_and_erroneous_responses_per_row(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    lines = []
    for k, status in enumerate(["completed", "in-progress", "entered-in-error", "stopped"]):
        data = response(status)
        data["subject"] = {"identifier": {"value": f"P{k}"}}
        lines.append(json.dumps(data) + "\n")
    src = tmp_path / "responses.ndjson"
    src.write_text("".join(lines))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
                      "--quiet")  # fmt: skip
    assert result.exit_code == 1, result.output  # rows refused
    # Said on the terminal too, --quiet or not.
    assert "!!! CRITICAL: 2 row(s) not scored name a critical item" in result.output
    assert [s["client_id"] for s in read_csv(out / "scores.csv")] == ["P0"]
    errors = {e["client_id"]: e["reason"] for e in read_csv(out / "errors.csv")}
    assert set(errors) == {"P1", "P2", "P3"}
    assert "in-progress or stopped (an unfinished form)" in errors["P1"]
    assert "in-progress or stopped (an unfinished form)" in errors["P3"]
    # Not scored, but its risk item is said, with its answer (item 9 is at 1 here).
    assert "row 2: CRITICAL item phq9_9 answered 1 (Several days): act on it." in errors["P1"]
    assert "row 4: CRITICAL item phq9_9 answered 1 (Several days): act on it." in errors["P3"]
    assert "entered-in-error" in errors["P2"]
