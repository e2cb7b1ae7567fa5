"""Red team 5 on the instrument library: every built-in scored as its manual says.

The published numbers are written here, each with its citation, and never read from
the definitions: item ranges and reverse-keying (answers are built from them), band
edges, critical items. Every band edge of every banded scale is scored through
``psyq score ID --answers ... --json`` and compared with the publication.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from psyq.testing import CLI

# -- the published forms ---------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One answer position of the printed form: the scores it can give, and the
    answer (as psyq stores it) that gives each score."""

    scores: tuple[int, ...]
    reverse: bool = False  # the answer is the printed position; score = max - position

    def answer(self, score: int) -> int:
        return max(self.scores) - score if self.reverse else score


@dataclass(frozen=True)
class Form:
    items: tuple[Item | None, ...]  # None: an unscored position (left blank)
    fixed: dict[int, int] = field(default_factory=dict)  # 1-based position -> answer


def _n(count: int, scores: tuple[int, ...]) -> tuple[Item, ...]:
    return tuple(Item(scores) for _ in range(count))


S02, S03, S04, S05 = (0, 1, 2), (0, 1, 2, 3), (0, 1, 2, 3, 4), (0, 1, 2, 3, 4, 5)
S15, YN = (1, 2, 3, 4, 5), (0, 1)

FORMS: dict[str, Form] = {
    # Kroenke, Spitzer & Williams 2001: items 1-9 0-3; item 10 (difficulty) not scored.
    "phq9": Form((*_n(9, S03), None)),
    # Spitzer et al. 2006: 7 items 0-3.
    "gad7": Form(_n(7, S03)),
    # Kroenke et al. 2003 / 2007: 2 items 0-3.
    "phq2": Form(_n(2, S03)),
    "gad2": Form(_n(2, S03)),
    # Kroenke et al. 2002: 15 items 0-2.
    "phq15": Form(_n(15, S02)),
    # Cox, Holden & Sagovsky 1987: answers are printed positions (first = 0); items 3 and
    # 5-10 are printed with the most severe option first, scored 3..0.
    "epds": Form(tuple(Item(S03, reverse=n in (3, 5, 6, 7, 8, 9, 10)) for n in range(1, 11))),
    # WHO AUDIT manual (Babor et al. 2001): items 1-8 0-4, items 9 and 10 0, 2 or 4.
    "audit": Form((*_n(8, S04), Item((0, 2, 4)), Item((0, 2, 4)))),
    # Bush et al. 1998: AUDIT items 1-3, 0-4 each.
    "auditc": Form(_n(3, S04)),
    # Kessler et al. 2002: 10 items 1 (none of the time) - 5 (all of the time).
    "k10": Form(_n(10, S15)),
    # Lovibond & Lovibond 1995: 21 items 0-3.
    "dass21": Form(_n(21, S03)),
    # WHO-5 (1998): 5 items 0-5.
    "who5": Form(_n(5, S05)),
    # Beck, Steer & Brown 1996: 21 items 0-3.
    "bdi2": Form(_n(21, S03)),
    # Bastien et al. 2001: 7 items 0-4.
    "isi": Form(_n(7, S04)),
    # Weathers et al. 2013: 20 items 0-4.
    "pcl5": Form(_n(20, S04)),
    # Cohen & Williamson 1988: 10 items 0-4; items 4, 5, 7 and 8 reverse-scored.
    "pss10": Form(tuple(Item(S04, reverse=n in (4, 5, 7, 8)) for n in range(1, 11))),
    # Prins et al. 2016: trauma question (answered Yes here), then 5 yes/no symptoms.
    "pcptsd5": Form((None, *_n(5, YN)), fixed={1: 1}),
}

# -- the published bands ---------------------------------------------------------------


@dataclass(frozen=True)
class Bands:
    instrument: str
    scale: str
    positions: tuple[int, ...]  # 1-based form positions summed
    bands: tuple[tuple[int, int, str, str], ...]  # (low, high, psyq band id, label word)
    multiply: int = 1  # value = raw sum x multiply + add
    add: int = 0
    sex: str | None = None
    source: str = ""


