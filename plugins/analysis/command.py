"""``psyq analyze``: item analysis, reliability and factor structure of an instrument's data.

Also ``psyq simulate`` (its model is :mod:`psyq.plugins.analysis.simulate`, loaded when
the command runs).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from psyq.app import App
from psyq.errors import PsyqError
from psyq.hookspecs import hookimpl
from psyq.plugins.analysis.inputs import data_input

if TYPE_CHECKING:
    from psyq.plugins.analysis.data import DataInput
    from psyq.plugins.analysis.results import Analysis

REPORT_SUFFIXES = (".pdf", ".html", ".htm")
# numpy's generators take seeds of 0 or more; a negative one was an internal error.
SEED = click.IntRange(min=0)


class FiniteFloatRange(click.FloatRange):
    """A float option that refuses ``nan`` and ``inf``, which click's ranges let through
    (``nan`` compares false with every bound) and which made every simulated answer 0."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number

    def _describe_range(self) -> str:
        return "finite" if self.min is None and self.max is None else super()._describe_range()


@click.command("analyze")
@data_input
@click.option("--listwise", is_flag=True, help="Complete respondents only (default: pairwise).")
@click.option(
    "--factors", type=click.IntRange(min=1), help="Factors to extract (default: parallel analysis)."
)
@click.option("--seed", type=SEED, default=13, show_default=True, help="Seed of parallel analysis.")
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the psychometric report (.pdf or .html).",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--note", help="A line shown at the top of the report (e.g. 'SIMULATED data').")
@click.pass_obj
def analyze_command(
    app: App,
    source: DataInput,
    listwise: bool,
    factors: int | None,
    seed: int,
    as_json: bool,
    output: Path | None,
    force: bool,
    note: str | None,
) -> None:
    """Item analysis of INSTRUMENT_ID's answers in DATA (CSV, JSONL, FHIR NDJSON, - for stdin).

    \b
    Per scale: item statistics, floor/ceiling, Cronbach's alpha (raw and
    standardized, Feldt 95 % CI), alpha if dropped, r.drop, mean inter-item r,
    omega total (omega hierarchical for a scale with subscales). For the
    instrument: correlations, parallel analysis and a minres/oblimin EFA.
    Reverse keys and "counts as missing" answers apply as in scoring.

    \b
    Examples:
      psyq analyze ccts pilot.csv
      psyq analyze ccts pilot.csv --json > analysis.json
      psyq analyze ccts pilot.csv -o ccts-psychometrics.pdf
      psyq analyze phq9 --from-store --listwise
    """
    _single_threaded_blas()
    from psyq.files import refuse_existing
    from psyq.plugins.analysis.analyze import analyse

    if output is not None and output.suffix.lower() not in REPORT_SUFFIXES:
        raise PsyqError(f"{output}: the report is written as .pdf or .html")
    if output is not None:
        refuse_existing(output, force)
    if note is not None and len(note) > 300:
        raise PsyqError("--note: at most 300 characters")
    item_data = source.load(app)
    result = analyse(
        item_data,
        missing="listwise" if listwise else "pairwise",
        nfactors=factors,
        seed=seed,
        note=note,
    )
    if output is not None:
        _write_report(app, result, output, force)
    if as_json:
        doc = result.model_dump(mode="json")
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False))
    elif output is None:
        click.echo(summary(result))
    else:
        click.echo(f"wrote {output}", err=True)


def _single_threaded_blas() -> None:
    """One BLAS thread unless the user says otherwise (before numpy is first imported).

    The matrices here are items x items (tens of rows); on a busy machine BLAS
    threads made a 40 x 40 eigendecomposition 7x slower, not faster.
    """
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def _write_report(app: App, result: Analysis, output: Path, force: bool) -> None:
    from psyq.plugins.analysis.report import render_html, render_pdf
    from psyq.plugins.report.command import write_atomically

    instrument = app.instrument(result.instrument.id)
    if output.suffix.lower() == ".pdf":
        data = render_pdf(result, instrument)
    else:
        data = render_html(result, instrument).encode("utf-8")
    write_atomically(output, data, force=force)


