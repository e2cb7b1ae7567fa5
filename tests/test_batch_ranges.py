"""Scores-only CSV batches read by line ranges in the workers: the same files as
reading the input whole, quoted line breaks still read right, and resume after
`kill -9` in the middle of the file."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from psyq.batch.manifest import MANIFEST_NAME
from psyq.batch.ranges import MARK

from .cohorts import PHQ9_ITEMS, phq9_rows, write_csv

NO_EXAMPLE = {"PSYQ_DISABLE_PLUGINS": "example"}


def _batch(
    src: Path, out: Path, home: Path, *args: str, ranges: bool = True
) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [sys.executable, "-m", "psyq", "batch", str(src), "--instrument", "phq9",
         "--out", str(out), "--scores-only", "--quiet", "--summary", "html", *args],
        env={**os.environ, **NO_EXAMPLE, "PSYQ_HOME": str(home),
             "PSYQ_BATCH_RANGES": "1" if ranges else "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr  # 1: some rows failed
    assert "Traceback" not in run.stderr and "error:" not in run.stderr, run.stderr
    assert (out / "summary.json").exists()
    return run


def _chunks_of(out: Path) -> str:
    header = json.loads((out / MANIFEST_NAME).read_text().splitlines()[0])
    return str(header["chunks_of"])


def _same(a: Path, b: Path) -> None:
    for name in ("scores.csv", "errors.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    summaries = [json.loads((d / "summary.json").read_text()) for d in (a, b)]
    for key in ("rows", "scored", "failed", "flagged", "bands"):
        assert summaries[0].get(key) == summaries[1].get(key), key


def _odd_lines(n: int, seed: int, newline: str) -> str:
    """A PHQ-9 CSV with every kind of line a row reader must word or skip."""
    rng = random.Random(seed)
    lines = [",".join(["client_id", "date", *PHQ9_ITEMS])]
    for k in range(n):
        cells = [f"C{k}", f"2025-0{1 + k % 9}-1{k % 10}"]
        cells += [rng.choice(["0", "1", "2", "3", "", " 2", "NA", "x"]) for _ in PHQ9_ITEMS]
        roll = rng.random()
        if roll < 0.02:
            cells = cells[:-1]  # short
        elif roll < 0.04:
            cells.append("3")  # long
        elif roll < 0.06:
            cells[0] = " "  # empty client id
        elif roll < 0.07:
            cells = [""] * len(cells)  # blank: skipped, still numbered
        elif roll < 0.08:
            cells[0] = "X" * 300  # overlong client id
        elif roll < 0.09:
            lines.append("")  # an empty line
        elif roll < 0.10:
            cells[1] = "2025-02-30"
        elif roll < 0.11:
            cells[0] = "=cmd()"
        lines.append(",".join(cells))
    return newline.join(lines)


@pytest.mark.parametrize(
    ("newline", "ending", "bom"),
    [("\r\n", "\r\n", False), ("\n", "", True), ("\n", "\n", False)],
)
def test_line_ranges_give_the_bytes_of_reading_the_file_whole(
    tmp_path: Path, newline: str, ending: str, bom: bool
) -> None:
    src = tmp_path / "in.csv"
    text = _odd_lines(3 * MARK + 41, seed=len(newline) + bom, newline=newline) + ending
    src.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    home = tmp_path / "home"
    # Chunks of 37 lines start between offset marks; 2 jobs finish them out of order.
    args = ("--jobs", "2", "--chunk-size", "37")
    _batch(src, tmp_path / "whole", home, *args, ranges=False)
    _batch(src, tmp_path / "ranges", home, *args)
    assert _chunks_of(tmp_path / "whole") == "rows"
    assert _chunks_of(tmp_path / "ranges") == "lines"
    _same(tmp_path / "whole", tmp_path / "ranges")
    errors = (tmp_path / "ranges" / "errors.csv").read_text()
    for reason in ("cells but the header has", "client id is empty", "characters long",
                   "is not a date", "is not an allowed answer"):  # fmt: skip
        assert reason in errors, reason


def test_quoted_line_breaks_in_cells_are_read_whole_with_two_jobs(tmp_path: Path) -> None:
    """A cell holding a line break (inside quotes) cannot be split at line ends: such
    a file is read by the parent, and every row keeps the number of its first line."""
    rows = phq9_rows(400, seed=5)
    for k, row in enumerate(rows):
        row["note"] = f"first line\nsecond, with a comma\r\nthird {k}" if k % 3 == 0 else ""
    rows[250]["phq9_4"] = "7"  # a bad answer after many multi-line cells
    src = write_csv(tmp_path / "in.csv", rows)
    home = tmp_path / "home"
    args = ("--jobs", "2", "--chunk-size", "23", "--ignore-extra-columns")
    _batch(src, tmp_path / "two", home, *args)
    assert _chunks_of(tmp_path / "two") == "rows"
    _batch(src, tmp_path / "one", home, "--jobs", "1", "--ignore-extra-columns")
    _same(tmp_path / "one", tmp_path / "two")
    scores = (tmp_path / "two" / "scores.csv").read_text().splitlines()
    errors = (tmp_path / "two" / "errors.csv").read_text().splitlines()
    assert len(scores) == 400 and len(errors) == 2  # 399 rows and a header each
    # Row k starts on line 2 + k + 2 * (rows before it with a three-line note).
    line = 2 + 250 + 2 * len(range(0, 250, 3))
    assert errors[1].startswith(f"{line},C0250,")
    assert scores[-1].split(",")[0] == str(2 + 399 + 2 * len(range(0, 399, 3)))


def test_a_lone_carriage_return_or_quote_sends_the_file_to_the_whole_reader(
    tmp_path: Path,
) -> None:
    head = ",".join(["client_id", "date", *PHQ9_ITEMS])
    good = "C1,2025-01-01," + ",".join("1" * 9)
    for name, text in (
        ("cr", f"{head}\r{good}\r{good}\r"),
        ("quote", f'{head}\n"C1",{good[3:]}\n'),
    ):
        src = tmp_path / f"{name}.csv"
        src.write_text(text, newline="")
        _batch(src, tmp_path / name, tmp_path / "home", "--jobs", "2")
        assert _chunks_of(tmp_path / name) == "rows"
        _batch(src, tmp_path / f"{name}-whole", tmp_path / "home", ranges=False)
        _same(tmp_path / f"{name}-whole", tmp_path / name)


@pytest.mark.slow
def test_kill_9_in_the_middle_of_the_file_then_resume(tmp_path: Path) -> None:
    n = 40_000
    rows = phq9_rows(n, seed=9, bad={n // 2: ("phq9_3", "8")})
    src = write_csv(tmp_path / "cohort.csv", rows)
    home = tmp_path / "home"
    _batch(src, tmp_path / "straight", home, "--jobs", "2")
    out = tmp_path / "out"
    args = [sys.executable, "-m", "psyq", "batch", str(src), "--instrument", "phq9",
            "--out", str(out), "--scores-only", "--quiet", "--summary", "html",
            "--jobs", "2", "--chunk-size", "101"]  # fmt: skip
    env = {**os.environ, **NO_EXAMPLE, "PSYQ_HOME": str(home)}
    proc = subprocess.Popen(args, env=env, start_new_session=True, stderr=subprocess.PIPE)
    manifest = out / MANIFEST_NAME
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if manifest.exists() and manifest.read_bytes().count(b"\n") > 20:
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the batch finished before it could be killed"
    assert not (out / "scores.csv").exists()
    assert _chunks_of(out) == "lines"
    done = manifest.read_bytes().count(b"\n") - 1
    assert 20 <= done < n // 101
    resumed = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 1, resumed.stderr  # the one bad row
    _same(tmp_path / "straight", out)
    chunks = [json.loads(line)["chunk"] for line in manifest.read_text().splitlines()[1:]]
    assert sorted(chunks) == list(range(-(-n // 101)))  # each chunk once


def _batch_on_a_terminal(src: Path, out: Path, home: Path, *args: str, ranges: bool) -> str:
    """What `psyq batch` draws on a terminal (stderr a pseudo-terminal)."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "psyq", "batch", str(src), "--instrument", "phq9",
         "--out", str(out), "--scores-only", "--summary", "html", *args],
        env={**os.environ, **NO_EXAMPLE, "PSYQ_HOME": str(home),
             "PSYQ_BATCH_RANGES": "1" if ranges else "0"},
        stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(slave)
    drawn = b""
    while True:
        try:
            block = os.read(master, 4096)
        except OSError:  # EIO: the batch closed its end
            break
        if not block:
            break
        drawn += block
    os.close(master)
    assert proc.wait(timeout=300) in (0, 1)
    return drawn.decode()


