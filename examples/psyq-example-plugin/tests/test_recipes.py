"""The one-hook recipes shown in docs/plugins.md, each registered alone and exercised."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psyq_example.plugin
import pytest
import yaml
from click.testing import Result
from psyq_example.recipes import (
    ClinicalRange,
    CompleteFormsOnly,
    MaxMethod,
    RecodeAudit,
    ReverseItems,
    SourcesCommand,
    StraightLining,
    TomlDefinitions,
    UnroundedScores,
)

from psyq.manager import PsyqPluginManager
from psyq.models import Instrument
from psyq.plugins.builtin_instruments import builtin_instruments_dir
from psyq.registry import InstrumentRegistry, InstrumentSource
from psyq.scoring import Scorer

CLI = Callable[..., Result]
Register = Callable[..., Any]

TOML = """\
id = "tiny"
version = "1"
title = "Tiny scale"
short_name = "TINY"
licence = "test"
status = "validated"

[response_scales.yes_no]
options = [{value = 0, label = "No"}, {value = 1, label = "Yes"}]

[[items]]
id = "t1"
text = "One"
response_scale = "yes_no"

[[items]]
id = "t2"
text = "Two"
response_scale = "yes_no"

[[scales]]
id = "total"
label = "Total"
items = ["t1", "t2"]

[[examples]]
name = "both yes"
answers = {t1 = 1, t2 = 1}
expect = {scores = {total = 2}}
"""


MINI = """\
id: mini
version: "1"
title: Mini scale
short_name: MINI
licence: test
status: validated
response_scales:
  freq:
    options:
      - {value: 0, label: Never}
      - {value: 1, label: Sometimes}
      - {value: 2, label: Often}
items:
  - {id: m1, text: One, response_scale: freq}
  - {id: m2, text: Two, response_scale: freq}
  - {id: m3, text: Three, response_scale: freq, reverse: true}
scales:
  - id: total
    label: Total
    items: [m1, m2, m3]
    missing: {max_missing: 1, prorate: true}
    bands:
      - {id: low, label: Low, min: 0, max: 2}
      - {id: high, label: High, min: 3, max: 6, severity: 2}
