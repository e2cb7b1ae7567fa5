"""``psyq batch``: score a whole file of respondents, one report each, on every core.

Also registers the ``local`` batch executor (a process pool on this machine).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from psyq.app import App
from psyq.errors import PsyqError
from psyq.hookspecs import hookimpl
from psyq.plugins.commands.score import link_map_option, questionnaire_option, reading_aids_for
from psyq.plugins.fhir.export import TRANSACTION_HELP, with_transaction

if TYPE_CHECKING:
    from psyq.batch.executors import BatchExecutor

DEFAULT_FORMATS = ("pdf", "html", "json")
MAX_JOBS = 1024
"""Most worker processes ``--jobs`` may ask for (more than any machine psyq runs on has cores)."""


def _formats(app: App, text: str | None, scores_only: bool) -> tuple[str, ...]:
    from psyq.outputs import output_formats

    if scores_only:
        if text:
            raise PsyqError("give --format or --scores-only, not both")
        return ()
    if text is None:
        available = output_formats(app.pm)
        # The richest report installed: PDF when the pdf format is there.
        return tuple(name for name in DEFAULT_FORMATS if name in available)[:1]
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not names:
        raise PsyqError("--format needs at least one format name, e.g. --format pdf,json")
    return names


@click.command("batch")
@click.argument("input_path", metavar="INPUT")
@click.option("--instrument", "instrument_id", required=True, help="Instrument id, e.g. phq9.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for reports, scores.csv, errors.csv and the summaries.",
)
@click.option(
    "--format",
    "format_text",
    metavar="F1,F2",
    help="Report formats per row (default: pdf when installed, else html, else json).",
)
@click.option("--transaction", is_flag=True, help=TRANSACTION_HELP)
@click.option("--scores-only", is_flag=True, help="No per-row reports: scores.csv and summaries.")
@click.option(
    "--jobs",
    # Bounded: a pool's semaphore holds jobs x chunks per worker in a C int, so a
    # huge --jobs was an OverflowError, not a usage error.
    type=click.IntRange(min=1, max=MAX_JOBS),
    default=None,
    help="Worker processes (default: every core).",
)
@click.option("--resume", is_flag=True, help="Finish an interrupted batch in DIR.")
@click.option("--force", is_flag=True, help="Write into a non-empty DIR, replacing a batch.")
@click.option(
    "--executor",
    default="local",
    show_default=True,
    help="Where chunks run: local, dask, or a plugin's executor.",
)
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://10.0.0.5:8786.")
@click.option("--id-column", default="client_id", show_default=True, help="Client id column.")
@click.option(
    "--date-column",
    default="date",
    show_default=True,
    help="Date column, if any (one named here must be in the file).",
)
@click.option(
    "--ignore-extra-columns", is_flag=True, help="Skip columns that are not items (REDCap)."
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per chunk sent to a worker (default: 16 when rendering, 500 scores-only; "
    "with the default and several workers, report chunks get smaller toward the end so "
    "the workers finish together; a size given here is kept for every chunk).",
)
@click.option(
    "--summary",
    "summary_format",
    type=click.Choice(["pdf", "html"]),
    default=None,
    help="Cohort summary format (default: pdf when the pdf format is installed).",
)
@click.option(
    "--language",
    metavar="TAG",
    help="Write the reports in this language (a complete translation must exist).",
)
@click.option("--quiet", is_flag=True, help="No progress bar, no summary line.")
@link_map_option
@questionnaire_option
@click.option(
    "--redcap",
    "redcap_dictionary",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="DICT.csv",
    help="INPUT is a REDCap record export of this data dictionary's project. A form "
    "whose <form>_complete is Incomplete is not scored (errors.csv names its critical "
    "items); rows holding none of the form's answers are skipped and counted.",
)
@click.option(
    "--to",
    "to_target",
    type=click.Choice(["redcap"]),
    help="Also write redcap-import.csv: scores, bands and flags by record_id and event.",
)
@click.pass_context
def batch_command(
    ctx: click.Context,
    input_path: str,
    instrument_id: str,
    out_dir: Path,
    format_text: str | None,
    transaction: bool,
    scores_only: bool,
    jobs: int | None,
    resume: bool,
    force: bool,
    executor: str,
    scheduler: str | None,
    id_column: str,
    date_column: str,
    ignore_extra_columns: bool,
    chunk_size: int | None,
    summary_format: str | None,
    language: str | None,
    quiet: bool,
    link_map: Path | None,
    questionnaires: tuple[Path, ...],
    redcap_dictionary: Path | None,
    to_target: str | None,
) -> None:
    """Score every respondent in INPUT (CSV, JSONL, or - for stdin) and write reports.

    \b
    INPUT columns: client_id, optional date (YYYY-MM-DD), one per item id;
    an empty cell is a missing answer. Exit status: 0 every row scored,
    1 some rows failed (see DIR/errors.csv; the rest are written), 2 the
    input cannot be used.

    \b
    Examples:
      psyq batch cohort.csv --instrument phq9 --out reports/
      psyq batch cohort.csv --instrument phq9 --out reports/ --resume
      psyq batch cohort.jsonl --instrument gad7 --out out/ --format json,html
      psyq batch responses.ndjson --instrument phq9 --out out/ --format fhir --transaction
      psyq batch export.csv --instrument phq9 --redcap dictionary.csv --to redcap --out out/
      psyq batch cohort.csv --instrument phq9 --out out/ --executor dask \\
          --scheduler tcp://10.0.0.5:8786
    """
    # Imported here so that `psyq list` does not pay for the batch machinery.
    from psyq.batch import BatchOptions, run_batch
    from psyq.batch.inputs import ColumnMap
    from psyq.outputs import output_formats

    app: App = ctx.obj
    if resume and force:
        raise PsyqError("give --resume or --force, not both")
    if executor != "local" and jobs is not None:
        raise PsyqError("--jobs sizes the local pool; size a Dask cluster with `dask worker`")
    if executor == "local" and scheduler is not None:
        # A batch meant for a cluster must not quietly run on this machine instead.
        raise PsyqError("--scheduler is a Dask scheduler's address: give it with --executor dask")
    from click.core import ParameterSource

    given = click.get_current_context().get_parameter_source("date_column")
    columns = ColumnMap(
        id_column,
        date_column,
        ignore_extra_columns,
        date_given=given not in (None, ParameterSource.DEFAULT),
    )
    mapping = None
    if redcap_dictionary is not None:
        from psyq.plugins.redcap.records import form_status, map_export

        if input_path == "-":
            raise PsyqError("--redcap reads the export twice: give it as a file, not stdin")
        mapping = map_export(app.instrument(instrument_id), redcap_dictionary)
        columns = ColumnMap(
            # The project's record ID field (its dictionary's first), unless told.
            id_column if id_column != "client_id" else mapping.record_id,
            date_column,
            True,  # a record export holds every form's fields
            rename=mapping.rename,
            answer_codes=mapping.answer_codes,
            # An Incomplete form is not scored as a finished one (see form_status).
            status=form_status(mapping.form),
            date_given=columns.date_given,
        )
    elif to_target is not None:
        raise PsyqError("--to redcap needs --redcap DICT.csv (the project's data dictionary)")
    options = BatchOptions(
        input=input_path,
        instrument_id=instrument_id,
        out_dir=out_dir,
        formats=with_transaction(_formats(app, format_text, scores_only), transaction),
        jobs=jobs or os.cpu_count() or 1,
        resume=resume,
        force=force,
        executor=executor,
        scheduler=scheduler,
        columns=columns,
        chunk_size=chunk_size,
        progress=not quiet,
        summary=summary_format or ("pdf" if "pdf" in output_formats(app.pm) else "html"),
        language=language,
    )
    aids = reading_aids_for(app.instrument(instrument_id), link_map, questionnaires)
    with _signals_interrupt(), aids:  # FHIR lines are read in this process
        try:
            outcome = run_batch(app, options)
        except OSError as exc:
            import errno

            from psyq.files import write_error

            midway = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
            hint = "; finished rows are kept: fix it, then rerun with --resume" if midway else ""
            raise write_error(exc, hint=hint) from None
        except KeyboardInterrupt:
            # Every chunk in the manifest is whole; the rest runs again on --resume.
            click.echo(
                f"psyq: interrupted: finished rows are kept in {out_dir}; "
                f"continue with the same command and --resume",
                err=True,
            )
            ctx.exit(130)
    from psyq.plugins.redcap.records import REDCAP_OUTPUTS, finish_redcap_outputs, rows_said

    # An earlier batch's REDCap files go with its other outputs (--force), so scores that
    # are not this batch's are never left ready to import; --to redcap writes them anew.
    for name in REDCAP_OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)
    if mapping is not None:
        said = finish_redcap_outputs(
            Path(input_path), out_dir, app.instrument(instrument_id), mapping, to_target == "redcap"
        )
        if said:  # Unverified rows, or no status column: said even with --quiet
            click.echo(said, err=True)
        # Other forms' rows skipped, forms not started: said even with --quiet (a row
        # found in no output file is never dropped without a word).
        for line in rows_said(
            out_dir / "errors.csv", app.instrument(instrument_id), mapping.form, outcome.skipped
        ):
            click.echo(line, err=True)
    if not quiet:
        resumed = f" ({outcome.resumed} from before --resume)" if outcome.resumed else ""
        click.echo(
            f"{outcome.rows} rows{resumed}: {outcome.scored} scored, {outcome.failed} failed, "
            f"{outcome.flagged} flagged ({outcome.critical} critical) -> {out_dir}/ "
            f"(summary: {outcome.cohort_summary.name})",
            err=True,
        )
        if outcome.failed:
            click.echo(f"see {out_dir / 'errors.csv'} for the rows that failed", err=True)
    if outcome.critical:  # said even with --quiet: a risk is never only in a file
        click.echo(
            f"!!! CRITICAL: {outcome.critical} row(s) raise a critical flag: see the flags "
            f"column of {out_dir / 'scores.csv'} and the cohort summary",
            err=True,
        )
    if outcome.failed:
        _say_critical_failures(out_dir / "errors.csv")
    ctx.exit(1 if outcome.failed else 0)


def _say_critical_failures(errors_csv: Path) -> None:
    """A row not scored that names a critical item (an unfinished form's, or one a row
    with a bad answer, date or id elsewhere raises) is said on the terminal too, even
    with --quiet: a risk is never only in a file nobody opened."""
    import csv

    from psyq.alerts import CRITICAL_ITEMS

    try:
        with errors_csv.open(encoding="utf-8", newline="") as f:
            marker = f": {CRITICAL_ITEMS}"  # after the "row N" errors.csv puts first
            count = sum(marker in row.get("reason", "") for row in csv.DictReader(f))
    except (OSError, csv.Error, UnicodeError):
        return
    if count:
        click.echo(
            f"!!! CRITICAL: {count} row(s) not scored name a critical item and its answer "
            f"(an unfinished form, or a row with another problem): see {errors_csv}",
            err=True,
        )


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``) stops a batch the way Ctrl-C does: cleanly, resumable."""
    import signal  # here, not at import: every command loads this plugin

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (an embedding program): leave it be
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [batch_command]


@hookimpl(trylast=True)
def psyq_batch_executors() -> list[BatchExecutor]:
    from psyq.batch.executors import LOCAL

    return [LOCAL]
