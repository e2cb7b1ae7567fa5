"""``psyq compile --to fhir``: an instrument as an R4 Questionnaire (SDC).

The Questionnaire's canonical is ``http://psyq.local/fhir/Questionnaire/<id>``
with the instrument's version (psyq's QuestionnaireResponses point at
``<url>|<version>``). Each item keeps its id as ``linkId``, its codes (LOINC),
``required``, and its answers as ``answerOption`` codings (the option's first
code, else ``<url>/answers/<scale>#<value>``) carrying the value as
``ordinalValue`` (R4) and ``itemWeight`` (SDC/R5). An item psyq does not score
carries the ``unscored`` extension. Each scale is a read-only ``decimal`` item
(``linkId`` ``score:<id>``) with an SDC ``variable`` and
``calculatedExpression`` in FHIRPath (:mod:`psyq.plugins.fhir.fhirpath`), or,
when FHIRPath cannot say it, the rule in words in its ``text``.

psyq's own extensions (base ``http://psyq.local/fhir/StructureDefinition/``):

``unscored`` (valueBoolean)
    on an item asked but not scored.
``critical`` (valueBoolean)
    on a risk item: unanswered, psyq raises a critical flag.
``counts-as-missing`` (valueBoolean)
    on an answer option that counts as missing (777 Decline): it has no
    ``ordinalValue``, and the FHIRPath leaves it out.
``scale`` (valueString, JSON)
    on a scale item: label, bands, clinical cut-off, reliable change and
    direction, as the definition format writes them.
``flags`` (valueString, JSON)
    on the Questionnaire: the flag rules, also described in words in
    ``description``.
``skip`` (valueString, JSON)
    on an item the form skips: its skip rule (when, score, reason), read back by
    ``import-fhir``. The item's ``enableWhen`` (or SDC ``enableWhenExpression``)
    says the same for other FHIR tools: asked when the skip condition does not hold.
``instrument`` (valueString, JSON)
    on the Questionnaire: short name, status, notice, citations, recall period.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from psyq.plugins.fhir.resources import JSON, LOINC, TERMINOLOGIES, coding_json

if TYPE_CHECKING:
    from psyq.models import Condition, Instrument, Item, ResponseOption, Scale

PSYQ_FHIR = "http://psyq.local/fhir"
EXTENSION = f"{PSYQ_FHIR}/StructureDefinition"
UNSCORED = f"{EXTENSION}/unscored"
CRITICAL = f"{EXTENSION}/critical"
MISSING_OPTION = f"{EXTENSION}/counts-as-missing"
SCALE = f"{EXTENSION}/scale"
FLAGS = f"{EXTENSION}/flags"
INSTRUMENT = f"{EXTENSION}/instrument"
SKIP = f"{EXTENSION}/skip"
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
ITEM_WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition"
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
CALCULATED = f"{SDC}/sdc-questionnaire-calculatedExpression"
ENABLE_WHEN_EXPRESSION = f"{SDC}/sdc-questionnaire-enableWhenExpression"
SCORE_PREFIX = "score:"


def questionnaire_url(instrument: Instrument) -> str:
    return f"{PSYQ_FHIR}/Questionnaire/{instrument.id}"


def questionnaire_canonical(instrument: Instrument) -> str:
    """``url|version``: what psyq's QuestionnaireResponses name as their Questionnaire."""
    return f"{questionnaire_url(instrument)}|{instrument.version}"


def compile_questionnaire(instrument: Instrument) -> JSON:
    """The Questionnaire for ``instrument`` (see the module docs)."""
    url = questionnaire_url(instrument)
    q: JSON = {
        "resourceType": "Questionnaire",
        "id": instrument.id.replace("_", "-"),
        "meta": {"profile": [f"{SDC}/sdc-questionnaire"]},
        "url": url,
        "version": instrument.version,
        "name": _name(instrument.short_name),
        "title": instrument.title,
        "status": "active" if instrument.status == "validated" else "draft",
        "subjectType": ["Patient"],
    }
    extensions = [_json_extension(INSTRUMENT, _about(instrument))]
    if instrument.flags:
        flags = [f.model_dump(mode="json", exclude_defaults=True) for f in instrument.flags]
        extensions.append(_json_extension(FLAGS, flags))
    q["extension"] = extensions
    description = [instrument.description] if instrument.description else []
    description += [f"NOTICE: {n}" for n in instrument.notices]
    description += [f"Flag {f.id} ({f.level}): {f.message}" for f in instrument.flags]
    if description:
        q["description"] = "\n\n".join(description)
    q["copyright"] = instrument.licence
    if instrument.codes:
        q["code"] = [coding_json(c) for c in instrument.codes]
    items = [_item(instrument, item, url) for item in instrument.items]
    items += [_scale_item(instrument, scale) for scale in instrument.scales]
    q["item"] = items
    return q


