"""Licensed item texts, supplied by a clinic in ``$PSYQ_HOME/overlays/<id>.yaml``.

Some instruments (BDI-II, ISI) may be scored by anyone, but their item texts
are copyright and licensed per clinic. Their definitions ship placeholder texts
and say so (``licensed_text:``). A clinic that holds a licence writes the texts
into an overlay file::

    instrument: isi
    licence: Item texts used under licence no. 1234 from the copyright holder.
    instructions: ...            # optional
    items:
      isi_1: ...                 # every item of the instrument
    options:                     # optional: answer labels, per response scale
      severity: {0: ..., 1: ..., 2: ..., 3: ..., 4: ...}

The overlay replaces texts only: scoring, bands and flags stay those of the
shipped definition, and so does its content hash. A broken overlay is
reported and ignored (the placeholders stay); it never hides the instrument.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from psyq.errors import DefinitionError
from psyq.models import Identifier, Instrument, LongText, ShortText

if TYPE_CHECKING:
    from psyq.manager import PsyqPluginManager

OVERLAY_SUFFIXES = (".yaml", ".yml", ".json")


class Overlay(BaseModel):
    """One overlay file: the licensed texts of one instrument."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    instrument: Identifier
    licence: LongText = Field(min_length=1, description="The clinic's licence for these texts.")
    instructions: LongText | None = None
    items: dict[Identifier, LongText]
    options: dict[Identifier, dict[int, ShortText]] = Field(default_factory=dict)


class OverlayError(DefinitionError):
    """An overlay file that cannot be used (its instrument keeps its placeholders)."""


def overlay_path(overlay_dir: Path, instrument_id: str) -> Path | None:
    """The overlay file for ``instrument_id`` in ``overlay_dir``, if there is one."""
    for suffix in OVERLAY_SUFFIXES:
        path = overlay_dir / f"{instrument_id}{suffix}"
        if path.is_file():
            return path
    return None


def apply_overlay(pm: PsyqPluginManager, instrument: Instrument, overlay_dir: Path) -> Instrument:
    """``instrument`` with the licensed texts of its overlay, or unchanged without one.

    Raises :class:`OverlayError` (one line naming the file) when the overlay does
    not fit the instrument.
    """
    if instrument.licensed_text is None:
        return instrument
    path = overlay_path(overlay_dir, instrument.id)
    if path is None:
        return instrument
    from psyq.registry import format_validation_error, read_definition

    data = read_definition(pm, path)
    try:
        overlay = Overlay.model_validate(data)
    except ValidationError as exc:
        raise OverlayError(format_validation_error(path, data, exc)) from None
    merged = _merge(instrument, overlay, path)
    try:
        result = Instrument.model_validate(merged)
    except ValidationError as exc:
        raise OverlayError(format_validation_error(path, merged, exc)) from None
    result._overlay = str(path)
    result._base_hash = instrument.content_hash()
    return result


def _merge(instrument: Instrument, overlay: Overlay, path: Path) -> dict[str, Any]:
    if overlay.instrument != instrument.id:
        raise OverlayError(
            f"{path}: instrument is '{overlay.instrument}', but the file is for '{instrument.id}'"
        )
    ids = [item.id for item in instrument.items]
    unknown = sorted(set(overlay.items) - set(ids))
    if unknown:
        raise OverlayError(f"{path}: items: unknown item(s) {', '.join(unknown)}")
    absent = [i for i in ids if i not in overlay.items]
    if absent:
        raise OverlayError(
            f"{path}: items: no text for {', '.join(absent)}; an overlay gives every item's text"
        )
    data = instrument.model_dump(mode="python")
    for item in data["items"]:
        item["text"] = overlay.items[item["id"]]
    for scale_id, labels in overlay.options.items():
        scale = data["response_scales"].get(scale_id)
        if scale is None:
            known = ", ".join(data["response_scales"])
            raise OverlayError(
                f"{path}: options: unknown response scale '{scale_id}'; known: {known}"
            )
        values = [option["value"] for option in scale["options"]]
        stray = sorted(set(labels) - set(values))
        if stray:
            raise OverlayError(
                f"{path}: options.{scale_id}: {stray} are not answers of that scale ({values})"
            )
        for option in scale["options"]:
            option["label"] = labels.get(option["value"], option["label"])
    if overlay.instructions is not None:
        data["instructions"] = overlay.instructions
    data["licence"] = f"{instrument.licence} Item texts: {overlay.licence}"
    return data


def placeholder_notice(instrument: Instrument) -> str:
    """One line saying the licensed texts are not installed, and how to install them."""
    holder = instrument.licensed_text.holder if instrument.licensed_text else "its publisher"
    return (
        f"{instrument.short_name} item texts are licensed ({holder}) and not installed: "
        f"psyq scores it but shows placeholders. A licensed clinic puts the texts in "
        f"$PSYQ_HOME/overlays/{instrument.id}.yaml (see docs/instruments.md, "
        f"'Licensed item texts')."
    )
