"""Norms: `psyq norms build`, scoring with --norms/--group, norm sources, reports."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from psyq import hookimpl
from psyq.norms import NormSource, percentile_rank, read_table
from psyq.testing import CLI, Register

from .packs import DirectoryPack
from .test_analysis import SIX, simulate, write_csv

ANSWERS = "2,2,1,3,2,2"  # q3 reversed


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "six.yaml").write_text(SIX, encoding="utf-8")
    return folder


@pytest.fixture
def cli(psyq_register: Register, psyq_cli: CLI, pack: Path) -> CLI:
    psyq_register(DirectoryPack("six pack", pack), "six-pack")
    return psyq_cli


def sample(tmp_path: Path, n: int = 300) -> Path:
    rows = simulate(n, seed=5)
    for k, row in enumerate(rows):
        row["sex"] = "f" if k % 3 else "m"
        row["age"] = str(18 + (k * 7) % 60)
    return write_csv(tmp_path / "sample.csv", rows)


def build(cli: CLI, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "six-norms.json"
    result = cli(
        "norms", "build", "six", sample(tmp_path), "--group-by", "sex,age",
        "--age-bands", "18-29,30-49,50-", "--description", "Simulated test sample",
        "--collected", "2026", "-o", out, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def score(cli: CLI, *args: str) -> dict[str, Any]:
    result = cli("score", "six", "--answers", ANSWERS, "--json", *args)
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_build_writes_a_versioned_table_of_data(cli: CLI, tmp_path: Path) -> None:
    path = build(cli, tmp_path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["format"] == "psyq-norms/1"
    assert (doc["id"], doc["version"], doc["status"]) == ("six_norms", "1", "provisional")
    assert (doc["instrument"], doc["instrument_version"]) == ("six", "1")
    assert doc["sample"] == {
        "description": "Simulated test sample",
        "n": 300,
        "collected": "2026",
        "citation": "",
    }
    assert doc["created"]  # ISO date
    labels = [g["group"] for g in doc["groups"]]
    assert labels[0] == {}  # the whole sample first
    assert {"sex": "f", "age": "30-49"} in labels
    whole = doc["groups"][0]["scales"]["total"]
    assert whole["n"] == 300
    scores = [p[0] for p in whole["percentiles"]]
    assert scores == sorted(scores)
    assert 0 < whole["reliability"] < 1
    table = read_table(path)
    assert sum(g.scales["total"].n for g in table.groups if len(g.group) == 2) == 300
    assert path.stat().st_mode & 0o777 == 0o600


def test_score_with_norms_and_group(cli: CLI, tmp_path: Path) -> None:
    path = build(cli, tmp_path)
    doc = score(cli, "--norms", str(path), "--group", "sex=f,age=34")
    norm = doc["scores"]["total"]["norm"]
    table = read_table(path)
    group = next(g for g in table.groups if g.group == {"sex": "f", "age": "30-49"})
    ref = group.scales["total"]
    value = doc["scores"]["total"]["value"]
    z = (value - ref.mean) / ref.sd
    assert norm["z"] == pytest.approx(z, abs=0.005)
    assert norm["t"] == pytest.approx(50 + 10 * z, abs=0.05)
    half = 1.96 * 10 * math.sqrt(1 - (ref.reliability or 0))
    assert norm["ci"] == pytest.approx([50 + 10 * z - half, 50 + 10 * z + half], abs=0.1)
    assert norm["group"] == "sex=f, age=30-49"
    assert norm["n"] == ref.n
    assert "six_norms v1" in norm["table"]
    assert norm["percentile"] == pytest.approx(percentile_rank(ref, value), abs=0.05)
    assert any("PROVISIONAL" in w for w in norm["warnings"])
    assert any("SMALL NORM GROUP" in w for w in norm["warnings"])  # about 67 people


def test_without_group_the_whole_sample_is_used(cli: CLI, tmp_path: Path) -> None:
    path = build(cli, tmp_path, "--status", "final")
    norm = score(cli, "--norms", str(path))["scores"]["total"]["norm"]
    assert norm["group"] == "whole sample"
    assert norm["n"] == 300
    assert norm["warnings"] == []  # final table, 300 people


def test_no_norm_key_without_norms(cli: CLI) -> None:
    doc = score(cli)
    assert all("norm" not in s for s in doc["scores"].values())


def test_table_output_shows_t_interval_percentile_and_warnings(cli: CLI, tmp_path: Path) -> None:
    path = build(cli, tmp_path)
    result = cli("score", "six", "--answers", ANSWERS, "--norms", path, "--group", "sex=m,age=20")
    assert result.exit_code == 0, result.output
    assert "!   NORMS: PROVISIONAL norm table 'six_norms'" in result.output
    assert "norm total: T " in result.output
    assert "95% interval" in result.output
    assert "group sex=m, age=18-29" in result.output


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("sex", "'sex' is not NAME=VALUE"),
        ("sex=x,age=30", "no norm group fits this client"),
    ],
)
def test_bad_groups(cli: CLI, tmp_path: Path, group: str, message: str) -> None:
    path = build(cli, tmp_path)
    # sex=x has no subgroup, but the whole sample fits everyone: only a bad NAME=VALUE fails,
    # unless the table has no whole-sample group (made below).
    if "fits" in message:
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["groups"] = doc["groups"][1:]
        path.write_text(json.dumps(doc), encoding="utf-8")
    result = cli("score", "six", "--answers", ANSWERS, "--norms", path, "--group", group)
    assert result.exit_code == 2
    assert message in result.output


def test_group_needs_a_table(cli: CLI) -> None:
    result = cli("score", "six", "--answers", ANSWERS, "--group", "sex=f")
    assert result.exit_code == 2
    assert "names no norm table; give --norms FILE" in result.output


def test_table_for_another_instrument_is_refused(cli: CLI, tmp_path: Path) -> None:
    path = build(cli, tmp_path)
    result = cli("score", "phq9", "--answers", "0,0,0,0,0,0,0,0,0", "--norms", path)
    assert result.exit_code == 2
    assert "norm table 'six_norms' is for six, not phq9" in result.output


def test_malformed_table_is_one_line(cli: CLI, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "psyq-norms/1", "id": "x"}', encoding="utf-8")
    result = cli("score", "six", "--answers", ANSWERS, "--norms", bad)
    assert result.exit_code == 2
    assert "not a psyq norm table" in result.output
    assert "Traceback" not in result.output


def test_definition_names_a_table_from_a_norm_source(
    psyq_register: Register, psyq_cli: CLI, pack: Path, tmp_path: Path
) -> None:
    psyq_register(DirectoryPack("six pack", pack), "six-pack")
    path = build(psyq_cli, tmp_path)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    path.rename(shipped / "six-norms.json")

    class Norms:
        @hookimpl
        def psyq_norm_sources(self) -> list[NormSource]:
            return [NormSource("six norms plugin", shipped)]

    psyq_register(Norms(), "six-norms")
    (pack / "six.yaml").write_text(SIX + "norms: [six_norms]\n", encoding="utf-8")
    norm = score(psyq_cli, "--group", "sex=f,age=55")["scores"]["first"]["norm"]
    assert norm["group"] == "sex=f, age=50-"


def test_report_shows_norms_loudly(cli: CLI, tmp_path: Path) -> None:
    path = build(cli, tmp_path)
    out = tmp_path / "r.html"
    result = cli(
        "report", "six", "--answers", ANSWERS, "--client", "C-1", "--norms", path,
        "--group", "sex=f,age=34", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Norm-referenced scores" in html
    assert "PROVISIONAL norm table" in html
    assert "SMALL NORM GROUP (sex=f, age=30-49)" in html
    assert "six_norms v1" in html
    assert "95 % interval" in html


def test_age_bands_must_not_overlap(cli: CLI, tmp_path: Path) -> None:
    result = cli(
        "norms", "build", "six", sample(tmp_path), "--group-by", "age", "--age-bands",
        "18-40,30-60", "--description", "x", "-o", tmp_path / "n.json",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "'30-60' overlaps another band" in result.output


def test_build_from_jsonl_keeps_group_keys(cli: CLI, tmp_path: Path) -> None:
    rows = simulate(150, seed=9)
    lines = []
    for k, row in enumerate(rows):
        doc: dict[str, Any] = {i: int(v) for i, v in row.items() if i != "client_id"}
        doc.update(client_id=row["client_id"], sex="f" if k % 2 else "m", age=20 + k % 40)
        lines.append(json.dumps(doc) + "\n")
    src = tmp_path / "sample.jsonl"
    src.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "n.json"
    result = cli(
        "norms", "build", "six", src, "--group-by", "sex", "--description", "jsonl", "-o", out
    )
    assert result.exit_code == 0, result.output
    groups = {json.dumps(g["group"]): g for g in read_table(out).model_dump()["groups"]}
    assert set(groups) == {"{}", '{"sex": "f"}', '{"sex": "m"}'}
    assert groups['{"sex": "f"}']["scales"]["total"]["n"] == 75


def test_group_by_column_must_exist(cli: CLI, tmp_path: Path) -> None:
    result = cli(
        "norms", "build", "six", sample(tmp_path), "--group-by", "gender", "--description", "x",
        "-o", tmp_path / "n.json",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "no column 'gender' for --group-by; the columns are: client_id" in result.output


def _input_help(cli: CLI, *command: str) -> tuple[str, list[str]]:
    """The usage line's arguments and the help of the shared input options (each
    option's text with its wrapping folded: the two help pages align columns apart)."""
    text = cli(*command, "--help").output
    usage = text.splitlines()[0].split("[OPTIONS]")[1].strip()
    options = " ".join(text.split("Options:")[1].split())
    entries = re.split(r" (?=-)", options)
    shared = ("--from-store", "--id-column", "--date-column", "--ignore-extra-columns")
    return usage, [e for e in entries if e.startswith(shared)]


def test_analyze_and_norms_build_read_data_the_same_way(cli: CLI, tmp_path: Path) -> None:
    """One declaration of INSTRUMENT_ID, [DATA] and the input options serves both."""
    assert _input_help(cli, "analyze") == _input_help(cli, "norms", "build")
    usage, picked = _input_help(cli, "analyze")
    assert usage == "INSTRUMENT_ID [DATA]" and len(picked) >= 4
    for command in (["analyze", "six"], ["norms", "build", "six", "--description", "x"]):
        out = str(tmp_path / "o.html")
        both = cli(*command, str(tmp_path / "a.csv"), "--from-store", "-o", out)
        assert both.exit_code == 2
        assert "give a DATA file or --from-store (one of them)" in both.output
