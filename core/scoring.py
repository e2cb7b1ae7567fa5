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

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from psyq.i18n import N_

if TYPE_CHECKING:
    # pydantic models: imported where a score is computed, so that a command that
    # scores nothing (`psyq list`) starts without pydantic.
    from psyq.manager import PsyqPluginManager
    from psyq.models import Band, Instrument, Scale
    from psyq.results import FlagHit, ScoreResult

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
    # The client's attributes (sex) that select a scale's client_bands; {}: not known.
    client: dict[str, str] = field(default_factory=dict)

    def result(self) -> ScoreResult:
        from psyq.results import InstrumentRef, ScaleScore, ScoreResult

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
        used = inst.client_attributes
        client = {k: v for k, v in self.client.items() if k in used}
        return ScoreResult(
            instrument=InstrumentRef(
                id=inst.id, version=inst.version, title=inst.title, status=inst.status
            ),
            answers=dict(self.answers),
            scores=scores,
            flags=list(self.flags),
            notices=inst.notices + client_band_notices(inst, client),
            skipped=dict(self.skipped),
            extra=dict(self.extra),
            client=client,
        )


CLIENT_ATTRIBUTE_WORDS = (N_("sex"),)
"""The client attributes cut-offs may depend on, named in a report's language."""


def client_band_notices(
    instrument: Instrument, client: Mapping[str, str], gettext: Callable[[str], str] = str
) -> list[str]:
    """Which cut-offs were used where they depend on the client (sex), or that the
    client's attribute was not known, so the bands used assume neither.

    ``gettext``: a report's language (stored results keep the English)."""
    out: list[str] = []
    for scale in instrument.scales:
        if not scale.client_bands:
            continue
        group = scale.client_group(client)
        if group is not None:
            source = f" ({group.source})" if group.source else ""
            out.append(
                gettext("%(scale)s: cut-offs for clients with %(group)s%(source)s.")
                % {"scale": scale.label, "group": group.label, "source": source}
            )
            continue
        attributes = sorted(scale.client_attributes)
        names = " and ".join(gettext(a) for a in attributes)
        given = ", ".join(f"{k}={v}" for k, v in client.items() if k in scale.client_attributes)
        values = {"scale": scale.label, "names": names, "given": given}
        if given:
            out.append(
                gettext(
                    "%(scale)s: the cut-offs depend on %(names)s, and no cut-offs are defined "
                    "for %(given)s: the band shown assumes no %(names)s (its text gives each "
                    "reading)."
                )
                % values
            )
        else:
            out.append(
                gettext(
                    "%(scale)s: the cut-offs depend on %(names)s, and the client's %(names)s "
                    "is not known: the band shown assumes no %(names)s (its text gives each "
                    "reading). Record it with `psyq clients set CLIENT --%(option)s ...`, or "
                    "score with --%(option)s."
                )
                % {**values, "option": attributes[0]}
            )
    return out


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
        # instrument id -> third-party plugins whose stages run for it (psyq.stage_checks)
        self._checked: dict[str, dict[str, list[str]]] = {}

    @property
    def methods(self) -> dict[str, ScoringMethod]:
        if self._methods is None:
            pm = self._pm
            owned = pm.collect_owned("psyq_scoring_methods", "scoring method")
            self._methods = {
                name: replace(
                    method,
                    aggregate=pm.attributed(
                        method.aggregate, plugin, f"psyq_scoring_methods (method '{name}')"
                    ),
                )
                for name, (plugin, method) in owned.items()
            }
        return self._methods

    def score(
        self,
        instrument: Instrument,
        answers: Mapping[str, Any],
        client: Mapping[str, str] | None = None,
    ) -> ScoreResult:
        """Validate ``answers`` (item id -> value) and score them."""
        from psyq.answers import coerce_answers

        valid = coerce_answers(instrument, answers)
        return self.score_valid(instrument, valid, client)

    def score_valid(
        self,
        instrument: Instrument,
        answers: dict[str, int | None],
        client: Mapping[str, str] | None = None,
    ) -> ScoreResult:
        """Score answers already checked by :func:`psyq.answers.coerce_answers`.

        ``client`` holds the client's known attributes (``{"sex": "female"}``,
        normalised by :func:`psyq.clients.known_attributes`); they select a scale's
        ``client_bands``. Without them the scale's own bands are used.
        """
        state = ScoringState(
            instrument=instrument,
            answers=answers,
            methods=self.methods,
            scales={s.id: ScaleState(scale=s) for s in instrument.scales},
            client=dict(client or {}),
        )
        plugins = self._checked.get(instrument.id)
        if plugins is None:
            from psyq.stage_checks import stage_plugins

            hooks = [f"psyq_score_{name}" for name in STAGES]
            plugins = self._checked[instrument.id] = stage_plugins(self._pm, hooks, instrument.id)
        given = dict(answers) if plugins else answers
        try:
            for stage in self._stages:
                stage(state=state)
        except Exception:
            if plugins:  # psyq's own stage may have failed on what a plugin's left
                from psyq.stage_checks import check_shapes

                self._pm.flags_dropped_by(state)  # forgotten: this state is not scored
                check_shapes(self._pm, state, plugins)
            raise
        if plugins:  # a plugin's stage ran: check what it left (never a lost critical flag)
            from psyq.stage_checks import check_stages

            check_stages(self._pm, state, given, plugins)
        return state.result()


