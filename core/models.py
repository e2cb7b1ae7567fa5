"""The instrument definition format: pydantic models for psyq's YAML files.

An instrument file is data, never code. Everything an instrument needs
(response scales, items, scales, bands, flags, reliable-change parameters and
golden examples) is declared here and checked when the file is loaded, so a
mistake in a file is reported before any client is scored with it.

``psyq schema`` prints the JSON Schema generated from :class:`Instrument`.
"""

# No `from __future__ import annotations` here: with annotations evaluated as each
# class is made, pydantic has no strings to evaluate, and `psyq score` and `psyq show`
# (which import this module) start faster. A name defined later, or the class itself,
# is quoted.
import functools
import itertools
import json
import re
from collections.abc import Callable, Mapping
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    model_validator,
)

from psyq.i18n import N_
from psyq.text import no_control
from psyq.translation_format import LanguageTag, Translation

Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$"),
]
"""Lower-case id: a letter, then letters, digits or underscores (64 at most)."""

ShortText = Annotated[str, StringConstraints(max_length=500), AfterValidator(no_control)]
LongText = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(no_control)]

SCHEMA_VERSION: Literal[1] = 1


def _not_a_boolean(value: Any) -> Any:
    # YAML's true equals 1, so Literal[1] took it even in strict mode.
    if isinstance(value, bool):
        raise ValueError("Input should be the number 1, not true or false")
    return value


SchemaVersion = Annotated[Literal[1], BeforeValidator(_not_a_boolean)]


def _answer_keys(value: Any) -> Any:
    # JSON writes every key as text: a recode's "1" in a JSON definition is the answer 1
    # (only digits; true, "1.0" or "one" stay as given, and strict validation refuses them).
    if isinstance(value, dict):
        return {
            int(k) if isinstance(k, str) and _WHOLE.fullmatch(k) else k: v for k, v in value.items()
        }
    return value


_WHOLE = re.compile(r"-?[0-9]{1,9}")

_T = TypeVar("_T", "Item", "Scale", "FlagRule", "Band")

PROVISIONAL_NOTICE = N_(
    "Provisional instrument: it has no norms and no validation study; any cut-offs it has "
    "are provisional, and its scores are not diagnostic."
)


class _Model(BaseModel):
    # Unknown keys are errors: a misspelled field must not be silently ignored. No number
    # is NaN or infinite (YAML's .nan, .inf): a cut-off, threshold or SD so given made
    # every comparison false, so nothing was ever clinically significant or reliable.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        defer_build=True,
        allow_inf_nan=False,
        # A number is a number: YAML's true/false, a quoted "3" or 2.0 where a whole
        # number is meant is a scale author's typo, refused with its path, not read as
        # 1, 0, 3 or 2. (An int where a float is meant is still a number.)
        strict=True,
    )


class Coding(_Model):
    """A code from a terminology, as FHIR writes it: LOINC ``44261-6``, ``LA6568-5``.

    A ``system`` that is a FHIR Questionnaire's canonical URL makes ``code``
    one of that Questionnaire's ``linkId``s, so responses to it can be read.
    """

    system: ShortText = Field(description="URI of the code system (http://loinc.org).")
    code: ShortText
    display: ShortText | None = None


Codes = Annotated[list[Coding], Field(max_length=20)]


MAX_OPTION_VALUE = 1000
"""Largest answer value (and smallest, negated) a definition may give."""


class ResponseOption(_Model):
    """One answer a respondent can give: the stored value and its label."""

    value: int = Field(ge=-MAX_OPTION_VALUE, le=MAX_OPTION_VALUE)
    label: ShortText
    codes: Codes = Field(default_factory=list, description="Answer codes (LOINC LA6568-5).")
    missing: bool = Field(
        False,
        description="Counts as missing (777 Decline, 999 Don't know): stored as given, "
        "scored as unanswered everywhere.",
    )


class ResponseScale(_Model):
    """A reusable set of answer options, referenced by items through its id."""

    options: list[ResponseOption] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _unique_values(self) -> "ResponseScale":
        values = [o.value for o in self.options]
        if len(set(values)) != len(values):
            raise ValueError(f"option values must be unique, got {values}")
        return self

    @model_validator(mode="after")
    def _something_scored(self) -> "ResponseScale":
        if all(o.missing for o in self.options):
            raise ValueError("every option is marked missing: at least one must be scored")
        return self

    @property
    def values(self) -> list[int]:
        """Every answer that may be given, including those that count as missing."""
        return [o.value for o in self.options]

    @property
    def scored_values(self) -> list[int]:
        """The answers that are scored (not marked ``missing: true``)."""
        return [o.value for o in self.options if not o.missing]

    @property
    def missing_values(self) -> frozenset[int]:
        """The answers that count as missing."""
        return frozenset(o.value for o in self.options if o.missing)

    @property
    def min(self) -> int:
        return min(self.scored_values)

    @property
    def max(self) -> int:
        return max(self.scored_values)

    def label_for(self, value: int) -> str | None:
        for option in self.options:
            if option.value == value:
                return option.label
        return None

    def describe(self) -> str:
        """Allowed values for error messages, e.g. ``0-3 (0=Not at all, ...)``."""
        values = self.scored_values
        contiguous = sorted(values) == list(range(self.min, self.max + 1))
        head = f"{self.min}-{self.max}" if contiguous else ", ".join(map(str, values))
        if self.missing_values:
            head += ", or " + ", ".join(map(str, sorted(self.missing_values)))
        labels = ", ".join(f"{o.value}={o.label}" for o in self.options)
        return f"{head} ({labels})"


# Defined before the models that use it (SkipRule, FlagRule), so that every field type
# is resolved when its class is made: construct_instrument builds fields from them.
CompareOp = Literal[">", ">=", "<", "<=", "==", "!="]

_LEAF_KINDS = ("item", "items", "scale")
_KINDS = (*_LEAF_KINDS, "any", "all", "count")


