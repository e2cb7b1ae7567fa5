"""``psyq import-fhir``: a FHIR R4 Questionnaire becomes a psyq instrument DRAFT.

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

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from psyq.errors import DefinitionError, PsyqError
from psyq.files import read_limited, write_atomic
from psyq.hookspecs import hookimpl
from psyq.models import Coding
from psyq.plugins.data_files import load_json
from psyq.plugins.fhir.resources import (
    CALCULATED_EXPRESSION_URLS,
    JSON,
    TERMINOLOGIES,
    as_list,
    canonical_base,
    codings,
    extension_value,
    iter_items,
    ordinal_value,
    whole_number,
)
from psyq.registry import MAX_DEFINITION_BYTES

UNKNOWN_LICENCE = "UNKNOWN: check before use"
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
            out.append(Option(value, _text(str(label or "?"), 500), codings([coding])))
        return out
    ref = item.get("answerValueSet")
    if not isinstance(ref, str):
        return None
    value_set = contained.get(ref[1:]) if ref.startswith("#") else None
    if value_set is None:
        notes.append(
            f"item {link_id}: its answers are in the value set {ref}, which is not contained "
            "in the file; psyq fetches nothing: skipped"
        )
        return None
    out = []
    compose: JSON = value_set["compose"] if isinstance(value_set.get("compose"), dict) else {}
    for include in as_list(compose.get("include")):
        if not isinstance(include, dict):
            continue
        system = include.get("system") if isinstance(include.get("system"), str) else None
        if system is not None and len(system) > 500:
            system = None
        for concept in as_list(include.get("concept")):
            if not isinstance(concept, dict) or not isinstance(concept.get("code"), str):
                continue
            value = ordinal_value(concept)
            if value is None:
                value = whole_number(concept["code"])
            label = _text(concept.get("display") or concept["code"], 500)
            codes = [Coding(system=system, code=concept["code"][:500])] if system else []
            out.append(Option(value, label, codes))
    return out


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


def questionnaire_to_draft(q: JSON, source: str, instrument_id: str | None = None) -> Draft:
    """Convert a parsed Questionnaire (see the module docs); raises DefinitionError."""
    kind = q.get("resourceType") if isinstance(q, dict) else type(q).__name__
    if kind != "Questionnaire":
        raise DefinitionError(f"{source}: a FHIR {kind}, not a Questionnaire")
    url = canonical_base(q.get("url"))
    if len(url) > 500:
        url = ""  # not a URL a person wrote; linkIds are then not kept as codes
    notes: list[str] = []
    contained = {
        r["id"]: r
        for r in as_list(q.get("contained"))
        if isinstance(r, dict)
        and r.get("resourceType") == "ValueSet"
        and isinstance(r.get("id"), str)
    }
    scales: dict[tuple[Any, ...], str] = {}
    response_scales: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    calculated: list[tuple[JSON, str]] = []
    first_scale: str | None = None
    conditional: list[str] = []
    try:
        nodes = list(iter_items(q.get("item")))
    except ValueError as exc:
        raise DefinitionError(f"{source}: refused: {exc}") from None
    for node in nodes:
        link_id = _text(str(node.get("linkId", "?")), 200)
        kind = node.get("type") if isinstance(node.get("type"), str) else None
        text = _text(node.get("text") or link_id, 10_000) or link_id
        if kind in {"group", "display"}:
            continue  # a display item's expression only decides what is shown
        calculation = _calculation(node)
        if calculation is not None:
            calculated.append((node, calculation))
            continue
        options = _options(node, contained, notes)
        if not options:
            if "answerValueSet" not in node:  # an uncontained value set is noted already
                notes.append(
                    f"item {link_id} {_quote(text)}: a {kind} item without answer options: "
                    "not converted"
                )
            continue
        values = [o.value for o in options]
        if any(v is None for v in values):
            notes.append(
                f"item {link_id} {_quote(text)}: answers without numeric values (no "
                "ordinalValue, no integer codes): skipped"
            )
            continue
        if len(set(values)) != len(values):
            notes.append(f"item {link_id} {_quote(text)}: two answers share a value: skipped")
            continue
        key = tuple((o.value, o.label, tuple(c.code for c in o.codes)) for o in options)
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
                    for o in options
                ]
            }
        item_id = f"q{len(items) + 1}"
        codes = [_coding(c) for c in codings(node.get("code"))]
        if url and _keepable(node.get("linkId")):
            codes.append({"system": url, "code": node["linkId"]})
        entry: dict[str, Any] = {"id": item_id, "text": text, "response_scale": scales[key]}
        if codes:
            entry["codes"] = codes[:20]
        items.append(entry)
        if first_scale is None:
            first_scale = scales[key]
        elif scales[key] != first_scale:
            labels = ", ".join(f"{o.value}={o.label}" for o in options)
            notes.append(
                f"item {item_id} (linkId {link_id} {_quote(text, 50)}) has answers unlike "
                f"q1's ({labels}) and IS included in the total: check that the instrument "
                "scores it; if not, set `scored: false` and remove it from scale total"
            )
        if node.get("enableWhen") or extension_value(node, ENABLE_WHEN_EXPRESSION_URLS):
            conditional.append(item_id)
    if not items:
        raise DefinitionError(
            f"{source}: no item of this Questionnaire has numeric answer values "
            "(ordinalValue or integer codes); nothing psyq can score"
        )
    if conditional:
        notes.append(
            f"items {', '.join(conditional)} are asked only under a condition (enableWhen); "
            "psyq asks every item and counts a skipped one as missing: check the total's "
            "missing rule"
        )
    total: dict[str, Any] = {
        "id": "total",
        "label": "Total (sum of all items; check it)",
        "items": [i["id"] for i in items],
        "method": "sum",
        "missing": {"max_missing": 0},
    }
    for node, calculation in calculated:
        link_id = str(node.get("linkId", "?"))
        notes.append(
            f"total: item {link_id} {_quote(_text(node.get('text') or '', 200), 50)} is "
            f"calculated by {calculation}; psyq does NOT run FHIRPath or CQL: the draft's "
            "total sums every converted item instead: check it against the manual"
        )
    if len(calculated) == 1:
        node = calculated[0][0]
        total["label"] = _text(node.get("text") or total["label"], 500)
        codes = [_coding(c) for c in codings(node.get("code")) if c.system in TERMINOLOGIES]
        if url and _keepable(node.get("linkId")):
            codes.append({"system": url, "code": node["linkId"]})
        if codes:
            total["codes"] = codes[:20]
    elif not calculated:
        notes.append("total: the Questionnaire has no calculated total; the draft sums all items")
    else:
        notes.append("total: several calculated scores; only the draft's sum of all items is kept")
    ident = instrument_id or _identifier(
        str(q.get("id") or q.get("name") or q.get("title") or Path(source).stem)
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
    notes.append("bands: the draft has none; add the manual's interpretation bands to total")
    notes.append("examples: the draft has no golden examples; add the manual's before use")
    data: dict[str, Any] = {
        "schema_version": 1,
        "id": ident,
        "version": version,
        "title": title,
        "short_name": _text(q.get("name") or title, 40),
        "status": "provisional",
        "description": _text(q.get("description"), 10_000),
        "citations": [{"text": f"Converted from the FHIR Questionnaire {url or source}."}],
        "licence": copyright_text or UNKNOWN_LICENCE,
        "notice": DRAFT_NOTICE,
        "response_scales": response_scales,
        "items": items,
        "scales": [total],
    }
    form_codes = [_coding(c) for c in codings(q.get("code"))]
    if form_codes:
        data["codes"] = form_codes[:20]
    return Draft(data=data, notes=notes)


def _coding(coding: Coding) -> dict[str, Any]:
    out: dict[str, Any] = {"system": coding.system, "code": coding.code}
    if coding.display:
        out["display"] = coding.display
    return out


def comment_safe(text: str) -> str:
    """Text that stays inside one YAML comment line, whatever the Questionnaire held.

    YAML ends a comment at CR, LF, NEL (U+0085) and the Unicode line and paragraph
    separators (U+2028, U+2029); any of them in a linkId would let the rest of it
    be read as live YAML. Every character that is not printable (those, other
    controls, bidi overrides) is written as its ``\\uXXXX`` escape instead.
    """
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def draft_yaml(draft: Draft, source: str) -> str:
    """The draft as YAML, headed by a comment listing everything not converted."""
    head = [
        f"psyq instrument DRAFT converted from the FHIR Questionnaire {source} by "
        "`psyq import-fhir`. Status provisional: check every item, answer value and the "
        "total against the instrument's manual before scoring anyone with it.",
        "",
        "Not converted or to check:",
    ]
    lines: list[str] = []
    for text in head:
        lines += textwrap.wrap(text, 86, break_on_hyphens=False) or [""]
    for note in draft.notes:
        lines += textwrap.wrap(
            note, 86, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False
        )
    comment = "".join(f"# {comment_safe(line)}".rstrip() + "\n" for line in lines)
    body = yaml.safe_dump(draft.data, sort_keys=False, allow_unicode=True, width=88)
    return comment + body


@click.command("import-fhir")
@click.argument("questionnaire", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Draft YAML file."
)
@click.option("--id", "instrument_id", help="Instrument id for the draft (default: from the file).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def import_fhir_command(
    questionnaire: Path, output: Path | None, instrument_id: str | None, force: bool
) -> None:
    """Convert a FHIR R4 Questionnaire (JSON) to a psyq instrument YAML DRAFT.

    The draft is provisional; its header lists what could not be converted
    (calculated totals are not run, items without numeric answer values are
    skipped). Check it, add golden examples, then `psyq validate` it.

    \b
    Example:
      psyq import-fhir phq9-questionnaire.json -o phq9-draft.yaml
    """
    if instrument_id is not None and not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", instrument_id):
        raise PsyqError(f"--id '{instrument_id}': use a lower-case letter, then a-z, 0-9, _")
    raw = read_limited(questionnaire, MAX_DEFINITION_BYTES, "a FHIR Questionnaire")
    data = load_json(questionnaire, raw)
    if not isinstance(data, dict):
        raise DefinitionError(f"{questionnaire}: a JSON {type(data).__name__}, not a Questionnaire")
    draft = questionnaire_to_draft(data, questionnaire.name, instrument_id)
    text = draft_yaml(draft, questionnaire.name)
    if output is None:
        click.echo(text, nl=False)
        return
    if output.exists() and not force:
        raise PsyqError(f"{output} exists; choose another name or pass --force")
    try:
        write_atomic(output, text.encode())
    except OSError as exc:
        raise PsyqError(f"{output}: cannot write the draft: {exc.strerror or exc}") from None
    click.echo(
        f"wrote {output}: {draft.data['id']}, {len(draft.data['items'])} item(s), "
        f"{len(draft.notes)} note(s) to check in its header",
        err=True,
    )


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [import_fhir_command]
