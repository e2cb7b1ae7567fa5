"""A FHIR R4 Questionnaire turned into a psyq instrument DRAFT (``psyq import-fhir``).

The draft is ``provisional``, carries the Questionnaire's copyright as its
licence (or ``UNKNOWN: check before use``), and keeps every code: the form's,
each item's, each answer's, and each item's linkId as a code whose system is
the Questionnaire's URL, so responses to that Questionnaire can be scored.

An item becomes a psyq item when every answer has a whole-number value: an
``ordinalValue`` extension (on the answer option, its coding, or the concept
of a *contained* ValueSet) or an integer code or ``valueInteger``. Everything
else is reported in the draft's header comment, never silently dropped:

* calculated totals (FHIRPath or CQL ``calculatedExpression``) are NOT run;
  the draft's ``total`` sums the converted items and says to check it;
* items whose answers have no numeric values are skipped;
* items whose answers differ from the first item's are kept but named, since
  a form may ask items it does not score (the PHQ-9 difficulty item);
* the draft has no golden examples.

Nothing in the file is executed or fetched: value sets outside ``contained``
are reported, not looked up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psyq.answers import looks_missing
from psyq.errors import DefinitionError
from psyq.models import MAX_OPTION_VALUE
from psyq.plugins.drafts import draft_yaml as write_draft
from psyq.plugins.fhir.enable_when import Answer, Earlier, enable_condition, skip_condition
from psyq.plugins.fhir.fhirpath import recognise, recognise_item_variables
from psyq.plugins.fhir.questionnaire import CRITICAL, MISSING_OPTION, SKIP, UNSCORED, VARIABLE
from psyq.plugins.fhir.questionnaire import FLAGS as FLAGS_EXTENSION
from psyq.plugins.fhir.questionnaire import INSTRUMENT as INSTRUMENT_EXTENSION
from psyq.plugins.fhir.questionnaire import SCALE as SCALE_EXTENSION
from psyq.plugins.fhir.resources import (
    CALCULATED_EXPRESSION_URLS,
    JSON,
    LOINC,
    TERMINOLOGIES,
    as_list,
    canonical_base,
    codings,
    extension_value,
    iter_items,
    ordinal_value,
    repeated_link_id,
    repeated_link_id_problem,
    value_set_concepts,
    whole_number,
)
from psyq.plugins.fhir.translations import Gathered

if TYPE_CHECKING:
    from psyq.models import Coding

UNKNOWN_LICENCE = "UNKNOWN: check before use"
LOCAL_QUESTIONNAIRE = "urn:psyq:fhir:Questionnaire/"
"""Code system of a Questionnaire without a url: its linkIds, under its resource id."""
DRAFT_NOTICE = (
    "Draft converted from a FHIR Questionnaire by psyq import-fhir: its items, answer "
    "values and total have not been checked against the instrument's manual."
)
QUESTION_TYPES = {"choice", "open-choice", "coding"}
ENABLE_WHEN_EXPRESSION_URLS = frozenset(
    {"http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression"}
)


@dataclass
class Option:
    value: int | None
    label: str
    codes: list[Coding]
    missing: bool = False


@dataclass
class Draft:
    """The instrument data (plain, in file order) and what could not be converted."""

    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _identifier(text: str, fallback: str = "draft") -> str:
    ident = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not ident or not ident[0].isalpha():
        ident = f"{fallback}_{ident}".strip("_")
    return ident[:64].rstrip("_")


def _text(value: Any, limit: int) -> str:
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


def _quote(text: str, limit: int = 60) -> str:
    return f"'{text[: limit - 3]}...'" if len(text) > limit else f"'{text}'"


def _options(item: JSON, contained: dict[str, JSON], notes: list[str]) -> list[Option] | None:
    """The item's answers with their values; ``None`` (and a note) when they cannot be read."""
    from psyq.models import Coding

    link_id = item.get("linkId")
    if "answerOption" in item:
        out = []
        for opt in as_list(item["answerOption"]):
            if not isinstance(opt, dict):
                continue
            coding: JSON = opt["valueCoding"] if isinstance(opt.get("valueCoding"), dict) else {}
            value = ordinal_value(opt, coding)
            if value is None and "valueInteger" in opt:
                value = whole_number(opt["valueInteger"])
            if value is None and coding.get("code") is not None:
                value = whole_number(coding["code"])
            label = coding.get("display") or coding.get("code") or opt.get("valueString")
            if label is None and "valueInteger" in opt:
                label = str(opt["valueInteger"])
            text = _text(str(label or "?"), 500)
            missing = extension_value(opt, frozenset({MISSING_OPTION})) is True
            out.append(
                Option(value, text, codings([coding]), missing or looks_missing(value, text))
            )
        return out
    ref = item.get("answerValueSet")
    if not isinstance(ref, str):
        return None
    value_set = contained.get(ref[1:]) if ref.startswith("#") else None
    if value_set is None:
        # By canonical URL: a contained ValueSet, or one given with --value-set.
        wanted = canonical_base(ref)
        value_set = next(
            (v for v in contained.values() if canonical_base(v.get("url")) == wanted), None
        )
    if value_set is None and not ref.startswith("#"):
        # A ValueSet given with --value-set that names no URL of its own (as LHC-Forms'
        # test files do) answers a reference nothing else answers, when it is the only one.
        unnamed = [v for k, v in contained.items() if k.startswith("\0") and not v.get("url")]
        value_set = unnamed[0] if len(unnamed) == 1 else None
    if value_set is None:
        notes.append(
            f"item {link_id}: its answers are in the value set {_quote(_text(ref, 200), 80)}, "
            "which is neither contained in the file nor given with --value-set; psyq fetches "
            "nothing: skipped"
        )
        return None
    out = []
    seen: set[tuple[str | None, str]] = set()
    for system, concept in value_set_concepts(value_set):
        if system is not None and len(system) > 500:
            system = None
        if (system, concept["code"]) in seen:
            continue  # compose and expansion list the same concept
        seen.add((system, concept["code"]))
        value = ordinal_value(concept)
        if value is None:
            value = whole_number(concept["code"])
        label = _text(concept.get("display") or concept["code"], 500)
        codes = [Coding(system=system, code=concept["code"][:500])] if system else []
        out.append(Option(value, label, codes, looks_missing(value, label)))
    return out


