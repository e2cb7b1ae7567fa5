"""``psyq administer``: give a questionnaire at the keyboard, item by item.

The same loop serves a terminal and answers piped on stdin (one per line).
Progress is saved after every answer, so ``q``, Ctrl-C, a closed pipe or a
crash never lose what was answered; ``psyq administer --resume ID`` continues.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from psyq.app import App
from psyq.errors import AnswerError, PsyqError
from psyq.hookspecs import hookimpl
from psyq.plugins.commands.store import checked_text, clinician_option, write_private
from psyq.plugins.fhir.export import with_transaction
from psyq.plugins.report.command import MAX_FIELD_CHARS

if TYPE_CHECKING:
    from psyq.models import Instrument, Item
    from psyq.results import ScoreResult
    from psyq.store import Administration, Status, Store


def _help_text(_: Callable[[str], str]) -> str:
    """The ``?`` help the client reads, in the form's language."""
    return "\n".join(
        [
            "  " + _("a number  answer with that option"),
            "  "
            + _(
                "Enter     skip this item (not allowed when it is required; a critical\n"
                "            item asks once more: s skips it); on an item answered before,\n"
                "            Enter keeps that answer"
            ),
            "  " + _("-         clear the answer (leave it missing)"),
            "  " + _("b         back to the previous item"),
            "  " + _("?         this help"),
            "  "
            + _(
                "q         save the answers so far and quit; continue with "
                "`psyq administer --resume ID`"
            ),
            "  " + _("Ctrl-C    same as q: every answer is saved the moment it is given"),
        ]
    )


RULE = "!" * 72


class Session:
    """One administration in progress: answers, position, and saving them."""

    def __init__(
        self,
        app: App,
        store: Store,
        instrument: Instrument,
        client_id: str,
        clinician: str | None,
        resumed: Administration | None = None,
        language: str | None = None,
    ) -> None:
        self.app = app
        self.language = resumed.language if resumed is not None else language
        self.shown = instrument  # what the client reads: the instrument in self.language
        self.store = store
        self.instrument = instrument
        self.client_id = client_id
        self.clinician = clinician
        self.items = instrument.items
        self.answers: dict[str, int | None] = {item.id: None for item in self.items}
        self.position = 0
        self.admin_id: int | None = None
        self.origin: tuple[str, str | None] | None = None  # a definition psyq did not ship
        self.result: ScoreResult | None = None  # as last saved
        if resumed is not None:
            self.answers.update(resumed.answers)
            self.position = min(resumed.position, len(self.items))
            self.admin_id = resumed.id

    def gettext(self, message: str) -> str:
        """psyq's own words the client reads, in the form's language when there is a catalogue."""
        from psyq.i18n import ui_language

        return ui_language(self.language).gettext(message)

    @property
    def answered(self) -> int:
        return sum(v is not None for v in self.answers.values())

    def score(self) -> ScoreResult:
        """The answers so far, scored with the client's recorded sex where cut-offs
        depend on it (AUDIT-C)."""
        client: dict[str, str] = {}
        if self.instrument.client_attributes:
            from psyq.clients import known_attributes

            client = known_attributes(self.store.scoring_attributes(self.client_id))
        return self.app.scorer.score_valid(self.instrument, dict(self.answers), client)

    def save(self, complete: bool = False) -> ScoreResult:
        """Save answers and position (status partial until ``complete``)."""
        result = self.score()
        status: Status = "complete" if complete else "partial"
        if self.admin_id is None:
            adm = self.store.add_administration(
                instrument=self.instrument,
                client_id=self.client_id,
                answers=dict(self.answers),
                result=result,
                administered=date.today(),
                clinician=self.clinician,
                status=status,
                position=self.position,
                plugins=self.app.scoring_plugins(),
                language=self.language,
                origin=self.origin,
            )
            self.admin_id = adm.id
        else:
            self.store.update_progress(
                self.admin_id,
                answers=dict(self.answers),
                position=self.position,
                status=status,
                result=result,
                plugins=self.app.scoring_plugins(),
            )
        self.result = result
        return result


def _say(text: str = "", nl: bool = True) -> None:
    click.echo(text, nl=nl)
    sys.stdout.flush()


def _wrapped(text: str, indent: int = 0) -> str:
    """Wrap at word boundaries to the terminal, so long items never break mid-word."""
    import shutil
    import textwrap

    width = max(40, min(shutil.get_terminal_size((100, 24)).columns, 100) - 1)
    return textwrap.fill(text, width=width, subsequent_indent=" " * indent)


