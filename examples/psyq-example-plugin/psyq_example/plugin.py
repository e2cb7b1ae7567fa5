"""The hook implementations of psyq-example-plugin (the module its entry point names).

The blocks between ``--8<--`` markers are shown verbatim in docs/plugins.md;
tests/test_docs.py fails if the two drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psyq import for_instruments, hookimpl
from psyq.registry import InstrumentSource
from psyq_example.markdown import render_markdown
from psyq_example.pomp import pomp, pomp_label

if TYPE_CHECKING:
    # Names for annotations only: `psyq show` and `psyq list` load every plugin and
    # score nothing, so they need not load the scoring pipeline for this one.
    from psyq.norms import NormSource
    from psyq.outputs import OutputFormat, RenderRequest
    from psyq.report import ReportSection
    from psyq.scoring import ScoringState

INSTRUMENTS = Path(__file__).parent / "instruments"
NORMS = Path(__file__).parent / "norms"


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
        low, high = state.instrument.bounds("total")
        # POMP: the total as a percentage of its possible range (a rescaling, not a norm).
        state.extra["example_pomp"] = {"scale": "total", "pomp": pomp(total, low, high)}
    return result


# --8<-- [end:score-transform]


# --8<-- [start:report-sections]
POMP_SECTION = """\
{% if example_pomp %}
<section class="example-pomp">
  <h2>Percent of maximum possible</h2>
  <p>Self-esteem total: {{ example_pomp.pomp | example_pomp_label }}.</p>
</section>
{% endif %}
"""


@hookimpl
def psyq_report_sections() -> list[ReportSection]:
    # Imported here, not at the top: psyq's report machinery then loads only when a
    # report is rendered, and `psyq list` stays fast with this plugin installed.
    from psyq import report

    # order 55: below the built-in band charts (50), above the profile (60).
    section = report.ReportSection("example_pomp", POMP_SECTION, order=55, instruments=("rses",))
    return [section]


# --8<-- [end:report-sections]


# --8<-- [start:report-context]
@hookimpl
@for_instruments("rses")  # the only instrument whose reports show the section
def psyq_report_context(request: RenderRequest, context: dict[str, Any]) -> None:
    # Keys carry the plugin's name, so two plugins cannot overwrite each other.
    context["example_pomp"] = request.result.extra.get("example_pomp")


# --8<-- [end:report-context]


# --8<-- [start:template-filters]
@hookimpl
def psyq_template_filters() -> dict[str, Callable[..., Any]]:
    return {"example_pomp_label": pomp_label}


# --8<-- [end:template-filters]


# --8<-- [start:norm-sources]
@hookimpl
def psyq_norm_sources() -> list[NormSource]:
    # Norm tables are data files (psyq norms build writes them); rses.yaml names this one.
    # psyq.norms is imported here, when norms are needed, not at start-up.
    from psyq.norms import NormSource

    return [NormSource("psyq-example-plugin", NORMS)]


# --8<-- [end:norm-sources]


# --8<-- [start:output-formats]
@hookimpl
def psyq_output_formats() -> list[OutputFormat]:
    from psyq.outputs import OutputFormat  # here, not at import: `psyq show` never needs it

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
