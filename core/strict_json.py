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


def strict_loads(text: str | bytes) -> Any:
    """Parse JSON; raises :class:`json.JSONDecodeError`, :class:`StrictJSONError`
    or :class:`RecursionError` (hostile nesting)."""
    return json.loads(
        text,
        object_pairs_hook=_no_duplicates,
        parse_int=_int,
        parse_float=_float,
        parse_constant=_constant,
    )
