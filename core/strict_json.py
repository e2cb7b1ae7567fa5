"""JSON as psyq reads it from users: no duplicate keys, no absurd numbers, no NaN.

Python's :func:`json.loads` keeps the last of two equal keys (so ``{"phq9_9": 3,
"phq9_9": 0}`` silently hides a positive answer), turns a 5000-digit number into
an error Python raises deep inside the parser, and accepts ``NaN``. Every JSON
input (instrument files, answers files, batch JSONL, FHIR resources) goes
through :func:`strict_loads`, which refuses all three with a :class:`StrictJSONError`
naming what it found; callers add the file and line.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_NUMBER_CHARS = 100
"""Longest number accepted, in characters: far beyond any answer or definition value."""


class StrictJSONError(ValueError):
    """Valid JSON that psyq refuses (a duplicate key, a huge number, NaN)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            shown = key if len(key) <= 40 else key[:37] + "..."
            raise StrictJSONError(f"duplicate key '{shown}'")
        out[key] = value
    return out


def _number(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise StrictJSONError(
            f"a number {len(text)} characters long (at most {MAX_NUMBER_CHARS} are accepted)"
        )
    return text


def _int(text: str) -> int:
    return int(_number(text))


def _float(text: str) -> float:
    return float(_number(text))


def _constant(text: str) -> Any:
    raise StrictJSONError(f"'{text}' is not a number psyq accepts")


# An escape of half a surrogate pair: the only way JSON text can hold a string that is
# not Unicode (``"\ud800"``), which every later write of it (SQLite, a report) refuses.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def strict_loads(text: str | bytes) -> Any:
    """Parse JSON; raises :class:`json.JSONDecodeError`, :class:`StrictJSONError`
    or :class:`RecursionError` (hostile nesting)."""
    data = json.loads(
        text,
        object_pairs_hook=_no_duplicates,
        parse_int=_int,
        parse_float=_float,
        parse_constant=_constant,
    )
    escape = _SURROGATE_ESCAPE_BYTES if isinstance(text, bytes) else _SURROGATE_ESCAPE
    if escape.search(text):  # type: ignore[arg-type]
        _no_lone_surrogates(data)
    return data


def _no_lone_surrogates(data: Any) -> None:
    """Refuse a string holding half a surrogate pair (a pair makes one character)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                code = ord(value[exc.start])
                raise StrictJSONError(
                    f"text with \\u{code:04x}, half of a surrogate pair: not a character"
                ) from None
