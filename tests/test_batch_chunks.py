"""How a batch cuts its rows into chunks: evenly, or, for reports on several workers,
with smaller chunks at the end so the workers finish together; the plan is in the
manifest, so a resume cuts the rows as the first run did, whatever its --jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from psyq.batch.chunks import ChunkPlan
from psyq.batch.manifest import MANIFEST_NAME

from .cohorts import phq9_rows, write_csv

CLI = Callable[..., Result]


@pytest.mark.parametrize("taper", [None, 1, 2, 3, 8])
@pytest.mark.parametrize("size", [1, 2, 4, 7, 8, 500])
def test_every_row_is_in_exactly_one_chunk_in_order(size: int, taper: int | None) -> None:
    for total in [*range(0, 70), 99, 100, 101, 1000, 12_345]:
        plan = ChunkPlan(total, size, taper)
        chunks = list(plan)
        assert len(chunks) == len(plan)
        assert [plan.bounds(k) for k in range(len(plan))] == chunks
        rows = [start + k for start, n in chunks for k in range(n)]
        assert rows == list(range(total)), (total, size, taper)
        assert all(1 <= n <= size for _, n in chunks)
        sizes = [n for _, n in chunks]
        if taper is None or taper < 2:
            assert sizes == [size] * (total // size) + ([total % size] if total % size else [])
        else:
            # Whole chunks first, then ever smaller ones, ending with one row each.
            assert sizes == sorted(sizes, reverse=True)
            if total >= 2 * taper * size:
                assert sizes[: total // size - 2 * taper] == [size] * (total // size - 2 * taper)
                assert sizes[-taper:] == [1] * taper
    with pytest.raises(IndexError):
        ChunkPlan(10, 3).bounds(4)


def chunk_lines(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    header, *lines = (out / MANIFEST_NAME).read_text().splitlines()
    return json.loads(header), [json.loads(line) for line in lines]


def batch_args(src: Path, out: Path, *more: str) -> list[str]:
    return ["batch", str(src), "--instrument", "phq9", "--out", str(out), "--format",
            "json", "--summary", "html", "--quiet", *more]  # fmt: skip


def test_reports_on_two_workers_taper_and_match_an_even_run(psyq_cli: CLI, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(40, bad={7: ("phq9_3", "7")}))
    runs = {
        "tapered": ["--jobs", "2"],
        "one worker": ["--jobs", "1"],
        "chunks of 5": ["--jobs", "2", "--chunk-size", "5"],
    }
    for name, more in runs.items():
        done = psyq_cli(*batch_args(src, tmp_path / name, *more))
        assert done.exit_code == 1, done.output  # the one bad row
    header, lines = chunk_lines(tmp_path / "tapered")
    assert header["taper"] == 2
    plan = ChunkPlan(40, header["chunk_size"], 2)
    assert sorted((line["chunk"], line["rows"]) for line in lines) == [
        (k, rows) for k, (_, rows) in enumerate(plan)
    ]
    assert [line["rows"] for line in sorted(lines, key=lambda x: x["chunk"])][-2:] == [1, 1]
    for even in ("one worker", "chunks of 5"):  # an explicit --chunk-size, or one worker
        assert "taper" not in chunk_lines(tmp_path / even)[0]
    # The same rows, scores, errors and report names however the rows were cut.
    for name in runs:
        out = tmp_path / name
        assert (out / "scores.csv").read_bytes() == (tmp_path / "tapered/scores.csv").read_bytes()
        assert (out / "errors.csv").read_bytes() == (tmp_path / "tapered/errors.csv").read_bytes()
        names = sorted(p.name for p in (out / "reports").iterdir())
        assert names == sorted(p.name for p in (tmp_path / "tapered/reports").iterdir())
        assert len(names) == 39


@pytest.mark.parametrize(("first", "then"), [("2", "1"), ("1", "2")])
def test_resume_with_other_jobs_keeps_the_first_runs_chunks(
    psyq_cli: CLI, tmp_path: Path, first: str, then: str
) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(40))
    out = tmp_path / "out"
    assert psyq_cli(*batch_args(src, out, "--jobs", first)).exit_code == 0
    complete = (out / "scores.csv").read_bytes()
    header, lines = chunk_lines(out)
    manifest = out / MANIFEST_NAME
    # As after an interruption: only the first chunks recorded, no final files yet.
    kept = sorted(lines, key=lambda x: x["chunk"])[:5]
    manifest.write_text("\n".join(json.dumps(x) for x in [header, *kept]) + "\n")
    for name in ("scores.csv", "errors.csv", "summary.json", "cohort-summary.html"):
        (out / name).unlink()

    resumed = psyq_cli(*batch_args(src, out, "--jobs", then, "--resume"))
    assert resumed.exit_code == 0, resumed.output
    assert (out / "scores.csv").read_bytes() == complete
    after, redone = chunk_lines(out)
    assert after == header  # chunk size and taper as first planned
    assert sorted((x["chunk"], x["rows"]) for x in redone) == sorted(
        (x["chunk"], x["rows"]) for x in lines
    )


def test_a_manifest_with_a_broken_chunk_plan_is_refused(psyq_cli: CLI, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "cohort.csv", phq9_rows(6))
    out = tmp_path / "out"
    assert psyq_cli(*batch_args(src, out, "--jobs", "2")).exit_code == 0
    header = chunk_lines(out)[0]
    (out / MANIFEST_NAME).write_text(json.dumps({**header, "taper": "two"}) + "\n")
    (out / "summary.json").unlink()
    refused = psyq_cli(*batch_args(src, out, "--jobs", "2", "--resume"))
    assert refused.exit_code == 2
    assert "chunk plan" in refused.output and "Traceback" not in refused.output
