"""Reliable and clinically significant change."""

from __future__ import annotations

import pytest

from psyq.change import compare
from psyq.models import ReliableChange, Scale


def scale(**kw: object) -> Scale:
    base: dict[str, object] = {"id": "total", "label": "Total", "items": ["a"]}
    base.update(kw)
    return Scale.model_validate(base)


PHQ = scale(reliable_change={"threshold": 6}, clinical_cutoff=10)
WHO = scale(reliable_change={"threshold": 10}, clinical_cutoff=50, higher_is_worse=False)


@pytest.mark.parametrize(
    ("sc", "before", "after", "expected"),
    [
        (PHQ, 17, 11, (-6, True, "improvement", False)),  # still >= 10
        (PHQ, 17, 9, (-8, True, "improvement", True)),
        (PHQ, 17, 12, (-5, False, "improvement", False)),
        (PHQ, 11, 5, (-6, True, "improvement", True)),
        (PHQ, 4, 10, (6, True, "deterioration", True)),
        (PHQ, 20, 14, (-6, True, "improvement", False)),  # reliable, still >= 10
        (PHQ, 8, 8, (0, False, "none", False)),
        (WHO, 40, 52, (12, True, "improvement", True)),  # higher is better
        (WHO, 60, 48, (-12, True, "deterioration", True)),
    ],
)
def test_threshold_change(
    sc: Scale, before: float, after: float, expected: tuple[float, bool, str, bool]
) -> None:
    change = compare(sc, before, after)
    assert change is not None
    assert (change.delta, change.reliable, change.direction, change.clinically_significant) == (
        expected
    )
    assert change.rci is None


def test_jacobson_truax_rci() -> None:
    # sd 5, reliability 0.84 -> SEM 2, S_diff = 2 * sqrt(2) = 2.828; 1.96 * 2.828 = 5.54
    sc = scale(reliable_change={"sd": 5, "reliability": 0.84})
    small = compare(sc, 20, 15)
    big = compare(sc, 20, 14)
    assert small is not None and big is not None
    assert small.rci == pytest.approx(-1.77, abs=0.01) and not small.reliable
    assert big.rci == pytest.approx(-2.12, abs=0.01) and big.reliable
    assert big.clinically_significant is None
    assert ReliableChange(sd=5, reliability=0.84).critical_delta() == pytest.approx(5.54, abs=0.01)


def test_unscored_or_no_criterion() -> None:
    assert compare(PHQ, None, 5) is None
    change = compare(scale(), 3, 9)
    assert change is not None and change.reliable is False and change.direction == "deterioration"


MID = scale(
    reliable_change={"threshold": 10, "threshold_kind": "minimal_important_difference"},
    clinical_cutoff=50,
    higher_is_worse=False,
)


@pytest.mark.parametrize(
    ("before", "after", "important"),
    [(40, 50, True), (40, 49, False), (60, 48, True), (52, 52, False)],
)
def test_minimal_important_difference_is_never_reliable(
    before: float, after: float, important: bool
) -> None:
    change = compare(MID, before, after)
    assert change is not None
    assert (change.important, change.reliable, change.rci) == (important, False, None)
    # Clinical significance needs a reliable-change criterion: unknown, not "no".
    assert change.clinically_significant is None


def test_threshold_decides_when_rci_inputs_are_given_too() -> None:
    # sd 5, reliability 0.84: SEM 2, S_diff 2.83, so 1.96 x 2.83 = 5.54 points.
    both = scale(reliable_change={"threshold": 6, "sd": 5, "reliability": 0.84})
    rc = both.reliable_change
    assert rc is not None and rc.critical_delta() == 6
    change = compare(both, 20, 14.5)  # -5.5: RCI -1.94 is not reliable either way
    assert change is not None and change.reliable is False and change.rci == -1.94
    change = compare(both, 20, 14.4)  # -5.6: RCI -1.98 reaches 1.96, the threshold does not
    assert change is not None and change.reliable is False and change.rci == -1.98
    change = compare(both, 20, 14)  # -6: the threshold decides
    assert change is not None and change.reliable is True and change.rci == -2.12


def test_response_and_remission_against_the_first() -> None:
    from psyq.change import outcome

    phq = scale(outcomes={"response_percent": 50, "remission_below": 5})
    first = outcome(phq, None, 18)
    assert first is not None and (first.response, first.remission) == (None, False)
    for later, response, remission in [(9, True, False), (10, False, False), (4, True, True)]:
        got = outcome(phq, 18, later)  # 18 -> 9 is exactly a 50 % drop
        assert got is not None and (got.response, got.remission) == (response, remission)
    with pytest.raises(ValueError, match="higher-is-worse scales only"):
        scale(outcomes={"remission_below": 5}, higher_is_worse=False)