"""


@pytest.fixture
def minimal_yaml() -> str:
    return MINI


def mini(minimal_yaml: str, **changes: Any) -> Instrument:
    """A three-item test instrument, with top-level fields replaced."""
    data = yaml.safe_load(minimal_yaml)
    for key, value in changes.items():
        data[key] = value
    return Instrument.model_validate(data)


def phq9(pm: PsyqPluginManager) -> Instrument:
    return InstrumentRegistry(pm).get("phq9")


def test_psyq_load_definition_toml(psyq_register: Register, psyq_cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TOML)
    without = psyq_cli("validate", str(path))
    assert without.exit_code == 2
    assert "no plugin reads '.toml' files" in without.stderr
    psyq_register(TomlDefinitions(), name="toml")
    validated = psyq_cli("validate", str(path))
    assert validated.exit_code == 0, validated.stderr
    assert "tiny v1, 1 golden example(s) pass" in validated.output
    broken = tmp_path / "broken.toml"
    broken.write_text('id = "x\n')
    result = psyq_cli("validate", str(broken))
    assert result.exit_code == 2
    assert f"FAIL {broken}: not valid TOML:" in result.stderr
    # YAML files still reach the default loader: the TOML loader returned None for them.
    assert psyq_cli("validate").exit_code == 0


def test_toml_file_as_an_instrument_source(
    psyq_register: Register, psyq_registry: InstrumentRegistry, tmp_path: Path
) -> None:
    (tmp_path / "tiny.toml").write_text(TOML)

    class Pack:
        @psyq_example.plugin.hookimpl
        def psyq_instrument_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("toml pack", tmp_path / "tiny.toml")]

    psyq_register(TomlDefinitions(), name="toml")
    psyq_register(Pack(), name="pack")
    assert psyq_registry.entry("tiny").source == "toml pack"


def test_psyq_scoring_methods_max(
    psyq_pm: PsyqPluginManager, psyq_register: Register, minimal_yaml: str
) -> None:
    scales = [{"id": "total", "label": "Worst", "items": ["m1", "m2", "m3"], "method": "max"}]
    inst = mini(minimal_yaml, scales=scales)
    unscored = Scorer(psyq_pm).score(inst, {"m1": 1, "m2": 2, "m3": 0}).total
    assert unscored.reason == "scoring method 'max' is not installed"
    psyq_register(MaxMethod(), name="max")
    # m3 is reverse-keyed: answer 0 scores 2
    assert Scorer(psyq_pm).score(inst, {"m1": 1, "m2": 0, "m3": 0}).total.value == 2
    assert Scorer(psyq_pm).score(inst, {"m1": 1, "m2": 1, "m3": 2}).total.value == 1


def test_psyq_score_recode_audit(
    psyq_pm: PsyqPluginManager, psyq_register: Register, minimal_yaml: str
) -> None:
    psyq_register(RecodeAudit(), name="audit")
    items = [
        {"id": "m1", "text": "One", "response_scale": "freq", "recode": {2: 4}},
        {"id": "m2", "text": "Two", "response_scale": "freq"},
        {"id": "m3", "text": "Three", "response_scale": "freq"},
    ]
    scales = [{"id": "total", "label": "Total", "items": ["m1", "m2", "m3"]}]
    inst = mini(minimal_yaml, items=items, scales=scales)
    result = Scorer(psyq_pm).score(inst, {"m1": 2, "m2": 2, "m3": 1})
    assert result.extra["recoded_items"] == ["m1"]
    assert result.total.value == 7
    assert Scorer(psyq_pm).score(inst, {"m1": 1, "m2": 2, "m3": 1}).extra["recoded_items"] == []


def test_psyq_score_reverse_replaced_for_one_instrument(
    psyq_pm: PsyqPluginManager, psyq_register: Register, minimal_yaml: str
) -> None:
    inst = mini(minimal_yaml)
    zeros = {"m1": 0, "m2": 0, "m3": 0}
    assert Scorer(psyq_pm).score(inst, zeros).total.value == 2  # m3 reversed: 0 -> 2
    before = Scorer(psyq_pm).score(phq9(psyq_pm), {f"phq9_{i}": 1 for i in range(1, 10)})
    psyq_register(ReverseItems("mini", {"m1"}), name="reverse")
    assert Scorer(psyq_pm).score(inst, zeros).total.value == 4  # and m1: 0 -> 2
    after = Scorer(psyq_pm).score(phq9(psyq_pm), {f"phq9_{i}": 1 for i in range(1, 10)})
    assert after == before


def test_psyq_score_missing_complete_forms_only(
    psyq_pm: PsyqPluginManager, psyq_register: Register
) -> None:
    one_missing: dict[str, int | None] = {f"phq9_{i}": 1 for i in range(1, 10)} | {"phq9_9": 0}
    one_missing["phq9_4"] = None
    assert Scorer(psyq_pm).score(phq9(psyq_pm), one_missing).total.value == 8  # 7 x 9 / 8
    psyq_register(CompleteFormsOnly(), name="complete")
    total = Scorer(psyq_pm).score(phq9(psyq_pm), one_missing).total
    assert (total.value, total.reason) == (None, "1 item(s) missing; complete forms only")
    assert (total.answered, total.missing) == (8, 1)
    complete = one_missing | {"phq9_4": 1}
    assert Scorer(psyq_pm).score(phq9(psyq_pm), complete).total.value == 8


def test_psyq_score_aggregate_keeps_unrounded(
    psyq_pm: PsyqPluginManager, psyq_register: Register
) -> None:
    psyq_register(UnroundedScores(), name="unrounded")
    answers: dict[str, int | None] = {f"phq9_{i}": 1 for i in range(1, 10)}
    answers.update(phq9_1=2, phq9_2=2, phq9_3=2, phq9_5=None, phq9_9=0)
    result = Scorer(psyq_pm).score(phq9(psyq_pm), answers)
    assert result.total.value == 11
    assert result.extra["unrounded"]["total"] == 11.25  # 10 x 9 / 8


def test_psyq_score_interpret_clinical_range(
    psyq_pm: PsyqPluginManager, psyq_register: Register
) -> None:
    psyq_register(ClinicalRange(), name="clinical")
    scorer = Scorer(psyq_pm)
    high = scorer.score(phq9(psyq_pm), {f"phq9_{i}": 2 for i in range(1, 6)} | {"phq9_6": 0})
    assert high.total.value is None  # 4 missing: not scored
    assert high.extra["clinical_range"]["total"] is None
    ten = {f"phq9_{i}": (2 if i <= 5 else 0) for i in range(1, 10)}
    assert scorer.score(phq9(psyq_pm), ten).extra["clinical_range"]["total"] is True
    nine = ten | {"phq9_5": 1}
    assert scorer.score(phq9(psyq_pm), nine).extra["clinical_range"]["total"] is False


def test_psyq_score_flags_straight_lining(psyq_register: Register, psyq_cli: CLI) -> None:
    psyq_register(StraightLining(), name="pattern")
    same = json.loads(psyq_cli("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,1", "--json").output)
    assert [(f["id"], f["level"]) for f in same["flags"]] == [
        ("suicidal_ideation", "critical"),
        ("straight_lining", "info"),
    ]
    varied = json.loads(
        psyq_cli("score", "phq9", "--answers", "1,2,1,1,1,1,1,1,0", "--json").output
    )
    assert varied["flags"] == []
    table = psyq_cli("score", "gad7", "--answers", "0,0,0,0,0,0,0").output
    assert "info: Every item got the same answer" in table


def test_psyq_register_commands_sources(psyq_register: Register, psyq_cli: CLI) -> None:
    assert psyq_cli("sources").exit_code == 2  # no such command yet
    psyq_register(SourcesCommand(), name="sources")
    psyq_register(psyq_example.plugin)
    result = psyq_cli("sources")
    assert result.exit_code == 0
    builtins = ", ".join(sorted(p.stem for p in builtin_instruments_dir().glob("*.yaml")))
    assert result.output.splitlines() == [
        f"psyq (built-in): {builtins}",
        "psyq-example-plugin: rses",
    ]


@pytest.mark.parametrize("recipe", [RecodeAudit, UnroundedScores, ClinicalRange, StraightLining])
def test_wrappers_leave_scores_unchanged(
    psyq_pm: PsyqPluginManager, psyq_register: Register, recipe: type
) -> None:
    inst = InstrumentRegistry(psyq_pm).get("ccts")
    answers = {item.id: (n % 5) for n, item in enumerate(inst.items)}
    before = Scorer(psyq_pm).score(inst, answers)
    psyq_register(recipe(), name="recipe")
    after = Scorer(psyq_pm).score(inst, answers)
    assert after.scores == before.scores
