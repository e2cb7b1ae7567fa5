"""The ``html`` output format: the report as one self-contained HTML file.

The stylesheet is inlined and every chart is inline SVG, so the file opens
anywhere, offline, and looks like the PDF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from psyq.hookspecs import hookimpl

if TYPE_CHECKING:
    from psyq.manager import PsyqPluginManager
    from psyq.outputs import OutputFormat, RenderRequest


@hookimpl
def psyq_output_formats(pm: PsyqPluginManager) -> list[OutputFormat]:
    from psyq.outputs import OutputFormat  # loaded when formats are asked for, not at start-up

    def render(request: RenderRequest) -> bytes:
        # Loaded on first render: commands that never render stay fast to start.
        from psyq.report import render_report_html

        return render_report_html(pm, request, standalone=True).encode("utf-8")

    return [
        OutputFormat(
            name="html",
            suffix=".html",
            render=render,
            description="Clinician report as one self-contained HTML file",
            media_type="text/html",
        )
    ]