def summary(result: Analysis) -> str:
    """The terminal table: one line per scale, then flagged items and problems."""
    lines = [
        *([f"*** {result.data.note} ***"] if result.data.note else []),
        f"{result.instrument.title} v{result.instrument.version}: {result.data.respondents} "
        f"respondents ({result.data.missing_data})",
        *(f"note: {n}" for n in result.notices),
        "",
        f"{'scale':<28} {'k':>3} {'n':>6} {'alpha':>6} {'95% CI':>13} {'std':>6} "
        f"{'r':>5} {'omega':>6} {'omg_h':>6}",
    ]

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    for sid, s in result.scales.items():
        ci = f"{s.alpha.ci[0]:.2f}-{s.alpha.ci[1]:.2f}" if s.alpha else "-"
        lines.append(
            f"{sid:<28.28} {s.k:>3} {s.n:>6} {f(s.alpha.raw if s.alpha else None):>6} "
            f"{ci:>13} {f(s.alpha.std if s.alpha else None):>6} {f(s.average_r):>5} "
            f"{f(s.omega_total):>6} {f(s.omega_h):>6}"
        )
        lines.extend(f"  {sid}: {p}" for p in s.problems)
    if result.factors:
        fa = result.factors
        pa = fa.parallel
        suggested = f"parallel analysis suggests {pa.n_factors} factors; " if pa else ""
        lines += ["", f"{suggested}EFA: {fa.nfactors} factors, minres, {fa.rotation}"]
    if result.flagged:
        lines += ["", "items flagged for review:"]
        lines += [f"  {x.scale}/{x.item}: {'; '.join(x.reasons)}" for x in result.flagged]
    lines += [f"problem: {p}" for p in result.problems]
    return "\n".join(lines)


@click.command("simulate")
@click.argument("instrument_id")
@click.option("--n", "n", type=click.IntRange(min=1, max=1_000_000), default=300, show_default=True)
@click.option("--seed", type=SEED, default=2026, show_default=True)
@click.option("--general", type=FiniteFloatRange(0, 0.99), default=0.55, show_default=True,
              help="Loading of every item on the general trait.")  # fmt: skip
@click.option("--group", type=FiniteFloatRange(0, 0.99), default=0.45, show_default=True,
              help="Loading of every item on its subscale's trait.")  # fmt: skip
@click.option("--shift", type=FiniteFloatRange(), default=0.4, show_default=True,
              help="Moves the answer cut points up (positive: higher answers rarer).")  # fmt: skip
@click.option("--missing", type=FiniteFloatRange(0, 1), default=0.02, show_default=True,
              help="Share of answers left blank at random.")  # fmt: skip
@click.option("--not-happened", type=FiniteFloatRange(0, 1), default=0.10, show_default=True,
              help='Share of "counts as missing" answers on items that offer one.')  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.pass_obj
def simulate_command(
    app: App,
    instrument_id: str,
    n: int,
    seed: int,
    general: float,
    group: float,
    shift: float,
    missing: float,
    not_happened: float,
    output: Path,
    force: bool,
) -> None:
    """Write SIMULATED answers to INSTRUMENT_ID (a CSV psyq analyze and batch read).

    \b
    A seeded bifactor model: a general trait and one trait per subscale; see
    docs/analysis.md. Columns: client_id (SIM-00001, ...), sex, age, items.
    The output is simulated, not data: label anything made from it so.

    \b
    Example:
      psyq simulate ccts --n 300 --seed 2026 -o ccts-pilot-SIMULATED.csv
      psyq analyze ccts ccts-pilot-SIMULATED.csv --ignore-extra-columns \\
          --note "SIMULATED pilot data (psyq simulate, seed 2026)" -o pilot.pdf
    """
    from psyq.files import refuse_existing, write_output
    from psyq.plugins.analysis.simulate import SimulationOptions, simulate, to_csv

    refuse_existing(output, force, client_data=False)  # SIMULATED answers
    instrument = app.instrument(instrument_id)
    options = SimulationOptions(n, seed, general, group, shift, missing, not_happened)
    text = to_csv(simulate(instrument, options))
    try:
        write_output(output, text.encode("utf-8"), force=force, client_data=False)
    except OSError as exc:
        raise PsyqError(f"{output}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"wrote {output}: {n} SIMULATED respondents (seed {seed})", err=True)


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [analyze_command, simulate_command]
