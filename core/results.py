"""Score results: what scoring produces and every output format renders.

``ScoreResult.to_json()`` is the documented ``psyq score --json`` shape::

    {"instrument": {"id", "version", "title", "status"},
     "answers": {"<item id>": value or null},   # every item, unscored ones too
     "scores": {"<scale id>": {"value", "raw", "band", "band_label", "answered",
                               "missing", "prorated", "reason",
                               "band_beside_alert"  (see with_band_notes),
                               "norm": {"z", "t", "percentile", "group", "table", "n",
                                        "ci", "warnings"}  (only with norms)}},
     "flags": [{"id", "level", "item", "message", "item_ids"}],
     "notices": ["..."]}

``notices`` carries the caveats every output of an instrument must show
(for a provisional instrument: no norms, provisional cut-offs). Only when present:
``"skipped": {"<item id>": score}`` for unanswered items the form skips (an item's
``skip`` rule, e.g. AUDIT items 2-8 after "Never"), ``"client": {"sex": "female"}``
for the client attributes that chose a scale's ``client_bands``, and ``"extra"``
from plugins.
"""

# No `from __future__ import annotations` (see psyq.models): pydantic evaluates no
# strings when these classes are made. A name defined later is quoted.
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from psyq.models import Instrument


class _Result(BaseModel):
    # Schemas are built on first use: commands that score nothing skip the cost.
    # Default factories are lambdas, not ``list`` and ``dict``: building a schema, pydantic
    # asks for each factory's signature, and a built-in's means tokenizing its text
    # signature (compiling the tokenizer's patterns), a few ms of every `psyq score`.
    model_config = ConfigDict(frozen=True, defer_build=True)


class InstrumentRef(_Result):
    id: str
    version: str
    title: str
    status: Literal["validated", "provisional"]


class NormScore(_Result):
    """A scale score against a norm table (:mod:`psyq.norms`): the ``"norm"`` object."""

    z: float
    t: float = Field(description="T score, 50 + 10 z.")
    percentile: float | None
    group: str = Field(description="The norm group used, e.g. 'sex=f, age=30-49'.")
    table: str = Field(description="Title, id and version of the norm table.")
    n: int = Field(description="People in the norm group.")
    ci: tuple[float, float] | None = Field(
        description="95 % interval of T from the SEM (SD x sqrt(1 - reliability))."
    )
    warnings: list[str] = Field(
        default_factory=lambda: [], description="Provisional table, small group: shown with T."
    )


class ScaleScore(_Result):
    """One scale's score. ``value`` is ``None`` when the scale could not be scored."""

    value: int | float | None = Field(
        description="The score, after proration, transform and rounding."
    )
    raw: int | float | None = Field(
        description="Aggregate of the answered items, before proration."
    )
    band: str | None
    band_label: str | None
    answered: int
    missing: int
    prorated: bool
    reason: str | None = Field(description="Why the scale was not scored, else null.")
    norm: NormScore | None = Field(None, description="Set when scored with norms.")


class FlagHit(_Result):
    """A flag raised. ``item_ids`` names every item whose answer raised it, so no
    triggering answer goes unquoted (WHO-5 items 4 and 5 both at 0: both)."""

    id: str
    level: Literal["critical", "warning", "info"]
    item: str | None = Field(
        description="The first item that raised it; null for a count or scale test."
    )
    message: str
    item_ids: tuple[str, ...] = Field(
        default=(),
        description="Every item whose answer raised it, in instrument order "
        "(for a count: the items counted); empty for a scale test.",
    )

    @model_validator(mode="after")
    def _item_is_among_items(self) -> "FlagHit":
        # A plugin that names one item (the older shape) still lists it in ``item_ids``.
        if self.item is not None and self.item not in self.item_ids:
            object.__setattr__(self, "item_ids", (self.item, *self.item_ids))
        return self

    def about(self) -> str:
        """``" (items a, b)"``, or ``""`` when no item raised it (a scale test)."""
        label = self.items_label()
        return f" ({label})" if label else ""

    def items_label(self) -> str:
        """``item a`` / ``items a, b`` / ``""``: how every output quotes the items."""
        if not self.item_ids:
            return ""
        word = "item" if len(self.item_ids) == 1 else "items"
        return f"{word} {', '.join(self.item_ids)}"


BAND_ONLY = "score band only; see the safety alert"
"""Said beside a band of low concern shown next to a critical flag (``Minimal (score band
only; see the safety alert)``): the band is the manual's band for the score, stated as
it is, and never reads as reassurance next to the alert."""
BAND_BESIDE_ALERT = (
    "A critical flag is raised: this band of low concern is the manual's band for the "
    "score only and does not lessen the flag. Act on the flag first."
)
"""``band_beside_alert`` in JSON, on each such scale (:func:`with_band_notes`)."""


