"""Local batch workers start warm: forked by a fork server that has already imported
the chunk worker and, for a batch that renders reports, WeasyPrint with its fonts and
the parsed report stylesheet, and the plugin manager a sample report was rendered
with (rather than every worker paying for that itself)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROBE = """
import json, os, sys
from concurrent.futures import ProcessPoolExecutor
from psyq.batch.executors import _start_context, _worker_init

def state():
    import psyq.batch.worker
    import psyq.pdf
    return {
        "plugins": psyq.batch.worker._preloaded_pm is not None,
        "weasyprint": "weasyprint" in sys.modules,
        "fonts": psyq.pdf.font_config.cache_info().currsize,
        "stylesheet": psyq.pdf.parsed_stylesheet.cache_info().currsize,
    }

if __name__ == "__main__":
    pdf_reports = sys.argv[1] == "renders"
    ctx = _start_context(pdf_reports)
    with ProcessPoolExecutor(2, mp_context=ctx, initializer=_worker_init,
                             initargs=(os.getpid(),)) as pool:
        got = [f.result() for f in [pool.submit(state) for _ in range(4)]]
    print(json.dumps({"method": ctx.get_start_method(), "workers": got,
                      "parent": "weasyprint" in sys.modules}))
"""


def probe(tmp_path: Path, kind: str) -> dict[str, Any]:
    """Start a local pool in a fresh interpreter, as `psyq batch` does; what its workers hold."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    done = subprocess.run(
        [sys.executable, str(script), kind], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="no fork server on Windows: workers spawn")
def test_rendering_workers_are_forked_with_weasyprint_warm(tmp_path: Path) -> None:
    got = probe(tmp_path, "renders")
    assert got["method"] == "forkserver"
    assert got["parent"] is False  # the batch process itself never imports WeasyPrint
    for worker in got["workers"]:
        assert worker["weasyprint"] and worker["fonts"] == 1 and worker["stylesheet"] == 1
        assert worker["plugins"]  # built, and a report rendered with them, in the server


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="no fork server on Windows: workers spawn")
def test_scores_only_workers_do_not_load_weasyprint(tmp_path: Path) -> None:
    got = probe(tmp_path, "scores")
    assert got["method"] == "forkserver"
    assert not any(w["weasyprint"] or w["plugins"] for w in got["workers"])
