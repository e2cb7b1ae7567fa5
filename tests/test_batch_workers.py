"""Local batch workers start warm: forked by a fork server that has already imported
the chunk worker and, for a batch that renders reports, WeasyPrint with its fonts and
the parsed report stylesheet, and the plugin manager a sample report's HTML was
written with (rather than every worker paying for that itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from psyq.batch.manifest import MANIFEST_NAME

from .cohorts import PHQ9_ITEMS, phq9_rows, write_csv

PROBE = """
import json, os, sys
from psyq.batch.executors import ExecutorSettings, LocalRunner

def state(_):
    import gc
    import psyq.batch.worker
    import psyq.pdf
    return {
        "frozen": gc.get_freeze_count(),
        "collecting": gc.isenabled(),
        "plugins": psyq.batch.worker._preloaded_pm is not None,
        "weasyprint": "weasyprint" in sys.modules,
        "fonts": psyq.pdf.font_config.cache_info().currsize,
        "stylesheet": psyq.pdf.parsed_stylesheet.cache_info().currsize,
        "setting": os.environ.get("PSYQ_PROBE_SETTING"),
        "cwd": os.getcwd(),
    }

def pool_state():
    runner = LocalRunner(ExecutorSettings(jobs=2, pdf_reports=sys.argv[1] == "renders"))
    try:
        return list(runner.run(state, range(4)))
    finally:
        runner.close()

if __name__ == "__main__":
    first = pool_state()
    # A later batch in the same process, under other settings, from the same fork server.
    os.environ["PSYQ_PROBE_SETTING"] = "later"
    os.chdir(sys.argv[2])
    later = pool_state()
    print(json.dumps({"method": LocalRunner(ExecutorSettings(jobs=1))._mp.get_start_method(),
                      "workers": first, "later": later, "parent": "weasyprint" in sys.modules}))
"""


def probe(tmp_path: Path, kind: str) -> dict[str, Any]:
    """Start a local pool in a fresh interpreter, as `psyq batch` does; what its workers hold."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    done = subprocess.run(
        [sys.executable, str(script), kind, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
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
        assert worker["plugins"]  # built, and a report written with them, in the server
        # The server's objects frozen: a worker's collections skip them (and their pages).
        assert worker["frozen"] > 10_000 and worker["collecting"]
        assert worker["setting"] is None
    for worker in got["later"]:  # the batch's own environment and folder, as when spawned
        assert worker["setting"] == "later" and worker["cwd"] == str(tmp_path)
        assert not worker["plugins"]  # built afresh under those settings, not the server's


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="no fork server on Windows: workers spawn")
def test_scores_only_workers_do_not_load_weasyprint(tmp_path: Path) -> None:
    got = probe(tmp_path, "scores")
    assert got["method"] == "forkserver"
    assert not any(w["weasyprint"] or w["plugins"] for w in got["workers"])
    assert all(w["collecting"] for w in got["workers"])


def pdf_words(path: Path) -> str:
    import io
    import re

    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    return re.sub(r"\s+", " ", "\n".join(page.extract_text() for page in reader.pages))


@pytest.mark.slow
def test_reports_from_warm_workers_keep_the_alerts_and_the_chart(
    tmp_path: Path,
) -> None:
    rows = phq9_rows(6, seed=11)
    rows[1].update({k: "0" for k in PHQ9_ITEMS} | {"phq9_9": "2"})  # critical item positive
    rows[3].update({k: "1" for k in PHQ9_ITEMS[:4]} | {k: "" for k in PHQ9_ITEMS[4:]})
    rows[5].update({k: "0" for k in PHQ9_ITEMS})  # nothing to flag
    src = write_csv(tmp_path / "cohort.csv", rows)
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "psyq", "batch", str(src), "--instrument", "phq9", "--out",
         str(out), "--format", "pdf", "--jobs", "2", "--chunk-size", "1", "--quiet"],
        env={**os.environ, "PSYQ_HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    workers = {json.loads(line)["worker"] for line in (out / MANIFEST_NAME).open().readlines()[1:]}
    assert len(workers) == 2  # both forked workers rendered
    reports = {p.stem.split("_")[0]: pdf_words(p) for p in (out / "reports").glob("*.pdf")}
    critical, stopped, calm = reports["C0001"], reports["C0003"], reports["C0005"]
    assert critical.upper().index("SAFETY ALERT") < critical.index("Patient Health")
    assert "Answer given: More than half the days (2)" in critical
    # Items 5-9 blank: item 9 is a critical item left unanswered, which is an alert too.
    assert stopped.upper().index("SAFETY ALERT") < stopped.index("Patient Health")
    assert "Not answered: ask the client directly." in stopped
    assert "SAFETY ALERT" not in calm.upper() and "PARTIAL" not in calm
    for words in reports.values():  # the band chart: its band names and scale ticks
        assert "Minimal Mild Moderate" in words and "0 5 10 15 20 27" in words