def _loinc(node: JSON) -> bool:
    return any(c.system == LOINC for c in codings(node.get("code")))


def _number_missing_options(options: list[Option]) -> None:
    """A "counts as missing" answer without a number gets a data manager's code (777, ...)."""
    used = {o.value for o in options}
    for option in options:
        if option.value is None and option.missing:
            option.value = next(c for c in (777, 999, 888, -777, -999, -888) if c not in used)
            used.add(option.value)


def _keepable(link_id: Any) -> bool:
    """A linkId kept as a code must match responses exactly, so it is kept only as written."""
    return isinstance(link_id, str) and 0 < len(link_id) <= 500 and link_id == link_id.strip()


def _over_limit(n_items: int, n_scales: int, known_scale: bool, n_options: int) -> str:
    """Why one more item would break the instrument format's caps ("" when it fits)."""
    if n_items >= 1000:
        return "more than 1000 items"
    if n_options > 100:
        return "more than 100 answers"
    if n_scales >= 50 and not known_scale:
        return "more than 50 different answer sets"
    return ""


def _calculation(item: JSON) -> str | None:
    expression = extension_value(item, CALCULATED_EXPRESSION_URLS)
    if not isinstance(expression, dict):
        return None
    language = expression.get("language", "an unknown language")
    body = _quote(_text(expression.get("expression", ""), 400), 70)
    ref = expression.get("reference")
    library = f" from library {_text(ref, 200)}" if isinstance(ref, str) else ""
    described = _text(expression.get("description"), 300)
    # The description often states the bands, which psyq needs typed in by hand.
    said = f" (described as {_quote(described, 300)})" if described else ""
    return f"a {_text(str(language), 60)} expression {body}{library}{said}"


