"""psyq's default scoring stages and the ``sum`` and ``mean`` methods.

Every stage is ``trylast`` so a third-party plugin runs first and may
replace it by returning ``True``. The rules implemented here are the ones
the instrument file declares; nothing is special-cased per instrument.
"""

from __future__ import annotations

from collections.abc import Sequence

from psyq.hookspecs import hookimpl
from psyq.models import Condition, round_half_up
from psyq.results import FlagHit
from psyq.scoring import ScaleState, ScoringMethod, ScoringState


def _sum(values: Sequence[float], weights: Sequence[float]) -> float:
    return sum(v * w for v, w in zip(values, weights, strict=True))


def _mean(values: Sequence[float], weights: Sequence[float]) -> float:
    return _sum(values, weights) / sum(weights)


@hookimpl
def psyq_scoring_methods() -> list[ScoringMethod]:
    return [
        ScoringMethod("sum", _sum, "Weighted sum of the answered items."),
        ScoringMethod("mean", _mean, "Weighted mean of the answered items."),
    ]


@hookimpl(trylast=True)
def psyq_score_recode(state: ScoringState) -> bool:
    inst = state.instrument
    for item in inst.items:
        answer = state.answers.get(item.id)
        if answer is None:
            skip = item.skip
            skipped = skip is not None and (skip.when is None or _holds(skip.when, state))
            # A skip the form instructs is scored as the manual says, not as missing.
            state.values[item.id] = skip.score if skip is not None and skipped else None
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
            codes = [item.recode.get(v, v) for v in rs.values] if item.recode else rs.values
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
            st.reason = f"no items answered (0 of {n})"
        elif rule.max_missing is not None and st.missing > rule.max_missing:
            allowed = "no item" if rule.max_missing == 0 else f"at most {rule.max_missing}"
            st.reason = f"{st.missing} of {n} items missing; {allowed} may be missing"
        elif rule.min_answered is not None and st.answered < rule.min_answered:
            st.reason = f"{st.answered} of {n} items answered; at least {rule.min_answered} needed"
    return True


@hookimpl(trylast=True)
def psyq_score_aggregate(state: ScoringState) -> bool:
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
            st.band = st.scale.band_for(st.value)
    return True


@hookimpl(trylast=True)
def psyq_score_flags(state: ScoringState) -> bool:
    for rule in state.instrument.flags:
        if _holds(rule.when, state):
            state.flags.append(
                FlagHit(
                    id=rule.id, level=rule.level, item=rule.when.first_item(), message=rule.message
                )
            )
    return True


def condition_holds(cond: Condition, state: ScoringState) -> bool:
    """Whether a flag or skip condition holds for ``state`` (answers as given)."""
    return _holds(cond, state)


def _holds(cond: Condition, state: ScoringState) -> bool:
    if cond.any is not None:
        return any(_holds(c, state) for c in cond.any)
    if cond.all is not None:
        return all(_holds(c, state) for c in cond.all)
    actual: float | None
    if cond.item is not None:
        answer = state.answers.get(cond.item)
        actual = None if answer is None else float(answer)
    else:
        st: ScaleState | None = state.scales.get(cond.scale or "")
        actual = st.value if st is not None else None
    if actual is None or cond.value is None:
        return False
    target = cond.value
    match cond.op:
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
