"""Start-up time and scoring throughput of the core (issue: engine core)."""

from __future__ import annotations

import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 15
# Issue #15: start-up is measured with 20 definitions installed.
DEFINITIONS = 20
GOAL_SECONDS = 0.150


def _time_command(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (user + system) of ``args``."""
    walls, cpus = [], []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def _pack_environment(home: Path) -> dict[str, str]:
    """A clinic's psyq with :data:`DEFINITIONS` definitions installed, run as a user's is.

    The built-in instruments (and any installed plugin's, such as the example
    plugin's) plus throwaway copies of built-in definitions under new ids in the
    local pack to make up the number. ``HOME`` is ``home`` and neither ``PSYQ_HOME``,
    ``PSYQ_CACHE_DIR`` nor an XDG folder is set, so psyq finds its data folder
    (``~/.local/share/psyq``, where the local pack is) and its cache folder
    (``~/.cache/psyq``) itself, as it does for a clinician who set nothing.
    """
    from psyq.plugins.builtin_instruments import builtin_instruments_dir

    local = home / ".local" / "share" / "psyq" / "instruments"
    local.mkdir(parents=True)
    unset = ("PSYQ_HOME", "PSYQ_CACHE_DIR", "PSYQ_NO_CACHE", "XDG_DATA_HOME", "XDG_CACHE_HOME")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["HOME"] = str(home)
    # Measure what an installed psyq does: pip writes bytecode at install time, so
    # compile it here once even when the shell sets PYTHONDONTWRITEBYTECODE.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # What psyq finds installed in that environment (not in this process's).
    listed = subprocess.run(
        [sys.executable, "-m", "psyq", "list"], env=env, capture_output=True, text=True, check=True
    )
    installed = len(listed.stdout.splitlines())
    builtins = sorted(builtin_instruments_dir().glob("*.yaml"))
    for k in range(DEFINITIONS - installed):
        source = builtins[k % len(builtins)]
        text = re.sub(r"^id: (\w+)", rf"id: \1_copy{k}", source.read_text(), count=1, flags=re.M)
        (local / f"{source.stem}_copy{k}.yaml").write_text(text)
    return env


def bench_startup() -> None:
    """`psyq list/score/show` with 20 definitions: caches warm against caches off, and python.

    Each command's CPU time is also given as a multiple of `python -c pass` measured
    in the same run, and checked against issue #15's goal of 150 ms.
    """
    home = Path(tempfile.mkdtemp(prefix="psyq-bench-"))
    env = _pack_environment(home)
    py = sys.executable
    # The `psyq` command a user runs: the console script pip installed beside this Python.
    script = Path(py).with_name("psyq")
    psyq = [str(script)] if script.is_file() else [py, "-m", "psyq"]
    listed = subprocess.run([*psyq, "list"], env=env, capture_output=True, text=True, check=True)
    count = len(listed.stdout.splitlines())
    commands = {
        "list": ["list"],
        "score phq9": ["score", "phq9", "--answers", "1,2,0,1,1,0,2,1,0"],
        "show phq9": ["show", "phq9"],
    }
    no_cache = {**env, "PSYQ_NO_CACHE": "1"}
    base_wall, base_cpu = _time_command([py, "-c", "pass"], env)
    print(
        f"  {count} definitions installed; medians of {RUNS} runs; caches warm; "
        f"command: {' '.join(Path(p).name for p in psyq)}"
    )
    print(f"  {'python -c pass':<16} {base_wall * 1000:6.1f} ms wall {base_cpu * 1000:6.1f} ms CPU")
    verdicts = []
    for name, args in commands.items():
        # Interleaved, so that both sides see the same machine load.
        cold_wall, cold_cpu = _time_command([*psyq, *args], no_cache)
        wall, cpu = _time_command([*psyq, *args], env)
        print(
            f"  psyq {name:<11} {wall * 1000:6.1f} ms wall {cpu * 1000:6.1f} ms CPU "
            f"({cpu / base_cpu:4.1f}x python -c pass); without the caches "
            f"{cold_wall * 1000:.1f} ms wall {cold_cpu * 1000:.1f} ms CPU: "
            f"{cold_cpu / cpu:.2f}x the CPU"
        )
        verdicts.append(f"{name} {'met' if cpu <= GOAL_SECONDS else 'not met'}")
    print(f"  goal: start in at most {GOAL_SECONDS * 1000:.0f} ms of CPU: " + ", ".join(verdicts))
    # What a command that makes any pydantic model pays before psyq does anything (score
    # makes a ScoreResult; psyq's Instrument is a pydantic model too).
    _, floor = _time_command([py, "-c", PYDANTIC_FLOOR], env)
    print(
        f"  python + pydantic + one model (no psyq) {floor * 1000:.1f} ms CPU "
        f"({floor / base_cpu:.1f}x python -c pass; {floor / GOAL_SECONDS:.0%} of the goal)"
    )
    _importtime(
        py,
        env,
        {"list": commands["list"], "score": commands["score phq9"], "show": commands["show phq9"]},
    )
    shutil.rmtree(home, ignore_errors=True)


# As psyq starts pydantic: plugins off and their loader module not imported (psyq.cli).
PYDANTIC_FLOOR = """
import os, sys, types
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
loader = types.ModuleType("pydantic.plugin._loader")
loader.get_plugins = tuple
sys.modules[loader.__name__] = loader
from pydantic import BaseModel, Field
class Model(BaseModel):
    x: int = Field(ge=0)
Model(x=1)
"""


def _importtime(py: str, env: dict[str, str], commands: dict[str, list[str]]) -> None:
    """Where each command spends its import time (`python -X importtime`, median of 5)."""
    groups = {
        # With the libraries only pydantic brings (typing_extensions and typing_inspection
        # too): the floor of any command that makes a model (score: the ScoreResult).
        "pydantic (+ pydantic_core, its deps)": (
            "pydantic",
            "pydantic_core",
            "annotated_types",
            "typing_extensions",
            "typing_inspection",
        ),
        "psyq's models (class definitions)": ("psyq.models", "psyq.translation_format"),
        "click": ("click",),
        "pluggy": ("pluggy",),
        # pydantic's plugin loader would import it on a first schema (score, show): psyq
        # turns pydantic plugins off; its own plugin list comes from its entry-point cache.
        "importlib.metadata (+ email, zipfile)": ("importlib.metadata", "email", "zipfile"),
        "PyYAML": ("yaml",),
    }
    columns: dict[str, dict[str, float]] = {}
    for name, args in commands.items():
        runs = [_import_self_times(py, env, args, groups) for _ in range(5)]
        columns[name] = {label: statistics.median(r[label] for r in runs) for label in runs[0]}
    print(
        "  python -X importtime (self time summed per package, ms, median of 5):\n"
        f"    {'':<38}" + "".join(f"{name:>12}" for name in columns)
    )
    for label in next(iter(columns.values())):
        print(f"    {label:<38}" + "".join(f"{col[label]:12.1f}" for col in columns.values()))


def _import_self_times(
    py: str, env: dict[str, str], args: list[str], groups: dict[str, tuple[str, ...]]
) -> dict[str, float]:
    err = subprocess.run(
        [py, "-X", "importtime", "-m", "psyq", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    self_us: dict[str, int] = {}
    for line in err.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:"):
            own = parts[0].removeprefix("import time:").strip()
            if own.isdigit():
                self_us[parts[2].strip()] = int(own)
    row = {"all imports": sum(self_us.values()) / 1000}
    grouped = 0.0
    for label, prefixes in groups.items():
        row[label] = (
            sum(
                us
                for name, us in self_us.items()
                if any(name == p or name.startswith(p + ".") for p in prefixes)
            )
            / 1000
        )
        grouped += row[label]
    psyq_own = sum(us for name, us in self_us.items() if name.startswith("psyq")) / 1000
    row["psyq's other modules and plugins"] = psyq_own - row["psyq's models (class definitions)"]
    row["everything else (standard library...)"] = (
        row["all imports"] - grouped - row["psyq's other modules and plugins"]
    )
    return row


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
