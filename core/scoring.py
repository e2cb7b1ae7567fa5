"""The scoring pipeline: seven hook stages over one mutable state.

``score()`` validates the answers, builds a :class:`ScoringState` and runs
the stages in order: recode -> reverse -> missing -> aggregate -> transform
-> interpret -> flags. Each stage is a first-result-wins hook whose default
implementation lives in :mod:`psyq.plugins.scoring_stages`; a plugin can
replace a stage, run before it, or wrap it. This is the only place a score
is computed: the CLI, reports, the store and batch runs all call
:func:`score`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psyq.answers import coerce_answers
from psyq.models import Band, Instrument, Scale
from psyq.results import FlagHit, InstrumentRef, ScaleScore, ScoreResult

if TYPE_CHECKING:
    from psyq.manager import PsyqPluginManager

STAGES = ("recode", "reverse", "missing", "aggregate", "transform", "interpret", "flags")

Aggregator = Callable[[Sequence[float], Sequence[float]], float]
"""``aggregate(values, weights) -> raw`` over the answered items of a scale."""


@dataclass(frozen=True)
class ScoringMethod:
    """A named way to aggregate item values, as a scale's ``method:`` names it."""

    name: str
    aggregate: Aggregator
    description: str = ""


@dataclass
class ScaleState:
    """Working state of one scale while the stages run."""

    scale: Scale
    answered: int = 0
    missing: int = 0
    raw: float | None = None
    scaled: float | None = None  # after proration, before transform and rounding
    value: float | None = None
    prorated: bool = False
    reason: str | None = None
    band: Band | None = None

    @property
    def scorable(self) -> bool:
        return self.reason is None


@dataclass
class ScoringState:
    """Everything the stages read and write.

    ``answers`` are the validated answers as given; ``values`` are the item
    values being scored (after recoding and reversal); ``methods`` maps a
    scoring-method name to its record; ``extra`` is free space for plugins.
    """

    instrument: Instrument
    answers: dict[str, int | None]
    methods: Mapping[str, ScoringMethod]
    values: dict[str, float | None] = field(default_factory=dict)
    scales: dict[str, ScaleState] = field(default_factory=dict)
    flags: list[FlagHit] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # Unanswered items scored by their skip rule (item id -> score used).
    skipped: dict[str, float] = field(default_factory=dict)

    def result(self) -> ScoreResult:
        inst = self.instrument
        scores = {
            sid: ScaleScore(
                value=st.value,
                raw=st.raw,
                band=st.band.id if st.band else None,
                band_label=st.band.label if st.band else None,
                answered=st.answered,
                missing=st.missing,
                prorated=st.prorated,
                reason=st.reason,
            )
            for sid, st in self.scales.items()
        }
        return ScoreResult(
            instrument=InstrumentRef(
                id=inst.id, version=inst.version, title=inst.title, status=inst.status
            ),
            answers=dict(self.answers),
            scores=scores,
            flags=list(self.flags),
            notices=inst.notices,
            skipped=dict(self.skipped),
            extra=dict(self.extra),
        )


class Scorer:
    """Scores answers for any instrument with one plugin manager's stages.

    Build one per process (or per batch worker) and reuse it: it caches the
    scoring methods collected from plugins.
    """

    def __init__(self, pm: PsyqPluginManager) -> None:
        self._pm = pm
        self._methods: dict[str, ScoringMethod] | None = None
        hook = pm.hook
        self._stages = [getattr(hook, f"psyq_score_{name}") for name in STAGES]

    @property
    def methods(self) -> dict[str, ScoringMethod]:
        if self._methods is None:
            self._methods = self._pm.collect_named("psyq_scoring_methods", "scoring method")
        return self._methods

    def score(self, instrument: Instrument, answers: Mapping[str, Any]) -> ScoreResult:
        """Validate ``answers`` (item id -> value) and score them."""
        valid = coerce_answers(instrument, answers)
        return self.score_valid(instrument, valid)

    def score_valid(self, instrument: Instrument, answers: dict[str, int | None]) -> ScoreResult:
        """Score answers already checked by :func:`psyq.answers.coerce_answers`."""
        state = ScoringState(
            instrument=instrument,
            answers=answers,
            methods=self.methods,
            scales={s.id: ScaleState(scale=s) for s in instrument.scales},
        )
        for stage in self._stages:
            stage(state=state)
        return state.result()


def score(pm: PsyqPluginManager, instrument: Instrument, answers: Mapping[str, Any]) -> ScoreResult:
    """Validate and score one set of answers (convenience for :class:`Scorer`)."""
    return Scorer(pm).score(instrument, answers)


def check_examples(scorer: Scorer, instrument: Instrument) -> list[str]:
    """Score every golden example; return one line per mismatch (empty = all pass)."""
    problems: list[str] = []
    for example in instrument.examples:
        where = f"{instrument.id} example '{example.name}'"
        result = scorer.score(instrument, example.answers)
        expect = example.expect
        for scale_id, wanted in expect.scores.items():
            got = result.scores[scale_id].value
            if not _same(got, wanted):
                problems.append(f"{where}: {scale_id} expected {wanted}, got {got}")
        for scale_id, wanted_band in expect.bands.items():
            got_band = result.scores[scale_id].band
            if got_band != wanted_band:
                problems.append(f"{where}: {scale_id} band expected {wanted_band}, got {got_band}")
        if expect.flags is not None:
            got_flags = sorted(f.id for f in result.flags)
            if got_flags != sorted(expect.flags):
                problems.append(f"{where}: flags expected {sorted(expect.flags)}, got {got_flags}")
    return problems


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < 1e-9
