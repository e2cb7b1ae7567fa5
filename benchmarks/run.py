"""psyq benchmarks (`make bench`). Results are ratios against a baseline measured
in the same run, because the machines we run on are shared and noisy.

Usage: python benchmarks/run.py [NAME ...]   (default: every benchmark)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_analysis import bench_analysis
from bench_batch import bench_batch
from bench_core import bench_scoring, bench_startup
from bench_fhir import bench_fhir
from bench_interop import bench_interop
from bench_library import bench_library
from bench_report import bench_pdf_batch, bench_report
from bench_store import bench_store
from bench_tablet import bench_tablet

BENCHMARKS: dict[str, Callable[[], None]] = {
    "startup": bench_startup,
    "scoring": bench_scoring,
    "report": bench_report,
    "store": bench_store,
    "batch": bench_batch,
    "pdf-batch": bench_pdf_batch,
    "fhir": bench_fhir,
    "analysis": bench_analysis,
    "tablet": bench_tablet,
    "interop": bench_interop,
    "library": bench_library,
}


def main(names: list[str]) -> None:
    # Measure what an installed psyq does: pip writes bytecode at install time, so let
    # every psyq the benchmarks start (batch parents, fork servers, workers) write and
    # read it, even when the shell sets PYTHONDONTWRITEBYTECODE. Without it, each of
    # them compiled psyq's modules from source on every run (the fork server, before
    # any worker could start, too).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
    for name in names or list(BENCHMARKS):
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        print(f"== {name}")
        BENCHMARKS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
