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
    if rc is not None:
        sem_diff = rc.sem_diff
        if sem_diff is not None:
            rci = round_half_up(delta / sem_diff, 2)
            reliable = abs(delta / sem_diff) >= 1.96
        if rc.threshold is not None:
            reliable = abs(delta) >= rc.threshold - 1e-9
    if delta == 0:
        direction: Direction = "none"
    elif (delta < 0) == scale.higher_is_worse:
        direction = "improvement"
    else:
        direction = "deterioration"
    significant: bool | None = None
    if scale.clinical_cutoff is not None:
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
    )
