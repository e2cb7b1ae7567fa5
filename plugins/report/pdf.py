"""The ``pdf`` output format: the clinician report rendered by WeasyPrint.

Rendering goes through :func:`psyq.pdf.html_to_pdf`: a fetcher that loads only
psyq's own assets and ``data:`` URIs, no attachments, one font configuration
and one parsed stylesheet per process.
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
        from psyq.pdf import html_to_pdf
        from psyq.report import render_report_html

        return html_to_pdf(render_report_html(pm, request, standalone=False))

    return [
        OutputFormat(
            name="pdf",
            suffix=".pdf",
            render=render,
            description="Clinician report as PDF (A4 or letter)",
            media_type="application/pdf",
            binary=True,
        )
    ]
