"""The per-chunk worker: validate, score and render a few rows.

:func:`run_chunk` is what every executor runs, in a local worker process or
on a Dask worker on another machine. It takes and returns plain picklable
records and touches no file: the parent writes every output, so workers need
no shared file system and crash safety lives in one place.

The worker does all per-row work, including what ends up in the parent's
files: the chunk's lines of ``scores.csv`` and ``errors.csv`` and its part of
the cohort statistics, already encoded as the chunk's manifest line. The
parent only writes bytes, so it never limits throughput.

Each worker process (or Dask worker thread) builds its plugin manager,
scorer and output formats once and keeps them, keyed by the instrument's
content hash; heavy libraries (WeasyPrint) are imported by the output
formats, so only here, never in the parent. Local workers for PDF reports
inherit the plugin manager, WeasyPrint and compiled templates from the fork
server that forked them (:func:`preload`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psyq.batch.cohort import CohortStats
from psyq.batch.naming import REPORTS_DIR
from psyq.batch.tables import errors_line, scores_line
from psyq.errors import PluginHookError, PsyqError
from psyq.results import flag_items_cell, flag_levels_cell, low_concern_bands

if TYPE_CHECKING:
    from psyq.batch.columnar import ColumnarScorer
    from psyq.batch.ranges import CsvSlice
    from psyq.manager import PsyqPluginManager

RowJob = tuple[int, str, str, str, tuple[Any, ...], str | None]
"""One row as sent to a worker: (row number, client id, date, report stem, answers in
instrument item order, problem found while reading or None). Tuples pickle small.
A problem of :data:`psyq.batch.inputs.NOT_THIS_FORM` is a row that is not an
administration of the form at all: skipped and counted, never scored or an error."""


@dataclass(frozen=True)
class ChunkJob:
    """A chunk of consecutive rows and everything needed to process them anywhere.

    ``instrument`` is the definition as plain data, so a worker on another
    machine scores with exactly the parent's instrument.
    """

    index: int
    instrument: dict[str, Any]
    instrument_hash: str
    formats: tuple[str, ...]
    generated_at: str
    rows: tuple[RowJob, ...]
    shown: dict[str, Any] | None = None
    """The instrument in the reports' language (``--language``), as plain data."""
    language: str | None = None
    language_notice: str | None = None
    """What the reports show in English, said in ``language`` (optional texts a
    translation leaves out: :func:`psyq.translations.english_notice`)."""
    source: CsvSlice | None = None
    """Lines of the input file to read here instead of ``rows`` (scores only)."""
    parts: str | None = None
    """A folder to write the chunk's scores lines to as a part file (private, atomic),
    named with its SHA-256 in the manifest line instead of the lines themselves:
    the parent then copies bytes rather than decoding JSON (local executor only)."""
    sexes: dict[int, str] = field(default_factory=dict)
    """Row number -> the row's ``sex`` column, where given (cut-offs that depend on it)."""
    notices: dict[int, str] = field(default_factory=dict)
    """Row number -> a caveat its reports show (a REDCap form marked Unverified)."""
    date_column: str = "date"
    """The input's date column (``--date-column``), named when a row's date is refused."""


@dataclass(frozen=True)
class ChunkResult:
    """A finished chunk: its report files and its manifest line (JSON, no newline)."""

    index: int
    rows: int
    failed: int
    files: tuple[tuple[str, bytes], ...]
    record: bytes


class _Context:
    """Services a worker builds once: plugins, instrument, scorer, formats."""

    def __init__(self, job: ChunkJob) -> None:
        from psyq.manager import create_plugin_manager
        from psyq.models import Instrument
        from psyq.outputs import get_output_format
        from psyq.scoring import Scorer

        # The parent has already warned once about any broken plugin; every worker
        # repeating it would bury the batch's own output.
        self.pm = _preloaded_pm if _preloaded_pm is not None else create_plugin_manager(warn=_quiet)
        if job.formats:
            from psyq.pdf import quiet_subsetting_warning

            quiet_subsetting_warning()  # the parent said it once
        self.instrument = Instrument.model_validate(job.instrument)
        self.shown = None if job.shown is None else Instrument.model_validate(job.shown)
        self.language = job.language
        self.language_notice = job.language_notice
        self.date_column = job.date_column
        self.item_ids = tuple(item.id for item in self.instrument.items)
        self.scorer = Scorer(self.pm)
        self.formats = [get_output_format(self.pm, name) for name in job.formats]
        self.columnar: ColumnarScorer | None = None
        if not job.formats and os.environ.get("PSYQ_COLUMNAR", "1") != "0":
            from psyq.batch.columnar import ColumnarScorer, unsupported

            if unsupported(self.pm, self.instrument) is None:
                self.columnar = ColumnarScorer(self.instrument)


