"""Randomized differential test: the columnar scores-only path against the per-row path.

tests/test_batch_columnar.py compares the two paths on the built-in instruments
and one hand-written definition. Here the definitions are generated: random
valid instruments built only from the format's own features (response scales
with options that count as missing, reverse and recoded items, required,
unscored and critical items, skip rules with conditions, sum and mean scales
with whole-number weights (zero and negative ones in plain sums), missing-data rules with
proration, linear transforms, decimals, bands that tile the range, bands by the
client's sex, and flags of every condition kind), and random rows for them
(allowed answers, every missing spelling, out-of-range numbers, junk text,
``1.0``/``2.5``, padded cells, JSON numbers, booleans and lists, empty and
repeated client ids, bad dates, every ``sex`` spelling, rows with a reading
problem).

Each definition is scored by the batch worker twice, once on each path, and the
scores lines, error lines and cohort statistics must be the same; a few are run
through ``psyq batch`` itself (CSV, JSONL and FHIR NDJSON) and the files compared
byte for byte. Seeds are fixed, so a run is the same run every time.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from psyq.answers import MISSING_TOKENS
from psyq.batch import worker
from psyq.batch.cohort import LISTED_FLAGGED, CohortStats
from psyq.batch.columnar import unsupported
from psyq.batch.inputs import _text
from psyq.batch.worker import ChunkJob, _context, run_chunk
from psyq.errors import PsyqError
from psyq.manager import create_plugin_manager
from psyq.models import Instrument
from psyq.registry import load_instrument_file
from psyq.scoring import Scorer

from .cohorts import write_csv
from .test_batch_columnar import _batch, _same_outputs

BLOCKS = 8  # seeds 0..7, one test each, so a failure names a small seed block
PER_BLOCK = 40  # definitions generated per block
ROWS = 160  # rows per definition
LONG = 600  # rows for every tenth definition (the summary lists 200 unflagged ones)

MISSING_CODES = (777, 9, -99, 999)
OPS = (">", ">=", "<", "<=", "==", "!=")
SEXES = ["female", "male", "F", "m", " Woman ", "other", "unknown", "", "MALE", "x", "intersex"]


# -- definitions ---------------------------------------------------------------------


def _response_scale(rng: random.Random) -> dict[str, Any]:
    n = rng.randint(2, 6)
    if rng.random() < 0.7:
        start = rng.choice([0, 0, 1, -2, -1])
        values = list(range(start, start + n))
    else:
        values = sorted(rng.sample(range(-4, 11), n))
    if rng.random() < 0.3:
        rng.shuffle(values)  # options in any order
    options: list[dict[str, Any]] = [{"value": v, "label": f"v{v}"} for v in values]
    if rng.random() < 0.35:
        code = rng.choice([c for c in MISSING_CODES if c not in values])
        options.append({"value": code, "label": "Declined", "missing": True})
    if rng.random() < 0.1 and len(options) > 2:
        options[0]["missing"] = True  # an in-range option that counts as missing
    return {"options": options}


def _scored(rs: dict[str, Any]) -> list[int]:
    return [o["value"] for o in rs["options"] if not o.get("missing")]


def _every(rs: dict[str, Any]) -> list[int]:
    return [o["value"] for o in rs["options"]]


def _leaf(
    rng: random.Random,
    items: list[dict[str, Any]],
    scales: dict[str, dict[str, Any]],
    pool: list[str],
    item_only: bool = False,
) -> dict[str, Any]:
    """One item, items or scale test (a count's test when ``item_only``)."""
    if not item_only and scales and rng.random() < 0.2:
        return {
            "scale": rng.choice(sorted(scales)),
            "op": rng.choice(OPS),
            "value": rng.choice([0, 1, 2, 3, 5, 1.5, 2.25, -1, 8, -0.0]),
        }
    ids = rng.sample(pool, min(len(pool), rng.choice([1, 1, 1, 2, 3])))
    test: dict[str, Any] = {"item": ids[0]} if len(ids) == 1 else {"items": ids}
    if rng.random() < 0.25:
        test["missing"] = rng.random() < 0.7
    else:
        by_id = {i["id"]: i for i in items}
        values = by_id[ids[0]]["_values"]
        test["op"] = rng.choice(OPS)
        test["value"] = rng.choice([*values, *values, 1.5, -1, -0.0, 1_000_000])
    return test


def _tested(condition: Any) -> set[str]:
    """The item ids a generated condition tests."""
    if isinstance(condition, list):
        return set().union(*map(_tested, condition)) if condition else set()
    if not isinstance(condition, dict):
        return set()
    found = {condition["item"]} if isinstance(condition.get("item"), str) else set()
    found |= set(condition.get("items") or []) | set(condition.get("including_one_of") or [])
    return found.union(*(_tested(v) for k, v in condition.items() if k in ("any", "all", "count")))


def _reach(start: str, needs: dict[str, set[str]]) -> set[str]:
    """Every item ``start``'s skip depends on, through other items' skips."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for item in needs.get(todo.pop(), set()) - seen:
            seen.add(item)
            todo.append(item)
    return seen


def _condition(
    rng: random.Random,
    items: list[dict[str, Any]],
    scales: dict[str, dict[str, Any]],
    pool: list[str],
    depth: int = 0,
    repeats: bool = False,
) -> dict[str, Any]:
    """A random condition on the items in ``pool`` (and scales). ``repeats``: a count
    may list an item twice (the validator refuses that in flags, not in skip rules)."""
    roll = rng.random()
    if depth < 2 and roll < 0.25:
        kind = rng.choice(["any", "all"])
        subs = [
            _condition(rng, items, scales, pool, depth + 1, repeats)
            for _ in range(rng.randint(1, 3))
        ]
        return {kind: subs}
    if roll < 0.45:
        subs, counted = [], []
        for _ in range(rng.randint(1, 3)):
            left = [i for i in pool if i not in counted] if not repeats else pool
            if not left:
                break
            sub = _leaf(rng, items, scales, left, item_only=True)
            listed = [sub["item"]] if "item" in sub else sub["items"]
            counted += [i for i in listed if i not in counted]
            subs.append(sub)
        n = len(counted)
        cond: dict[str, Any] = {"count": subs}
        shape = rng.random()
        if shape < 0.5:
            cond["at_least"] = rng.randint(0, n)
        elif shape < 0.75:
            cond["at_most"] = rng.randint(0, n)
        else:
            low = rng.randint(0, n)
            cond["at_least"], cond["at_most"] = low, rng.randint(low, n)
        if rng.random() < 0.3:
            cond["including_one_of"] = rng.sample(counted, rng.randint(1, n))
        return cond
    return _leaf(rng, items, scales, pool)


def _bands(
    rng: random.Random, lo: float, hi: float, decimals: int, prefix: str
) -> list[dict[str, Any]]:
    """Bands tiling [lo, hi] on the scale's grid of 10**-decimals."""
    step = 10.0**-decimals
    steps = round((hi - lo) / step)
    k = min(rng.randint(1, 4), steps + 1)
    cuts = sorted(rng.sample(range(steps), k - 1)) if k > 1 else []
    bounds = [-1, *cuts, steps]
    out = []
    for j in range(k):
        low = round(lo + (bounds[j] + 1) * step, decimals)
        high = round(lo + bounds[j + 1] * step, decimals)
        band: dict[str, Any] = {
            "id": f"{prefix}b{j}",
            "label": f"Band {j}",
            "min": lo if j == 0 else low,
            "max": high,
            "severity": rng.randint(0, 4),
        }
        if rng.random() < 0.1:
            band["interpretation"] = "Text."
        out.append(band)
    return out


def _definition(rng: random.Random, number: int) -> dict[str, Any]:
    """A random definition (not yet validated; most are valid)."""
    rss = {f"rs{k}": _response_scale(rng) for k in range(rng.randint(1, 3))}
    items: list[dict[str, Any]] = []
    for k in range(rng.randint(40, 63) if rng.random() < 0.04 else rng.randint(2, 9)):
        rs_id = rng.choice(sorted(rss))
        rs = rss[rs_id]
        item: dict[str, Any] = {"id": f"i{k}", "text": f"Item {k}", "response_scale": rs_id}
        item["_values"] = _every(rs)
        if rng.random() < 0.3:
            item["reverse"] = True
        if rng.random() < 0.08:
            item["required"] = True
        if rng.random() < 0.08:
            item["scored"] = False
        elif rng.random() < 0.15:
            item["critical"] = True
        if rng.random() < 0.2:
            chosen = rng.sample(_every(rs), rng.randint(1, len(rs["options"])))
            item["recode"] = {v: rng.randint(-3, 6) for v in chosen}
            if rng.random() < 0.05:
                item["recode"][chosen[-1]] = rng.choice([1_000_000, -999_999])
            if rng.random() < 0.03:
                item["recode"][chosen[0]] = 1.5  # refused by the columnar path
        items.append(item)
    ids = [i["id"] for i in items]
    needs: dict[str, set[str]] = {}  # item -> the items its skip condition tests
    for item in items:
        if rng.random() < 0.25 and len(items) > 1:
            recode = item.get("recode", {})
            values = [recode.get(v, v) for v in _scored(rss[item["response_scale"]])]
            every = [recode.get(v, v) for v in _every(rss[item["response_scale"]])]
            score = (
                rng.choice(values)
                if rng.random() < 0.9
                else rng.randint(int(min(every)), int(max(every)))
            )
            skip: dict[str, Any] = {"score": score}
            # Any item but those whose own skip already depends on this one: skip logic
            # may not loop (the validator refuses items that skip each other).
            others = [i for i in ids if i != item["id"] and item["id"] not in _reach(i, needs)]
            if others and rng.random() < 0.8:
                skip["when"] = _condition(rng, items, {}, others, repeats=rng.random() < 0.4)
                needs[item["id"]] = _tested(skip["when"])
            item["skip"] = skip
    scored = [i["id"] for i in items if i.get("scored", True)] or [ids[0]]
    scales: list[dict[str, Any]] = []
    for k in range(rng.randint(1, 3)):
        members = scored if k == 0 and rng.random() < 0.6 else _subset(rng, scored)
        scale: dict[str, Any] = {
            "id": "total" if k == 0 else f"s{k}",
            "label": f"Scale {k}",
            "items": members,
            "method": rng.choice(["sum", "sum", "mean"]),
        }
        if rng.random() < 0.35:
            big = [1_000_000, -1_000_000] if rng.random() < 0.1 else []
            scale["weights"] = {i: rng.choice([-2, -1, 0, 1, 2, 3, *big]) for i in members}
        if rng.random() < 0.03:
            scale["weights"] = {members[0]: 0.5}  # refused by the columnar path
        rule: dict[str, Any] = {}
        n = len(members)
        if rng.random() < 0.5:
            rule["max_missing"] = rng.randint(0, n - 1)
        if rng.random() < 0.3:
            rule["min_answered"] = rng.randint(1, n)
        if scale["method"] == "sum" and rng.random() < 0.4:
            rule["prorate"] = True
        scale["missing"] = rule
        if "weights" in scale and (scale["method"] == "mean" or rule.get("prorate")):
            # Both divide by the answered items' weights: the format wants each above 0.
            scale["weights"] = {
                i: w if w > 0 else rng.choice([1, 2, 3, 1_000_000])
                for i, w in scale["weights"].items()
            }
        scale["decimals"] = rng.choice([0, 0, 1, 2, 3, 6]) if scale["method"] == "sum" else 2
        if rng.random() < 0.3:
            scale["transform"] = {
                "multiply": rng.choice([0.5, 2, -1, 1.5, 10, 0.1, 2.5, 1 / 3, 1e6, 0]),
                "add": rng.choice([-1, 0, 5, 0.25, 50, -0.0, 999_999.5]),
            }
        if rng.random() < 0.2:  # fields that do not change a score
            scale["higher_is_worse"] = rng.random() < 0.5
            scale["clinical_cutoff"] = rng.choice([0, 1, 5])
            scale["reliable_change"] = {"threshold": 2}
            scale["codes"] = [{"system": "http://loinc.org", "code": "1-1"}]
        scales.append(scale)
    flags = []
    scale_ids = {s["id"]: s for s in scales}
    for k in range(rng.randint(20, 62) if rng.random() < 0.03 else rng.randint(0, 4)):
        when = _condition(rng, items, scale_ids, ids)
        level = rng.choice(["critical", "warning", "info"])
        if level == "critical" and _tests_unscored_missing(when, items):
            level = "warning"
        flags.append({"id": f"f{k}", "level": level, "message": f"Flag {k}", "when": when})
    for item in items:
        del item["_values"]
    return {
        "id": f"gen{number}",
        "version": "1",
        "title": f"Generated {number}",
        "short_name": f"GEN{number}",
        "licence": "test",
        "status": "provisional",
        "response_scales": rss,
        "items": items,
        "scales": scales,
        "flags": flags,
    }


def _subset(rng: random.Random, ids: list[str]) -> list[str]:
    picked = rng.sample(ids, rng.randint(1, len(ids)))
    return [i for i in ids if i in picked] if rng.random() < 0.7 else picked


def _tests_unscored_missing(cond: dict[str, Any], items: list[dict[str, Any]]) -> bool:
    unscored = {i["id"] for i in items if not i.get("scored", True)}
    subs = cond.get("any") or cond.get("all") or cond.get("count")
    if subs:
        return any(_tests_unscored_missing(s, items) for s in subs)
    listed = [cond["item"]] if "item" in cond else cond.get("items", [])
    return bool(cond.get("missing")) and bool(unscored & set(listed))


def _with_bands(rng: random.Random, data: dict[str, Any], inst: Instrument) -> dict[str, Any]:
    """``data`` with bands (and some client_bands) tiling each scale's range."""
    for scale in data["scales"]:
        if rng.random() < 0.3:
            continue
        lo, hi = inst.bounds(scale["id"])
        d = scale["decimals"]
        scale["bands"] = _bands(rng, lo, hi, d, "")
        if rng.random() < 0.35:
            sexes = rng.sample(["female", "male", "other"], rng.randint(1, 3))
            scale["client_bands"] = [
                {"client": {"sex": s}, "bands": _bands(rng, lo, hi, d, s[0])} for s in sexes
            ]
    return data


def generate(seed: int, count: int) -> tuple[list[Instrument], int]:
    """``count`` attempts at a valid definition; the valid ones and how many were tried."""
    rng = random.Random(seed)
    out = []
    for k in range(count):
        data = _definition(rng, seed * 1000 + k)
        try:
            bare = Instrument.model_validate(data)
            out.append(Instrument.model_validate(_with_bands(rng, data, bare)))
        except ValidationError:
            continue
    return out, count


# -- rows ------------------------------------------------------------------------------


BLANKS = ["", "", "", "-", "na", "none", "null", "n/a"]  # spellings the fast path reads
ODD_BLANKS = ["NA", " ", "None", "N/A"]  # missing too, read by the per-row path


def _cell(rng: random.Random, values: list[int], mode: str, as_json: bool) -> Any:
    """One answer cell; ``values`` are the item's options (those counting as missing too)."""
    if mode == "extreme":
        return str(rng.choice([min(values), max(values)]))
    blank = 0.5 if mode == "sparse" else 0.12
    roll = rng.random()
    if roll < blank:
        return rng.choice(BLANKS + ODD_BLANKS if mode == "noisy" else BLANKS)
    if mode == "noisy" and roll < blank + 0.25:
        bad: list[Any] = [
            str(max(values) + rng.randint(1, 3)), str(min(values) - 1), "x", "1.0", "2.5",
            f" {rng.choice(values)} ", "+1", "01", "1e0", "\u0661", "-0", "TRUE",
        ]  # fmt: skip
        if as_json:
            v = rng.choice(values)
            bad += [v, float(v), 2.5, None, True, False, [v], {"a": v}, str(v)]
        return rng.choice(bad)
    v = rng.choice(values)
    if as_json and rng.random() < 0.5:
        return v if rng.random() < 0.8 else float(v)
    return str(v)


def make_rows(inst: Instrument, n: int, seed: int, as_json: bool = False) -> list[dict[str, Any]]:
    """Rows for ``inst``: mostly clean ones (which the columnar path takes), with
    sparse, extreme and noisy ones among them."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for k in range(n):
        mode = rng.choices(["clean", "sparse", "extreme", "noisy"], [55, 15, 10, 20])[0]
        client = f"C{k}" if rng.random() > 0.1 else rng.choice(["", "C0", "C1", "=SUM(1)", " C7 "])
        date = f"2025-{1 + k % 12:02d}-{1 + k % 28:02d}"
        if rng.random() < 0.06:
            date = rng.choice(["", "2025-13-45", "2025-01-02T10:00:00", "yesterday"])
        row: dict[str, Any] = {"client_id": client, "date": date}
        if inst.client_attributes:
            odd: list[Any] = [1, True, None, ["female"]] if as_json else []
            row["sex"] = rng.choice(SEXES + odd)
        for item in inst.items:
            row[item.id] = _cell(rng, inst.response_scale_for(item).values, mode, as_json)
        if rng.random() < 0.25:
            # Items a skip rule may skip left empty, and the items its condition
            # tests at a value it compares with, so skips happen often.
            for item in inst.items:
                if item.skip is None:
                    continue
                row[item.id] = ""
                for leaf in item.skip.when.leaves() if item.skip.when else []:
                    if leaf.value is not None and float(leaf.value).is_integer():
                        for item_id in leaf.item_ids:
                            allowed = inst.response_scale_for(inst.item(item_id)).values
                            if int(leaf.value) in allowed and rng.random() < 0.7:
                                row[item_id] = str(int(leaf.value))
        rows.append(row)
    return rows


def _job(inst: Instrument, rows: list[dict[str, Any]]) -> ChunkJob:
    ids = [item.id for item in inst.items]
    jobs = []
    sexes = {}
    for n, r in enumerate(rows):
        number = n + 2
        problem = "has 3 cells but the header has 9" if n % 53 == 17 else None
        jobs.append(
            (number, r["client_id"].strip(), r["date"], "", tuple(r[i] for i in ids), problem)
        )
        sex = _text(r.get("sex"))  # as the JSONL reader reads it (a CSV cell: stripped)
        if sex:
            sexes[number] = sex
    return ChunkJob(
        0,
        inst.model_dump(mode="json"),
        inst.content_hash(),
        (),
        "2026-01-01T00:00:00",
        tuple(jobs),
        sexes=sexes,
    )


def _run(
    job: ChunkJob, columnar: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], bool]:
    """The chunk's manifest line on one path, and whether it was the columnar one."""
    monkeypatch.setenv("PSYQ_COLUMNAR", "1" if columnar else "0")
    monkeypatch.setattr(worker._local, "cache", {}, raising=False)
    line = json.loads(run_chunk(job).record)
    return line, _context(job).columnar is not None


def _cohort(inst: Instrument, part: dict[str, Any]) -> dict[str, Any]:
    """What the summary is made of, once the parent merged the chunk."""
    stats = CohortStats(inst)
    stats.merge(part)
    return {
        "summary": stats.summary(),
        "listed": stats.listed(),
        "totals": sorted((repr(v), n) for v, n in stats.totals.items()),
        "unlisted": (stats.unlisted_flagged, stats.unlisted_others),
    }


def _shown(inst: Instrument) -> str:
    import yaml

    return yaml.safe_dump(inst.model_dump(mode="json", exclude_none=True), sort_keys=False)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy's, printed on a batch's stderr
@pytest.mark.parametrize("block", range(BLOCKS))
def test_generated_definitions_score_the_same_on_both_paths(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSYQ_DISABLE_PLUGINS", "example")
    pm = create_plugin_manager(warn=lambda _: None)
    monkeypatch.setattr(worker, "_preloaded_pm", pm)  # as the fork server gives workers
    instruments, tried = generate(block, PER_BLOCK)
    accepted = [inst for inst in instruments if unsupported(pm, inst) is None]
    # The generator makes valid definitions the columnar path takes, mostly (a few
    # have a fractional weight or recode, which it refuses).
    assert len(instruments) >= 0.9 * tried
    assert len(accepted) >= 0.8 * len(instruments)
    fast = total = 0
    for k, inst in enumerate(accepted):
        # Some cohorts are long enough that not every unflagged respondent is listed.
        n = LONG if k % 10 == 0 else ROWS
        rows = make_rows(inst, n, seed=block * 1000 + k, as_json=k % 3 == 2)
        job = _job(inst, rows)
        per_row, used = _run(job, False, monkeypatch)
        assert not used
        columnar, used = _run(job, True, monkeypatch)
        assert used
        where = f"definition:\n{_shown(inst)}"
        assert columnar["scores"] == per_row["scores"], where
        assert columnar["errors"] == per_row["errors"], where
        assert _cohort(inst, columnar["cohort"]) == _cohort(inst, per_row["cohort"]), where
        scorer = _context(job).columnar
        assert scorer is not None
        ok = scorer.score(job.rows, job.sexes)["ok"]
        fast += int(ok.sum())
        total += len(job.rows)
    # Most rows really took the columnar path (the others are its per-row fallback).
    assert fast >= 0.4 * total


def test_more_flagged_respondents_than_the_summary_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past LISTED_FLAGGED flagged respondents in one chunk, both paths list the same."""
    monkeypatch.setenv("PSYQ_DISABLE_PLUGINS", "example")
    pm = create_plugin_manager(warn=lambda _: None)
    monkeypatch.setattr(worker, "_preloaded_pm", pm)
    instruments, _ = generate(BLOCKS, 10)
    for k, inst in enumerate(i for i in instruments if unsupported(pm, i) is None):
        data = inst.model_dump(mode="json")
        first = data["items"][0]["id"]
        data["flags"].append(
            {
                "id": "answered",
                "level": "info",
                "message": "-",
                "when": {"item": first, "missing": False},
            }
        )
        flagged = Instrument.model_validate(data)
        job = _job(flagged, make_rows(flagged, 2400, seed=k))
        per_row, _ = _run(job, False, monkeypatch)
        columnar, used = _run(job, True, monkeypatch)
        assert used and columnar["scores"] == per_row["scores"]
        assert _cohort(flagged, columnar["cohort"]) == _cohort(flagged, per_row["cohort"])
        assert per_row["cohort"]["flagged_count"] > LISTED_FLAGGED
        if k == 2:
            break


# -- through `psyq batch` ------------------------------------------------------------


CLI_SEED = 99
CLI_ROWS = 1300  # several chunks of --chunk-size 250, on two workers

# Each picks a generated definition for one run of the real command.
CLI_CASES: dict[str, tuple[Callable[[Instrument], bool], str]] = {
    "bands-by-sex-csv": (lambda i: bool(i.client_attributes), "csv"),
    "skip-and-prorate-csv": (
        lambda i: any(x.skip for x in i.items) and any(s.missing.prorate for s in i.scales),
        "csv",
    ),
    "critical-and-flags-jsonl": (
        lambda i: any(x.critical for x in i.items) and len(i.flags) >= 2,
        "jsonl",
    ),
    "weights-and-transform-csv": (
        lambda i: any(s.weights and s.transform for s in i.scales),
        "csv",
    ),
    "forty-items-or-more-jsonl": (lambda i: len(i.items) >= 40, "jsonl"),
    "no-required-item-fhir": (lambda i: not any(x.required for x in i.items), "fhir"),
}


def _cli_picks() -> dict[str, Instrument]:
    """A distinct generated definition the columnar path takes, per case."""
    pm = create_plugin_manager(load_entrypoints=False)
    instruments, _ = generate(CLI_SEED, 150)
    picks: dict[str, Instrument] = {}
    for case, (wanted, _) in CLI_CASES.items():
        taken = {i.id for i in picks.values()}
        picks[case] = next(
            i for i in instruments if wanted(i) and i.id not in taken and unsupported(pm, i) is None
        )
    return picks


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_generated_definitions_through_the_batch_command(case: str, tmp_path: Path) -> None:
    """A generated definition in the local pack ($PSYQ_HOME/instruments), batched on
    each path: scores.csv, errors.csv and the summary are the same bytes."""
    kind = CLI_CASES[case][1]
    inst = _cli_picks()[case]
    pm = create_plugin_manager(load_entrypoints=False)
    folder = tmp_path / "home" / "instruments"
    folder.mkdir(parents=True)
    (folder / f"{inst.id}.yaml").write_text(_shown(inst))
    assert load_instrument_file(pm, folder / f"{inst.id}.yaml") == inst  # the same definition
    rows = make_rows(inst, CLI_ROWS, seed=len(case), as_json=kind == "jsonl")
    if kind == "csv":
        src = write_csv(tmp_path / "in.csv", rows)
    elif kind == "jsonl":
        src = tmp_path / "in.jsonl"
        src.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        src = tmp_path / "in.ndjson"
        src.write_text("".join(json.dumps(_response(inst, row)) + "\n" for row in rows))
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    chunks = ("--chunk-size", "250")
    _batch(src, inst.id, tmp_path / "per-row", env, columnar=False, extra=chunks)
    _batch(src, inst.id, tmp_path / "columnar", env, columnar=True, extra=chunks)
    _same_outputs(tmp_path / "per-row", tmp_path / "columnar")
    with (tmp_path / "columnar" / "scores.csv").open(newline="") as fh:
        scored = list(csv.DictReader(fh))
    errors = (tmp_path / "columnar" / "errors.csv").read_text()
    # The cohort has what the case is about: scores, refused cells, flags.
    assert len(scored) > CLI_ROWS / 4 and "is not an allowed answer" in errors
    if kind == "jsonl" or case.startswith("critical"):
        assert any(r["flags"] for r in scored)
    if inst.client_attributes and kind != "fhir":
        assert "is not one of" in errors  # a sex psyq does not know


def _response(inst: Instrument, row: dict[str, Any]) -> dict[str, Any]:
    """A row as a FHIR QuestionnaireResponse (FHIR Bulk Data NDJSON): an answer as a
    valueInteger where it is a whole number, else as the text given (or its JSON)."""
    items = []
    for item in inst.items:
        cell = row[item.id]
        if cell is None or (isinstance(cell, str) and cell.strip().lower() in MISSING_TOKENS):
            continue
        answer: dict[str, Any]
        if isinstance(cell, int) and not isinstance(cell, bool):
            answer = {"valueInteger": cell}
        elif isinstance(cell, str) and cell.strip().lstrip("-").isdigit():
            answer = {"valueInteger": int(cell)}
        else:
            answer = {"valueString": cell if isinstance(cell, str) else json.dumps(cell)}
        items.append({"linkId": item.id, "answer": [answer]})
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "subject": {"identifier": {"value": row["client_id"]}},
        "authored": row["date"],
        "item": items,
    }


@pytest.mark.parametrize("block", range(BLOCKS))
def test_generated_definitions_built_from_the_cache_score_as_validated(block: int) -> None:
    """Every command builds its instrument from the definition cache without validating it
    again when the entry is exact (psyq.definition_cache): for each generated definition
    the cache would mark exact, the built instrument scores generated rows, including
    the ones it refuses, exactly as the validated one does."""
    from psyq.definition_cache import _builds_back
    from psyq.models import construct_instrument

    scorer = Scorer(create_plugin_manager(load_entrypoints=False))
    instruments, _ = generate(block, PER_BLOCK)
    exact = 0
    for k, inst in enumerate(instruments):
        text = json.dumps(inst.model_dump(mode="json"), separators=(",", ":"))
        if not _builds_back(text, inst):
            continue  # such an entry is validated on every use
        exact += 1
        built = construct_instrument(json.loads(text))
        for row in make_rows(inst, 40, seed=block * 1000 + k, as_json=k % 3 == 2):
            answers = {item.id: row[item.id] for item in inst.items}
            sex = _text(row.get("sex")).strip().lower()
            client = {"sex": sex} if sex in ("female", "male") else None
            outcomes = []
            for instrument in (inst, built):
                try:
                    result = scorer.score(instrument, answers, client)
                    outcomes.append(result.model_dump(mode="json"))
                except (PsyqError, ValueError) as exc:
                    outcomes.append({"refused": str(exc)})
            assert outcomes[0] == outcomes[1], f"definition:\n{_shown(inst)}\nrow: {row}"
    # The cache's fast path is what is being tested: most definitions take it.
    assert exact >= 0.9 * len(instruments)