def _show_item(session: Session, item: Item) -> None:
    inst = session.shown
    item = inst.item(item.id)
    n = len(session.items)
    i = session.position
    _ = session.gettext
    required = "  " + _("(required)") if item.required else ""
    _say()
    _say(_wrapped(f"[{i + 1}/{n}] {item.text}{required}", indent=len(f"[{i + 1}/{n}] ")))
    for option in inst.response_scale_for(item).options:
        _say(f"   {option.value:>3}  {option.label}")
    current = session.answers[item.id]
    if current is not None:
        _say("   " + _("answered before: %(value)s (Enter keeps it)") % {"value": current})


def _prompt(session: Session, item: Item) -> str:
    _ = session.gettext
    if item.required:
        return _("answer (b back, ? help, q save and quit): ")
    return _("answer (Enter skip, b back, ? help, q save and quit): ")


def _skipped(session: Session, item: Item) -> bool:
    """Whether the form skips ``item`` given the answers so far (AUDIT after "Never")."""
    skip = item.skip
    if skip is None:
        return False
    if skip.when is None:
        return False  # skipped only by leaving it blank: still asked
    from psyq.plugins.scoring_stages import condition_holds
    from psyq.scoring import ScoringState

    state = ScoringState(instrument=session.instrument, answers=session.answers, methods={})
    return condition_holds(skip.when, state)


def _read(interactive: bool) -> str | None:
    """One line from stdin, stripped; ``None`` at the end of input."""
    line = sys.stdin.readline()
    if not line:
        _say()
        return None
    token = line.strip()
    if not interactive:
        _say(token)  # piped answers are not echoed by a terminal; show them
    return token


def run_session(session: Session, interactive: bool) -> bool:
    """Ask from the current position to the end. True when every item was gone through."""
    from psyq.answers import coerce_value

    pending: str | None = None  # typed at the critical-item confirmation, not yet used
    while session.position < len(session.items):
        item = session.items[session.position]
        if _skipped(session, item):
            # The form skips it; the manual's score for a skip applies (not "missing").
            assert item.skip is not None
            n = len(session.items)
            why = f": {item.skip.reason}" if item.skip.reason else ""
            _say(f"[{session.position + 1}/{n}] skipped{why} (scored {item.skip.score:g})")
            session.answers[item.id] = None
            session.position += 1
            session.save(complete=session.position == n)
            continue
        if pending is None:
            _show_item(session, item)
            _say(_prompt(session, item), nl=False)
            read = _read(interactive)
            if read is None:  # end of input: keep what we have, as q does
                return False
            token = read
        else:
            token, pending = pending, None
        if token.lower() == "q":
            return False
        if token == "?":
            _say(_help_text(session.gettext))
            continue
        if token.lower() == "b":
            if session.position == 0:
                _say("  " + session.gettext("(this is the first item)"))
            else:
                session.position -= 1
                # Back over items the form skipped, to the last one actually asked.
                while session.position > 0 and _skipped(session, session.items[session.position]):
                    session.position -= 1
            continue
        if token == "" and session.answers[item.id] is not None:
            value: int | None = session.answers[item.id]
        else:
            try:
                value = coerce_value(session.instrument, item, None if token == "" else token)
            except AnswerError as exc:
                if not interactive:
                    # A piped answer that is wrong would shift every later answer onto
                    # the wrong item: stop, keeping the answers before it.
                    _save_partial_then_fail(session, exc)
                _say(f"  {exc}")
                continue
        if value is None and item.critical:
            # A risk item is never skipped by a stray Enter: ask once more.
            _ = session.gettext
            _say(
                "  "
                + _(
                    "%(item)s is a critical item: left unanswered, it raises a critical flag "
                    "and must be asked directly."
                )
                % {"item": item.id}
            )
            _say("  " + _("s to skip it anyway, or an answer: "), nl=False)
            confirm = _read(interactive)
            if confirm is None:
                return False
            if confirm.lower() != "s":
                pending = confirm  # an answer, b, q, ? or Enter: handled as for the item
                continue
        session.answers[item.id] = value
        session.position += 1
        session.save(complete=session.position == len(session.items))
    return True


def _save_partial_then_fail(session: Session, exc: AnswerError) -> None:
    where = f"stdin answer {session.position + 1}: "
    if session.position > 0:
        session.save()
        raise AnswerError(
            f"{where}{exc}; answers before it are saved as partial administration "
            f"{session.admin_id} (`psyq administer --resume {session.admin_id}`)"
        )
    raise AnswerError(f"{where}{exc}; nothing was saved")


def _framed_critical(result: ScoreResult, earlier: list[dict[str, Any]] | None = None) -> None:
    """Critical flags as the very last lines, framed, on screen when the client leaves:
    the answers' own, then each the answers as first saved raised before they were
    changed (``earlier``: ``RenderRequest.options["earlier_critical"]``)."""
    from psyq.alerts import alert_line
    from psyq.results import FlagHit

    critical = result.critical
    if not critical and not earlier:
        return
    _say(RULE)
    for flag in critical:
        _say(f"!!! {alert_line(flag)}")
    for version in earlier or []:
        for raised in version["flags"]:
            hit = FlagHit.model_validate(raised)
            _say(
                f"!!! {alert_line(hit)} (raised by the answers as first saved, since changed: "
                f"kept as answer version {version['answer_version']})"
            )
    _say("!!! Review this with the client now, before they leave.")
    _say(RULE)


