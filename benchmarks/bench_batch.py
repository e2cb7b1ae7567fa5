"""Batch speed and memory (issue: batch report generation).

Each number comes with a baseline measured in the same run, because the
development machine (2 cores) is shared and noisy:

1. Scores-only throughput, the columnar path against the per-row path
   (``PSYQ_COLUMNAR=0``) side by side: (a) the chunk worker in this process
   (CPU), and the plain ``Scorer.score`` loop; (b) ``psyq batch --scores-only``
   end to end with ``--jobs 1`` and ``2``, as the marginal rate between a
   10k-row and a 100k-row run (start-up and the cohort summary cancel out).
   Goal: >= 100k PHQ-9 rows/s with ``--jobs 2``. Peak memory and the rate at 10k,
   100k and 1M rows.
2. The cohort summary of 100k rows: PDF against HTML summary end to end, and
   the summary alone in this process. Goal: <= 2 s.
3. Peak memory (RSS of the parent plus every worker, sampled every 20 ms) for
   1k and 10k rows with a JSON report per row. Goal: flat.
PDF batches are measured in ``bench_report.py`` (``run.py pdf-batch``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cohorts import PHQ9_ITEMS, phq9_rows, write_csv


def _run_batch(
    workdir: Path,
    src: Path,
    *args: str,
    env_extra: dict[str, str] | None = None,
    keep: bool = False,
) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of parent + workers for one `psyq batch`."""
    try:
        import psutil
    except ImportError:  # the test extras bring it (through distributed)
        psutil = None
    out = workdir / f"out-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "psyq", "batch", str(src), "--instrument", "phq9",
           "--out", str(out), "--quiet", *args]  # fmt: skip
    if "--summary" not in args:
        cmd += ["--summary", "html"]
    env = {**os.environ, "PSYQ_HOME": str(workdir / "home"), **(env_extra or {})}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    if psutil is not None:
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                procs = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.02)
    _, err = proc.communicate()
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"psyq batch failed ({proc.returncode}): {err.decode()[-500:]}")
    if keep:
        (workdir / "kept").unlink(missing_ok=True)
        (workdir / "kept").symlink_to(out)
    else:
        shutil.rmtree(out, ignore_errors=True)
    return took, peak


def _inputs(workdir: Path, *sizes: int) -> dict[int, Path]:
    return {n: write_csv(workdir / f"phq9-{n}.csv", phq9_rows(n, seed=n)) for n in sizes}