@pytest.mark.parametrize("ranges", [True, False])
def test_the_progress_bar_ends_at_100_percent_with_blank_lines(
    tmp_path: Path, ranges: bool
) -> None:
    """Blank lines are counted in the range reader's total and score no row: the
    bar still reaches its total, chunk by chunk and at the end."""
    head = ",".join(["client_id", "date", *PHQ9_ITEMS])
    lines = [head]
    for k in range(300):
        lines.append(f"C{k},2025-01-01," + ",".join(["1"] * len(PHQ9_ITEMS)))
        if k % 7 == 0:
            lines.append("" if k % 2 else " , ,")  # blank lines: skipped, not rows
    src = tmp_path / "in.csv"
    src.write_text("\n".join(lines) + "\n\n")
    out = tmp_path / "out"
    drawn = _batch_on_a_terminal(
        src, out, tmp_path / "home", "--jobs", "2", "--chunk-size", "41", ranges=ranges
    )
    assert _chunks_of(out) == ("lines" if ranges else "rows")
    bars = [line for line in drawn.replace("\r\n", "\n").replace("\n", "\r").split("\r")
            if line.startswith("[")]  # fmt: skip
    assert bars, drawn
    done, total = bars[-1].split("] ")[1].split(" ")[0].split("/")
    assert done == total, bars[-1]
    assert bars[-1].startswith("[" + "#" * 24 + "]"), bars[-1]
    assert json.loads((out / "summary.json").read_text())["rows"] == 300


