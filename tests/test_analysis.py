"""`psyq analyze`: properties of the statistics, bad data, reports, the store."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psyq.plugins.analysis import stats
from psyq.testing import CLI, Register

from .cohorts import write_csv
from .definitions import definition
from .packs import DirectoryPack

SIX = definition(
    "six",
    title="Six-item test scale",
    short_name="SIX",
    body="""\
items:
  - {id: q1, text: One, response_scale: freq}
  - {id: q2, text: Two, response_scale: freq}
  - {id: q3, text: Three, response_scale: freq, reverse: true}
  - {id: q4, text: Four, response_scale: freq}
  - {id: q5, text: Five, response_scale: freq}
  - {id: q6, text: Six, response_scale: freq}
scales:
  - {id: total, label: Total, items: [q1, q2, q3, q4, q5, q6]}
  - {id: first, label: First, items: [q1, q2, q3]}
  - {id: second, label: Second, items: [q4, q5, q6]}
  - {id: pair, label: Pair, items: [q1, q2]}
""",
)
ITEMS = ["q1", "q2", "q3", "q4", "q5", "q6"]


@pytest.fixture
def cli(psyq_register: Register, psyq_cli: CLI, tmp_path: Path) -> CLI:
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "six.yaml").write_text(SIX, encoding="utf-8")
    psyq_register(DirectoryPack("six pack", folder), "six-pack")
    return psyq_cli


def simulate(n: int, seed: int = 1) -> list[dict[str, str]]:
    """Two correlated factors, answers 0-3; q3 is reverse keyed."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((n, 2))
    rows = []
    for r in range(n):
        row = {"client_id": f"c{r}"}
        for k, item in enumerate(ITEMS):
            latent = f[r, 0 if k < 3 else 1] * (-1 if item == "q3" else 1)
            value = int(np.clip(np.round(1.5 + latent + rng.normal(0, 0.8)), 0, 3))
            row[item] = str(value)
        rows.append(row)
    return rows


def run_json(cli: CLI, path: Path, *extra: str) -> dict[str, Any]:
    result = cli("analyze", "six", path, "--json", *extra)
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


# -- properties -------------------------------------------------------------------


matrices = st.integers(min_value=0, max_value=2**32 - 1).map(
    lambda seed: np.random.default_rng(seed).integers(0, 5, size=(40, 5)).astype(float)
)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=3, max_value=8), st.integers(min_value=0, max_value=2**32 - 1))
def test_alpha_of_identical_items_is_one(k: int, seed: int) -> None:
    column = np.random.default_rng(seed).integers(0, 5, size=(30, 1)).astype(float)
    column[0, 0], column[1, 0] = 0.0, 4.0  # never constant
    cov, _ = stats.pairwise_cov(np.repeat(column, k, axis=1))
    result = stats.alpha(cov, 30)
    assert result.raw == pytest.approx(1.0)
    assert result.std == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(matrices, st.randoms(use_true_random=False))
def test_alpha_does_not_depend_on_item_order(x: Any, random: Any) -> None:
    x[0], x[1] = 0.0, 4.0
    order = list(range(x.shape[1]))
    random.shuffle(order)
    a = stats.alpha(stats.pairwise_cov(x)[0], len(x))
    b = stats.alpha(stats.pairwise_cov(x[:, order])[0], len(x))
    assert b.raw == pytest.approx(a.raw)
    assert b.std == pytest.approx(a.std)
    assert [b.r_drop[order.index(i)] for i in range(len(order))] == pytest.approx(a.r_drop)


def test_reversing_an_item_twice_is_identity(cli: CLI, tmp_path: Path) -> None:
    rows = simulate(60)
    twice = [dict(r, q3=str(3 - (3 - int(r["q3"])))) for r in rows]
    once = [dict(r, q3=str(3 - int(r["q3"]))) for r in rows]
    a = run_json(cli, write_csv(tmp_path / "a.csv", rows))
    b = run_json(cli, write_csv(tmp_path / "b.csv", twice))
    c = run_json(cli, write_csv(tmp_path / "c.csv", once))
    assert a["scales"] == b["scales"]
    # Reversed once more, q3 now runs against its scale: r.drop changes sign.
    assert a["scales"]["first"]["items"]["q3"]["r_drop"] > 0.3
    assert c["scales"]["first"]["items"]["q3"]["r_drop"] < 0


