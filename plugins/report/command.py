"""``psyq report``: score one administration and write a clinician report (PDF, HTML, JSON)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from psyq.app import App
from psyq.errors import PsyqError
from psyq.files import refuse_existing, write_output
from psyq.hookspecs import hookimpl
from psyq.paper import PAPER_SIZES
from psyq.plugins.commands.score import (
    answers_file_option,
    answers_option,
    checked_day,
    client_for,
    document_day,
    document_moment,
    document_options,
    group_option,
    norms_option,
    read_document,
    scored_with_norms,
    sex_option,
    with_document_sex,
)

if TYPE_CHECKING:
    from psyq.outputs import OutputFormat, RenderRequest

MAX_NOTE_CHARS = 5000
MAX_FIELD_CHARS = 200


def parse_date(text: str | None) -> date:
    """``--date YYYY-MM-DD``; today when not given."""
    if text is None:
        return date.today()
    from psyq.dates import written_day

    try:
        # Python also reads 20260101 and week dates (2026-W01-1): not the form asked for.
        day = written_day(text.strip())
    except ValueError:
        raise PsyqError(f"--date: '{text}' is not a date in YYYY-MM-DD form") from None
    return checked_day(day)


def _checked(option: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise PsyqError(f"{option}: {len(value)} characters; at most {limit} are allowed")
    return value or None


def choose_format(
    app: App, output: Path, format_name: str | None, transaction: bool = False
) -> OutputFormat:
    """``--format`` if given, else the format whose suffix ``output`` has;
    ``--transaction`` makes ``fhir`` the transaction Bundle."""
    from psyq.outputs import get_output_format, require_format_for_path
    from psyq.plugins.fhir.export import with_transaction

    if format_name:
        fmt = get_output_format(app.pm, format_name)
    else:
        fmt = require_format_for_path(app.pm, output.name, hint=", or --format NAME")
    (name,) = with_transaction((fmt.name,), transaction)
    return fmt if name == fmt.name else get_output_format(app.pm, name)


def write_atomically(target: Path, data: bytes, *, force: bool) -> None:
    """Write ``data`` to ``target`` via a temporary file, so a failure leaves no half file;
    a file already at ``target`` is replaced only with ``force``."""
    try:
        # Reports hold client data: owner-only, whatever the umask.
        write_output(target, data, force=force)
    except OSError as exc:
        raise PsyqError(f"{target}: cannot write the report: {exc.strerror or exc}") from None


class FormatOption(click.Option):
    """``--format``: its help lists the output formats installed when help is shown."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        app = ctx.find_object(App)
        if app is not None:
            from psyq.outputs import output_formats

            names = ", ".join(sorted(output_formats(app.pm)))
            self.help = f"One of: {names} (default: from the output file's suffix)."
        return super().get_help_record(ctx)


