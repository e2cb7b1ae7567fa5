"""``psyq score``: score one set of answers and print the result."""

from __future__ import annotations

import contextlib
import re
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from psyq.app import App
from psyq.errors import AnswerError, DefinitionError
from psyq.files import read_limited
from psyq.hookspecs import hookimpl
from psyq.manager import PsyqPluginManager
from psyq.plugins.fhir.export import TRANSACTION_HELP, with_transaction

if TYPE_CHECKING:
    from psyq.models import Instrument
    from psyq.results import ScoreResult

MAX_ANSWERS_FILE_BYTES = 1024 * 1024


def read_answers(
    instrument: Instrument,
    answers: str | None,
    answers_file: Path | None,
    pm: PsyqPluginManager | None = None,
) -> dict[str, int | None]:
    """Answers from ``--answers A1,A2,...`` or ``--answers-file`` (exactly one).

    A file holds any document a ``psyq_parse_answers`` plugin reads: a mapping of
    item id to answer, a FHIR QuestionnaireResponse, ... ``pm`` defaults to the
    plugin manager of the running command.
    """
    return read_document(instrument, answers, answers_file, pm)[0]


def read_document(
    instrument: Instrument,
    answers: str | None,
    answers_file: Path | None,
    pm: PsyqPluginManager | None = None,
) -> tuple[dict[str, int | None], dict[str, str]]:
    """:func:`read_answers`, and what the answers file says about them
    (:func:`psyq.plugins.answer_documents.parse_document`; ``{}`` for ``--answers``)."""
    if (answers is None) == (answers_file is None):
        raise AnswerError("give the answers with --answers A1,A2,... or --answers-file FILE")
    if answers is not None:
        from psyq.answers import parse_answer_list

        return parse_answer_list(instrument, answers), {}
    assert answers_file is not None
    data = _read_answers_file(answers_file)
    if pm is None:
        app = click.get_current_context().find_object(App)
        assert app is not None, "read_answers without pm runs inside a psyq command"
        pm = app.pm
    from psyq.plugins.answer_documents import parse_document

    return parse_document(pm, instrument, data, where=f"{answers_file}: ")


def document_options(about: dict[str, str]) -> dict[str, Any]:
    """Render options an answers file sets: ``status`` ``partial`` for a form it says
    was not finished (a FHIR QuestionnaireResponse ``in-progress`` or ``stopped``)."""
    return {"status": "partial"} if about.get("status") == "partial" else {}


def checked_day(day: date, option: str = "--date") -> date:
    """``day``, refused when in the future or before 1900 (:mod:`psyq.dates`): a typo
    that would sort first in the client's history (or, before 1900, one a de-identified
    export could not shift without overflowing)."""
    from psyq.dates import day_problem

    problem = day_problem(day)
    if problem is not None:
        raise AnswerError(f"{option} {day.isoformat()} {problem}; give the date it was taken")
    return day


def document_day(about: dict[str, str], path: Path | None, given: date | None) -> date | None:
    """The day the answers file says the form was filled in (a FHIR response's
    ``authored``), if it gives a whole date; it must agree with ``given`` (``--date``).

    The file's date was ignored: a response authored months ago was stored and reported
    as taken today, and a ``--date`` that contradicted it was kept without a word.
    """
    from psyq.dates import day_problem, moment_problem, period_problem

    text = about.get("date", "")
    partial = re.fullmatch(r"([0-9]{4})(?:-([0-9]{2}))?", text)
    if partial is not None:  # FHIR allows 2026 or 2026-03: no day to use, but a typo still
        year, month = int(partial[1]), int(partial[2]) if partial[2] else None
        problem = period_problem(year, month) if 1 <= (month or 1) <= 12 else None
        if problem is not None:
            raise AnswerError(f"{path}: authored {text} {problem}; correct the file")
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None  # none, or a partial date
    try:
        written = date.fromisoformat(text)
    except ValueError:
        raise AnswerError(f"{path}: authored '{text}' is not a date; correct the file") from None
    if given is not None and written != given:
        raise AnswerError(
            f"--date {given.isoformat()} contradicts {path}, authored {text}; give the "
            "date it was filled in once (leave out --date to use the file's)"
        )
    problem = day_problem(written)
    moment = about.get("authored", "")
    if problem is None and moment:  # a date-time: today's date, but hours ahead of now
        with contextlib.suppress(ValueError):
            problem = moment_problem(datetime.fromisoformat(moment))
        text = moment if problem is not None else text
    if problem is not None:
        raise AnswerError(f"{path}: authored {text} {problem}; correct the file")
    return written


