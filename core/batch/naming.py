"""Report file names: safe on every file system, unique within one batch.

Names are decided in the parent, in row order, before any work is sent out,
so a resumed or distributed run names every report exactly as a single
uninterrupted run would.
"""

from __future__ import annotations

import re
import unicodedata

MAX_STEM = 96

REPORTS_DIR = "reports"
"""Folder of DIR that holds the per-row reports."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(*parts: str) -> str:
    """Join ``parts`` into ``[A-Za-z0-9._-]`` only; accents are folded (Zoë -> Zoe)."""
    folded = unicodedata.normalize("NFKD", "_".join(p for p in parts if p))
    ascii_only = folded.encode("ascii", "ignore").decode("ascii")
    return _UNSAFE.sub("-", ascii_only).strip(".-_")[:MAX_STEM].strip(".-_")


class StemAllocator:
    """Hands out stems, adding ``-2``, ``-3``... on a collision.

    Collisions are judged case-insensitively, because two reports whose names
    differ only in case overwrite each other on macOS and Windows.
    """

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def take(self, wanted: str) -> str:
        stem, n = wanted, 1
        while stem.lower() in self._taken:
            n += 1
            stem = f"{wanted}-{n}"
        self._taken.add(stem.lower())
        return stem


def report_stem(
    allocator: StemAllocator, client_id: str, instrument_id: str, date: str, row: int
) -> str:
    """The stem of one row's report files: ``client_instrument_date``."""
    client = safe_stem(client_id) or f"row-{row}"
    return allocator.take(safe_stem(client, instrument_id, safe_stem(date)))
