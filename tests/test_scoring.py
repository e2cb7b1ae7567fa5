"""The scoring pipeline: rules from the definition file, and stages plugins can change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import yaml

from psyq import hookimpl
from psyq.errors import AnswerError, DuplicateError
from psyq.manager import PsyqPluginManager
from psyq.models import Instrument
from psyq.scoring import Scorer, ScoringMethod, ScoringState, check_examples


def make(minimal_yaml: str, **changes: Any) -> Instrument:
    data = yaml.safe_load(minimal_yaml)
    for key, value in changes.items():
        data[key] = value
    return Instrument.model_validate(data)


@pytest.fixture
def mini(minimal_yaml: str) -> Instrument:
    return make(minimal_yaml)


def test_reverse_keying_and_bands(psyq_pm: PsyqPluginManager, mini: Instrument) -> None:
    result = Scorer(psyq_pm).score(mini, {"m1": 2, "m2": 2, "m3": 0})
    total = result.scores["total"]
    assert total.value == 6  # 2 + 2 + (0 + 2 - 0)
    assert total.band == "high"
    assert [f.id for f in result.flags] == ["often_one"]


def test_proration_within_rule_and_refusal_beyond(
    psyq_pm: PsyqPluginManager, mini: Instrument
) -> None:
    scorer = Scorer(psyq_pm)
    one_missing = scorer.score(mini, {"m1": 1, "m2": None, "m3": 2}).scores["total"]
    assert (one_missing.raw, one_missing.value, one_missing.prorated) == (1, 2, True)  # 1*3/2
    two_missing = scorer.score(mini, {"m1": 1}).scores["total"]
    assert two_missing.value is None
    assert two_missing.reason == "2 of 3 items missing; at most 1 may be missing"


def test_flags_on_unanswered_items_do_not_fire(
    psyq_pm: PsyqPluginManager, mini: Instrument
) -> None:
    assert Scorer(psyq_pm).score(mini, {"m2": 2, "m3": 2}).flags == []


def test_weights_transform_and_decimals(psyq_pm: PsyqPluginManager, minimal_yaml: str) -> None:
    data = yaml.safe_load(minimal_yaml)
    scale = data["scales"][0]
    scale.update(
        weights={"m1": 2.0},
        method="mean",
        decimals=2,
        transform={"multiply": 10, "add": 1},
        missing={"max_missing": 0},
        bands=[],
    )
    inst = Instrument.model_validate(data)
    assert inst.bounds("total") == (1.0, 21.0)
    total = Scorer(psyq_pm).score(inst, {"m1": 1, "m2": 2, "m3": 2}).scores["total"]
    # weighted mean (2*1 + 2 + 0) / 4 = 1.0 -> 1.0 * 10 + 1
    assert total.value == 11.0


@pytest.mark.parametrize("method, prorate", [("mean", False), ("sum", True)])
def test_weights_adding_up_to_zero_leave_the_scale_unscored_not_an_error(
    psyq_pm: PsyqPluginManager, minimal_yaml: str, method: str, prorate: bool
) -> None:
    """The validator refuses a mean or prorated sum with a weight of 0 or below, but a
    copy kept in the store by an older psyq is read as stored (``construct_instrument``)
    and rescored: its scale is left unscored, with the reason, instead of a
    ZeroDivisionError reported as an internal error."""
    from psyq.models import construct_instrument

    data = yaml.safe_load(minimal_yaml)
    data["scales"][0].update(
        weights={"m1": 0.0, "m2": 0.0, "m3": 1.0},
        method=method,
        missing={"max_missing": 1, "prorate": prorate},
        bands=[],
    )
    with pytest.raises(ValueError, match="divides by the answered items' weights"):
        Instrument.model_validate(data)
    kept = construct_instrument(data)
    total = Scorer(psyq_pm).score(kept, {"m1": 2, "m2": 1}).scores["total"]
    assert total.value is None
    assert "weights of the 2 answered items add up to 0" in (total.reason or "")


def test_answers_are_validated(psyq_pm: PsyqPluginManager, mini: Instrument) -> None:
    scorer = Scorer(psyq_pm)
    with pytest.raises(AnswerError, match=r"item m2: '7' is not an allowed answer; allowed: 0-2"):
        scorer.score(mini, {"m2": "7"})
    with pytest.raises(AnswerError, match="unknown item 'm9'"):
        scorer.score(mini, {"m9": 1})
    with pytest.raises(AnswerError, match="item m1: True is not an allowed answer"):
        scorer.score(mini, {"m1": True})


def test_golden_example_mismatch_is_reported(psyq_pm: PsyqPluginManager, minimal_yaml: str) -> None:
    inst = make(
        minimal_yaml,
        examples=[
            {
                "name": "wrong",
                "answers": {"m1": 0, "m2": 0, "m3": 0},
                "expect": {"scores": {"total": 3}},
            }
        ],
    )
    assert check_examples(Scorer(psyq_pm), inst) == [
        "mini example 'wrong': total expected 3.0, got 2"
    ]


class DoubleStage:
    """Replaces the aggregate stage for every scale: twice the plain sum."""

    @hookimpl
    def psyq_score_aggregate(self, state: ScoringState) -> bool:
        for st in state.scales.values():
            values = [state.values[i] or 0.0 for i in st.scale.items]
            st.raw = st.scaled = 2 * sum(values)
        return True


class TScoreWrapper:
    """Wraps the transform stage and adds an extra output, as a norms plugin would."""

    @hookimpl(wrapper=True)
    def psyq_score_transform(self, state: ScoringState) -> Any:
        result = yield
        value = state.scales["total"].value
        state.extra["t_score"] = None if value is None else 50 + 10 * value
        return result


def test_a_plugin_can_replace_a_stage(
    psyq_pm: PsyqPluginManager, psyq_register: Callable[..., object], mini: Instrument
) -> None:
    psyq_register(DoubleStage(), "double")
    total = Scorer(psyq_pm).score(mini, {"m1": 1, "m2": 1, "m3": 1}).scores["total"]
    assert total.value == 6


def test_a_plugin_can_wrap_a_stage(
    psyq_pm: PsyqPluginManager, psyq_register: Callable[..., object], mini: Instrument
) -> None:
    psyq_register(TScoreWrapper(), "tscore")
    result = Scorer(psyq_pm).score(mini, {"m1": 1, "m2": 1, "m3": 1})
    assert result.extra == {"t_score": 80}
    assert result.to_json()["extra"] == {"t_score": 80}


class MedianMethod:
    @hookimpl
    def psyq_scoring_methods(self) -> list[ScoringMethod]:
        def median(values: Sequence[float], weights: Sequence[float]) -> float:
            ordered = sorted(values)
            mid = len(ordered) // 2
            return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

        return [ScoringMethod("median", median)]


def test_a_plugin_scoring_method(
    psyq_pm: PsyqPluginManager, psyq_register: Callable[..., object], minimal_yaml: str
) -> None:
    data = yaml.safe_load(minimal_yaml)
    data["scales"][0].update(method="median", bands=[], missing={"max_missing": 0})
    inst = Instrument.model_validate(data)
    scorer = Scorer(psyq_pm)
    missing = scorer.score(inst, {"m1": 0, "m2": 2, "m3": 2}).scores["total"]
    assert missing.value is None and "'median' is not installed" in (missing.reason or "")
    psyq_register(MedianMethod(), "median")
    assert Scorer(psyq_pm).score(inst, {"m1": 0, "m2": 2, "m3": 2}).scores["total"].value == 0


def test_duplicate_scoring_method_names_both_plugins(
    psyq_pm: PsyqPluginManager, psyq_register: Callable[..., object]
) -> None:
    class Dup:
        @hookimpl
        def psyq_scoring_methods(self) -> list[ScoringMethod]:
            return [ScoringMethod("sum", lambda v, w: 0.0)]

    psyq_register(Dup(), "dup-sum")
    with pytest.raises(
        DuplicateError,
        match="plugin 'dup-sum' provides scoring method 'sum', which built-in plugin",
    ):
        _ = Scorer(psyq_pm).methods