def with_document_sex(
    client: dict[str, str], about: dict[str, str], given: str, where: Path | None
) -> dict[str, str]:
    """``client`` with the sex an answers file gives (a FHIR Patient's gender).

    The file and ``given`` (``--sex``, or the client's recorded sex) must agree:
    a disagreement is refused in one line rather than one of them silently winning.
    """
    sex = about.get("sex")
    if not sex:
        return client
    if client.get("sex", sex) != sex:
        source = about.get("sex_source", "answers file")
        raise AnswerError(
            f"{where}: the {source} has gender {sex}, but {given} is {client['sex']}; "
            "correct the one that is wrong (cut-offs depend on sex)"
        )
    return {**client, "sex": sex}


def _read_answers_file(path: Path) -> Any:
    if str(path) == "-":
        try:
            raw = sys.stdin.buffer.read(MAX_ANSWERS_FILE_BYTES + 1)
        except OSError as exc:
            raise AnswerError(f"<stdin>: cannot read answers: {exc.strerror or exc}") from None
        path = Path("<stdin>.yaml")
    else:
        raw = read_limited(path, MAX_ANSWERS_FILE_BYTES, "an answers file", AnswerError)
    if len(raw) > MAX_ANSWERS_FILE_BYTES:
        raise AnswerError(f"{path}: answers file is larger than {MAX_ANSWERS_FILE_BYTES} bytes")
    from psyq.plugins.data_files import load_data

    try:
        return load_data(path, raw)
    except DefinitionError as exc:
        raise AnswerError(str(exc)) from None


def reading_aids_for(
    instrument: Instrument, link_map: Path | None, questionnaires: tuple[Path, ...]
) -> contextlib.AbstractContextManager[None]:
    """Read answers inside this block with ``--link-map`` and ``--questionnaire``, when
    given (:mod:`psyq.plugins.fhir.linking`, loaded only then)."""
    if link_map is None and not questionnaires:
        return contextlib.nullcontext()
    from psyq.plugins.fhir.linking import aids_for, reading_aids

    return reading_aids(aids_for(instrument, link_map, questionnaires))


link_map_option = click.option(
    "--link-map",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML/JSON mapping of your FHIR linkIds to item ids (Q1: phq9_1).",
)
questionnaire_option = click.option(
    "--questionnaire",
    "questionnaires",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="FHIR Questionnaire the responses answer: its answer codes and item codes "
    "are used to read them (repeatable).",
)
answers_option = click.option(
    "--answers",
    metavar="A1,A2,...",
    help="One answer per item, in order; '-' (or empty) for one not answered.",
)
answers_file_option = click.option(
    "--answers-file",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    help="JSON or YAML mapping of item id to answer, or a FHIR QuestionnaireResponse "
    "('-' reads stdin).",
)


norms_option = click.option(
    "--norms",
    "norm_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Norm table file (psyq norms build); default: the tables the definition names.",
)
group_option = click.option(
    "--group",
    "group_text",
    metavar="NAME=VALUE,...",
    help="The client's norm group, e.g. sex=f,age=34 (age falls into the table's bands).",
)


sex_option = click.option(
    "--sex",
    metavar="female|male|other|unknown",
    help="The client's sex, where cut-offs depend on it (AUDIT-C, AUDIT); the same as "
    "--group sex=... (default: unknown, and the bands assume neither).",
)


