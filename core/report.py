"""Report sections: the pieces a PDF or HTML report is assembled from.

Sections are registered through the ``psyq_report_sections`` hook. Each one is
a Jinja2 template *source* supplied by plugin code (never a file named by
instrument data), rendered with autoescape on. A section whose ``replaces``
names another section takes its place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportSection:
    """One section of a report.

    ``name`` is unique; ``template`` is Jinja2 source; ``order`` sorts sections
    top to bottom (built-ins use multiples of 10); ``replaces`` names a section
    this one stands in for; ``instruments`` limits the section to those
    instrument ids (empty = every instrument).
    """

    name: str
    template: str
    order: int = 500
    replaces: str | None = None
    instruments: tuple[str, ...] = ()
