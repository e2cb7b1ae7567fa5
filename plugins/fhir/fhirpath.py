"""Scale rules as FHIRPath, and back: psyq's scoring in SDC ``calculatedExpression``s.

:func:`scale_expressions` writes one scale as an SDC ``variable`` (the item
values it aggregates) and a ``calculatedExpression`` (the score), in plain
FHIRPath that any engine evaluates with ``%resource`` (the response) and
``%questionnaire`` (the form) in context: no SDC-only functions. An item's
value is its answer option's ``ordinalValue``, looked up in the form as
LHC-Forms' published PHQ-9 does, or a ``valueInteger`` answer.

:func:`recognise` reads such expressions back into a scale rule, and also
the common SDC pattern ``%resource.item.where(linkId='x').answer.value.ordinal()``
(or ``weight()``), summed. Anything else is not recognised: psyq never runs
an expression it imports, and never runs CQL.

Rounding is half away from zero (``round_half_up``), written with
``floor()``: FHIRPath's ``round()`` is not the same in every engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psyq.models import Instrument, Scale

ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"


def item_value(link_id: str, missing: list[int] | None = None) -> str:
    """FHIRPath for one item's scored value in the response (empty when unanswered).

    ``missing``: answers that count as missing; an integer answer among them is
    left out (a coded one has no ordinalValue, so it is left out anyway).
    """
    integer = f"%resource.item.where(linkId='{link_id}').answer.value.ofType(integer)"
    if missing:
        tests = " or ".join(f"$this = {v}" for v in sorted(missing))
        integer += f".where(({tests}).not())"
    return (
        f"(%questionnaire.item.where(linkId='{link_id}').answerOption"
        f".where(valueCoding.code=%resource.item.where(linkId='{link_id}').answer.value.code)"
        f".extension.where(url='{ORDINAL}').value"
        f" | {integer})"
    )


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def variable_name(scale: Scale) -> str:
    """``psyqValuesRoleReversal``: an FHIR ``id`` that is also a FHIRPath identifier."""
    return "psyqValues" + "".join(part.capitalize() for part in scale.id.split("_"))


def expressible(instrument: Instrument, scale: Scale) -> str:
    """Why ``scale`` cannot be written in FHIRPath ("" when it can)."""
    if scale.method not in ("sum", "mean"):
        return f"its method '{scale.method}' is a plugin's"
    if any(instrument.item(i).recode for i in scale.items):
        return "an item is recoded"
    if scale.weights and (scale.method == "mean" or scale.missing.prorate):
        return "a weighted mean or prorated weighted sum"
    return ""


def scale_expressions(instrument: Instrument, scale: Scale) -> tuple[str, str]:
    """(variable expression, calculated expression) for an expressible scale."""
    terms = []
    for item_id in scale.items:
        item = instrument.item(item_id)
        options = instrument.response_scale_for(item).options
        term = item_value(item_id, [o.value for o in options if getattr(o, "missing", False)])
        if item.reverse:
            answers = [o.value for o in options if not getattr(o, "missing", False)]
            term = f"({_number(min(answers) + max(answers))} - {term})"
        weight = scale.weight(item_id)
        if weight != 1:
            term = f"({term} * {_number(weight)})"
        terms.append(term)
    combined = terms[0] + "".join(f".combine({t})" for t in terms[1:])
    v = f"%{variable_name(scale)}"
    n = len(scale.items)
    conditions = [f"{v}.count() > 0"]
    if scale.missing.max_missing is not None:
        conditions.append(f"({n} - {v}.count()) <= {scale.missing.max_missing}")
    if scale.missing.min_answered is not None:
        conditions.append(f"{v}.count() >= {scale.missing.min_answered}")
    if scale.method == "mean":
        aggregate = f"{v}.sum() / {v}.count()"
    elif scale.missing.prorate:
        aggregate = f"{v}.sum() * {n} / {v}.count()"
    else:
        aggregate = f"{v}.sum()"
    if scale.transform is not None:
        t = scale.transform
        aggregate = f"({aggregate}) * {_number(t.multiply)} + {_number(t.add)}"
    factor = 10**scale.decimals
    if factor == 1:
        rounding = "iif($this >= 0, ($this + 0.5).floor(), -((-$this + 0.5).floor()))"
    else:
        rounding = (
            f"iif($this >= 0, ($this * {factor} + 0.5).floor() / {factor}, "
            f"-((-$this * {factor} + 0.5).floor() / {factor}))"
        )
    calculated = f"iif({' and '.join(conditions)}, ({aggregate}).select({rounding}), {{}})"
    return combined, calculated


# -- reading expressions back ------------------------------------------------------

_PSYQ_ITEM = (
    r"\(%questionnaire\.item\.where\(linkId='(?P<id>[^'\\]{1,200})'\)\.answerOption"
    r"\.where\(valueCoding\.code=%resource\.item\.where\(linkId='(?P=id)'\)\.answer\.value\.code\)"
    r"\.extension\.where\(url='[^']+'\)\.value"
    r" \| %resource\.item\.where\(linkId='(?P=id)'\)\.answer\.value\.ofType\(integer\)"
    r"(?:\.where\(\((?:\$this = -?[0-9]+(?: or )?)+\)\.not\(\)\))?\)"
)
_SDC_ITEM = (
    r"%resource\.(?:repeat\(item\)|item)\.where\(linkId\s*=\s*'(?P<sid>[^'\\]{1,200})'\)"
    r"\.answer\.value\.(?:ordinal|weight)\(\)"
)
_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?"
_TERM = re.compile(
    rf"(?P<weighted>\()?(?:\((?P<k>{_NUMBER}) - )?(?:{_PSYQ_ITEM}|{_SDC_ITEM})"
    rf"(?(k)\))(?(weighted) \* (?P<w>{_NUMBER})\))"
)


@dataclass
class RecognisedScale:
    """A scale rule read from FHIRPath, with item linkIds not yet mapped to items."""

    items: list[str]
    reverse: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    method: str = "sum"
    max_missing: int | None = None
    min_answered: int | None = None
    prorate: bool = False
    multiply: float = 1.0
    add: float = 0.0
    decimals: int = 0


def _terms(expression: str) -> RecognisedScale | None:
    """The item terms of a values expression, or None when anything else is in it."""
    items: list[str] = []
    out = RecognisedScale(items=items)
    rest = expression
    position = 0
    for match in _TERM.finditer(expression):
        glue = expression[position : match.start()]
        if not re.fullmatch(r"\)*(?:\.combine\()?" if items else "", glue):
            return None
        link_id = match.group("id") or match.group("sid")
        items.append(link_id)
        if match.group("k") is not None:
            out.reverse[link_id] = float(match.group("k"))
        if match.group("w") is not None:
            out.weights[link_id] = float(match.group("w"))
        position = match.end()
        rest = expression[position:]
    if not items or rest.replace(")", "") != "" or len(set(items)) != len(items):
        return None
    return out


_CALCULATED = re.compile(
    r"iif\((?P<cond>.+?), \((?P<agg>.+)\)\.select\(iif\(\$this >= 0, "
    r"\(\$this(?: \* (?P<f>[0-9]+))? \+ 0\.5\)\.floor\(\)(?: / [0-9]+)?, .+\)\), \{\}\)"
)


def recognise(values: str | None, calculated: str) -> RecognisedScale | None:
    """A scale rule from psyq's pattern or a plain sum of item ordinals; else None."""
    calculated = calculated.strip()
    if values is None:
        # A plain sum: (term).combine(term)....sum() skips blanks; term + term + ...
        # is empty (not scored) when any term is.
        if calculated.endswith(".sum()"):
            found = _terms(calculated.removesuffix(".sum()"))
            if found is not None:
                found.min_answered = 1
            return found
        found = _terms(re.sub(r"\s*\+\s*", ".combine(", calculated))
        if found is not None:
            found.max_missing = 0
        return found
    found = _terms(values.strip())
    match = _CALCULATED.fullmatch(calculated)
    if found is None or match is None:
        return None
    v = r"%[A-Za-z_][A-Za-z0-9_]*"
    n = len(found.items)
    for part in match.group("cond").split(" and "):
        if re.fullmatch(rf"{v}\.count\(\) > 0", part):
            continue
        if m := re.fullmatch(rf"\({n} - {v}\.count\(\)\) <= ([0-9]+)", part):
            found.max_missing = int(m.group(1))
        elif m := re.fullmatch(rf"{v}\.count\(\) >= ([0-9]+)", part):
            found.min_answered = int(m.group(1))
        else:
            return None
    aggregate = match.group("agg")
    if m := re.fullmatch(rf"\((.+)\) \* ({_NUMBER}) \+ ({_NUMBER})", aggregate):
        aggregate, found.multiply, found.add = m.group(1), float(m.group(2)), float(m.group(3))
    if re.fullmatch(rf"{v}\.sum\(\) / {v}\.count\(\)", aggregate):
        found.method = "mean"
    elif re.fullmatch(rf"{v}\.sum\(\) \* {n} / {v}\.count\(\)", aggregate):
        found.prorate = True
    elif not re.fullmatch(rf"{v}\.sum\(\)", aggregate):
        return None
    factor = int(match.group("f") or 1)
    decimals = len(str(factor)) - 1
    if 10**decimals != factor:
        return None
    found.decimals = decimals
    return found


