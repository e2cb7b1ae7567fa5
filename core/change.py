"""Change between two administrations: reliable change and clinical significance.

One place computes change, for ``psyq history``, the trend chart in reports and
exports alike.

* ``delta`` = later - earlier, in scale points (the scale's ``value``).
* ``reliable``: ``abs(delta)`` reaches the scale's fixed threshold, or, when the
  scale gives ``sd`` and ``reliability``, the Jacobson-Truax reliable change index
  ``rci = delta / (sqrt(2) * sd * sqrt(1 - reliability))`` reaches 1.96 in size.
* ``direction``: ``improvement`` or ``deterioration`` by the sign of ``delta`` and
  whether higher is worse on that scale (WHO-5: higher is better); ``none`` when
  ``delta`` is 0. It says which way the score moved; ``reliable`` says whether the
  move is larger than measurement error.
* ``important``: ``abs(delta)`` reaches the scale's minimal important difference
  (WHO-5: 10 points), when its threshold is one (``threshold_kind:
  minimal_important_difference``); ``None`` otherwise. A minimal important
  difference is not a reliability figure, so it never makes a change ``reliable``.
* When a scale gives both a reliable-change threshold and ``sd``/``reliability``,
  the threshold decides ``reliable`` and ``rci`` is shown beside it.
* ``clinically_significant`` (Jacobson & Truax 1991): a reliable improvement that
  crosses from the clinical range into the non-clinical range (``recovered``), or a
  reliable deterioration crossing the other way. ``None`` when the scale has no
  clinical cut-off.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from psyq.models import Scale, round_half_up

Direction = Literal["improvement", "deterioration", "none"]


class Change(BaseModel):
    model_config = ConfigDict(frozen=True)

    delta: float
    reliable: bool
    direction: Direction
    rci: float | None
    clinically_significant: bool | None = None
    important: bool | None = None


def compare(scale: Scale, earlier: float | None, later: float | None) -> Change | None:
    """The change on ``scale`` from ``earlier`` to ``later``; ``None`` if either is unscored.

    ``reliable`` is ``False`` when the scale declares no reliable-change criterion.
    """
    if earlier is None or later is None:
        return None
    delta = round_half_up(later - earlier, max(scale.decimals, 2))
    rc = scale.reliable_change
    rci: float | None = None
    reliable = False
    important: bool | None = None
    if rc is not None:
        sem_diff = rc.sem_diff
        if sem_diff is not None:
            rci = round_half_up(delta / sem_diff, 2)
            reliable = abs(delta / sem_diff) >= 1.96
        if rc.threshold is not None:
            if rc.is_mid:
                important = abs(delta) >= rc.threshold - 1e-9
            else:
                reliable = abs(delta) >= rc.threshold - 1e-9
    if delta == 0:
        direction: Direction = "none"
    elif (delta < 0) == scale.higher_is_worse:
        direction = "improvement"
    else:
        direction = "deterioration"
    significant: bool | None = None
    # Clinical significance needs reliable change: a scale with only a minimal
    # important difference (WHO-5) cannot say, so it is left unknown (None).
    judged = rc is None or rc.critical_delta() is not None
    if scale.clinical_cutoff is not None and judged:
        was, now = scale.in_clinical_range(earlier), scale.in_clinical_range(later)
        significant = (
            reliable
            and was != now
            and (
                (direction == "improvement" and bool(was))
                or (direction == "deterioration" and bool(now))
            )
        )
    return Change(
        delta=delta,
        reliable=reliable,
        direction=direction,
        rci=None if rci is None or math.isnan(rci) else rci,
        clinically_significant=significant,
        important=important,
    )


class Outcome(BaseModel):
    """Response and remission against the first administration (``None``: not defined)."""

    model_config = ConfigDict(frozen=True)

    response: bool | None
    remission: bool | None


def outcome(scale: Scale, first: float | None, later: float | None) -> Outcome | None:
    """PHQ-9-style outcome of ``later`` against the ``first`` score on ``scale``.

    ``None`` when the scale declares no outcomes or ``later`` is unscored;
    ``response`` is ``None`` without a first score above 0 to drop from.
    """
    rule = scale.outcomes
    if rule is None or later is None:
        return None
    remission = None if rule.remission_below is None else later < rule.remission_below
    response: bool | None = None
    if rule.response_percent is not None and first is not None and first > 0:
        response = (first - later) * 100 >= rule.response_percent * first - 1e-9
    return Outcome(response=response, remission=remission)