def bench_batch() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="psyq-bench-batch-"))
    try:
        _scores_only(workdir)
        _scores_memory(workdir)
        _cohort(workdir)
        _memory(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# Installed plugins that hook a scoring stage rightly send a batch down the per-row
# path; the development environment has one (the example plugin), so the
# scores-only runs here turn third-party plugins off, as a plain install is.
NO_PLUGINS = {"PSYQ_DISABLE_PLUGINS": "all"}
PER_ROW = {**NO_PLUGINS, "PSYQ_COLUMNAR": "0"}


def _scores_only(workdir: Path) -> None:
    import psyq.batch.worker as worker
    from psyq.batch.worker import ChunkJob, run_chunk
    from psyq.manager import create_plugin_manager
    from psyq.registry import InstrumentRegistry
    from psyq.scoring import Scorer

    pm = create_plugin_manager(load_entrypoints=False)
    inst = InstrumentRegistry(pm).get("phq9")
    rows = phq9_rows(20_000)
    ids = [item.id for item in inst.items]
    answers = [{k: r[k] for k in PHQ9_ITEMS} for r in rows]
    definition, digest = inst.model_dump(mode="json"), inst.content_hash()
    jobs = [
        ChunkJob(k, definition, digest, (), "2026-01-01T00:00:00", tuple(
            (n + 2, r["client_id"], r["date"], "", tuple(r.get(i) for i in ids), None)
            for n, r in enumerate(rows[k : k + 5000], start=k)
        ))
        for k in range(0, len(rows), 5000)
    ]  # fmt: skip

    def chunk_rate(env: dict[str, str]) -> float:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        worker._local.cache = {}  # a fresh worker context under this environment
        try:
            run_chunk(jobs[0])  # build the worker's context outside the timing
            start = time.process_time()
            for job in jobs:
                run_chunk(job)
            return len(rows) / (time.process_time() - start)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            worker._local.cache = {}

    scorer = Scorer(pm)
    start = time.process_time()
    for a in answers:
        scorer.score(inst, a)
    plain = len(rows) / (time.process_time() - start)
    per_row = chunk_rate(PER_ROW)
    columnar = chunk_rate(NO_PLUGINS)
    print(f"  scores-only, one process, CPU: columnar chunk worker {columnar:,.0f} rows/s, "
          f"per-row chunk worker {per_row:,.0f} rows/s ({columnar / per_row:.1f}x), plain "
          f"Scorer.score loop {plain:,.0f} rows/s")  # fmt: skip
    files = _inputs(workdir, 10_000, 100_000)
    for jobs_n in ("1", "2"):
        rates = {}
        for name, env in (("per-row", PER_ROW), ("columnar", NO_PLUGINS)):
            args = ("--scores-only", "--jobs", jobs_n)
            small, _ = _run_batch(workdir, files[10_000], *args, env_extra=env)
            large, _ = _run_batch(workdir, files[100_000], *args, env_extra=env)
            rates[name] = 90_000 / (large - small)
            print(f"  scores-only, psyq batch --jobs {jobs_n}, {name}: {rates[name]:,.0f} rows/s "
                  f"marginal (10k rows {small:.2f} s, 100k rows {large:.2f} s wall)")  # fmt: skip
        ratio = rates["columnar"] / rates["per-row"]
        print(f"  scores-only, --jobs {jobs_n}: columnar {ratio:.1f}x per-row "
              "(goal with --jobs 2: at least 100,000 rows/s)")  # fmt: skip


def _scores_memory(workdir: Path) -> None:
    """Scores-only with --jobs 2 at 10k, 100k and 1M rows: peak memory of parent and
    workers as ratios to the 10k run, and the marginal rate of the 1M run over the
    10k run, by the wall clock and per CPU-second (parent and workers, which a
    machine busy with other work changes less)."""
    files = _inputs(workdir, 10_000, 100_000, 1_000_000)
    peaks, walls, cpus = {}, {}, {}
    for n, path in files.items():
        before = _children_cpu()
        walls[n], peaks[n] = _run_batch(
            workdir, path, "--scores-only", "--jobs", "2", env_extra=NO_PLUGINS
        )
        cpus[n] = _children_cpu() - before
        print(f"  memory, {n:>9,} rows scores-only, --jobs 2: peak RSS {peaks[n] / 2**20:.0f} MiB "
              f"(parent + workers), {walls[n]:.1f} s wall, {cpus[n]:.1f} s CPU")  # fmt: skip
    if peaks[10_000]:
        ratios = [peaks[n] / peaks[10_000] for n in (100_000, 1_000_000)]
        print(f"  memory, scores-only --jobs 2: 100k / 10k rows {ratios[0]:.2f}x, "
              f"1M / 10k rows {ratios[1]:.2f}x (goal: flat)")  # fmt: skip
    extra = 990_000
    wall_rate = extra / (walls[1_000_000] - walls[10_000])
    cpu_rate = extra / (cpus[1_000_000] - cpus[10_000])
    print(f"  scores-only, psyq batch --jobs 2, 1M rows: {wall_rate:,.0f} rows/s marginal wall "
          f"(goal: at least 100,000); {cpu_rate:,.0f} rows per CPU-second "
          "of parent and workers")  # fmt: skip


def _children_cpu() -> float:
    """User + system seconds of every finished child process (and theirs) so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cohort(workdir: Path) -> None:
    """The cohort summary of 100k rows: a scores-only run with an HTML summary against
    the same run with a PDF summary; and, in this process, the summary alone (CPU)."""
    import json
    from datetime import datetime as dt

    from psyq.batch.cohort import CohortStats, render_cohort_html
    from psyq.manager import create_plugin_manager
    from psyq.pdf import html_to_pdf
    from psyq.registry import InstrumentRegistry

    (src,) = _inputs(workdir, 100_000).values()
    args = ("--scores-only", "--jobs", "2")
    html_run, _ = _run_batch(workdir, src, *args, env_extra=NO_PLUGINS, keep=True)
    pdf_run, _ = _run_batch(workdir, src, *args, "--summary", "pdf", env_extra=NO_PLUGINS)
    print(f"  cohort summary, 100k rows: psyq batch --scores-only --jobs 2 with a PDF summary "
          f"{pdf_run:.1f} s, with an HTML one {html_run:.1f} s wall")  # fmt: skip
    inst = InstrumentRegistry(create_plugin_manager(load_entrypoints=False)).get("phq9")
    manifest = (workdir / "kept" / "batch-manifest.jsonl").read_bytes().splitlines()[1:]
    html_to_pdf("<p>warm</p>", stylesheets=False)
    start = time.process_time()
    stats = CohortStats(inst)
    for line in manifest:
        stats.merge(json.loads(line)["cohort"])
    merged = time.process_time()
    html = render_cohort_html(stats, source="bench", generated_at=dt(2026, 1, 1), errors=0)
    page = time.process_time()
    html_to_pdf(html, stylesheets=False)
    done = time.process_time()
    print(f"  cohort summary, 100k rows, in process (CPU): merge {merged - start:.2f} s, "
          f"HTML {page - merged:.2f} s, PDF {done - page:.2f} s: {done - start:.2f} s in all "
          f"(goal: at most 2 s; {len(stats.listed())} respondents listed)")  # fmt: skip
    shutil.rmtree((workdir / "kept").resolve(), ignore_errors=True)


def _memory(workdir: Path) -> None:
    files = _inputs(workdir, 1_000, 10_000)
    peaks = {}
    for n, path in files.items():
        took, peak = _run_batch(workdir, path, "--format", "json", "--jobs", "2")
        peaks[n] = peak
        print(f"  memory, {n:>6,} rows to JSON reports, --jobs 2: peak RSS {peak / 2**20:.0f} MiB "
              f"(parent + workers), {took:.1f} s")  # fmt: skip
    if peaks[1_000]:
        print(f"  memory, 10k / 1k rows: {peaks[10_000] / peaks[1_000]:.2f}x (goal: flat, ~1.0x)")