def low_concern_bands(instrument: "Instrument", result: "ScoreResult", alert: bool) -> set[str]:
    """The scales whose band is of low concern (:attr:`psyq.models.Band.low_concern`:
    PHQ-9 "Minimal" and "Mild", PHQ-2 "Negative screen") while ``alert`` (a critical
    flag on this form, or on a later unfinished one) is raised: the bands whose
    interpretation is withheld (:meth:`psyq.models.Band.interpretation_for`), and whose
    label every output marks with :data:`BAND_ONLY`. A band of concern (severity 2 and
    up) is not reassurance and stays as it is."""
    if not alert:
        return set()
    out = set()
    for scale in instrument.scales:
        score = result.scores.get(scale.id)
        if score is None or score.value is None or score.band is None:
            continue
        band = scale.band_for(score.value, result.client)
        if band is not None and band.low_concern:
            out.add(scale.id)
    return out


def band_shown(
    label: str | None, marked: bool, gettext: Callable[[str], str] | None = None
) -> str | None:
    """A band label as text outputs show it: with :data:`BAND_ONLY` when ``marked`` (its
    scale is among :func:`low_concern_bands`), in a report's language with ``gettext``."""
    if label is None or not marked:
        return label
    return f"{label} ({BAND_ONLY if gettext is None else gettext(BAND_ONLY)})"


def with_band_notes(doc: dict[str, Any], marked: Iterable[str]) -> dict[str, Any]:
    """``doc`` (a :meth:`ScoreResult.to_json` object) with ``band_beside_alert`` on the
    ``marked`` scales (:func:`low_concern_bands`)."""
    for scale_id in marked:
        doc["scores"][scale_id]["band_beside_alert"] = BAND_BESIDE_ALERT
    return doc


def flag_items_cell(flags: Iterable[tuple[str, Sequence[str]]]) -> str:
    """``id:item item;id:item`` for every (flag id, items) pair that names items: the
    ``flag_items`` cell of batch ``scores.csv`` and ``export --format csv``."""
    return ";".join(f"{flag_id}:{' '.join(items)}" for flag_id, items in flags if items)


def flag_levels_cell(flags: Iterable[tuple[str, str]]) -> str:
    """``id:level;id:level`` for every (flag id, level) pair: the ``flag_levels`` cell of
    batch ``scores.csv`` and ``export --format csv``, so critical rows can be filtered
    without the definition."""
    return ";".join(f"{flag_id}:{level}" for flag_id, level in flags)


class ScoreResult(_Result):
    instrument: InstrumentRef
    answers: dict[str, int | None]
    scores: dict[str, ScaleScore]
    flags: list[FlagHit]
    notices: list[str] = Field(default_factory=lambda: [])
    skipped: dict[str, float] = Field(
        default_factory=lambda: {},
        description="Unanswered items the form skips (skip rule), with the score used.",
    )
    extra: dict[str, Any] = Field(
        default_factory=lambda: {}, description="Plugin-provided extras (e.g. T-scores)."
    )
    client: dict[str, str] = Field(
        default_factory=lambda: {},
        description="Client attributes (sex) that chose the bands (client_bands); "
        "empty when not known or not used.",
    )

    @property
    def total(self) -> ScaleScore:
        return self.scores["total"]

    @property
    def raised(self) -> dict[str, str]:
        """Flag id -> level of every flag raised (for flag-dependent texts)."""
        out: dict[str, str] = {}
        for flag in self.flags:
            # A flag raised for several items keeps its most urgent level.
            if out.get(flag.id) != "critical":
                out[flag.id] = flag.level
        return out

    @property
    def critical(self) -> list[FlagHit]:
        return [f for f in self.flags if f.level == "critical"]

    def to_json(self) -> dict[str, Any]:
        """The ``psyq score --json`` object (extras only when present).

        ``answers`` holds every item as given (an option that counts as missing
        keeps its code), so unscored items such as PHQ-9 item 10 are visible.
        """
        out: dict[str, Any] = {
            "instrument": self.instrument.model_dump(),
            # The flags (critical first) before the answers and scores: a reader of the
            # printed JSON meets the alert before any score.
            "flags": [f.model_dump() for f in self.flags],
            "answers": dict(self.answers),
            # "norm" appears only on scales scored with a norm table.
            "scores": {
                k: v.model_dump(exclude=None if v.norm else {"norm"})
                for k, v in self.scores.items()
            },
            "notices": list(self.notices),
        }
        if self.skipped:
            out["skipped"] = dict(self.skipped)
        if self.client:
            out["client"] = dict(self.client)
        if self.extra:
            out["extra"] = self.extra
        return out
