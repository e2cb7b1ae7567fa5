"""The ``dask`` batch executor: run batch chunks on a Dask distributed cluster.

``psyq batch ... --executor dask --scheduler tcp://HOST:PORT`` sends the same
chunk jobs as the local pool to the cluster's workers (which need psyq, and
any instrument plugins, installed; the instrument definition itself travels
with each chunk). Workers return scores and rendered bytes; this machine
writes every file, so no shared file system is needed.

Needs the ``psyq[dask]`` extra; dask is imported only when this executor
is opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

from psyq.errors import PsyqError
from psyq.hookspecs import hookimpl

if TYPE_CHECKING:
    # Only `psyq batch` collects executors; other commands must not load the batch package.
    from psyq.batch.executors import BatchExecutor, ChunkRunner, ExecutorSettings

J = TypeVar("J")
R = TypeVar("R")

CONNECT_TIMEOUT = "10s"


class DaskRunner:
    def __init__(self, client: Any) -> None:
        self.client: Any = client
        threads = sum(client.nthreads().values()) or 1
        # Two chunks per worker thread in flight, so a thread never waits on this machine.
        self.in_flight = 2 * threads

    def run(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[R]:
        import distributed

        from psyq.batch.executors import ExecutorError

        # distributed's own annotations are partial; treat it as untyped.
        dist: Any = distributed
        queue = iter(jobs)
        first = [self.client.submit(fn, job, pure=False) for job in islice(queue, self.in_flight)]
        if not first:
            return
        futures = dist.as_completed(first, loop=self.client.loop)
        for future in futures:
            try:
                result: R = future.result()
            except Exception as exc:
                raise ExecutorError(
                    f"a Dask task failed ({type(exc).__name__}: {exc}); finished rows are "
                    "kept: rerun with --resume"
                ) from None
            future.release()
            job = next(queue, None)
            if job is not None:
                futures.add(self.client.submit(fn, job, pure=False))
            yield result


@contextmanager
def open_dask(settings: ExecutorSettings) -> Iterator[ChunkRunner]:
    if not settings.scheduler:
        raise PsyqError(
            "--executor dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786, "
            "as printed by `dask scheduler`)"
        )
    try:
        import distributed
    except ImportError:
        raise PsyqError("the dask executor needs Dask: pip install 'psyq[dask]'") from None
    try:
        dist: Any = distributed
        client = dist.Client(settings.scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise PsyqError(f"cannot reach the Dask scheduler at {settings.scheduler}: {exc}") from None
    try:
        if not client.nthreads():
            raise PsyqError(
                f"the Dask scheduler at {settings.scheduler} has no workers; "
                "start some with `dask worker ADDRESS`"
            )
        yield DaskRunner(client)
    finally:
        client.close()


@hookimpl
def psyq_batch_executors() -> list[BatchExecutor]:
    from psyq.batch.executors import BatchExecutor

    return [
        BatchExecutor(
            name="dask",
            open=open_dask,
            description="A Dask distributed cluster (--scheduler tcp://HOST:PORT; psyq[dask]).",
        )
    ]