def questionnaire_to_draft(
    q: JSON, source: str, instrument_id: str | None = None, value_sets: list[JSON] | None = None
) -> Draft:
    """Convert a parsed Questionnaire (see the module docs); raises DefinitionError.

    ``value_sets``: ValueSets given beside it (``--value-set``), found by URL.
    """
    kind = q.get("resourceType") if isinstance(q, dict) else type(q).__name__
    if kind != "Questionnaire":
        raise DefinitionError(f"{source}: a FHIR {kind}, not a Questionnaire")
    url = canonical_base(q.get("url"))
    if len(url) > 500:
        url = ""  # not a URL a person wrote; linkIds are then not kept as codes
    notes: list[str] = []
    if not url and isinstance(q.get("id"), str) and re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", q["id"]):
        # No canonical: linkIds are kept under the resource's id, which a server's
        # responses name as Questionnaire/<id>.
        url = f"{LOCAL_QUESTIONNAIRE}{q['id']}"
        notes.append(
            f"linkIds: the Questionnaire has no url; its linkIds are kept as codes of {url}, "
            f"which matches responses naming Questionnaire/{q['id']}"
        )
    contained = {
        r["id"]: r
        for r in as_list(q.get("contained"))
        if isinstance(r, dict)
        and r.get("resourceType") == "ValueSet"
        and isinstance(r.get("id"), str)
    }
    for n, given in enumerate(value_sets or []):
        contained.setdefault(f"\0given-{n}", given)  # found by URL only, never by #id
    scales: dict[tuple[Any, ...], str] = {}
    response_scales: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    calculated: list[tuple[JSON, str]] = []
    first_scale: str | None = None
    conditional: list[tuple[str, str, dict[str, Any] | str]] = []
    gathered = Gathered()  # texts in other languages
    earlier: dict[str, Earlier] = {}  # linkId -> a converted item later conditions may name
    try:
        nodes = list(iter_items(q.get("item")))
    except ValueError as exc:
        raise DefinitionError(f"{source}: refused: {exc}") from None
    repeated = repeated_link_id(nodes)
    if repeated is not None:
        raise DefinitionError(f"{source}: refused: {repeated_link_id_problem(repeated)}")
    keep_ids = _linkids_as_ids(nodes)
    typed_scores: list[JSON] = []
    item_of: dict[str, str] = {}  # linkId -> draft item id
    for node in nodes:
        link_id = _text(str(node.get("linkId", "?")), 200)
        kind = node.get("type") if isinstance(node.get("type"), str) else None
        text = _text(node.get("text") or link_id, 10_000) or link_id
        if kind == "display":
            continue  # a display item's expression only decides what is shown
        calculation = _calculation(node)
        if calculation is not None:
            calculated.append((node, calculation))  # a group's own score too
            continue
        if kind == "group":
            continue  # its structure: see _group_scales
        if node.get("repeats") is True and kind in QUESTION_TYPES:
            notes.append(
                f"item {link_id} {_quote(text)} repeats (several answers allowed): psyq "
                "scores one answer per item: not converted"
            )
            continue
        if kind in {"integer", "decimal", "quantity"} and (
            _loinc(node) or _section_code(node) is not None
        ):
            # A score the form has a person type in or fills itself (not calculated):
            # the total's code, or a group's subscale (see _group_scales).
            typed_scores.append(node)
            continue
        options = _options(node, contained, notes)
        if not options:
            if "answerValueSet" not in node:  # an uncontained value set is noted already
                notes.append(
                    f"item {link_id} {_quote(text)}: a {kind} item without answer options: "
                    "not converted"
                )
            continue
        _number_missing_options(options)
        values = [o.value for o in options]
        if any(v is None for v in values):
            unvalued = ", ".join(_quote(o.label, 30) for o in options if o.value is None)
            notes.append(
                f"item {link_id} {_quote(text)}: answers {unvalued} have no numeric value (no "
                "ordinalValue or itemWeight, no integer code) and do not read as 'counts as "
                "missing': skipped"
            )
            continue
        bound = MAX_OPTION_VALUE
        huge = next((o for o in options if o.value is None or abs(o.value) > bound), None)
        if huge is not None:  # the draft would be one `psyq validate` refuses
            notes.append(
                f"item {link_id} {_quote(text)}: answer {_quote(huge.label, 30)} is worth "
                f"{huge.value}, outside the -{bound}..{bound} psyq accepts: skipped"
            )
            continue
        if all(o.missing for o in options):
            notes.append(f"item {link_id} {_quote(text)}: every answer counts as missing: skipped")
            continue
        for o in options:
            if o.missing:
                notes.append(
                    f"item {link_id}: answer {_quote(o.label, 40)} counts as missing "
                    f"(stored as {o.value}, never scored)"
                )
        if len(set(values)) != len(values):
            notes.append(f"item {link_id} {_quote(text)}: two answers share a value: skipped")
            continue
        key = tuple((o.value, o.label, tuple(c.code for c in o.codes), o.missing) for o in options)
        limit = _over_limit(len(items), len(scales), key in scales, len(options))
        if limit:
            notes.append(f"item {link_id} {_quote(text)}: {limit}: skipped")
            continue
        if key not in scales:
            scales[key] = f"answers_{len(scales) + 1}"
            response_scales[scales[key]] = {
                "options": [
                    {"value": o.value, "label": o.label}
                    | ({"codes": [_coding(c) for c in o.codes]} if o.codes else {})
                    | ({"missing": True} if o.missing else {})
                    for o in options
                ]
            }
        item_id = node["linkId"] if keep_ids else f"q{len(items) + 1}"
        codes = [_coding(c) for c in codings(node.get("code"))]
        if url and _keepable(node.get("linkId")):
            codes.append({"system": url, "code": node["linkId"]})
        entry: dict[str, Any] = {"id": item_id, "text": text, "response_scale": scales[key]}
        gated = bool(node.get("enableWhen") or extension_value(node, ENABLE_WHEN_EXPRESSION_URLS))
        # FHIR's required holds only while the item is enabled; psyq's would refuse
        # every form that rightly skipped it.
        if node.get("required") is True and not gated:
            entry["required"] = True
        if extension_value(node, frozenset({UNSCORED})) is True:
            entry["scored"] = False
        if extension_value(node, frozenset({CRITICAL})) is True:
            entry["critical"] = True
        if codes:
            entry["codes"] = codes[:20]
        items.append(entry)
        gathered.item(item_id, node, scales[key], [o.value for o in options])
        if gated:
            conditional.append((item_id, link_id, enable_condition(node, earlier)))
        skip = _skip_rule(node, item_id, options, earlier, notes)
        if skip is not None:
            entry["skip"] = skip
        if isinstance(node.get("linkId"), str):
            item_of[node["linkId"]] = item_id
            earlier[node["linkId"]] = Earlier(
                item_id, [Answer(o.value, o.label, o.codes) for o in options if o.value is not None]
            )
        if entry.get("scored") is False:
            continue  # asked, not scored: unlike answers are expected
        if first_scale is None:
            first_scale = scales[key]
        elif scales[key] != first_scale:
            labels = ", ".join(f"{o.value}={o.label}" for o in options)
            notes.append(
                f"item {item_id} (linkId {link_id} {_quote(text, 50)}) has answers unlike "
                f"q1's ({labels}) and IS included in the total: check that the instrument "
                "scores it; if not, set `scored: false` and remove it from scale total"
            )
    if not items:
        raise DefinitionError(
            f"{source}: no item of this Questionnaire has numeric answer values "
            "(ordinalValue or integer codes); nothing psyq can score"
        )
    notes += enable_when_notes(conditional)
    scored = [i["id"] for i in items if i.get("scored", True)]
    if not scored:
        raise DefinitionError(
            f"{source}: every converted item is marked unscored; nothing to score"
        )
    converted = _scales(calculated, items, item_of, response_scales, notes)
    if converted:
        # The form says how it scores: an item no score uses is asked, not summed
        # (a category such as "1=Bleeding ... 9=Other" never is).
        used = {i for scale in converted.values() for i in scale["items"]}
        unused = [i["id"] for i in items if i["id"] not in used and i.get("scored", True)]
        for item in items:
            if item["id"] in unused:
                item["scored"] = False
        if unused:
            notes.append(
                f"items {', '.join(unused)} are in no calculated score: kept as scored: false"
            )
        scored = [i["id"] for i in items if i.get("scored", True)]
    total: dict[str, Any] = {
        "id": "total",
        "label": "Total (sum of all items; check it)",
        "items": scored,
        "method": "sum",
        "missing": {"max_missing": 0},
    }
    pending = [(node, calc) for node, calc in calculated if id(node) not in converted]
    for node, calculation in pending:
        link_id = str(node.get("linkId", "?"))
        notes.append(
            f"score {_quote(_text(link_id, 200), 50)} "
            f"{_quote(_text(node.get('text') or '', 200), 50)} is calculated by {calculation}, "
            "which is not a pattern psyq recognises (sums and means of answer weights, "
            "reverse keys, transforms); psyq does NOT run FHIRPath or CQL from a file: "
            "not converted"
        )
    sections = _group_scales(q, item_of, items, converted, calculated, url, notes)
    typed_scores = [n for n in typed_scores if id(n) not in sections.carriers]
    draft_scales = list(converted.values())
    if any(sc["id"] == "total" for sc in draft_scales):
        pass
    elif len(draft_scales) == 1:
        draft_scales[0]["id"] = "total"
    elif (len(pending) == 1 and not draft_scales) or (not calculated and len(typed_scores) == 1):
        node = pending[0][0] if pending else typed_scores[0]
        if not pending:
            notes.append(
                f"total: item {_quote(_text(str(node.get('linkId', '?')), 200))} is a score a "
                "person types in (not calculated); the draft's total takes its code and label"
            )
        total["label"] = _text(node.get("text") or total["label"], 500)
        _count_named(total, items, node, notes)
        codes = [_coding(c) for c in codings(node.get("code")) if c.system in TERMINOLOGIES]
        if url and _keepable(node.get("linkId")):
            codes.append({"system": url, "code": node["linkId"]})
        if codes:
            total["codes"] = codes[:20]
        notes.append(
            "total: the draft's total sums every converted item instead: check it against "
            "the manual"
        )
        draft_scales.append(total)
    else:
        if not calculated:
            notes.append(
                "total: the Questionnaire has no calculated total; the draft sums all items"
            )
        else:
            notes.append("total: no calculated score is the total; the draft sums all items")
        draft_scales.append(total)
    taken = {sc["id"] for sc in draft_scales}
    for scale in sections.scales:
        while scale["id"] in taken:
            scale["id"] = f"{scale['id']}_{len(taken)}"
        taken.add(scale["id"])
        draft_scales.append(scale)
    if not any(sc.get("bands") for sc in draft_scales):
        notes.append("bands: the draft has none; add the manual's interpretation bands to total")
    about = _psyq_json(q, INSTRUMENT_EXTENSION)
    about = about if isinstance(about, dict) else {}
    ident = instrument_id or _identifier(
        str(about.get("id") or q.get("id") or q.get("name") or q.get("title") or Path(source).stem)
    )
    version: str = q["version"] if isinstance(q.get("version"), str) else ""
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z.+-]{0,31}", version):
        version = "0.1"
    title = _text(q.get("title") or q.get("name") or ident, 500)
    copyright_text = _text(q.get("copyright"), 10_000)
    if not copyright_text:
        notes.append(
            f"licence: the Questionnaire states no copyright: licence is {UNKNOWN_LICENCE}"
        )
    notes.append("examples: the draft has no golden examples; add the manual's before use")
    data: dict[str, Any] = {
        "schema_version": 1,
        "id": ident,
        "version": version,
        "title": title,
        "short_name": _text(about.get("short_name") or q.get("name") or title, 40),
        "status": "provisional",
        "description": _text(q.get("description"), 10_000),
        "citations": [{"text": f"Converted from the FHIR Questionnaire {url or source}."}],
        "licence": copyright_text or UNKNOWN_LICENCE,
        "notice": DRAFT_NOTICE,
        "response_scales": response_scales,
        "items": items,
        "scales": draft_scales,
    }
    for field_name in ("recall_period", "instructions"):
        if isinstance(about.get(field_name), str):
            data[field_name] = _text(about[field_name], 10_000)
    flags = _flags(q, {i["id"] for i in items}, {sc["id"] for sc in draft_scales}, notes)
    if flags:
        data["flags"] = flags
    gathered.title(q)
    kept, untranslated = gathered.kept(
        data, f"The FHIR Questionnaire {url or Path(source).name}", DRAFT_NOTICE
    )
    if kept:
        data["translations"] = kept
        notes.append(
            f"translations: {', '.join(kept)} from the form's translation extensions, complete "
            "(the draft's notice in English is psyq's): check them against the published "
            "translation"
        )
    notes += untranslated
    form_codes = [_coding(c) for c in codings(q.get("code"))]
    if form_codes:
        data["codes"] = form_codes[:20]
    return Draft(data=data, notes=notes)


