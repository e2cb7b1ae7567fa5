"""The built-in report sections, one template partial each, and psyq's template filters.

Each section's source is read from ``templates/sections/NAME.html.j2`` (package
data) the first time it is needed. A plugin replaces one by returning a
:class:`~psyq.report.ReportSection` with ``replaces="NAME"``; it adds one by
choosing an ``order`` between the built-ins' below.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from psyq.hookspecs import hookimpl

if TYPE_CHECKING:
    from psyq.report import ReportSection

# Top to bottom. The safety alert comes first, above even the header, so a
# critical flag is the first thing anyone sees.
BUILTIN_SECTIONS: tuple[tuple[str, int], ...] = (
    ("safety_alert", 10),
    ("header", 20),
    ("notices", 30),
    ("summary", 40),
    ("flags", 45),
    ("band_charts", 50),
    ("profile", 60),
    ("trend", 70),
    ("missing_data", 80),
    ("items", 90),
    ("note", 100),
    ("footer", 1000),
)


@cache
def builtin_sections() -> tuple[ReportSection, ...]:
    # psyq.report loads with the first report, not at start-up.
    from psyq.report import ReportSection, packaged_section

    return tuple(
        ReportSection(name=name, template=packaged_section(f"sections/{name}.html.j2"), order=order)
        for name, order in BUILTIN_SECTIONS
    )


@hookimpl
def psyq_report_sections() -> list[ReportSection]:
    return list(builtin_sections())


@hookimpl
def psyq_template_filters() -> dict[str, Callable[..., Any]]:
    from psyq.charts import signed

    return {"signed": signed}