def _r(a: int, b: int) -> tuple[int, ...]:
    return tuple(range(a, b + 1))


AUDIT_UPPER = ((16, 19, "zone_iii", "zone iii"), (20, 40, "zone_iv", "zone iv"))

PUBLISHED: list[Bands] = [
    Bands(
        "phq9",
        "total",
        _r(1, 9),
        (
            (0, 4, "minimal", "minimal"),
            (5, 9, "mild", "mild"),
            (10, 14, "moderate", "moderate"),
            (15, 19, "moderately_severe", "moderately severe"),
            (20, 27, "severe", "severe"),
        ),
        source="Kroenke, Spitzer & Williams 2001: 5, 10, 15, 20",
    ),
    Bands(
        "phq9",
        "phq2",
        (1, 2),
        ((0, 2, "negative", "negative"), (3, 6, "positive", "positive")),
        source="Kroenke, Spitzer & Williams 2003: 3 or more",
    ),
    Bands(
        "gad7",
        "total",
        _r(1, 7),
        (
            (0, 4, "minimal", "minimal"),
            (5, 9, "mild", "mild"),
            (10, 14, "moderate", "moderate"),
            (15, 21, "severe", "severe"),
        ),
        source="Spitzer et al. 2006: 5, 10, 15",
    ),
    Bands(
        "gad7",
        "gad2",
        (1, 2),
        ((0, 2, "negative", "negative"), (3, 6, "positive", "positive")),
        source="Kroenke et al. 2007: 3 or more",
    ),
    Bands(
        "phq2",
        "total",
        (1, 2),
        ((0, 2, "negative", "negative"), (3, 6, "positive", "positive")),
        source="Kroenke, Spitzer & Williams 2003: 3 or more",
    ),
    Bands(
        "gad2",
        "total",
        (1, 2),
        ((0, 2, "negative", "negative"), (3, 6, "positive", "positive")),
        source="Kroenke et al. 2007: 3 or more",
    ),
    Bands(
        "phq15",
        "total",
        _r(1, 15),
        (
            (0, 4, "minimal", "minimal"),
            (5, 9, "low", "low"),
            (10, 14, "medium", "medium"),
            (15, 30, "high", "high"),
        ),
        source="Kroenke, Spitzer & Williams 2002: 5, 10, 15",
    ),
    Bands(
        "epds",
        "total",
        _r(1, 10),
        (
            (0, 9, "below_cutoff", "below"),
            (10, 12, "possible", "possible"),
            (13, 30, "probable", "probable"),
        ),
        source="Cox et al. 1987: 9/10 (fewer missed cases) and 12/13 (probable)",
    ),
    Bands(
        "audit",
        "total",
        _r(1, 10),
        ((0, 7, "zone_i", "zone i"), (8, 15, "zone_ii", "zone ii"), *AUDIT_UPPER),
        sex="male",
        source="WHO AUDIT manual 2001, Table 3: zones 0-7, 8-15, 16-19, 20-40",
    ),
    Bands(
        "audit",
        "total",
        _r(1, 10),
        ((0, 6, "zone_i", "zone i"), (7, 15, "zone_ii", "zone ii"), *AUDIT_UPPER),
        sex="female",
        source="WHO AUDIT manual 2001: the cut-off one point lower, 7, for all women",
    ),
    # Sex unknown: psyq's convention (docs/instruments.md) reads 7 both ways.
    Bands(
        "audit",
        "total",
        _r(1, 10),
        (
            (0, 6, "zone_i", "zone i"),
            (7, 7, "zone_ii_women", "women only"),
            (8, 15, "zone_ii", "zone ii"),
            *AUDIT_UPPER,
        ),
        source="WHO AUDIT manual 2001 (women 7, men 8); psyq convention for unknown sex",
    ),
    Bands(
        "auditc",
        "total",
        (1, 2, 3),
        ((0, 3, "negative", "negative"), (4, 12, "positive", "positive")),
        sex="male",
        source="Bush et al. 1998, Bradley et al. 2007: 4 or more for men",
    ),
    Bands(
        "auditc",
        "total",
        (1, 2, 3),
        ((0, 2, "negative", "negative"), (3, 12, "positive", "positive")),
        sex="female",
        source="Bradley et al. 2003, 2007: 3 or more for women",
    ),
    Bands(
        "auditc",
        "total",
        (1, 2, 3),
        (
            (0, 2, "negative", "negative"),
            (3, 3, "women_positive", "women only"),
            (4, 12, "positive", "positive"),
        ),
        source="Bradley et al. 2007 (women 3, men 4); psyq convention for unknown sex",
    ),
    Bands(
        "k10",
        "total",
        _r(1, 10),
        (
            (10, 15, "low", "low"),
            (16, 21, "moderate", "moderate"),
            (22, 29, "high", "high"),
            (30, 50, "very_high", "very high"),
        ),
        source="Andrews & Slade 2001: 10-15, 16-21, 22-29, 30-50",
    ),
    Bands(
        "k10",
        "k6",
        (2, 4, 5, 8, 9, 10),
        ((0, 12, "below_spd", "below"), (13, 24, "serious_distress", "serious")),
        add=-6,
        source="Kessler et al. 2003: K6 items scored 0-4, 13 or more",
    ),
    Bands(
        "dass21",
        "depression",
        (3, 5, 10, 13, 16, 17, 21),
        (
            (0, 9, "normal", "normal"),
            (10, 13, "mild", "mild"),
            (14, 20, "moderate", "moderate"),
            (21, 27, "severe", "severe"),
            (28, 42, "extremely_severe", "extremely severe"),
        ),
        multiply=2,
        source="Lovibond & Lovibond 1995 (DASS-21 sums x 2)",
    ),
    Bands(
        "dass21",
        "anxiety",
        (2, 4, 7, 9, 15, 19, 20),
        (
            (0, 7, "normal", "normal"),
            (8, 9, "mild", "mild"),
            (10, 14, "moderate", "moderate"),
            (15, 19, "severe", "severe"),
            (20, 42, "extremely_severe", "extremely severe"),
        ),
        multiply=2,
        source="Lovibond & Lovibond 1995 (DASS-21 sums x 2)",
    ),
    Bands(
        "dass21",
        "stress",
        (1, 6, 8, 11, 12, 14, 18),
        (
            (0, 14, "normal", "normal"),
            (15, 18, "mild", "mild"),
            (19, 25, "moderate", "moderate"),
            (26, 33, "severe", "severe"),
            (34, 42, "extremely_severe", "extremely severe"),
        ),
        multiply=2,
        source="Lovibond & Lovibond 1995 (DASS-21 sums x 2)",
    ),
    Bands(
        "who5",
        "total",
        _r(1, 5),
        (
            (0, 28, "likely_depression", "depression"),
            (29, 51, "poor_wellbeing", "poor"),
            (52, 100, "adequate", "adequate"),
        ),
        multiply=4,
        source="WHO-5 (raw x 4); Topp et al. 2015: 28 or below, raw below 13 (value < 52)",
    ),
    Bands(
        "bdi2",
        "total",
        _r(1, 21),
        (
            (0, 13, "minimal", "minimal"),
            (14, 19, "mild", "mild"),
            (20, 28, "moderate", "moderate"),
            (29, 63, "severe", "severe"),
        ),
        source="Beck, Steer & Brown 1996: 0-13, 14-19, 20-28, 29-63",
    ),
    Bands(
        "isi",
        "total",
        _r(1, 7),
        (
            (0, 7, "none", "no clinically significant"),
            (8, 14, "subthreshold", "subthreshold"),
            (15, 21, "moderate", "moderate"),
            (22, 28, "severe", "severe"),
        ),
        source="Bastien, Vallieres & Morin 2001: 0-7, 8-14, 15-21, 22-28",
    ),
    Bands(
        "pcl5",
        "total",
        _r(1, 20),
        ((0, 32, "below", "below"), (33, 80, "probable", "probable")),
        source="National Center for PTSD: 31-33; psyq uses 33",
    ),
    Bands(
        "pcptsd5",
        "total",
        _r(2, 6),
        ((0, 2, "negative", "negative"), (3, 5, "positive", "positive")),
        source="Prins et al. 2016: 3 or more",
    ),
]


