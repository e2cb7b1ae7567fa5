"""Score results: what scoring produces and every output format renders.

``ScoreResult.to_json()`` is the documented ``psyq score --json`` shape::

    {"instrument": {"id", "version", "title", "status"},
     "answers": {"<item id>": value or null},   # every item, unscored ones too
     "scores": {"<scale id>": {"value", "raw", "band", "band_label", "answered",
                               "missing", "prorated", "reason"}},
     "flags": [{"id", "level", "item", "message"}],
     "notices": ["..."]}

``notices`` carries the caveats every output of an instrument must show
(for a provisional instrument: no norms, provisional cut-offs). Only when present:
``"skipped": {"<item id>": score}`` for unanswered items the form skips (an item's
``skip`` rule, e.g. AUDIT items 2-8 after "Never"), and ``"extra"`` from plugins.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class InstrumentRef(_Result):
    id: str
    version: str
    title: str
    status: Literal["validated", "provisional"]


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


class FlagHit(_Result):
    id: str
    level: Literal["critical", "warning", "info"]
    item: str | None
    message: str


class ScoreResult(_Result):
    instrument: InstrumentRef
    answers: dict[str, int | None]
    scores: dict[str, ScaleScore]
    flags: list[FlagHit]
    notices: list[str] = Field(default_factory=list)
    skipped: dict[str, float] = Field(
        default_factory=dict,
        description="Unanswered items the form skips (skip rule), with the score used.",
    )
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Plugin-provided extras (e.g. T-scores)."
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
            "answers": dict(self.answers),
            "scores": {k: v.model_dump() for k, v in self.scores.items()},
            "flags": [f.model_dump() for f in self.flags],
            "notices": list(self.notices),
        }
        if self.skipped:
            out["skipped"] = dict(self.skipped)
        if self.extra:
            out["extra"] = self.extra
        return out