def _skip_rule(
    node: JSON, item_id: str, options: list[Option], earlier: dict[str, Earlier], notes: list[str]
) -> dict[str, Any] | None:
    """The item's skip rule: psyq's own (compiled by psyq), else from its enableWhen.

    The form does not ask the item when its enableWhen is unmet; FHIR does not say
    what such an item scores, so the draft scores it as its lowest answer (what a
    sum over the answers given counts it as, when that is 0) and says so.
    """
    from psyq.models import SkipRule

    values = [o.value for o in options if o.value is not None and not o.missing]
    own = _psyq_json(node, SKIP)
    if isinstance(own, dict):
        try:
            rule = SkipRule.model_validate(own)
        except ValueError:
            rule = None
        known = {e.item_id for e in earlier.values()}
        if (
            rule is not None
            and rule.score in values
            and (rule.when is None or all(i in known for _, i in rule.when.references()))
        ):
            return rule.model_dump(mode="json", exclude_defaults=True)
        notes.append(f"item {item_id}: psyq's skip extension does not fit the draft: not used")
    if not (node.get("enableWhen") or extension_value(node, ENABLE_WHEN_EXPRESSION_URLS)):
        return None
    when = skip_condition(node, earlier)
    if isinstance(when, str):
        return None  # named in the enableWhen notes
    score = min(values)
    import yaml  # here, not at start-up: every command registers this plugin

    flow = yaml.safe_dump(when, default_flow_style=True, width=10_000).strip()
    notes.append(
        f"item {item_id}: skip rule from its enableWhen: when {flow} the form does not ask "
        f"it, and unanswered it scores {score:g} (its lowest answer; FHIR does not say what "
        "a skipped item scores): check it against the manual"
    )
    return {"when": when, "score": score, "reason": "not asked (enableWhen not met)"}