@cache
def _reachable(scores: tuple[tuple[int, ...], ...]) -> frozenset[int]:
    sums = {0}
    for options in scores:
        sums = {s + o for s in sums for o in options}
    return frozenset(sums)


def answers_for(form: Form, positions: tuple[int, ...], raw: int) -> str:
    """The ``--answers`` list whose items at ``positions`` score ``raw`` in total and
    every other item its lowest score."""
    answers: list[str] = []
    chosen: dict[int, int] = {}
    left = raw
    todo = list(positions)
    while todo:
        pos = todo.pop(0)
        item = form.items[pos - 1]
        assert item is not None
        rest = tuple(form.items[p - 1].scores for p in todo)  # type: ignore[union-attr]
        pick = max(s for s in item.scores if left - s in _reachable(rest))
        chosen[pos] = pick
        left -= pick
    assert left == 0
    for pos, item in enumerate(form.items, start=1):
        if pos in form.fixed:
            answers.append(str(form.fixed[pos]))
        elif item is None:
            answers.append("-")
        else:
            answers.append(str(item.answer(chosen.get(pos, min(item.scores)))))
    return ",".join(answers)


def _bands_id(b: Bands) -> str:
    return f"{b.instrument}-{b.scale}-{b.sex or 'sex_unknown'}"


