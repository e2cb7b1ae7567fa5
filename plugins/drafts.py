"""Instrument DRAFTS converted from other systems' forms (FHIR, REDCap): their YAML.

A draft is the definition as YAML under a header comment that lists every
conversion note. The header never carries raw text from the source file:
each note is wrapped, and every character that could end a YAML comment
(CR, LF, NEL, U+2028, U+2029) or is otherwise not printable is written as
its ``\\uXXXX`` escape.
"""

from __future__ import annotations

import textwrap
from typing import Any


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
