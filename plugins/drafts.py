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