def score(pm: PsyqPluginManager, instrument: Instrument, answers: Mapping[str, Any]) -> ScoreResult:
    """Validate and score one set of answers (convenience for :class:`Scorer`)."""
    return Scorer(pm).score(instrument, answers)


def check_examples(scorer: Scorer, instrument: Instrument) -> list[str]:
    """Score every golden example; return one line per mismatch (empty = all pass).

    ``expect.flags`` may name flags a plugin's hook raises and ``expect.extra``
    values a plugin adds: both are checked against what the plugins installed
    on ``scorer``'s manager produce, and a flag or value none of them produced
    says that the plugin providing it may be missing.
    """
    problems: list[str] = []
    declared = instrument.flag_ids  # the file's rules and psyq's critical-item flag
    scored = [
        (example, scorer.score(instrument, example.answers, example.client))
        for example in instrument.examples
    ]
    # A flag or extra key some example produced is a plugin that is installed.
    raised = {f.id for _, result in scored for f in result.flags}
    keys = {key for _, result in scored for key in result.extra}
    for example, result in scored:
        where = f"{instrument.id} example '{example.name}'"
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
                problems += [
                    f"{where}: flag '{flag}' is not declared in the file and no installed "
                    "plugin raised it; is the plugin that raises it installed (`psyq plugins`)?"
                    for flag in sorted(set(expect.flags) - declared - raised)
                ]
        for key, wanted_value in expect.extra.items():
            if key not in keys:
                problems.append(
                    f"{where}: extra '{key}' expected, but no installed plugin set it; "
                    "is the plugin that adds it installed (`psyq plugins`)?"
                )
            elif key not in result.extra:
                problems.append(f"{where}: extra '{key}' expected {_shown(wanted_value)}, not set")
            elif not matches(wanted_value, result.extra[key]):
                problems.append(
                    f"{where}: extra '{key}' expected {_shown(wanted_value)}, "
                    f"got {_shown(result.extra[key])}"
                )
    return problems


def matches(wanted: Any, got: Any) -> bool:
    """Does ``got`` match an expected value? A mapping matches on the keys it names;
    numbers match to 1e-9; lists element by element; anything else by equality."""
    if isinstance(wanted, Mapping):
        return isinstance(got, Mapping) and all(
            key in got and matches(value, got[key]) for key, value in wanted.items()
        )
    if isinstance(wanted, list | tuple):
        return (
            isinstance(got, list | tuple)
            and len(got) == len(wanted)
            and all(matches(w, g) for w, g in zip(wanted, got, strict=True))
        )
    if isinstance(wanted, bool) or isinstance(got, bool):
        return wanted is got
    if isinstance(wanted, int | float) and isinstance(got, int | float):
        return _same(float(got), float(wanted))
    return bool(wanted == got)


def _shown(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < 1e-9
