"""Moving one tablet through its forms, and saving each answer the moment it is given.

A kiosk session has a list of instruments. For each: an instructions screen
(position -1), then one item per screen (positions 0..n-1). Each answer is
saved through :class:`psyq.plugins.commands.administer.Session`, the very
code ``psyq administer`` saves with, so the store rows and the audit entries
(``start``, ``answer``, ``complete``) are the same. Where the tablet is
(form, position, a pending "ask once more") is kept in the kiosk file, so a
reload or a dropped connection comes back to the same screen.

The tablet sees only the current form's texts: never the client id, another
form's answers or any score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from psyq.models import CRITICAL_ITEM_FLAG, Instrument, Item
from psyq.plugins.commands.administer import Session
from psyq.plugins.tablet.clinician import flag_lines
from psyq.plugins.tablet.sessions import KioskSession, KioskStore
from psyq.results import FlagHit

if TYPE_CHECKING:
    from psyq.app import App
    from psyq.store import Store

Notify = Callable[[list[str]], None]


@dataclass(frozen=True)
class Screen:
    """What the tablet shows now. ``step`` names it, so a stale form post is ignored."""

    kind: Literal["instructions", "item"]
    shown: Instrument  # in the session's language, for display
    form_number: int
    forms: int
    item: Item | None
    number: int
    items: int
    answer: int | None
    confirm: bool
    step: str


def asks_once_more(instrument: Instrument, item: Item) -> bool:
    """Required items, items marked critical, and items a critical flag reads."""
    if item.required or item.critical:
        return True
    return any(
        flag.level == "critical" and ("item", item.id) in flag.when.references()
        for flag in instrument.flags
    )


class Flow:
    """One request's view of one open kiosk session."""

    def __init__(
        self,
        app: App,
        store: Store,
        kiosk: KioskStore,
        session: KioskSession,
        forms: list[tuple[Instrument, Instrument]],
        notify: Notify,
    ) -> None:
        # forms: (instrument as scored and stored, the same in the session's language)
        self.app = app
        self.store = store
        self.kiosk = kiosk
        self.session = session
        self.forms = forms
        self.notify = notify
        self.idx = session.idx
        self.position = session.position
        self.confirm = session.confirm
        self.admin_ids = list(session.admin_ids)

    @property
    def step(self) -> str:
        return f"{self.idx}:{self.position}"

    def _answers(self) -> dict[str, int | None]:
        admin_id = self.admin_ids[self.idx]
        if admin_id is None:
            return {}
        return dict(self.store.get(admin_id).answers)

    def screen(self) -> Screen:
        base, shown = self.forms[self.idx]
        item = None if self.position < 0 else shown.items[self.position]
        return Screen(
            kind="instructions" if item is None else "item",
            shown=shown,
            form_number=self.idx + 1,
            forms=len(self.forms),
            item=item,
            number=self.position + 1,
            items=len(base.items),
            answer=None if item is None else self._answers().get(item.id),
            confirm=item is not None and self.confirm == item.id,
            step=self.step,
        )

    def _save_place(self) -> None:
        self.kiosk.move(
            self.session.id,
            idx=self.idx,
            position=self.position,
            confirm=self.confirm,
            admin_ids=self.admin_ids,
        )

    def begin(self) -> None:
        """Leave the instructions for the first item."""
        if self.position < 0:
            self.position = 0
            self.confirm = None
            self._save_place()

    def back(self) -> None:
        self.confirm = None
        if self.position >= 0:
            self.position -= 1
        elif self.idx > 0:
            self.idx -= 1
            self.position = len(self.forms[self.idx][0].items) - 1
        self._save_place()

    def answer(self, value: int | None) -> bool:
        """Answer (or, with None, skip) the current item. True when every form is done.

        Skipping an item that :func:`asks_once_more` first asks again; a second
        skip leaves it unanswered.
        """
        base, _ = self.forms[self.idx]
        item = base.items[self.position]
        if value is None and asks_once_more(base, item) and self.confirm != item.id:
            self.confirm = item.id
            self._save_place()
            return False
        self.confirm = None
        self._save(base, item, value)
        self.position += 1
        if self.position < len(base.items):
            self._save_place()
            return False
        if self.idx + 1 < len(self.forms):
            self.idx += 1
            self.position = -1
            self._save_place()
            return False
        self._save_place()
        done = self.kiosk.end(self.session.id, "complete")
        self.notify([f"kiosk session {done.id} (client {done.client_id}): all forms complete"])
        return True

    def _save(self, base: Instrument, item: Item, value: int | None) -> None:
        admin_id = self.admin_ids[self.idx]
        resumed = None if admin_id is None else self.store.get(admin_id)
        before = [] if resumed is None or resumed.result is None else resumed.result.flags
        was_complete = resumed is not None and resumed.status == "complete"
        session = Session(
            self.app,
            self.store,
            base,
            self.session.client_id,
            self.session.clinician,
            resumed,
            language=self.session.language,
        )
        session.answers[item.id] = value
        session.position = self.position + 1
        finished = was_complete or session.position == len(base.items)
        result = session.save(complete=finished)
        self.admin_ids[self.idx] = session.admin_id
        lines: list[str] = []
        where = f"kiosk session {self.session.id} (client {self.session.client_id})"
        if finished and not was_complete:
            lines.append(
                f"{where}: {base.short_name} complete, administration {session.admin_id}"
                + ("" if result.flags else "; no flags")
            )
            new = list(result.flags)
        else:
            seen = set(reached(before, base, self.position))
            new = [f for f in reached(result.flags, base, session.position) if f not in seen]
        if new:
            if not lines:
                lines.append(f"{where}: {base.short_name} administration {session.admin_id}")
            lines.extend(flag_lines(new))
        if lines:
            self.notify(lines)


def reached(flags: list[FlagHit], instrument: Instrument, position: int) -> list[FlagHit]:
    """Flags as the live terminal shows them while a form is being filled in.

    "Critical item not answered" is left out for items the client has not reached
    yet (it is raised from the first answer on, as for any partial form); it is
    shown once the item is passed unanswered, and always in ``kiosk status``.
    """
    order = {item.id: n for n, item in enumerate(instrument.items)}
    return [
        flag
        for flag in flags
        if not (flag.id == CRITICAL_ITEM_FLAG and order.get(flag.item or "", -1) >= position)
    ]