SCORING_FORMULAS = "http://ehelse.no/scoringFormulas"
"""Helsenorge's scoring codes (Refero): QS question, SS section and TS total score."""


def _section_code(node: JSON) -> str | None:
    """``SS`` or ``TS`` when the item is a Helsenorge section or total score."""
    for coding in as_list(node.get("code")):
        if (
            isinstance(coding, dict)
            and coding.get("system") == SCORING_FORMULAS
            and coding.get("code") in ("SS", "TS")
        ):
            return str(coding["code"])
    return None


@dataclass
class Sections:
    scales: list[dict[str, Any]] = field(default_factory=list)
    carriers: set[int] = field(default_factory=set)  # score items a subscale took


def _group_scales(
    q: JSON,
    item_of: dict[str, str],
    items: list[dict[str, Any]],
    converted: dict[int, dict[str, Any]],
    calculated: list[tuple[JSON, str]],
    url: str,
    notes: list[str],
) -> Sections:
    """Nested groups that carry a score become subscales; plain ones are named.

    A group carries a score when it holds (as a direct child) a score item that is
    not calculated: a Helsenorge section score (code ``SS``: the sum of the group's
    question scores, subgroups included) or a typed-in score with a LOINC code. A
    group's score calculated in FHIRPath is read like any other (see ``_scales``).
    """
    out = Sections()
    scored = {i["id"] for i in items if i.get("scored", True)}
    calculated_ids = {id(node) for node, _ in calculated}
    for group in _walk_groups(q.get("item")):
        link_id = _text(str(group.get("linkId", "?")), 200)
        title = _text(group.get("text") or link_id, 500)
        inside = list(iter_items(group.get("item")))
        members = [
            item_of[n["linkId"]]
            for n in inside
            if isinstance(n.get("linkId"), str) and item_of.get(n["linkId"]) in scored
        ]
        if not members:
            continue
        own = id(group) in converted or any(
            id(n) in converted for n in as_list(group.get("item")) if isinstance(n, dict)
        )
        carriers = [
            n
            for n in as_list(group.get("item"))
            if isinstance(n, dict)
            and id(n) not in calculated_ids
            and n.get("type") in ("integer", "decimal", "quantity")
            and (_section_code(n) == "SS" or (_loinc(n) and _section_code(n) is None))
        ]
        if own:
            continue  # its calculated score is a scale already
        if not carriers:
            notes.append(
                f"group {_quote(link_id, 40)} {_quote(title, 50)} (items "
                f"{', '.join(members[:12])}{', ...' if len(members) > 12 else ''}) has no score "
                "of its own: psyq keeps no groups, its items are listed in order"
            )
            continue
        carrier = carriers[0]
        out.carriers.update(id(n) for n in carriers)
        scale: dict[str, Any] = {
            "id": _identifier(title if title != link_id else f"section_{link_id}", "section"),
            "label": title,
            "items": members,
            "method": "sum",
            "missing": {"max_missing": 0},
        }
        codes = [_coding(c) for c in codings(carrier.get("code")) if c.system in TERMINOLOGIES]
        if url and _keepable(carrier.get("linkId")):
            codes.append({"system": url, "code": carrier["linkId"]})
        if codes:
            scale["codes"] = codes[:20]
        out.scales.append(scale)
        kind = "section score (SS)" if _section_code(carrier) == "SS" else "typed-in LOINC score"
        notes.append(
            f"group {_quote(link_id, 40)} {_quote(title, 50)}: its {kind} "
            f"{_quote(_text(str(carrier.get('linkId', '?')), 60))} becomes subscale "
            f"{scale['id']}, the sum of its {len(members)} items (subgroups included; none "
            "may be missing): check it against the manual"
        )
    return out


