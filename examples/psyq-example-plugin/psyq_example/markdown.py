"""The ``markdown`` output format: a short Markdown summary of one scored administration."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psyq.outputs import RenderRequest


def _cell(text: object) -> str:
    # A pipe inside a cell would end it; escape it rather than lose the column.
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(request: RenderRequest) -> bytes:
    """Render scores, bands, flags, notices and plugin extras as Markdown."""
    from psyq.proration import proration_note

    result, inst = request.result, request.instrument
    lines = [f"# {inst.title} ({inst.short_name} v{inst.version})", ""]
    if request.client_id:
        lines += [f"Client: {_cell(request.client_id)}", ""]
    partial = request.partial_line()  # an unfinished form says so before any score
    if partial:
        lines += [f"**{_cell(partial)}**", ""]
    for flag in result.critical:  # a critical flag comes first and cannot be missed
        lines += [f"> **CRITICAL{_cell(flag.about())}:** {_cell(flag.message)}", ""]
    # report --latest: a later unfinished form's critical flag, as loudly.
    lines += [line for alert in request.later_alerts() for line in (f"> **{_cell(alert)}**", "")]
    lines += ["| scale | score | range | band |", "|---|---:|---|---|"]
    for scale in inst.scales:
        score = result.scores[scale.id]
        low, high = inst.bounds(scale.id)
        value = "-" if score.value is None else f"{score.value:.{scale.decimals}f}"
        # Beside a critical flag a band of low concern is marked as the score's band only.
        band = request.band_shown(scale.id) or (
            f"not scored: {score.reason}" if score.reason else ""
        )
        lines.append(f"| {_cell(scale.label)} | {value} | {low:g}-{high:g} | {_cell(band)} |")
    prorated = [(s, proration_note(s, result.scores[s.id], request.alert)) for s in inst.scales]
    lines += [f"\n{_cell(s.label)}: {_cell(note)}" for s, note in prorated if note]
    others = [f for f in result.flags if f.level != "critical"]
    if others:
        lines += ["", *[f"- **{f.level}:** {_cell(f.message)}" for f in others]]
    norm = result.scores["total"].norm if "total" in result.scores else None
    if norm is not None:
        lines += ["", f"T-score: {norm.t:g} ({norm.table})"]
        lines += [f"**{_cell(w)}**" for w in norm.warnings]
    pomp = result.extra.get("example_pomp")
    if pomp:
        lines += ["", f"POMP: {pomp['pomp']:g} %"]
    if result.notices:
        lines += ["", *[f"*Note: {_cell(n)}*" for n in result.notices]]
    return ("\n".join(lines) + "\n").encode("utf-8")