def _quiet(message: str) -> None:
    """Drop plugin warnings in workers (see :class:`_Context`)."""


_preloaded_pm: PsyqPluginManager | None = None
"""The plugin manager built by :func:`preload` in the local executor's fork server."""


def forget_preloaded() -> None:
    """In a worker whose batch runs under other settings than its fork server did."""
    global _preloaded_pm
    _preloaded_pm = None


def preload() -> None:
    """Run once in the local executor's fork server (:mod:`psyq.batch.warm`), before it
    forks any worker: build the plugin manager and write one report's HTML with it, so
    that every forked worker starts with the plugins loaded and the report templates
    compiled (WeasyPrint, its fonts and the stylesheet are warmed up by
    :func:`psyq.pdf.warm_up`) instead of paying for that on its first row. The sample
    is PHQ-9 with its risk item answered, so the alert, chart and tables are all
    compiled once.

    The sample is not laid out as a PDF: that would be a whole report's work done
    once more, by one process, before any worker starts, while what a first layout
    still has to load (under a tenth of a second) is loaded by each worker on its
    first row, in parallel."""
    global _preloaded_pm
    from psyq.manager import create_plugin_manager
    from psyq.outputs import RenderRequest
    from psyq.registry import InstrumentRegistry
    from psyq.report import render_report_html
    from psyq.scoring import Scorer

    pm = create_plugin_manager(warn=_quiet)
    _preloaded_pm = pm
    sample = InstrumentRegistry(pm).get("phq9")
    answers: dict[str, int | None] = {item.id: 1 for item in sample.items}
    result = Scorer(pm).score_valid(sample, answers)
    request = RenderRequest(result=result, instrument=sample, client_id="warm-up")
    render_report_html(pm, request, standalone=False)  # as the pdf format does


_local = threading.local()


def _context(job: ChunkJob) -> _Context:
    # Thread-local, because a Dask worker runs several chunks at once in threads.
    cache: dict[tuple[str, tuple[str, ...], str | None, str | None], _Context] = (
        getattr(_local, "cache", None) or {}
    )
    _local.cache = cache
    key = (job.instrument_hash, job.formats, job.language, job.language_notice)
    if key not in cache:
        cache[key] = _Context(job)
    return cache[key]


def run_chunk(job: ChunkJob) -> ChunkResult:
    """Score (and render) every row of ``job``; a bad row becomes an error line."""
    ctx = _context(job)
    inst = ctx.instrument
    generated = datetime.fromisoformat(job.generated_at)
    scores_buf, errors_buf = io.StringIO(), io.StringIO()
    scores = csv.writer(scores_buf, lineterminator="\r\n")
    errors = csv.writer(errors_buf, lineterminator="\r\n")
    stats = CohortStats(inst)
    files: list[tuple[str, bytes]] = []
    rows = job.rows
    if job.source is not None:
        from psyq.batch.ranges import read_slice

        rows = tuple(read_slice(job.source))
    if ctx.columnar is not None:  # scores only, an instrument it implements: numpy
        ctx.columnar.run(
            rows,
            stats,
            scores,
            errors,
            lambda r: _run_row(ctx, r, generated, job.sexes, job.notices)[0],
            job.sexes,
        )
    for row in rows if ctx.columnar is None else ():
        record, rendered = _run_row(ctx, row, generated, job.sexes, job.notices)
        stats.add(record)
        if "error" in record:
            errors.writerow(errors_line(record))
        elif not record.get("skipped"):
            scores.writerow(scores_line(inst, record))
            files += rendered
    line: dict[str, Any] = {
        "chunk": job.index,
        "worker": os.getpid(),  # which process ran it (shows workers being recycled)
        "rows": stats.rows,
        "failed": stats.failed,
        "scores": scores_buf.getvalue(),
        "errors": errors_buf.getvalue(),
        "cohort": stats.to_json(),
    }
    if job.parts is not None:
        line.update(write_part(Path(job.parts), job.index, line.pop("scores").encode("utf-8")))
    encoded = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return ChunkResult(job.index, stats.rows, stats.failed, tuple(files), encoded)