def test_reverse_keys_apply_as_in_scoring(cli: CLI, tmp_path: Path) -> None:
    rows = simulate(80)
    doc = run_json(cli, write_csv(tmp_path / "d.csv", rows))
    q3 = [int(r["q3"]) for r in rows]
    item = doc["scales"]["first"]["items"]["q3"]
    assert item["mean"] == pytest.approx(sum(3 - v for v in q3) / len(q3))  # scored values
    assert item["distribution"]["0"] == q3.count(0)  # answers as given
    assert item["reverse"] is True


# -- the JSON contract ----------------------------------------------------------------


def test_json_contract(cli: CLI, tmp_path: Path) -> None:
    doc = run_json(cli, write_csv(tmp_path / "d.csv", simulate(200)))
    assert doc["instrument"]["id"] == "six"
    assert doc["data"] == {
        "source": str(tmp_path / "d.csv"),
        "respondents": 200,
        "missing_data": "pairwise",
        "used": 200,
        "note": None,
    }
    total = doc["scales"]["total"]
    assert {"n", "alpha", "omega_total", "average_r", "items"} <= set(total)
    assert {"raw", "std", "ci"} <= set(total["alpha"])
    lo, hi = total["alpha"]["ci"]
    assert lo < total["alpha"]["raw"] < hi
    assert {"n", "mean", "sd", "r_drop", "alpha_if_dropped"} <= set(total["items"]["q1"])
    # The total has two subscales: omega hierarchical with two group factors.
    assert total["omega_h_factors"] == 2
    assert 0 < total["omega_h"] <= total["omega_total"] <= 1
    assert doc["scales"]["first"]["omega_h"] is None
    assert doc["factors"]["parallel"]["n_factors"] >= 1
    assert set(doc["factors"]["loadings"]) == set(ITEMS)


def test_pairwise_is_the_default_and_listwise_uses_complete_rows(cli: CLI, tmp_path: Path) -> None:
    rows = simulate(120)
    for r in rows[:30]:
        r["q2"] = ""
    path = write_csv(tmp_path / "m.csv", rows)
    pairwise = run_json(cli, path)
    listwise = run_json(cli, path, "--listwise")
    assert pairwise["data"]["used"] == 120
    assert listwise["data"]["missing_data"] == "listwise"
    assert listwise["data"]["used"] == 90
    assert pairwise["scales"]["first"]["items"]["q2"]["n"] == 90
    assert pairwise["scales"]["first"]["items"]["q2"]["missing_pct"] == pytest.approx(25.0)
    assert pairwise["scales"]["first"]["alpha"] != listwise["scales"]["first"]["alpha"]


# -- bad data -----------------------------------------------------------------------


def test_fewer_than_three_items_is_a_sentence_not_a_nan(cli: CLI, tmp_path: Path) -> None:
    doc = run_json(cli, write_csv(tmp_path / "d.csv", simulate(50)))
    pair = doc["scales"]["pair"]
    assert pair["alpha"] is None and pair["omega_total"] is None
    assert any("need at least 3" in p for p in pair["problems"])


def test_constant_item_is_left_out_with_a_reason(cli: CLI, tmp_path: Path) -> None:
    rows = [dict(r, q5="2") for r in simulate(60)]
    path = write_csv(tmp_path / "c.csv", rows)
    doc = run_json(cli, path)
    assert any("q5" in p and "same answer" in p for p in doc["problems"])
    second = doc["scales"]["second"]
    assert second["alpha"] is None  # q4, q6 remain: fewer than 3 items
    assert "q5" not in doc["factors"]["loadings"]
    assert doc["scales"]["total"]["alpha"] is not None
    result = cli("analyze", "six", path, "-o", tmp_path / "c.html")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert "nan" not in html.lower().replace("nance", "")
    assert "no variance" in html


def test_non_numeric_column_is_named(cli: CLI, tmp_path: Path) -> None:
    rows = [dict(r, q4=word) for r, word in zip(simulate(30), ["yes", "no"] * 15, strict=True)]
    result = cli("analyze", "six", write_csv(tmp_path / "t.csv", rows))
    assert result.exit_code == 2
    assert "column 'q4' holds no allowed answers" in result.output
    assert "Traceback" not in result.output