def client_for(instrument: Instrument, group_text: str | None, sex: str | None) -> dict[str, str]:
    """The client attributes given with ``--sex`` / ``--group`` (normalised) for scoring.

    ``--group`` is read for them only where the instrument's bands use them: elsewhere
    it names a norm group, whose values are the norm table's own (``sex=f``).
    """
    if not (group_text or sex):
        return {}
    from psyq.clients import known_attributes, normalise_attribute

    pairs: dict[str, str] = {}
    if group_text and instrument.client_attributes:
        from psyq.norms import parse_group

        pairs = parse_group(group_text)
    if sex is not None:
        given = pairs.get("sex")
        if given is not None and normalise_attribute("sex", given, "--group: ") != (
            normalise_attribute("sex", sex, "--sex: ")
        ):
            raise AnswerError(f"--sex {sex} and --group sex={given} disagree; give one")
        pairs["sex"] = normalise_attribute("sex", sex, "--sex: ")
    return known_attributes(pairs, "--group: ")


def scored_with_norms(
    app: App,
    instrument: Instrument,
    result: ScoreResult,
    norm_files: tuple[Path, ...],
    group_text: str | None,
) -> ScoreResult:
    """Add ``"norm"`` to each scale a norm table covers (psyq.norms loads only when needed).

    A ``--group`` that only names client attributes the instrument's bands use
    (``sex`` for AUDIT-C) is for the bands, not for norms.
    """
    if group_text and not (norm_files or instrument.norms) and instrument.client_attributes:
        from psyq.norms import parse_group

        if set(parse_group(group_text)) <= instrument.client_attributes:
            return result
    if not (norm_files or group_text or instrument.norms):
        return result
    from psyq.norms import with_norms

    return with_norms(app.pm, instrument, result, list(norm_files), group_text)


@click.command("score")
@click.argument("instrument_id")
@answers_option
@answers_file_option
@link_map_option
@questionnaire_option
@norms_option
@group_option
@sex_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--format", "format_name", default=None, help="Any text output format (table, json, ...)."
)
@click.option("--transaction", is_flag=True, help=TRANSACTION_HELP)
@click.pass_obj
def score_command(
    app: App,
    instrument_id: str,
    answers: str | None,
    answers_file: Path | None,
    link_map: Path | None,
    questionnaires: tuple[Path, ...],
    norm_files: tuple[Path, ...],
    group_text: str | None,
    sex: str | None,
    as_json: bool,
    format_name: str | None,
    transaction: bool,
) -> None:
    """Score one administration of INSTRUMENT_ID and print the scores and flags.

    \b
    Example:
      psyq score phq9 --answers 1,2,0,1,1,0,2,1,0
      psyq score gad7 --answers-file answers.yaml --json
      psyq score phq9 --answers-file qr.json --link-map my-linkids.yaml
      psyq score ccts --answers 1,2,... --norms ccts-norms.json --group sex=f,age=34
      psyq score auditc --answers 3,0,0 --sex female
    """
    instrument = app.instrument(instrument_id)
    client = client_for(instrument, group_text, sex)
    with reading_aids_for(instrument, link_map, questionnaires):
        valid, about = read_document(instrument, answers, answers_file, app.pm)
    client = with_document_sex(client, about, "--sex (or --group sex=)", answers_file)
    result = app.scorer.score_valid(instrument, valid, client)
    result = scored_with_norms(app, instrument, result, norm_files, group_text)
    from psyq.outputs import RenderRequest, get_output_format

    fmt = get_output_format(app.pm, "json" if as_json else (format_name or "table"))
    if fmt.binary:
        raise AnswerError(f"format '{fmt.name}' is binary; write it to a file with `psyq report`")
    if transaction:
        (name,) = with_transaction((fmt.name,), transaction)
        fmt = get_output_format(app.pm, name)
    out = fmt.render(
        RenderRequest(result=result, instrument=instrument, options=document_options(about))
    )
    click.echo(out.decode("utf-8"), nl=not out.endswith(b"\n"))
    if result.critical:
        _alert_beside(app, fmt.name, result)


def _alert_beside(app: App, format_name: str, result: ScoreResult) -> None:
    """A plugin's format may leave the alert out (psyq cannot tell): psyq says it on
    stderr too, worded as the table words it, so a critical flag is never hidden."""
    from psyq.alerts import alert_line
    from psyq.outputs import format_provider

    provider = format_provider(app.pm, format_name)
    if provider is None or app.pm.is_builtin(provider):
        return  # psyq's own formats lead with the alert
    for flag in result.critical:
        click.echo(f"psyq: {alert_line(flag)}", err=True)


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [score_command]