def _show_partial_flags(session: Session) -> None:
    """Every flag the answers so far raise; a stopped form hides no risk signal."""
    if session.admin_id is None:
        return
    result = session.score()
    n = len(session.items)
    _say(f"PARTIAL: {session.answered} of {n} items answered; flags from the answers so far:")
    # Answers changed on going back (b): a critical flag the earlier ones raised is shown.
    earlier = [
        {"answer_version": version.id, "flags": [f.model_dump(mode="json") for f in gone]}
        for version in session.store.answer_versions([session.admin_id])
        if (gone := version.alerts_gone(result))
    ]
    if not result.flags and not earlier:
        _say("  none")
    for flag in result.flags:
        if flag.level != "critical":
            _say(f"  {flag.level}{flag.about()}: {flag.message}")
    _framed_critical(result, earlier)


def _finish(
    app: App,
    session: Session,
    result: ScoreResult,
    report: Path | None,
    report_format: str,
    force: bool,
) -> None:
    from psyq.history import render_request_for
    from psyq.outputs import get_output_format

    assert session.admin_id is not None
    _say()
    _say(f"saved administration {session.admin_id} (complete) for client {session.client_id}")
    table = get_output_format(app.pm, "table")
    # The form as stored: answers changed on resuming (a risk answered away) are shown,
    # and a band of low concern beside the earlier answers' alert is marked, as in history.
    request = render_request_for(app, session.admin_id, session.store)
    _say(table.render(request).decode(), nl=False)
    _framed_critical(result, request.options.get("earlier_critical"))
    if report is not None:
        _write_report(app, session, report, report_format, force)


def _write_report(
    app: App, session: Session, report: Path, report_format: str, force: bool
) -> None:
    """The --report file of the administration as stored: a form stopped before its end
    gets one too, marked PARTIAL with every flag its answers raise, so the file the
    clinician asked for never lacks a risk the terminal showed."""
    from psyq.history import render_request_for
    from psyq.outputs import get_output_format

    assert session.admin_id is not None
    fmt = get_output_format(app.pm, report_format)
    full = render_request_for(app, session.admin_id, session.store)
    write_private(report, fmt.render(full), force=force)
    partial = (
        " (PARTIAL: the form was not finished)" if full.options.get("status") == "partial" else ""
    )
    _say(f"report written to {report}{partial}")


def _intro(session: Session) -> None:
    inst = session.shown
    language = f", in {session.language}" if session.language else ""
    _say(
        f"{inst.title} ({inst.short_name} v{inst.version}) for client {session.client_id}{language}"
    )
    if inst.instructions:
        _say()
        _say(inst.instructions)
    if session.position:
        _say()
        _say(
            session.gettext("Resuming at item %(n)s of %(total)s.")
            % {"n": session.position + 1, "total": len(session.items)}
        )
    _say(session.gettext("Type ? for help."))


def _administrable(instrument: Instrument) -> Instrument:
    """The instrument, if its items can be shown; licensed texts must be installed."""
    if not instrument.texts_installed:
        from psyq.overlays import placeholder_notice

        raise PsyqError(
            f"cannot administer {instrument.id}: {placeholder_notice(instrument)} "
            f"Without them, give the licensed paper form and enter its answers with "
            f"`psyq record {instrument.id}` (or `psyq score`)."
        )
    return instrument


