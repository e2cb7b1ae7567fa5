"""Running a batch: input to chunks, chunks to an executor, results to DIR.

The parent reads and checks the input, names every report, and sends
chunks of rows to the executor; workers (:func:`psyq.batch.worker.run_chunk`)
return scores and rendered bytes; the parent writes each file under a
temporary name, renames it into place, then records the chunk in the
manifest. When every chunk is recorded, ``scores.csv``, ``errors.csv``,
the cohort summary and ``summary.json`` (written last) are rebuilt from the
manifest in row order.

Layout of DIR::

    reports/<client>_<instrument>_<date>.<suffix>   one per row and format
    scores.csv   errors.csv   cohort-summary.pdf (or .html)   summary.json
    batch-manifest.jsonl                             what is finished
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from psyq.app import App
from psyq.batch.chunks import ChunkPlan
from psyq.batch.cohort import CohortStats, render_cohort_html
from psyq.batch.executors import ChunkRunner, ExecutorSettings, batch_executors
from psyq.batch.inputs import (
    NOT_THIS_FORM,
    BatchInput,
    ColumnMap,
    DocumentReader,
    InputError,
    InputRow,
    read_input,
)
from psyq.batch.manifest import MANIFEST_NAME, Manifest, ManifestError
from psyq.batch.naming import REPORTS_DIR, StemAllocator, report_stem
from psyq.batch.progress import Progress
from psyq.batch.tables import ERRORS_HEADER, scores_header
from psyq.batch.worker import ChunkJob, RowJob, part_name, render_cohort_pdf, run_chunk
from psyq.errors import PsyqError
from psyq.files import (
    TMP_SUFFIX,
    atomic_file,
    fsync_dir,
    private_dir,
    private_folder,
    write_atomic,
)
from psyq.manager import PsyqPluginManager
from psyq.models import Instrument
from psyq.outputs import get_output_format

if TYPE_CHECKING:
    from psyq.batch.ranges import CsvFile

SCORES_ONLY_CHUNK = 500
SCORES_ONLY_MAX_CHUNK = 20_000
RENDER_CHUNK = 8
# A worker that renders is replaced after about this many reports, bounding
# whatever a renderer caches; a scores-only worker keeps going much longer.
RECYCLE_RENDERED_ROWS = 2000
RECYCLE_SCORED_ROWS = 200_000
RECYCLE_ENV = "PSYQ_BATCH_RECYCLE_REPORTS"
"""Overrides :data:`RECYCLE_RENDERED_ROWS` (a whole number of reports), e.g. to test recycling."""

FINAL_FILES = (
    "scores.csv",
    "errors.csv",
    "summary.json",
    "cohort-summary.html",
    "cohort-summary.pdf",
)
SUMMARY_FORMATS = ("pdf", "html")


@dataclass(frozen=True)
class BatchOptions:
    """Everything ``psyq batch`` was asked to do."""

    input: str
    instrument_id: str
    out_dir: Path
    formats: tuple[str, ...] = ()
    jobs: int = 1
    resume: bool = False
    force: bool = False
    executor: str = "local"
    scheduler: str | None = None
    columns: ColumnMap = field(default_factory=ColumnMap)
    chunk_size: int | None = None
    progress: bool = True
    summary: str = "html"
    """Cohort summary as ``pdf`` (rendered on the executor) or ``html``."""
    language: str | None = None
    """Write the reports in this language (a complete translation must exist)."""


@dataclass(frozen=True)
class BatchOutcome:
    rows: int
    scored: int
    failed: int
    resumed: int
    flagged: int
    out_dir: Path
    cohort_summary: Path
    critical: int = 0  # scored rows with a critical flag
    skipped: int = 0  # input rows that are another form's or event's (not in ``rows``)


def run_batch(app: App, options: BatchOptions) -> BatchOutcome:
    """Run (or resume) one batch; unusable input raises before any work starts."""
    instrument = app.instrument(options.instrument_id)
    shown = None
    language_notice = None
    if options.language is not None:
        from psyq.i18n import instrument_in

        shown = instrument_in(app, instrument, options.language)  # incomplete: fail now
        from psyq.i18n import ui_language
        from psyq.translations import english_notice, translation_for

        # Each report says which optional texts it shows in English, as `report` does.
        language_notice = english_notice(
            instrument,
            translation_for(app, instrument, options.language),
            ui_language(options.language).gettext,
        )
    for name in options.formats:
        get_output_format(app.pm, name)  # an unknown format is a one-line error, now
    if options.summary not in SUMMARY_FORMATS:
        raise PsyqError(f"--summary must be pdf or html, not '{options.summary}'")
    if options.summary == "pdf":
        get_output_format(app.pm, "pdf")
    if "pdf" in options.formats or options.summary == "pdf":
        from psyq.pdf import warn_once_for_workers

        warn_once_for_workers()  # here, once, rather than once per worker
    executors = batch_executors(app.pm)
    if options.executor not in executors:
        raise PsyqError(
            f"unknown executor '{options.executor}'; available: {', '.join(sorted(executors))}"
        )
    ranged = _scan(options, instrument)
    data: BatchInput | None = None
    if ranged is None:
        data = read_input(
            options.input, instrument, options.columns, _documents(app.pm, instrument)
        )
        source = _Source(data.label, data.digest, len(data.rows), CHUNKS_OF_ROWS)
    else:
        source = _Source(ranged.label, ranged.digest, ranged.lines, CHUNKS_OF_LINES)
    out = options.out_dir
    chunk_size = options.chunk_size or _default_chunk_size(options, source.rows)
    # Reports on several workers: the last chunks get smaller, so the workers finish
    # together (an explicit --chunk-size is kept as given).
    taper = (
        options.jobs if options.formats and not options.chunk_size and options.jobs > 1 else None
    )
    header = {
        "input": source.label,
        "input_sha256": source.digest,
        "instrument": instrument.id,
        "instrument_hash": instrument.content_hash(),
        "formats": list(options.formats),
        "id_column": options.columns.id_column,
        "date_column": options.columns.date_column,
        "rows": source.rows,
        "chunks_of": source.chunks_of,
        "language": options.language,
        # A batch started by a psyq that wrote other scores.csv columns is not resumed
        # into this one's (its done chunks' lines would not fit the header).
        "scores_columns": scores_header(instrument),
    }
    recycle_rows = _recycle_rendered_rows() if options.formats else RECYCLE_SCORED_ROWS
    settings = ExecutorSettings(
        jobs=max(1, options.jobs),
        scheduler=options.scheduler,
        recycle_after=max(1, recycle_rows // chunk_size),
        pdf_reports="pdf" in options.formats,
    )
    _check_out(out, options)
    with ExitStack() as stack:
        # The executor is opened (its options checked, a Dask scheduler reached) before
        # anything is written: a mistake there must leave no output folder behind, or
        # the corrected command would be told to --resume (and --force would already
        # have removed the batch it was to replace).
        runner: ChunkRunner | None = None
        if source.rows or options.summary == "pdf":
            runner = stack.enter_context(executors[options.executor].open(settings))
        manifest = _open_manifest(out, options, header, chunk_size, taper)
        stack.callback(manifest.close)
        plan = _plan(manifest, source.rows)
        done = manifest.done
        total = source.rows
        todo = sum(rows for k, (_, rows) in enumerate(plan) if k not in done)
        resumed = total - todo
        # A generator: only the chunks in flight exist as jobs, however long the input.
        shown_data = None if shown is None else shown.model_dump(mode="json")
        jobs = (
            _chunk_jobs(data, instrument, options, manifest, plan, shown_data, language_notice)
            if data is not None
            else _slice_jobs(ranged, instrument, options, manifest, plan, out / PARTS_DIR)
        )
        if runner is not None and todo:
            progress = Progress(total, done=resumed) if options.progress else None
            try:
                for result in runner.run(run_chunk, jobs):
                    # Each report's data is fsynced before its rename; the renames are
                    # made durable together, once a chunk, before the manifest counts it.
                    for name, payload in result.files:
                        write_atomic(out / REPORTS_DIR / name, payload)
                    if result.files:
                        fsync_dir(out / REPORTS_DIR)
                    manifest.append(result)
                    if progress is not None:
                        # The chunk's share of ``total`` (lines, blank ones included, on
                        # the range reader), not the rows it scored: the bar ends at 100%.
                        progress.advance(plan.bounds(result.index)[1])
            finally:
                if progress is not None:
                    progress.close()
        stats, cohort_path = _finish(out, instrument, source, manifest, options, runner, shown)
    return BatchOutcome(
        rows=stats.rows,
        scored=stats.scored,
        failed=stats.failed,
        resumed=resumed,
        flagged=stats.flagged_count,
        critical=stats.critical_count,
        skipped=stats.skipped,
        out_dir=out,
        cohort_summary=cohort_path,
    )


@dataclass(frozen=True)
class _Source:
    """The input as the manifest and summary name it."""

    label: str
    digest: str
    rows: int
    chunks_of: str
    """What chunk k's rows are: :data:`CHUNKS_OF_ROWS` or :data:`CHUNKS_OF_LINES`."""


