"""Moving one tablet through its forms, and saving each answer the moment it is given.

A kiosk session has a list of instruments. For each: an instructions screen
(position -1), then either one item per screen (positions 0..n-1) or, in the
whole-form layout (:meth:`KioskSession.layout_for`), every item on one page
(position 0) where each tap saves one answer and "Finish" ends the form. Each answer is
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
from typing import TYPE_CHECKING, Any, Literal

from psyq.models import CRITICAL_ITEM_FLAG, Instrument, Item
from psyq.plugins.commands.administer import Session
from psyq.plugins.tablet.clinician import flag_lines
from psyq.plugins.tablet.sessions import KioskSession, KioskStore
from psyq.results import FlagHit
from psyq.store import TamperedError

if TYPE_CHECKING:
    from psyq.app import App
    from psyq.store import Administration, Store

Notify = Callable[[list[str]], None]
FINISH_ASKED = "*finish"
"""``confirm`` value once a whole form's "Finish" has asked about important items."""


class KioskFileChanged(TamperedError):
    """A session in the kiosk file points at a form that is not its client's."""


@dataclass(frozen=True)
class Screen:
    """What the tablet shows now. ``step`` names it, so a stale form post is ignored."""

    kind: Literal["instructions", "item", "form"]
    shown: Instrument  # in the session's language, for display
    form_number: int
    forms: int
    item: Item | None
    number: int
    items: int
    answer: int | None
    confirm: bool
    step: str
    answers: dict[str, int | None]
    unanswered_important: list[str]
    """Whole form, after a first "Finish": the important items still unanswered."""


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
        return dict(self._form(admin_id).answers)

    def _form(self, admin_id: int) -> Administration:
        """The session's stored form ``admin_id``, refused (:class:`TamperedError`) unless
        it is this client's form of this instrument: the kiosk file changed outside psyq
        could point a tablet at another client's form, to show and overwrite its answers."""
        adm = self.store.get(admin_id)
        base = self.forms[self.idx][0]
        if adm.client_id != self.session.client_id or adm.instrument_id != base.id:
            raise KioskFileChanged(
                f"kiosk session {self.session.id} (client {self.session.client_id}, "
                f"{base.id}) points at administration {admin_id}, which is client "
                f"{adm.client_id}'s {adm.instrument_id}: the kiosk file was changed outside "
                "psyq; nothing shown or saved"
            )
        return adm

    def layout(self, idx: int | None = None) -> Literal["item", "form"]:
        return self.session.layout_for(len(self.forms[self.idx if idx is None else idx][0].items))

    def screen(self) -> Screen:
        base, shown = self.forms[self.idx]
        whole = self.layout() == "form" and self.position >= 0
        item = None if self.position < 0 or whole else shown.items[self.position]
        answers = self._answers() if whole else {}
        pending = (
            [i.id for i in base.items if answers.get(i.id) is None and asks_once_more(base, i)]
            if whole and self.confirm == FINISH_ASKED
            else []
        )
        return Screen(
            kind="form" if whole else "instructions" if item is None else "item",
            shown=shown,
            form_number=self.idx + 1,
            forms=len(self.forms),
            item=item,
            number=self.position + 1,
            items=len(base.items),
            answer=None if item is None else self._answers().get(item.id),
            confirm=(item is not None and self.confirm == item.id) or bool(pending),
            step=self.step,
            answers=answers,
            unanswered_important=pending,
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
            whole = self.layout() == "form"
            self.position = 0 if whole else len(self.forms[self.idx][0].items) - 1
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
        return self._next_form()

    def pick(self, item: Item, value: int) -> None:
        """Whole form: save one answer the moment it is tapped; the form stays open."""
        base, _ = self.forms[self.idx]
        answers = self._answers()
        answers[item.id] = value
        order = [i.id for i in base.items]
        # Flags for items up to the furthest one answered, as if passed one by one.
        furthest = max(order.index(k) for k, v in answers.items() if v is not None)
        self._save(base, item, value, reached_to=furthest + 1, complete=False)
        self._save_place()

    def finish(self) -> bool:
        """Whole form: end it; True when every form is done.

        An important item (:func:`asks_once_more`) left unanswered asks once
        more: the first "Finish" shows them, the second leaves them unanswered.
        """
        base, _ = self.forms[self.idx]
        answers = self._answers()
        pending = [i for i in base.items if answers.get(i.id) is None and asks_once_more(base, i)]
        if pending and self.confirm != FINISH_ASKED:
            self.confirm = FINISH_ASKED
            self._save_place()
            return False
        self.confirm = None
        last = base.items[-1]
        self._save(base, last, answers.get(last.id), reached_to=len(base.items), complete=True)
        return self._next_form()

    def _next_form(self) -> bool:
        if self.idx + 1 < len(self.forms):
            self.idx += 1
            self.position = -1
            self._save_place()
            return False
        self._save_place()
        done = self.kiosk.end(self.session.id, "complete")
        self.notify([f"kiosk session {done.id} (client {done.client_id}): all forms complete"])
        return True

    def _save(
        self,
        base: Instrument,
        item: Item,
        value: int | None,
        reached_to: int | None = None,
        complete: bool | None = None,
    ) -> None:
        """Save one answer through administer's Session; tell the terminal what is new.

        ``reached_to``: how far the client has got (default: just past ``item``);
        ``complete``: end the administration (default: when the last item is passed).
        """
        admin_id = self.admin_ids[self.idx]
        resumed = None if admin_id is None else self._form(admin_id)
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
        session.position = self.position + 1 if reached_to is None else reached_to
        if complete is None:
            complete = session.position == len(base.items)
        finished = was_complete or complete
        result = session.save(complete=finished)
        self.admin_ids[self.idx] = session.admin_id
        lines: list[str] = []
        where = f"kiosk session {self.session.id} (client {self.session.client_id})"
        earlier: list[dict[str, Any]] = []
        if finished and not was_complete:
            # Answers changed with Back: a critical flag the earlier ones raised is named
            # again as the form completes, never "no flags" after it.
            saved = [] if session.admin_id is None else [session.admin_id]
            earlier = [
                {**flag.model_dump(), "answer_version": version.id}
                for version in self.store.answer_versions(saved)
                for flag in version.alerts_gone(result)
            ]
            lines.append(
                f"{where}: {base.short_name} complete, administration {session.admin_id}"
                + ("" if result.flags or earlier else "; no flags")
            )
            new = list(result.flags)
        else:
            if reached_to is None:
                prior = self.position
            else:
                prior = 0 if resumed is None else resumed.position
            seen = set(reached(before, base, prior))
            new = [f for f in reached(result.flags, base, session.position) if f not in seen]
        if new or earlier:
            if not lines:
                lines.append(f"{where}: {base.short_name} administration {session.admin_id}")
            lines.extend(flag_lines(new, earlier=earlier))
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