@pytest.mark.parametrize("published", PUBLISHED, ids=_bands_id)
def test_every_published_band_edge_scores_as_published(psyq_cli: CLI, published: Bands) -> None:
    """Both edges of every published band: the value and the band psyq gives."""
    form = FORMS[published.instrument]
    raws = _reachable(tuple(form.items[p - 1].scores for p in published.positions))  # type: ignore[union-attr]
    values = {raw * published.multiply + published.add: raw for raw in raws}
    wrong = []
    for low, high, band, word in published.bands:
        inside = sorted(v for v in values if low <= v <= high)
        assert inside, f"{published.source}: no reachable value in {low}-{high}"
        for value in {inside[0], inside[-1]}:
            args = ["score", published.instrument, "--json"]
            args += ["--answers", answers_for(form, published.positions, values[value])]
            if published.sex:
                args += ["--sex", published.sex]
            result = psyq_cli(*args)
            assert result.exit_code == 0, result.output
            got = json.loads(result.stdout)["scores"][published.scale]
            label = (got["band_label"] or "").lower()
            if (got["value"], got["band"]) != (value, band) or word not in label:
                wrong.append(f"{value}: got {got['value']} {got['band']} ({label}), want {band}")
    assert not wrong, f"{_bands_id(published)} ({published.source}): {wrong}"


def test_every_banded_builtin_scale_is_checked_above(psyq_cli: CLI) -> None:
    """A new band set in a built-in must get its published edges in PUBLISHED."""
    listed = json.loads(psyq_cli("list", "--json").stdout)
    ids = [row["id"] if isinstance(row, dict) else row for row in listed]
    banded = set()
    for instrument in ids:
        shown = json.loads(psyq_cli("show", instrument, "--json").stdout)
        for scale in shown["scales"]:
            if scale.get("bands"):
                banded.add((instrument, scale["id"]))
    assert banded == {(b.instrument, b.scale) for b in PUBLISHED}


@pytest.mark.parametrize("instrument", sorted(FORMS))
def test_item_count_and_answer_values_are_the_published_forms(
    psyq_cli: CLI, instrument: str
) -> None:
    """Each position of the printed form takes exactly the published answers."""
    shown = json.loads(psyq_cli("show", instrument, "--json").stdout)
    form = FORMS[instrument]
    assert len(shown["items"]) == len(form.items)
    for pos, (item, published) in enumerate(zip(shown["items"], form.items, strict=True), 1):
        options = shown["response_scales"][item["response_scale"]]["options"]
        values = {o["value"] for o in options if not o["missing"]}
        if published is None:
            assert not item["scored"], f"{instrument} position {pos} is not scored"
            continue
        assert item["scored"], f"{instrument} position {pos}"
        assert values == {published.answer(s) for s in published.scores}, (instrument, pos)


