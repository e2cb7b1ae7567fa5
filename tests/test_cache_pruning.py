"""psyq's cache folder does not grow for ever: each cache removes its own files that no
run has written for a while (another psyq version, set of plugins or environment),
and nothing else in the folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from psyq.compiled_templates import FOLDER, SUFFIX
from psyq.compiled_templates import STALE_AFTER_SECONDS as TEMPLATES_STALE
from psyq.definition_cache import STALE_AFTER_SECONDS as DEFINITIONS_STALE

pytestmark = pytest.mark.slow

DAY = 24 * 3600


def _plant(path: Path, age_seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    when = time.time() - age_seconds
    os.utime(path, (when, when))
    return path


def test_a_run_that_writes_the_caches_removes_their_stale_files_only(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    stale = [
        _plant(cache / "definitions-0000aaaa.json", DEFINITIONS_STALE + DAY),
        _plant(cache / "entry-points-0000bbbb.json", DEFINITIONS_STALE + DAY),
        _plant(cache / FOLDER / f"0000cccc{SUFFIX}", TEMPLATES_STALE + DAY),
    ]
    kept = [
        # Recent files of another psyq or environment: it may still be in use.
        _plant(cache / "definitions-0000dddd.json", DEFINITIONS_STALE - DAY),
        _plant(cache / "entry-points-0000eeee.json", DEFINITIONS_STALE - DAY),
        _plant(cache / FOLDER / f"0000ffff{SUFFIX}", TEMPLATES_STALE - DAY),
        # Old, but not a cache file psyq names this way: not psyq's to remove.
        _plant(cache / "notes.txt", 10 * TEMPLATES_STALE),
        _plant(cache / FOLDER / "README", 10 * TEMPLATES_STALE),
    ]
    env = {
        **os.environ,
        "PSYQ_HOME": str(tmp_path / "home"),
        "PSYQ_CACHE_DIR": str(cache),
    }
    env.pop("PSYQ_NO_CACHE", None)
    run = subprocess.run(
        [sys.executable, "-m", "psyq", "report", "phq9", "--answers", "1,2,0,1,1,0,2,1,0",
         "--client", "c1", "-o", str(tmp_path / "r.pdf")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    # This run's own files were written...
    assert len(list(cache.glob("definitions-*.json"))) == 2
    assert len(list(cache.glob("entry-points-*.json"))) == 2
    assert len(list((cache / FOLDER).glob(f"*{SUFFIX}"))) > 1
    # ... and the stale ones removed, nothing else.
    assert [p.name for p in stale if p.exists()] == []
    assert [p.name for p in kept if not p.exists()] == []
