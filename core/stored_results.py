"""Reading score results that an earlier psyq stored, in today's shape.

Stored scores are derived data, kept as the psyq of the day wrote them and
changed only by ``psyq rescore`` (which keeps the earlier version). Where an
older shape lacks something every output must now show, it is derived here,
at read time, from the stored answers and the definition the administration is
read with, and the result says so in a notice. Nothing is written back.

* Flag items (``FlagHit.item_ids``): before psyq named every item that raised a
  flag, a stored flag kept only its first item (``item``), and a count (PHQ-9's
  syndrome algorithm) none. The flag is evaluated again on the stored answers and
  the items it names are shown with the stored flag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psyq.errors import PsyqError
from psyq.results import FlagHit, ScoreResult

if TYPE_CHECKING:
    from psyq.app import App
    from psyq.models import Instrument
    from psyq.store import Administration

DERIVED_FLAG_ITEMS = (
    "Flag items named from the stored answers at read time: these scores were stored "
    "by a psyq that named only the first item of a flag (psyq rescore stores them)"
)


def stored_result(app: App, adm: Administration, instrument: Instrument) -> ScoreResult | None:
    """The administration's stored result, with what an older shape lacks derived
    (see the module docstring); ``None`` when it was never scored."""
    stored = adm.result
    if stored is None or adm.scores is None:
        return stored
    raw_flags: list[Any] = list(adm.scores.get("flags") or [])
    older = [
        n for n, raw in enumerate(raw_flags) if isinstance(raw, dict) and "item_ids" not in raw
    ]
    if not older:
        return stored
    return _with_flag_items(app, adm, instrument, stored, older)


def _with_flag_items(
    app: App,
    adm: Administration,
    instrument: Instrument,
    stored: ScoreResult,
    older: list[int],
) -> ScoreResult:
    named: dict[tuple[str, str | None], tuple[str, ...]] = {}
    try:
        fresh = app.scorer.score_valid(instrument, dict(adm.answers), stored.client or None)
    except (PsyqError, KeyError, ValueError, TypeError):
        # Answers the definition read today no longer fits: the stored flags, as stored.
        fresh = None
    # A flag is the same flag when its id and first item agree (the first item is
    # what older psyq stored; the critical-item flag repeats its id per item).
    for hit in fresh.flags if fresh is not None else ():
        named.setdefault((hit.id, hit.item), hit.item_ids)
    flags: list[FlagHit] = list(stored.flags)
    derived = False
    unmatched: list[str] = []
    for n in older:
        flag = flags[n]
        items = named.get((flag.id, flag.item))
        if items is None:
            unmatched.append(flag.id)
        elif items != flag.item_ids:
            flags[n] = flag.model_copy(update={"item_ids": items})
            derived = True
    notices = list(stored.notices)
    used = _definition_used(adm, instrument)
    if derived:
        notices.append(DERIVED_FLAG_ITEMS + used)
    if unmatched:
        notices.append(
            f"Flag {', '.join(dict.fromkeys(unmatched))} was stored by a psyq that named only "
            f"a flag's first item, and {instrument.id} v{instrument.version} does not raise "
            "it again from the stored answers: only the stored item is shown "
            "(psyq rescore scores it with the current definition)"
        )
    if not (derived or unmatched):
        return stored
    return stored.model_copy(update={"flags": flags, "notices": notices})


def _definition_used(adm: Administration, instrument: Instrument) -> str:
    """``""``, or a clause naming the definition used when it is not the one that scored."""
    if instrument.content_hash() == (adm.scored_with or adm.definition_hash):
        return ""
    return (
        f" (with {instrument.id} v{instrument.version} {instrument.content_hash()[:15]}, "
        "not the exact definition that scored them)"
    )
