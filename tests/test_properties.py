"""Property-based checks of scoring invariants over every built-in instrument."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psyq.manager import create_plugin_manager
from psyq.models import Instrument, round_half_up
from psyq.registry import InstrumentRegistry
from psyq.scoring import Scorer

PM = create_plugin_manager(load_entrypoints=False, strict=True)
REGISTRY = InstrumentRegistry(PM)
SCORER = Scorer(PM)
INSTRUMENTS = {i: REGISTRY.get(i) for i in REGISTRY.ids()}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def answers_for(
    inst: Instrument, missing_rate: float = 0.0, *, scored_only: bool = False
) -> st.SearchStrategy[dict[str, Any]]:
    """Answers to every item; ``scored_only`` leaves out options that count as missing."""
    per_item = {}
    for item in inst.items:
        rs = inst.response_scale_for(item)
        values = st.sampled_from(rs.scored_values if scored_only else rs.values)
        per_item[item.id] = st.one_of(st.none(), values) if missing_rate else values
    return st.fixed_dictionaries(per_item)


def step(decimals: int) -> float:
    return 10.0 ** (-decimals)


@pytest.mark.parametrize("instrument_id", sorted(INSTRUMENTS))
@SETTINGS
@given(data=st.data())
def test_scores_stay_in_range_and_always_have_a_band(instrument_id: str, data: Any) -> None:
    inst = INSTRUMENTS[instrument_id]
    answers = data.draw(answers_for(inst, missing_rate=0.2))
    result = SCORER.score(inst, answers)
    for scale in inst.scales:
        score = result.scores[scale.id]
        lo, hi = inst.bounds(scale.id)
        assert score.answered + score.missing == len(scale.items)
        if score.value is None:
            assert score.reason
            continue
        assert lo <= score.value <= hi, (scale.id, score.value)
        if scale.bands:
            assert score.band is not None


@pytest.mark.parametrize("instrument_id", sorted(INSTRUMENTS))
@SETTINGS
@given(data=st.data())
def test_flipping_every_answer_mirrors_every_unweighted_scale(
    instrument_id: str, data: Any
) -> None:
    """Reverse-keying symmetry: answer a -> min + max - a maps v -> lo + hi - v."""
    inst = INSTRUMENTS[instrument_id]
    # "This did not happen" (CCTS) has no mirror image: it is missing either way.
    answers = data.draw(answers_for(inst, scored_only=True))
    flipped = {}
    for item in inst.items:
        rs = inst.response_scale_for(item)
        flipped[item.id] = rs.min + rs.max - answers[item.id]
    a, b = SCORER.score(inst, answers), SCORER.score(inst, flipped)
    for scale in inst.scales:
        if scale.weights:
            continue
        lo, hi = inst.bounds(scale.id)
        va, vb = a.scores[scale.id].value, b.scores[scale.id].value
        assert va is not None and vb is not None
        assert abs((lo + hi - va) - vb) <= step(scale.decimals) + 1e-9


@pytest.mark.parametrize("instrument_id", ["phq9", "gad7"])
@SETTINGS
@given(data=st.data())
def test_proration_equals_half_up_of_scaled_sum(instrument_id: str, data: Any) -> None:
    inst = INSTRUMENTS[instrument_id]
    total = inst.total
    answers = data.draw(answers_for(inst, missing_rate=0.3))
    result = SCORER.score(inst, answers).scores["total"]
    given_values = [answers[i] for i in total.items if answers[i] is not None]
    missing = len(total.items) - len(given_values)
    if not given_values or missing > (total.missing.max_missing or 0):
        assert result.value is None
        return
    # An independent oracle: exact decimal arithmetic, quantized half up.
    scaled = Decimal(sum(given_values)) * len(total.items) / len(given_values)
    expected = int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert result.value == expected
    assert result.prorated == (missing > 0)
    lo, hi = inst.bounds("total")
    assert lo <= result.value <= hi


@pytest.mark.parametrize("instrument_id", sorted(INSTRUMENTS))
def test_bands_tile_the_range_without_gaps_or_overlaps(instrument_id: str) -> None:
    inst = INSTRUMENTS[instrument_id]
    for scale in inst.scales:
        if not scale.bands:
            continue
        lo, hi = inst.bounds(scale.id)
        n_steps = round((hi - lo) / step(scale.decimals))
        for k in range(n_steps + 1):
            value = round(lo + k * step(scale.decimals), scale.decimals)
            hits = [b.id for b in scale.bands if b.contains(value)]
            assert len(hits) == 1, (scale.id, value, hits)


@given(x=st.integers(min_value=-(10**6), max_value=10**6), decimals=st.integers(0, 3))
def test_round_half_up_rounds_halves_away_from_zero(x: int, decimals: int) -> None:
    half = (x + 0.5) * step(decimals)
    expected = (x + 1) * step(decimals) if x >= 0 else x * step(decimals)
    assert abs(round_half_up(half, decimals) - expected) < step(decimals) / 10


@given(x=st.integers(min_value=-(10**9), max_value=10**9), decimals=st.integers(0, 3))
def test_round_half_up_keeps_whole_numbers_as_the_decimal_route_writes_them(
    x: int, decimals: int
) -> None:
    # Whole numbers skip the decimal module; JSON and CSV must not see the difference.
    quantum = Decimal(1).scaleb(-decimals)
    exact = Decimal(repr(float(x))).quantize(quantum, rounding=ROUND_HALF_UP)
    expected = float(exact) if decimals else int(exact)
    for value in (x, float(x)):
        got = round_half_up(value, decimals)
        assert (got, type(got), json.dumps(got)) == (expected, type(expected), json.dumps(expected))
