"""The report section for norm-referenced scores (T, interval, percentile, table, warnings).

Shown only when a scale was scored with a norm table; a provisional table or a
norm group under 100 people is said in bold above the numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psyq.hookspecs import hookimpl

if TYPE_CHECKING:
    from psyq.outputs import RenderRequest
    from psyq.report import ReportSection

ORDER = 55  # below the band charts (50), above the profile (60)


@hookimpl
def psyq_report_sections() -> list[ReportSection]:
    from psyq.report import ReportSection, packaged_template

    return [ReportSection("norms", packaged_template("sections/norms.html.j2"), order=ORDER)]


@hookimpl
def psyq_report_context(request: RenderRequest, context: dict[str, Any]) -> None:
    from psyq.charts import format_value
    from psyq.i18n import ui_language
    from psyq.norms import warning_in

    inst = request.instrument
    rows = [
        {
            "label": inst.scale(sid).label,
            "value_text": format_value(inst.scale(sid), score.value),
            "norm": score.norm,
        }
        for sid, score in request.result.scores.items()
        if score.norm is not None
    ]
    if not rows:
        return  # no keys: the section checks `norm_rows is defined`
    norms = [score.norm for score in request.result.scores.values() if score.norm is not None]
    context["norm_rows"] = rows
    context["norm_tables"] = sorted({n.table for n in norms})
    # One line per distinct warning (a provisional table would otherwise repeat per scale),
    # in the report's language.
    gettext = ui_language(request.options.get("language")).gettext
    context["norm_warnings"] = list(
        dict.fromkeys(warning_in(w, gettext) for n in norms for w in n.warnings)
    )