def part_name(index: int) -> str:
    """The part file of chunk ``index``'s scores lines."""
    return f"chunk-{index:07d}.scores.csv"


def write_part(folder: Path, index: int, data: bytes) -> dict[str, str]:
    """Write a chunk's scores lines to its part file; its manifest fields."""
    import hashlib

    from psyq.files import write_atomic

    name = part_name(index)
    write_atomic(folder / name, data, durable=True)  # in place before its manifest line
    return {"scores_part": name, "scores_sha256": hashlib.sha256(data).hexdigest()}


def render_cohort_pdf(html: str) -> bytes:
    """The cohort summary page as PDF, through psyq's locked-down WeasyPrint renderer.

    Runs on the executor like a chunk, so the parent never imports WeasyPrint.
    The page carries its own stylesheet.
    """
    from psyq.pdf import html_to_pdf

    return html_to_pdf(html, stylesheets=False)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(text: str, where: str, column: str = "date") -> date | None:
    """``YYYY-MM-DD`` or an ISO date-time (its date part); empty is no date.

    The whole value must be a date: ``2026-01-01/../../x`` or a date followed by
    markup is refused, not cut to its first ten characters. Python also reads
    ``20260101`` and week dates (``2026-W01-1``): refused too, as the message says,
    since the row's date is carried into every output as written.

    A date in the future or before 1900 is refused too (:mod:`psyq.dates`: a typo
    that would be the client's "latest" form), the message naming ``column``.
    """
    if not text:
        return None
    from psyq.dates import DateOutOfRange, day_problem, moment_problem

    try:
        if _ISO_DATE.match(text) is not None:
            if len(text) == 10:
                day = date.fromisoformat(text)
                problem = day_problem(day)
            elif len(text) <= 40 and text[10] in "T ":
                moment = datetime.fromisoformat(text)
                day, problem = moment.date(), moment_problem(moment)
            else:
                raise ValueError(text)
            if problem is not None:
                raise DateOutOfRange(f"{where}{column} {text} {problem}; correct the date")
            return day
    except ValueError:
        pass
    shown = text if len(text) <= 40 else text[:37] + "..."
    shown = shown if shown.isprintable() else repr(shown)
    raise PsyqError(f"{where}{column} '{shown}' is not a date; use YYYY-MM-DD")


def parse_moment(text: str) -> datetime | None:
    """The date-time ``text`` names, when it has a time and a time zone; else ``None``.

    A time without a zone is not a moment (FHIR's ``dateTime`` refuses one), so
    such a row keeps its date only. Call after :func:`parse_date` accepted ``text``.
    """
    if len(text) <= 10:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else None


def _with_critical(ctx: _Context, values: tuple[Any, ...], where: str, error: str) -> str:
    """``error`` (a row not scored), led by each critical item the row's valid answers
    raise a critical flag on, positive or unanswered, with the answer given and its
    label (``row 7: CRITICAL item phq9_9 answered 2 (More than half the days): act on
    it. Item 3: ...``): a bad date, a bad answer elsewhere or an unfinished form never
    hides a risk in errors.csv, and every such line words it alike
    (:func:`psyq.alerts.critical_items_lead`). A row with no answer at all (unreadable)
    names none, unless it is an unfinished form: its critical items are unanswered."""
    from psyq.alerts import critical_items_lead
    from psyq.answers import coerce_value
    from psyq.batch.inputs import UNFINISHED

    unfinished = error.startswith(where + UNFINISHED)
    error = error.replace(UNFINISHED, "", 1) if unfinished else error
    given = dict(zip(ctx.item_ids, values, strict=True))
    if all(str(v).strip() == item_id for item_id, v in given.items()):
        # Two files joined with `cat`: the second header is no form and raises no alert.
        return f"{where}it repeats the header line (files joined?): not a form, not scored"
    blank = all(v is None or str(v).strip() == "" for v in values)
    if blank and not unfinished:
        return error
    inst = ctx.instrument
    answers: dict[str, int | None] = {}
    for item in inst.items:
        try:  # every valid answer as given; an invalid one (or a required blank) is unanswered
            answers[item.id] = coerce_value(inst, item, given[item.id])
        except PsyqError:
            answers[item.id] = None
    try:
        flags = ctx.scorer.score_valid(inst, answers, {}).flags
    except Exception:  # a scoring plugin's bug: every row fails with it, loudly, already
        return error
    led = critical_items_lead(inst, flags, given, answers, error.removeprefix(where))
    return error if led == error.removeprefix(where) else where + led