def test_one_bad_cell_names_the_row_and_item(cli: CLI, tmp_path: Path) -> None:
    rows = simulate(30)
    rows[6]["q2"] = "7"
    result = cli("analyze", "six", write_csv(tmp_path / "t.csv", rows))
    assert result.exit_code == 2
    assert re.search(r"t\.csv:8: item q2: '7' is not an allowed answer", result.output)
    assert "no respondent is dropped silently" in result.output


def test_fewer_than_ten_respondents(cli: CLI, tmp_path: Path) -> None:
    result = cli("analyze", "six", write_csv(tmp_path / "s.csv", simulate(9)))
    assert result.exit_code == 2
    assert "9 respondents answered any item; an item analysis needs at least 10" in result.output


def test_needs_data_or_store(cli: CLI) -> None:
    result = cli("analyze", "six")
    assert result.exit_code == 2
    assert "give a DATA file or --from-store" in result.output


def test_report_suffix_is_checked(cli: CLI, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", simulate(30))
    result = cli("analyze", "six", path, "-o", tmp_path / "r.docx")
    assert result.exit_code == 2
    assert "written as .pdf or .html" in result.output


# -- reports --------------------------------------------------------------------------


def _numbers_in(html: str) -> list[str]:
    return re.findall(r"\b(?:nan|inf)\b", html, flags=re.IGNORECASE)


def test_html_report_has_every_part(cli: CLI, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", simulate(150))
    out = tmp_path / "r.html"
    result = cli("analyze", "six", path, "-o", out, "--note", "SIMULATED data <b>")
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    for part in (
        "Reliability",
        "Items flagged for review",
        "Inter-item correlations",
        "Scree plot with parallel analysis",
        'class="heatmap"',
        'class="dist"',
        "Feldt",
        "pairwise-complete covariances",
    ):
        assert part in html, part
    assert "SIMULATED data &lt;b&gt;" in html  # escaped, shown
    assert "Provisional instrument" in html
    assert not _numbers_in(html)


@pytest.mark.slow
def test_pdf_report_renders(cli: CLI, tmp_path: Path) -> None:
    from pypdf import PdfReader

    path = write_csv(tmp_path / "d.csv", simulate(150))
    out = tmp_path / "r.pdf"
    result = cli("analyze", "six", path, "-o", out, "--listwise")
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    text = " ".join(page.extract_text() for page in PdfReader(out).pages)
    assert "psychometric report" in text
    assert "listwise" in text
    assert not _numbers_in(text)


def test_from_store(cli: CLI, tmp_path: Path) -> None:
    rows = simulate(20)
    for r in rows:
        answers = ",".join(r[i] for i in ITEMS)
        result = cli("record", "six", "--client", r["client_id"].upper(), "--answers", answers)
        assert result.exit_code == 0, result.output
    doc = json.loads(cli("analyze", "six", "--from-store", "--json").stdout)
    assert doc["data"]["respondents"] == 20
    assert doc["data"]["source"].startswith("store ")
    assert not math.isnan(doc["scales"]["total"]["alpha"]["raw"])


# -- psyq simulate --------------------------------------------------------------------


def test_simulate_is_seeded_and_labelled(cli: CLI, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    for path, seed in ((a, "7"), (b, "7"), (c, "8")):
        result = cli("simulate", "six", "--n", "120", "--seed", seed, "-o", path)
        assert result.exit_code == 0, result.output
        assert "120 SIMULATED respondents" in result.output
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    rows = list(csv.DictReader(a.open(encoding="utf-8")))
    assert rows[0]["client_id"] == "SIM-00001"
    assert set(rows[0]) == {"client_id", "sex", "age", *ITEMS}


def test_simulated_structure_is_recovered_by_analyze(cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "sim.csv"
    cli("simulate", "six", "--n", "600", "--general", "0.3", "--group", "0.75", "-o", path)
    doc = run_json(cli, path, "--ignore-extra-columns")
    assert doc["factors"]["parallel"]["n_factors"] == 2  # the two subscales
    loadings = doc["factors"]["loadings"]
    first = [abs(loadings[i][0]) > abs(loadings[i][1]) for i in ("q1", "q2", "q3")]
    second = [abs(loadings[i][0]) > abs(loadings[i][1]) for i in ("q4", "q5", "q6")]
    assert len(set(first)) == 1 and len(set(second)) == 1 and first[0] != second[0]
    # q3 is reverse keyed: simulated so that, once scored, it runs with its subscale.
    assert doc["scales"]["first"]["items"]["q3"]["r_drop"] > 0.3


def test_simulated_ccts_pilot_uses_did_not_happen_and_is_labelled(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    path = tmp_path / "pilot.csv"
    assert psyq_cli("simulate", "ccts", "--n", "200", "-o", path).exit_code == 0
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert any(r["ccts2_03"] == "9" for r in rows)  # conditional: "This did not happen"
    assert not any(r["ccts2_01"] == "9" for r in rows)
    note = "SIMULATED pilot data"
    result = psyq_cli("analyze", "ccts", path, "--ignore-extra-columns", "--note", note)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"*** {note} ***")
    doc = json.loads(
        psyq_cli("analyze", "ccts", path, "--ignore-extra-columns", "--note", note, "--json").stdout
    )
    assert doc["data"]["note"] == note
    item = doc["scales"]["deflecting"]["items"]["ccts2_03"]
    nines = sum(r["ccts2_03"] == "9" for r in rows)
    assert item["distribution"]["9"] == nines  # stored as given
    assert item["n"] == sum(r["ccts2_03"] not in ("", "9") for r in rows)  # scored as missing
    assert doc["scales"]["total"]["omega_h_factors"] == 4


# -- inputs: the same files psyq batch reads ------------------------------------------


def test_jsonl_and_csv_give_the_same_analysis(cli: CLI, tmp_path: Path) -> None:
    rows = simulate(80, seed=3)
    rows[5]["q2"] = ""
    csv_path = write_csv(tmp_path / "d.csv", rows)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps(
                {k: (int(v) if v else None) if k != "client_id" else v for k, v in r.items()}
            )
            + "\n"
            for r in rows
        ),
        encoding="utf-8",
    )
    a, b = run_json(cli, csv_path), run_json(cli, jsonl)
    assert a["scales"] == b["scales"]
    assert a["factors"] == b["factors"]


def test_fhir_ndjson_responses(psyq_cli: CLI, psyq_pm: Any, tmp_path: Path) -> None:
    from .test_fhir_batch import exported_response

    rows = []
    lines = []
    rng = np.random.default_rng(11)
    for k in range(40):
        severity = rng.normal()
        answers = {
            f"phq9_{i}": int(np.clip(round(1 + severity + rng.normal(0, 0.7)), 0, 3))
            for i in range(1, 10)
        }
        response = exported_response(psyq_pm, answers)
        response["subject"] = {"identifier": {"value": f"P{k}"}}
        lines.append(json.dumps(response) + "\n")
        rows.append({"client_id": f"P{k}", **{i: str(v) for i, v in answers.items()}})
    ndjson = tmp_path / "responses.ndjson"
    ndjson.write_text("".join(lines), encoding="utf-8")
    from_fhir = json.loads(psyq_cli("analyze", "phq9", ndjson, "--json").stdout)
    from_csv = json.loads(
        psyq_cli("analyze", "phq9", write_csv(tmp_path / "p.csv", rows), "--json").stdout
    )
    assert from_fhir["data"]["respondents"] == 40
    assert from_fhir["scales"] == from_csv["scales"]


def test_report_escapes_definition_text(
    psyq_register: Register, psyq_cli: CLI, tmp_path: Path
) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    hostile = SIX.replace("text: One", "text: '<img src=\"file:///etc/passwd\">One'").replace(
        "label: Never", "label: '<script>alert(1)</script>'"
    )
    (folder / "six.yaml").write_text(hostile, encoding="utf-8")
    psyq_register(DirectoryPack("hostile pack", folder), "hostile-pack")
    out = tmp_path / "r.html"
    path = write_csv(tmp_path / "d.csv", simulate(40))
    assert psyq_cli("analyze", "six", path, "-o", out).exit_code == 0
    html = out.read_text(encoding="utf-8")
    assert "<img" not in html and "<script" not in html
    assert "&lt;img" in html and "&lt;script&gt;" in html
