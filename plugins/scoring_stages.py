"""psyq's default scoring stages and the ``sum`` and ``mean`` methods.

Every stage is ``trylast`` so a third-party plugin runs first and may
replace it by returning ``True``. The rules implemented here are the ones
the instrument file declares; nothing is special-cased per instrument.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from psyq import unscored
from psyq.hookspecs import hookimpl

if TYPE_CHECKING:
    from psyq.models import Condition
    from psyq.results import FlagHit
    from psyq.scoring import ScaleState, ScoringMethod, ScoringState


def _sum(values: Sequence[float], weights: Sequence[float]) -> float:
    return sum(v * w for v, w in zip(values, weights, strict=True))


def _mean(values: Sequence[float], weights: Sequence[float]) -> float:
    return _sum(values, weights) / sum(weights)


@hookimpl
def psyq_scoring_methods() -> list[ScoringMethod]:
    from psyq.scoring import ScoringMethod  # loaded when something is scored

    return [
        ScoringMethod("sum", _sum, "Weighted sum of the answered items."),
        ScoringMethod("mean", _mean, "Weighted mean of the answered items."),
    ]


@hookimpl(trylast=True)
def psyq_score_recode(state: ScoringState) -> bool:
    inst = state.instrument
    for item in inst.items:
        answer = state.answers.get(item.id)
        skip = item.skip
        if answer is None and skip is not None and (skip.when is None or _holds(skip.when, state)):
            # A skip the form instructs is scored as the manual says, not as missing.
            state.values[item.id] = skip.score
            state.skipped[item.id] = skip.score
        elif answer is None or answer in inst.response_scale_for(item).missing_values:
            # An option that counts as missing (777 Decline) is stored, never scored.
            state.values[item.id] = None
        elif item.recode is not None:
            state.values[item.id] = float(item.recode.get(answer, answer))
        else:
            state.values[item.id] = float(answer)
    return True


@hookimpl(trylast=True)
def psyq_score_reverse(state: ScoringState) -> bool:
    inst = state.instrument
    for item in inst.items:
        value = state.values.get(item.id)
        if item.reverse and value is not None:
            rs = inst.response_scale_for(item)
            scored = rs.scored_values
            codes = [item.recode.get(v, v) for v in scored] if item.recode else scored
            state.values[item.id] = min(codes) + max(codes) - value
    return True


@hookimpl(trylast=True)
def psyq_score_missing(state: ScoringState) -> bool:
    for st in state.scales.values():
        scale = st.scale
        n = len(scale.items)
        st.answered = sum(1 for i in scale.items if state.values.get(i) is not None)
        st.missing = n - st.answered
        rule = scale.missing
        if st.answered == 0:
            st.reason = unscored.NONE_ANSWERED % {"n": n}
        elif rule.max_missing is not None and st.missing > rule.max_missing:
            st.reason = (
                unscored.NONE_MAY_BE_MISSING if rule.max_missing == 0 else unscored.TOO_MANY_MISSING
            ) % {"missing": st.missing, "n": n, "allowed": rule.max_missing}
        elif rule.min_answered is not None and st.answered < rule.min_answered:
            st.reason = unscored.TOO_FEW_ANSWERED % {
                "answered": st.answered,
                "n": n,
                "needed": rule.min_answered,
            }
    return True


@hookimpl(trylast=True)
def psyq_score_aggregate(state: ScoringState) -> bool:
    from psyq.models import round_half_up

    for st in state.scales.values():
        if not st.scorable:
            continue
        scale = st.scale
        method = state.methods.get(scale.method)
        if method is None:
            st.reason = f"scoring method '{scale.method}' is not installed"
            continue
        answered = [i for i in scale.items if state.values.get(i) is not None]
        values = [state.values[i] for i in answered]
        weights = [scale.weight(i) for i in answered]
        divides = scale.method == "mean" or (scale.missing.prorate and st.missing)
        if divides and sum(weights) <= 0:
            # The validator refuses such weights; a copy kept from an older psyq may not.
            st.reason = (
                f"the weights of the {len(answered)} answered items add up to "
                f"{sum(weights):g}; a {'mean' if scale.method == 'mean' else 'prorated sum'} "
                "divides by them"
            )
            continue
        raw = method.aggregate(values, weights)  # type: ignore[arg-type]
        exact = float(raw).is_integer()
        st.raw = round_half_up(raw, scale.decimals if exact else max(scale.decimals, 2))
        st.scaled = raw
        if scale.missing.prorate and st.missing:
            all_weight = sum(scale.weight(i) for i in scale.items)
            st.scaled = raw * all_weight / sum(weights)
            st.prorated = True
    return True


@hookimpl(trylast=True)
def psyq_score_transform(state: ScoringState) -> bool:
    from psyq.models import round_half_up

    for st in state.scales.values():
        if not st.scorable or st.scaled is None:
            continue
        scale = st.scale
        x = scale.transform.apply(st.scaled) if scale.transform else st.scaled
        st.value = round_half_up(x, scale.decimals)
    return True


@hookimpl(trylast=True)
def psyq_score_interpret(state: ScoringState) -> bool:
    for st in state.scales.values():
        if st.value is not None:
            st.band = st.scale.band_for(st.value, state.client)
    return True


@hookimpl(trylast=True)
def psyq_score_flags(state: ScoringState) -> bool:
    from psyq.models import CRITICAL_ITEM_FLAG, critical_unanswered_message
    from psyq.results import FlagHit

    inst = state.instrument
    hits: list[FlagHit] = []
    for item in inst.items:
        if item.critical and _answer(state, item.id) is None:
            hits.append(
                FlagHit(
                    id=CRITICAL_ITEM_FLAG,
                    level="critical",
                    item=item.id,
                    message=critical_unanswered_message(item.id, item.text),
                )
            )
    for rule in inst.flags:
        if _holds(rule.when, state):
            hits.append(
                FlagHit(
                    id=rule.id,
                    level=rule.level,
                    item=_witness(rule.when, state),
                    item_ids=triggering_items(rule.when, state),
                    message=rule.message,
                )
            )
    # Critical flags come first in every output; order within a level is kept.
    state.flags.extend(sorted(hits, key=lambda hit: LEVELS.index(hit.level)))
    return True


def condition_holds(cond: Condition, state: ScoringState) -> bool:
    """Whether a flag or skip condition holds for ``state`` (answers as given)."""
    return _holds(cond, state)


LEVELS = ("critical", "warning", "info")


def _answer(state: ScoringState, item_id: str) -> float | None:
    """The answer as given, or None when unanswered or answered "counts as missing"."""
    answer = state.answers.get(item_id)
    if answer is None:
        return None
    inst = state.instrument
    if answer in inst.response_scale_for(inst.item(item_id)).missing_values:
        return None
    return float(answer)


def _compare(actual: float | None, op: str | None, target: float | None) -> bool:
    if actual is None or target is None:
        return False
    match op:
        case ">":
            return actual > target
        case ">=":
            return actual >= target
        case "<":
            return actual < target
        case "<=":
            return actual <= target
        case "==":
            return actual == target
        case "!=":
            return actual != target
    return False


def _item_meets(cond: Condition, state: ScoringState, item_id: str) -> bool:
    """Does one item meet a leaf item test (``op``/``value`` or ``missing``)?"""
    answer = _answer(state, item_id)
    if cond.missing is not None:
        return (answer is None) == cond.missing
    return _compare(answer, cond.op, cond.value)


def _counted(cond: Condition, state: ScoringState) -> list[str]:
    """For a count condition: the items that meet their test, in order."""
    met: list[str] = []
    for sub in cond.count or []:
        met.extend(i for i in sub.item_ids if i not in met and _item_meets(sub, state, i))
    return met


def _holds(cond: Condition, state: ScoringState) -> bool:
    if cond.any is not None:
        return any(_holds(c, state) for c in cond.any)
    if cond.all is not None:
        return all(_holds(c, state) for c in cond.all)
    if cond.count is not None:
        met = _counted(cond, state)
        if cond.at_least is not None and len(met) < cond.at_least:
            return False
        if cond.at_most is not None and len(met) > cond.at_most:
            return False
        among = cond.including_one_of
        return among is None or any(i in among for i in met)
    if cond.scale is not None:
        st: ScaleState | None = state.scales.get(cond.scale)
        return _compare(st.value if st is not None else None, cond.op, cond.value)
    return any(_item_meets(cond, state, i) for i in cond.item_ids)


def triggering_items(cond: Condition, state: ScoringState) -> tuple[str, ...]:
    """Every item whose answer makes ``cond`` (which holds) hold, in instrument order.

    An item test: each item that meets it. ``any``: the items of every part that
    holds; ``all``: of every part. A count: the items counted towards ``at_least``
    (a count with only ``at_most`` holds for the items that do *not* meet it, so it
    names none). A scale test names none.
    """
    found: set[str] = set()
    _collect(cond, state, found)
    return tuple(item.id for item in state.instrument.items if item.id in found)


def _collect(cond: Condition, state: ScoringState, found: set[str]) -> None:
    if cond.any is not None or cond.all is not None:
        for sub in cond.any or cond.all or []:
            if cond.all is not None or _holds(sub, state):
                _collect(sub, state, found)
    elif cond.count is not None:
        if cond.at_least is not None:
            found.update(_counted(cond, state))
    elif cond.scale is None:
        found.update(i for i in cond.item_ids if _item_meets(cond, state, i))


def _witness(cond: Condition, state: ScoringState) -> str | None:
    """The item a raised flag is about: the first item whose test made it hold.

    A count (a syndrome over several items) and a scale test name no item.
    """
    if cond.any is not None:
        for sub in cond.any:
            if _holds(sub, state):
                return _witness(sub, state)
        return None
    if cond.all is not None:
        for sub in cond.all:
            found = _witness(sub, state)
            if found is not None:
                return found
        return None
    if cond.count is not None or cond.scale is not None:
        return None
    return next((i for i in cond.item_ids if _item_meets(cond, state, i)), None)
