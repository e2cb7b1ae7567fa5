"""The FHIR R4 Bundle the ``fhir`` output format writes: the answers and the scores.

The Bundle (type ``collection``) holds one QuestionnaireResponse (the answers,
coded with the instrument's answer codes when it has them) and one
Observation per scale: the score as a ``valueQuantity`` (or a
``dataAbsentReason`` saying why it was not scored), the band as
interpretation text, the scale's LOINC code when known, and ``derivedFrom``
the QuestionnaireResponse. The instrument's notices are notes on every
Observation; flags raised are components (and notes) of the total's, and a
critical flag is a note on every Observation.

Entries are addressed by ``urn:uuid:`` URLs derived from the content, so the
same administration always gives the same file and every reference resolves
inside the Bundle. ``psyq score --answers-file`` reads the file back.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from psyq.alerts import alert_line
from psyq.plugins.fhir.questionnaire import PSYQ_FHIR, questionnaire_canonical
from psyq.plugins.fhir.resources import (
    JSON,
    TERMINOLOGIES,
    UCUM,
    coding_json,
)
from psyq.proration import proration_note
from psyq.results import band_shown, low_concern_bands

if TYPE_CHECKING:
    from psyq.models import Instrument, Scale
    from psyq.outputs import RenderRequest
    from psyq.results import ScaleScore, ScoreResult

ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
SCALE_CODES = f"{PSYQ_FHIR}/CodeSystem/scale"
"""psyq's code system for a score without a LOINC code: ``<instrument>.<scale>``."""
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
_REFERENCE = re.compile(
    r"(?:https?://[^\s/]+(?:/[^\s/]+)*/)?(?:Patient|Group|Person|RelatedPerson)/"
    r"[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?|urn:uuid:[0-9a-f-]{36}"
)


def subject(client_id: str) -> JSON:
    """A FHIR reference (``Patient/123``, a Patient URL) stays one; other ids are identifiers."""
    if _REFERENCE.fullmatch(client_id):
        return {"reference": client_id}
    return {"identifier": {"value": client_id}}


SURVEY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey",
            "display": "Survey",
        }
    ]
}


def fhir_bundle(request: RenderRequest, *, transaction: bool = False) -> JSON:
    """The Bundle for one scored administration (see the module docs).

    ``transaction``: a transaction Bundle a FHIR server accepts, every entry a
    ``POST`` of its resource type; the ``urn:uuid`` references between entries
    are resolved by the server to the ids it assigns.
    """
    import uuid  # here, not at import: few Bundles are written

    inst, result = request.instrument, request.result
    seed = json.dumps(
        [
            inst.id,
            inst.version,
            request.client_id,
            request.administered.isoformat() if request.administered else None,
            result.answers,
            # Only when known, so Bundles without a time keep the ids they always had.
            *([request.authored.isoformat()] if request.authored else []),
        ],
        sort_keys=True,
    )

    def full_url(kind: str) -> str:
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'psyq:{seed}:{kind}')}"

    common: JSON = {}
    if request.client_id:
        common["subject"] = subject(request.client_id)
    response_url = full_url("QuestionnaireResponse")
    entries: list[JSON] = [
        {"fullUrl": response_url, "resource": questionnaire_response(request, common)}
    ]
    for scale in inst.scales:
        resource = observation(request, scale, result.scores[scale.id], common, response_url)
        entries.append({"fullUrl": full_url(f"Observation/{scale.id}"), "resource": resource})
    if transaction:
        for entry in entries:
            posted: JSON = entry["resource"]
            entry["request"] = {"method": "POST", "url": posted["resourceType"]}
    bundle: JSON = {
        "resourceType": "Bundle",
        "type": "transaction" if transaction else "collection",
        "entry": entries,
    }
    when = request.generated_at
    if when is not None and when.tzinfo is not None:
        bundle["timestamp"] = when.isoformat()  # an instant needs a time zone
    return bundle


def is_partial(request: RenderRequest) -> bool:
    """A scored item is unanswered, or the store says the form was left unfinished.

    An unscored item (PHQ-9 item 10) left blank does not make a finished form
    partial.
    """
    if request.options.get("status") == "partial":
        return True
    answers = request.result.answers
    # An item the form itself skips (AUDIT after "Never": the item skip rule,
    # ``ScoreResult.skipped``) is not an unfinished answer.
    skipped = request.result.skipped
    return any(
        answers.get(item.id) is None and item.id not in skipped
        for item in request.instrument.items
        if item.scored
    )


def _when(request: RenderRequest) -> str | None:
    """The administration's date-time when known to the second, else its date."""
    moment = request.authored
    if moment is not None and moment.tzinfo is not None:
        # As precise as the input was: 20:36:57.544, not 20:36:57.544000.
        micro = moment.microsecond
        spec = "seconds" if not micro else "milliseconds" if not micro % 1000 else "microseconds"
        return moment.isoformat(timespec=spec)
    return request.administered.isoformat() if request.administered else None