def test_a_changed_or_missing_part_file_is_scored_again_on_resume(tmp_path: Path) -> None:
    """Workers write each chunk's scores to a private part file named, with its SHA-256,
    in the manifest; a part changed or lost after `kill -9` is redone on resume."""
    n = 20_000
    rows = phq9_rows(n, seed=4, bad={n // 3: ("phq9_5", "4")})
    src = write_csv(tmp_path / "cohort.csv", rows)
    home = tmp_path / "home"
    _batch(src, tmp_path / "straight", home, "--jobs", "2")
    out = tmp_path / "out"
    args = [sys.executable, "-m", "psyq", "batch", str(src), "--instrument", "phq9",
            "--out", str(out), "--scores-only", "--quiet", "--summary", "html",
            "--jobs", "2", "--chunk-size", "37"]  # fmt: skip
    env = {**os.environ, **NO_EXAMPLE, "PSYQ_HOME": str(home)}
    proc = subprocess.Popen(args, env=env, start_new_session=True, stderr=subprocess.PIPE)
    manifest = out / MANIFEST_NAME
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if manifest.exists() and manifest.read_bytes().count(b"\n") > 12:
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the batch finished before it could be killed"
    # Whole lines only: kill -9 may tear the line being written (resume drops it).
    written = manifest.read_text()
    whole = written[: written.rfind("\n") + 1]
    lines = [json.loads(line) for line in whole.splitlines()[1:]]
    assert len(lines) >= 12 and all("scores" not in line for line in lines)
    parts = out / ".parts"
    assert parts.stat().st_mode & 0o777 == 0o700
    changed, lost = (parts / lines[3]["scores_part"], parts / lines[8]["scores_part"])
    assert changed.stat().st_mode & 0o777 == 0o600
    text = changed.read_bytes()
    assert text.count(b"\r\n") == 37
    changed.write_bytes(text.replace(b",", b";", 1))  # one byte differs
    lost.unlink()
    resumed = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 1, resumed.stderr  # the one bad row
    redo = sorted([lines[3]["chunk"], lines[8]["chunk"]])
    said = [line for line in resumed.stderr.splitlines() if "part file" in line]
    assert len(said) == 1 and f"chunk(s) {redo[0]}, {redo[1]} " in said[0], resumed.stderr
    _same(tmp_path / "straight", out)
    assert not parts.exists()  # removed once scores.csv is whole
    chunks = Counter(json.loads(line)["chunk"] for line in manifest.read_text().splitlines()[1:])
    assert sorted(chunks) == list(range(-(-n // 37)))
    assert sorted(k for k, times in chunks.items() if times > 1) == redo
