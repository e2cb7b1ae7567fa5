"""The sex of the Patient a QuestionnaireResponse is about, when the input holds it.

AUDIT and AUDIT-C cut-offs depend on sex (``client_bands``). A response sent with
its Patient says it: in a Bundle beside it (a transaction, a document, a
searchset) or contained in the response itself. ``Patient.gender`` ``female`` or
``male`` is read as the client's sex; ``other``, ``unknown`` or no gender give no
sex, so the bands are the ones that assume neither, as when sex is not given.

The Patient is the one the response's ``subject`` names, found only within the
input (nothing is fetched):

* ``#id``: a Patient in the response's ``contained`` (HL7 R4 example 3141);
* a Bundle entry whose ``fullUrl`` is the reference (``urn:uuid:...``, or
  ``http://x/fhir/Patient/p1``), or whose Patient has the referenced id
  (``Patient/p1`` and ``http://x/fhir/Patient/p1`` alike);
* a subject given only by ``identifier``: the Bundle's Patient with that
  identifier (system and value).
"""

from __future__ import annotations

from typing import Any

from psyq.errors import AnswerError
from psyq.plugins.fhir.resources import JSON, as_list

SEX_OF_GENDER = {"female": "female", "male": "male"}
"""``Patient.gender`` -> the client's sex; any other gender gives none."""


def patient_sex(data: JSON, response: JSON) -> tuple[str, str] | None:
    """``(sex, where)`` from the response's Patient within ``data`` (``where``: the
    reference, for messages), or ``None`` when no such Patient, or no usable gender."""
    subject = response.get("subject")
    if not isinstance(subject, dict):
        return None
    found = _subject_patients(data, response, subject)
    where = _subject_text(subject)
    # A gender that is not a code (a list, an object) gives no sex; it made a set fail.
    genders = [p.get("gender") for p in found]
    sexes = {SEX_OF_GENDER.get(g) if isinstance(g, str) else None for g in genders}
    if len(sexes) > 1:
        raise AnswerError(
            f"the input holds {len(found)} Patients for subject '{where}' with different "
            "genders; send one"
        )
    sex = next(iter(sexes), None)
    return None if sex is None else (sex, where)


def _subject_patients(data: JSON, response: JSON, subject: JSON) -> list[JSON]:
    reference = subject.get("reference")
    if isinstance(reference, str) and reference.strip():
        reference = reference.strip()
        if reference.startswith("#"):
            return [
                r
                for r in _resources(as_list(response.get("contained")))
                if r.get("id") == reference[1:]
            ]
        return [
            resource
            for full_url, resource in _bundle_patients(data)
            if full_url == reference or _names(reference, resource)
        ]
    ident = subject.get("identifier")
    if isinstance(ident, dict) and isinstance(ident.get("value"), str):
        return [
            resource
            for _, resource in _bundle_patients(data)
            if any(_same_identifier(ident, own) for own in as_list(resource.get("identifier")))
        ]
    return []


def _resources(values: list[Any]) -> list[JSON]:
    return [v for v in values if isinstance(v, dict) and v.get("resourceType") == "Patient"]


def _bundle_patients(data: JSON) -> list[tuple[str, JSON]]:
    if data.get("resourceType") != "Bundle":
        return []
    out = []
    for entry in as_list(data.get("entry")):
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            full_url = entry.get("fullUrl")
            out.append((full_url.strip() if isinstance(full_url, str) else "", resource))
    return out


def _names(reference: str, patient: JSON) -> bool:
    """Whether a literal reference (``Patient/p1``, ``http://x/fhir/Patient/p1``,
    ``Patient/p1/_history/2``) names this Patient by its id."""
    ident = patient.get("id")
    if not isinstance(ident, str) or not ident:
        return False
    path = reference.split("/_history/", 1)[0]
    return path == f"Patient/{ident}" or path.endswith(f"/Patient/{ident}")


def _same_identifier(wanted: JSON, own: Any) -> bool:
    if not isinstance(own, dict) or own.get("value") != wanted.get("value"):
        return False
    system = wanted.get("system")
    return system is None or own.get("system") == system


def _subject_text(subject: JSON) -> str:
    reference = subject.get("reference")
    if isinstance(reference, str) and reference.strip():
        return reference.strip()[:80]
    ident = subject.get("identifier")
    value = ident.get("value") if isinstance(ident, dict) else None
    return f"identifier {str(value)[:60]}"
