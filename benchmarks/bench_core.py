"""Start-up time and scoring throughput of the core (issue: engine core)."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 15


def _time_command(args: list[str], env: dict[str, str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_startup() -> None:
    """`psyq list` and `psyq score` against bare `python -c pass`, median of 15 runs each."""
    env = {**os.environ, "PSYQ_HOME": tempfile.mkdtemp(prefix="psyq-bench-")}
    py = sys.executable
    baseline = _time_command([py, "-c", "pass"], env)
    rows = [
        ("python -c pass", baseline),
        ("psyq --version", _time_command([py, "-m", "psyq", "--version"], env)),
        ("psyq list", _time_command([py, "-m", "psyq", "list"], env)),
        (
            "psyq score phq9",
            _time_command(
                [py, "-m", "psyq", "score", "phq9", "--answers", "1,2,0,1,1,0,2,1,0"], env
            ),
        ),
    ]
    for name, seconds in rows:
        print(
            f"  {name:<18} {seconds * 1000:7.1f} ms   {seconds / baseline:5.1f}x python -c pass"
            f"   (+{(seconds - baseline) * 1000:.0f} ms)"
        )
    print("  goal: psyq list under 250 ms")


def bench_scoring() -> None:
    """Scoring throughput (validate + 7 stages), PHQ-9 and CCTS, vs a bare dict-sum loop."""
    from psyq.manager import create_plugin_manager
    from psyq.registry import InstrumentRegistry
    from psyq.scoring import Scorer

    pm = create_plugin_manager(load_entrypoints=False)
    registry = InstrumentRegistry(pm)
    scorer = Scorer(pm)
    rng = random.Random(7)
    for instrument_id in ("phq9", "ccts"):
        inst = registry.get(instrument_id)
        rows = [
            {i.id: rng.choice(inst.response_scale_for(i).values) for i in inst.items}
            for _ in range(20_000)
        ]
        start = time.perf_counter()
        for row in rows:
            sum(v for v in row.values())
        bare = time.perf_counter() - start
        start = time.perf_counter()
        for row in rows:
            scorer.score(inst, row)
        took = time.perf_counter() - start
        rate = len(rows) / took
        print(
            f"  {instrument_id:<5} {rate:9.0f} rows/s  ({took / len(rows) * 1e6:.1f} us/row; "
            f"{took / bare:.0f}x a bare sum loop)"
        )