def _name(short_name: str) -> str:
    # A computable name: a capital letter, then letters, digits and underscores.
    name = "".join(ch if ch.isalnum() else "_" for ch in short_name).strip("_")
    return ("Q" + name if not name[:1].isalpha() else name[:1].upper() + name[1:])[:255]


def _about(instrument: Instrument) -> dict[str, Any]:
    keys = ("short_name", "status", "notice", "citations", "recall_period", "instructions")
    data = instrument.model_dump(mode="json", include=set(keys), exclude_defaults=True)
    data["id"] = instrument.id
    return data


def _json_extension(url: str, data: Any) -> JSON:
    return {"url": url, "valueString": json.dumps(data, ensure_ascii=False, sort_keys=True)}


def _item(instrument: Instrument, item: Item, url: str) -> JSON:
    out: JSON = {"linkId": item.id, "text": item.text, "type": "choice"}
    codes = [coding_json(c) for c in item.codes if c.system in TERMINOLOGIES]
    if codes:
        out["code"] = codes
    if item.required:
        out["required"] = True
    marks = []
    if not item.scored:
        marks.append({"url": UNSCORED, "valueBoolean": True})
    if getattr(item, "critical", False):
        marks.append({"url": CRITICAL, "valueBoolean": True})
    if marks:
        out["extension"] = marks
    if item.skip is not None:
        marks.append(
            _json_extension(SKIP, item.skip.model_dump(mode="json", exclude_defaults=True))
        )
        out["extension"] = marks
        if item.skip.when is not None:
            enabling = enable_when(instrument, item.skip.when, url)
            marks += enabling.pop("extension", [])
            out.update(enabling)
    options = []
    for option in instrument.response_scale_for(item).options:
        coding = _option_coding(instrument, item, option, url)
        if getattr(option, "missing", False):
            weights = [{"url": MISSING_OPTION, "valueBoolean": True}]
        else:
            weights = [
                {"url": ORDINAL, "valueDecimal": option.value},
                {"url": ITEM_WEIGHT, "valueDecimal": option.value},
            ]
        options.append({"extension": weights, "valueCoding": coding})
    out["answerOption"] = options
    return out


def _option_coding(instrument: Instrument, item: Item, option: ResponseOption, url: str) -> JSON:
    if option.codes:
        coding = coding_json(option.codes[0])
    else:
        coding = {"system": f"{url}/answers/{item.response_scale}", "code": str(option.value)}
    coding["display"] = option.label
    return coding


def enable_when(instrument: Instrument, skip_when: Condition, url: str) -> JSON:
    """``enableWhen`` (or an SDC ``enableWhenExpression``) for an item skipped when
    ``skip_when`` holds: the item is asked when it does not.

    psyq's comparisons are false on an unanswered item; FHIR's are too, except ``!=``.
    So "not ``a == v``" is ``a != v`` exactly, and the rest is written only as far as
    one flat ``enableWhen`` list says it; anything else becomes FHIRPath.
    """
    tests = _enable_tests(instrument, skip_when, url)
    if tests is not None:
        behaviour, listed = tests
        out: JSON = {"enableWhen": listed}
        if len(listed) > 1:
            out["enableBehavior"] = behaviour
        return out
    skipped = _skip_fhirpath(instrument, skip_when)
    if skipped is None:
        return {}  # a scale or counting test: psyq's skip extension alone says it
    expression = f"({skipped}).not()"
    return {
        "extension": [
            {
                "url": ENABLE_WHEN_EXPRESSION,
                "valueExpression": {"language": "text/fhirpath", "expression": expression},
            }
        ]
    }