@click.command("report")
@click.argument("instrument_id", required=False)
@answers_option
@answers_file_option
@click.option("--client", "client_id", help="Client ID shown on the report.")
@click.option(
    "--administration",
    "administration_id",
    metavar="ID",
    help="Report a stored administration (see `psyq history`), with its trend.",
)
@click.option(
    "--latest",
    is_flag=True,
    help="Report the client's latest stored administration (of INSTRUMENT_ID, if given).",
)
@click.option(
    "--transaction",
    is_flag=True,
    help="With --format fhir: a transaction Bundle (POST entries) for a FHIR server.",
)
@click.option("--date", "date_text", metavar="YYYY-MM-DD", help="Administration date (today).")
@click.option("--clinician", help="Clinician's name shown on the report.")
@click.option("--note", help="Clinician's note, printed as plain text.")
@norms_option
@group_option
@sex_option
@click.option(
    "--paper",
    type=click.Choice(sorted(PAPER_SIZES), case_sensitive=False),
    default="a4",
    show_default=True,
    help="Page size of the PDF.",
)
@click.option(
    "--language",
    metavar="TAG",
    help="Write the report in this language (instrument texts need a complete translation).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Report file to write.",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option(
    "--format",
    "format_name",
    cls=FormatOption,
    default=None,
    help="An installed output format (default: from the output file's suffix).",
)
@click.pass_obj
def report_command(
    app: App,
    instrument_id: str | None,
    answers: str | None,
    answers_file: Path | None,
    client_id: str | None,
    administration_id: str | None,
    latest: bool,
    transaction: bool,
    date_text: str | None,
    clinician: str | None,
    note: str | None,
    norm_files: tuple[Path, ...],
    group_text: str | None,
    sex: str | None,
    paper: str,
    language: str | None,
    output: Path,
    force: bool,
    format_name: str | None,
) -> None:
    """Write a clinician report (PDF, HTML, JSON or a plugin's format) for one administration.

    Either score answers given here (INSTRUMENT_ID with --answers or
    --answers-file, and --client), or report a stored administration with
    --administration ID or --client C --latest; stored reports carry the
    client's trend over earlier administrations of the same instrument and
    definition version (other versions are named, not plotted).

    \b
    Examples:
      psyq report phq9 --answers 1,2,0,1,1,0,2,1,1 --client C-104 -o c104.pdf
      psyq report ccts --answers-file a.yaml --client C-7 --paper letter -o c7.html
      psyq report --administration 12 -o c104-latest.pdf
      psyq report phq9 --client C-104 --latest -o c104-trend.pdf
      psyq report --administration 12 --format fhir --transaction -o c104.fhir.json
    """
    fmt = choose_format(app, output, format_name, transaction)
    if not output.parent.is_dir():
        raise PsyqError(f"{output}: folder '{output.parent}' does not exist")
    stored = administration_id is not None or latest
    if stored:
        if answers is not None or answers_file is not None or date_text is not None:
            raise PsyqError(
                "--answers, --answers-file and --date describe a new administration; "
                "a stored one (--administration/--latest) already has them"
            )
        if sex is not None:
            raise PsyqError(
                "--sex is for a new administration; a stored one is scored with the "
                "client's recorded sex (`psyq clients set CLIENT --sex ...`)"
            )
        request = _stored_request(app, instrument_id, client_id, administration_id, latest)
        if clinician is not None:
            request.clinician = _checked("--clinician", clinician, MAX_FIELD_CHARS)
        if note is not None:
            request.note = _checked("--note", note, MAX_NOTE_CHARS)
    else:
        from psyq.clients import check_given_client_id
        from psyq.outputs import RenderRequest

        if instrument_id is None or client_id is None:
            raise PsyqError(
                "give INSTRUMENT_ID, the answers and --client, or --administration ID, "
                "or --client C --latest"
            )
        instrument = app.instrument(instrument_id)
        valid, about = read_document(instrument, answers, answers_file)
        given_day = parse_date(date_text) if date_text is not None else None
        client = client_for(instrument, group_text, sex)
        request = RenderRequest(
            result=app.scorer.score_valid(
                instrument,
                valid,
                with_document_sex(client, about, "--sex (or --group sex=)", answers_file),
            ),
            instrument=instrument,
            client_id=check_given_client_id(client_id),
            administered=(day := document_day(about, answers_file, given_day))
            or given_day
            or date.today(),
            authored=document_moment(about) if day is not None else None,
            clinician=_checked("--clinician", clinician, MAX_FIELD_CHARS),
            note=_checked("--note", note, MAX_NOTE_CHARS),
            generated_at=datetime.now().astimezone(),
            options=document_options(about),
        )
    request.result = scored_with_norms(
        app, request.instrument, request.result, norm_files, group_text
    )
    request.options["paper"] = paper.lower()
    # The line below is the command line's, in English as psyq's other messages are:
    # the name and band as defined, not as the report (--language) words them. Beside
    # an alert a band of low concern is the score's band only.
    short_name, band = request.instrument.short_name, request.band_shown("total")
    if language is not None:
        from psyq.translations import translate_request

        translate_request(app, request, language)
    refuse_existing(output, force)  # before rendering, the slow part
    write_atomically(output, fmt.render(request), force=force)
    total = request.result.total
    from psyq.alerts import alert_line, later_form_words
    from psyq.results import FlagHit

    # The alerts lead the line, before the score: a glance at the terminal meets them
    # first, worded as the table and history word them, each flag named by its id.
    alerts = [alert_line(f, text=f.id) for f in request.result.critical]
    for later in request.options.get("later_critical", []):  # --latest: forms left after it
        where = later_form_words(later)
        alerts += [
            alert_line(flag, where, text=flag.id)
            for flag in map(FlagHit.model_validate, later["flags"])
        ]
    if request.options.get("changed_outside_psyq"):
        alerts.append("CHANGED OUTSIDE PSYQ after it was saved (psyq audit verify)")
    for earlier in request.options.get("earlier_changed_outside_psyq", []):
        alerts.append(
            f"earlier administration {earlier['administration_id']} in the trend CHANGED "
            "OUTSIDE PSYQ"
        )
    for kept in request.options.get("answer_versions", []):
        earlier = ", ".join(kept["critical_flags"])
        alerts.append(
            f"ANSWERS CHANGED after saving (answer version {kept['id']} kept"
            + (f"; it raised CRITICAL {earlier})" if earlier else ")")
        )
    for other in request.options.get("other_changed_outside_psyq", []):
        alerts.append(
            f"administration {other['administration_id']}, not in the trend, CHANGED OUTSIDE PSYQ"
        )
    if request.options.get("audit_log_changed_outside_psyq"):
        alerts.append(
            "AUDIT LOG CHANGED OUTSIDE PSYQ ("
            + ("" if request.options.get("audit_log_not_psyqs") else "entries deleted; ")
            + "psyq audit verify)"
        )
    for moved in request.options.get("left_client_outside_psyq", []):
        alerts.append(
            f"administration {moved['administration_id']} "
            + (
                "LEFT THIS CLIENT OUTSIDE PSYQ"
                if moved["former_client"]
                else "CHANGED OUTSIDE PSYQ, CLIENT UNKNOWN"
            )
            + (f" (it raises CRITICAL {', '.join(moved['critical'])})" if moved["critical"] else "")
        )
    for deleted in request.options.get("deleted_outside_psyq", []):
        alerts.append(
            f"administration {deleted['administration_id']} DELETED OUTSIDE PSYQ (the trend "
            "may be missing it)"
        )
    for gone in request.options.get("records_deleted_outside_psyq", []):
        alerts.append(f"{gone['record']} DELETED OUTSIDE PSYQ")
    for later in request.options.get("later_changed_outside_psyq", []):
        alerts.append(
            f"later {later['status']} administration {later['administration_id']} CHANGED "
            "OUTSIDE PSYQ"
        )
    partial = " (PARTIAL administration)" if request.options.get("status") == "partial" else ""
    prorated = " (prorated)" if total.prorated else ""
    said = f": {'; '.join(alerts)};" if alerts else ""
    click.echo(
        f"wrote {output} ({fmt.name}): {short_name}{partial}{said} total "
        f"{'not scored' if total.value is None else total.value}{prorated}"
        f"{' ' + band if band else ''}",
        err=True,
    )


def _stored_request(
    app: App,
    instrument_id: str | None,
    client_id: str | None,
    administration_id: str | None,
    latest: bool,
) -> RenderRequest:
    # The store and history modules load only for stored reports (start-up time).
    from psyq.history import render_request_for, render_request_for_latest

    if administration_id is not None:
        if latest or client_id is not None:
            raise PsyqError("use --administration ID on its own, or --client C --latest")
        request = render_request_for(app, administration_id)
        if instrument_id is not None and request.instrument.id != app.instrument(instrument_id).id:
            raise PsyqError(
                f"administration {administration_id} is a {request.instrument.id}, "
                f"not a {instrument_id}"
            )
        return request
    if client_id is None:
        raise PsyqError("--latest needs --client C")
    instrument = app.instrument(instrument_id).id if instrument_id else None
    return render_request_for_latest(app, client_id, instrument)


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [report_command]
