"""Executors: where the chunks of a batch run.

An executor is a named :class:`BatchExecutor` record returned by the
``psyq_batch_executors`` hook. Its ``open(settings)`` gives a context manager
yielding a :class:`ChunkRunner`, whose ``run(fn, jobs)`` calls ``fn`` on every
job and yields the results in any order, keeping only a few jobs in flight
so memory stays flat however long the input.

psyq ships ``local`` (a process pool on this machine, below) and ``dask``
(:mod:`psyq.plugins.batch.dask_executor`).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from psyq.errors import PsyqError

J = TypeVar("J")
R = TypeVar("R")


class ExecutorError(PsyqError):
    """The executor cannot run (bad scheduler address, a worker died); exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class ExecutorSettings:
    """What ``psyq batch`` tells an executor.

    ``jobs`` is the number of local worker processes (executors that size
    themselves, like a Dask cluster, may ignore it); ``scheduler`` the
    address given with ``--scheduler``; ``recycle_after`` how many chunks a
    local worker runs before it is replaced, which bounds its memory.
    """

    jobs: int
    scheduler: str | None = None
    recycle_after: int = 100


class ChunkRunner(Protocol):
    def run(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[R]:
        """Yield ``fn(job)`` for every job, in any order."""
        ...


@dataclass(frozen=True)
class BatchExecutor:
    """A named way to run batch chunks."""

    name: str
    open: Callable[[ExecutorSettings], AbstractContextManager[ChunkRunner]]
    description: str = ""


class LocalRunner:
    """A spawn-based process pool, replaced every ``recycle_after`` chunks per worker.

    Python 3.11's ``max_tasks_per_child`` can deadlock the pool, so workers are
    recycled by generations instead: after ``jobs x recycle_after`` tasks the
    pool drains and a fresh one starts. The pool lives until :meth:`close`, so
    a later ``run`` (the cohort summary) finds warm workers.
    """

    def __init__(self, settings: ExecutorSettings) -> None:
        self.jobs = max(1, settings.jobs)
        self.per_pool = self.jobs * max(1, settings.recycle_after)
        # spawn: no fork of a parent holding open files, locks or threads.
        self._mp = multiprocessing.get_context("spawn")
        self._pool: ProcessPoolExecutor | None = None
        self._in_pool = 0

    def run(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[R]:
        pending: set[Future[R]] = set()
        try:
            for job in jobs:
                if self._pool is not None and self._in_pool >= self.per_pool:
                    yield from _drain(pending, len(pending))
                    self._pool.shutdown()
                    self._pool = None
                if self._pool is None:
                    self._pool = ProcessPoolExecutor(self.jobs, mp_context=self._mp)
                    self._in_pool = 0
                # Two tasks per worker in flight: the next is ready when one finishes.
                if len(pending) >= 2 * self.jobs:
                    yield from _drain(pending, 1)
                pending.add(self._pool.submit(fn, job))
                self._in_pool += 1
            yield from _drain(pending, len(pending))
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _drain(pending: set[Future[R]], at_least: int) -> Iterator[R]:
    got = 0
    while pending and got < at_least:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            pending.discard(future)
            try:
                result = future.result()
            except BrokenProcessPool:
                raise ExecutorError(
                    "a worker process died (out of memory?); finished rows are kept: "
                    "rerun with --resume"
                ) from None
            except PsyqError:
                raise
            except Exception as exc:  # the worker could not even start its chunk
                raise ExecutorError(
                    f"a worker failed: {type(exc).__name__}: {exc}; finished rows are kept: "
                    "rerun with --resume"
                ) from None
            yield result
            got += 1


@contextmanager
def open_local(settings: ExecutorSettings) -> Iterator[ChunkRunner]:
    runner = LocalRunner(settings)
    try:
        yield runner
    finally:
        runner.close()


LOCAL = BatchExecutor(
    name="local",
    open=open_local,
    description="A process pool on this machine (--jobs workers, default: every core).",
)


def batch_executors(pm: Any) -> dict[str, BatchExecutor]:
    """Every registered executor by name (duplicate names are an error)."""
    executors: dict[str, BatchExecutor] = pm.collect_named("psyq_batch_executors", "batch executor")
    return executors