CHUNKS_OF_ROWS = "rows"
"""Chunks of the rows the parent read (blank lines left out)."""
CHUNKS_OF_LINES = "lines"
"""Chunks of the file's lines after the header, each read by its worker."""
PARTS_DIR = ".parts"
"""Scores part files written by range-reading workers until the final scores.csv is whole."""
RANGES_ENV = "PSYQ_BATCH_RANGES"
"""``0`` makes the parent read every input whole (to compare the two readers)."""


def _scan(options: BatchOptions, instrument: Instrument) -> CsvFile | None:
    """A CSV input that workers can read by line ranges, when this batch may.

    Only a scores-only batch on the local executor: a Dask worker on another
    machine may not see the file, and reports need names decided in row order.
    """
    if options.formats or options.executor != "local" or os.environ.get(RANGES_ENV) == "0":
        return None
    if instrument.client_attributes:  # a `sex` column is read here and sent with the rows
        return None
    from psyq.batch.ranges import scan_csv

    return scan_csv(options.input, instrument, options.columns)


def _default_chunk_size(options: BatchOptions, rows: int) -> int:
    """Rows per chunk: about four chunks per worker, so that every worker gets an
    equal share and none sits idle while the last chunk runs; within bounds that
    keep per-chunk costs (a durable manifest line each) small for scores and a
    chunk's reports few."""
    share = -(-rows // (4 * max(1, options.jobs)))
    if not options.formats:
        return max(SCORES_ONLY_CHUNK, min(SCORES_ONLY_MAX_CHUNK, share))
    # Reports: smaller chunks still (a chunk of reports is long enough to make its own
    # costs small), so the last one, run while other workers may be idle, is short.
    return max(1, min(RENDER_CHUNK, -(-share // 4)))


def _recycle_rendered_rows() -> int:
    text = os.environ.get(RECYCLE_ENV, "").strip()
    if not text:
        return RECYCLE_RENDERED_ROWS
    if not re.fullmatch(r"[0-9]{1,10}", text) or not 0 < int(text) <= 10**9:
        raise PsyqError(f"{RECYCLE_ENV}={text[:40]!r}: give a whole number of reports, e.g. 2000")
    return int(text)


# -- the output directory -------------------------------------------------------


def _check_out(out: Path, options: BatchOptions) -> None:
    """Refuse an output folder this batch may not write into, before anything is written."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    # Reports are named by client id: a folder others can list discloses them. One
    # psyq cannot make private is refused now; the user's own is made private once
    # the batch can start (_open_manifest), so a failed start leaves it as it was.
    private_folder(out, check_only=True)
    if options.resume and (out / MANIFEST_NAME).exists():
        return
    entries = sorted(out.iterdir()) if out.is_dir() else []
    if entries and not options.force:
        hint = "it has no batch manifest to resume; " if options.resume else ""
        raise InputError(
            f"{out}: directory is not empty ({len(entries)} entries); {hint}"
            "use --resume to finish an interrupted batch, --force to overwrite, "
            "or choose a new --out"
        )


def _open_manifest(
    out: Path,
    options: BatchOptions,
    header: dict[str, Any],
    chunk_size: int,
    taper: int | None = None,
) -> Manifest:
    """The batch's manifest in ``out``: resumed, or new."""
    _check_out(out, options)  # again: the folder may have changed while the executor opened
    for line in private_folder(out):  # made 0700 now, or made private if others can open it
        print(line, file=sys.stderr)
    path = out / MANIFEST_NAME
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if options.resume and path.exists():
        _own_folders(out)
        _remove_temporaries(out)
        manifest = Manifest.resume(path, header)
        finished = (out / "summary.json").exists() and not (out / PARTS_DIR).exists()
        redo = manifest.check_parts(out / PARTS_DIR)
        if redo and finished:
            # A finished batch merged its part files into scores.csv and removed them.
            print(
                f"{out}: this batch had finished; scoring its rows again to write its files anew",
                file=sys.stderr,
            )
        elif redo:
            listed = ", ".join(str(k) for k in redo[:10]) + (", ..." if len(redo) > 10 else "")
            print(
                f"{out / PARTS_DIR}: the scores part file of chunk(s) {listed} is missing "
                "or changed; scoring those chunks again",
                file=sys.stderr,
            )
        return manifest
    if entries and path.exists():
        # --force over an earlier batch: its reports must not mix with this one's.
        for folder in (out / REPORTS_DIR, out / PARTS_DIR):
            if folder.is_symlink():  # removed, never followed
                folder.unlink()
        shutil.rmtree(out / REPORTS_DIR, ignore_errors=True)
        shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
        for name in (*FINAL_FILES, MANIFEST_NAME):
            (out / name).unlink(missing_ok=True)
    _remove_temporaries(out)
    private_dir(out / REPORTS_DIR)
    _own_folders(out)
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    plan: dict[str, Any] = {"chunk_size": chunk_size}
    if taper is not None:
        plan["taper"] = taper
    return Manifest.create(path, {**header, **plan, "started_at": started})


def _plan(manifest: Manifest, rows: int) -> ChunkPlan:
    """How the batch's rows are cut, as its manifest header says (the plan on disk wins:
    a resumed batch is cut as it was first cut, whatever ``--jobs`` it resumes with)."""
    size, taper = manifest.header.get("chunk_size"), manifest.header.get("taper")
    if not isinstance(size, int) or size < 1 or not (taper is None or isinstance(taper, int)):
        raise ManifestError(f"{manifest.path}: the chunk plan in its first line is not valid")
    return ChunkPlan(rows, size, taper)


def _own_folders(out: Path) -> None:
    """Refuse report and part folders that are links or not psyq's own: in a shared
    output folder, one planted there would receive every client's report."""
    for folder in (out / REPORTS_DIR, out / PARTS_DIR):
        try:
            info = folder.lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise InputError(
                f"{folder}: is a link or not a folder of psyq's own; psyq does not write "
                "client reports through it (use --force to start over)"
            )


def _remove_temporaries(out: Path) -> None:
    for folder in (out, out / REPORTS_DIR, out / PARTS_DIR):
        if folder.is_dir():
            for tmp in folder.glob(f".*{TMP_SUFFIX}"):
                tmp.unlink(missing_ok=True)


# -- chunks ------------------------------------------------------------------------


def _chunk_jobs(
    data: BatchInput,
    instrument: Instrument,
    options: BatchOptions,
    manifest: Manifest,
    plan: ChunkPlan,
    shown: dict[str, Any] | None = None,
    language_notice: str | None = None,
) -> Iterator[ChunkJob]:
    """Jobs for the chunks the manifest does not have, names decided for every row."""
    allocator = StemAllocator()
    naming = bool(options.formats)  # scores-only batches write no reports to name
    definition = instrument.model_dump(mode="json")
    digest = str(manifest.header["instrument_hash"])
    generated = str(manifest.header["started_at"])
    done = manifest.done
    rows = data.rows
    for index, (start, size) in enumerate(plan):
        chunk = rows[start : start + size]
        # Stems are taken for every row, finished or not, so names never shift on resume;
        # a row that is another form's gets none (it would push a real row's name to -2).
        stems = [
            report_stem(allocator, r.client_id, instrument.id, r.date, r.row)
            if naming and r.problem != NOT_THIS_FORM
            else ""
            for r in chunk
        ]
        if index in done:
            continue
        yield ChunkJob(
            index=index,
            instrument=definition,
            instrument_hash=digest,
            formats=options.formats,
            generated_at=generated,
            rows=tuple(_row_job(r, stem) for r, stem in zip(chunk, stems, strict=True)),
            shown=shown,
            language=options.language,
            language_notice=language_notice,
            sexes={r.row: r.sex for r in chunk if r.sex},
            notices={r.row: r.notice for r in chunk if r.notice},
            date_column=options.columns.date_column,
        )


def _slice_jobs(
    source: CsvFile | None,
    instrument: Instrument,
    options: BatchOptions,
    manifest: Manifest,
    plan: ChunkPlan,
    parts: Path,
) -> Iterator[ChunkJob]:
    """Jobs for the chunks the manifest does not have, each a range of lines to read."""
    private_dir(parts)
    assert source is not None
    definition = instrument.model_dump(mode="json")
    digest = str(manifest.header["instrument_hash"])
    generated = str(manifest.header["started_at"])
    done = manifest.done
    for index, (start, size) in enumerate(plan):
        if index in done:
            continue
        yield ChunkJob(
            index=index,
            instrument=definition,
            instrument_hash=digest,
            formats=(),
            generated_at=generated,
            rows=(),
            source=source.slice(start, size),
            parts=str(parts),
            date_column=options.columns.date_column,
        )


def _row_job(row: InputRow, stem: str) -> RowJob:
    # The worker gets the full authored date-time when the row has one (the stem,
    # named above from the date alone, does not change).
    when = row.authored or row.date
    return (row.row, row.client_id, when, stem, row.values, row.problem)


# -- the final files -----------------------------------------------------------------


def _finish(
    out: Path,
    instrument: Instrument,
    data: _Source,
    manifest: Manifest,
    options: BatchOptions,
    runner: ChunkRunner | None,
    shown: Instrument | None = None,
) -> tuple[CohortStats, Path]:
    stats = CohortStats(instrument)
    header = ",".join(scores_header(instrument)) + "\r\n"
    with (
        atomic_file(out / "scores.csv") as scores,
        atomic_file(out / "errors.csv") as errors,
    ):
        scores.write(header.encode("utf-8"))
        errors.write((",".join(ERRORS_HEADER) + "\r\n").encode("utf-8"))
        # Workers wrote each chunk's CSV lines; chunks come back in row order.
        for chunk in manifest.chunks():
            if "scores_part" in chunk:
                _copy_part(out / PARTS_DIR, chunk, scores)
            else:
                scores.write(chunk["scores"].encode("utf-8"))
            errors.write(chunk["errors"].encode("utf-8"))
            stats.merge(chunk["cohort"])
    now = datetime.now().astimezone()
    # --language: the summary in the reports' language (instrument texts and psyq's words).
    html = render_cohort_html(
        stats,
        source=data.label,
        generated_at=now,
        errors=stats.failed,
        shown=shown,
        language=options.language,
    )
    if options.summary == "pdf" and runner is not None:
        cohort_path = out / "cohort-summary.pdf"
        (pdf,) = runner.run(render_cohort_pdf, [html])
        write_atomic(cohort_path, pdf, durable=True)
    else:
        cohort_path = out / "cohort-summary.html"
        write_atomic(cohort_path, html.encode("utf-8"), durable=True)
    summary = {
        "instrument": {
            "id": instrument.id,
            "version": instrument.version,
            "title": instrument.title,
            "status": instrument.status,
            "content_hash": manifest.header["instrument_hash"],
        },
        "notices": instrument.notices,
        "input": data.label,
        "input_sha256": data.digest,
        "formats": list(options.formats),
        "executor": options.executor,
        **stats.summary(),
        "files": {
            "reports": REPORTS_DIR,
            "scores": "scores.csv",
            "errors": "errors.csv",
            "cohort_summary": cohort_path.name,
            "manifest": MANIFEST_NAME,
        },
        "started_at": manifest.header["started_at"],
        "finished_at": now.isoformat(timespec="seconds"),
    }
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    write_atomic(out / "summary.json", text.encode("utf-8"), durable=True)
    # Every part is in scores.csv now; a resume of this finished batch scores again.
    shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
    return stats, cohort_path


def _copy_part(folder: Path, chunk: dict[str, Any], into: IO[bytes]) -> None:
    """Copy a chunk's scores part file into ``into``, checking its SHA-256 as it goes."""
    path = folder / part_name(int(chunk["chunk"]))  # what check_parts allowed
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
                into.write(block)
    except OSError as exc:
        raise PsyqError(
            f"{path}: cannot read this chunk's scores ({exc.strerror}); rerun with --resume"
        ) from None
    if digest.hexdigest() != chunk["scores_sha256"]:
        raise PsyqError(f"{path}: changed while the batch ran; rerun with --resume")


def _documents(pm: PsyqPluginManager, instrument: Instrument) -> DocumentReader:
    """Resource lines of a JSONL input become answers through ``psyq_parse_answers``."""

    def read(obj: dict[str, Any]) -> dict[str, Any]:
        answers: dict[str, Any] | None = pm.hook.psyq_parse_answers(instrument=instrument, data=obj)
        if answers is None:
            raise PsyqError(f"no plugin reads a '{obj.get('resourceType')}' resource")
        return answers

    return read
