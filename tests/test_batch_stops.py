"""Clean stops and private outputs for `psyq batch`: Ctrl-C, kill -9 of the parent,
worker recycling, --resume refusing a changed run, 0600/0700 whatever the umask."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from psyq.batch.manifest import MANIFEST_NAME

from .cohorts import phq9_rows, read_csv, write_csv
from .packs import DirectoryPack

CLI = Callable[..., Result]


def manifest_lines(out: Path) -> list[dict[str, object]]:
    path = out / MANIFEST_NAME
    if not path.exists():
        return []
    lines = []
    for raw in path.read_bytes().splitlines(keepends=True)[1:]:
        if raw.endswith(b"\n"):
            lines.append(json.loads(raw))
    return lines


def session_processes(sid: int) -> list[int]:
    """Live processes of a session (the batch was started as its leader)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state, [3] the session id
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry.name))
    return pids


def wait_until(predicate: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def start_batch(args: list[str], home: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PSYQ_HOME": str(home)}
    streams: dict[str, object] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "psyq", *args],
        env=env,
        start_new_session=True,
        **{**streams, **kwargs},
    )


@pytest.mark.slow
def test_ctrl_c_in_a_pdf_batch_stops_fast_exits_130_and_resumes(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    n = 120
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(n))
    out = tmp_path / "out"
    args = ["batch", str(src), "--instrument", "phq9", "--out", str(out), "--format", "pdf",
            "--summary", "html", "--chunk-size", "2", "--jobs", "2", "--quiet"]  # fmt: skip
    for attempt in range(3):
        proc = start_batch(args + (["--resume"] if attempt else []), tmp_path / "home")
        wanted = len(manifest_lines(out)) + 2 + attempt
        assert wait_until(lambda: len(manifest_lines(out)) >= wanted, 90)  # noqa: B023
        # What a terminal's Ctrl-C does: SIGINT to every process of the foreground group.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"attempt {attempt}: the batch did not stop within 10 s of Ctrl-C")
        assert proc.returncode == 130, err.decode()
        assert b"--resume" in err and b"Traceback" not in err
        sid = proc.pid
        assert wait_until(lambda: not session_processes(sid), 5), "workers left behind"  # noqa: B023
    resumed = psyq_cli(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    rows = read_csv(out / "scores.csv")
    assert len(rows) == n and not [k for k, v in Counter(r["row"] for r in rows).items() if v > 1]
    assert len(list((out / "reports").glob("*.pdf"))) == n


@pytest.mark.slow
def test_workers_exit_when_the_parent_is_killed_9(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(400))
    out = tmp_path / "out"
    args = ["batch", str(src), "--instrument", "phq9", "--out", str(out), "--format", "pdf",
            "--summary", "html", "--chunk-size", "1", "--jobs", "2", "--quiet"]  # fmt: skip
    proc = start_batch(args, tmp_path / "home")
    assert wait_until(lambda: len(manifest_lines(out)) >= 2, 90)
    assert len(session_processes(proc.pid)) >= 3  # the parent, its workers, the tracker
    os.kill(proc.pid, signal.SIGKILL)  # the parent only, as the OOM killer would
    proc.wait(timeout=10)
    left = session_processes(proc.pid)
    gone = wait_until(lambda: not session_processes(proc.pid), 10)
    if not gone:
        for pid in session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
    assert gone, f"processes {left} outlived the killed batch"


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_batch_outputs_are_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(12, bad={3: ("phq9_2", "9")}))
    out = tmp_path / "out" / "batch"
    args = ["batch", str(src), "--instrument", "phq9", "--out", str(out), "--format",
            "json,html", "--summary", "html", "--jobs", "1", "--quiet"]  # fmt: skip
    proc = start_batch(args, tmp_path / "home", preexec_fn=lambda: os.umask(umask))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err.decode()  # one bad row
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == 11 * 2 + 5  # 11 good rows x 2 formats, 5 batch files
    for path in [out.parent, out, *out.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_workers_are_replaced_after_the_configured_number_of_reports(
    psyq_cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(24))
    args = ["batch", str(src), "--instrument", "phq9", "--format", "json", "--summary",
            "html", "--chunk-size", "2", "--jobs", "1", "--quiet"]  # fmt: skip
    plain = psyq_cli(*args, "--out", str(tmp_path / "plain"))
    assert plain.exit_code == 0, plain.output
    assert len({line["worker"] for line in manifest_lines(tmp_path / "plain")}) == 1
    monkeypatch.setenv("PSYQ_BATCH_RECYCLE_REPORTS", "4")  # a new worker every 2 chunks
    recycled = psyq_cli(*args, "--out", str(tmp_path / "recycled"))
    assert recycled.exit_code == 0, recycled.output
    lines = manifest_lines(tmp_path / "recycled")
    workers = [line["worker"] for line in sorted(lines, key=lambda x: int(str(x["chunk"])))]
    assert len(workers) == 12 and len(set(workers)) == 6
    assert all(workers[k] == workers[k + 1] for k in range(0, 12, 2))
    assert len(read_csv(tmp_path / "recycled" / "scores.csv")) == 24
    monkeypatch.setenv("PSYQ_BATCH_RECYCLE_REPORTS", "many")
    bad = psyq_cli(*args, "--out", str(tmp_path / "bad"))
    assert bad.exit_code == 2 and "PSYQ_BATCH_RECYCLE_REPORTS" in bad.output


def test_resume_refuses_a_changed_instrument_or_changed_formats(
    psyq_cli: CLI,
    psyq_register: Callable[..., object],
    tmp_path: Path,
    minimal_yaml: str,
) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    definition = pack / "mini.yaml"
    definition.write_text(minimal_yaml)
    psyq_register(DirectoryPack("mini pack", pack), "mini-pack")
    src = tmp_path / "in.csv"
    src.write_text("client_id,m1,m2,m3\nC1,1,1,2\nC2,2,2,0\n")
    out = tmp_path / "out"
    args = ["batch", str(src), "--instrument", "mini", "--out", str(out), "--summary", "html",
            "--jobs", "1", "--quiet"]  # fmt: skip
    first = psyq_cli(*args, "--format", "json")
    assert first.exit_code == 0, first.output
    before = (out / "scores.csv").read_bytes()

    formats = psyq_cli(*args, "--format", "json,html", "--resume")
    assert formats.exit_code == 2
    assert "holds a batch of a different formats" in formats.output

    definition.write_text(
        minimal_yaml.replace("min: 0, max: 2}", "min: 0, max: 3}").replace(
            "min: 3, max: 6", "min: 4, max: 6"
        )
    )
    changed = psyq_cli(*args, "--format", "json", "--resume")
    assert changed.exit_code == 2
    assert "holds a batch of a different instrument_hash" in changed.output
    assert (out / "scores.csv").read_bytes() == before  # nothing was mixed in


def test_a_ctrl_c_reaching_a_worker_during_its_start_up_is_held(tmp_path: Path) -> None:
    """The race behind a flaky Ctrl-C test on a loaded machine: SIGINT reached a
    worker still starting up (before its initializer ignores SIGINT), killing it
    with a traceback and breaking the pool. Workers are born with SIGINT blocked."""
    from psyq.batch.executors import ExecutorSettings, LocalRunner

    runner = LocalRunner(ExecutorSettings(jobs=1))
    hit: list[int] = []

    def interrupt_new_workers() -> None:
        deadline = time.monotonic() + 30
        while not hit and time.monotonic() < deadline:
            pool = runner._pool
            for pid in list(getattr(pool, "_processes", None) or {}):
                os.kill(pid, signal.SIGINT)  # at once: Python in it has barely started
                hit.append(pid)
            time.sleep(0.0005)

    watcher = threading.Thread(target=interrupt_new_workers)
    watcher.start()
    try:
        assert sorted(runner.run(abs, [-3, -4])) == [3, 4]
    finally:
        watcher.join()
        runner.close()
    assert hit, "no worker was started"


def fork_servers(sid: int) -> list[int]:
    """The live multiprocessing fork servers of a session."""
    found = []
    for pid in session_processes(sid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:  # exited since it was listed
            continue
        if b"multiprocessing.forkserver" in command:
            found.append(pid)
    return found


@pytest.mark.parametrize("bad", [True, False], ids=["bad input", "finished"])
def test_no_fork_server_outlives_the_batch(tmp_path: Path, bad: bool) -> None:
    """`psyq batch` starts its fork server before it reads the input, so a batch that
    then fails on it used to leave the server running on (warming WeasyPrint up, then
    tearing it down) for a second or two after the batch had exited; a finished batch
    left it tearing down. The batch now ends it before exiting: checked the moment the
    batch process has exited, without waiting."""
    src = tmp_path / "cohort.csv"
    if bad:
        src.write_text("client_id,date,phq9_1\nC1,2026-01-01,1\n")  # 8 item columns missing
    else:
        write_csv(src, phq9_rows(2))
    args = ["batch", str(src), "--instrument", "phq9", "--out", str(tmp_path / "out"),
            "--format", "pdf", "--summary", "html", "--jobs", "2", "--quiet"]  # fmt: skip
    with (tmp_path / "stderr").open("wb") as err:
        proc = start_batch(args, tmp_path / "home", stderr=err)
        proc.wait(timeout=120)
        left = fork_servers(proc.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    message = (tmp_path / "stderr").read_text()
    assert proc.returncode == (2 if bad else 0), message
    assert ("missing item columns" in message) == bad
    assert not left, f"fork server {left} outlived the batch"


FAILING_POOL = """
import sys, threading
from psyq.batch.executors import ExecutorSettings, LocalRunner
from psyq.errors import PsyqError

def fail(_):
    raise PsyqError("out/reports: cannot write: the folder does not exist")

if __name__ == "__main__":
    runner = LocalRunner(ExecutorSettings(jobs=1, pdf_reports=False))
    try:
        list(runner.run(fail, range(3)))
    except PsyqError:
        pass
    runner.close()
    # What is left running when the interpreter's exit hooks start.
    print(sum(type(t).__name__ == "_ExecutorManagerThread" and t.is_alive()
              for t in threading.enumerate()))
"""


def test_a_failed_chunk_leaves_no_pool_thread_to_race_the_exit(tmp_path: Path) -> None:
    """A chunk failing with a user's error (here: a resumed batch whose reports folder is
    gone) stops the pool. Its manager thread used to be left closing its wake-up pipe
    while the interpreter's exit hook wrote to it: now and then a batch printed
    "OSError: [Errno 9] Bad file descriptor" and a traceback after its one-line error.
    The stop now waits for that thread; the exit prints nothing."""
    script = tmp_path / "failing_pool.py"
    script.write_text(FAILING_POOL)
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "0", "the pool's manager thread outlived its stop"
        assert done.stderr == ""
