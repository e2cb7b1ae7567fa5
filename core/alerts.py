"""How a flag is worded on one line, the same way in every output that needs one.

The report command's terminal line, the ``table`` format, ``history``, ``clients``,
``export``, the FHIR notes and ``administer`` word a flag with :func:`alert_line`;
a flag raised by another form (a later unfinished one, a partial one in the history)
says which with :func:`form_words`; a batch row not scored names its critical items
with :func:`critical_items_lead`. A change of wording made here reaches them all, so
no output is left saying less than the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from psyq.i18n import N_

if TYPE_CHECKING:
    from psyq.models import Instrument
    from psyq.results import FlagHit

LEVEL_WORD = {"critical": N_("CRITICAL"), "warning": N_("WARNING"), "info": N_("info")}
"""Each level as an alert names it (psyq's catalogue has each, for a report's language)."""

CRITICAL_ITEMS = "CRITICAL item "
"""How the errors.csv reason of a row not scored starts, before its critical items and
their answers, when it is an unfinished form or its valid answers raise a critical flag
(``psyq batch`` counts these lines on the terminal)."""


def alert_line(
    flag: FlagHit,
    where: str = "",
    text: str | None = None,
    gettext: Callable[[str], str] | None = None,
) -> str:
    """``CRITICAL in later partial administration 2 (PHQ-9, 2026-11-30) (item phq9_9):
    <message>``: the level, where the flag was raised when it is not the form shown
    (``where``, from :func:`form_words`), the items that raised it, then ``text`` (the
    flag's message unless given: its id where a line is short). ``gettext``: the level
    and the items in a report's language (the ``table`` format's ``--language``)."""
    said = f" in {where}" if where else ""
    about = flag.about()
    level = LEVEL_WORD[flag.level]
    if gettext is not None:
        level = gettext(level)
        if len(flag.item_ids) == 1:
            about = " (" + gettext("item %(item)s") % {"item": flag.item_ids[0]} + ")"
        elif flag.item_ids:
            about = " (" + gettext("items %(items)s") % {"items": ", ".join(flag.item_ids)} + ")"
    return f"{level}{said}{about}: {flag.message if text is None else text}"


def form_words(
    administration_id: int | str,
    status: str,
    *,
    instrument: str | None = None,
    administered: str | None = None,
    later: bool = False,
) -> str:
    """``later partial administration 2 (PHQ-9, 2026-11-30)``: another stored form, as
    :func:`alert_line` names where its flag was raised (what is known of it, in that
    order: the instrument, when one output may show several, and the date)."""
    known = ", ".join(part for part in (instrument, administered) if part)
    return f"{'later ' if later else ''}{status} administration {administration_id}" + (
        f" ({known})" if known else ""
    )


def later_form_words(later: Mapping[str, Any]) -> str:
    """:func:`form_words` for one of ``RenderRequest.options["later_critical"]`` (or
    ``["later_changed_outside_psyq"]``): a form left unfinished after the one shown."""
    return form_words(
        later["administration_id"],
        later["status"],
        instrument=later.get("instrument"),
        administered=later.get("administered"),
        later=True,
    )


def answer_words(instrument: Instrument, item_id: str, given: Any, value: int | None) -> str:
    """``answered 2 (More than half the days)``, ``answered 777 (Decline)``, ``answered x``
    (not an allowed answer) or ``not answered``: an item's answer as a one-line alert
    quotes it, the code as given with its label (a reverse-keyed item's 0 is its most
    severe answer: never a bare, calm-looking number), a long answer cut short."""
    text = "" if given is None else str(given).strip()
    if not text:
        return "not answered"
    shown = text if len(text) <= 40 else text[:37] + "..."
    label = None
    if value is not None:
        label = instrument.response_scale_for(instrument.item(item_id)).label_for(value)
    return f"answered {shown}" + (f" ({label})" if label else "")


def critical_items_lead(
    instrument: Instrument,
    flags: Sequence[FlagHit],
    given: Mapping[str, Any],
    values: Mapping[str, int | None],
    problem: str,
) -> str:
    """``problem`` (why a batch row is not scored) led by each item whose answer raises a
    critical flag, positive or unanswered, with the answer as given and its label:
    ``CRITICAL item phq9_9 answered 2 (More than half the days): act on it. Item 3: ...``.
    ``given``: the answers as the row gave them; ``values``: the valid ones. A critical
    flag no item raised is named by its id. ``problem`` alone when no flag is critical."""
    critical = [flag for flag in flags if flag.level == "critical"]
    if not critical:
        return problem
    items = list(dict.fromkeys(i for flag in critical for i in flag.item_ids))
    said = [f"{i} {answer_words(instrument, i, given.get(i), values.get(i))}" for i in items]
    said += [
        f"flag {flag.id} raised by the valid answers" for flag in critical if not flag.item_ids
    ]
    return f"{CRITICAL_ITEMS}{'; '.join(said)}: act on it. {problem[:1].upper()}{problem[1:]}"
