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
