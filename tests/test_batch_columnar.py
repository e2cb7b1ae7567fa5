"""The columnar scores-only path writes exactly what the per-row path writes."""

from __future__ import annotations

import csv
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from psyq import hookimpl
from psyq.batch.columnar import unsupported
from psyq.batch.worker import ChunkJob, _context, run_chunk
from psyq.manager import create_plugin_manager
from psyq.models import Instrument
from psyq.plugins.builtin_instruments import builtin_instruments_dir
from psyq.registry import InstrumentRegistry, load_instrument_file

from .installed import installed_broken_plugin

BUILTIN = sorted(p.stem for p in builtin_instruments_dir().glob("*.yaml"))
# The example plugin (installed in the development environment) wraps a scoring
# stage, which rightly sends every batch down the per-row path: these tests turn
# it off so that the columnar path is the one compared.
NO_EXAMPLE = {"PSYQ_DISABLE_PLUGINS": "example"}


def _instrument(instrument_id: str) -> Instrument:
    return InstrumentRegistry(create_plugin_manager(load_entrypoints=False)).get(instrument_id)


def _cell(rng: random.Random, values: list[int], k: int) -> Any:
    """Mostly allowed answers; missing answers of every spelling; a few bad cells."""
    roll = rng.random()
    if roll < 0.06:
        return rng.choice(["", "-", "NA", "n/a", " ", "none"])
    if roll < 0.07:
        return rng.choice(["7", "x", "1.5", "-1", "1e3"])  # not an answer: an error row
    if roll < 0.08:
        return f" {rng.choice(values)} "  # allowed after stripping: the per-row path scores it
    return str(rng.choice(values))


