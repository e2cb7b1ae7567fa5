"""Crash safety: `kill -9` in the middle of a batch, then `--resume`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from psyq.batch.manifest import MANIFEST_NAME

from .cohorts import phq9_rows, read_csv, write_csv

CLI = Callable[..., Result]

pytestmark = pytest.mark.slow


def _manifest_chunks(out: Path) -> int:
    path = out / MANIFEST_NAME
    if not path.exists():
        return 0
    return max(0, path.read_bytes().count(b"\n") - 1)


def test_kill_9_then_resume_completes_with_whole_files_and_no_duplicates(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    n = 300
    rows = phq9_rows(n, bad={100: ("phq9_2", "9")})
    src = write_csv(tmp_path / "cohort.csv", rows)
    out = tmp_path / "out"
    args = ["batch", "--summary", "html", str(src), "--instrument", "phq9", "--out", str(out),
            "--format", "json", "--chunk-size", "1", "--jobs", "1", "--quiet"]  # fmt: skip
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    # A session of its own, so kill -9 takes the worker processes down with the parent.
    proc = subprocess.Popen([sys.executable, "-m", "psyq", *args], env=env,
                            start_new_session=True, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    while _manifest_chunks(out) < 10 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the batch finished before it could be killed"
    done_before = _manifest_chunks(out)
    assert 10 <= done_before < n
    assert not (out / "summary.json").exists()

    refused = psyq_cli(*args)  # without --resume, a half-done batch is not overwritten
    assert refused.exit_code == 2 and "--resume" in refused.output

    resumed = psyq_cli(*args, "--resume")
    assert resumed.exit_code == 1, resumed.output  # the one bad row

    scores = read_csv(out / "scores.csv")
    row_numbers = [s["row"] for s in scores]
    assert len(row_numbers) == n - 1 and len(set(row_numbers)) == n - 1
    assert row_numbers == sorted(row_numbers, key=int)
    assert [e["row"] for e in read_csv(out / "errors.csv")] == ["102"]
    reports = list((out / "reports").iterdir())
    assert len(reports) == n - 1
    for path in reports:  # every report whole: each one parses
        json.loads(path.read_bytes())
    assert not list(out.rglob("*.psyq-tmp"))
    chunks = [
        json.loads(line)["chunk"] for line in (out / MANIFEST_NAME).read_text().splitlines()[1:]
    ]
    assert Counter(chunks).most_common(1)[0][1] == 1 and len(chunks) == n
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["rows"], summary["scored"], summary["failed"]) == (n, n - 1, 1)


def test_resume_refuses_a_different_input(psyq_cli: CLI, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = write_csv(tmp_path / "a.csv", phq9_rows(3, seed=1))
    other = write_csv(tmp_path / "b.csv", phq9_rows(3, seed=2))
    base = ["--instrument", "phq9", "--out", str(out), "--scores-only", "--jobs", "1"]
    assert psyq_cli("batch", "--summary", "html", str(first), *base).exit_code == 0
    result = psyq_cli("batch", "--summary", "html", str(other), *base, "--resume")
    assert result.exit_code == 2
    assert "different input, input_sha256" in result.output and "--force" in result.output


def test_resuming_a_finished_batch_says_it_had_finished(psyq_cli: CLI, tmp_path: Path) -> None:
    """A finished scores-only batch has merged its chunks' part files into scores.csv
    and removed them. Resumed, it scores its rows again and writes the same files; it
    used to say every chunk's part file was "missing or changed", as if damaged."""
    out = tmp_path / "out"
    src = write_csv(tmp_path / "a.csv", phq9_rows(5, seed=3))
    args = ["batch", str(src), "--instrument", "phq9", "--out", str(out), "--scores-only",
            "--summary", "html", "--jobs", "1"]  # fmt: skip
    assert psyq_cli(*args).exit_code == 0
    scores = (out / "scores.csv").read_bytes()
    again = psyq_cli(*args, "--resume")
    assert again.exit_code == 0, again.output
    assert "this batch had finished" in again.stderr
    assert "missing or changed" not in again.stderr
    assert (out / "scores.csv").read_bytes() == scores


def test_torn_last_manifest_line_is_dropped_and_its_chunk_rerun(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    src = write_csv(tmp_path / "a.csv", phq9_rows(6))
    base = ["batch", "--summary", "html", str(src), "--instrument", "phq9", "--out", str(out),
            "--format", "json", "--chunk-size", "2", "--jobs", "1"]  # fmt: skip
    assert psyq_cli(*base).exit_code == 0
    complete = (out / "scores.csv").read_bytes()
    manifest = out / MANIFEST_NAME
    lines = manifest.read_bytes().splitlines(keepends=True)
    # As after kill -9 during the last append: half a line, no newline; no summary yet.
    manifest.write_bytes(b"".join(lines[:-1]) + lines[-1][:25])
    (out / "summary.json").unlink()
    assert psyq_cli(*base, "--resume").exit_code == 0
    assert (out / "scores.csv").read_bytes() == complete
    assert len(manifest.read_bytes().splitlines()) == len(lines)


# Runs `psyq batch` logging, in the batch's own process, every fsync (by the path of the
# file or folder synced) and every rename, in order.
DURABILITY_SCRIPT = """
import json, os, sys
log = []
real_fsync, real_replace = os.fsync, os.replace
def fsync(fd):
    log.append(["fsync", os.readlink(f"/proc/self/fd/{fd}")])
    return real_fsync(fd)
def replace(src, dst, **kw):
    log.append(["replace", os.fspath(dst)])
    return real_replace(src, dst, **kw)
os.fsync, os.replace = fsync, replace
from psyq.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("LOG:" + json.dumps(log), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd (Linux)")
def test_reports_are_durable_before_the_manifest_counts_their_chunk(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(12, seed=5))
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-c", DURABILITY_SCRIPT, "batch", str(src), "--instrument", "phq9",
         "--out", str(out), "--format", "json", "--jobs", "2", "--chunk-size", "3"],
        env={**os.environ, "PSYQ_HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    log = json.loads(run.stderr.split("LOG:", 1)[1])
    reports, manifest = str(out / "reports"), str(out / MANIFEST_NAME)
    synced: set[str] = set()  # files whose data is on disk
    renamed: list[str] = []  # reports renamed since the reports folder was last synced
    chunks = 0
    for event, path in log:
        if event == "fsync":
            synced.add(path)
            if path == reports:
                renamed = []
            elif path == manifest:
                # A chunk is counted only once every report it renamed is durable.
                assert renamed == [], f"counted before the folder holding {renamed} was synced"
                chunks += 1
        elif os.path.dirname(path) == reports:
            renamed.append(path)
    assert chunks == 4  # 12 rows in chunks of 3
    assert len(list((out / "reports").glob("*.json"))) == 12
    # Each report's data is synced before its rename (under its temporary name), and the
    # reports folder once a chunk, not once a report.
    assert sum(1 for e, p in log if e == "fsync" and p == reports) == chunks
    tmp_synced = [p for e, p in log if e == "fsync" and os.path.dirname(p) == reports]
    assert len(tmp_synced) == 12
    assert all(os.path.basename(p).startswith(".") for p in tmp_synced), tmp_synced
