"""Batch scoring: many respondents from one file to scored data and one report each.

The pieces, one module each:

* :mod:`psyq.batch.inputs` reads CSV or JSONL rows and checks the columns;
* :mod:`psyq.batch.naming` turns client ids and dates into safe, unique file names;
* :mod:`psyq.batch.worker` scores and renders one chunk of rows (runs in a worker);
* :mod:`psyq.batch.executors` runs chunks on a local process pool (or a plugin's
  executor, such as Dask);
* :mod:`psyq.batch.manifest` records finished chunks so a killed batch resumes;
* :mod:`psyq.batch.tables` writes ``scores.csv`` and ``errors.csv``;
* :mod:`psyq.batch.cohort` builds the cohort summary report;
* :mod:`psyq.batch.run` puts them together (:func:`run_batch`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psyq.batch.run import BatchOptions, BatchOutcome, run_batch

__all__ = ["BatchOptions", "BatchOutcome", "run_batch"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the fork server and workers import psyq.batch.worker, and
    # `psyq batch` starts its fork server (psyq.batch.executors) before anything else,
    # none of which needs the whole run machinery (inputs, manifest, cohort summary).
    if name in __all__:
        from psyq.batch import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
