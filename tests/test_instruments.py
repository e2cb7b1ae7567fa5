"""Built-in instruments: golden examples and the published scoring rules."""

from __future__ import annotations

import json

import pytest

from psyq.manager import PsyqPluginManager
from psyq.models import PROVISIONAL_NOTICE, Instrument
from psyq.registry import InstrumentRegistry
from psyq.scoring import Scorer
from psyq.testing import CLI, assert_golden_examples

# The original four, then the library of issue #14.
ORIGINAL = ["ccts", "gad7", "phq9", "who5"]
LIBRARY = ["audit", "auditc", "bdi2", "dass21", "epds", "gad2", "isi", "k10", "pcl5"]
LIBRARY += ["pcptsd5", "phq15", "phq2", "pss10"]
BUILTINS = sorted([*ORIGINAL, *LIBRARY])
# Published without cut-offs: PSS-10 (no official bands); DASS-21's total (only its
# subscales have the manual's severity labels).
NO_TOTAL_BANDS = {"pss10", "dass21", "ccts"}


def test_builtins_load_without_problems(registry: InstrumentRegistry) -> None:
    assert registry.ids() == BUILTINS
    assert registry.problems == []


@pytest.mark.parametrize("instrument_id", BUILTINS)
def test_golden_examples(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry, instrument_id: str
) -> None:
    inst = registry.get(instrument_id)
    assert len(inst.examples) >= 6
    assert_golden_examples(psyq_pm, inst)


@pytest.mark.parametrize("instrument_id", BUILTINS)
def test_every_builtin_carries_citation_and_licence(
    registry: InstrumentRegistry, instrument_id: str
) -> None:
    inst = registry.get(instrument_id)
    assert inst.citations and inst.licence
    # Bands need data behind them: the provisional CCTS has none yet; PSS-10 and the
    # DASS-21 total have no published cut-offs.
    assert bool(inst.total.bands) != (instrument_id in NO_TOTAL_BANDS)


def scored(pm: PsyqPluginManager, inst: Instrument, answers: dict[str, int | None]) -> dict:  # type: ignore[type-arg]
    return Scorer(pm).score(inst, answers).to_json()


def test_phq9_proration_rounds_half_up(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    phq9 = registry.get("phq9")
    # 8 answered, sum 4: 4 x 9 / 8 = 4.5, which rounds up to 5 (mild); round() would give 4.
    answers = {f"phq9_{i}": 0 for i in range(1, 10)}
    answers.update(phq9_1=2, phq9_2=2, phq9_3=None)
    total = scored(psyq_pm, phq9, answers)["scores"]["total"]
    assert total["value"] == 5
    assert total["raw"] == 4
    assert total["band"] == "mild"
    assert total["prorated"] is True
    assert total["missing"] == 1


def test_phq9_three_missing_is_not_scored_but_item9_still_flags(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    phq9 = registry.get("phq9")
    answers: dict[str, int | None] = {f"phq9_{i}": 1 for i in range(1, 10)}
    answers.update(phq9_1=None, phq9_2=None, phq9_3=None)
    doc = scored(psyq_pm, phq9, answers)
    total = doc["scores"]["total"]
    assert total["value"] is None and total["band"] is None
    assert "3 of 9 items missing" in total["reason"]
    assert [(f["id"], f["level"], f["item"]) for f in doc["flags"]] == [
        ("suicidal_ideation", "critical", "phq9_9")
    ]


def test_phq9_item10_is_asked_but_not_scored(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    phq9 = registry.get("phq9")
    assert not phq9.item("phq9_10").scored
    base = {f"phq9_{i}": 1 for i in range(1, 10)}
    without = scored(psyq_pm, phq9, base)["scores"]["total"]["value"]
    with_10 = scored(psyq_pm, phq9, {**base, "phq9_10": 3})["scores"]["total"]["value"]
    assert without == with_10 == 9


def test_who5_value_is_raw_times_four_and_higher_is_better(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    who5 = registry.get("who5")
    assert who5.total.higher_is_worse is False
    answers = {"who5_1": 3, "who5_2": 3, "who5_3": 2, "who5_4": 2, "who5_5": 2}
    total = scored(psyq_pm, who5, answers)["scores"]["total"]
    assert (total["raw"], total["value"], total["band"]) == (12, 48, "poor_wellbeing")


def test_ccts_structure(registry: InstrumentRegistry) -> None:
    ccts = registry.get("ccts")
    assert (ccts.version, ccts.status) == ("0.2", "provisional")
    assert PROVISIONAL_NOTICE in ccts.notices
    assert any("outside the therapist's view" in n for n in ccts.notices)
    assert "therapist cannot see your answers" in ccts.instructions
    assert any("caretaking-in-therapy" in c.text for c in ccts.citations)
    assert len(ccts.items) == 16
    subscales = [s for s in ccts.scales if s.id != "total"]
    assert [s.id for s in subscales] == ["putting_first", "protecting", "deflecting", "helper_role"]
    for sub in subscales:
        assert len(sub.items) == 4
        assert sub.method == "mean" and sub.missing.min_answered == 3
    assert ccts.total.missing.min_answered == 12 and ccts.total.decimals == 2
    # No cut-offs until data exist: no bands, no clinical cut-off, anywhere.
    assert not any(s.bands or s.clinical_cutoff is not None for s in ccts.scales)
    conditional = [i.id for i in ccts.items if ccts.response_scale_for(i).missing_values]
    assert conditional == ["ccts2_03", "ccts2_11"]
    assert all(i.text.startswith("When ") for i in ccts.items if i.id in conditional)
    assert not any(i.text.startswith("When ") for i in ccts.items if i.id not in conditional)


def test_ccts_did_not_happen_is_stored_and_counts_as_missing(psyq_cli: CLI) -> None:
    answers = "2,2,9,2,2,2,2,2,2,2,9,2,2,2,2,2"
    doc = json.loads(psyq_cli("score", "ccts", "--answers", answers, "--json").stdout)
    assert doc["answers"]["ccts2_03"] == 9  # as given
    deflecting = doc["scores"]["deflecting"]
    assert (deflecting["value"], deflecting["answered"], deflecting["missing"]) == (None, 2, 2)
    assert doc["scores"]["total"]["value"] == 2.0  # 14 answered items, all 2


def test_ccts_v01_stays_reproducible(psyq_pm: PsyqPluginManager) -> None:
    from psyq.superseded import find_version

    old = find_version(psyq_pm, "ccts", "0.1")
    assert old is not None and old.version == "0.1"
    assert [s.id for s in old.scales][:4] == [
        "attention",
        "protection",
        "role_reversal",
        "deflection",
    ]
    assert_golden_examples(psyq_pm, old)  # every v0.1 example scores as it always did


def test_ccts_output_says_it_is_provisional(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    ccts = registry.get("ccts")
    doc = scored(psyq_pm, ccts, {item.id: 2 for item in ccts.items})
    assert doc["instrument"]["status"] == "provisional"
    assert any("no norms" in n for n in doc["notices"])
    assert any("provisional" in n for n in doc["notices"])


def test_ccts_reverse_keyed_item_scores_four_minus_answer(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    ccts = registry.get("ccts")
    putting_first = ccts.scale("putting_first")
    reverse = next(i for i in putting_first.items if ccts.item(i).reverse)
    answers: dict[str, int | None] = {i: 0 for i in putting_first.items}
    answers[reverse] = 1
    doc = scored(psyq_pm, ccts, answers)
    assert doc["scores"]["putting_first"]["value"] == 0.75  # (0 + 0 + 0 + (4 - 1)) / 4
