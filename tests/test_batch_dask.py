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
