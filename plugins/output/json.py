"""The ``json`` output format: ``psyq score --json`` plus report metadata when given."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from psyq.hookspecs import hookimpl
from psyq.text import json_visible

if TYPE_CHECKING:
    from psyq.outputs import OutputFormat, RenderRequest


def json_document(request: RenderRequest) -> dict[str, Any]:
    from psyq.results import low_concern_bands, with_band_notes

    result = request.result
    alert = request.alert
    doc = with_band_notes(result.to_json(), low_concern_bands(request.instrument, result, alert))
    meta = {
        "client_id": request.client_id,
        "administered": request.administered.isoformat() if request.administered else None,
        "clinician": request.clinician,
        "note": request.note,
        "generated_at": request.generated_at.isoformat() if request.generated_at else None,
    }
    if request.options.get("status"):  # a stored administration: partial or complete
        meta["status"] = request.options["status"]
    for key in (
        "changed_outside_psyq",
        "earlier_changed_outside_psyq",
        "other_changed_outside_psyq",
        "deleted_outside_psyq",
        "records_deleted_outside_psyq",
        "left_client_outside_psyq",
        "audit_log_changed_outside_psyq",
        "answer_versions",
    ):
        if request.options.get(key):  # a stored record edited outside psyq
            meta[key] = request.options[key]
    for key in ("later_critical", "later_changed_outside_psyq"):
        if request.options.get(key):  # --latest: unfinished forms after it
            meta[key] = request.options[key]
    if any(v is not None for v in meta.values()):
        # After the instrument, before the flags and scores: a partial status and a
        # later unfinished form's critical flag come before any score, as in every format.
        doc = {"instrument": doc.pop("instrument"), "report": meta, **doc}
    return doc


def render_json(request: RenderRequest) -> bytes:
    text = json.dumps(json_document(request), indent=2, ensure_ascii=False)
    return (json_visible(text) + "\n").encode()


@hookimpl
def psyq_output_formats() -> list[OutputFormat]:
    from psyq.outputs import OutputFormat  # loaded when formats are asked for, not at start-up

    return [
        OutputFormat(
            name="json",
            suffix=".json",
            render=render_json,
            description="Scores and flags as JSON (the `psyq score --json` shape)",
            media_type="application/json",
        )
    ]
