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

import atexit
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager, suppress
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
    local worker runs before it is replaced, which bounds its memory;
    ``pdf_reports`` whether chunks render PDF reports, so the local pool warms
    the renderer up once before it starts any worker.
    """

    jobs: int
    scheduler: str | None = None
    recycle_after: int = 100
    pdf_reports: bool = False
    """Chunks render PDF reports: local workers start with WeasyPrint already warm."""


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


PARENT_CHECK_S = 0.5
"""How often a local worker checks that the batch that started it is still there."""
STOP_GRACE_S = 3.0
"""How long interrupted workers get to exit before they are killed."""


def _worker_init(
    parent_pid: int, environ: dict[str, str] | None = None, cwd: str | None = None
) -> None:
    """Run in every local worker before its first chunk.

    Ctrl-C goes to the whole process group: the parent alone decides how to
    stop (a worker dying of KeyboardInterrupt while holding the pool's queue
    lock is what hung the pool). A worker is born with SIGINT blocked
    (:func:`_sigint_held` for spawned workers; a fork server's child starts
    within milliseconds of its fork), so a Ctrl-C during its start-up, before
    this runs, waits; ignoring SIGINT here discards it, then the block is
    lifted. A watcher thread ends the worker when the batch that started it is
    gone (``kill -9`` of ``psyq batch``), so no orphan keeps its memory; the
    pool's resource tracker and fork server exit once the batch has. A worker
    forked by the fork server is that server's child, so the watch is for
    either process going away.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    started_by = os.getppid()
    if environ is not None and environ != dict(os.environ):
        # Forked from a fork server started earlier in this (long-lived) process, under
        # other settings: work under the batch's own, as a spawned worker would, and
        # build plugins afresh rather than use the ones the server loaded.
        os.environ.clear()
        os.environ.update(environ)
        from psyq.batch import worker

        worker.forget_preloaded()
    if cwd is not None:
        os.chdir(cwd)

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            if os.getppid() != started_by or not _alive(parent_pid):
                os._exit(1)

    threading.Thread(target=watch, name="psyq-parent-watch", daemon=True).start()


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Block SIGINT in this thread while it starts worker processes.

    A spawned worker inherits the signal mask, so a Ctrl-C that reaches it
    while Python starts up and imports psyq (seconds on a loaded machine) stays
    pending until :func:`_worker_init` discards it, instead of killing the
    worker with a traceback and breaking the pool. (CPython's resource tracker
    starts the same way.) The parent's own Ctrl-C is not lost: it is delivered
    when the block is lifted, or to another thread meanwhile.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process took the number: ours is gone
        return False
    return True


SERVE_MODULE = "psyq.batch.serve"
"""What the fork server imports first: every worker it forks is born ignoring Ctrl-C."""

WARM_MODULE = "psyq.batch.warm"
"""What the fork server imports before forking rendering workers."""


