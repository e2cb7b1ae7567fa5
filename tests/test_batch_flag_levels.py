"""Batch ``scores.csv`` gives each flag's level (``flag_levels``), as ``export`` does, so a
data manager can pick the rows with a critical flag without the definition; the same
cells on the per-row and the columnar (scores-only) path."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

CLI = Callable[..., Result]

ROWS = [
    # item 9 endorsed: the critical flag, and the syndrome algorithm's information flag
    ("C1", "2,2,2,2,1,1,1,1,1"),
    # item 9 left blank: psyq's own critical flag for an unanswered critical item
    ("C2", "0,0,0,0,0,0,0,0,"),
    ("C3", "0,0,0,0,0,0,0,0,0"),
]


def _input(tmp_path: Path) -> Path:
    src = tmp_path / "in.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["client_id", *(f"phq9_{n}" for n in range(1, 10))])
        for client, answers in ROWS:
            writer.writerow([client, *answers.split(",")])
    return src


@pytest.mark.parametrize("columnar", ["0", "1"])
def test_scores_csv_gives_each_flags_level(
    psyq_cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columnar: str
) -> None:
    monkeypatch.setenv("PSYQ_COLUMNAR", columnar)
    out = tmp_path / "out"
    made = psyq_cli(
        "batch", _input(tmp_path), "--instrument", "phq9", "--out", out, "--scores-only",
        "--summary", "html", "--quiet",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    with (out / "scores.csv").open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[header.index("flag_items") + 1] == "flag_levels"
    with (out / "scores.csv").open(encoding="utf-8", newline="") as fh:
        rows = {r["client_id"]: r for r in csv.DictReader(fh)}
    assert rows["C1"]["flag_levels"] == "suicidal_ideation:critical;major_depressive_syndrome:info"
    assert rows["C2"]["flag_levels"] == "critical_item_unanswered:critical"
    assert rows["C3"]["flag_levels"] == ""


def test_a_batch_begun_with_other_scores_columns_is_not_resumed_into_these(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """A batch an older psyq began wrote scores.csv lines without ``flag_levels``: resumed
    by this one, its done chunks' lines would sit under a header they do not fit."""
    out = tmp_path / "out"
    args = ("batch", _input(tmp_path), "--instrument", "phq9", "--out", out, "--scores-only")
    assert psyq_cli(*args, "--quiet").exit_code == 0
    manifest = next(p for p in out.iterdir() if p.name.endswith(".jsonl") or "manifest" in p.name)
    lines = manifest.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    del first["scores_columns"]  # as a manifest written before this release
    manifest.write_text("\n".join([json.dumps(first, sort_keys=True), *lines[1:]]) + "\n")
    again = psyq_cli(*args, "--resume")
    assert again.exit_code != 0
    assert "holds a batch of a different scores_columns" in again.output