def _run_row(
    ctx: _Context,
    row: RowJob,
    generated: datetime,
    sexes: dict[int, str],
    notices: dict[int, str] | None = None,
) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """One row's record (as in the cohort statistics) and its rendered files."""
    from psyq.answers import coerce_answers
    from psyq.batch.inputs import NOT_THIS_FORM
    from psyq.outputs import RenderRequest

    number, client_id, date_text, stem, values, problem = row
    where = f"row {number}: "
    record: dict[str, Any] = {"row": number, "client_id": client_id, "date": date_text}
    if problem == NOT_THIS_FORM:  # another form's row: no score, no error line, counted
        record["skipped"] = True
        return record, []
    try:
        if problem is not None:
            raise PsyqError(f"{where}{problem}")
        if not client_id:
            raise PsyqError(f"{where}the client id is empty")
        administered = parse_date(date_text, where, ctx.date_column)
        inst = ctx.instrument
        answers = coerce_answers(inst, dict(zip(ctx.item_ids, values, strict=True)), where=where)
        client: dict[str, str] = {}
        sex = sexes.get(number, "")
        if sex and inst.client_attributes:
            from psyq.clients import known_attributes

            client = known_attributes({"sex": sex}, where)
        result = ctx.scorer.score_valid(inst, answers, client)
        if notices and number in notices:  # shown by every format, as an instrument's are
            result.notices.append(notices[number])
        files: list[tuple[str, bytes]] = []
        if ctx.formats:
            request = RenderRequest(
                result=result,
                instrument=inst,
                client_id=client_id,
                administered=administered,
                authored=parse_moment(date_text) if administered else None,
                generated_at=generated,
            )
            if ctx.shown is not None:
                from psyq.i18n import ui_language
                from psyq.translations import relabel

                request.instrument = ctx.shown
                # psyq's own flag (an unanswered critical item) in that language too.
                request.result = relabel(
                    result, ctx.shown, ui_language(ctx.language).gettext, original=inst
                )
                if ctx.language_notice:
                    request.result.notices.append(ctx.language_notice)
                request.options["language"] = ctx.language
            files = [(stem + fmt.suffix, fmt.render(request)) for fmt in ctx.formats]
    except PluginHookError as exc:  # a plugin's bug: name the plugin on this row
        record["error"] = _with_critical(ctx, values, where, f"{where}{exc}")
        return record, []
    except PsyqError as exc:
        record["error"] = _with_critical(ctx, values, where, str(exc))
        return record, []
    except Exception as exc:  # a plugin bug must not stop the batch; name it on this row
        error = f"{where}internal error: {type(exc).__name__}: {exc}".splitlines()[0]
        record["error"] = _with_critical(ctx, values, where, error)
        return record, []
    record.update(
        values={sid: s.value for sid, s in result.scores.items()},
        bands={sid: s.band for sid, s in result.scores.items()},
        prorated={sid: s.prorated for sid, s in result.scores.items()},
        flags=[f.id for f in result.flags],
        flag_items=flag_items_cell((f.id, f.item_ids) for f in result.flags),
        flag_levels=flag_levels_cell((f.id, f.level) for f in result.flags),
        critical=any(f.level == "critical" for f in result.flags),
        band_beside_alert=sorted(low_concern_bands(inst, result, bool(result.critical))),
        files=[f"{REPORTS_DIR}/{name}" for name, _ in files],
    )
    return record, files
