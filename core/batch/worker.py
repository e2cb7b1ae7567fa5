"""The per-chunk worker: validate, score and render a few rows.

:func:`run_chunk` is what every executor runs, in a spawned local process or
on a Dask worker on another machine. It takes and returns plain picklable
records and touches no file: the parent writes every output, so workers need
no shared file system and crash safety lives in one place.

Each worker process (or Dask worker thread) builds its plugin manager,
scorer and output formats once and keeps them, keyed by the instrument's
content hash; heavy libraries (WeasyPrint) are imported by the output
formats, so only here, never in the parent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psyq.errors import PsyqError


@dataclass(frozen=True)
class RowJob:
    """One row as sent to a worker; ``stem`` is its report file name without suffix."""

    row: int
    client_id: str
    date: str
    stem: str
    answers: dict[str, Any]
    problem: str | None = None


@dataclass(frozen=True)
class ChunkJob:
    """A chunk of consecutive rows and everything needed to process them anywhere.

    ``instrument`` is the definition as plain data, so a worker on another
    machine scores with exactly the parent's instrument.
    """

    index: int
    instrument: dict[str, Any]
    instrument_hash: str
    formats: tuple[str, ...]
    generated_at: str
    rows: tuple[RowJob, ...]


@dataclass(frozen=True)
class RowOutcome:
    """What became of one row: scores (and rendered files) or the reason it failed."""

    row: int
    client_id: str
    date: str
    error: str | None = None
    values: dict[str, int | float | None] | None = None
    bands: dict[str, str | None] | None = None
    flags: tuple[str, ...] = ()
    critical: bool = False
    files: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class ChunkResult:
    index: int
    outcomes: tuple[RowOutcome, ...]


class _Context:
    """Services a worker builds once: plugins, instrument, scorer, formats."""

    def __init__(self, job: ChunkJob) -> None:
        from psyq.manager import create_plugin_manager
        from psyq.models import Instrument
        from psyq.outputs import get_output_format
        from psyq.scoring import Scorer

        self.pm = create_plugin_manager()
        self.instrument = Instrument.model_validate(job.instrument)
        self.scorer = Scorer(self.pm)
        self.formats = [get_output_format(self.pm, name) for name in job.formats]


_local = threading.local()


def _context(job: ChunkJob) -> _Context:
    # Thread-local, because a Dask worker runs several chunks at once in threads.
    cache: dict[tuple[str, tuple[str, ...]], _Context] = getattr(_local, "cache", None) or {}
    _local.cache = cache
    key = (job.instrument_hash, job.formats)
    if key not in cache:
        cache[key] = _Context(job)
    return cache[key]


def run_chunk(job: ChunkJob) -> ChunkResult:
    """Score (and render) every row of ``job``; a bad row becomes an error outcome."""
    ctx = _context(job)
    generated = datetime.fromisoformat(job.generated_at)
    return ChunkResult(job.index, tuple(_run_row(ctx, row, generated) for row in job.rows))


def parse_date(text: str, where: str) -> date | None:
    """``YYYY-MM-DD`` or an ISO date-time (its date part); empty is no date."""
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise PsyqError(f"{where}date '{shown}' is not a date; use YYYY-MM-DD") from None


def _run_row(ctx: _Context, row: RowJob, generated: datetime) -> RowOutcome:
    from psyq.answers import coerce_answers
    from psyq.outputs import RenderRequest

    where = f"row {row.row}: "
    try:
        if row.problem is not None:
            raise PsyqError(f"{where}{row.problem}")
        if not row.client_id:
            raise PsyqError(f"{where}the client id is empty")
        administered = parse_date(row.date, where)
        inst = ctx.instrument
        answers = coerce_answers(inst, row.answers, where=where)
        result = ctx.scorer.score_valid(inst, answers)
        files: list[tuple[str, bytes]] = []
        if ctx.formats:
            request = RenderRequest(
                result=result,
                instrument=inst,
                client_id=row.client_id,
                administered=administered,
                generated_at=generated,
            )
            files = [(row.stem + fmt.suffix, fmt.render(request)) for fmt in ctx.formats]
    except PsyqError as exc:
        return RowOutcome(row.row, row.client_id, row.date, error=str(exc))
    except Exception as exc:  # a plugin bug must not stop the batch; name it on this row
        reason = f"{where}internal error: {type(exc).__name__}: {exc}".splitlines()[0]
        return RowOutcome(row.row, row.client_id, row.date, error=reason)
    scores = result.scores
    return RowOutcome(
        row.row,
        row.client_id,
        row.date,
        values={sid: s.value for sid, s in scores.items()},
        bands={sid: s.band for sid, s in scores.items()},
        flags=tuple(f.id for f in result.flags),
        critical=any(f.level == "critical" for f in result.flags),
        files=tuple(files),
    )
