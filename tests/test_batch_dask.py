"""`psyq batch --executor dask` on a Dask LocalCluster gives what the local pool gives."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from .cohorts import phq9_rows, write_csv

CLI = Callable[..., Result]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    import distributed  # a test extra: a missing one must fail, not skip

    # In-process workers (threads) on an in-process scheduler; the HTTP servers that
    # distributed always starts are bound to loopback.
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
    ) as cluster:
        yield cluster.scheduler_address


def test_dask_and_local_runs_write_identical_tables(
    psyq_cli: CLI, tmp_path: Path, dask_scheduler: str
) -> None:
    rows = phq9_rows(90, seed=11, bad={7: ("phq9_5", "4"), 60: ("phq9_9", "-1")})
    src = write_csv(tmp_path / "cohort.csv", rows)
    common = ["--instrument", "phq9", "--format", "json", "--chunk-size", "7"]
    local = psyq_cli(
        "batch",
        "--summary",
        "html",
        str(src),
        *common,
        "--out",
        str(tmp_path / "local"),
        "--jobs",
        "1",
    )
    dask = psyq_cli("batch", "--summary", "html", str(src), *common,
                    "--out", str(tmp_path / "dask"),
                    "--executor", "dask", "--scheduler", dask_scheduler)  # fmt: skip
    assert local.exit_code == dask.exit_code == 1, dask.output
    for name in ("scores.csv", "errors.csv"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    local_reports = sorted(p.name for p in (tmp_path / "local" / "reports").iterdir())
    dask_reports = sorted(p.name for p in (tmp_path / "dask" / "reports").iterdir())
    assert dask_reports == local_reports and len(local_reports) == 88
    summary = json.loads((tmp_path / "dask" / "summary.json").read_text())
    assert (summary["executor"], summary["scored"], summary["failed"]) == ("dask", 88, 2)


def test_dask_without_scheduler_or_unreachable_is_exit_2(
    psyq_cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("psyq.plugins.batch.dask_executor.CONNECT_TIMEOUT", "1s")
    src = write_csv(tmp_path / "c.csv", phq9_rows(2))
    base = [
        "batch",
        "--summary",
        "html",
        str(src),
        "--instrument",
        "phq9",
        "--scores-only",
        "--executor",
        "dask",
    ]
    no_address = psyq_cli(*base, "--out", str(tmp_path / "a"))
    assert no_address.exit_code == 2 and "needs --scheduler ADDRESS" in no_address.output
    # Port 9 on loopback (discard): nothing listens, so the connection is refused at once.
    closed = psyq_cli(*base, "--out", str(tmp_path / "b"), "--scheduler", "tcp://127.0.0.1:9")
    assert closed.exit_code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in closed.output


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path below ``folder`` with its bytes (None for a folder)."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def test_a_mistake_in_the_executor_options_leaves_nothing_to_resume(
    psyq_cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_scheduler: str
) -> None:
    """The executor is checked before the output folder is made: the corrected command
    runs as typed, not "directory is not empty ... use --resume"."""
    monkeypatch.setattr("psyq.plugins.batch.dask_executor.CONNECT_TIMEOUT", "1s")
    src = write_csv(tmp_path / "c.csv", phq9_rows(4))
    out = tmp_path / "out"
    run = ("batch", str(src), "--instrument", "phq9", "--scores-only", "--summary", "html",
           "--out", str(out), "--quiet")  # fmt: skip
    for mistake in (
        ("--executor", "dask"),  # no --scheduler
        ("--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"),  # nothing listens
        ("--scheduler", dask_scheduler),  # the local pool has no scheduler
    ):
        result = psyq_cli(*run, *mistake)
        assert result.exit_code == 2, result.output
        assert not out.exists(), mistake
    corrected = psyq_cli(*run, "--executor", "dask", "--scheduler", dask_scheduler)
    assert corrected.exit_code == 0, corrected.output
    assert (out / "scores.csv").exists()


def test_a_failed_start_leaves_an_existing_folder_and_an_earlier_batch_as_they_were(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    src = write_csv(tmp_path / "c.csv", phq9_rows(4))
    run = ("batch", str(src), "--instrument", "phq9", "--scores-only", "--summary", "html",
           "--quiet")  # fmt: skip
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o750)
    result = psyq_cli(*run, "--out", str(empty), "--executor", "dask")
    assert result.exit_code == 2, result.output
    assert list(empty.iterdir()) == [] and (empty.stat().st_mode & 0o777) == 0o750
    # --force over an earlier batch removes it only once the new one can start.
    earlier = tmp_path / "earlier"
    assert psyq_cli(*run, "--out", str(earlier)).exit_code == 0
    before = _tree(earlier)
    result = psyq_cli(*run, "--out", str(earlier), "--force", "--executor", "dask")
    assert result.exit_code == 2, result.output
    assert "needs --scheduler ADDRESS" in result.output
    assert _tree(earlier) == before
