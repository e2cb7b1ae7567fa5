"""`psyq analyze` on 10,000 respondents x 40 items (issue #13), against a baseline measured
in the same run: reading the same CSV with the csv module into numpy and taking its
covariance matrix (the least any analysis of the file must do). Each side runs in its own
process, which reports its own peak memory: VmHWM, the high-water mark of the memory
its program mapped after exec (ru_maxrss would carry over the high-water mark of the
benchmark process that started it, which `make bench` grows running the others first)."""

from __future__ import annotations

import csv
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESPONDENTS = 10_000
ITEMS = 40
SCALES = 4

BASELINE = """
import csv, sys
def _peak_kb():
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
    except (OSError, StopIteration):  # not Linux
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import numpy as np
with open(sys.argv[1], newline="") as fh:
    rows = list(csv.reader(fh))
x = np.array([[float(c) if c else np.nan for c in r[1:]] for r in rows[1:]])
c = np.ma.cov(np.ma.masked_invalid(x), rowvar=False)
print(_peak_kb(), file=sys.stderr)
"""

ANALYZE = """
import sys
def _peak_kb():
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
    except (OSError, StopIteration):  # not Linux
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from pathlib import Path
from psyq import hookimpl
from psyq.app import App
from psyq.cli import create_cli
from psyq.manager import create_plugin_manager
from psyq.registry import InstrumentSource

class Pack:
    @hookimpl
    def psyq_instrument_sources(self):
        return [InstrumentSource("bench", Path(sys.argv[2]))]

pm = create_plugin_manager(load_entrypoints=False)
pm.register(Pack(), "bench-pack")
cli = create_cli(pm, App(pm, home=Path(sys.argv[2])))
try:
    cli(["analyze", "bench40", sys.argv[1], "--json"], standalone_mode=False)
finally:
    print(_peak_kb(), file=sys.stderr)
"""


def _instrument() -> str:
    per = ITEMS // SCALES
    items = [f"i{k + 1:02d}" for k in range(ITEMS)]
    lines = [
        "id: bench40",
        "version: '1'",
        "title: Benchmark, 40 items",
        "short_name: B40",
        "licence: benchmark",
        "status: provisional",
        "response_scales:",
        "  five:",
        "    options: [{value: 1, label: a}, {value: 2, label: b}, {value: 3, label: c},"
        " {value: 4, label: d}, {value: 5, label: e}]",
        "items:",
        *(
            f"  - {{id: {i}, text: Item {i}, response_scale: five"
            f"{', reverse: true' if k % 7 == 3 else ''}}}"
            for k, i in enumerate(items)
        ),
        "scales:",
        f"  - {{id: total, label: Total, items: [{', '.join(items)}]}}",
        *(
            f"  - {{id: s{s + 1}, label: Scale {s + 1}, "
            f"items: [{', '.join(items[s * per : (s + 1) * per])}]}}"
            for s in range(SCALES)
        ),
    ]
    return "\n".join(lines) + "\n"


def _data(path: Path) -> None:
    rng = random.Random(13)
    per = ITEMS // SCALES
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["client_id"] + [f"i{k + 1:02d}" for k in range(ITEMS)])
        for r in range(RESPONDENTS):
            g = rng.gauss(0, 1)
            factors = [0.6 * g + 0.8 * rng.gauss(0, 1) for _ in range(SCALES)]
            row: list[str] = [f"C{r}"]
            for k in range(ITEMS):
                if rng.random() < 0.02:
                    row.append("")
                    continue
                latent = factors[k // per] * (-1 if k % 7 == 3 else 1) + rng.gauss(0, 1)
                row.append(str(min(5, max(1, round(3 + latent)))))
            writer.writerow(row)


def _run(code: str, *args: str) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{done.stderr[-2000:]}")
    return took, int(done.stderr.strip().splitlines()[-1])


def bench_analysis() -> None:
    """`psyq analyze` (read + validate + score-stage values + every statistic) vs csv+numpy cov."""
    with tempfile.TemporaryDirectory(prefix="psyq-bench-analysis-") as tmp:
        folder = Path(tmp)
        (folder / "bench40.yaml").write_text(_instrument(), encoding="utf-8")
        data = folder / "data.csv"
        _data(data)
        base_s, base_kb = _run(BASELINE, str(data))
        took_s, took_kb = _run(ANALYZE, str(data), str(folder))
        print(f"  {RESPONDENTS} respondents x {ITEMS} items")
        print(
            f"  baseline: csv + numpy covariance   {base_s:6.2f} s   {base_kb / 1024:6.0f} MB peak"
        )
        print(
            f"  psyq analyze --json                {took_s:6.2f} s   {took_kb / 1024:6.0f} MB peak"
            f"   {took_s / base_s:4.1f}x the time, {took_kb / base_kb:4.1f}x the memory"
        )


if __name__ == "__main__":
    bench_analysis()
