"""How a batch's rows are cut into chunks: which rows chunk ``k`` holds.

Chunks are consecutive and numbered in row order. Most are ``size`` rows. A
batch of reports run by several workers *tapers*: its last chunks get smaller
(guided scheduling), so that the workers finish together instead of one
rendering a whole last chunk while the others wait with nothing left to do.

The plan is a pure function of the numbers recorded in the manifest header
(``rows``, ``chunk_size``, ``taper``), so a resumed batch cuts its rows
exactly as the interrupted one did, whatever ``--jobs`` it is resumed with.
A manifest without ``taper`` (written before it existed) is cut evenly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChunkPlan:
    """``total`` rows cut into chunks of ``size``, the last ones smaller when ``taper``
    (the number of workers the batch was planned for) is 2 or more."""

    total: int
    size: int
    taper: int | None = None
    _even: int = field(init=False, repr=False)
    _tail: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("a chunk holds at least one row")
        total, size = max(0, self.total), self.size
        tail: tuple[int, ...] = ()
        if self.taper is None or self.taper < 2:
            even = -(-total // size)
        else:
            # Two chunks in flight per worker: once what is left would fill that many
            # whole chunks, each next chunk is that share of what is left, down to one
            # row, so the last chunk of each worker is short.
            ways = 2 * self.taper
            even = max(0, total - ways * size) // size
            left, sizes = total - even * size, []
            while left > 0:
                take = max(1, min(size, -(-left // ways)))
                sizes.append(take)
                left -= take
            tail = tuple(sizes)
        object.__setattr__(self, "_even", even)
        object.__setattr__(self, "_tail", tail)

    def __len__(self) -> int:
        return self._even + len(self._tail)

    def bounds(self, index: int) -> tuple[int, int]:
        """Chunk ``index``'s first row (0-based) and number of rows."""
        if not 0 <= index < len(self):
            raise IndexError(f"chunk {index} is not in a plan of {len(self)} chunks")
        if index < self._even:
            start = index * self.size
            return start, min(self.size, self.total - start)
        start = self._even * self.size + sum(self._tail[: index - self._even])
        return start, self._tail[index - self._even]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """``(first row, number of rows)`` of every chunk, in order."""
        for index in range(self._even):
            yield index * self.size, min(self.size, self.total - index * self.size)
        start = self._even * self.size
        for rows in self._tail:
            yield start, rows
            start += rows
