"""The instrument model refuses inconsistent definitions with a message naming the part."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from psyq.models import Instrument, ReliableChange, round_half_up


def load(minimal_yaml: str, edit: Any = None) -> Instrument:
    data = yaml.safe_load(minimal_yaml)
    if edit is not None:
        edit(data)
    return Instrument.model_validate(data)


def refused(minimal_yaml: str, edit: Any) -> str:
    with pytest.raises(ValidationError) as info:
        load(minimal_yaml, edit)
    return str(info.value)


def test_minimal_definition_and_bounds(minimal_yaml: str) -> None:
    inst = load(minimal_yaml)
    assert inst.bounds("total") == (0, 6)
    assert inst.total.band_for(2.0) is not None and inst.total.band_for(2.0).id == "low"  # type: ignore[union-attr]
    assert inst.content_hash().startswith("sha256:")
    assert inst.notices == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["items"].append(dict(d["items"][0])), "duplicate item id 'm1'"),
        (lambda d: d["scales"][0].update(id="main"), "needs a scale with id 'total'"),
        (lambda d: d["scales"][0]["items"].append("m9"), "scale total: unknown item 'm9'"),
        (lambda d: d["items"][0].update(response_scale="nope"), "response_scale 'nope'"),
        (
            lambda d: d["scales"][0]["bands"][1].update(min=2),
            "bands low (to 2) and high (from 2) overlap",
        ),
        (
            lambda d: d["scales"][0]["bands"][1].update(max=5),
            "bands must cover the whole range 0-6",
        ),
        (lambda d: d["flags"][0]["when"].update(item="m7"), "flag often_one: unknown item 'm7'"),
        (
            lambda d: d["examples"][0]["answers"].update(m1=5),
            "item m1 answer 5 not in 0-2",
        ),
        (lambda d: d["scales"][0].update(method="mean"), "prorate applies to sum scales only"),
        (lambda d: d["items"][0].update(scored=False), "item 'm1' is marked scored: false"),
        (lambda d: d.update(status="draft"), "status"),
        (lambda d: d.update(id="Bad-Id"), "id"),
        (lambda d: d["scales"][0]["missing"].update(max_missing=3), "max_missing must be below"),
        (lambda d: d["flags"][0].update(when={"item": "m1"}), "needs op and value"),
        (
            lambda d: d["response_scales"]["freq"]["options"].append({"value": 0, "label": "x"}),
            "option values must be unique",
        ),
    ],
)
def test_inconsistent_definitions_are_refused(minimal_yaml: str, edit: Any, message: str) -> None:
    assert message in refused(minimal_yaml, edit)


def test_provisional_status_brings_the_notice(minimal_yaml: str) -> None:
    inst = load(minimal_yaml, lambda d: d.update(status="provisional", notice="Own words."))
    assert len(inst.notices) == 2 and "no norms" in inst.notices[0]
    assert inst.notices[1] == "Own words."


def test_reliable_change_needs_one_complete_criterion() -> None:
    with pytest.raises(ValidationError, match="give either threshold"):
        ReliableChange()
    with pytest.raises(ValidationError, match="sd and reliability go together"):
        ReliableChange(threshold=3, sd=4)
    assert ReliableChange(threshold=6).critical_delta() == 6


@pytest.mark.parametrize(
    ("x", "decimals", "expected"),
    [(4.5, 0, 5), (5.5, 0, 6), (2.675, 2, 2.68), (1.125, 2, 1.13), (-0.5, 0, -1), (11.25, 0, 11)],
)
def test_round_half_up_rounds_halves_away_from_zero(
    x: float, decimals: int, expected: float
) -> None:
    # The expected values are written by hand: halves go away from zero (4.5 -> 5,
    # where Python's round() gives 4), and 2.675 is the decimal a person wrote.
    assert round_half_up(x, decimals) == expected
