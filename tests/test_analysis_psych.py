"""`psyq analyze` against R's psych package on the bfi data.

tests/fixtures/psych/bfi_reference.R computed the reference values with
psych 2.2.9 / GPArotation 2022.10.2 from ../shared/corpus/bfi (read in place);
its output is bfi_reference.json, so these tests need no R. The bfi columns
are upper case (A1); psyq item ids are lower case, so the tests pass psyq a
copy of the corpus file in tmp_path with the header lower-cased and nothing
else changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from psyq.testing import CLI, Register

from .conftest import SHARED
from .packs import DirectoryPack

FIXTURES = Path(__file__).parent / "fixtures" / "psych"
BFI = SHARED / "corpus" / "bfi" / "Rdatasets__psych_bfi.csv"
REF: dict[str, Any] = json.loads((FIXTURES / "bfi_reference.json").read_text(encoding="utf-8"))

pytestmark = pytest.mark.skipif(not BFI.is_file(), reason="../shared/corpus/bfi is not present")


@pytest.fixture
def bfi_csv(tmp_path: Path) -> Path:
    text = BFI.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    path = tmp_path / "bfi.csv"
    path.write_text(header.lower() + "\n" + rest, encoding="utf-8")
    return path


@pytest.fixture
def cli(psyq_register: Register, psyq_cli: CLI) -> CLI:
    psyq_register(DirectoryPack("bfi pack", FIXTURES / "instruments"), "bfi-pack")
    return psyq_cli


def analyse(cli: CLI, path: Path, *extra: str) -> dict[str, Any]:
    result = cli(
        "analyze",
        "bfi",
        path,
        "--id-column",
        "rownames",
        "--ignore-extra-columns",
        "--json",
        *extra,
    )
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@pytest.fixture(scope="module")
def pairwise(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # One analysis shared by the comparisons below (the EFA and parallel analysis take a second).
    from click.testing import CliRunner

    from psyq.app import App
    from psyq.cli import create_cli
    from psyq.manager import create_plugin_manager

    tmp = tmp_path_factory.mktemp("bfi")
    text = BFI.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    path = tmp / "bfi.csv"
    path.write_text(header.lower() + "\n" + rest, encoding="utf-8")
    pm = create_plugin_manager(load_entrypoints=False, strict=True)
    pm.register(DirectoryPack("bfi pack", FIXTURES / "instruments"), "bfi-pack")
    cli = create_cli(pm, App(pm, home=tmp / "home"))
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            "bfi",
            str(path),
            "--id-column",
            "rownames",
            "--ignore-extra-columns",
            "--json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@pytest.mark.parametrize("scale", sorted(REF["scales"]))
def test_alpha_matches_psych_to_three_decimals(pairwise: dict[str, Any], scale: str) -> None:
    ref = REF["scales"][scale]
    got = pairwise["scales"][scale]
    assert got["alpha"]["raw"] == pytest.approx(ref["raw"], abs=5e-4)
    assert got["alpha"]["std"] == pytest.approx(ref["std"], abs=5e-4)
    assert got["average_r"] == pytest.approx(ref["average_r"], abs=5e-4)
    assert got["alpha"]["ci"][0] == pytest.approx(ref["feldt_lower"], abs=5e-4)
    assert got["alpha"]["ci"][1] == pytest.approx(ref["feldt_upper"], abs=5e-4)
    assert got["omega_total"] == pytest.approx(ref["omega_total"], abs=1e-3)


@pytest.mark.parametrize("scale", sorted(REF["scales"]))
def test_item_statistics_match_psych(pairwise: dict[str, Any], scale: str) -> None:
    for item, ref in REF["scales"][scale]["items"].items():
        got = pairwise["scales"][scale]["items"][item.lower()]
        assert got["n"] == ref["n"], item
        assert got["mean"] == pytest.approx(ref["mean"], abs=5e-4), item
        assert got["sd"] == pytest.approx(ref["sd"], abs=5e-4), item
        assert got["r_drop"] == pytest.approx(ref["r_drop"], abs=5e-4), item
        assert got["alpha_if_dropped"] == pytest.approx(ref["alpha_if_dropped"], abs=5e-4), item


def test_efa_loadings_match_psych_fa_minres_oblimin(cli: CLI, bfi_csv: Path) -> None:
    doc = analyse(cli, bfi_csv, "--factors", "5")
    factors = doc["factors"]
    assert (factors["method"], factors["rotation"], factors["nfactors"]) == ("minres", "oblimin", 5)
    for row, item in zip(REF["efa"]["loadings"], REF["items"], strict=True):
        got = factors["loadings"][item.lower()]
        assert got == pytest.approx(row, abs=1e-3), item
    for got_row, ref_row in zip(factors["phi"], REF["efa"]["phi"], strict=True):
        assert got_row == pytest.approx(ref_row, abs=1e-3)


def test_omega_hierarchical_matches_psych_omega(pairwise: dict[str, Any]) -> None:
    # The bfi total has the five domains as subscales: psych::omega(nfactors = 5).
    total = pairwise["scales"]["total"]
    assert total["omega_h_factors"] == 5
    assert total["omega_h"] == pytest.approx(REF["omega5"]["omega_h"], abs=1e-3)


def test_parallel_analysis_agrees_with_psych(pairwise: dict[str, Any]) -> None:
    parallel = pairwise["factors"]["parallel"]
    assert parallel["n_components"] == REF["parallel"]["ncomp"]
    assert parallel["n_factors"] == REF["parallel"]["nfact"]
    # Observed eigenvalues of the correlation matrix are deterministic: match R exactly.
    assert parallel["observed_pc"] == pytest.approx(REF["efa"]["eigen_r"], abs=1e-6)


def test_listwise_matches_psych_on_complete_cases(cli: CLI, bfi_csv: Path) -> None:
    doc = analyse(cli, bfi_csv, "--listwise")
    ref = REF["agree_listwise"]
    got = doc["scales"]["agree"]
    assert doc["data"]["missing_data"] == "listwise"
    assert got["alpha"]["raw"] == pytest.approx(ref["raw"], abs=5e-4)
    assert got["alpha"]["std"] == pytest.approx(ref["std"], abs=5e-4)
    for item, ref_item in ref["items"].items():
        got_item = got["items"][item.lower()]
        assert got_item["r_drop"] == pytest.approx(ref_item["r_drop"], abs=5e-4)
        assert got_item["alpha_if_dropped"] == pytest.approx(ref_item["alpha_if_dropped"], abs=5e-4)