# (instrument, 1-based position of the risk item, source): any score above 0 raises a
# critical flag, whatever the total; left blank it raises critical_item_unanswered.
CRITICAL = [
    ("phq9", 9, "Kroenke & Spitzer 2002: item 9 positive at any score"),
    ("bdi2", 9, "Beck, Steer & Brown 1996: item 9, suicidal thoughts or wishes"),
    ("epds", 10, "Cox et al. 1987: item 10, thoughts of self-harm"),
]


@pytest.mark.parametrize(("instrument", "position", "source"), CRITICAL)
def test_risk_item_is_critical_at_every_score_above_0(
    psyq_cli: CLI, instrument: str, position: int, source: str
) -> None:
    form = FORMS[instrument]
    item = form.items[position - 1]
    assert item is not None
    for score in (*item.scores, None):
        answers = answers_for(form, (), 0).split(",")
        answers[position - 1] = "-" if score is None else str(item.answer(score))
        result = psyq_cli("score", instrument, "--json", "--answers", ",".join(answers))
        assert result.exit_code == 0, result.output
        flags = json.loads(result.stdout)["flags"]
        critical = {f["id"] for f in flags if f["level"] == "critical"}
        if score is None:
            assert critical == {"critical_item_unanswered"}, (source, critical)
        else:
            assert bool(critical) == (score > 0), (source, score, critical)


# -- every number has a source ---------------------------------------------------------


def _builtin_ids(psyq_cli: CLI) -> list[str]:
    rows = json.loads(psyq_cli("list", "--json").stdout)
    return [row["id"] for row in rows if row["source"] == "psyq (built-in)"]


def test_every_builtin_number_names_its_source(psyq_cli: CLI) -> None:
    """Bands and cut-offs (``bands_source``), a missing-data rule that lets an item be
    missing (``missing.source``), reliable change, outcomes and client bands."""
    unsourced = []
    for instrument in _builtin_ids(psyq_cli):
        shown = json.loads(psyq_cli("show", instrument, "--json").stdout)
        for scale in shown["scales"]:
            where = f"{instrument}.{scale['id']}"
            if (scale["bands"] or scale["clinical_cutoff"] is not None) and not scale[
                "bands_source"
            ].strip():
                unsourced.append(f"{where}: bands")
            rule = scale["missing"]
            every_item = rule["max_missing"] == 0 or (rule["min_answered"] or 0) >= len(
                scale["items"]
            )
            if not every_item and not rule["source"].strip():
                unsourced.append(f"{where}: missing")
            for key in ("reliable_change", "outcomes"):
                if scale[key] is not None and not scale[key]["source"].strip():
                    unsourced.append(f"{where}: {key}")
            unsourced += [
                f"{where}: client_bands" for g in scale["client_bands"] if not g["source"]
            ]
    assert not unsourced
    assert "gives no source" not in psyq_cli("validate").output


def test_show_prints_each_missing_rule_and_where_bands_come_from(psyq_cli: CLI) -> None:
    shown = psyq_cli("show", "gad7")
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.stdout.split())
    assert "missing: at most 1 of 7 items unanswered, prorated (psyq convention" in text
    assert "source: Spitzer, Kroenke, Williams & Löwe 2006: 5, 10 and 15" in text
    assert "missing: every item needed" in text  # the GAD-2 subscale
    ccts = " ".join(psyq_cli("show", "ccts").stdout.split())
    assert "missing: at least 3 of 4 answered (psyq convention" in ccts


