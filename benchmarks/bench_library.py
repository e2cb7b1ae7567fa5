"""`psyq list` start-up with the instrument library (issue #14) against the original
four built-in definitions, in the same run."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 15

ORIGINAL = ("ccts.yaml", "gad7.yaml", "phq9.yaml", "who5.yaml")

# `psyq list` with the built-in source pointed at DIR (argv[1]); the same harness for
# both runs, so the difference is the definitions alone.
HARNESS = """\
import sys
from pathlib import Path
import psyq.plugins.builtin_instruments as builtins
builtins.builtin_instruments_dir = lambda: Path(sys.argv[1])
from psyq.cli import main
main(["list"])
"""


def bench_library() -> None:
    """`psyq list` with every built-in definition vs the original four."""
    from psyq.plugins.builtin_instruments import builtin_instruments_dir

    full = builtin_instruments_dir()
    four = Path(tempfile.mkdtemp(prefix="psyq-bench-four-"))
    for name in ORIGINAL:
        shutil.copy(full / name, four / name)
    env = {**os.environ, "PSYQ_HOME": tempfile.mkdtemp(prefix="psyq-bench-")}
    py = sys.executable
    n_full = len(list(full.glob("*.yaml")))
    # Interleaved, so a busy spell on the shared machine hits both alike.
    times: dict[str, list[float]] = {"baseline": [], "before": [], "after": []}
    commands = {
        "baseline": [py, "-c", "pass"],
        "before": [py, "-c", HARNESS, str(four)],
        "after": [py, "-c", HARNESS, str(full)],
    }
    for _ in range(RUNS):
        for key, args in commands.items():
            start = time.perf_counter()
            subprocess.run(args, env=env, stdout=subprocess.DEVNULL, check=True)
            times[key].append(time.perf_counter() - start)
    baseline, before, after = (statistics.median(times[k]) for k in ("baseline", "before", "after"))
    print(f"  python -c pass              {baseline * 1000:7.1f} ms")
    print(f"  psyq list, {len(ORIGINAL)} definitions    {before * 1000:7.1f} ms")
    print(
        f"  psyq list, {n_full} definitions   {after * 1000:7.1f} ms   "
        f"{after / before:4.2f}x the {len(ORIGINAL)}-definition run "
        f"(+{(after - before) * 1000:.0f} ms, {(after - before) * 1000 / (n_full - 4):.1f} ms "
        "per added definition)"
    )
    _in_process(full, four)


def _in_process(full: Path, four: Path) -> None:
    """Loading (read, parse, validate) the definitions alone, best of 20, in-process."""
    from psyq.manager import create_plugin_manager
    from psyq.registry import load_instrument_file

    pm = create_plugin_manager(load_entrypoints=False)

    def load(folder: Path) -> float:
        best = float("inf")
        for _ in range(20):
            start = time.perf_counter()
            for path in sorted(folder.glob("*.yaml")):
                load_instrument_file(pm, path)
            best = min(best, time.perf_counter() - start)
        return best

    small, large = load(four), load(full)
    print(
        f"  loading alone: 4 definitions {small * 1000:.1f} ms, all {large * 1000:.1f} ms "
        f"({large / small:.1f}x; the definition cache of the performance issue removes this)"
    )