def _walk_groups(nodes: Any, depth: int = 1) -> Iterator[JSON]:
    """Every group of the form, outer first (depth is capped by iter_items already)."""
    for node in as_list(nodes):
        if isinstance(node, dict) and node.get("type") == "group" and depth < 40:
            yield node
            yield from _walk_groups(node.get("item"), depth + 1)


def _count_named(
    total: dict[str, Any], items: list[dict[str, Any]], node: JSON, notes: list[str]
) -> None:
    """A total the form names "N item total score" (uwcirg's PHQ-9: "Patient health
    questionnaire 9 item total score") sums N items: when exactly N share the common
    answers, the others (the PHQ-9 difficulty item) are asked, not summed."""
    names = [node.get("text")] + [c.display for c in codings(node.get("code"))]
    said = [re.search(r"\b([0-9]{1,3})[- ]items?\b", n, re.IGNORECASE) for n in names if n]
    count = next((int(m[1]) for m in said if m), None)
    scored = [i for i in items if i["id"] in total["items"]]
    if count is None or len(scored) <= count:
        return
    by_scale: dict[str, list[str]] = {}
    for item in scored:
        by_scale.setdefault(item["response_scale"], []).append(item["id"])
    common = max(by_scale.values(), key=len)
    if len(common) != count:
        return
    others = [i["id"] for i in scored if i["id"] not in common]
    total["items"] = common
    notes[:] = [  # their "IS included in the total" notes no longer hold
        n for n in notes if not any(n.startswith(f"item {i} (linkId ") for i in others)
    ]
    for item in items:
        if item["id"] in others:
            item["scored"] = False
    notes.append(
        f"total: the form names it a {count}-item score and {count} items share the same "
        f"answers: items {', '.join(others)} are kept as scored: false, not summed"
    )


