"""Commands over the client store: ``record``, ``clients``, ``history``, ``rescore``,
``audit verify`` and ``export``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from psyq.app import App
from psyq.errors import AnswerError, PsyqError
from psyq.files import write_output
from psyq.hookspecs import hookimpl
from psyq.plugins.commands.score import (
    answers_file_option,
    answers_option,
    checked_day,
    document_day,
    document_options,
    read_document,
)
from psyq.plugins.report.command import MAX_FIELD_CHARS, MAX_NOTE_CHARS
from psyq.text import json_visible, visible

# The store, audit and history modules (and sqlite3) load when a command runs, so
# `psyq list` and `psyq score` do not pay for them at start-up.
if TYPE_CHECKING:
    from psyq.change import Change, Outcome
    from psyq.history import HistoryEntry
    from psyq.models import Instrument
    from psyq.results import FlagHit, ScoreResult
    from psyq.store import Administration, AnswerVersion, MovedForm, Store

KEY_FILE = "deidentify.key"

client_option = click.option(
    "--client",
    "client_id",
    required=True,
    metavar="ID",
    help="Pseudonymous client id, e.g. C0042 (never a name).",
)
clinician_option = click.option(
    "--clinician",
    envvar="PSYQ_CLINICIAN",
    metavar="NAME",
    help="Who administered it (default: $PSYQ_CLINICIAN).",
)
if TYPE_CHECKING:
    _DateParam = click.ParamType[datetime]
else:  # click before 8.2 has no generic ParamType
    _DateParam = click.ParamType


class DateType(_DateParam):
    """``YYYY-MM-DD``, a real calendar date (``2026-02-30`` is named as not one)."""

    name = "YYYY-MM-DD"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        from psyq.dates import written_day

        text = str(value).strip()
        try:
            # strptime read full-width or Arabic-Indic digits (２０２６) too, and 2026-1-5,
            # which report --date and a batch row refuse: one form, YYYY-MM-DD in 0-9.
            day = written_day(text)
            return datetime(day.year, day.month, day.day)
        except ValueError:
            shown = text if len(text) <= 40 else text[:37] + "..."
            self.fail(f"'{shown}' is not a date; give a real date as YYYY-MM-DD", param, ctx)


date_type = DateType()


def checked_text(option: str, value: str | None, limit: int) -> str | None:
    """Free text within ``limit`` characters (the same caps as ``psyq report``)."""
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise PsyqError(f"{option}: {len(value)} characters; at most {limit} are allowed")
    return value or None


def administered_on(value: datetime | None) -> date:
    """The administration date: given (not in the future) or today."""
    if value is None:
        return date.today()
    return checked_day(value.date())


# -- record ------------------------------------------------------------------


@click.command("record")
@click.argument("instrument_id")
@client_option
@answers_option
@answers_file_option
@click.option("--date", "when", type=date_type, help="Date it was filled in (default: today).")
@clinician_option
@click.option("--note", help="Free-text note (left out of de-identified exports).")
@click.pass_obj
def record_command(
    app: App,
    instrument_id: str,
    client_id: str,
    answers: str | None,
    answers_file: Path | None,
    when: datetime | None,
    clinician: str | None,
    note: str | None,
) -> None:
    """Store a completed (paper) form of INSTRUMENT_ID for a client.

    The answers are checked exactly as `psyq score` checks them; nothing is
    stored unless all of them are valid. A FHIR QuestionnaireResponse that is
    in-progress or stopped is stored as a partial administration.

    \b
    Example:
      psyq record phq9 --client C0042 --date 2026-09-01 --answers 2,2,3,2,2,1,2,1,0
    """
    from psyq.clients import check_client_id, known_attributes

    check_client_id(client_id)
    clinician = checked_text("--clinician", clinician, MAX_FIELD_CHARS)
    note = checked_text("--note", note, MAX_NOTE_CHARS)
    day = administered_on(when)
    instrument = app.instrument(instrument_id)
    valid, about = read_document(instrument, answers, answers_file)
    day = document_day(about, answers_file, day if when is not None else None) or day
    with app.open_store() as store:
        # Cut-offs that depend on the client (AUDIT-C: sex) use what is recorded.
        client = store.scoring_attributes(client_id) if instrument.client_attributes else {}
        if about.get("sex") and "sex" in instrument.client_attributes:
            _record_document_sex(store, client_id, client, about, answers_file)
            client = {**client, "sex": about["sex"]}
        result = app.scorer.score_valid(instrument, valid, known_attributes(client))
        # A form the file says was not finished (FHIR in-progress, stopped) is stored
        # as partial, as `administer` stores one stopped before its end.
        options = document_options(about)
        unfinished = options.get("status") == "partial"
        adm = store.add_administration(
            instrument=instrument,
            client_id=client_id,
            answers=valid,
            result=result,
            administered=day,
            clinician=clinician,
            note=note,
            status="partial" if unfinished else "complete",
            position=_resume_position(instrument, valid) if unfinished else None,
            plugins=app.scoring_plugins(),
            origin=app.origin(instrument_id),
        )
    partial = " as a PARTIAL administration (the answers file says the form was not finished)"
    subject = str(about.get("client_id") or "")
    if subject and subject.rpartition("/")[2] != client_id:
        # Another id space (a FHIR server's Patient/123) or another client's form: say so.
        from psyq.text import visible

        click.echo(
            f"psyq: warning: {answers_file} names its subject '{visible(subject)}', not "
            f"{client_id}; stored under client {client_id} as --client says: check it is "
            "this client's form",
            err=True,
        )
    click.echo(
        f"saved administration {adm.id}: {instrument.short_name} for client {client_id} "
        f"on {day.isoformat()}{partial if unfinished else ''}"
    )
    from psyq.outputs import RenderRequest, get_output_format

    table = get_output_format(app.pm, "table")
    request = RenderRequest(result=result, instrument=instrument, options=options)
    click.echo(table.render(request).decode(), nl=False)


def _resume_position(instrument: Instrument, answers: dict[str, int | None]) -> int:
    """Where ``administer --resume`` continues an unfinished form: its first unanswered item."""
    for n, item in enumerate(instrument.items):
        if answers.get(item.id) is None:
            return n
    return len(instrument.items)


def _record_document_sex(
    store: Store,
    client_id: str,
    recorded: dict[str, str],
    about: dict[str, str],
    path: Path | None,
) -> None:
    """Record the sex an answers file gives (a FHIR Patient's gender) for a client with
    none recorded, or recorded as ``unknown`` (a recorded "not known", which the file
    now answers); audited, as `clients set`, and said. Refuse one that disagrees with
    the record."""
    from psyq.clients import known_attributes

    sex, source = about["sex"], about.get("sex_source", "answers file")
    before = recorded.get("sex")
    # What cut-offs would use (`unknown` selects nothing): only that can disagree.
    if known_attributes(recorded).get("sex") not in (None, sex):
        raise AnswerError(
            f"{path}: the {source} has gender {sex}, but client {client_id}'s recorded "
            f"sex is {before}; correct the one that is wrong "
            f"(psyq clients set {client_id} --sex ...); nothing stored"
        )
    if before != sex:
        store.set_client_attributes(client_id, {"sex": sex})
        was = " (it was recorded as unknown)" if before == "unknown" else ""
        click.echo(f"client {client_id}: sex {sex} recorded from the {source}{was}")


# -- clients -----------------------------------------------------------------


@click.group("clients", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def clients_command(ctx: click.Context, as_json: bool) -> None:
    """List clients: recorded sex, administrations per instrument, partial ones, last date.

    
    psyq clients set C0042 --sex female   record an attribute (see `clients set --help`)
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(App)
    assert app is not None
    with app.open_store() as store:
        clients = store.clients()
        # A partial form's flags are shown wherever the form is: never a bare "1 partial".
        partial_flags = {
            c.id: _with_earlier_alerts(
                app,
                store,
                store.administrations(client_id=c.id, status="partial"),
                _partial_flags(app, store.administrations(client_id=c.id, status="partial")),
            )
            for c in clients
            if c.partial
        }
        # So are the critical flags of each instrument's latest complete administration.
        latest_critical = {c.id: _latest_critical(app, store, c.id) for c in clients}
        # And every administration changed outside psyq after it was saved.
        every = store.administrations()
        problems = store.changed_outside(adm.id for adm in every)
        changed: dict[str, list[Administration]] = {}
        for adm in every:
            if adm.id in problems:
                changed.setdefault(adm.client_id, []).append(adm)
        # A form moved to another client outside psyq, under the client it left.
        left: dict[str, list[MovedForm]] = {}
        for moved in store.moved_outside() if problems else []:
            if moved.former_client is not None:
                left.setdefault(moved.former_client, []).append(moved)
        deleted = store.deleted_outside()
        kept_gone = store.records_deleted_outside()  # kept versions, clients: gone
        # A client deleted outside psyq has no row here: its forms' flags are said anyway.
        listed = {c.id for c in clients}
        orphan_flags = {
            cid: [
                *(_flag_line(f, "latest") for f in _latest_critical(app, store, cid)),
                *(
                    _flag_line(f)
                    for f in _with_earlier_alerts(
                        app,
                        store,
                        store.administrations(client_id=cid, status="partial"),
                        _partial_flags(app, store.administrations(client_id=cid, status="partial")),
                    )
                ),
            ]
            for cid in sorted({adm.client_id for adm in every} - listed)
        }
        gap = store.log_gap()
        # A client's record (the recorded sex cut-offs use) changed by hand, too.
        clients_changed = store.clients_changed_outside(c.id for c in clients)
        # A form whose definition psyq cannot read any more (its stored flags said above).
        from psyq.history import unreadable, unreadable_lines

        cant = unreadable(app, store, every)
        cant_of: dict[str, list[Administration]] = {}
        for adm in every:
            if adm.id in cant:
                cant_of.setdefault(adm.client_id, []).append(adm)
    from psyq.store import changed_warning, deleted_lines

    for adm in every:  # what psyq cannot show leads, with its stored flags
        for line in unreadable_lines(adm, cant[adm.id]) if adm.id in cant else ():
            click.echo(line, err=as_json)

    for line in deleted_lines(deleted, gap=gap, kept=kept_gone):  # the log does not say whose
        click.echo(line, err=as_json)
    for client_id, lines in orphan_flags.items():  # never hidden with the client's row
        for line in lines:
            click.echo(f"client {client_id} (deleted outside psyq): {line}", err=as_json)
    if as_json:
        docs = [
            c.model_dump(mode="json")
            | {
                "partial_flags": partial_flags.get(c.id, []),
                "latest_critical_flags": latest_critical[c.id],
                "changed_outside_psyq": [adm.id for adm in changed.get(c.id, [])],
                "left_outside_psyq": [m.administration_id for m in left.get(c.id, [])],
                "client_changed_outside_psyq": changed_warning(clients_changed.get(c.id)),
                "unreadable": {str(adm.id): cant[adm.id] for adm in cant_of.get(c.id, [])},
            }
            for c in clients
        ]
        click.echo(json.dumps(docs, indent=2))
        if cant:
            ctx.exit(1)
        return
    if not clients:
        click.echo(
            f"no clients yet in {app.store_path} (add one with `psyq record` or `administer`)"
        )
        return
    for c in clients:
        counts = ", ".join(f"{k} x{v}" for k, v in sorted(c.instruments.items())) or "none"
        last = c.last.isoformat() if c.last else "-"
        partial = f", {c.partial} partial" if c.partial else ""
        attributes = "".join(f"  {k} {v}" for k, v in sorted(c.attributes.items()))
        click.echo(
            f"{c.id:<12} last {last}  {c.administrations} administration(s): {counts}{partial}"
            f"{attributes}"
        )
        if c.id in clients_changed:
            click.echo(
                f"{'':<12} {CHANGED_MARK}: client {c.id}: {changed_warning(clients_changed[c.id])}"
            )
        for flag in latest_critical[c.id]:
            click.echo(f"{'':<12} {_flag_line(flag, 'latest')}")
        for flag in partial_flags.get(c.id, []):
            click.echo(f"{'':<12} {_flag_line(flag)}")
        for moved in left.get(c.id, []):
            click.echo(f"{'':<12} {moved.line()}")
        for adm in changed.get(c.id, []):
            click.echo(
                f"{'':<12} {CHANGED_MARK}: administration {adm.id} ({adm.instrument_id}, "
                f"{adm.administered.isoformat()}) was changed outside psyq after it was "
                "saved; `psyq audit verify` gives the details"
            )
        for adm in cant_of.get(c.id, []):
            click.echo(
                f"{'':<12} {UNREADABLE_MARK}: administration {adm.id} "
                f"({adm.instrument_id} v{adm.instrument_version}): see above"
            )
    if cant:
        ctx.exit(1)


@clients_command.command("set")
@click.argument("client_id")
@click.option(
    "--sex",
    required=True,
    metavar="female|male|other|unknown",
    help="The client's sex, for cut-offs that depend on it (AUDIT-C, AUDIT).",
)
@click.pass_context
def clients_set_command(ctx: click.Context, client_id: str, sex: str) -> None:
    """Record an attribute of CLIENT_ID (created if new), then rescore its
    administrations whose cut-offs depend on it.

    The change is audited and the earlier value kept (`psyq clients show`).

    
    Example:
      psyq clients set C0042 --sex female
    """
    from psyq.clients import check_client_id, normalise_attribute
    from psyq.store import TamperedError

    app = ctx.find_object(App)
    assert app is not None
    check_client_id(client_id)
    value = normalise_attribute("sex", sex, "--sex: ")
    with app.open_store() as store:
        try:
            before, after, version = store.set_client_attributes(client_id, {"sex": value})
        except TamperedError as exc:
            click.echo(f"psyq: error: {exc}", err=True)
            sys.exit(1)
        affected = [
            adm.instrument_id
            for adm in store.administrations(client_id=client_id)
            if "sex" in app.instrument_of(adm, store).client_attributes
        ]
    if after == before:
        click.echo(f"client {client_id}: sex is already {value}; nothing changed")
        return
    was = before.get("sex", "not recorded")
    kept = f"; the earlier value is kept as client version {version}" if version else ""
    click.echo(f"client {client_id}: sex {value} (was {was}){kept}")
    if affected:
        click.echo(
            f"rescoring {len(affected)} administration(s) whose cut-offs depend on sex "
            f"({', '.join(sorted(set(affected)))}):"
        )
        ctx.invoke(rescore_command, client_id=client_id, instrument_id=None)


@clients_command.command("show")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def clients_show_command(app: App, client_id: str, as_json: bool) -> None:
    """A client's recorded attributes and every earlier value they replaced."""
    from psyq.clients import check_client_id

    check_client_id(client_id)
    with app.open_store() as store:
        if not store.has_client(client_id):
            from psyq.store import TamperedError, client_record

            deleted = store.records_deleted_outside().get(client_record(client_id))
            if deleted is not None:  # psyq never deletes one: not a typo
                raise TamperedError(
                    f"client {client_id} is no longer in {store.path}: it was deleted outside "
                    f"psyq ({deleted}); `psyq audit verify` gives the details"
                )
            raise PsyqError(f"no client '{client_id}' in {store.path} (see `psyq clients`)")
        attributes = store.client_attributes(client_id)
        versions = store.client_versions(client_id)
        from psyq.store import changed_warning, client_record

        changed = changed_warning(store.clients_changed_outside([client_id]).get(client_id))
        # An earlier value psyq kept for this client, deleted by hand, is named too.
        mine = f"kept of {client_record(client_id)};"
        gone = {r: p for r, p in store.records_deleted_outside().items() if p.startswith(mine)}
    from psyq.store import deleted_lines

    if as_json:
        doc = {
            "id": client_id,
            "attributes": attributes,
            "earlier": versions,
            "changed_outside_psyq": changed,
            "earlier_deleted_outside_psyq": deleted_lines({}, kept=gone),
        }
        click.echo(json.dumps(doc, indent=2))
        return
    shown = ", ".join(f"{k} {v}" for k, v in sorted(attributes.items())) or "none recorded"
    click.echo(f"client {client_id}: {shown}")
    if changed:
        click.echo(f"  {CHANGED_MARK}: {changed}")
    for version in versions:
        earlier = ", ".join(f"{k} {v}" for k, v in sorted(version["attributes"].items()))
        click.echo(
            f"  client version {version['id']}: {earlier} (replaced {version['superseded_at']} "
            f"by {version['superseded_by']})"
            + (
                f"; {CHANGED_MARK}: {version['changed_outside_psyq']}"
                if version["changed_outside_psyq"]
                else ""
            )
        )
    for line in deleted_lines({}, kept=gone):
        click.echo(f"  {line}")


def _latest_critical(app: App, store: Any, client_id: str) -> list[dict[str, Any]]:
    """The critical flags of the client's latest complete administration of each instrument."""
    latest: dict[str, Administration] = {}
    for adm in store.administrations(client_id=client_id, status="complete"):
        latest[adm.instrument_id] = adm  # oldest first: the last one stays
    flags = [f for f in _partial_flags(app, latest.values()) if f["level"] == "critical"]
    return _with_earlier_alerts(app, store, list(latest.values()), flags)


def _with_earlier_alerts(
    app: App, store: Any, shown: list[Administration], flags: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``flags`` (of the administrations ``shown``) and, after their critical ones, each
    critical flag their answers raised before psyq changed them that the answers now do
    not (``answer_version``: the kept version's id): a risk signal answered away is
    still said, as ``history`` and ``report`` say it."""
    by_id = {adm.id: adm for adm in shown}
    earlier: list[dict[str, Any]] = []
    for version in store.answer_versions(by_id):
        adm = by_id[version.administration_id]
        result = _result_or_stored(app, adm)
        if result is None:
            continue
        for hit in version.alerts_gone(result):
            earlier.append(
                {
                    "administration": adm.id,
                    "instrument_id": adm.instrument_id,
                    "answered": sum(v is not None for v in adm.answers.values()),
                    "items": len(adm.answers),
                    "answer_version": version.id,
                }
                | hit.model_dump()
            )
    critical = [f for f in flags if f["level"] == "critical"]
    return critical + earlier + [f for f in flags if f["level"] != "critical"]


def _result_or_stored(app: App, adm: Administration) -> ScoreResult | None:
    """The administration's result; when psyq cannot read its definition any more
    (:func:`psyq.history.unreadable`), the result stored with it, so its flags are
    still said (None: none was stored)."""
    from psyq.errors import UnknownInstrumentError
    from psyq.history import result_of
    from psyq.store import TamperedError

    try:
        return result_of(app, adm, app.instrument_of(adm))
    except (UnknownInstrumentError, TamperedError):
        try:
            return adm.result
        except ValueError:  # its scores changed outside psyq too
            return None


def _partial_flags(app: App, partials: Iterable[Administration]) -> list[dict[str, Any]]:
    """Every flag raised by the answers of these (unfinished) administrations, critical
    first, each with its administration, instrument and ``answered`` of ``items``
    (from the stored result of one whose definition psyq cannot read any more)."""
    out: list[dict[str, Any]] = []
    for adm in partials:
        result = _result_or_stored(app, adm)
        if result is None:
            continue
        answered = sum(v is not None for v in adm.answers.values())
        for flag in result.flags:
            out.append(
                {
                    "administration": adm.id,
                    "instrument_id": adm.instrument_id,
                    "answered": answered,
                    "items": len(adm.answers),
                }
                | flag.model_dump()
            )
    levels = ("critical", "warning", "info")
    return sorted(out, key=lambda f: levels.index(f["level"]))


def _hit(flag: dict[str, Any]) -> FlagHit:
    from psyq.results import FlagHit

    return FlagHit.model_validate(
        {k: flag[k] for k in ("id", "level", "item", "item_ids", "message")}
    )


def _flag_text(flag: dict[str, Any]) -> str:
    """``CRITICAL (item phq9_9): <message>`` (:func:`psyq.alerts.alert_line`); a warning
    or note in capitals too, as the history's details list them."""
    from psyq.alerts import alert_line

    hit = _hit(flag)
    if hit.level == "critical":
        return alert_line(hit)
    return f"{hit.level.upper()}{hit.about()}: {hit.message}"


def _flag_line(flag: dict[str, Any], status: str = "partial") -> str:
    """``!!! CRITICAL in partial administration 3 (phq9) (item phq9_9): suicidal_ideation``
    (:func:`psyq.alerts.alert_line`, the flag named by its id)."""
    from psyq.alerts import alert_line, form_words

    mark = {"critical": "!!! ", "warning": "!   ", "info": "    "}
    hit = _hit(flag)
    where = form_words(flag["administration"], status, instrument=flag["instrument_id"])
    text = hit.id
    if flag.get("answer_version") is not None:  # raised by answers since changed
        text += (
            f", raised by its earlier answers, since changed through psyq (kept as answer "
            f"version {flag['answer_version']})"
        )
    return mark[flag["level"]] + alert_line(hit, where, text=text)


# -- history -----------------------------------------------------------------

CHANGED_MARK = "!!! CHANGED OUTSIDE PSYQ"
"""Marks a stored administration whose record no longer matches its audit entry."""
UNREADABLE_MARK = "!!! CANNOT SHOW"  # psyq.history.UNREADABLE_MARK (that module loads on use)


TOTAL_ONLY = (
    "\u2020 beside a critical flag: the change of the score only; it does not lessen the flag"
)
"""The history's footnote for an improvement or no change marked ``\u2020``."""


def describe_change(change: Change | None, alert: bool = False) -> str:
    """``-7 reliable improvement*`` (``*`` = clinically significant). Beside a critical
    flag (``alert``) an improvement or no change is marked ``\u2020`` (:data:`TOTAL_ONLY`):
    never reassurance beside a risk signal."""
    if change is None:
        return "-"
    mark = " \u2020" if alert and change.direction != "deterioration" else ""
    if change.direction == "none":
        return "0 no change" + mark
    words = f"{change.delta:+g} {'reliable ' if change.reliable else ''}{change.direction}"
    if change.important:
        words += " (>= MID)"  # reaches the minimal important difference
    return words + ("*" if change.clinically_significant else "") + mark


def describe_outcome(outcome: Outcome | None, critical: bool = False) -> str:
    """``response, remission`` / ``no response`` / ``-`` for the history table.

    Beside a ``critical`` flag a total below the remission cut-off is not called a
    remission (never reassurance beside a risk signal)."""
    if outcome is None:
        return "-"
    parts = []
    if outcome.response is not None:
        parts.append("response" if outcome.response else "no response")
    if outcome.remission is not None:
        if outcome.remission and critical:
            parts.append("remission withheld (critical flag)")
        else:
            parts.append("remission" if outcome.remission else "no remission")
    return ", ".join(parts) or "-"


def _before_partial_alerts(
    entries: list[HistoryEntry], partial: list[Administration], critical: set[int]
) -> frozenset[int]:
    """The latest complete administration of each instrument that a partial one of the
    same instrument, after it, raising a critical flag (``critical``: their ids) follows,
    as ``report --latest`` finds it."""
    out = set()
    for adm in partial:
        if adm.id not in critical:
            continue
        before = [
            e.administration
            for e in entries
            if e.administration.instrument_id == adm.instrument_id
            and (e.administration.administered, e.administration.id) < (adm.administered, adm.id)
        ]
        if before:
            out.add(max(before, key=lambda b: (b.administered, b.id)).id)
    return frozenset(out)


def history_text(
    app: App,
    client_id: str,
    entries: list[HistoryEntry],
    alerted: frozenset[int] = frozenset(),
    lead: Sequence[str] = (),
) -> str:
    """Plain-text history: per instrument, one row per administration and scale.

    ``alerted``: administrations followed by an unfinished form raising a critical
    flag, whose bands of low concern are marked as the score's band only; ``lead``:
    lines (those forms' alerts) under the heading, before any score."""
    from psyq.alerts import alert_line
    from psyq.history import alert_of
    from psyq.proration import proration_note
    from psyq.results import band_shown, low_concern_bands

    lines = [f"client {client_id}", *lead]
    # One block per definition version: a superseded version (CCTS 0.1) has its own
    # scales, and its rows must say which version scored them.
    by_instrument: dict[tuple[str, str], list[HistoryEntry]] = {}
    for entry in entries:
        adm = entry.administration
        by_instrument.setdefault((adm.instrument_id, adm.instrument_version), []).append(entry)
    versions: dict[str, int] = {}
    for instrument_id, _ in by_instrument:
        versions[instrument_id] = versions.get(instrument_id, 0) + 1
    for (instrument_id, version), group in by_instrument.items():
        instrument = app.instrument_of(group[-1].administration)
        shown = f"{instrument_id} v{version}" if versions[instrument_id] > 1 else instrument_id
        total = instrument.total
        lo, hi = instrument.bounds("total")
        rc = total.reliable_change
        if rc is not None and rc.critical_delta() is not None:
            criterion = f"; {rc.describe(total.decimals)}"
        elif rc is not None:
            criterion = (
                f"; {rc.describe(total.decimals)}; no reliable-change value, so no change "
                "is called reliable"
            )
        else:
            criterion = "; no reliable-change criterion, so no change is called reliable"
        if total.outcomes is not None:
            rule = total.outcomes
            criterion += (
                f"; response: a drop of {rule.response_percent:g} % or more from the first, "
                f"remission: below {rule.remission_below:g}"
            )
        better = "lower" if total.higher_is_worse else "higher"
        lines.append("")
        lines.append(
            f"{instrument.title} ({shown}), total {lo:g}-{hi:g}, {better} is better{criterion}"
        )
        if versions[instrument_id] > 1:
            others = ", ".join(
                f"v{v}" for i, v in by_instrument if i == instrument_id and v != version
            )
            lines.append(
                f"(change is within v{version} only: {others} of the definition may ask or "
                "score otherwise, so its scores are not compared with these)"
            )
        scales = [total, *(sc for sc in instrument.scales if sc.id != "total")]
        with_outcome = any(sc.outcomes is not None for sc in scales)
        head = ("id", "date", "scale", "score", "band", "vs previous", "vs first")
        rows = [(*head, *(("outcome",) if with_outcome else ()), "flags")]
        for e in group:
            alert = alert_of(e.result, e.answer_versions) or e.administration.id in alerted
            marked = low_concern_bands(instrument, e.result, alert)
            for n, scale in enumerate(scales):
                s = e.result.scores[scale.id]
                value = "-" if s.value is None else f"{s.value:.{scale.decimals}f}"
                if s.prorated and s.value is not None:
                    value += f" (prorated {s.answered}/{s.answered + s.missing})"
                outcome = (
                    ()
                    if not with_outcome
                    else (
                        describe_outcome(
                            None if e.outcome is None else e.outcome.get(scale.id), alert
                        ),
                    )
                )
                # Worded as every one-line alert is, each flag named by its id.
                flags = "; ".join(alert_line(f, text=f.id) for f in e.result.flags)
                if e.answer_versions:  # answers psyq replaced: an earlier alert is named
                    earlier = sorted(
                        {
                            f.id
                            for v in e.answer_versions
                            for f in v.alerts_gone(e.administration.result)
                        }
                    )
                    said = f" (earlier: CRITICAL {', '.join(earlier)})" if earlier else ""
                    flags = f"ANSWERS CHANGED{said}" + (f"; {flags}" if flags else "")
                gone = sorted(
                    {f.id for v in e.score_versions for f in v.alerts_gone(e.administration.result)}
                )
                if gone:  # a rescore no longer raises it: the earlier alert stays in sight
                    flags = f"RESCORED (earlier: CRITICAL {', '.join(gone)})" + (
                        f"; {flags}" if flags else ""
                    )
                if e.changed:  # beside its scores, not only in the lines below the table
                    flags = "CHANGED OUTSIDE PSYQ" + (f"; {flags}" if flags else "")
                rows.append(
                    (
                        "" if n else str(e.administration.id),
                        "" if n else e.administration.administered.isoformat(),
                        scale.id,
                        value,
                        band_shown(s.band_label, scale.id in marked) or (s.reason or ""),
                        describe_change(
                            None if e.change is None else e.change.get(scale.id), alert
                        ),
                        describe_change(
                            None
                            if e.change_from_first is None
                            else e.change_from_first.get(scale.id),
                            alert,
                        ),
                        *outcome,
                        "" if n else flags,
                    )
                )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            cells = [r[0].rjust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2])]
            cells += [r[3].rjust(widths[3])]
            cells += [c.ljust(w) for c, w in zip(r[4:], widths[4:], strict=True)]
            lines.append("  " + "  ".join(cells).rstrip())
        lines += [f"NOTE: {notice}" for notice in instrument.notices]
        # Which cut-offs were used where they depend on the client (sex), per date.
        lines += [
            f"NOTE {e.administration.administered.isoformat()}: {notice}"
            for e in group
            for notice in e.result.notices
            if notice not in instrument.notices
        ]
        notes = [
            f"{scale.id} {e.administration.administered.isoformat()}: {note}"
            for e in group
            for scale in scales
            if (
                note := proration_note(
                    scale,
                    e.result.scores[scale.id],
                    alert_of(e.result, e.answer_versions) or e.administration.id in alerted,
                )
            )
            is not None
            and "would be" in note
        ]
        lines += [f"PRORATED: {note}" for note in notes]
        from psyq.history import answer_version_lines, score_version_lines

        lines += [
            line
            for e in group
            for line in answer_version_lines(e.administration, e.answer_versions)
        ]
        lines += [
            line for e in group for line in score_version_lines(e.administration, e.score_versions)
        ]
        lines += [
            f"{CHANGED_MARK}: administration {e.administration.id} "
            f"({e.administration.administered.isoformat()}): {e.changed}"
            for e in group
            if e.changed
        ]
    lines.append("")
    lines.append("* clinically significant (crossed the clinical cut-off)")
    if any(" \u2020" in line for line in lines):
        lines.append(TOTAL_ONLY)
    return "\n".join(lines) + "\n"


@click.command("history")
@click.argument("client_id")
@click.option("--instrument", "instrument_id", metavar="ID", help="Only this instrument.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, oldest first.")
@click.pass_obj
def history_command(app: App, client_id: str, instrument_id: str | None, as_json: bool) -> None:
    """A client's complete administrations, oldest first, with reliable change
    against the previous administration and against the first of the same
    definition version (each version is listed in its own block).

    A form whose definition psyq can no longer read is named first, with the
    critical flags stored with it, and the command exits 1."""
    from psyq.history import build_history, unreadable, unreadable_lines, with_moved_from

    with app.open_store() as store:
        wanted = None if instrument_id is None else app.instrument_filter(instrument_id, store)
        # A form whose definition psyq cannot read any more: the others are shown, and
        # it is named with the flags stored with it (exit 1), never the whole lost.
        forms = store.administrations(client_id=client_id, instrument_id=wanted)
        cant = unreadable(app, store, forms)
        entries = build_history(app, store, client_id, wanted, skip=cant)
        instrument_id = wanted
        partial = [
            adm
            for adm in store.administrations(
                client_id=client_id, instrument_id=instrument_id, status="partial"
            )
            if adm.id not in cant
        ]
        cant_lines = [
            line for adm in forms if adm.id in cant for line in unreadable_lines(adm, cant[adm.id])
        ]
        origins = store.definition_origins()
        from psyq.store import changed_warning

        partial_changed = {
            n: changed_warning(problem)
            for n, problem in with_moved_from(
                store, store.changed_outside(adm.id for adm in partial)
            ).items()
        }
        # One deleted by hand may have been this client's: the log does not say whose.
        from psyq.store import by_administration, deleted_lines

        deleted = store.deleted_outside()
        kept_gone = store.records_deleted_outside()  # kept versions, clients: gone
        gap = store.log_gap()
        # A form moved to another client outside psyq is said here too, not only there.
        left = [m.line() for m in store.moved_outside() if m.left(client_id)]
        partial_versions = by_administration(store.answer_versions(adm.id for adm in partial))
        partial_rescored = by_administration(store.score_versions([adm.id for adm in partial]))
    # An unfinished form's critical flag: the latest complete form of its instrument
    # before it shows its band as the score's only, and claims no remission (as
    # ``report --latest`` does), in the text and in JSON alike.
    critical = [f for f in _partial_flags(app, partial) if f["level"] == "critical"]
    alerted = _before_partial_alerts(entries, partial, {f["administration"] for f in critical})
    if as_json:
        from psyq.history import partial_json
        from psyq.results import low_concern_bands, with_band_notes

        docs = [
            with_band_notes(
                e.to_json(),
                low_concern_bands(app.instrument_of(e.administration), e.result, True)
                if e.administration.id in alerted
                else (),
            )
            for e in entries
        ]
        docs += [
            partial_json(
                app,
                adm,
                origins.get(adm.definition_hash),
                partial_changed.get(adm.id),
                partial_versions.get(adm.id),
                partial_rescored.get(adm.id),
            )
            for adm in partial
        ]
        docs.sort(key=lambda d: (d["administration"]["administered"], d["administration"]["id"]))
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        for line in [*cant_lines, *left, *deleted_lines(deleted, gap=gap, kept=kept_gone)]:
            click.echo(line, err=True)  # the list has no place for them: said beside it
        if cant:
            click.get_current_context().exit(1)
        return
    for line in cant_lines:  # before any score: what psyq cannot show leads
        click.echo(line)
    # An unfinished form's critical flag leads, before any score (its details follow
    # the tables).
    lead = [*left, *(f"{_flag_line(flag)} (details below)" for flag in critical)]
    if entries:
        click.echo(history_text(app, client_id, entries, alerted, lead), nl=False)
    else:
        click.echo(f"client {client_id}: no complete administrations")  # partials next
        for line in lead[: len(left)]:
            click.echo(line)
    for adm in partial:
        answered = sum(v is not None for v in adm.answers.values())
        click.echo(
            f"partial: administration {adm.id} ({adm.instrument_id}, "
            f"{adm.administered.isoformat()}, PARTIAL: {answered} of {len(adm.answers)} "
            f"items answered); continue with `psyq administer --resume {adm.id}`"
        )
        if adm.id in partial_changed:
            click.echo(f"  {CHANGED_MARK}: {partial_changed[adm.id]}")
        from psyq.history import answer_version_lines, score_version_lines

        for line in answer_version_lines(adm, partial_versions.get(adm.id, [])):
            click.echo(f"  {line}")
        for line in score_version_lines(adm, partial_rescored.get(adm.id, [])):
            click.echo(f"  {line}")
        for flag in _partial_flags(app, [adm]):
            click.echo(f"  {_flag_text(flag)}")
    for line in deleted_lines(deleted, gap=gap, kept=kept_gone):
        click.echo(line)
    if cant:
        click.get_current_context().exit(1)


# -- rescore -----------------------------------------------------------------


@click.command("rescore")
@click.option(
    "--instrument",
    "instrument_id",
    metavar="ID|FILE",
    help="Only this instrument; a definition file rescores its administrations with it.",
)
@click.option("--client", "client_id", metavar="ID", help="Only this client.")
@click.pass_obj
def rescore_command(app: App, instrument_id: str | None, client_id: str | None) -> None:
    """Recompute stored scores from the stored answers with the current definitions.

    Scores are derived data: run this after an instrument definition or a
    scoring plugin changed. Only scores that differ are rewritten (and audited).
    """
    from psyq import audit
    from psyq.answers import coerce_answers
    from psyq.clients import check_client_id, known_attributes
    from psyq.registry import is_definition_path
    from psyq.store import TamperedError, admin_record

    changed = same = 0
    problems: list[str] = []
    plugins = app.scoring_plugins()
    if client_id is not None:
        check_client_id(client_id)
    with app.open_store() as store:
        if client_id is not None and not store.has_client(client_id):
            # A mistyped id rescored nothing and said "0 updated", as if all were well.
            raise PsyqError(f"no client '{client_id}' in {store.path} (see `psyq clients`)")
        # Rescoring builds on stored answers: never on ones changed outside psyq, or a
        # rescore would give tampered answers a fresh, valid-looking audit entry.
        report = audit.verify(store)
        if not report.chain_ok:
            click.echo(
                f"psyq: error: audit check failed, nothing rescored: {report.problems[0]}",
                err=True,
            )
            sys.exit(1)
        given = None  # a definition file given by path: rescore with it as it is now
        if instrument_id is not None:
            if is_definition_path(instrument_id):
                given = app.registry.entry(instrument_id)
            instrument_id = app.instrument_filter(instrument_id, store)
        for adm in store.administrations(client_id=client_id, instrument_id=instrument_id):
            if admin_record(adm.id) in report.bad_records:
                problems.append(
                    f"administration {adm.id}: not rescored: fails `psyq audit verify` "
                    "(changed outside psyq)"
                )
                continue
            instrument = given.instrument if given else app.instrument_of(adm, store)
            try:
                answers = (
                    coerce_answers(instrument, adm.answers)
                    if adm.status == "complete"
                    else dict(adm.answers)
                )
            except AnswerError as exc:
                problems.append(f"administration {adm.id}: no longer fits {instrument.id}: {exc}")
                continue
            try:
                client = (
                    known_attributes(store.scoring_attributes(adm.client_id))
                    if instrument.client_attributes
                    else {}
                )
            except TamperedError as exc:
                problems.append(f"administration {adm.id}: not rescored: {exc}")
                continue
            fresh = app.scorer.score_valid(instrument, answers, client)
            digest = instrument.content_hash()
            if adm.scores == fresh.model_dump(mode="json") and adm.scored_with == digest:
                same += 1
                continue
            before = adm.result
            try:
                if given is not None:
                    store.keep_definition(instrument, given.source, str(given.path.resolve()))
                new = store.set_scores(adm.id, fresh, digest, plugins)
            except TamperedError as exc:  # changed between the check and now
                problems.append(str(exc))
                continue
            changed += 1
            old = "-" if before is None else before.total.value
            # The same total read with other cut-offs (the client's sex recorded): say so.
            if (
                before is not None
                and before.total.value == fresh.total.value
                and None not in (before.total.band, fresh.total.band)
                and before.total.band != fresh.total.band
            ):
                old = f"{old} ({before.total.band_label})"
                shown = f"{fresh.total.value} ({fresh.total.band_label})"
            else:
                shown = f"{fresh.total.value}"
            kept = (
                f" (score version {new.score_version}; version {new.score_version - 1} kept)"
                if new.score_version > 1
                else ""
            )
            click.echo(f"administration {adm.id}: total {old} -> {shown}{kept}")
            # A critical flag the new scoring raises (or no longer raises) on a stored
            # form is said, not left for someone to find in its next report.
            # Each worded as every alert is: the items that raised it and its message.
            was = {(f.id, f.about()): f for f in before.critical} if before is not None else {}
            now = {(f.id, f.about()): f for f in fresh.critical}
            for key in sorted(now.keys() - was.keys()):
                flag = now[key]
                click.echo(
                    f"!!! CRITICAL now raised on administration {adm.id}{flag.about()}: "
                    f"{flag.message}"
                )
            for key in sorted(was.keys() - now.keys()):
                flag = was[key]
                click.echo(
                    f"  critical flag no longer raised on administration {adm.id}"
                    f"{flag.about()}: {flag.message}"
                )
        # One deleted by hand is not rescored either, and never silently.
        problems += [
            f"administration {n}: deleted outside psyq ({text}); `psyq audit verify` gives "
            "the details"
            for n, text in sorted(store.deleted_outside().items())
        ]
        # Rescored records match their entries, but the log is older than psyq left it.
        rolled_back = store.rollback()
    click.echo(f"rescored: {changed} updated, {same} unchanged")
    if rolled_back is not None:
        from psyq.store import deleted_lines

        for line in deleted_lines({}, gap=rolled_back):
            click.echo(line, err=True)
    for problem in problems:
        click.echo(f"psyq: error: {problem}", err=True)
    if problems:
        sys.exit(1)


# -- audit -------------------------------------------------------------------


@click.group("audit")
def audit_group() -> None:
    """The store's hash-chained audit log."""


@audit_group.command("verify")
@click.option(
    "--head",
    "anchor",
    metavar="HASH",
    help="A head written down earlier (`psyq audit head`): fail unless it is still in the chain.",
)
@click.pass_obj
def audit_verify_command(app: App, anchor: str | None) -> None:
    """Check the schema, the keyed audit chain, and every stored answer and score.

    Exits 1 and names the first problem when anything was altered outside psyq
    (or, with --head, when entries after the anchored head were cut off).
    """
    from psyq import audit

    if anchor is not None and not _is_anchor(anchor):
        raise PsyqError(
            f"--head: '{anchor[:80]}' is not a head; give the 64-hex-digit hash "
            "(or SEQ:HASH) that `psyq audit head` printed"
        )
    with app.open_store() as store:
        report = audit.verify(store, anchor=anchor)
    if report.ok:
        anchored = " (anchored head found)" if anchor else ""
        click.echo(
            f"audit OK: {report.entries} entries, {report.records} records match; "
            f"chain head {report.head_seq}:{report.head}{anchored}"
        )
        for line in report.acknowledged:
            click.echo(f"  loss acknowledged: {line}")
        return
    click.echo(f"psyq: audit FAILED: {report.problems[0]}", err=True)
    for problem in report.problems[1:]:
        click.echo(f"  also: {problem}", err=True)
    sys.exit(1)


def _is_anchor(text: str) -> bool:
    import re

    return re.fullmatch(r"(\d{1,18}:)?[0-9a-fA-F]{64}", text.strip()) is not None


@audit_group.command("acknowledge")
@click.option(
    "--reason",
    required=True,
    metavar="TEXT",
    help="Why the loss is accepted (e.g. 'backup of 1 March restored after a disk failure').",
)
@click.pass_obj
def audit_acknowledge_command(app: App, reason: str) -> None:
    """Record that the store's loss (put back to an older copy, cut short or replaced
    outside psyq) is known and accepted, by whom (the OS user) and why.

    Until then every output that reads the store warns of the loss and
    `psyq audit verify` fails. The entry recording the loss stays in the log, and
    `psyq audit verify` names it and this acknowledgement on every run.
    """
    with app.open_store() as store:
        noticed, entry = store.acknowledge_loss(reason)
    click.echo(f"audit entry #{entry}: the loss audit entry #{noticed} records is acknowledged")


@audit_group.command("head")
@click.pass_obj
def audit_head_command(app: App) -> None:
    """Print the chain head as SEQ:HASH, to write down (or store elsewhere) as an anchor.

    Later, `psyq audit verify --head SEQ:HASH` fails if entries up to that one
    were cut off or rewritten.
    """
    from psyq import audit

    with app.open_store() as store:
        seq, digest = audit.head(store.connection)
    click.echo(f"{seq}:{digest}")


@audit_group.command("log")
@click.option("--record", metavar="TEXT", help="Only entries whose record contains TEXT.")
@click.pass_obj
def audit_log_command(app: App, record: str | None) -> None:
    """Print the audit log, oldest first: seq, time, OS user, action, record, hash.

    A rescore shows the score version it superseded (definition, plugins,
    who scored it and when), which is kept, never overwritten.
    """
    from psyq import audit

    with app.open_store() as store:
        rows = audit.entries(store.connection)
        versions = {v.record: v for v in store.score_versions()}
        answer_versions = {v.record: v for v in store.answer_versions()}
        current = {
            v.administration_id: store.get(v.administration_id).answers
            for v in answer_versions.values()
            if store.has_administration(v.administration_id)
        }
    for e in rows:
        if record is not None and record not in e.record:
            kept = versions.get(e.record) or answer_versions.get(e.record)
            if kept is None or record not in f"administration {kept.administration_id}":
                continue
        user = visible(e.os_user) or ""
        click.echo(f"{e.seq:>5}  {e.at}  {user:<12} {e.action:<10} {e.record}  {e.hash}")
        version = versions.get(e.record)
        if version is not None:
            scoring = version.scoring or {}
            plugins = ", ".join(scoring.get("plugins", [])) or "not recorded"
            total = version.scores.get("scores", {}).get("total", {}).get("value")
            click.echo(
                f"       administration {version.administration_id} score version "
                f"{version.version} superseded (total {total}; definition "
                f"{(version.scored_with or '-')[:19]}; scored {scoring.get('at', '-')} by "
                f"{scoring.get('by', '-')}; plugins: {plugins})"
            )
        earlier = answer_versions.get(e.record)
        if earlier is not None:
            now = current.get(earlier.administration_id, {})
            from psyq.history import changes_text

            changed = changes_text(earlier.changes(now))
            result = earlier.result
            total = None if result is None else result.total.value
            critical = "" if result is None else ", ".join(f.id for f in result.critical)
            click.echo(
                f"       administration {earlier.administration_id} answers replaced "
                f"({changed or 'none since'}; the {earlier.status} form saved "
                f"{earlier.saved_at.isoformat()}: total {total}"
                f"{'; CRITICAL ' + critical if critical else ''})"
            )


# -- export ------------------------------------------------------------------


def deidentify_key(home: Path) -> bytes:
    """The secret key for keyed client-id hashes, created 0600 in the data dir.

    Whoever can read it can re-identify an export (client ids are few and short),
    so, as the audit key, it is refused when others can read it, and never read or
    created through a link.
    """
    import secrets

    from psyq.files import create_private_once, read_private

    path = home / KEY_FILE
    if not os.path.lexists(path):
        try:
            create_private_once(path, (secrets.token_hex(32) + "\n").encode("ascii"))
        except OSError as exc:
            raise PsyqError(
                f"{path}: cannot create the de-identification key: {exc.strerror or exc}"
            ) from None
    try:
        raw, mode = read_private(path)
    except OSError as exc:
        why = "it is a link" if os.path.islink(path) else (exc.strerror or str(exc))
        raise PsyqError(
            f"{path}: cannot read the de-identification key ({why}); psyq only uses a "
            "regular file of its own there"
        ) from None
    key = raw.decode("utf-8", "replace").strip()
    if mode & 0o077:
        raise PsyqError(
            f"{path}: the de-identification key is readable by others (mode {mode:04o}); "
            f"run `chmod 600 {path}`"
        )
    if len(key) < 32:
        raise PsyqError(f"{path}: de-identification key is empty or damaged; restore it")
    return key.encode()


def pseudonym(key: bytes, client_id: str) -> str:
    """A stable keyed hash of a client id (same key, same id -> same pseudonym)."""
    import hashlib
    import hmac

    return "x" + hmac.new(key, client_id.encode(), hashlib.sha256).hexdigest()[:20]


MAX_DATE_SHIFT_DAYS = 365
"""``--date-shift`` moves each client's dates by 1 to this many days, earlier or later."""


def _keyed_int(key: bytes, label: str) -> int:
    import hashlib
    import hmac

    return int.from_bytes(hmac.new(key, label.encode(), hashlib.sha256).digest()[:8], "big")


def admin_pseudonym(key: bytes, admin_id: int) -> str:
    """A stable keyed stand-in for an administration id (order and count reveal nothing)."""
    import hashlib
    import hmac

    label = f"administration:{admin_id}".encode()
    return "a" + hmac.new(key, label, hashlib.sha256).hexdigest()[:20]


def client_date_shift(key: bytes, client_id: str) -> int:
    """The client's date offset in days: keyed, never 0, the same in every export."""
    offset = 1 + _keyed_int(key, f"date-shift:{client_id}") % MAX_DATE_SHIFT_DAYS
    return offset if _keyed_int(key, f"date-sign:{client_id}") % 2 else -offset


def export_records(
    app: App,
    administrations: Iterable[Administration],
    key: bytes | None,
    *,
    dates: str = "exact",
    origins: dict[str, tuple[str, str | None]] | None = None,
    changed: dict[int, str] | None = None,
    versions: dict[int, list[AnswerVersion]] | None = None,
    moved: dict[int, str] | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready record per administration; ``key`` set = de-identified.

    ``dates`` is ``exact``, ``shift`` (each client's dates moved by their own
    keyed offset: order and intervals kept) or ``drop``. ``origins`` (the store's
    :meth:`~psyq.store.Store.definition_origins`) gives ``definition_source`` and
    ``definition_path`` (left out when de-identified: a path may name a person).
    ``changed`` (:meth:`~psyq.store.Store.changed_outside`) gives
    ``changed_outside_psyq``: the warning for a record changed outside psyq after it
    was saved (without the audit detail when de-identified), else null. ``versions``
    (:meth:`~psyq.store.Store.answer_versions`) gives ``answers_changed``: the answers
    psyq replaced after saving them, and any critical flag the earlier ones raised.
    ``moved`` (administration id -> the client psyq saved it for, from
    :meth:`~psyq.store.Store.moved_outside`) adds to ``changed_outside_psyq`` the client a
    form was moved from outside psyq (its pseudonym when de-identified).
    """
    from datetime import timedelta

    from psyq.history import alert_of, origin_fields, result_of
    from psyq.results import low_concern_bands, with_band_notes
    from psyq.store import changed_warning

    out: list[dict[str, Any]] = []
    for adm in administrations:
        instrument = app.instrument_of(adm)
        result = result_of(app, adm, instrument)
        day: str | None = adm.administered.isoformat()
        if dates == "drop":
            day = None
        elif dates == "shift" and key is not None:
            try:
                shifted = adm.administered + timedelta(days=client_date_shift(key, adm.client_id))
            except OverflowError:  # a year-1 date stored before psyq refused one
                raise PsyqError(
                    f"administration {adm.id}: its date {adm.administered.isoformat()} cannot "
                    "be shifted (it leaves the calendar); export with --drop-dates instead"
                ) from None
            day = shifted.isoformat()
        meta: dict[str, Any] = {
            "id": adm.id if key is None else admin_pseudonym(key, adm.id),
            "client_id": adm.client_id if key is None else pseudonym(key, adm.client_id),
            "instrument_id": adm.instrument_id,
            "instrument_version": adm.instrument_version,
            "definition_hash": adm.definition_hash,
            **origin_fields((origins or {}).get(adm.definition_hash)),
            "administered": day,
            "status": adm.status,
            "changed_outside_psyq": changed_warning(
                (changed or {}).get(adm.id), detail=key is None
            ),
            "answers_changed": _answers_changed((versions or {}).get(adm.id, []), adm),
        }
        former = (moved or {}).get(adm.id)
        if former is not None and meta["changed_outside_psyq"]:
            shown = former if key is None else pseudonym(key, former)
            meta["changed_outside_psyq"] += f" (moved outside psyq from client {shown})"
        if day is None:
            del meta["administered"]
        if key is None:
            meta["clinician"] = adm.clinician
            meta["note"] = adm.note
        else:
            del meta["definition_path"]
        alert = alert_of(result, (versions or {}).get(adm.id, []))
        doc = with_band_notes(result.to_json(), low_concern_bands(instrument, result, alert))
        answers = {item.id: adm.answers.get(item.id) for item in instrument.items}
        # Proration can move a score across a band: every export says which were.
        prorated = {sid: s.prorated for sid, s in result.scores.items()}
        out.append({"administration": meta, **doc, "answers": answers, "prorated": prorated})
    return out


def _answers_changed(versions: list[AnswerVersion], adm: Administration) -> str | None:
    """``phq9_9 2 -> 0 (earlier answers: CRITICAL suicidal_ideation)``, one per answer
    version, or None: what psyq replaced after saving it (never a date or a name)."""
    from psyq.history import changes_text

    said = []
    for version in versions:
        critical = [f.id for f in version.alerts_gone(adm.result)]
        earlier = f" (earlier answers: CRITICAL {', '.join(critical)})" if critical else ""
        said.append(f"{changes_text(version.changes(adm.answers)) or 'none'}{earlier}")
    return "; ".join(said) or None


def csv_text(records: list[dict[str, Any]]) -> str:
    import csv
    import io

    from psyq.results import flag_items_cell, flag_levels_cell  # not at start-up: it loads pydantic

    columns: list[str] = []

    def add(column: str) -> None:
        if column not in columns:
            columns.append(column)

    rows: list[dict[str, str]] = []
    for rec in records:
        row: dict[str, str] = {}
        for k, v in rec["administration"].items():
            column = "administration_id" if k == "id" else k
            add(column)
            row[column] = "" if v is None else str(v)
        for scale_id, s in rec["scores"].items():
            add(f"score.{scale_id}")
            add(f"band.{scale_id}")
            add(f"band_beside_alert.{scale_id}")
            add(f"prorated.{scale_id}")
            row[f"score.{scale_id}"] = "" if s["value"] is None else str(s["value"])
            row[f"band.{scale_id}"] = s["band"] or ""
            # A band of low concern beside a critical flag is the score's band only, never
            # reassurance: said in its own cell, as every other output marks it.
            beside = "true" if "band_beside_alert" in s else "false"
            row[f"band_beside_alert.{scale_id}"] = "" if s["band"] is None else beside
            row[f"prorated.{scale_id}"] = "" if s["value"] is None else str(s["prorated"]).lower()
        add("flags")
        row["flags"] = ";".join(f["id"] for f in rec["flags"])
        add("flag_items")  # which items raised each flag: every one, not the first
        row["flag_items"] = flag_items_cell((f["id"], f["item_ids"]) for f in rec["flags"])
        add("flag_levels")  # each flag's level, so critical rows can be filtered
        row["flag_levels"] = flag_levels_cell((f["id"], f["level"]) for f in rec["flags"])
        if rec["notices"]:  # a provisional instrument's caveat travels with its data
            add("notices")
            row["notices"] = " | ".join(rec["notices"])
        for item_id, answer in rec["answers"].items():
            add(f"answer.{item_id}")
            row[f"answer.{item_id}"] = "" if answer is None else str(answer)
        rows.append(row)
    from psyq.spreadsheet import neutralise

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([neutralise(c) for c in columns])
    for row in rows:
        writer.writerow([neutralise(row.get(c, "")) for c in columns])
    return buffer.getvalue()


def write_private(path: Path, data: bytes, *, force: bool) -> None:
    """Write ``path`` atomically, readable by its owner only (one-line error on failure);
    a file already at ``path`` is replaced only with ``force``."""
    from psyq.files import write_error

    try:
        write_output(path, data, force=force)
    except OSError as exc:
        raise write_error(exc, path) from None


@click.command("export")
@click.option(
    "--format",
    "format_name",
    type=click.Choice(["csv", "jsonl"]),
    default="csv",
    show_default=True,
)
@click.option("--instrument", "instrument_id", metavar="ID", help="Only this instrument.")
@click.option("--since", type=date_type, help="Only administrations on or after YYYY-MM-DD.")
@click.option("--include-partial", is_flag=True, help="Include partial administrations.")
@click.option(
    "--deidentify",
    is_flag=True,
    help="Replace client and administration ids with keyed pseudonyms; drop clinician "
    "names and notes.",
)
@click.option(
    "--date-shift",
    is_flag=True,
    help="With --deidentify: move each client's dates by their own keyed offset "
    f"(1-{MAX_DATE_SHIFT_DAYS} days; order and intervals kept).",
)
@click.option("--drop-dates", is_flag=True, help="With --deidentify: leave dates out.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (created 0600) instead of standard output.",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.pass_obj
def export_command(
    app: App,
    format_name: str,
    instrument_id: str | None,
    since: datetime | None,
    include_partial: bool,
    deidentify: bool,
    date_shift: bool,
    drop_dates: bool,
    output: Path | None,
    force: bool,
) -> None:
    """Export scores and answers, one row (CSV) or object (JSONL) per administration.

    CSV cells that a spreadsheet would run as a formula are neutralised. With
    --deidentify, the pseudonym key is kept in the data directory (0600), so
    the same client gets the same pseudonym in every export. A form whose
    definition psyq can no longer read is not a row: it is named on stderr with
    the critical flags stored with it, and the command exits 1.
    """
    if (date_shift or drop_dates) and not deidentify:
        flag = "--date-shift" if date_shift else "--drop-dates"
        raise PsyqError(f"{flag} de-identifies dates: give it with --deidentify")
    if date_shift and drop_dates:
        raise PsyqError("give --date-shift or --drop-dates, not both")
    app.private_home()  # before the key is made in it
    key = deidentify_key(app.home) if deidentify else None
    with app.open_store() as store:
        if instrument_id is not None:
            instrument_id = app.instrument_filter(instrument_id, store)
        administrations = store.administrations(
            instrument_id=instrument_id,
            status=None if include_partial else "complete",
            since=None if since is None else since.date(),
        )
        # A form whose definition psyq cannot read any more is not a row: it is named on
        # the terminal with its stored flags, and the export exits 1.
        from psyq.history import unreadable, unreadable_lines

        cant = unreadable(app, store, administrations)
        cant_lines = [
            line
            for adm in administrations
            if adm.id in cant
            for line in unreadable_lines(adm, cant[adm.id], detail=not deidentify)
        ]
        exported = {adm.id for adm in administrations}
        administrations = [adm for adm in administrations if adm.id not in cant]
        origins = store.definition_origins()
        changed = store.changed_outside(adm.id for adm in administrations)
        # Partial forms left out are never left out silently when they raise a critical
        # flag: a risk in an unfinished form is said even where the form is not shown.
        left_out = (
            []
            if include_partial
            else store.administrations(
                instrument_id=instrument_id,
                status="partial",
                since=None if since is None else since.date(),
            )
        )
        left_out_critical = [f for f in _partial_flags(app, left_out) if f["level"] == "critical"]
        deleted = store.deleted_outside()
        kept_gone = store.records_deleted_outside()  # kept versions, clients: gone
        gap = store.log_gap()
        # Left out by the filters (partial, another instrument, an earlier date): one
        # changed by hand may be in that state because of the hand edit.
        filtered_out = [adm for adm in store.administrations() if adm.id not in exported]
        left_changed = store.changed_outside(adm.id for adm in filtered_out)
        from psyq.store import by_administration

        versions = by_administration(store.answer_versions(adm.id for adm in administrations))
        moved = [m for m in store.moved_outside() if m.former_client is not None]
    dates = "shift" if date_shift else "drop" if drop_dates else "exact"
    records = export_records(
        app,
        administrations,
        key,
        dates=dates,
        origins=origins,
        changed=changed,
        versions=versions,
        moved={m.administration_id: str(m.former_client) for m in moved},
    )
    if format_name == "csv":
        text = csv_text(records)
    else:
        text = "".join(json_visible(json.dumps(r, ensure_ascii=False)) + "\n" for r in records)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_private(output, text.encode("utf-8"), force=force)
        click.echo(f"wrote {len(records)} administration(s) to {output}", err=True)
    if left_out_critical:
        forms = len({hit["administration"] for hit in left_out_critical})
        click.echo(
            f"!!! CRITICAL: {forms} partial administration(s) left out of this export raise "
            "a critical flag; give --include-partial to export them, or see `psyq clients`",
            err=True,
        )
        if not deidentify:  # a de-identified export names no administration
            for hit in left_out_critical:
                click.echo(_flag_line(hit), err=True)
    if changed:  # each row says so too (changed_outside_psyq)
        which = "" if deidentify else f" (administration {', '.join(map(str, sorted(changed)))})"
        click.echo(
            f"{CHANGED_MARK}: {len(changed)} exported record(s){which} changed outside psyq "
            "after they were saved (see the changed_outside_psyq column); `psyq audit "
            "verify` gives the details",
            err=True,
        )
    if left_changed:
        which = (
            ""
            if deidentify
            else " ("
            + ", ".join(
                f"administration {adm.id}: {adm.status}, {adm.instrument_id}, "
                f"{adm.administered.isoformat()}"
                for adm in filtered_out
                if adm.id in left_changed
            )
            + ")"
        )
        click.echo(
            f"{CHANGED_MARK}: {len(left_changed)} record(s) not in this export{which} were "
            "changed outside psyq after they were saved: a hand edit may have moved them "
            "out of it; `psyq audit verify` gives the details",
            err=True,
        )
    from psyq.store import deleted_lines

    for m in moved:
        click.echo(m.line(detail=not deidentify), err=True)
    for line in deleted_lines(deleted, detail=not deidentify, gap=gap, kept=kept_gone):
        click.echo(line, err=True)
    for line in cant_lines:
        click.echo(line, err=True)
    if cant:
        click.get_current_context().exit(1)


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [
        record_command,
        clients_command,
        history_command,
        rescore_command,
        audit_group,
        export_command,
    ]
