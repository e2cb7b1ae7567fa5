"""AUDIT-C / AUDIT cut-offs follow the sex of the FHIR Patient a QuestionnaireResponse
comes with: in its Bundle, or contained in the response.

The inputs imitate public files (written here, not copied):

* ``transaction`` imitates smart-on-fhir/generated-sample-data
  ``STU-3/CUSTOM/ahrq-depression-patient-phq9-pat-19.js``: a transaction Bundle whose
  Patient entry has ``fullUrl`` ``Patient/TEST-19`` and an identifier, and whose
  responses name it as ``subject.reference`` ``Patient/TEST-19``. That Patient has
  no ``gender`` (the ``None`` case below); the others add one.
* ``contained`` imitates the HL7 FHIR R4 QuestionnaireResponse example 3141
  (``questionnaireresponse-example.json``): a Patient ``patsub`` (gender male) in
  ``contained``, the subject ``#patsub``.
* ``urn_uuid`` imitates the HL7 FHIR R4 transaction example (``bundle-transaction.json``):
  new resources named by ``urn:uuid:`` fullUrls, referenced by them.

Expected bands come from the published cut-offs (see tests/test_client_sex.py):
AUDIT-C 3 is positive for women, negative for men, "positive for women only" unknown.
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

CLI = Callable[..., Result]

AUDITC_LOINC = ("68518-0", "68519-8", "68520-6")
BAND_OF_3 = {"female": "positive", "male": "negative", None: "women_positive"}
PATIENT_UUID = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"


def response(
    subject: dict[str, Any] | None, answers: tuple[int, ...] = (3, 0, 0)
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "authored": "2026-10-01T09:00:00+01:00",
        "item": [
            {"linkId": f"/{code}", "answer": [{"valueInteger": value}]}
            for code, value in zip(AUDITC_LOINC, answers, strict=True)
        ],
    }
    if subject is not None:
        out["subject"] = subject
    return out


def patient(gender: str | None, ident: str = "TEST-19") -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": ident,
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.6.1000", "value": ident}],
    }
    if gender is not None:
        out["gender"] = gender
    return out


def transaction(gender: str | None, reference: str = "Patient/TEST-19") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "Patient/TEST-19",
                "resource": patient(gender),
                "request": {"method": "PUT", "url": "Patient"},
            },
            {
                "fullUrl": "QuestionnaireResponse/767923",
                "resource": response({"reference": reference}),
                "request": {"method": "PUT", "url": "QuestionnaireResponse"},
            },
        ],
    }


def contained(gender: str) -> dict[str, Any]:
    out = response({"reference": "#patsub"})
    out["contained"] = [patient(gender, "patsub")]
    return out


def urn_uuid(gender: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": PATIENT_UUID,
                "resource": {"resourceType": "Patient", "gender": gender},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:88f151c0-a954-468a-88b8-6b24ec7ab3e2",
                "resource": response({"reference": PATIENT_UUID}),
                "request": {"method": "POST", "url": "QuestionnaireResponse"},
            },
        ],
    }


def by_identifier(gender: str) -> dict[str, Any]:
    bundle = transaction(gender)
    bundle["entry"][1]["resource"]["subject"] = {
        "identifier": {"system": "urn:oid:2.16.840.1.113883.6.1000", "value": "TEST-19"}
    }
    return bundle


def write(tmp_path: Path, doc: dict[str, Any], name: str = "qr.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def scored(psyq_cli: CLI, path: Path, *args: str) -> dict[str, Any]:
    out = psyq_cli("score", "auditc", "--answers-file", path, "--json", *args)
    assert out.exit_code == 0, out.output
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


@pytest.mark.parametrize(
    ("doc", "sex"),
    [
        (transaction("female"), "female"),
        (transaction("male"), "male"),
        (transaction(None), None),  # as the imitated file: no gender, no sex
        (transaction("other"), None),
        (transaction("unknown"), None),
        (contained("male"), "male"),
        (contained("female"), "female"),
        (urn_uuid("female"), "female"),
        (by_identifier("male"), "male"),
        # A server's full URL naming the Bundle's Patient by id.
        (transaction("female", "https://fhir.example.org/r4/Patient/TEST-19"), "female"),
        # The subject is a Patient the input does not hold: nothing is fetched.
        (transaction("female", "Patient/SOMEONE-ELSE"), None),
    ],
)
def test_the_band_follows_the_patients_gender(
    psyq_cli: CLI, tmp_path: Path, doc: dict[str, Any], sex: str | None
) -> None:
    result = scored(psyq_cli, write(tmp_path, doc))
    assert result["scores"]["total"]["value"] == 3
    assert result["scores"]["total"]["band"] == BAND_OF_3[sex]
    if sex is None:
        assert "client" not in result
        assert any("sex is not known" in n for n in result["notices"])
    else:
        assert result["client"] == {"sex": sex}


def test_an_agreeing_sex_is_fine_and_a_conflicting_one_is_one_line(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    path = write(tmp_path, transaction("female"))
    assert scored(psyq_cli, path, "--sex", "F")["scores"]["total"]["band"] == "positive"
    for args in (["--sex", "male"], ["--group", "sex=m"]):
        out = psyq_cli("score", "auditc", "--answers-file", path, *args)
        assert out.exit_code == 2, out.output
        [line] = out.stderr.strip().splitlines()
        assert str(path) in line and "Patient/TEST-19' has gender female" in line
        assert "is male" in line
    # A Patient without a usable gender leaves --sex to decide.
    path = write(tmp_path, transaction("unknown"))
    assert scored(psyq_cli, path, "--sex", "male")["scores"]["total"]["band"] == "negative"


def test_audit_zone_follows_the_patient(psyq_cli: CLI, tmp_path: Path) -> None:
    # AUDIT total 7: zone II for women (WHO cut-off 7), zone I for men.
    doc = transaction("female")
    doc["entry"][1]["resource"]["item"] = [
        {"linkId": f"audit_{n}", "answer": [{"valueInteger": v}]}
        for n, v in enumerate((3, 3, 1, 0, 0, 0, 0, 0, 0, 0), start=1)
    ]
    out = psyq_cli("score", "audit", "--answers-file", write(tmp_path, doc), "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["scores"]["total"]["band"] == "zone_ii"
    doc["entry"][0]["resource"]["gender"] = "male"
    out = psyq_cli("score", "audit", "--answers-file", write(tmp_path, doc), "--json")
    assert json.loads(out.stdout)["scores"]["total"]["band"] == "zone_i"


def test_report_reads_the_patient(psyq_cli: CLI, tmp_path: Path) -> None:
    path = write(tmp_path, contained("female"))
    html = tmp_path / "r.html"
    out = psyq_cli("report", "auditc", "--answers-file", path, "--client", "C1", "-o", html)
    assert out.exit_code == 0, out.output
    assert "cut-offs for clients with sex=female" in html.read_text()
    out = psyq_cli(
        "report", "auditc", "--answers-file", path, "--client", "C1", "--sex", "m", "-o", html
    )
    assert out.exit_code == 2 and "has gender female" in out.stderr


def test_record_keeps_the_patients_sex_and_refuses_a_conflict(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    out = psyq_cli(
        "record",
        "auditc",
        "--client",
        "C0042",
        "--answers-file",
        write(tmp_path, transaction("female")),
    )
    assert out.exit_code == 0, out.output
    assert "client C0042: sex female recorded from the FHIR Patient 'Patient/TEST-19'" in out.output
    shown = json.loads(psyq_cli("clients", "show", "C0042", "--json").output)
    assert shown["attributes"] == {"sex": "female"}
    [entry] = json.loads(psyq_cli("history", "C0042", "--json").output)
    assert entry["scores"]["total"]["band"] == "positive"
    # The recorded sex and a Patient saying otherwise: refused, nothing stored.
    male = write(tmp_path, transaction("male"), "m.json")
    out = psyq_cli("record", "auditc", "--client", "C0042", "--answers-file", male)
    assert out.exit_code == 2
    [line] = out.stderr.strip().splitlines()
    assert "has gender male, but client C0042's recorded sex is female" in line
    assert len(json.loads(psyq_cli("history", "C0042", "--json").output)) == 1
    # A later rescore keeps the band: the sex is the client's recorded one.
    assert psyq_cli("rescore").exit_code == 0
    [entry] = json.loads(psyq_cli("history", "C0042", "--json").output)
    assert entry["scores"]["total"]["band"] == "positive"


def test_batch_rows_follow_each_patient(psyq_cli: CLI, tmp_path: Path) -> None:
    src = tmp_path / "in.ndjson"
    docs = [transaction("female"), contained("male"), transaction(None), urn_uuid("female")]
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "out"
    result = psyq_cli(
        "batch", src, "--instrument", "auditc", "--out", out, "--quiet", "--scores-only"
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((out / "scores.csv").read_text())))
    assert [r["total_band"] for r in rows] == ["positive", "negative", "women_positive", "positive"]


def test_a_sex_recorded_as_unknown_is_answered_by_the_patient(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    assert psyq_cli("clients", "set", "C0077", "--sex", "unknown").exit_code == 0
    path = write(tmp_path, transaction("female"))
    # `unknown` given on the command line is no disagreement either.
    assert scored(psyq_cli, path, "--sex", "unknown")["scores"]["total"]["band"] == "positive"
    out = psyq_cli("record", "auditc", "--client", "C0077", "--answers-file", path)
    assert out.exit_code == 0, out.output
    assert (
        "client C0077: sex female recorded from the FHIR Patient 'Patient/TEST-19' "
        "(it was recorded as unknown)" in out.output
    )
    shown = json.loads(psyq_cli("clients", "show", "C0077", "--json").output)
    assert shown["attributes"] == {"sex": "female"}
    [entry] = json.loads(psyq_cli("history", "C0077", "--json").output)
    assert entry["scores"]["total"]["band"] == "positive"
    # The change is in the audit trail, and the earlier value is kept as a version.
    log = psyq_cli("audit", "log")
    assert log.exit_code == 0, log.output
    lines = [" ".join(line.split()[3:-1]) for line in log.output.splitlines()]
    assert lines[-3:-1] == ["supersede client version 1", "set client client C0077"]
