"""Synthetic cohorts for the batch tests: reproducible rows, some of them bad on purpose."""

from __future__ import annotations

import csv
import random
from pathlib import Path

PHQ9_ITEMS = [f"phq9_{k}" for k in range(1, 10)]


def phq9_rows(
    n: int, *, seed: int = 5, bad: dict[int, tuple[str, str]] | None = None
) -> list[dict[str, str]]:
    """``n`` PHQ-9 respondents; ``bad`` maps a 0-based index to (item, bad value)."""
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        row = {"client_id": f"C{k:04d}", "date": f"2024-{1 + k % 12:02d}-{1 + k % 28:02d}"}
        for item in PHQ9_ITEMS:
            row[item] = str(rng.choice([0, 0, 1, 1, 2, 3]))
        if k % 17 == 3:
            row[PHQ9_ITEMS[k % 9]] = ""  # one missing answer: prorated
        if bad and k in bad:
            item, value = bad[k]
            row[item] = value
        rows.append(row)
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], *, bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))
