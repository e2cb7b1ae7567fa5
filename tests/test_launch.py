"""The `psyq` command's entry point (psyq.launch): a batch starts its fork server
before psyq's command line, click, pluggy or pydantic load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Records, at the moment the fork server is spawned, which of these are loaded.
PROBE = """
import sys
import multiprocessing.util as util
real = util.spawnv_passfds
def spawn(path, args, passfds):
    if any("forkserver" in str(a) for a in args):
        watched = ("psyq.cli", "click", "pluggy", "pydantic", "psyq.manager")
        loaded = [name for name in watched if name in sys.modules]
        print("LOADED AT SPAWN:", ",".join(loaded) or "-", file=sys.stderr, flush=True)
    return real(path, args, passfds)
util.spawnv_passfds = spawn
from psyq.launch import main
sys.argv[0] = "psyq"
main()
"""


def test_a_batch_starts_its_fork_server_first(tmp_path: Path) -> None:
    rows = tmp_path / "in.csv"
    items = ",".join(f"phq9_{i}" for i in range(1, 10))
    rows.write_text(f"client_id,{items}\nA,{','.join('1' * 9)}\n")
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "batch", str(rows), "--instrument", "phq9",
         "--out", str(tmp_path / "out"), "--scores-only", "--jobs", "1", "--quiet"],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "LOADED AT SPAWN: -" in done.stderr, done.stderr
    assert "phq9" in (tmp_path / "out" / "scores.csv").read_text()


def test_importing_psyq_loads_nothing_else() -> None:
    code = (
        "import sys; import psyq; "
        "print(sorted(m for m in ('pluggy', 'psyq.hookspecs', 'psyq.cli') if m in sys.modules)); "
        "from psyq import hookimpl, for_instruments; print(type(hookimpl).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["[]", "HookimplMarker"]