def test_validate_notes_bands_and_a_missing_rule_without_a_source(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    gad7 = json.loads(psyq_cli("show", "gad7", "--json").stdout)
    data = {k: gad7[k] for k in gad7 if k not in ("content_hash", "source", "notices")}
    data["id"] = "gad7copy"
    total = data["scales"][0]
    total["bands_source"] = ""
    total["missing"]["source"] = " "
    path = tmp_path / "gad7copy.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = psyq_cli("validate", str(path))
    assert result.exit_code == 0, result.output  # a note, not a refusal
    assert "scale total: bands gives no source" in result.stderr
    assert "scale total: missing gives no source" in result.stderr
    assert "scale gad2:" not in result.stderr  # sourced bands; every item needed


# -- the CCTS says it is unvalidated in every output -----------------------------------

CCTS_ANSWERS = "1,2,1,3,2,1,2,3,1,2,1,3,1,1,2,3"
UNVALIDATED = "no norms and no validation study"


def test_ccts_batch_scores_csv_says_it_is_unvalidated(psyq_cli: CLI, tmp_path: Path) -> None:
    """scores.csv travels on its own (into a spreadsheet, a paper's data): each CCTS row
    carries the caveat (tests/test_batch_columnar.py: both scoring paths write the same)."""
    header = ["client_id"] + [f"ccts2_{i:02d}" for i in range(1, 17)]
    rows = [",".join(header)] + [f"c{k}," + CCTS_ANSWERS for k in range(3)]
    src = tmp_path / "ccts.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = psyq_cli("batch", str(src), "--instrument", "ccts", "--out", str(out),
                      "--scores-only", "--summary", "html", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = (out / "scores.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith(",notices")
    assert len(lines) == 4 and all(UNVALIDATED in line for line in lines[1:])
    # A validated instrument's file has no such column.
    phq9 = tmp_path / "phq9.csv"
    phq9.write_text("client_id," + ",".join(f"phq9_{i}" for i in range(1, 10)) + "\nc1" + ",1" * 9)
    out = tmp_path / "phq9-out"
    result = psyq_cli("batch", str(phq9), "--instrument", "phq9", "--out", str(out),
                      "--scores-only", "--summary", "html", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "notices" not in (out / "scores.csv").read_text(encoding="utf-8").splitlines()[0]


def test_ccts_every_other_output_says_it_is_unvalidated(psyq_cli: CLI, tmp_path: Path) -> None:
    """score (table, JSON, FHIR), record -> history, export (CSV, JSONL), report."""
    table = psyq_cli("score", "ccts", "--answers", CCTS_ANSWERS)
    assert UNVALIDATED in table.stdout
    doc = json.loads(psyq_cli("score", "ccts", "--answers", CCTS_ANSWERS, "--json").stdout)
    assert doc["instrument"]["status"] == "provisional"
    assert any(UNVALIDATED in n for n in doc["notices"])
    fhir = json.loads(
        psyq_cli("score", "ccts", "--answers", CCTS_ANSWERS, "--format", "fhir").stdout
    )
    observations = [
        e["resource"] for e in fhir["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    assert observations
    for observation in observations:
        assert any(UNVALIDATED in n["text"] for n in observation.get("note", []))
    recorded = psyq_cli("record", "ccts", "--client", "C5", "--answers", CCTS_ANSWERS)
    assert recorded.exit_code == 0, recorded.output
    assert UNVALIDATED in psyq_cli("history", "C5").stdout
    assert UNVALIDATED in psyq_cli("history", "C5", "--json").stdout
    for fmt in ("csv", "jsonl"):
        assert UNVALIDATED in psyq_cli("export", "--instrument", "ccts", "--format", fmt).stdout
    for fmt in ("html", "table", "json", "fhir"):
        report = tmp_path / f"ccts.{fmt}"
        made = psyq_cli("report", "--client", "C5", "--latest", "ccts", "--format", fmt,
                        "-o", str(report))  # fmt: skip
        assert made.exit_code == 0, made.output
        assert UNVALIDATED in report.read_text(encoding="utf-8"), fmt


def test_a_compiled_questionnaire_keeps_where_the_bands_come_from(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """compile --to fhir, then import-fhir: the bands come back with their source."""
    questionnaire = tmp_path / "gad7.json"
    compiled = psyq_cli("compile", "gad7", "--to", "fhir", "-o", str(questionnaire))
    assert compiled.exit_code == 0, compiled.output
    back = tmp_path / "gad7.yaml"
    imported = psyq_cli("import-fhir", str(questionnaire), "-o", str(back))
    assert imported.exit_code == 0, imported.output
    checked = psyq_cli("validate", str(back))
    assert "bands gives no source" not in checked.output
    assert "Spitzer, Kroenke, Williams" in back.read_text(encoding="utf-8")


# -- PC-PTSD-5: "If no, screen total = 0. Please stop here." (Prins et al. 2016) ----------


def test_pcptsd5_symptoms_answered_after_no_trauma_are_not_read_as_a_plain_screen(
    psyq_cli: CLI,
) -> None:
    """The published form ends after "No" with a screen total of 0. Answers given
    anyway are kept and scored as given, but every output says that this total is not
    the published screen total, and the positive band does not read as usual."""
    result = psyq_cli("score", "pcptsd5", "--answers", "0,1,1,1,0,0", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["scores"]["total"]["value"], doc["scores"]["total"]["band"]) == (3, "positive")
    flags = {f["id"]: f for f in doc["flags"]}
    assert flags["symptoms_after_no_trauma"]["level"] == "warning"
    assert "screen total of 0" in flags["symptoms_after_no_trauma"]["message"]
    table = " ".join(psyq_cli("score", "pcptsd5", "--answers", "0,1,1,1,0,0").stdout.split())
    assert "screen total of 0" in table
    # The published paths raise nothing: No with the symptoms left blank, or Yes.
    for answers in ("0,-,-,-,-,-", "1,1,1,1,0,0", "0,0,0,0,0,0"):
        doc = json.loads(psyq_cli("score", "pcptsd5", "--answers", answers, "--json").stdout)
        assert doc["flags"] == [], answers


# (instrument, flag id, 1-based positions, answer test, source): every answer of every
# listed item raises the flag exactly when the publication says so (others at lowest).
ITEM_FLAGS = [
    ("who5", "item_at_most_1", _r(1, 5), lambda a: a <= 1, "WHO-5 scoring: any item 0 or 1"),
    ("audit", "hazardous_consumption", (2, 3), lambda a: a >= 1, "WHO AUDIT manual 2001"),
    ("audit", "dependence_symptoms", (4, 5, 6), lambda a: a > 0, "WHO AUDIT manual 2001"),
    ("audit", "alcohol_related_harm", _r(7, 10), lambda a: a > 0, "WHO AUDIT manual 2001"),
]


@pytest.mark.parametrize(("instrument", "flag", "positions", "raised", "source"), ITEM_FLAGS)
def test_published_item_flags_at_every_answer(
    psyq_cli: CLI, instrument: str, flag: str, positions: tuple[int, ...], raised: Any, source: str
) -> None:
    form = FORMS[instrument]
    # The lowest answers that raise nothing: WHO-5 items at 5 (its flag is on low answers).
    base = {"who5": [5] * 5}.get(instrument)
    wrong = []
    for pos in positions:
        item = form.items[pos - 1]
        assert item is not None
        for answer in sorted({item.answer(s) for s in item.scores}):
            answers = list(base) if base else [min(i.scores) for i in form.items if i]
            answers[pos - 1] = answer
            if instrument == "audit" and pos in (4, 5, 6, 7, 8):
                answers[0] = answers[1] = 1  # items 2 and 3 not both 0: item pos is asked
            line = ",".join(str(a) for a in answers)
            doc = json.loads(psyq_cli("score", instrument, "--answers", line, "--json").stdout)
            got = flag in {f["id"] for f in doc["flags"]}
            if got != raised(answer):
                wrong.append(f"item {pos} = {answer}: {'raised' if got else 'not raised'}")
    assert not wrong, f"{instrument} {flag} ({source}): {wrong}"


@pytest.mark.parametrize("instrument", ["epds", "pss10"])
def test_reverse_keyed_items_score_as_published(psyq_cli: CLI, instrument: str) -> None:
    """Each published reverse-keyed item, at every answer, others at their lowest score:
    the total is that item's published score."""
    form = FORMS[instrument]
    wrong = []
    for pos, item in enumerate(form.items, start=1):
        if item is None or not item.reverse:
            continue
        for score in item.scores:
            answers = answers_for(form, (), 0).split(",")
            answers[pos - 1] = str(item.answer(score))
            line = ",".join(answers)
            doc = json.loads(psyq_cli("score", instrument, "--answers", line, "--json").stdout)
            if doc["scores"]["total"]["value"] != score:
                wrong.append(f"item {pos} answered {answers[pos - 1]}: {doc['scores']['total']}")
    assert not wrong, wrong


# (instrument, scale, positions, most items that may be missing, the value every answered
# item gets): the missing-data rule each definition's `missing.source` states (psyq's
# conventions; no manual here gives one). Blanks go on the last positions of the scale.
MISSING_RULES = [
    ("phq9", "total", _r(1, 9), 2, 2),
    ("gad7", "total", _r(1, 7), 1, 2),
    ("phq2", "total", (1, 2), 0, 2),
    ("gad2", "total", (1, 2), 0, 2),
    ("phq15", "total", _r(5, 15), 1, 1),  # item 4 blank scores 0 (its skip rule)
    ("epds", "total", _r(1, 10), 1, 2),
    ("audit", "total", _r(9, 10), 0, 2),
    ("k10", "total", _r(1, 10), 1, 2),
    ("k10", "k6", (2, 4, 5, 8, 9, 10), 0, 2),
    ("dass21", "depression", (3, 5, 10, 13, 16, 17, 21), 1, 2),
    ("dass21", "total", _r(1, 21), 3, 2),
    ("who5", "total", _r(1, 5), 0, 2),
    ("bdi2", "total", _r(1, 21), 2, 2),
    ("isi", "total", _r(1, 7), 1, 2),
    ("pcl5", "total", _r(1, 20), 2, 2),
    ("pss10", "total", _r(1, 10), 1, 2),
]


@pytest.mark.parametrize(("instrument", "scale", "positions", "most", "value"), MISSING_RULES)
def test_missing_data_rule_at_its_limit(
    psyq_cli: CLI, instrument: str, scale: str, positions: tuple[int, ...], most: int, value: int
) -> None:
    """``most`` blanks: scored, and prorated to what all items at ``value`` give; one
    more: not scored, with a reason."""
    form = FORMS[instrument]
    full = None
    for blanks in range(most + 2):
        answers = [
            "-" if item is None else str(item.answer(value if value in item.scores else 0))
            for item in form.items
        ]
        for pos in positions[len(positions) - blanks :]:
            answers[pos - 1] = "-"
        line = ",".join(answers)
        got = json.loads(psyq_cli("score", instrument, "--answers", line, "--json").stdout)
        score = got["scores"][scale]
        if blanks == 0:
            full = score["value"]
            assert full is not None and not score["prorated"]
        elif blanks <= most:
            assert (score["value"], score["prorated"]) == (full, True), (blanks, score)
        else:
            assert score["value"] is None and score["reason"], (blanks, score)


# -- sources added to the format: definitions without them keep their hash ------------------


def _older_psyq_hash(content: dict[str, Any]) -> str:
    """The content hash as a psyq without bands_source and missing.source computed it."""
    import hashlib

    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_a_definition_kept_before_sources_existed_still_matches_its_hash(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """A store written by an earlier psyq keeps copies without the new fields, under the
    hash that psyq computed: they must not read as changed outside psyq."""
    from datetime import datetime

    from psyq.store import StoredDefinition

    shown = json.loads(psyq_cli("show", "gad7", "--json").stdout)
    old = {k: v for k, v in shown.items() if k not in ("content_hash", "source", "notices")}
    old["id"] = "anxiety7"
    for scale in old["scales"]:
        del scale["bands_source"]
        del scale["missing"]["source"]
    path = tmp_path / "anxiety7.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    kept_hash = _older_psyq_hash({k: v for k, v in old.items() if k != "translations"})
    # The file as it is: the same hash as before the fields existed.
    assert json.loads(psyq_cli("show", str(path), "--json").stdout)["content_hash"] == kept_hash
    kept = StoredDefinition(
        hash=kept_hash,
        instrument_id="anxiety7",
        version=old["version"],
        source=str(path),
        source_path=str(path),
        stored_at=datetime(2026, 1, 1),
        definition=json.dumps(old),
    )
    instrument, problem = kept.checked()
    assert problem is None and instrument is not None
