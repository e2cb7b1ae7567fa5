"""Free text as psyq shows it: nothing in it can restyle, reorder or hide what is around it.

A clinician's note, a clinician's name or an answer typed by a client is
shown as written, except for characters that are not printable: terminal
control sequences (``ESC [31m``), and the Unicode format characters that
reorder text (right-to-left overrides U+202E, isolates U+2066-2069, marks
U+200E/U+200F), which could make "score 21" read as "12 erocs" beside a
risk flag. Those are shown as visible escapes (``\\u202e``), so nothing is
lost and nothing is disguised. Line breaks are kept.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def no_control(text: str) -> str:
    """``text``, refused (``ValueError``) when it holds a control character other than
    a line break or tab: a definition's texts are printed on terminals as they are,
    where a carriage return or ``ESC [2K`` could erase the "!!! CRITICAL" line beside it.
    """
    found = _CONTROL.search(text)
    if found:
        char = found.group()
        raise ValueError(
            f"contains the control character U+{ord(char):04X}; a text may not hold one (a "
            "terminal would obey it, and could hide what is printed beside it)"
        )
    return text


def visible(text: str | None) -> str | None:
    """``text`` with every non-printable character except a line break escaped."""
    if text is None or text.isprintable():
        return text
    return "".join(
        c
        if c == "\n" or c.isprintable()
        else f"\\x{ord(c):02x}"
        if ord(c) < 0x100
        else f"\\u{ord(c):04x}"
        for c in text
    )


def json_visible(document: str) -> str:
    """JSON text with every non-printable character inside its strings as a ``\\uXXXX``
    escape: the same data once parsed, but a viewer shows the escape instead of
    obeying a right-to-left override. (Outside strings, JSON text is printable
    apart from line breaks, which are kept.)"""
    if document.isprintable():
        return document
    import json

    return "".join(
        c if c == "\n" or c.isprintable() else json.dumps(c, ensure_ascii=True)[1:-1]
        for c in document
    )