class Condition(_Model):
    """A declarative test on answers or scale values (no expressions, no eval).

    Exactly one of these shapes:

    * ``item`` (one item) or ``items`` (any of a list) with ``op`` and ``value``:
      the answer as given (before recoding or reversal) compares true;
    * ``item`` or ``items`` with ``missing: true``: the item (any of them) is
      unanswered, or answered with an option that counts as missing
      (``missing: false``: answered);
    * ``scale`` with ``op`` and ``value``: the scale's final value compares true;
    * ``count``: a list of item tests; the number of items meeting their test is
      between ``at_least`` and ``at_most``, and, with ``including_one_of``, one
      of the items counted is among those listed;
    * ``any`` / ``all``: combine sub-conditions.

    An unanswered item (or one answered "counts as missing") and an unscored
    scale never compare true.
    """

    item: Identifier | None = None
    items: list[Identifier] | None = Field(
        None, min_length=1, max_length=1000, description="Any of these items."
    )
    scale: Identifier | None = None
    op: CompareOp | None = None
    # Finite: a comparison with NaN never holds (nor, for most ops, with infinity), so a
    # flag written that way could never be raised.
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    missing: bool | None = None
    any: list["Condition"] | None = Field(None, max_length=50)
    all: list["Condition"] | None = Field(None, max_length=50)
    count: list["Condition"] | None = Field(None, min_length=1, max_length=50)
    at_least: int | None = Field(None, ge=0, le=1000)
    at_most: int | None = Field(None, ge=0, le=1000)
    including_one_of: list[Identifier] | None = Field(None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _shape(self) -> "Condition":
        given = [k for k in _KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            names = ", ".join(given) if given else "none"
            raise ValueError(
                "a condition has exactly one of item, items, scale, any, all or count "
                f"(got {names})"
            )
        kind = given[0]
        compares = self.op is not None or self.value is not None
        if kind in _LEAF_KINDS:
            if self.missing is not None:
                if kind == "scale":
                    raise ValueError("missing tests an item or items, not a scale")
                if compares:
                    raise ValueError("use missing, or op and value, not both")
            elif self.op is None or self.value is None:
                raise ValueError(f"an {kind} condition needs op and value (or missing: true)")
        elif compares or self.missing is not None:
            raise ValueError(f"op, value and missing belong in the {kind} list's conditions")
        counting = (self.at_least, self.at_most, self.including_one_of)
        if kind == "count":
            if self.at_least is None and self.at_most is None:
                raise ValueError("count needs at_least, at_most or both")
            low, high = self.at_least, self.at_most
            if low is not None and high is not None and low > high:
                raise ValueError(f"at_least {self.at_least} is above at_most {self.at_most}")
            for sub in self.count or []:
                if sub.item is None and sub.items is None:
                    raise ValueError("count lists item tests (item or items), not other conditions")
        elif any(c is not None for c in counting):
            raise ValueError("at_least, at_most and including_one_of go with count")
        return self

    @property
    def item_ids(self) -> list[str]:
        """The items a leaf item test reads (empty for other shapes)."""
        if self.item is not None:
            return [self.item]
        return list(self.items or [])

    def counted_items(self) -> list[str]:
        """For a count: the items counted, in order, each once."""
        out: list[str] = []
        for sub in self.count or []:
            out.extend(i for i in sub.item_ids if i not in out)
        return out

    def references(self) -> list[tuple[str, str]]:
        """(kind, id) pairs this condition reads, for validation."""
        if self.scale is not None:
            return [("scale", self.scale)]
        if self.item is not None or self.items is not None:
            return [("item", i) for i in self.item_ids]
        subs = self.any or self.all or self.count or []
        refs = [ref for sub in subs for ref in sub.references()]
        return refs + [("item", i) for i in self.including_one_of or []]

    def counts(self) -> list["Condition"]:
        """Every ``count`` condition inside this one (itself included, any/all walked)."""
        own = [self] if self.count is not None else []
        return own + [c for sub in self.any or self.all or [] for c in sub.counts()]

    def leaves(self) -> list["Condition"]:
        """Every item or scale test inside this condition."""
        if self.item is not None or self.items is not None or self.scale is not None:
            return [self]
        return [leaf for sub in self.any or self.all or self.count or [] for leaf in sub.leaves()]

    def first_item(self) -> str | None:
        refs = [ident for kind, ident in self.references() if kind == "item"]
        return refs[0] if refs else None


class SkipRule(_Model):
    """The form tells the respondent to skip this item; a skipped item scores ``score``.

    AUDIT: items 2-8 are skipped after "Never" on item 1 and score 0; PC-PTSD-5:
    the five symptom items are skipped when no trauma is reported. Only an
    unanswered item is affected: an answer given is scored as given.
    """

    when: Condition | None = Field(
        None, description="Skip only when this holds (on the answers as given); omit: always."
    )
    score: float = Field(description="The value an unanswered, skipped item is scored as.")
    reason: ShortText = Field("", description="Why the item is skipped, for outputs.")


Coefficient = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
"""A weight, recoded value or transform constant: finite and within +-1,000,000, so
every score stays a number Decimal rounding can represent exactly."""


class Item(_Model):
    """One question put to the respondent."""

    id: Identifier
    text: LongText
    response_scale: Identifier = Field(description="Id of a response scale of this instrument.")
    reverse: bool = Field(False, description="Reverse-keyed: scored as min + max - answer.")
    required: bool = Field(False, description="An administration may not skip this item.")
    scored: bool = Field(True, description="False for items asked but not scored (PHQ-9 item 10).")
    critical: bool = Field(
        False,
        description="A risk item (PHQ-9 item 9): left unanswered, it raises a critical flag "
        "saying it must be asked directly.",
    )
    recode: Annotated[dict[int, Coefficient] | None, BeforeValidator(_answer_keys)] = Field(
        None, description="Map an answer value to the value scored, applied before reversal."
    )
    codes: Codes = Field(default_factory=list, description="Codes of this question (LOINC).")
    skip: SkipRule | None = Field(
        None, description="When the form skips this item, and what an unanswered skip scores."
    )


class MissingRule(_Model):
    """When a scale may still be scored with unanswered items, and how."""

    max_missing: int | None = Field(None, ge=0, description="At most this many items missing.")
    min_answered: int | None = Field(None, ge=0, description="At least this many answered.")
    prorate: bool = Field(
        False,
        description="Sum scales only: scale the sum of the answered items up to all items "
        "(sum x items / answered, weights respected).",
    )
    source: ShortText = Field(
        "",
        description="Where the rule comes from (the manual or paper), or that it is psyq's "
        "or your own convention.",
    )


class Transform(_Model):
    """A linear transform applied to the aggregate: ``value = raw * multiply + add``."""

    multiply: Coefficient = 1.0
    add: Coefficient = 0.0

    def apply(self, x: float) -> float:
        return x * self.multiply + self.add


CRITICAL_ITEM_FLAG = "critical_item_unanswered"
"""Id of the flag raised for each unanswered item marked ``critical: true``."""


def critical_unanswered_message(
    item_id: str, text: str, gettext: Callable[[str], str] = str
) -> str:
    """The message of :data:`CRITICAL_ITEM_FLAG` for an item (its ``text`` in the
    output's language), in the language ``gettext`` gives (English by default, as
    scored and stored)."""
    return gettext(
        "Critical item %(item)s was not answered (%(text)s). Ask the client about it directly."
    ) % {"item": item_id, "text": text}


WITHHELD_INTERPRETATION = (
    "A critical flag is raised: this band's reassurance does not apply. Act on the flag first."
)

LOW_CONCERN = 1
"""The highest band severity of low concern: 0, no concern (PHQ-9 "Minimal"), and 1,
mild concern (PHQ-9 "Mild", EPDS "Possible depression", whose text asks to repeat the
scale in 2-4 weeks). Beside a critical flag such a band never reads as reassurance: its
label is marked as the score's band only and its interpretation is withheld unless an
``if_flagged`` text speaks to the critical flag. psyq's own convention, not a manual's."""


class FlaggedText(_Model):
    """A band interpretation used instead of the usual one when one of ``flags`` is raised."""

    flags: list[Identifier] = Field(
        min_length=1, max_length=100, description="Used when any of these flags is raised."
    )
    text: LongText


class Band(_Model):
    """An interpretation band: an inclusive range of the scale's value."""

    id: Identifier
    label: ShortText
    min: float
    max: float
    severity: int = Field(
        0, ge=0, le=4, description="0 = no concern ... 4 = most concern; drives report colours."
    )
    interpretation: LongText = ""
    if_flagged: list[FlaggedText] = Field(
        default_factory=list,
        max_length=20,
        description="Interpretations that replace `interpretation` when a flag is raised; "
        "the first whose flags include a raised one is used.",
    )

    def contains(self, value: float) -> bool:
        return self.min <= value <= self.max

    @property
    def low_concern(self) -> bool:
        """A band of no or mild concern (:data:`LOW_CONCERN`): never reassurance beside
        a critical flag."""
        return self.severity <= LOW_CONCERN

    def interpretation_for(self, raised: dict[str, str]) -> str:
        """The interpretation to show beside the raised flags (flag id -> level).

        A band of low concern (:attr:`low_concern`: severity 0 or 1) never reassures
        beside a critical flag: only an
        ``if_flagged`` text naming a raised critical flag is used then (one written
        for a lesser flag does not speak to the risk); without one its
        interpretation is withheld.
        """
        critical = self.low_concern and "critical" in raised.values()
        for alternative in self.if_flagged:
            named = [raised[flag] for flag in alternative.flags if flag in raised]
            if named and (not critical or "critical" in named):
                return alternative.text
        if critical:
            return WITHHELD_INTERPRETATION
        return self.interpretation


class ReliableChange(_Model):
    """What counts as reliable change on a scale.

    Either a fixed ``threshold`` in scale points, or ``sd`` and ``reliability``
    for the Jacobson-Truax reliable change index (RCI = delta / (sqrt(2) x SEM),
    reliable when abs(RCI) >= 1.96). When both are given the threshold decides
    (it is the published criterion) and the RCI is shown beside it.
    """

    threshold: float | None = Field(None, gt=0)
    threshold_kind: Literal["reliable_change", "minimal_important_difference"] = Field(
        "reliable_change",
        description="What the threshold is: a reliable-change value (beyond measurement "
        "error) or a minimal important difference (a change that matters to patients).",
    )
    sd: float | None = Field(None, gt=0)
    reliability: float | None = Field(None, gt=0, lt=1)
    source: ShortText = ""

    @model_validator(mode="after")
    def _one_kind(self) -> "ReliableChange":
        jt = self.sd is not None and self.reliability is not None
        if self.threshold is None and not jt:
            raise ValueError("give either threshold, or both sd and reliability")
        if (self.sd is None) != (self.reliability is None):
            raise ValueError("sd and reliability go together")
        return self

    @property
    def sem_diff(self) -> float | None:
        """Standard error of the difference, when sd and reliability are given."""
        if self.sd is None or self.reliability is None:
            return None
        sem: float = self.sd * (1 - self.reliability) ** 0.5
        return float((2**0.5) * sem)

    @property
    def is_mid(self) -> bool:
        """The threshold is a minimal important difference, not a reliable-change value."""
        return self.threshold is not None and self.threshold_kind == "minimal_important_difference"

    def critical_delta(self) -> float | None:
        """Smallest absolute change counted as reliable (None: no reliable-change value).

        A reliable-change ``threshold`` decides when given; else the Jacobson-Truax
        RCI's 1.96 x the standard error of the difference.
        """
        if self.threshold is not None and not self.is_mid:
            return self.threshold
        sd = self.sem_diff
        return None if sd is None else 1.96 * sd

    def describe(self, decimals: int = 0, gettext: Callable[[str], str] = str) -> str:
        """One sentence naming each criterion truthfully, for history and reports.

        ``gettext``: a report's language (psyq's catalogue); English unless given.
        """
        parts: list[str] = []
        delta = self.critical_delta()
        if delta is not None:
            parts.append(
                gettext("reliable change: %(delta)s points or more")
                % {"delta": f"{delta:.{decimals}f}"}
            )
        if self.is_mid:
            assert self.threshold is not None
            parts.append(
                gettext("minimal important difference: %(points)s points")
                % {"points": f"{self.threshold:g}"}
            )
        if self.sem_diff is not None and self.threshold is not None and not self.is_mid:
            parts.append(gettext("the Jacobson-Truax RCI is shown beside it"))
        return "; ".join(parts)


class Outcomes(_Model):
    """Treatment outcome criteria, judged against the client's first administration.

    PHQ-9 (Kroenke & Spitzer): response is a drop of 50 % or more from the first
    score, remission a score below 5.
    """

    response_percent: float | None = Field(
        None,
        gt=0,
        le=100,
        description="Response: the score fell by at least this percentage of the first "
        "administration's score (higher-is-worse scales only).",
    )
    remission_below: float | None = Field(
        None, description="Remission: the score is below this (higher-is-worse scales only)."
    )
    source: ShortText = ""


ClientMatch = Annotated[dict[Identifier, ShortText], Field(min_length=1, max_length=5)]


def _check_client_match(client: dict[str, str]) -> None:
    """A ``client:`` mapping names client attributes and values psyq knows."""
    from psyq.clients import BAND_VALUES

    for name, value in client.items():
        allowed = BAND_VALUES.get(name)
        if allowed is None:
            raise ValueError(
                f"client: '{name}' is not a client attribute; known: {', '.join(BAND_VALUES)}"
            )
        if value not in allowed:
            raise ValueError(f"client: {name} '{value}' is not one of {', '.join(allowed)}")


class ClientBands(_Model):
    """Bands for clients with given attributes, e.g. AUDIT-C's cut-off of 3 for women.

    The scale's own ``bands`` stay in force whenever the client's attributes are not
    known: they must then not assume one (name each group's reading, or use the
    lower, more sensitive cut-off, and say so).
    """

    client: ClientMatch = Field(
        description="Used when the client has all of these attributes (sex: female)."
    )
    bands: list[Band] = Field(min_length=1, max_length=50)
    clinical_cutoff: float | None = Field(
        None, description="The clinical cut-off for these clients (default: the scale's)."
    )
    source: ShortText = Field("", description="Where these cut-offs come from.")

    @model_validator(mode="after")
    def _known(self) -> "ClientBands":
        _check_client_match(self.client)
        return self

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.client.items())

    def fits(self, client: Mapping[str, str]) -> bool:
        return all(client.get(k) == v for k, v in self.client.items())


class Scale(_Model):
    """A score computed from items: the total or a subscale."""

    id: Identifier
    label: ShortText
    items: list[Identifier] = Field(min_length=1, max_length=1000)
    method: Identifier = Field("sum", description="Aggregation method: sum, mean or a plugin's.")
    weights: dict[Identifier, Coefficient] | None = None
    # Built without validation (its values are literals): validating here would build
    # every schema at import, which `defer_build` saves commands that validate nothing.
    missing: MissingRule = MissingRule.model_construct(max_missing=0)
    decimals: int = Field(0, ge=0, le=6, description="Round half up to this many decimals.")
    transform: Transform | None = None
    higher_is_worse: bool = True
    bands: list[Band] = Field(default_factory=list, max_length=50)
    reliable_change: ReliableChange | None = None
    clinical_cutoff: float | None = Field(
        None,
        description="First value of the clinical range (value >= cutoff when higher is "
        "worse, value <= cutoff when higher is better).",
    )
    bands_source: ShortText = Field(
        "",
        description="Where the bands and clinical cut-off come from (the manual or paper), "
        "or that they are psyq's or your own convention.",
    )
    codes: Codes = Field(default_factory=list, description="Codes of this score (LOINC).")
    outcomes: Outcomes | None = Field(
        None, description="Response and remission criteria (history and trend)."
    )
    client_bands: list[ClientBands] = Field(
        default_factory=list,
        max_length=20,
        description="Bands for clients with given attributes (sex); the first that fits "
        "the client is used, else `bands`.",
    )

    @model_validator(mode="after")
    def _client_bands(self) -> "Scale":
        if self.client_bands and not self.bands:
            raise ValueError(
                f"scale {self.id}: client_bands need `bands` too, for a client whose "
                "attributes are not known"
            )
        seen: set[str] = set()
        for group in self.client_bands:
            if group.label in seen:
                raise ValueError(f"scale {self.id}: client_bands list {group.label} twice")
            seen.add(group.label)
        return self

    @model_validator(mode="after")
    def _outcomes_direction(self) -> "Scale":
        if self.outcomes is not None and not self.higher_is_worse:
            raise ValueError(
                f"scale {self.id}: outcomes (response, remission) are defined for "
                "higher-is-worse scales only"
            )
        return self

    def weight(self, item_id: str) -> float:
        if self.weights is None:
            return 1.0
        return self.weights.get(item_id, 1.0)

    def in_clinical_range(
        self, value: float, client: Mapping[str, str] | None = None
    ) -> bool | None:
        cutoff = self.cutoff_for(client)
        if cutoff is None:
            return None
        if self.higher_is_worse:
            return value >= cutoff
        return value <= cutoff

    def client_group(self, client: Mapping[str, str] | None) -> ClientBands | None:
        """The ``client_bands`` entry for this client (None: the scale's own bands)."""
        if not client:
            return None
        return next((g for g in self.client_bands if g.fits(client)), None)

    def bands_for(self, client: Mapping[str, str] | None = None) -> list[Band]:
        """The bands that apply to a client with these attributes."""
        group = self.client_group(client)
        return self.bands if group is None else group.bands

    def cutoff_for(self, client: Mapping[str, str] | None = None) -> float | None:
        group = self.client_group(client)
        if group is not None and group.clinical_cutoff is not None:
            return group.clinical_cutoff
        return self.clinical_cutoff

    @property
    def client_attributes(self) -> set[str]:
        """The client attributes this scale's bands depend on."""
        return {name for group in self.client_bands for name in group.client}

    def band_for(self, value: float, client: Mapping[str, str] | None = None) -> Band | None:
        for band in self.bands_for(client):
            if band.contains(value):
                return band
        return None


class FlagRule(_Model):
    """A clinical flag raised when its condition holds."""

    id: Identifier
    level: Literal["critical", "warning", "info"]
    message: LongText
    when: Condition


class ExampleExpectation(_Model):
    scores: dict[Identifier, float | None] = Field(default_factory=dict)
    bands: dict[Identifier, Identifier | None] = Field(default_factory=dict)
    flags: list[Identifier] | None = Field(
        None,
        description=(
            "Exactly the flag ids raised (order free), including flags a plugin raises; "
            "omit to not check."
        ),
    )
    extra: dict[Identifier, Any] = Field(
        default_factory=dict,
        description=(
            "Values plugins add to the result's extra, by key; a mapping matches on the "
            "keys it gives. Checked against the installed plugins."
        ),
    )


class GoldenExample(_Model):
    """Answers with the scores, bands and flags the published manual gives for them."""

    name: ShortText
    answers: dict[Identifier, int | None]
    client: dict[Identifier, ShortText] = Field(
        default_factory=dict,
        max_length=5,
        description="The client's attributes for `client_bands` (sex: female); omit: unknown.",
    )
    expect: ExampleExpectation

    @model_validator(mode="after")
    def _known_client(self) -> "GoldenExample":
        if self.client:
            _check_client_match(self.client)
        return self


class Citation(_Model):
    text: LongText
    url: ShortText | None = None


class LicensedText(_Model):
    """Item texts that may not be redistributed (BDI-II, ISI, EPDS).

    The definition ships placeholder texts; a clinic holding a licence supplies the
    real ones in an overlay file, ``$PSYQ_HOME/overlays/<id>.yaml``. Without it psyq
    scores the instrument but shows only the placeholders, and will not administer it.
    """

    holder: ShortText = Field(description="Who licenses the item texts (Pearson).")
    how: LongText = Field("", description="How a clinic obtains a licence.")


class Instrument(_Model):
    """A questionnaire definition, as read from one YAML or JSON file."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    id: Identifier
    version: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$")]
    title: ShortText
    short_name: ShortText
    description: LongText = ""
    citations: list[Citation] = Field(default_factory=list, max_length=50)
    licence: LongText = Field(description="Licence and copyright text shown on every report.")
    status: Literal["validated", "provisional"]
    notice: LongText = Field(
        "", description="Caveat shown on every output; provisional instruments get a default."
    )
    instructions: LongText = ""
    recall_period: ShortText = ""
    response_scales: dict[Identifier, ResponseScale] = Field(min_length=1, max_length=50)
    items: list[Item] = Field(min_length=1, max_length=1000)
    scales: list[Scale] = Field(min_length=1, max_length=100)
    flags: list[FlagRule] = Field(default_factory=list, max_length=100)
    examples: list[GoldenExample] = Field(default_factory=list, max_length=200)
    codes: Codes = Field(default_factory=list, description="Codes of the form (LOINC panel).")
    licensed_text: LicensedText | None = Field(
        None,
        description="The item texts are licensed: this file has placeholders, and the real "
        "texts come from an overlay file in $PSYQ_HOME/overlays/.",
    )
    translations: dict[LanguageTag, Translation] = Field(
        default_factory=dict,
        max_length=100,
        description="Every text in other languages, by language tag (see docs/languages.md).",
    )
    norms: list[Identifier] = Field(
        default_factory=list,
        max_length=20,
        description="Ids of norm tables (psyq_norm_sources) scored with by default; "
        "the first whose groups fit the client is used.",
    )

    _items_by_id: dict[str, Item] = PrivateAttr(default_factory=dict)
    _scales_by_id: dict[str, Scale] = PrivateAttr(default_factory=dict)
    _bounds: dict[str, tuple[float, float]] = PrivateAttr(default_factory=dict)
    # Set by psyq.overlays when licensed item texts were installed from an overlay.
    _overlay: str | None = PrivateAttr(None)
    _base_hash: str | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _consistent(self) -> "Instrument":
        # Every problem is collected (one per line of the error) so that `psyq
        # validate` can list them all; a stage stops only where later checks
        # depend on it (scales need valid items).
        self._index()
        _unique("flag", self.flags)
        if "total" not in self._scales_by_id:
            raise ValueError("every instrument needs a scale with id 'total' (its main score)")
        problems: list[str] = []
        for item in self.items:
            if item.critical and not item.scored:
                problems.append(
                    f"item {item.id}: a critical item must be scored; an unscored item may be "
                    "left blank, so it cannot raise a critical flag when unanswered"
                )
            if item.response_scale not in self.response_scales:
                problems.append(
                    f"item {item.id}: response_scale '{item.response_scale}' is not defined; "
                    f"defined: {', '.join(self.response_scales)}"
                )
            elif item.recode is not None:
                allowed = set(self.response_scales[item.response_scale].values)
                extra = set(item.recode) - allowed
                if extra:
                    problems.append(f"item {item.id}: recode keys {sorted(extra)} are not answers")
        if problems:
            raise ValueError("\n".join(problems))
        checks: list[Callable[[], None]] = [
            functools.partial(self._check_skip, i, i.skip) for i in self.items if i.skip
        ]
        checks += [functools.partial(self._check_scale, s) for s in self.scales]
        checks += [functools.partial(self._check_flag, f) for f in self.flags]
        checks += [functools.partial(self._check_if_flagged, s) for s in self.scales]
        checks += [functools.partial(self._check_example, e) for e in self.examples]
        for check in checks:
            try:
                check()
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("\n".join(problems))
        if self.translations:
            from psyq.translations import problems as translation_problems  # imports this module

            for language, translation in self.translations.items():
                missing = translation_problems(self, translation, language)
                if missing:
                    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                    raise ValueError(missing[0] + more)
        return self

    def _index(self) -> None:
        """Items and scales by id (checked unique here; trusted by construct_instrument)."""
        self._items_by_id = _unique("item", self.items)
        self._scales_by_id = _unique("scale", self.scales)

    def _derive_lookups(self) -> None:
        """Every lookup table the validator computes, for an instrument built without it.

        The same functions the validator uses (:meth:`_index`, :meth:`_compute_bounds`),
        so a constructed instrument's tables are the validated one's.
        """
        self._index()
        self._bounds = {scale.id: self._compute_bounds(scale) for scale in self.scales}

    def _check_flag(self, flag: FlagRule) -> None:
        if flag.id == CRITICAL_ITEM_FLAG:
            raise ValueError(
                f"flag {flag.id}: this id is psyq's own (raised for an unanswered critical "
                "item); choose another"
            )
        self._check_refs(f"flag {flag.id}", flag.when.references())
        self._check_condition(flag, flag.when)

    def _check_if_flagged(self, scale: Scale) -> None:
        every = [*scale.bands, *(b for group in scale.client_bands for b in group.bands)]
        for band in every:
            for alternative in band.if_flagged:
                for flag_id in alternative.flags:
                    if flag_id not in self.flag_ids:
                        raise ValueError(
                            f"scale {scale.id}: band {band.id}: if_flagged names unknown "
                            f"flag '{flag_id}'; known: {', '.join(sorted(self.flag_ids))}"
                        )

    def _check_skip(self, item: Item, skip: SkipRule) -> None:
        where = f"item {item.id}: skip"
        if skip.when is not None:
            self._check_refs(where, skip.when.references())
            if ("item", item.id) in skip.when.references():
                raise ValueError(f"{where}: the condition cannot test the item it skips")
            scales = sorted({ref for kind, ref in skip.when.references() if kind == "scale"})
            if scales:
                # Skips are decided on the answers, before any scale is scored: a scale
                # test there never held, and the skip silently never applied.
                raise ValueError(
                    f"{where}: the condition tests scale {', '.join(scales)}; a skip is decided "
                    "on the answers, before scales are scored: test the items instead"
                )
            loop = self._skip_loop(item)
            if loop:
                # Items that skip each other when blank: a form that showed neither would
                # score both blanks as skipped, not as missing answers.
                raise ValueError(
                    f"{where}: circular skip logic ({' -> '.join([item.id, *loop])}); a skip "
                    "may depend only on items that do not, in turn, depend on it"
                )
            for count in skip.when.counts():
                self._check_count(where, count, once=False)
        rs = self.response_scales[item.response_scale]
        values = [item.recode.get(v, v) for v in rs.values] if item.recode else rs.values
        if not min(values) <= skip.score <= max(values):
            raise ValueError(
                f"{where}: score {skip.score:g} is outside the item's values "
                f"{min(values):g}-{max(values):g}"
            )

    def _skip_loop(self, start: Item) -> list[str]:
        """The items from ``start``'s skip condition back to ``start`` through other
        items' skip conditions, if there is such a loop (else empty)."""

        def depends_on(item_id: str) -> list[str]:
            item = self._items_by_id.get(item_id)
            when = item.skip.when if item is not None and item.skip is not None else None
            return [ref for kind, ref in when.references() if kind == "item"] if when else []

        paths: list[list[str]] = [[ref] for ref in depends_on(start.id)]
        seen: set[str] = set()
        while paths:
            path = paths.pop()
            if path[-1] == start.id:
                return path
            if path[-1] in seen:
                continue
            seen.add(path[-1])
            paths += [[*path, ref] for ref in depends_on(path[-1])]
        return []

    def _check_scale(self, scale: Scale) -> None:
        where = f"scale {scale.id}"
        if len(set(scale.items)) != len(scale.items):
            raise ValueError(f"{where}: an item is listed twice")
        for item_id in scale.items:
            item = self._items_by_id.get(item_id)
            if item is None:
                raise ValueError(f"{where}: unknown item '{item_id}'")
            if not item.scored:
                raise ValueError(f"{where}: item '{item_id}' is marked scored: false")
        if scale.weights is not None:
            stray = set(scale.weights) - set(scale.items)
            if stray:
                raise ValueError(f"{where}: weights for items not in the scale: {sorted(stray)}")
        rule = scale.missing
        n = len(scale.items)
        if rule.max_missing is not None and rule.max_missing >= n:
            raise ValueError(f"{where}: max_missing must be below the {n} items")
        if rule.min_answered is not None and not 1 <= rule.min_answered <= n:
            raise ValueError(f"{where}: min_answered must be between 1 and {n}")
        if rule.prorate and scale.method != "sum":
            raise ValueError(f"{where}: prorate applies to sum scales only")
        if scale.weights and (scale.method == "mean" or rule.prorate):
            # Both divide by the answered items' weights, which must then never add up
            # to 0 (nor turn the score's sign): a weight of 0 or below could.
            kind = "a mean" if scale.method == "mean" else "a prorated sum"
            bad = sorted(i for i, w in scale.weights.items() if w <= 0)
            if bad:
                listed = ", ".join(f"{i}: {scale.weights[i]:g}" for i in bad)
                raise ValueError(
                    f"{where}: {kind} divides by the answered items' weights, so every "
                    f"weight must be above 0 ({listed})"
                )
        lo, hi = self._compute_bounds(scale)
        self._bounds[scale.id] = (lo, hi)
        self._check_bands(scale, lo, hi)
        for group in scale.client_bands:
            self._check_bands(scale, lo, hi, group)

    def _compute_bounds(self, scale: Scale) -> tuple[float, float]:
        lows: list[float] = []
        highs: list[float] = []
        for item_id in scale.items:
            item = self._items_by_id[item_id]
            rs = self.response_scales[item.response_scale]
            scored = rs.scored_values
            values = [item.recode.get(v, v) for v in scored] if item.recode else scored
            w = scale.weight(item_id)
            a, b = w * min(values), w * max(values)
            lows.append(min(a, b))
            highs.append(max(a, b))
        if scale.method == "mean":
            total_w = sum(abs(scale.weight(i)) for i in scale.items)
            if total_w == 0:
                raise ValueError(f"scale {scale.id}: method mean needs a weight that is not 0")
            lo, hi = sum(lows) / total_w, sum(highs) / total_w
        else:
            # Sum, and any plugin method, is bounded by the sum's range.
            lo, hi = sum(lows), sum(highs)
        if scale.transform is not None:
            a, b = scale.transform.apply(lo), scale.transform.apply(hi)
            lo, hi = min(a, b), max(a, b)
        return round_half_up(lo, scale.decimals), round_half_up(hi, scale.decimals)

    def _check_bands(
        self, scale: Scale, lo: float, hi: float, group: ClientBands | None = None
    ) -> None:
        listed = scale.bands if group is None else group.bands
        if not listed:
            return
        where = f"scale {scale.id}" + ("" if group is None else f" client_bands {group.label}")
        _unique(f"{where} band", listed)
        step = 10.0 ** (-scale.decimals)
        bands = sorted(listed, key=lambda b: b.min)
        for band in bands:
            if band.min > band.max:
                raise ValueError(f"{where}: band {band.id} has min {band.min} > max {band.max}")
        if not _close(bands[0].min, lo) or not _close(bands[-1].max, hi):
            raise ValueError(
                f"{where}: bands must cover the whole range {_fmt(lo)}-{_fmt(hi)}, "
                f"they cover {_fmt(bands[0].min)}-{_fmt(bands[-1].max)}"
            )
        for prev, nxt in itertools.pairwise(bands):
            if not _close(nxt.min, prev.max + step):
                kind = "overlap" if nxt.min <= prev.max else "leave a gap"
                raise ValueError(
                    f"{where}: bands {prev.id} (to {_fmt(prev.max)}) and {nxt.id} "
                    f"(from {_fmt(nxt.min)}) {kind}; the next band must start at "
                    f"{_fmt(prev.max + step)}"
                )

    def _check_refs(self, where: str, refs: list[tuple[str, str]]) -> None:
        for kind, ident in refs:
            known = self._items_by_id if kind == "item" else self._scales_by_id
            if ident not in known:
                raise ValueError(f"{where}: unknown {kind} '{ident}'")

    def _check_count(self, where: str, cond: Condition, *, once: bool) -> None:
        """A count asks for no more items than it counts, and its including_one_of names
        counted items (else it could never hold); with ``once``, it lists each item once."""
        counted = cond.counted_items()
        if once:
            listed = [i for sub in cond.count or [] for i in sub.item_ids]
            twice = sorted({i for i in listed if listed.count(i) > 1})
            if twice:
                raise ValueError(f"{where}: count lists item {', '.join(twice)} more than once")
        n = len(counted)
        for bound in ("at_least", "at_most"):
            number = getattr(cond, bound)
            if number is not None and number > n:
                raise ValueError(
                    f"{where}: count {bound} {number} is more than the {n} items counted"
                )
        stray = [i for i in cond.including_one_of or [] if i not in counted]
        if stray:
            raise ValueError(
                f"{where}: including_one_of names {', '.join(stray)}, not among the items counted"
            )

    def _check_condition(self, flag: FlagRule, cond: Condition) -> None:
        where = f"flag {flag.id}"
        for count in cond.counts():
            # A flag names the items that raised it: each is listed once.
            self._check_count(where, count, once=True)
        for leaf in cond.leaves():
            if flag.level == "critical" and leaf.missing:
                unscored = [i for i in leaf.item_ids if not self._items_by_id[i].scored]
                if unscored:
                    raise ValueError(
                        f"{where}: a critical flag tests whether unscored item "
                        f"'{unscored[0]}' is missing; an unscored item may be left blank"
                    )

    @property
    def client_attributes(self) -> set[str]:
        """Client attributes (sex) some scale's bands depend on (``client_bands``)."""
        return {name for scale in self.scales for name in scale.client_attributes}

    @property
    def flag_ids(self) -> set[str]:
        """Every flag id this instrument can raise, psyq's critical-item flag included."""
        ids = {f.id for f in self.flags}
        if any(item.critical for item in self.items):
            ids.add(CRITICAL_ITEM_FLAG)
        return ids

    def _check_example(self, example: GoldenExample) -> None:
        where = f"example '{example.name}'"
        # A private attribute costs a pydantic __getattr__ call: look it up once.
        items_by_id = self._items_by_id
        for item_id, value in example.answers.items():
            item = items_by_id.get(item_id)
            if item is None:
                raise ValueError(f"{where}: unknown item '{item_id}'")
            rs = self.response_scales[item.response_scale]
            if value is not None and value not in rs.values:
                raise ValueError(f"{where}: item {item_id} answer {value} not in {rs.describe()}")
        scales_by_id = self._scales_by_id
        for scale_id in list(example.expect.scores) + list(example.expect.bands):
            if scale_id not in scales_by_id:
                raise ValueError(f"{where}: unknown scale '{scale_id}'")
        # expect.flags may name flags a plugin raises: checked when the example is
        # scored with the installed plugins (psyq.scoring.check_examples), not here.

    # -- lookups -----------------------------------------------------------

    def item(self, item_id: str) -> Item:
        return self._items_by_id[item_id]

    def has_item(self, item_id: str) -> bool:
        return item_id in self._items_by_id

    def scale(self, scale_id: str) -> Scale:
        return self._scales_by_id[scale_id]

    def response_scale_for(self, item: Item) -> ResponseScale:
        return self.response_scales[item.response_scale]

    def bounds(self, scale_id: str) -> tuple[float, float]:
        """Possible (lowest, highest) value of a scale, after transform and rounding."""
        return self._bounds[scale_id]

    @property
    def total(self) -> Scale:
        return self._scales_by_id["total"]

    @property
    def notices(self) -> list[str]:
        """Caveats every output of this instrument must carry."""
        out: list[str] = []
        if self.status == "provisional":
            out.append(PROVISIONAL_NOTICE)
        if self.notice:
            out.append(self.notice)
        return out

    @property
    def texts_installed(self) -> bool:
        """False while a licensed-text instrument shows only its placeholder texts."""
        return self.licensed_text is None or self._overlay is not None

    @property
    def overlay(self) -> str | None:
        """The overlay file the licensed item texts came from, if any."""
        return self._overlay

    def content_hash(self) -> str:
        """Stable hash of the definition's content (not of its file's formatting).

        Translations are left out: adding a language does not change what is scored,
        so it must not make earlier administrations look like another definition.
        Licensed texts from an overlay do not change it either: the scoring is the same,
        and administrations stay comparable across clinics with and without the texts.
        """
        if self._base_hash is not None:
            return self._base_hash
        # Kept once computed (the instrument is frozen), outside the fields and private
        # attributes, so that instruments compare as before; a copy computes its own.
        known = self.__dict__.get(_HASH_MEMO)
        if known is None:
            known = definition_hash(self.model_dump(mode="json", exclude={"translations"}))
            object.__setattr__(self, _HASH_MEMO, known)
        return str(known)

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> "Instrument":
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop(_HASH_MEMO, None)
        return copy


_HASH_MEMO = "_psyq_content_hash"


def definition_hash(content: dict[str, Any]) -> str:
    """The content hash of an instrument whose ``model_dump(mode="json")`` without its
    translations is ``content`` (:meth:`Instrument.content_hash`)."""
    import hashlib  # here: every command imports this module, few hash a definition

    canonical = json.dumps(_as_hashed(content), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _as_hashed(content: dict[str, Any]) -> dict[str, Any]:
    """``content`` without the fields added to the format after stores began keeping
    definitions (``Scale.bands_source``, ``MissingRule.source``) where they are empty: a
    definition that does not use them keeps the hash an earlier psyq gave it, so its
    kept copy (stored without them) still matches and is not called changed."""
    scales = content.get("scales")
    if not isinstance(scales, list):
        return content
    kept = []
    for scale in scales:
        if isinstance(scale, dict):
            scale = {k: v for k, v in scale.items() if not (k == "bands_source" and v == "")}
            rule = scale.get("missing")
            if isinstance(rule, dict) and rule.get("source") == "":
                scale["missing"] = {k: v for k, v in rule.items() if k != "source"}
        kept.append(scale)
    return {**content, "scales": kept}


def round_half_up(x: float, decimals: int) -> float:
    """Round half away from zero, as scoring manuals do (4.5 -> 5, 2.675 -> 2.68).

    Python's ``round`` rounds half to even (``round(4.5) == 4``) and works on the
    binary value, so it is never used for scores. ``repr`` gives the shortest
    decimal string that round-trips, which is the number a person would write.
    """
    value = float(x)
    # Whole-number scores stay ints, so JSON shows 9, not 9.0; and a score is never
    # -0.0 (+ 0.0 turns it into 0.0), whatever sign the arithmetic left on a zero.
    if value.is_integer():  # a whole number rounds to itself; most scores need no decimal
        return value + 0.0 if decimals else int(value)
    from decimal import ROUND_HALF_UP, Decimal

    quantum = Decimal(1).scaleb(-decimals)
    rounded = Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    return float(rounded) + 0.0 if decimals else int(rounded)


def _unique(kind: str, things: list[_T]) -> dict[str, _T]:
    seen: dict[str, _T] = {}
    for thing in things:
        if thing.id in seen:
            raise ValueError(f"duplicate {kind} id '{thing.id}'")
        seen[thing.id] = thing
    return seen


def _close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-9


def _fmt(x: float) -> str:
    return f"{x:g}"


# -- an instrument validated before ---------------------------------------------------

_Build = Callable[[Any], Any]
_C = TypeVar("_C", bound=BaseModel)


def construct_instrument(data: dict[str, Any]) -> Instrument:
    """The instrument whose ``model_dump(mode="json")`` is ``data``, built without validating.

    Only for data psyq validated itself and kept: the definition cache, which stores an
    entry for this path only when the instrument built here equals the validated one
    (fields, their types and the lookup tables), and checks each entry's SHA-256 before
    using it. Every model is made with pydantic's ``model_construct``, its nested
    models built from its field types; the lookup tables are computed by the functions
    the validator uses. Anything else goes through ``Instrument.model_validate``.

    Raises :class:`TypeError` for data or a field type it cannot build.
    """
    instrument = _construct(Instrument, data)
    instrument._derive_lookups()
    # ``data`` is the instrument's JSON dump: its content hash needs no serializer (whose
    # schema pydantic would build first, the costliest part of a first content_hash).
    content = {k: v for k, v in data.items() if k != "translations"}
    object.__setattr__(instrument, _HASH_MEMO, definition_hash(content))
    return instrument


def _construct(model: type[_C], data: Any) -> _C:
    if not isinstance(data, dict):
        raise TypeError(f"{model.__name__}: expected a mapping, got {type(data).__name__}")
    builders = _field_builders(model)
    unknown = data.keys() - builders.keys()
    if unknown:
        raise TypeError(f"{model.__name__}: unknown fields {sorted(unknown)}")
    values = {}
    for name, value in data.items():
        build = builders[name]
        values[name] = value if build is None else build(value)
    return model.model_construct(**values)


@functools.cache
def _field_builders(model: type[BaseModel]) -> dict[str, _Build | None]:
    """Per field of ``model``: how to build its value from JSON (``None``: as it is)."""
    return {name: _builder(field.annotation) for name, field in model.model_fields.items()}


def _builder(annotation: Any) -> _Build | None:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _builder(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        model = annotation
        return lambda value: _construct(model, value)
    if origin is list:
        item = _builder(args[0])
        if item is None:
            return None
        build_item = item
        return lambda value: [build_item(v) for v in value]
    if origin is dict:
        key_type = get_args(args[0])[0] if get_origin(args[0]) is Annotated else args[0]
        if key_type not in (str, int):
            raise TypeError(f"cannot build a {annotation!r} field without validating it")
        int_keys = key_type is int  # JSON object keys are text
        item = _builder(args[1])
        if item is None and not int_keys:
            return None
        key: _Build = int if int_keys else str
        build: _Build = item or (lambda v: v)
        return lambda value: {key(k): build(v) for k, v in value.items()}
    if origin is Union or origin is UnionType:
        options = [a for a in args if a is not type(None)]
        built = [_builder(a) for a in options]
        if all(b is None for b in built):
            return None
        if len(options) == 1 and built[0] is not None:
            one = built[0]
            return lambda value: None if value is None else one(value)
    elif annotation in (str, int, float, bool, Any) or origin is Literal:
        return None
    raise TypeError(f"cannot build a {annotation!r} field without validating it")