def questionnaire_response(request: RenderRequest, common: JSON) -> JSON:
    inst, answers = request.instrument, request.result.answers
    resource: JSON = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire_canonical(inst),
        "status": "in-progress" if is_partial(request) else "completed",
        **common,
    }
    when = _when(request)
    if when:
        resource["authored"] = when
    resource["item"] = [
        {"linkId": item.id, "text": item.text, "answer": [_answer(inst, item.id, value)]}
        for item in inst.items
        if (value := answers.get(item.id)) is not None
    ]
    return resource


def _answer(inst: Instrument, item_id: str, value: int) -> JSON:
    scale = inst.response_scale_for(inst.item(item_id))
    option = next(o for o in scale.options if o.value == value)
    if not option.codes:
        return {"valueInteger": value}
    coding = coding_json(option.codes[0])
    coding["display"] = option.label
    coding["extension"] = [{"url": ORDINAL_VALUE, "valueDecimal": value}]
    return {"valueCoding": coding}


def observation(
    request: RenderRequest, scale: Scale, score: ScaleScore, common: JSON, response_url: str
) -> JSON:
    inst, result = request.instrument, request.result
    codings = [coding_json(c) for c in scale.codes if c.system in TERMINOLOGIES]
    if not codings:
        # No LOINC code for this score: psyq's own, so a server can still search by code.
        codings = [
            {
                "system": SCALE_CODES,
                "code": f"{inst.id}.{scale.id}",
                "display": f"{inst.short_name} {scale.label}",
            }
        ]
    code: JSON = {"coding": codings, "text": f"{inst.short_name} {scale.label}"}
    resource: JSON = {
        "resourceType": "Observation",
        # A score from a partial administration is not a final result (a server or
        # a clinician reading "final" would take it as the whole form's).
        "status": "preliminary" if is_partial(request) else "final",
        "category": [SURVEY],
        "code": code,
        **common,
    }
    when = _when(request)
    if when:
        resource["effectiveDateTime"] = when
    if request.clinician:
        resource["performer"] = [{"display": request.clinician}]
    if score.value is not None:
        resource["valueQuantity"] = {
            "value": score.value,
            "unit": "{score}",
            "system": UCUM,
            "code": "{score}",
        }
    else:
        resource["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT, "code": "unknown", "display": "Unknown"}],
            "text": f"not scored: {score.reason}",
        }
    if score.band_label:
        # Beside a critical flag, a band of low concern is the score's band only.
        marked = scale.id in low_concern_bands(inst, result, request.alert)
        shown = band_shown(score.band_label, marked)
        resource["interpretation"] = [{"text": shown}]
    notes: list[dict[str, str]] = []
    changed = request.options.get("changed_outside_psyq")
    if changed:  # a stored record edited outside psyq: said on every score it gives
        notes.append({"text": f"CHANGED OUTSIDE PSYQ: {changed}"})
    if scale.id == "total":  # the client's record around it changed outside psyq
        notes += [
            {"text": moved["problem"].removeprefix("!!! ")}
            for moved in request.options.get("left_client_outside_psyq", [])
        ]
        gap = request.options.get("audit_log_changed_outside_psyq")
        if gap:
            notes.append({"text": f"AUDIT LOG CHANGED OUTSIDE PSYQ: {gap}"})
        notes += [
            {
                "text": f"DELETED OUTSIDE PSYQ: administration {deleted['administration_id']} "
                f"({deleted['problem']}); this client's scores and trend may be missing it"
            }
            for deleted in request.options.get("deleted_outside_psyq", [])
        ]
        notes += [
            {
                "text": f"DELETED OUTSIDE PSYQ: {gone['record']} ({gone['problem']}); the "
                "answers, scores or client details it held are no longer shown"
            }
            for gone in request.options.get("records_deleted_outside_psyq", [])
        ]
    # A critical flag's note is worded as every one-line output words an alert.
    flag_notes = [
        {
            "text": alert_line(f)
            if f.level == "critical"
            else f"{f.level.upper()}{f.about()}: {f.message}"
        }
        for f in result.flags
    ]
    # A critical flag (this form's, then a later unfinished form's under report --latest)
    # is the first note a reader meets, before notices and proration, on every
    # Observation: a server or record system may show a subscale's (PHQ-2 "Negative
    # screen, score band only") without the total's.
    critical = [n for n, f in zip(flag_notes, result.flags, strict=True) if f.level == "critical"]
    notes += critical + [{"text": line} for line in request.later_alerts()]
    if scale.id == "total":
        # Answers psyq changed after saving them: what changed, and any critical flag
        # the earlier answers raised (a risk signal answered away is still said).
        notes += [{"text": line} for line in request.options.get("answer_version_lines", [])]
    notes += [{"text": notice} for notice in result.notices]
    prorated = proration_note(scale, score, request.alert)
    if prorated is not None:
        notes.append({"text": f"PRORATED: {prorated}."})
    if scale.id == "total" and result.flags:
        resource["component"] = [_flag_component(result, i) for i in range(len(result.flags))]
        notes += [n for n, f in zip(flag_notes, result.flags, strict=True) if f.level != "critical"]
    if notes:
        resource["note"] = notes
    resource["derivedFrom"] = [{"reference": response_url}]
    return resource


def _flag_component(result: ScoreResult, index: int) -> JSON:
    flag = result.flags[index]
    label = f"psyq flag {flag.id} ({flag.level}){flag.about()}"
    return {"code": {"text": label}, "valueString": flag.message}
