"""The ``table`` output format: a compact plain-text summary for the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psyq.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from psyq.outputs import OutputFormat, RenderRequest
    from psyq.results import ScoreResult

LEVEL_MARK = {"critical": "!!! ", "warning": "!   ", "info": "    "}
"""What leads a flag's line (:func:`psyq.alerts.alert_line`) in the table, by level."""


def render_table(request: RenderRequest) -> bytes:
    from psyq.alerts import alert_line
    from psyq.proration import proration_note
    from psyq.unscored import reason_in

    result, inst = request.result, request.instrument
    # psyq's own words in the report's language (--language); None: English, as always.
    gettext = _gettext(request)
    _ = gettext or str
    lines = [f"{inst.title} ({inst.short_name} v{inst.version})"]
    if request.client_id:
        lines.append(_("client %(client)s") % {"client": request.client_id})
    if request.options.get("changed_outside_psyq"):  # a stored record edited by hand
        lines.append(f"!!! CHANGED OUTSIDE PSYQ: {request.options['changed_outside_psyq']}")
    for earlier in request.options.get("earlier_changed_outside_psyq", []):
        lines.append(
            f"!!! CHANGED OUTSIDE PSYQ: earlier administration {earlier['administration_id']} "
            f"({earlier['administered']}): {earlier['problem']}"
        )
    lines += [f"!!! {line}" for line in request.options.get("answer_version_lines", [])]
    for other in request.options.get("other_changed_outside_psyq", []):
        lines.append(
            f"!!! CHANGED OUTSIDE PSYQ: administration {other['administration_id']} "
            f"({other['administered']}, {other['status']}, v{other['instrument_version']}), "
            f"not in this report's trend: {other['problem']}"
        )
    if request.options.get("audit_log_changed_outside_psyq"):
        lines.append(
            "!!! AUDIT LOG CHANGED OUTSIDE PSYQ: "
            f"{request.options['audit_log_changed_outside_psyq']}; what is shown may not be "
            "what psyq recorded"
        )
    for moved in request.options.get("left_client_outside_psyq", []):
        lines.append(moved["problem"])
    for deleted in request.options.get("deleted_outside_psyq", []):
        lines.append(
            f"!!! DELETED OUTSIDE PSYQ: administration {deleted['administration_id']} was "
            f"deleted outside psyq after it was saved ({deleted['problem']}); this client's "
            "scores and trend may be missing it"
        )
    for gone in request.options.get("records_deleted_outside_psyq", []):
        lines.append(
            f"!!! DELETED OUTSIDE PSYQ: {gone['record']} was deleted outside psyq after psyq "
            f"saved it ({gone['problem']}); the answers, scores or client details it held are "
            "no longer shown"
        )
    partial = request.partial_line(gettext)
    if partial:
        lines.append(partial)
    critical = [f for f in result.flags if f.level == "critical"]
    for flag in critical:  # a critical flag comes first and cannot be missed
        lines.append(LEVEL_MARK["critical"] + alert_line(flag, gettext=gettext))
    # report --latest: what the forms left unfinished after this one raise, as loudly.
    lines += [f"!!! {line}" for line in request.later_alerts()]
    rows = [(_("scale"), _("score"), _("range"), _("band"), _("answered"))]
    for scale in inst.scales:
        s = result.scores[scale.id]
        lo, hi = inst.bounds(scale.id)
        value = "-" if s.value is None else f"{s.value:.{scale.decimals}f}"
        answered = f"{s.answered}/{s.answered + s.missing}"
        if s.prorated:
            answered += " " + _("prorated")
        # Beside a critical flag (this form's, or a later unfinished one's) a band of
        # low concern is the score's band only, never reassurance.
        reason = s.reason if gettext is None else reason_in(s.reason, gettext)
        band = request.band_shown(scale.id, gettext) or (
            _("not scored: %(reason)s") % {"reason": reason} if reason else ""
        )
        rows.append((scale.id, value, f"{lo:g}-{hi:g}", band, answered))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2])]
        cells += [row[3].ljust(widths[3]), row[4]]
        lines.append("  ".join(cells).rstrip())
    for scale in inst.scales:
        note = proration_note(scale, result.scores[scale.id], request.alert, gettext)
        if note:
            lines.append(f"{scale.id}: {note}")
    unscored = [item for item in inst.items if not item.scored]
    for item in unscored:  # asked but not scored (PHQ-9 item 10): shown, never lost
        answer = result.answers.get(item.id)
        label = inst.response_scale_for(item).label_for(answer) if answer is not None else None
        shown = _("not answered") if answer is None else f"{answer} {label or ''}".rstrip()
        lines.append(
            _("unscored %(item)s: %(answer)s (%(text)s)")
            % {"item": item.id, "answer": shown, "text": item.text}
        )
    for flag in result.flags:
        if flag.level != "critical":
            lines.append(LEVEL_MARK[flag.level] + alert_line(flag, gettext=gettext))
    lines += _norm_lines(result)
    lines += [_("NOTE: %(notice)s") % {"notice": notice} for notice in result.notices]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _gettext(request: RenderRequest) -> Callable[[str], str] | None:
    """psyq's catalogue in the report's language, or None for an English report."""
    language = request.options.get("language")
    if not language:
        return None
    from psyq.i18n import ui_language

    return ui_language(language).gettext


def _norm_lines(result: ScoreResult) -> list[str]:
    """T, interval and percentile per normed scale; a provisional table or small group loudly."""
    lines: list[str] = []
    warnings: list[str] = []
    for scale_id, score in result.scores.items():
        norm = score.norm
        if norm is None:
            continue
        ci = f" (95% interval {norm.ci[0]:.1f}-{norm.ci[1]:.1f})" if norm.ci else ""
        pct = "" if norm.percentile is None else f", percentile {norm.percentile:.0f}"
        lines.append(
            f"norm {scale_id}: T {norm.t:.1f}{ci}{pct}; group {norm.group} (n {norm.n}); "
            f"{norm.table}"
        )
        warnings += [w for w in norm.warnings if w not in warnings]
    return [f"!   NORMS: {w}" for w in warnings] + lines


@hookimpl
def psyq_output_formats() -> list[OutputFormat]:
    from psyq.outputs import OutputFormat  # loaded when formats are asked for, not at start-up

    return [
        OutputFormat(
            name="table",
            suffix=".txt",
            render=render_table,
            description="Plain-text score table",
            media_type="text/plain",
        )
    ]
