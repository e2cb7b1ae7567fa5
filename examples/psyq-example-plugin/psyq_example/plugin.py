"""The hook implementations of psyq-example-plugin (the module its entry point names).

The blocks between ``--8<--`` markers are shown verbatim in docs/plugins.md;
tests/test_docs.py fails if the two drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psyq import for_instruments, hookimpl
from psyq.outputs import OutputFormat, RenderRequest
from psyq.registry import InstrumentSource
from psyq.scoring import ScoringState
from psyq_example.markdown import render_markdown
from psyq_example.norms import NORM_TABLE_NAME, t_label, t_score

if TYPE_CHECKING:
    from psyq.report import ReportSection

INSTRUMENTS = Path(__file__).parent / "instruments"


# --8<-- [start:instrument-sources]
@hookimpl
def psyq_instrument_sources() -> list[InstrumentSource]:
    # Every *.yaml, *.yml and *.json file in the directory is an instrument.
    return [InstrumentSource("psyq-example-plugin", INSTRUMENTS)]


# --8<-- [end:instrument-sources]


# --8<-- [start:score-transform]
@hookimpl(wrapper=True)
@for_instruments("rses")  # other instruments: the stage runs as if this did not exist
def psyq_score_transform(state: ScoringState) -> Generator[None, bool | None, bool | None]:
    # A wrapper runs around the whole stage: after `yield`, every value is final.
    result = yield
    total = state.scales["total"].value
    if total is not None:
        state.extra["example_norms"] = {
            "scale": "total",
            "t_score": t_score(total),
            "table": NORM_TABLE_NAME,
        }
    return result


# --8<-- [end:score-transform]


# --8<-- [start:report-sections]
NORMS_SECTION = """\
{% if example_norms %}
<section class="example-norms">
  <h2>Norm-referenced score</h2>
  <p>Self-esteem total: {{ example_norms.t_score | example_t_label }}.</p>
  <p class="notice">From an {{ example_norms.table }}; do not use it to interpret
  a client's score.</p>
</section>
{% endif %}
"""


@hookimpl
def psyq_report_sections() -> list[ReportSection]:
    # Imported here, not at the top: psyq's report machinery then loads only when a
    # report is rendered, and `psyq list` stays fast with this plugin installed.
    from psyq import report

    # order 55: below the built-in band charts (50), above the profile (60).
    section = report.ReportSection("example_norms", NORMS_SECTION, order=55, instruments=("rses",))
    return [section]


# --8<-- [end:report-sections]


# --8<-- [start:report-context]
@hookimpl
@for_instruments("rses")  # the only instrument whose reports show the section
def psyq_report_context(request: RenderRequest, context: dict[str, Any]) -> None:
    # Keys carry the plugin's name, so two plugins cannot overwrite each other.
    context["example_norms"] = request.result.extra.get("example_norms")


# --8<-- [end:report-context]


# --8<-- [start:template-filters]
@hookimpl
def psyq_template_filters() -> dict[str, Callable[..., Any]]:
    return {"example_t_label": t_label}


# --8<-- [end:template-filters]


# --8<-- [start:output-formats]
@hookimpl
def psyq_output_formats() -> list[OutputFormat]:
    return [
        OutputFormat(
            name="markdown",
            suffix=".md",
            render=render_markdown,
            description="Markdown summary (psyq-example-plugin)",
            media_type="text/markdown",
        )
    ]


# --8<-- [end:output-formats]
