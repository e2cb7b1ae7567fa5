"""POMP: a score as the percentage of its possible range (Cohen, Cohen, Aiken & West 1999).

A linear rescaling, not a norm: 0 is the lowest possible total and 100 the highest.
The RSES's norm-referenced T-score comes from psyq's norms mechanism instead: the
illustrative table in ``norms/`` (NOT real norms), named by ``rses.yaml``.
"""

from __future__ import annotations


def pomp(value: float, low: float, high: float) -> float:
    """``100 * (value - low) / (high - low)``, to one decimal."""
    if high <= low:
        raise ValueError(f"the range {low}-{high} is empty")
    return round(100 * (value - low) / (high - low), 1)


def pomp_label(percent: float) -> str:
    """Words for a POMP score."""
    return f"{percent:g} % of the possible range (POMP)"