def _enable_tests(
    instrument: Instrument, when: Condition, url: str
) -> tuple[str, list[JSON]] | None:
    """(behaviour, flat enableWhen list) saying "not ``when``", or None."""
    if when.any is not None:  # not (a or b) = all of (not a, not b)
        parts = [_enable_tests(instrument, sub, url) for sub in when.any]
        if any(p is None or len(p[1]) != 1 for p in parts):
            return None
        return "all", [p[1][0] for p in parts if p is not None]
    if when.all is not None:  # not (a and b) = any of (not a, not b)
        parts = [_enable_tests(instrument, sub, url) for sub in when.all]
        if any(p is None or (len(p[1]) > 1 and p[0] != "any") for p in parts):
            return None
        return "any", [t for p in parts if p is not None for t in p[1]]
    if when.item is None:
        return None  # items, scale and count tests: FHIRPath
    if when.missing is not None:
        return "all", [{"question": when.item, "operator": "exists", "answerBoolean": when.missing}]
    if when.op not in ("==", "!="):
        return None
    item = instrument.item(when.item)
    option = next(
        (o for o in instrument.response_scale_for(item).options if o.value == when.value), None
    )
    if option is None or getattr(option, "missing", False):
        return None
    coding = _option_coding(instrument, item, option, url)
    if when.op == "==":
        return "all", [{"question": when.item, "operator": "!=", "answerCoding": coding}]
    # not (a != v) = a == v, or a unanswered
    return "any", [
        {"question": when.item, "operator": "=", "answerCoding": coding},
        {"question": when.item, "operator": "exists", "answerBoolean": False},
    ]


def _skip_fhirpath(instrument: Instrument, when: Condition) -> str | None:
    """FHIRPath true exactly when ``when`` holds (false, never empty, when it does not)."""
    subs = when.any if when.any is not None else when.all
    if subs is not None:
        parts = [_skip_fhirpath(instrument, c) for c in subs]
        if any(p is None for p in parts):
            return None
        joiner = " or " if when.any is not None else " and "
        return "(" + joiner.join(p for p in parts if p is not None) + ")"
    if when.count is not None or when.scale is not None:
        return None
    from psyq.plugins.fhir.fhirpath import item_value

    tests = []
    for item_id in when.item_ids:
        options = instrument.response_scale_for(instrument.item(item_id)).options
        value = item_value(item_id, [o.value for o in options if getattr(o, "missing", False)])
        if when.missing is not None:
            tests.append(f"{value}.{'empty' if when.missing else 'exists'}()")
        else:
            op = "=" if when.op == "==" else when.op
            tests.append(f"iif({value} {op} {when.value:g}, true, false)")
    return "(" + " or ".join(tests) + ")"


# A scale's fields in its extension: what a reader needs to interpret the score.
_SCALE_FIELDS = {
    "id", "label", "bands", "clinical_cutoff", "bands_source", "reliable_change",
    "higher_is_worse",
}  # fmt: skip


def _scale_item(instrument: Instrument, scale: Scale) -> JSON:
    from psyq.plugins.fhir.fhirpath import expressible, scale_expressions, variable_name

    about = scale.model_dump(
        mode="json",
        include=_SCALE_FIELDS,
        exclude_defaults=True,
    )
    about["id"] = scale.id
    out: JSON = {
        "extension": [_json_extension(SCALE, about)],
        "linkId": f"{SCORE_PREFIX}{scale.id}",
        "text": f"{instrument.short_name} {scale.label}",
        "type": "decimal",
        "readOnly": True,
    }
    codes = [coding_json(c) for c in scale.codes if c.system == LOINC]
    if codes:
        out["code"] = codes
    why_not = expressible(instrument, scale)
    if why_not:
        out["text"] += f" (computed by psyq: {why_not}, which FHIRPath here does not express)"
        return out
    values, calculated = scale_expressions(instrument, scale)
    out["extension"] += [
        {
            "url": VARIABLE,
            "valueExpression": {
                "name": variable_name(scale),
                "language": "text/fhirpath",
                "expression": values,
            },
        },
        {
            "url": CALCULATED,
            "valueExpression": {
                "description": _described(scale),
                "language": "text/fhirpath",
                "expression": calculated,
            },
        },
    ]
    return out


def _described(scale: Scale) -> str:
    how = "mean" if scale.method == "mean" else "sum"
    rule = scale.missing
    parts = [f"{how} of {len(scale.items)} items"]
    if rule.max_missing is not None:
        parts.append(f"at most {rule.max_missing} missing")
    if rule.min_answered is not None:
        parts.append(f"at least {rule.min_answered} answered")
    if rule.prorate:
        parts.append("prorated")
    if scale.transform is not None:
        parts.append(f"x {scale.transform.multiply:g} + {scale.transform.add:g}")
    parts.append(f"rounded half up to {scale.decimals} decimals")
    return ", ".join(parts)
