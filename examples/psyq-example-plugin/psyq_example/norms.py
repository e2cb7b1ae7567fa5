"""An ILLUSTRATIVE norm table for the RSES total: made up for this example, NOT real norms.

It shows how a norms plugin works (raw score in, T-score out); its numbers come
from no sample and must never be used to interpret a client's score.
"""

from __future__ import annotations

NORM_TABLE_NAME = "illustrative RSES norm table (example only, not real norms)"

# (lowest total, highest total, T-score): rows tile 0-30 with no gaps.
ILLUSTRATIVE_NORMS: tuple[tuple[int, int, int], ...] = (
    (0, 9, 25),
    (10, 12, 30),
    (13, 14, 35),
    (15, 16, 40),
    (17, 18, 45),
    (19, 21, 50),
    (22, 23, 55),
    (24, 25, 60),
    (26, 27, 65),
    (28, 30, 70),
)


def t_score(total: float) -> int:
    """T-score for an RSES total (0-30) from the illustrative table."""
    for low, high, t in ILLUSTRATIVE_NORMS:
        if low <= total <= high:
            return t
    raise ValueError(f"RSES total {total} is outside 0-30")


def t_label(t: int) -> str:
    """Words for a T-score: within one SD of 50 is the average range."""
    if t < 40:
        return f"T = {t} (below average)"
    if t > 60:
        return f"T = {t} (above average)"
    return f"T = {t} (average range)"
