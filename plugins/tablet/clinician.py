"""What the clinician sees of kiosk sessions: ``psyq kiosk status`` and the serve terminal.

Every flag of every form is shown, partial forms included; a critical flag is
framed exactly as ``psyq administer`` frames it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from psyq.plugins.commands.administer import RULE
from psyq.results import FlagHit

if TYPE_CHECKING:
    from psyq.app import App
    from psyq.plugins.tablet.sessions import KioskSession
    from psyq.results import ScoreResult
    from psyq.store import Administration, Store

Gettext = Callable[[str], str]


def _same(message: str) -> str:
    return message


def state_text(state: str, _: Gettext = _same) -> str:
    """A session's state in words (``kiosk status``)."""
    texts = {
        "waiting": _("waiting for the code"),
        "active": _("in progress on a tablet"),
        "complete": _("complete"),
        "stopped": _("stopped by the clinician"),
        "locked": _("code locked after wrong guesses: start a new session"),
        "expired": _("code expired unused: start a new session"),
        "timed out": _("ended after an hour without an answer"),
    }
    return texts[state]


def _about(flag: FlagHit, _: Gettext) -> str:
    """``" (item a)"`` / ``" (items a, b)"``: every item that raised ``flag``."""
    if not flag.item_ids:
        return ""
    if len(flag.item_ids) == 1:
        return " (" + _("item %(item)s") % {"item": flag.item_ids[0]} + ")"
    return " (" + _("items %(items)s") % {"items": ", ".join(flag.item_ids)} + ")"


def flag_lines(
    flags: Iterable[FlagHit], _: Gettext = _same, earlier: Iterable[dict[str, Any]] = ()
) -> list[str]:
    """Flags as lines; critical ones framed as ``administer`` frames them.

    ``_``: psyq's words in the clinician's language (``kiosk status --language``);
    flag messages are the instrument's own. ``earlier``: critical flags the form's
    answers as first saved raised before they were changed (Back on the tablet), each
    with its ``answer_version``, framed with the others: a risk answered away is shown.
    """
    flags = list(flags)
    before = [(FlagHit.model_validate(f), f["answer_version"]) for f in earlier]
    levels = {"info": _("info"), "warning": _("warning")}
    lines = []
    for flag in flags:
        if flag.level != "critical":
            lines.append(f"  {levels.get(flag.level, flag.level)}{_about(flag, _)}: {flag.message}")
    critical = [flag for flag in flags if flag.level == "critical"]
    if critical or before:
        lines.append(RULE)
        word = _("CRITICAL")
        for flag in critical:
            lines.append(f"!!! {word}{_about(flag, _)}: {flag.message}")
        for flag, version in before:
            kept = _(
                "(raised by the answers as first saved, since changed: kept as answer "
                "version %(version)s)"
            ) % {"version": version}
            lines.append(f"!!! {word}{_about(flag, _)}: {flag.message} {kept}")
        lines.append("!!! " + _("Review this with the client now, before they leave."))
        lines.append(RULE)
    return lines


def _clock(moment: float | None) -> str:
    return "-" if moment is None else time.strftime("%H:%M", time.localtime(moment))


def _result(adm: Administration, store: Store, app: App | None) -> ScoreResult | None:
    """The form's stored result, read as every other output reads it (with ``app``:
    what an older psyq did not store, such as flag items, derived at read time)."""
    if app is None or adm.result is None:
        return adm.result
    from psyq.errors import PsyqError
    from psyq.stored_results import stored_result

    try:
        instrument = app.instrument_of(adm, store)
    except PsyqError:  # its definition is gone: the flags as stored, never none
        return adm.result
    return stored_result(app, adm, instrument)


def session_json(session: KioskSession, store: Store, app: App | None = None) -> dict[str, Any]:
    """One session for ``kiosk status --json``: state, forms, every flag."""
    forms = []
    # A form changed outside psyq after it was saved is shown, and said to be.
    from psyq.store import changed_warning

    changed = store.changed_outside(n for n in session.admin_ids if n is not None)
    for instrument_id, admin_id in zip(session.instruments, session.admin_ids, strict=True):
        form: dict[str, Any] = {"instrument": instrument_id, "administration": admin_id}
        if admin_id is None:
            form.update(status="not started", answered=0, items=None, flags=[])
        elif not store.has_administration(admin_id):
            # Deleted outside psyq: said, and the session's other forms still shown.
            form.update(
                status="deleted", answered=0, items=None, flags=[], deleted_outside_psyq=True
            )
        else:
            adm = store.get(admin_id)
            result = _result(adm, store, app)
            form.update(
                status=adm.status,
                answered=sum(v is not None for v in adm.answers.values()),
                items=len(adm.answers),
                flags=[] if result is None else [f.model_dump() for f in result.flags],
                # Answers changed after saving (Back on the tablet): a critical flag the
                # earlier ones raised is still shown.
                earlier_critical_flags=[
                    {**flag.model_dump(), "answer_version": version.id}
                    for version in store.answer_versions([admin_id])
                    for flag in version.alerts_gone(result)
                ],
                changed_outside_psyq=changed_warning(changed.get(admin_id)),
            )
        forms.append(form)
    return {
        "session": session.id,
        "client": session.client_id,
        "language": session.language,
        "state": session.state,
        "created": _clock(session.created_at),
        "expires": _clock(session.expires_at),
        "ended": _clock(session.ended_at),
        "forms": forms,
    }


def status_lines(
    session: KioskSession, store: Store, _: Gettext = _same, app: App | None = None
) -> list[str]:
    """One session for ``kiosk status``: a heading line, a line per form, its flags."""
    data = session_json(session, store, app)
    words = {
        "id": session.id,
        "client": session.client_id,
        "language": session.language,
        "expires": data["expires"],
        "started": _clock(session.started_at),
        "ended": data["ended"],
        "state": state_text(session.state, _),
    }
    language = ", " + _("language %(language)s") % words if session.language else ""
    if session.state == "waiting":
        when = _("code expires %(expires)s") % words
    else:
        when = _("started %(started)s, ended %(ended)s") % words
    lines = [
        _("kiosk session %(id)s: client %(client)s") % words
        + f"{language}: {words['state']} ({when})"
    ]
    for form in data["forms"]:
        name = form["instrument"]
        if form["administration"] is None:
            lines.append(f"  {name}: " + _("not started"))
            continue
        if form.get("deleted_outside_psyq"):
            lines.append(
                f"  {name}: administration {form['administration']}: !!! "
                + _("DELETED OUTSIDE PSYQ after it was saved: psyq audit verify gives the details")
            )
            continue
        if session.state == "active" and form["status"] == "partial":
            lines.append(
                f"  {name}: "
                + _(
                    "being filled in now; an item flagged 'not answered' may not have been "
                    "reached yet"
                )
            )
        status = _("complete") if form["status"] == "complete" else _("partial")
        line = _("%(status)s, %(answered)s/%(items)s answered, administration %(admin)s") % {
            "status": status,
            "answered": form["answered"],
            "items": form["items"],
            "admin": form["administration"],
        }
        earlier = form.get("earlier_critical_flags", [])
        flagged = form["flags"] or earlier
        lines.append(f"  {name}: {line}" + ("" if flagged else ", " + _("no flags")))
        if form.get("changed_outside_psyq"):
            lines.append(
                "!!! "
                + _("CHANGED OUTSIDE PSYQ after it was saved: psyq audit verify gives the details")
            )
        lines.extend(flag_lines((FlagHit.model_validate(f) for f in form["flags"]), _, earlier))
    return lines