def _start_context(pdf_reports: bool) -> multiprocessing.context.BaseContext:
    """How local workers start.

    Where the platform has it (Linux, macOS), a fork server: a fresh process,
    started now, that imports the worker (and, for a batch of PDF reports,
    warms WeasyPrint up: :mod:`psyq.batch.warm`) once, then forks every worker
    from that state. Workers so start in milliseconds instead of each
    importing WeasyPrint (about half a second), and the server gets ready while
    this process starts up and reads the input (:func:`start_early`). It is
    not a fork of this process: no open file, lock or thread of the batch is
    inherited. Elsewhere (Windows), spawn.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # The server is started once per process: the first batch's list holds.
    context.set_forkserver_preload(
        [SERVE_MODULE, WARM_MODULE if pdf_reports else "psyq.batch.worker"]
    )
    from multiprocessing import forkserver

    forkserver.ensure_running()
    global _started_by
    if _started_by is None:
        _started_by = os.getpid()
        atexit.register(stop_fork_server)
    return context


_started_by: int | None = None
"""The process that started the fork server: only it stops it (not a fork of it)."""


def stop_fork_server() -> None:
    """End the fork server this process started, now, and reap it (run at exit).

    Left alone, the server outlives the batch: it notices that the batch has
    gone only once it has finished warming up (about a second after a batch
    that fails on its input), and then takes as long again to tear down
    everything it loaded, holding the batch's stderr open all the while (so
    ``psyq batch ... 2>&1 | tee log`` waited for it). It holds nothing to save
    (no file, no result: the batch writes every output itself), so it is
    killed rather than asked.
    Its workers have finished by now; one that has not (a batch stopped by
    an error) ends itself when it sees its server gone (:func:`_worker_init`).
    """
    from multiprocessing import forkserver

    if _started_by != os.getpid():
        return
    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if server is None or pid is None:
        return
    with suppress(OSError):  # already gone (and maybe reaped): forgotten below
        os.kill(pid, signal.SIGKILL)
    with suppress(AttributeError, OSError):  # another Python's internals: it is dead anyway
        server._stop()  # closes its "alive" pipe, reaps it, removes its socket


def start_early(args: list[str]) -> None:
    """Start the fork server for ``psyq batch ARGS`` before the command line is even
    parsed, so that warming WeasyPrint up overlaps this process's own start-up.

    A guess from the raw arguments, made only for the local executor: a wrong guess
    costs a little time, never a result (the server just preloads less or more).
    Once per process: the ``psyq`` command calls it from :mod:`psyq.launch`, and
    :func:`psyq.cli.main`, which programs and tests also call, asks again.
    """
    if _started_by == os.getpid():
        return
    if any(a in ("--help", "-h") for a in args) or "dask" in args or "--executor" in args:
        return
    if any(a.startswith("--executor=") for a in args):
        return
    formats = [args[k + 1] for k, a in enumerate(args[:-1]) if a == "--format"]
    formats += [a.split("=", 1)[1] for a in args if a.startswith("--format=")]
    # No --format: the richest report installed, PDF on a normal install.
    pdf = "--scores-only" not in args and (not formats or any("pdf" in f for f in formats))
    _start_context(pdf)


class LocalRunner:
    """A process pool (workers forked by a warm fork server, see :func:`_start_context`),
    replaced every ``recycle_after`` chunks per worker.

    Python 3.11's ``max_tasks_per_child`` can deadlock the pool, so workers are
    recycled by generations instead: after ``jobs x recycle_after`` tasks the
    pool drains and a fresh one starts. The pool lives until :meth:`close`, so
    a later ``run`` (the cohort summary) finds warm workers. An interrupt
    (Ctrl-C) stops every worker at once (:meth:`stop`).
    """

    def __init__(self, settings: ExecutorSettings) -> None:
        self.jobs = max(1, settings.jobs)
        self.per_pool = self.jobs * max(1, settings.recycle_after)
        self._mp = _start_context(settings.pdf_reports)
        self._pool: ProcessPoolExecutor | None = None
        self._in_pool = 0

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.jobs,
            mp_context=self._mp,
            initializer=_worker_init,
            initargs=(os.getpid(), dict(os.environ), os.getcwd()),
        )

    def run(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[R]:
        pending: set[Future[R]] = set()
        try:
            for job in jobs:
                if self._pool is not None and self._in_pool >= self.per_pool:
                    yield from _drain(pending, len(pending))
                    self._pool.shutdown()
                    self._pool = None
                if self._pool is None:
                    self._pool = self._new_pool()
                    self._in_pool = 0
                # Two tasks per worker in flight: the next is ready when one finishes.
                if len(pending) >= 2 * self.jobs:
                    yield from _drain(pending, 1)
                with _sigint_held():  # a submit may start a worker
                    pending.add(self._pool.submit(fn, job))
                self._in_pool += 1
            yield from _drain(pending, len(pending))
        except BaseException:
            # KeyboardInterrupt, a broken pool, or the caller giving up: no chunk in
            # flight is wanted any more, and no worker may outlive this.
            self.stop()
            raise
        finally:
            for future in pending:
                future.cancel()

    def stop(self) -> None:
        """Stop every worker now (terminate, then kill after a short grace)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1.0)
        # Its workers gone, the pool's manager thread closes its wake-up pipe and ends.
        # Left running, it could close that pipe while the interpreter's exit hook
        # (concurrent.futures' ``_python_exit``) writes to it: a traceback after the
        # batch's own one-line error (Python before 3.12 does not lock the two).
        manager = getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False, cancel_futures=True)
        if manager is not None:
            manager.join(STOP_GRACE_S)

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
    except BaseException:
        runner.stop()
        raise
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
