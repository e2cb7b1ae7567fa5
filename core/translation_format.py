"""The translation format: an instrument's texts in one language.

A translation sits in the instrument's definition (``translations: {es: {...}}``)
or in a file of its own that names the instrument it translates
(``translation_of: phq9``), so a plugin can add a language to a built-in
instrument. Either way it must give *every* text the respondent or the
clinician reads: title, instructions, every item, every answer label, every band
label and interpretation, every flag message. :func:`psyq.translations.problems`
names what is missing; a form is never shown half translated. Scale labels, skip
reasons and ``client_bands`` texts are optional: one not given is shown in English,
and a report in that language says which (:func:`psyq.translations.untranslated`).

Only texts are translated: values, scoring, bands' ranges and flags' conditions
always come from the instrument itself. This module imports nothing of psyq
but :mod:`psyq.text` (which imports nothing), so :mod:`psyq.models` can use it.
"""

# No `from __future__ import annotations` (see psyq.models): pydantic evaluates no
# strings when these classes are made.
import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from psyq.text import no_control

LanguageTag = Annotated[
    str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)
]
"""A BCP 47 language tag: ``es``, ``de``, ``es-MX``, ``ar``, ``zh-Hant``."""
_Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


def no_override(text: str) -> str:
    """``text``, refused when it holds a bidi override (U+202D, U+202E): one makes the
    words after it read in reverse ("score 21" as "12 erocs") in a report or on a
    terminal. Right-to-left text needs none: its language sets the direction, and marks
    (U+200E, U+200F) and isolates (U+2066-U+2069) stay allowed."""
    for char in ("\u202d", "\u202e"):
        if char in text:
            raise ValueError(
                f"contains the bidi override U+{ord(char):04X}, which shows the text after "
                "it in reverse; the language sets the direction (use a mark or an isolate "
                "where one is needed)"
            )
    return text


_Short = Annotated[
    str,
    StringConstraints(max_length=500, min_length=1),
    AfterValidator(no_control),
    AfterValidator(no_override),
]
_Long = Annotated[
    str,
    StringConstraints(max_length=10_000),
    AfterValidator(no_control),
    AfterValidator(no_override),
]
_ItemText = Annotated[
    str,
    StringConstraints(max_length=10_000, min_length=1),
    AfterValidator(no_control),
    AfterValidator(no_override),
]


def _option_value(value: object) -> object:
    """An answer option's value as the instrument writes it: ``0`` (or ``"0"``, as JSON
    writes every key). Pydantic also read ``true`` as 1 and ``1.0`` or ``"01"`` as 1, so
    a label written for something else labelled option 1."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?(0|[1-9][0-9]{0,17})", value):
        return int(value)
    raise ValueError(f"{value!r} is not an option value (a whole number, as the instrument gives)")


_OptionValue = Annotated[int, BeforeValidator(_option_value)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True
    )


class BandText(_Model):
    label: _Short
    interpretation: _Long = ""
    if_flagged: list[_Long] = Field(
        default_factory=list,
        max_length=20,
        description="The band's if_flagged texts, in the same order.",
    )


class ClientBandsText(_Model):
    """One ``client_bands`` entry of a scale (AUDIT-C's cut-offs for women): where its
    cut-offs come from and, when given, every one of its bands' texts."""

    source: _Long = Field(
        "",
        description="The entry's source: psyq's words translated, "
        "citations (authors, titles, years) as published.",
    )
    bands: dict[_Key, BandText] = Field(
        default_factory=dict, description="Band label and interpretation by band id."
    )


class Translation(_Model):
    """Every text of an instrument in one language, and where the translation comes from."""

    source: _Long = Field(
        min_length=1,
        description="Who made this translation and where it is published (never a machine).",
    )
    title: _Short
    short_name: _Short | None = None
    instructions: _Long = ""
    recall_period: _Long = ""
    notice: _Long = ""
    response_scales: dict[_Key, dict[_OptionValue, _Short]] = Field(
        default_factory=dict, description="Answer labels by response scale id, then value."
    )
    # No control character (a terminal would obey it) and no bidi override, as in every text.
    items: dict[_Key, _ItemText] = Field(default_factory=dict, description="Item texts by item id.")
    bands: dict[_Key, dict[_Key, BandText]] = Field(
        default_factory=dict, description="Band label and interpretation by scale id, band id."
    )
    flags: dict[_Key, _Long] = Field(default_factory=dict, description="Flag messages by id.")
    # Optional texts: where one is not given its English is shown, and a translated
    # report says which (psyq.translations.untranslated).
    scale_labels: dict[_Key, _Short] = Field(
        default_factory=dict, description="Scale labels by scale id (optional)."
    )
    skip_reasons: dict[_Key, _Short] = Field(
        default_factory=dict, description="Skip reasons by item id (optional)."
    )
    client_bands: dict[_Key, list[ClientBandsText]] = Field(
        default_factory=dict,
        description="Each scale's client_bands texts, in the same order (optional).",
    )


class TranslationFile(Translation):
    """A translation in a file of its own (``phq9.es.yaml``)."""

    translation_of: _Key = Field(description="Id of the instrument translated.")
    instrument_version: _Short = Field(description="Version of the instrument translated.")
    language: LanguageTag
