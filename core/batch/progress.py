"""A one-line progress bar for a terminal: rows done, rows/s, time left.

Quiet unless its stream is a TTY, so logs and pipes get no control codes.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR = 24


class Progress:
    def __init__(self, total: int, *, done: int = 0, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = total
        self.done = done
        self._start_done = done
        self._start = time.monotonic()
        self._last_draw = 0.0

    def advance(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if self.enabled and (now - self._last_draw >= 0.2 or self.done >= self.total):
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-6)
        rate = (self.done - self._start_done) / elapsed
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        filled = int(BAR * self.done / self.total) if self.total else BAR
        bar = "#" * filled + "-" * (BAR - filled)
        eta = time.strftime("%H:%M:%S", time.gmtime(left))
        self.stream.write(
            f"\r[{bar}] {self.done}/{self.total} rows  {rate:,.0f} rows/s  ETA {eta} "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
