"""Small plugins, one per hook, shown in docs/plugins.md and tested in tests/test_recipes.py.

None of them is registered by the ``example`` entry point (some change how every
instrument is scored); a test or an application registers the one it wants::

    pm.register_plugin(RequiredItems(), "required-items")

The blocks between ``--8<--`` markers appear verbatim in docs/plugins.md;
tests/test_docs.py fails if the two drift apart.
"""

from __future__ import annotations

import tomllib
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import click

from psyq import hookimpl
from psyq.app import App
from psyq.errors import DefinitionError
from psyq.results import FlagHit
from psyq.scoring import ScoringMethod, ScoringState

Stage = Generator[None, bool | None, bool | None]


# --8<-- [start:toml-definitions]
class TomlDefinitions:
    """Read instrument definitions written in TOML."""

    @hookimpl
    def psyq_load_definition(self, path: Path, data: bytes) -> dict[str, Any] | None:
        if path.suffix.lower() != ".toml":
            return None  # not ours: the next loader (YAML, JSON) gets a turn
        try:
            return tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DefinitionError(f"{path}: not valid TOML: {exc}") from None


# --8<-- [end:toml-definitions]


# --8<-- [start:max-method]
def _weighted_max(values: Sequence[float], weights: Sequence[float]) -> float:
    return max(v * w for v, w in zip(values, weights, strict=True))


class MaxMethod:
    """``method: max``: the highest (weighted) item value, a "worst symptom" score."""

    @hookimpl
    def psyq_scoring_methods(self) -> list[ScoringMethod]:
        return [ScoringMethod("max", _weighted_max, "Highest weighted item value.")]


# --8<-- [end:max-method]


# --8<-- [start:recode-audit]
class RecodeAudit:
    """Record which answers a ``recode`` map changed, for an audit trail."""

    @hookimpl(wrapper=True)
    def psyq_score_recode(self, state: ScoringState) -> Stage:
        result = yield  # the default stage (or a plugin that replaced it) runs here
        state.extra["recoded_items"] = sorted(
            item_id
            for item_id, answer in state.answers.items()
            if answer is not None and state.values.get(item_id) != answer
        )
        return result


# --8<-- [end:recode-audit]


# --8<-- [start:reverse-items]
class ReverseItems:
    """Reverse-key items named here, for an old definition that lacks ``reverse: true``."""

    def __init__(self, instrument_id: str, item_ids: set[str]) -> None:
        self.instrument_id = instrument_id
        self.item_ids = item_ids

    @hookimpl
    def psyq_score_reverse(self, state: ScoringState) -> bool | None:
        if state.instrument.id != self.instrument_id:
            return None  # other instruments: the default stage runs
        for item in state.instrument.items:
            value = state.values.get(item.id)
            if value is not None and (item.reverse or item.id in self.item_ids):
                scale = state.instrument.response_scale_for(item)
                state.values[item.id] = scale.min + scale.max - value
        return True  # this instrument: the default stage is skipped


# --8<-- [end:reverse-items]


# --8<-- [start:complete-forms]
class CompleteFormsOnly:
    """A study protocol's policy: score a scale only when all its items are answered."""

    @hookimpl
    def psyq_score_missing(self, state: ScoringState) -> None:
        for scale_state in state.scales.values():
            missing = [i for i in scale_state.scale.items if state.values[i] is None]
            if missing:
                scale_state.reason = f"{len(missing)} item(s) missing; complete forms only"
        # Returning None lets the default stage run next: it counts answered and
        # missing items, and sets a reason only where the file's own rule fails.


# --8<-- [end:complete-forms]


# --8<-- [start:unrounded-scores]
class UnroundedScores:
    """Keep each scale's aggregate before transform and rounding (for research exports)."""

    @hookimpl(wrapper=True)
    def psyq_score_aggregate(self, state: ScoringState) -> Stage:
        result = yield
        state.extra["unrounded"] = {sid: st.scaled for sid, st in state.scales.items()}
        return result


# --8<-- [end:unrounded-scores]


# --8<-- [start:clinical-range]
class ClinicalRange:
    """Say, per scale, whether the value lies in the clinical range (``clinical_cutoff``)."""

    @hookimpl(wrapper=True)
    def psyq_score_interpret(self, state: ScoringState) -> Stage:
        result = yield
        state.extra["clinical_range"] = {
            sid: st.scale.in_clinical_range(st.value) if st.value is not None else None
            for sid, st in state.scales.items()
        }
        return result


# --8<-- [end:clinical-range]


# --8<-- [start:straight-lining]
class StraightLining:
    """An info flag when every scored item got the same answer (a response pattern)."""

    @hookimpl(wrapper=True)
    def psyq_score_flags(self, state: ScoringState) -> Stage:
        result = yield  # the instrument's own flag rules are evaluated first
        scored = [i.id for i in state.instrument.items if i.scored]
        answers = {state.answers.get(item_id) for item_id in scored}
        if len(scored) >= 5 and len(answers) == 1 and None not in answers:
            state.flags.append(
                FlagHit(
                    id="straight_lining",
                    level="info",
                    item=None,
                    message="Every item got the same answer; check the form was read.",
                )
            )
        return result


# --8<-- [end:straight-lining]


# --8<-- [start:sources-command]
@click.command("sources")
@click.pass_obj
def sources_command(app: App) -> None:
    """List instrument sources and the instruments each provides."""
    by_source: dict[str, list[str]] = {}
    for entry in app.registry.all():
        by_source.setdefault(entry.source, []).append(entry.instrument.id)
    for source, ids in by_source.items():
        click.echo(f"{source}: {', '.join(ids)}")


class SourcesCommand:
    @hookimpl
    def psyq_register_commands(self) -> list[click.Command]:
        return [sources_command]


# --8<-- [end:sources-command]
