"""Instrument DRAFTS converted from other systems' forms (FHIR, REDCap): their YAML.

A draft is the definition as YAML under a header comment that lists every
conversion note. The header never carries raw text from the source file:
each note is wrapped, and every character that could end a YAML comment
(CR, LF, NEL, U+2028, U+2029) or is otherwise not printable is written as
its ``\\uXXXX`` escape.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psyq.models import Instrument, Item


def comment_safe(text: str) -> str:
    """Text that stays inside one YAML comment line, whatever the source file held.

    YAML ends a comment at CR, LF, NEL (U+0085) and the Unicode line and paragraph
    separators (U+2028, U+2029); any of them in a linkId would let the rest of it
    be read as live YAML. Every character that is not printable (those, other
    controls, bidi overrides) is written as its ``\\uXXXX`` escape instead.
    """
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def draft_yaml(intro: str, notes: list[str], data: dict[str, Any]) -> str:
    """``data`` as YAML, headed by ``intro`` and the notes as a comment."""
    lines: list[str] = []
    for text in (intro, "", "Not converted or to check:"):
        lines += textwrap.wrap(text, 86, break_on_hyphens=False) or [""]
    for note in notes:
        lines += textwrap.wrap(
            note, 86, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False
        )
    comment = "".join(f"# {comment_safe(line)}".rstrip() + "\n" for line in lines)
    import yaml  # only when writing a draft: start-up stays light

    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)
    return comment + body


def negate(condition: dict[str, Any]) -> dict[str, Any]:
    """The psyq condition (plain data) true exactly when ``condition`` is false.

    psyq's comparisons are false on an unanswered item, so "not ``a op v``" is
    "``a`` (the opposite op) ``v``, or ``a`` unanswered"; ``any``/``all`` swap
    (De Morgan). Items, scale and count tests are not negated here (callers
    convert only item tests). The result is simplified: "``a == v`` and ``a``
    answered" is "``a == v``".
    """
    if "any" in condition or "all" in condition:
        kind = "all" if "any" in condition else "any"
        return simplify({kind: [negate(c) for c in condition.get("any") or condition["all"]]})
    if "missing" in condition:
        return {"item": condition["item"], "missing": not condition["missing"]}
    turned = {
        "item": condition["item"],
        "op": _OPPOSITE[condition["op"]],
        "value": condition["value"],
    }
    return {"any": [turned, {"item": condition["item"], "missing": True}]}


_OPPOSITE = {"==": "!=", "!=": "==", ">": "<=", "<": ">=", ">=": "<", "<=": ">"}


def simplify(condition: dict[str, Any]) -> dict[str, Any]:
    """Flatten nested lists of one kind, drop tests another test of the list implies
    ("answered" beside a comparison under ``all``; "unanswered" beside a comparison
    under ``any`` stays), and unwrap a list of one."""
    for kind in ("any", "all"):
        if kind not in condition:
            continue
        parts: list[dict[str, Any]] = []
        for sub in condition[kind]:
            sub = simplify(sub)
            parts += sub.get(kind, [sub])
        if kind == "all":
            # "a answered and (a == v or a unanswered)" is "a == v"
            answered = {p["item"] for p in parts if p.get("missing") is False and "item" in p}
            narrowed = []
            for p in parts:
                if "any" in p:
                    kept = [
                        q for q in p["any"]
                        if not (q.get("missing") is True and q.get("item") in answered)
                    ]  # fmt: skip
                    p = simplify(kept[0] if len(kept) == 1 else {"any": kept})
                narrowed += p.get("all", [p])
            parts = narrowed
            compared = {p["item"] for p in parts if "op" in p and "item" in p}
            parts = [
                p for p in parts if not (p.get("missing") is False and p.get("item") in compared)
            ]
        unique: list[dict[str, Any]] = []
        for p in parts:
            if p not in unique:
                unique.append(p)
        return unique[0] if len(unique) == 1 else {kind: unique}
    return condition


def _words(text: Any) -> str:
    """Wording without case, punctuation or spacing (``dead, or`` is ``dead or``)."""
    import re

    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip() if isinstance(text, str) else ""


def carry_critical(data: dict[str, Any], notes: list[str], known: list[Instrument]) -> None:
    """Mark the draft's items that ARE an installed instrument's critical item, and
    carry that item's critical flags, so a draft never scores one without its alert.

    A draft of the PHQ-9 from LOINC's own Questionnaire (or Bridge2AI-Voice's REDCap
    form) had no critical item: item 9 answered "Nearly every day" raised nothing, and
    left blank nothing either. An item is the same question when it shares a LOINC or
    SNOMED code with the critical item, or its wording is the same; and its answers
    must be the same values with the same labels or codes, or a condition such as
    ``> 0`` would mean something else: otherwise nothing is carried. Each carried flag
    and mark is named in the header, to check like the rest of the draft.
    """
    from psyq.plugins.fhir.resources import TERMINOLOGIES

    scales = data.get("response_scales") or {}
    taken = {f.get("id") for f in data.get("flags", []) if isinstance(f, dict)}
    for item in data.get("items", []):
        if item.get("critical") or item.get("scored") is False:
            continue
        codes = {
            (c.get("system"), c.get("code"))
            for c in item.get("codes", [])
            if isinstance(c, dict) and c.get("system") in TERMINOLOGIES
        }
        options = (scales.get(item.get("response_scale")) or {}).get("options") or []
        for inst in known:
            same = [
                k
                for k in inst.items
                if k.critical
                and (
                    codes & {(c.system, c.code) for c in k.codes}
                    or _same_wording(k.text, item.get("text"))
                )
            ]
            match = next((k for k in same if _same_answers(options, inst, k)), None)
            if match is None:
                if same:  # the question, with other answers: its conditions would mislead
                    notes.insert(
                        0,
                        f"item {item['id']} looks like psyq's {inst.short_name} item "
                        f"{same[0].id}, a critical item, but its answers differ: NOT marked "
                        "critical; mark it (`critical: true`) and add its flag after checking "
                        "the manual",
                    )
                    break
                continue
            item["critical"] = True
            carried = []
            for flag in inst.flags:
                when = flag.when.model_dump(exclude_none=True, exclude_defaults=True)
                if flag.level != "critical" or set(when) != {"item", "op", "value"}:
                    continue
                if when["item"] != match.id:
                    continue
                ident = flag.id if flag.id not in taken else f"{flag.id}_{item['id']}"[:64]
                taken.add(ident)
                data.setdefault("flags", []).append(
                    {
                        "id": ident,
                        "level": "critical",
                        "message": flag.message,
                        "when": {**when, "item": item["id"], "value": _plain(when["value"])},
                    }
                )
                carried.append(ident)
            said = f" and its critical flag(s) {', '.join(carried)}" if carried else ""
            shared = codes & {(c.system, c.code) for c in match.codes}
            how = "code" if shared else "wording, or nearly,"
            notes.insert(
                0,
                f"item {item['id']} is psyq's {inst.short_name} item {match.id} (the same {how} "
                f"and answers), a critical item: marked critical{said} from {inst.id}; "
                "check them against the manual, never remove them without a reason",
            )
            break


def _same_wording(ours: str, theirs: Any) -> bool:
    """The same question, worded with small differences ("dead, or thoughts of hurting
    yourself" in HL7's SDC PHQ-9 example, "dead or of hurting yourself" in psyq's)."""
    from difflib import SequenceMatcher

    a, b = _words(ours), _words(theirs)
    return bool(a and b) and SequenceMatcher(None, a, b).ratio() >= 0.85


def _plain(value: Any) -> Any:
    """0.0 as 0: the YAML a person reads."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _same_answers(options: list[Any], inst: Instrument, item: Item) -> bool:
    """Whether the draft's options are the item's: each value with its label or a code."""
    ours = {
        o.value: (_words(o.label), {(c.system, c.code) for c in o.codes})
        for o in inst.response_scale_for(item).options
    }
    theirs = {}
    for option in options:
        if not isinstance(option, dict) or option.get("missing"):
            continue
        codes = {(c.get("system"), c.get("code")) for c in option.get("codes", [])}
        theirs[option.get("value")] = (_words(option.get("label")), codes)
    wanted = {v: o for v, o in ours.items() if not _missing(inst, item, v)}
    if set(theirs) != set(wanted):
        return False
    return all(
        theirs[v][0] == label or theirs[v][1] & codes for v, (label, codes) in wanted.items()
    )


def _missing(inst: Instrument, item: Item, value: int) -> bool:
    option = next(o for o in inst.response_scale_for(item).options if o.value == value)
    return bool(getattr(option, "missing", False))


def installed_instruments() -> list[Instrument]:
    """The instruments the running command's psyq has installed (for :func:`carry_critical`)."""
    import click

    from psyq.app import App
    from psyq.errors import PsyqError

    context = click.get_current_context(silent=True)
    app = context.find_object(App) if context is not None else None
    if app is None:
        return []
    out = []
    for entry in app.registry.all():
        try:
            out.append(entry.instrument)
        except PsyqError:  # a broken local definition: not one to learn from
            continue
    return out