@click.command("administer")
@click.argument("instrument_id", required=False)
@click.option("--client", "client_id", metavar="ID", help="Pseudonymous client id, e.g. C0042.")
@clinician_option
@click.option("--resume", "resume_id", type=int, metavar="ADMIN_ID", help="Continue a partial one.")
@click.option(
    "--language",
    metavar="TAG",
    help="Give the form in this language (a complete translation of it must exist).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a report (a form stopped before its end gets one marked PARTIAL); "
    "the format follows the suffix (.pdf, .json, .fhir.json, ...).",
)
@click.option(
    "--transaction", is_flag=True, help="With a .fhir.json --report: a transaction Bundle."
)
@click.option("--force", is_flag=True, help="Overwrite the --report file if it exists.")
@click.pass_obj
def administer_command(
    app: App,
    instrument_id: str | None,
    client_id: str | None,
    clinician: str | None,
    resume_id: int | None,
    language: str | None,
    report: Path | None,
    transaction: bool,
    force: bool,
) -> None:
    """Give INSTRUMENT_ID to a client at the keyboard, one item at a time.

    Type the number of an answer; Enter skips (a critical item asks once
    more: s skips it); b goes back; ? helps; q (or Ctrl-C) saves a partial
    administration to finish later with --resume, and prints every flag the
    answers so far raise. Answers can also be piped, one per line; piped input
    that ends before the last item exits 1 (the partial is saved).

    \b
    Example:
      psyq administer phq9 --client C0042 --clinician "Dr Rao"
      printf '1\\n2\\n0\\n1\\n1\\n0\\n2\\n1\\n0\\n1\\n' | psyq administer phq9 --client C0042
      psyq administer --resume 17
    """
    report_format = None
    if report is not None:  # a bad suffix or a name in use fails now, not after the last item
        from psyq.files import refuse_existing
        from psyq.outputs import require_format_for_path

        chosen = require_format_for_path(app.pm, report.name)
        refuse_existing(report, force)
        (report_format,) = with_transaction((chosen.name,), transaction)
    elif transaction:
        raise PsyqError("--transaction applies to a FHIR --report (a .fhir.json file)")
    clinician = checked_text("--clinician", clinician, MAX_FIELD_CHARS)
    store = app.open_store()
    try:
        session = _open_session(app, store, instrument_id, client_id, clinician, resume_id)
        _set_language(app, session, language)
        interactive = sys.stdin.isatty()
        _intro(session)
        try:
            finished = run_session(session, interactive)
        except KeyboardInterrupt:
            _say()
            _say(_kept(session, "interrupted"))
            _show_partial_flags(session)
            _partial_report(app, session, report, report_format, force)
            sys.exit(130)
        if not finished:
            _say(_kept(session, "stopped"))
            _show_partial_flags(session)
            _partial_report(app, session, report, report_format, force)
            if not interactive:
                # Piped answers that end before the last item are an error for the
                # script that sent them (the partial is kept).
                sys.exit(1)
            return
        # The last answer saved it complete; a resumed one with nothing left is saved now.
        result = session.result or session.save(complete=True)
        _finish(app, session, result, report, report_format or "", force)
    finally:
        store.close()


def _partial_report(
    app: App, session: Session, report: Path | None, report_format: str | None, force: bool
) -> None:
    """A form stopped before its end still gets the --report asked for (if anything was
    saved); resumed and finished, ``--force`` replaces it with the complete one."""
    if report is None or report_format is None:
        return
    if session.admin_id is None:
        _say(f"no report written to {report}: nothing was answered")
        return
    _write_report(app, session, report, report_format, force)


def _set_language(app: App, session: Session, language: str | None) -> None:
    """Show the form in the language asked (a resumed one keeps its own)."""
    from psyq.i18n import instrument_in

    if session.admin_id is not None and language and language != session.language:
        raise PsyqError(
            f"administration {session.admin_id} was started in {session.language or 'its own'} "
            f"language; resume it without --language"
        )
    session.language = session.language or language
    session.shown = instrument_in(app, session.instrument, session.language)


def _kept(session: Session, what: str) -> str:
    if session.admin_id is None:
        return f"{what}: nothing answered, nothing saved"
    return (
        f"{what}: {session.answered} answer(s) saved as partial administration "
        f"{session.admin_id}; continue with `psyq administer --resume {session.admin_id}`"
    )


def _open_session(
    app: App,
    store: Store,
    instrument_id: str | None,
    client_id: str | None,
    clinician: str | None,
    resume_id: int | None,
) -> Session:
    if resume_id is None:
        if instrument_id is None or client_id is None:
            raise PsyqError(
                "give the instrument and the client (psyq administer phq9 --client C0042), "
                "or --resume ADMIN_ID"
            )
        from psyq.clients import check_client_id

        check_client_id(client_id)
        session = Session(
            app, store, _administrable(app.instrument(instrument_id)), client_id, clinician
        )
        session.origin = app.origin(instrument_id)
        return session
    # Continuing builds on the stored answers: never on ones changed outside psyq.
    store.verify_administration(resume_id)
    adm = store.get(resume_id)
    if adm.status != "partial":
        raise PsyqError(f"administration {resume_id} is complete; there is nothing to resume")
    if instrument_id is not None and instrument_id != adm.instrument_id:
        raise PsyqError(f"administration {resume_id} is {adm.instrument_id}, not {instrument_id}")
    if client_id is not None and client_id != adm.client_id:
        raise PsyqError(f"administration {resume_id} belongs to client {adm.client_id}")
    instrument = _administrable(app.instrument_of(adm, store))
    if instrument.content_hash() != adm.definition_hash:
        raise PsyqError(
            f"administration {resume_id} was started with {adm.instrument_id} "
            f"v{adm.instrument_version} ({adm.definition_hash[:19]}), which has changed since; "
            "it cannot be resumed with a different definition"
        )
    return Session(app, store, instrument, adm.client_id, clinician or adm.clinician, adm)


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [administer_command]
