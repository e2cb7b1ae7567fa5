"""Score results: what scoring produces and every output format renders.

``ScoreResult.to_json()`` is the documented ``psyq score --json`` shape::

    {"instrument": {"id", "version", "title", "status"},
     "scores": {"<scale id>": {"value", "raw", "band", "band_label", "answered",
                               "missing", "prorated", "reason"}},
     "flags": [{"id", "level", "item", "message"}],
     "notices": ["..."]}

``notices`` carries the caveats every output of an instrument must show
(for a provisional instrument: no norms, provisional cut-offs).
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
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Plugin-provided extras (e.g. T-scores)."
    )

    @property
    def total(self) -> ScaleScore:
        return self.scores["total"]

    @property
    def critical(self) -> list[FlagHit]:
        return [f for f in self.flags if f.level == "critical"]

    def to_json(self) -> dict[str, Any]:
        """The ``psyq score --json`` object (answers and extras only when present)."""
        out: dict[str, Any] = {
            "instrument": self.instrument.model_dump(),
            "scores": {k: v.model_dump() for k, v in self.scores.items()},
            "flags": [f.model_dump() for f in self.flags],
            "notices": list(self.notices),
        }
        if self.extra:
            out["extra"] = self.extra
        return out
