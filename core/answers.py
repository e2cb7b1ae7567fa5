"""Turning what a person typed into validated answers.

One set of rules for every way answers arrive (``--answers``, an answers
file, a CSV row, the interactive prompt): an answer is one of the item's
response values or missing; anything else is an :class:`AnswerError` that
names the item and the allowed values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from psyq.errors import AnswerError

if TYPE_CHECKING:
    from psyq.models import Instrument, Item

MISSING_TOKENS = frozenset({"", "-", "na", "n/a", "none", "null"})

# A typed answer is written with the digits 0-9. Python's int() also reads "0_1" as 1,
# "1_0" as 10 and any script's digits ("١", full-width "１"): an answer that reads as
# one value and is scored as another is refused, not silently rewritten.
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def parse_answer_list(instrument: Instrument, text: str) -> dict[str, int | None]:
    """Parse ``"1,2,,-,3"``: answers in item order; empty or ``-`` is missing.

    One answer per item: a count that is off is a typo (``1,1`` for the nine
    PHQ-9 items stored a form with seven answers missing), so an answer not
    given is marked (``-`` or empty). Only items that would not be asked may be
    left off the end: unscored ones (PHQ-9 item 10) and ones the answers given
    skip (the PC-PTSD-5 symptom items after "No" to the trauma question).
    """
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    items = instrument.items
    if len(parts) > len(items):
        raise AnswerError(
            f"{instrument.short_name}: got {len(parts)} answers but the instrument has "
            f"{len(items)} items ({items[0].id}..{items[-1].id})"
        )
    raw: dict[str, Any] = {item.id: None for item in items}
    for item, part in zip(items, parts, strict=False):
        raw[item.id] = part
    answers = coerce_answers(instrument, raw)
    asked = _asked_after(instrument, answers, len(parts))
    if asked:
        given = f"{len(parts)} answer{'s' if len(parts) != 1 else ''} given"
        raise AnswerError(
            f"{instrument.short_name} has {len(items)} items ({items[0].id}..{items[-1].id}); "
            f"{given}, none for {asked[0]}"
            f"{f'..{asked[-1]}' if len(asked) > 1 else ''}: give one answer per item, "
            "marking one not answered with '-' (e.g. 1,-,2)"
        )
    return answers


def _asked_after(instrument: Instrument, answers: dict[str, int | None], given: int) -> list[str]:
    """The items after the first ``given`` that the form asks: scored, and not skipped
    by a skip rule that holds on ``answers``."""
    left_off = instrument.items[given:]
    if not left_off:
        return []
    from psyq.plugins.scoring_stages import condition_holds
    from psyq.scoring import ScoringState

    state = ScoringState(instrument, answers, {})
    asked = [
        item.id
        for item in left_off
        if item.scored
        and not (
            item.skip is not None
            and (item.skip.when is None or condition_holds(item.skip.when, state))
        )
    ]
    return asked


def coerce_answers(
    instrument: Instrument, answers: Mapping[str, Any], *, where: str = ""
) -> dict[str, int | None]:
    """Validate a mapping of item id -> answer; unknown ids and bad values are errors.

    Items absent from the mapping are missing. ``where`` prefixes messages
    (e.g. ``"answers.yaml: "`` or ``"row 7: "``).
    """
    # Hot path of batch scoring: one set of ids and one set of allowed values per
    # response scale per call, instead of a lookup and a list per item.
    items = instrument.items
    known = {item.id for item in items}
    for key in answers:
        if key not in known or not isinstance(key, str):
            raise AnswerError(
                f"{where}{instrument.short_name}: unknown item '{key}'; "
                f"items are: {', '.join(i.id for i in items)}"
            )
    allowed = {
        rs_id: frozenset(o.value for o in rs.options)
        for rs_id, rs in instrument.response_scales.items()
    }
    return {
        item.id: _coerce(
            instrument, item, answers.get(item.id), allowed[item.response_scale], where
        )
        for item in items
    }


def coerce_value(instrument: Instrument, item: Item, value: Any, *, where: str = "") -> int | None:
    """One answer: ``None``/empty/``-`` is missing, else an allowed response value."""
    allowed = frozenset(instrument.response_scale_for(item).values)
    return _coerce(instrument, item, value, allowed, where)


def _coerce(
    instrument: Instrument, item: Item, value: Any, allowed: frozenset[int], where: str
) -> int | None:
    number: int | None
    if value is None:
        number = None
    elif isinstance(value, str):  # the common case first: CSV cells, typed answers
        token = value.strip()
        if token.lower() in MISSING_TOKENS:
            number = None
        else:
            try:
                if not _WHOLE_NUMBER.fullmatch(token):
                    raise ValueError(token)
                number = int(token)
            except ValueError:  # not 0-9 digits, or past int()'s 4300 digits
                number = _reject(instrument, item, value, where)
    elif isinstance(value, bool):
        number = _reject(instrument, item, value, where)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if value.is_integer() else _reject(instrument, item, value, where)
    else:
        number = _reject(instrument, item, value, where)
    if number is None:
        if item.required:
            scale = instrument.response_scale_for(item)
            raise AnswerError(
                f"{where}item {item.id}: an answer is required; allowed: {scale.describe()}"
            )
        return None
    if number not in allowed:
        _reject(instrument, item, value, where)
    return number


def _reject(instrument: Instrument, item: Item, value: Any, where: str) -> int:
    scale = instrument.response_scale_for(item)
    # Printable text is shown as typed, in quotes; anything else as its repr (but never
    # the repr of a huge integer, which Python refuses past 4300 digits).
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        shown = "a number of more than 40 digits"
    else:
        shown = f"'{value}'" if isinstance(value, str) and value.isprintable() else repr(value)
    if len(shown) > 42:
        shown = shown[:39] + "..."
    raise AnswerError(
        f"{where}item {item.id}: {shown} is not an allowed answer; "
        f"allowed: {scale.describe()} or empty for missing"
    )


MISSING_DATA_CODES = frozenset({777, 888, 999, -777, -888, -999, -99})
"""Answer codes that data managers use for "no answer" (REDCap's 777 Decline, 999 Don't know)."""
_MISSING_LABEL = (
    r"\b(decline[ds]?|prefer not|don'?t know|do not know|refused|not applicable|"
    r"unable to (answer|evaluate|assess)|unknown)\b"
)


def looks_missing(value: int | None, label: str) -> bool:
    """Whether an imported answer option reads as "counts as missing", not as a score."""
    return (value is not None and value in MISSING_DATA_CODES) or bool(
        re.search(_MISSING_LABEL, label, re.IGNORECASE)
    )


FINISHED_STATUSES = ("complete", "completed", "amended")
UNFINISHED_STATUSES = ("partial", "in-progress", "stopped", "incomplete")
"""What an answers document's ``"@status"`` may say: psyq's own ``complete`` and
``partial``, FHIR's QuestionnaireResponse statuses (completed, amended; in-progress,
stopped) and REDCap's Incomplete. Anything else is refused, never read as finished."""


def document_status(value: Any) -> str:
    """``complete`` or ``partial`` for an answers document's ``"@status"``; one line
    refusing any other value (``entered-in-error``, a typo): a status psyq does not
    know was read as a finished form, and an unfinished one's answers scored as such."""
    text = value.strip().casefold() if isinstance(value, str) else None
    if text in FINISHED_STATUSES:
        return "complete"
    if text in UNFINISHED_STATUSES:
        return "partial"
    shown = repr(value)[:40]
    raise AnswerError(
        f'"@status" {shown} says neither that the form was finished (complete) nor that '
        "it was not (partial); refusing rather than guessing"
    )