_LHC_VALUE = re.compile(
    r"%questionnaire\.item\.where\(linkId\s*=\s*'(?P<id>[^'\\]{1,200})'\)\.answerOption"
    r"\.where\(valueCoding\.code\s*=\s*%resource\.item\.where\(linkId\s*=\s*'(?P=id)'\)"
    r"\.answer\.valueCoding\.code\)\.extension\.where\(url\s*=\s*(?P<url>%[A-Za-z_]\w*|'[^']+')\)"
    r"\.valueDecimal"
)
_LHC_TERM = re.compile(r"iif\(%(?P<v>[A-Za-z_]\w*)\.exists\(\),\s*%(?P=v),\s*0\)")


def recognise_item_variables(variables: dict[str, str], calculated: str) -> RecognisedScale | None:
    """LHC-Forms' published PHQ-9 pattern: one variable per item (its answer's
    ordinalValue looked up in the form), summed with blanks as 0 once any is answered.

    That is psyq's sum of the answered items with at least one answered.
    """
    link_of: dict[str, str] = {}
    for name, expression in variables.items():
        match = _LHC_VALUE.fullmatch(expression.strip())
        if match is None:
            continue
        url = match.group("url")
        url = variables.get(url[1:], "") if url.startswith("%") else url
        if url.strip("'") not in (ORDINAL, "http://hl7.org/fhir/StructureDefinition/itemWeight"):
            continue
        link_of[name] = match.group("id")
    outer = re.fullmatch(
        r"iif\(%(?P<any>[A-Za-z_]\w*),\s*(?P<body>.+?)(?:,\s*\{\})?\)", calculated.strip()
    )
    body = outer.group("body") if outer else calculated.strip()
    if outer is not None:
        guard = variables.get(outer.group("any"), "")
        parts = [p.strip() for p in guard.split(" or ")]
        if not all(re.fullmatch(r"%[A-Za-z_]\w*\.exists\(\)", p) for p in parts):
            return None
    terms = [t.strip() for t in body.split(" + ")]
    names = [m.group("v") if (m := _LHC_TERM.fullmatch(t)) else None for t in terms]
    if not names or any(n is None or n not in link_of for n in names):
        return None
    items = [link_of[n] for n in names if n is not None]
    if len(set(items)) != len(items):
        return None
    return RecognisedScale(items=items, min_answered=1)
