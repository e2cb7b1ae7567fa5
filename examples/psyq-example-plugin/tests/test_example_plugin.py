"""psyq-example-plugin, tested the way a plugin author would: with psyq.testing fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jinja2
import psyq_example.plugin as plugin
import pytest
from click.testing import Result
from psyq_example.pomp import pomp, pomp_label

from psyq.manager import PsyqPluginManager
from psyq.outputs import RenderRequest, get_output_format
from psyq.plugins.builtin_instruments import builtin_instruments_dir
from psyq.registry import InstrumentRegistry
from psyq.report import ReportSection
from psyq.scoring import Scorer
from psyq.testing import assert_golden_examples

CLI = Callable[..., Result]
Register = Callable[..., Any]

MIXED = "2,1,2,2,1,2,2,2,0,2"  # hand-computed total 19 (see rses.yaml)


# --8<-- [start:fixtures]
@pytest.fixture
def pm(psyq_pm: PsyqPluginManager, psyq_register: Register) -> PsyqPluginManager:
    psyq_register(plugin)
    return psyq_pm


def test_rses_golden_examples(pm: PsyqPluginManager) -> None:
    assert_golden_examples(pm, "rses")


# --8<-- [end:fixtures]


def test_rses_is_registered_next_to_the_builtins(pm: PsyqPluginManager) -> None:
    registry = InstrumentRegistry(pm)
    assert registry.ids() == sorted(
        [*sorted(p.stem for p in builtin_instruments_dir().glob("*.yaml")), "rses"]
    )
    assert registry.entry("rses").source == "psyq-example-plugin"
    rses = registry.get("rses")
    assert [i.id for i in rses.items if i.reverse] == [
        "rses_2",
        "rses_5",
        "rses_6",
        "rses_8",
        "rses_9",
    ]
    assert rses.bounds("total") == (0, 30)


def test_reverse_keying_one_item_at_a_time(pm: PsyqPluginManager) -> None:
    """Raising a positive item by one adds 1; raising a reverse-keyed item subtracts 1."""
    rses = InstrumentRegistry(pm).get("rses")
    scorer = Scorer(pm)
    base = {item.id: 1 for item in rses.items}
    # five positives at 1, five reversed at 3 - 1 = 2
    assert scorer.score(rses, base).total.value == 15
    for item in rses.items:
        bumped = scorer.score(rses, {**base, item.id: 2}).total.value
        assert bumped == (14 if item.reverse else 16), item.id


def test_t_score_comes_from_the_norm_table_the_definition_names(
    pm: PsyqPluginManager, psyq_cli: CLI
) -> None:
    doc = json.loads(psyq_cli("score", "rses", "--answers", MIXED, "--json").output)
    assert doc["scores"]["total"]["value"] == 19
    norm = doc["scores"]["total"]["norm"]
    assert (norm["t"], norm["z"], norm["group"], norm["n"]) == (50.0, 0.0, "whole sample", 50)
    assert "NOT real norms" in norm["table"]
    # Illustrative and small: psyq says so with the numbers.
    assert any(w.startswith("PROVISIONAL norm table 'rses_illustrative'") for w in norm["warnings"])
    assert any(w.startswith("SMALL NORM GROUP") for w in norm["warnings"])


def test_t_score_follows_the_prorated_value(pm: PsyqPluginManager, psyq_cli: CLI) -> None:
    # 17 over 9 answered items -> 18.9 -> 19, so T 50 (the raw 17 would give 46)
    doc = json.loads(psyq_cli("score", "rses", "--answers", "2,1,2,2,1,2,2,2,0,", "--json").output)
    assert doc["scores"]["total"]["prorated"] is True
    assert doc["scores"]["total"]["norm"]["t"] == 50.0


def test_pomp_added_to_extra_by_the_wrapper(pm: PsyqPluginManager, psyq_cli: CLI) -> None:
    doc = json.loads(psyq_cli("score", "rses", "--answers", MIXED, "--json").output)
    assert doc["extra"]["example_pomp"] == {"scale": "total", "pomp": 63.3}  # 19 of 0-30


def test_no_norm_or_pomp_when_unscored_or_another_instrument(
    pm: PsyqPluginManager, psyq_cli: CLI
) -> None:
    unscored = json.loads(
        psyq_cli("score", "rses", "--answers", ",1,2,2,1,2,2,2,0,", "--json").output
    )
    assert unscored["scores"]["total"]["value"] is None
    assert "extra" not in unscored and "norm" not in unscored["scores"]["total"]
    phq9 = json.loads(psyq_cli("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--json").output)
    assert "extra" not in phq9 and "norm" not in phq9["scores"]["total"]


def test_pomp_scale() -> None:
    assert [pomp(0, 0, 30), pomp(19, 0, 30), pomp(30, 0, 30)] == [0.0, 63.3, 100.0]
    with pytest.raises(ValueError, match="empty"):
        pomp(1, 3, 3)
    assert pomp_label(63.3) == "63.3 % of the possible range (POMP)"


def test_markdown_format_from_the_cli(pm: PsyqPluginManager, psyq_cli: CLI) -> None:
    result = psyq_cli("score", "rses", "--answers", MIXED, "--format", "markdown")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "# Rosenberg Self-Esteem Scale (RSES v1.0)"
    assert "| Self-esteem (total) | 19 | 0-30 | Normal range |" in lines
    assert any(line.startswith("T-score: 50 (Illustrative RSES norms") for line in lines)
    assert "POMP: 63.3 %" in lines
    assert lines[-1].startswith("*Note: Bands (below 15 low")


def test_markdown_puts_critical_flags_first_and_escapes_pipes(pm: PsyqPluginManager) -> None:
    fmt = get_output_format(pm, "markdown")
    assert fmt.suffix == ".md" and not fmt.binary
    phq9 = InstrumentRegistry(pm).get("phq9")
    result = Scorer(pm).score(phq9, {f"phq9_{i}": 3 for i in range(1, 10)})
    text = fmt.render(RenderRequest(result=result, instrument=phq9, client_id="a|b")).decode()
    lines = text.splitlines()
    assert lines[2] == "Client: a\\|b"
    assert lines[4].startswith("> **CRITICAL (item phq9_9):** The client endorsed thoughts")
    assert lines.index("| scale | score | range | band |") > 4


def _render_section(pm: PsyqPluginManager, answers: dict[str, int | None]) -> str:
    """Render the example section the way a report does: hook context, hook filters."""
    rses = InstrumentRegistry(pm).get("rses")
    request = RenderRequest(result=Scorer(pm).score(rses, answers), instrument=rses)
    sections: dict[str, ReportSection] = pm.collect_named("psyq_report_sections", "report section")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    for _plugin, filters in pm.collect("psyq_template_filters"):
        env.filters.update(filters)
    context: dict[str, Any] = {"request": request}
    pm.hook.psyq_report_context(request=request, context=context)
    return env.from_string(sections["example_pomp"].template).render(context)


def test_report_section_registration(pm: PsyqPluginManager) -> None:
    sections = pm.collect_named("psyq_report_sections", "report section")
    section = sections["example_pomp"]
    assert section.instruments == ("rses",)
    assert section.replaces is None
    filters = dict(pm.collect("psyq_template_filters"))
    assert filters["psyq_example.plugin"]["example_pomp_label"](50) == (
        "50 % of the possible range (POMP)"
    )
    context: dict[str, Any] = {}
    request = RenderRequest(
        result=Scorer(pm).score(InstrumentRegistry(pm).get("gad7"), {}),
        instrument=InstrumentRegistry(pm).get("gad7"),
    )
    pm.hook.psyq_report_context(request=request, context=context)
    assert context == {}  # scoped to rses with @for_instruments: not run for gad7


def test_report_section_renders_the_pomp_score(pm: PsyqPluginManager) -> None:
    rses = InstrumentRegistry(pm).get("rses")
    answers = dict(zip([i.id for i in rses.items], map(int, MIXED.split(",")), strict=True))
    html = _render_section(pm, answers)
    assert '<section class="example-pomp">' in html
    assert "Self-esteem total: 63.3 % of the possible range (POMP)." in html


def test_report_section_is_empty_without_a_score(pm: PsyqPluginManager) -> None:
    assert _render_section(pm, {"rses_1": 2}).strip() == ""
