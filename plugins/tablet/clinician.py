"""What the clinician sees of kiosk sessions: ``psyq kiosk status`` and the serve terminal.

Every flag of every form is shown, partial forms included; a critical flag is
framed exactly as ``psyq administer`` frames it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from psyq.plugins.commands.administer import RULE
from psyq.results import FlagHit

if TYPE_CHECKING:
    from psyq.plugins.tablet.sessions import KioskSession
    from psyq.store import Store

STATE_TEXT = {
    "waiting": "waiting for the code",
    "active": "in progress on a tablet",
    "complete": "complete",
    "stopped": "stopped by the clinician",
    "locked": "code locked after wrong guesses: start a new session",
    "expired": "code expired unused: start a new session",
    "timed out": "ended after an hour without an answer",
}


def flag_lines(flags: Iterable[FlagHit]) -> list[str]:
    """Flags as lines; critical ones framed as ``administer`` frames them."""
    flags = list(flags)
    lines = []
    for flag in flags:
        if flag.level != "critical":
            item = f" (item {flag.item})" if flag.item else ""
            lines.append(f"  {flag.level}{item}: {flag.message}")
    critical = [flag for flag in flags if flag.level == "critical"]
    if critical:
        lines.append(RULE)
        for flag in critical:
            item = f" (item {flag.item})" if flag.item else ""
            lines.append(f"!!! CRITICAL{item}: {flag.message}")
        lines.append("!!! Review this with the client now, before they leave.")
        lines.append(RULE)
    return lines


def _clock(moment: float | None) -> str:
    return "-" if moment is None else time.strftime("%H:%M", time.localtime(moment))


def session_json(session: KioskSession, store: Store) -> dict[str, Any]:
    """One session for ``kiosk status --json``: state, forms, every flag."""
    forms = []
    for instrument_id, admin_id in zip(session.instruments, session.admin_ids, strict=True):
        form: dict[str, Any] = {"instrument": instrument_id, "administration": admin_id}
        if admin_id is None:
            form.update(status="not started", answered=0, items=None, flags=[])
        else:
            adm = store.get(admin_id)
            result = adm.result
            form.update(
                status=adm.status,
                answered=sum(v is not None for v in adm.answers.values()),
                items=len(adm.answers),
                flags=[] if result is None else [f.model_dump() for f in result.flags],
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


def status_lines(session: KioskSession, store: Store) -> list[str]:
    """One session for ``kiosk status``: a heading line, a line per form, its flags."""
    data = session_json(session, store)
    language = f", language {session.language}" if session.language else ""
    when = (
        f"code expires {data['expires']}"
        if session.state == "waiting"
        else f"started {_clock(session.started_at)}, ended {data['ended']}"
    )
    lines = [
        f"kiosk session {session.id}: client {session.client_id}{language}: "
        f"{STATE_TEXT[session.state]} ({when})"
    ]
    for form in data["forms"]:
        if form["administration"] is None:
            lines.append(f"  {form['instrument']}: not started")
            continue
        if session.state == "active" and form["status"] == "partial":
            lines.append(
                f"  {form['instrument']}: being filled in now; an item flagged "
                "'not answered' may not have been reached yet"
            )
        lines.append(
            f"  {form['instrument']}: {form['status']}, {form['answered']}/{form['items']} "
            f"answered, administration {form['administration']}"
            + ("" if form["flags"] else ", no flags")
        )
        lines.extend(flag_lines(FlagHit.model_validate(f) for f in form["flags"]))
    return lines