def enable_when_notes(conditional: list[tuple[str, str, dict[str, Any] | str]]) -> list[str]:
    """The header's notes on items asked only under a condition (item id, linkId, condition
    or why it was not converted)."""
    if not conditional:
        return []
    notes = [
        f"items {', '.join(i for i, _, _ in conditional)} are asked only under a condition "
        "(enableWhen): none is required (FHIR's required holds only while an item is "
        "enabled); where the enableWhen converts, the item's skip rule scores it when the "
        "form does not ask it, otherwise psyq counts it as missing: check the total's "
        "missing rule and what the manual scores for an item the form skips"
    ]
    for item_id, link_id, condition in conditional:
        if isinstance(condition, str):
            notes.append(
                f"item {item_id} (linkId {link_id}): enableWhen not converted: {condition}"
            )
        else:
            import yaml  # here, not at start-up: every command registers this plugin

            flow = yaml.safe_dump(condition, default_flow_style=True, width=10_000).strip()
            notes.append(f"item {item_id} (linkId {link_id}) is asked when {flow} (its enableWhen)")
    return notes


def _linkids_as_ids(nodes: list[JSON]) -> bool:
    """Keep linkIds as item ids when every answerable item's linkId is a psyq id."""
    link_ids = [
        node.get("linkId")
        for node in nodes
        if node.get("type") not in ("group", "display") and _calculation(node) is None
    ]
    return (
        bool(link_ids)
        and all(isinstance(x, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,63}", x) for x in link_ids)
        and len(set(link_ids)) == len(link_ids)
    )


def _psyq_json(element: JSON, url: str) -> Any:
    """The JSON payload of one of psyq's own extensions (``None`` if absent or broken)."""
    raw = extension_value(element, frozenset({url}))
    if not isinstance(raw, str) or len(raw) > 100_000:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _variables(node: JSON) -> dict[str, str]:
    out: dict[str, str] = {}
    for ext in as_list(node.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == VARIABLE:
            value = ext.get("valueExpression")
            if isinstance(value, dict) and value.get("language") == "text/fhirpath":
                name, expression = value.get("name"), value.get("expression")
                if isinstance(name, str) and isinstance(expression, str):
                    out[name] = expression
    return out


def _scales(
    calculated: list[tuple[JSON, str]],
    items: list[dict[str, Any]],
    item_of: dict[str, str],
    response_scales: dict[str, Any],
    notes: list[str],
) -> dict[int, dict[str, Any]]:
    """Scales from calculated items whose FHIRPath psyq recognises, by node identity."""
    by_id = {i["id"]: i for i in items}
    out: dict[int, dict[str, Any]] = {}
    used: set[str] = set()
    for node, _ in calculated:
        expression = extension_value(node, CALCULATED_EXPRESSION_URLS)
        if not isinstance(expression, dict) or expression.get("language") != "text/fhirpath":
            continue
        body = expression.get("expression")
        if not isinstance(body, str) or len(body) > 100_000:
            continue
        variables = _variables(node)
        # FHIRPath's and SDC's own environment variables are not the form's variables.
        named = [
            name
            for name in re.findall(r"%([A-Za-z_][A-Za-z0-9_]*)", body)
            if name not in {"resource", "questionnaire", "context", "rootResource", "ucum"}
        ]
        rule = recognise_item_variables(variables, body) if variables else None
        if rule is None:
            values = variables.get(named[0]) if named and set(named) <= set(variables) else None
            if named and values is None:
                continue
            rule = recognise(values, body)
        if rule is None:
            continue
        link_id = _text(str(node.get("linkId", "?")), 200)
        unknown = [x for x in rule.items if x not in item_of]
        unscored = [
            item_of[x]
            for x in rule.items
            if x in item_of and by_id[item_of[x]].get("scored") is False
        ]
        if unknown or unscored:
            what = (
                f"linkIds {', '.join(_quote(_text(x, 60)) for x in unknown)} "
                "that were not converted"
                if unknown
                else f"unscored items {', '.join(unscored)}"
            )
            notes.append(f"score {_quote(link_id)}: its expression adds {what}: not converted")
            continue
        about = _psyq_json(node, SCALE_EXTENSION)
        about = about if isinstance(about, dict) else {}
        scale: dict[str, Any] = {
            "id": _identifier(str(about.get("id") or link_id.removeprefix("score:")), "scale"),
            "label": _text(about.get("label") or node.get("text") or link_id, 500),
            "items": [item_of[x] for x in rule.items],
            "method": rule.method,
        }
        if scale["id"] in used:
            scale["id"] = f"{scale['id']}_{len(used) + 1}"
        used.add(scale["id"])
        bad_reverse = []
        for link, pivot in rule.reverse.items():
            entry = by_id[item_of[link]]
            values_of = [o["value"] for o in response_scales[entry["response_scale"]]["options"]]
            if pivot != min(values_of) + max(values_of):
                bad_reverse.append(item_of[link])
            entry["reverse"] = True
        if bad_reverse:
            notes.append(
                f"score {_quote(link_id)}: reverses {', '.join(bad_reverse)} against a value "
                "other than their lowest + highest answer: not converted"
            )
            for link in rule.reverse:
                by_id[item_of[link]].pop("reverse", None)
            continue
        if rule.weights:
            scale["weights"] = {item_of[k]: w for k, w in rule.weights.items()}
        missing: dict[str, Any] = {}
        if rule.max_missing is not None:
            missing["max_missing"] = rule.max_missing
        if rule.min_answered is not None:
            missing["min_answered"] = rule.min_answered
        if rule.prorate:
            missing["prorate"] = True
        scale["missing"] = missing or {"max_missing": len(rule.items) - 1}
        if rule.decimals:
            scale["decimals"] = rule.decimals
        if (rule.multiply, rule.add) != (1.0, 0.0):
            scale["transform"] = {"multiply": rule.multiply, "add": rule.add}
        for field_name in (
            "higher_is_worse", "clinical_cutoff", "bands_source", "reliable_change", "bands",
        ):  # fmt: skip
            if field_name in about:
                scale[field_name] = about[field_name]
        codes = [_coding(c) for c in codings(node.get("code")) if c.system in TERMINOLOGIES]
        if codes:
            scale["codes"] = codes[:20]
        out[id(node)] = scale
        notes.append(
            f"score {_quote(link_id)}: its FHIRPath read as a {rule.method} of "
            f"{len(rule.items)} items ({', '.join(scale['items'][:12])}); check it against "
            "the manual"
        )
    return out


def _flags(
    q: JSON, item_ids: set[str], scale_ids: set[str], notes: list[str]
) -> list[dict[str, Any]]:
    """Flag rules psyq wrote into its own extension, when every reference still resolves."""
    from psyq.models import FlagRule

    flags = _psyq_json(q, FLAGS_EXTENSION)
    if not isinstance(flags, list):
        return []
    kept = []
    for flag in flags[:100]:
        try:
            rule = FlagRule.model_validate(flag)
        except ValueError:
            notes.append("flags: a flag rule in psyq's extension is malformed: not converted")
            continue
        missing = [
            ident
            for kind, ident in rule.when.references()
            if ident not in (item_ids if kind == "item" else scale_ids)
        ]
        if missing:
            notes.append(
                f"flag {rule.id}: refers to {', '.join(missing)}, not in the draft: not converted"
            )
            continue
        kept.append(rule.model_dump(mode="json", exclude_defaults=True))
    return kept


def _coding(coding: Coding) -> dict[str, Any]:
    out: dict[str, Any] = {"system": coding.system, "code": coding.code}
    if coding.display:
        out["display"] = coding.display
    return out


def draft_yaml(draft: Draft, source: str) -> str:
    """The draft as YAML, headed by a comment listing everything not converted."""
    intro = (
        f"psyq instrument DRAFT converted from the FHIR Questionnaire {source} by "
        "`psyq import-fhir`. Status provisional: check every item, answer value and the "
        "total against the instrument's manual before scoring anyone with it."
    )
    return write_draft(intro, draft.notes, draft.data)