def _rows(inst: Instrument, n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        row = {"client_id": f"C{k:05d}", "date": f"2025-{1 + k % 12:02d}-{1 + k % 28:02d}"}
        for item in inst.items:
            row[item.id] = _cell(rng, inst.response_scale_for(item).values, k)
        if k % 97 == 5:
            row["client_id"] = ""
        if k % 89 == 7:
            row["date"] = "2025-13-45"
        if k % 13 == 0:  # extremes, so every band and every flag is reached
            pick = max if k % 26 else min
            for item in inst.items:
                row[item.id] = str(pick(inst.response_scale_for(item).values))
        if k % 31 == 1:
            row["client_id"] = "=HYPERLINK(1)"  # neutralised the same way on both paths
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _batch(src: Path, instrument: str, out: Path, env: dict[str, str], columnar: bool) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "psyq", "batch", str(src), "--instrument", instrument,
         "--out", str(out), "--scores-only", "--quiet", "--summary", "html", "--jobs", "2"],
        env={**env, **NO_EXAMPLE, "PSYQ_COLUMNAR": "1" if columnar else "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr
    assert "Traceback" not in run.stderr


def _same_outputs(a: Path, b: Path) -> None:
    for name in ("scores.csv", "errors.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    times = ("started_at", "finished_at")
    summaries = [json.loads((d / "summary.json").read_text()) for d in (a, b)]
    for summary in summaries:
        for key in times:
            summary.pop(key, None)
    assert summaries[0] == summaries[1]
    # The page without its time stamp: counts, chart and listed respondents.
    html = [
        re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d( UTC)?", "", (d / "cohort-summary.html").read_text())
        for d in (a, b)
    ]
    assert html[0] == html[1]


@pytest.mark.parametrize("instrument_id", BUILTIN)
def test_every_builtin_instrument_is_columnar(
    instrument_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSYQ_DISABLE_PLUGINS", "example")
    pm = create_plugin_manager()  # as a batch worker builds it
    assert unsupported(pm, _instrument(instrument_id)) is None


def test_a_plugin_wrapping_a_stage_turns_it_off() -> None:
    pm = create_plugin_manager(load_entrypoints=False, extra_plugins=[("wrapper", _Wrapper())])
    assert unsupported(pm, _instrument("phq9")) == (
        "plugin 'wrapper' implements psyq_score_transform"
    )


class _Wrapper:
    @hookimpl(wrapper=True)
    def psyq_score_transform(self, state: Any) -> Generator[None, bool | None, bool | None]:
        return (yield)


@pytest.mark.parametrize("instrument_id", BUILTIN)
def test_columnar_batch_is_byte_identical_to_per_row(instrument_id: str, tmp_path: Path) -> None:
    inst = _instrument(instrument_id)
    rows = _rows(inst, 1200, seed=len(instrument_id))
    src = _write_csv(tmp_path / "in.csv", rows)
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    _batch(src, instrument_id, tmp_path / "per-row", env, columnar=False)
    _batch(src, instrument_id, tmp_path / "columnar", env, columnar=True)
    _same_outputs(tmp_path / "per-row", tmp_path / "columnar")
    scores = (tmp_path / "columnar" / "scores.csv").read_text()
    errors = (tmp_path / "columnar" / "errors.csv").read_text()
    # The cohort really has what the test is about.
    assert "is not an allowed answer" in errors and "the client id is empty" in errors
    assert "is not a date" in errors
    assert "'=HYPERLINK(1)" in scores
    if inst.flags:
        assert any(flag.id in scores for flag in inst.flags)


def test_jsonl_cells_of_every_type(tmp_path: Path) -> None:
    """Numbers, floats, booleans, nulls and lists: each on the path that words it right."""
    inst = _instrument("phq9")
    rng = random.Random(3)
    lines = []
    for k in range(400):
        row: dict[str, Any] = {"client_id": f"J{k}", "date": "2025-02-03"}
        for item in inst.items:
            row[item.id] = rng.choice([0, 1, 2, 3, 2.0, None, True, [1], "2", 2.5, "", {"a": 1}])
        lines.append(json.dumps(row))
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    _batch(src, "phq9", tmp_path / "per-row", env, columnar=False)
    _batch(src, "phq9", tmp_path / "columnar", env, columnar=True)
    _same_outputs(tmp_path / "per-row", tmp_path / "columnar")


def _chunk(inst: Instrument, rows: list[dict[str, str]]) -> ChunkJob:
    ids = [item.id for item in inst.items]
    return ChunkJob(
        0,
        inst.model_dump(mode="json"),
        inst.content_hash(),
        (),
        "2026-01-01T00:00:00",
        tuple(
            (n + 2, r["client_id"], r["date"], "", tuple(r[i] for i in ids), None)
            for n, r in enumerate(rows)
        ),
    )


def test_the_worker_takes_the_columnar_path(monkeypatch: pytest.MonkeyPatch) -> None:
    inst = _instrument("ccts")
    job = _chunk(inst, _rows(inst, 50, seed=1))
    monkeypatch.setenv("PSYQ_COLUMNAR", "1")
    monkeypatch.setenv("PSYQ_DISABLE_PLUGINS", "example")
    result = run_chunk(job)
    assert _context(job).columnar is not None
    assert result.rows == 50


def test_an_instrument_with_a_plugin_method_is_scored_row_by_row(
    minimal_yaml: str, tmp_path: Path
) -> None:
    path = tmp_path / "mini.yaml"
    text = minimal_yaml.replace("label: Total\n", "label: Total\n    method: median\n")
    path.write_text(text.replace("prorate: true", "prorate: false"))
    pm = create_plugin_manager(load_entrypoints=False)
    inst = load_instrument_file(pm, path)
    assert unsupported(pm, inst) == "scale total: method 'median'"


PLUGIN = """
from psyq import hookimpl

@hookimpl(tryfirst=True)
def psyq_score_transform(state):
    for st in state.scales.values():
        if st.scaled is not None and st.scorable:
            st.value = 100 + st.scaled
    return True
"""


def test_a_plugin_that_hooks_scoring_gets_the_per_row_path(tmp_path: Path) -> None:
    """An installed plugin replacing a stage: its scores, not the columnar ones."""
    env = {**installed_broken_plugin(tmp_path, PLUGIN), **NO_EXAMPLE}
    inst = _instrument("phq9")
    rows = _rows(inst, 30, seed=2)
    src = _write_csv(tmp_path / "in.csv", rows)
    _batch(src, "phq9", tmp_path / "out", env, columnar=True)
    with (tmp_path / "out" / "scores.csv").open(newline="") as fh:
        totals = [r["total"] for r in csv.DictReader(fh)]
    assert totals and all(t == "" or float(t) >= 100 for t in totals)
    assert any(t for t in totals)
