"""The columnar scores-only path writes exactly what the per-row path writes."""

from __future__ import annotations

import csv
import io
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
from psyq.errors import PsyqError
from psyq.manager import create_plugin_manager
from psyq.models import Instrument
from psyq.plugins.builtin_instruments import builtin_instruments_dir
from psyq.registry import InstrumentRegistry, load_instrument_file
from psyq.scoring import Scorer

from .cohorts import write_csv
from .definitions import definition
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


# Every spelling a `sex` cell may have, unknown and empty ones, and one psyq refuses.
SEXES = ["female", "male", "F", "m", " Woman ", "other", "unknown", "", "MALE", "x"]


def _rows(inst: Instrument, n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        row = {"client_id": f"C{k:05d}", "date": f"2025-{1 + k % 12:02d}-{1 + k % 28:02d}"}
        if inst.client_attributes:  # AUDIT, AUDIT-C: bands by each row's sex
            row["sex"] = SEXES[k % len(SEXES)]
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
        if inst.client_attributes and k % 7 == 4:
            # A golden example at a cut-off that depends on sex (AUDIT 7, AUDIT-C 3),
            # read with whatever sex this row has.
            examples = [e for e in inst.examples if e.client]
            example = examples[k % len(examples)]
            for item in inst.items:
                answer = example.answers.get(item.id)
                row[item.id] = "" if answer is None else str(answer)
        if k % 31 == 1:
            row["client_id"] = "=HYPERLINK(1)"  # neutralised the same way on both paths
        if k % 5 == 3:
            # Items a skip rule may skip left empty (skipped when the rule's condition
            # holds, plain missing when not); items a rule tests sometimes at the
            # value that skips, so both happen often.
            for item in inst.items:
                if item.skip is not None:
                    row[item.id] = ""
                    leaves = item.skip.when.leaves() if item.skip.when else []
                    for leaf in leaves:
                        if leaf.value is not None and rng.random() < 0.6:
                            for item_id in leaf.item_ids:
                                row[item_id] = str(int(leaf.value))
        rows.append(row)
    return rows


def _batch(
    src: Path,
    instrument: str,
    out: Path,
    env: dict[str, str],
    columnar: bool,
    extra: tuple[str, ...] = (),
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "psyq", "batch", str(src), "--instrument", instrument,
         "--out", str(out), "--scores-only", "--quiet", "--summary", "html", "--jobs", "2",
         *extra],
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
def test_every_builtin_instrument_takes_the_columnar_path(
    instrument_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSYQ_DISABLE_PLUGINS", "example")
    pm = create_plugin_manager()  # as a batch worker builds it
    inst = _instrument(instrument_id)
    assert unsupported(pm, inst) is None  # AUDIT, AUDIT-C too: bands by each row's sex


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
    src = write_csv(tmp_path / "in.csv", rows)
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
    if any(item.critical for item in inst.items):
        assert "critical_item_unanswered" in scores
    if any(item.skip for item in inst.items):
        assert _skipped_rows(inst, rows) >= 20  # the cohort has skips to score
    if inst.client_attributes:  # every reading of the bands, and a refused sex
        by_total: dict[str, set[str]] = {}
        for row in csv.DictReader(io.StringIO(scores)):
            by_total.setdefault(row["total"], set()).add(row["total_band"])
        assert {b.id for b in inst.total.bands} <= set().union(*by_total.values())
        # One total read three ways (women's, men's and no sex's cut-offs): AUDIT 7.
        assert max(len(bands) for bands in by_total.values()) == 3
        assert "sex 'x' is not one of" in errors
    _assert_prorated_column(inst, tmp_path / "columnar" / "scores.csv")


def _skipped_rows(inst: Instrument, rows: list[dict[str, str]]) -> int:
    """How many rows the per-row scorer scores with at least one skipped item."""
    scorer = Scorer(create_plugin_manager(load_entrypoints=False))
    count = 0
    for row in rows:
        try:
            result = scorer.score(inst, {i.id: row[i.id] for i in inst.items})
        except PsyqError:
            continue
        count += bool(result.skipped)
    return count


def _assert_prorated_column(inst: Instrument, path: Path) -> None:
    """Each scale whose rule prorates has a ``<scale>_prorated`` column: 1 where the
    score was prorated, 0 where every item was answered, empty when unscored."""
    with path.open(newline="") as fh:
        table = list(csv.DictReader(fh))
    for scale in inst.scales:
        column = f"{scale.id}_prorated"
        if not scale.missing.prorate:
            assert column not in table[0]
            continue
        marks = {(r[column], r[scale.id] == "") for r in table}
        assert marks <= {("1", False), ("0", False), ("", True)}
        assert ("1", False) in marks and ("0", False) in marks, scale.id


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
    src = write_csv(tmp_path / "in.csv", rows)
    _batch(src, "phq9", tmp_path / "out", env, columnar=True)
    with (tmp_path / "out" / "scores.csv").open(newline="") as fh:
        totals = [r["total"] for r in csv.DictReader(fh)]
    assert totals and all(t == "" or float(t) >= 100 for t in totals)
    assert any(t for t in totals)


YES_NO = """\
yesno:
  options:
    - {value: 0, label: "No"}
    - {value: 1, label: "Yes"}
    - {value: 9, label: "Don't know", missing: true}
"""
EVERYTHING = definition(
    "everything",
    title="Every feature the columnar path implements",
    short_name="EVERY",
    missing={777: "Declined"},
    other_scales=YES_NO,
    body="""\
items:
  - {id: e1, text: One, response_scale: freq}
  - {id: e2, text: Two, response_scale: freq, reverse: true}
  - {id: e3, text: Three, response_scale: freq, recode: {0: 0, 1: 2, 2: 4, 3: 6}}
  - {id: e4, text: Four, response_scale: freq, critical: true}
  - {id: e5, text: Five, response_scale: yesno, reverse: true, recode: {0: 1, 1: 0}}
  - {id: e6, text: Six, response_scale: yesno, critical: true}
  - {id: e7, text: Seven, response_scale: freq, scored: false}
scales:
  - id: total
    label: Total
    items: [e1, e2, e3, e4, e5, e6]
    weights: {e1: 2, e4: 3}
    missing: {max_missing: 2, prorate: true}
    bands:
      - id: low
        label: Low
        min: 0
        max: 12
        interpretation: Low.
        if_flagged:
          - {flags: [e4_high], text: Low but e4 high.}
      - {id: high, label: High, min: 13, max: 26, severity: 3}
  - id: mood
    label: Mood mean
    items: [e1, e2, e3]
    method: mean
    decimals: 2
    missing: {min_answered: 2}
    transform: {multiply: 2.5, add: -1}
    bands:
      - {id: ok, label: OK, min: -1, max: 5.5}
      - {id: raised, label: Raised, min: 5.51, max: 9, severity: 2}
  - id: extra
    label: Extra
    items: [e5, e6]
    missing: {max_missing: 0}
flags:
  - id: e4_high
    level: warning
    message: e4 high
    when: {item: e4, op: ">=", value: 2}
  - id: any_declined
    level: info
    message: something declined or skipped
    when: {items: [e1, e2, e3], missing: true}
  - id: answered_e6
    level: info
    message: e6 answered
    when: {item: e6, missing: false}
  - id: syndrome
    level: critical
    message: three of four high, one of them e1 or e2
    when:
      count:
        - {items: [e1, e2], op: ">=", value: 2}
        - {item: e3, op: "==", value: 3}
        - {item: e4, op: "!=", value: 0}
      at_least: 3
      including_one_of: [e1, e2]
  - id: quiet
    level: warning
    message: at most one answered high
    when:
      count:
        - {items: [e1, e2, e3, e4], op: ">", value: 1}
      at_most: 1
  - id: mood_or_total
    level: critical
    message: mood high or total high and e6 yes
    when:
      any:
        - {scale: mood, op: ">", value: 4.9}
        - all:
            - {scale: total, op: ">=", value: 20}
            - {item: e6, op: "==", value: 1}
""",
)

PACK = """
from pathlib import Path
from psyq import hookimpl
from psyq.registry import InstrumentSource

@hookimpl
def psyq_instrument_sources():
    return [InstrumentSource("everything pack", Path({folder!r}))]
"""


def test_every_format_feature_gives_the_same_bytes(tmp_path: Path) -> None:
    """Answers that count as missing, critical items, recode and reverse, weights,
    proration, mean with transform and decimals, and every condition kind."""
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "everything.yaml").write_text(EVERYTHING)
    env = {**installed_broken_plugin(tmp_path, PACK.format(folder=str(folder))), **NO_EXAMPLE}
    pm = create_plugin_manager(load_entrypoints=False)
    inst = load_instrument_file(pm, folder / "everything.yaml")
    assert unsupported(pm, inst) is None
    rows = _rows(inst, 1500, seed=11)
    src = write_csv(tmp_path / "in.csv", rows)
    _batch(src, "everything", tmp_path / "per-row", env, columnar=False)
    _batch(src, "everything", tmp_path / "columnar", env, columnar=True)
    _same_outputs(tmp_path / "per-row", tmp_path / "columnar")
    scores = (tmp_path / "columnar" / "scores.csv").read_text()
    for flag in [f.id for f in inst.flags] + ["critical_item_unanswered"]:
        assert flag in scores, flag
    assert "critical_item_unanswered;critical_item_unanswered" in scores
    # flag_items names every item that raised each flag, in item order, on both paths.
    assert "critical_item_unanswered:e4;critical_item_unanswered:e6" in scores
    assert re.search(r"\bsyndrome:e[123]( e[1234]){2,3}\b", scores)
    assert re.search(r"\bany_declined:e[12]( e[23])+\b", scores)
    _assert_prorated_column(inst, tmp_path / "columnar" / "scores.csv")


# -- cases the randomized test (test_batch_columnar_fuzz.py) found -------------------------


def _both_paths(tmp_path: Path, definition: str, rows: list[dict[str, str]]) -> str:
    """Batch ``rows`` with a definition in the local pack, on each path; the scores.csv
    both wrote (after checking they wrote the same bytes)."""
    folder = tmp_path / "home" / "instruments"
    folder.mkdir(parents=True)
    (folder / "case.yaml").write_text(definition)
    pm = create_plugin_manager(load_entrypoints=False)
    inst = load_instrument_file(pm, folder / "case.yaml")
    assert unsupported(pm, inst) is None
    src = write_csv(tmp_path / "in.csv", rows)
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    _batch(src, inst.id, tmp_path / "per-row", env, columnar=False)
    _batch(src, inst.id, tmp_path / "columnar", env, columnar=True)
    _same_outputs(tmp_path / "per-row", tmp_path / "columnar")
    return (tmp_path / "columnar" / "scores.csv").read_text()


CASE_HEAD = """\
version: "1"
title: A case
short_name: CASE
licence: test
status: provisional
response_scales:
  r:
    options: [{value: 0, label: "0"}, {value: 1, label: "1"}, {value: 2, label: "2"}]
"""


SKIP_COUNTS_AN_ITEM_TWICE = (
    "id: twice\n"
    + CASE_HEAD
    + """\
items:
  - {id: a, text: A, response_scale: r}
  - id: b
    text: B
    response_scale: r
    skip:
      score: 0
      when:
        count: [{item: a, op: "==", value: 2}, {item: a, op: "==", value: 0}]
        at_least: 1
scales:
  - {id: total, label: Total, items: [a, b]}
"""
)


def test_a_skip_rule_count_listing_an_item_twice(tmp_path: Path) -> None:
    """An item counts when it meets any of the tests that list it (the validator
    refuses an item listed twice in a flag's count, not in a skip rule's)."""
    rows = [
        {"client_id": f"C{k}", "date": "2025-01-02", "a": a, "b": ""}
        for k, a in enumerate(["0", "2", "1"])
    ]
    scores = _both_paths(tmp_path, SKIP_COUNTS_AN_ITEM_TWICE, rows)
    totals = [r["total"] for r in csv.DictReader(io.StringIO(scores))]
    assert totals == ["0", "2", ""]  # a=0 meets the second test: b is skipped, scored 0


@pytest.mark.parametrize(
    ("scale", "says"),
    [
        ("    method: mean\n    weights: {a: 1, b: 0}\n", "a mean divides by the answered"),
        ("    method: mean\n    weights: {a: -1, b: 2}\n", "(a: -1)"),
        (
            "    weights: {a: 1, b: -1, c: 1}\n    missing: {max_missing: 1, prorate: true}\n",
            "a prorated sum divides by the answered",
        ),
    ],
)
def test_weights_a_mean_or_a_prorated_sum_divides_by_must_be_above_zero(
    scale: str, says: str, tmp_path: Path
) -> None:
    """Answered items whose weights add up to 0 would divide by 0 (a row failing with an
    internal error, found by tests/test_batch_columnar_fuzz.py): `psyq validate` refuses
    the definition in one line naming the scale and the weights."""
    items = "\n".join(f"  - {{id: {i}, text: {i}, response_scale: r}}" for i in "abc")
    definition = (
        f"id: zero\n{CASE_HEAD}items:\n{items}\nscales:\n"
        f"  - id: total\n    label: Total\n    items: [a, b, c]\n{scale}"
    )
    path = tmp_path / "zero.yaml"
    path.write_text(definition)
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    run = subprocess.run(
        [sys.executable, "-m", "psyq", "validate", str(path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    output = run.stdout + run.stderr
    assert "scale 'total'" in output or "scale total" in output, output
    assert says in output and "must be above 0" in output, output
    assert "Traceback" not in output and "internal error" not in output


def test_a_zero_score_is_written_0_never_minus_0(tmp_path: Path) -> None:
    """A total of 0 that a transform makes -0.001 rounds to 0 at two decimals: it is
    written 0.00 on both paths, never -0.00 (numpy's unique and a dict take -0.0 and
    0.0 for one value, so the columnar path relies on rounding never giving -0.0)."""
    definition = (
        f"id: zero\n{CASE_HEAD}"
        + """\
items:
  - {id: a, text: A, response_scale: r}
  - {id: b, text: B, response_scale: r}
  - {id: c, text: C, response_scale: r}
scales:
  - id: total
    label: Total
    items: [a, b]
    missing: {max_missing: 1}
    decimals: 2
    transform: {multiply: -1, add: -0.001}
"""
    )
    cells = [("0", "0"), ("", "0"), ("1", "1"), ("0", "")]
    rows = [
        {"client_id": f"C{k}", "date": "2025-01-02", "a": a, "b": b, "c": "1"}
        for k, (a, b) in enumerate(cells)
    ]
    scores = _both_paths(tmp_path, definition, rows)
    totals = [r["total"] for r in csv.DictReader(io.StringIO(scores))]
    assert totals == ["0.00", "0.00", "-2.00", "0.00"]
