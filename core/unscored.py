"""Why a scale was not scored: the sentences psyq's missing-data stage stores with a result.

They are stored in English (JSON, history, exports keep them so); a report says them in
its language with :func:`reason_in`, which knows each sentence by its template.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from psyq.i18n import N_

NONE_ANSWERED = N_("no items answered (0 of %(n)s)")
TOO_MANY_MISSING = N_("%(missing)s of %(n)s items missing; at most %(allowed)s may be missing")
NONE_MAY_BE_MISSING = N_("%(missing)s of %(n)s items missing; no item may be missing")
TOO_FEW_ANSWERED = N_("%(answered)s of %(n)s items answered; at least %(needed)s needed")

REASONS = (NONE_ANSWERED, TOO_MANY_MISSING, NONE_MAY_BE_MISSING, TOO_FEW_ANSWERED)


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"%\\\((\w+)\\\)s", r"(?P<\1>\\d+)", re.escape(template)))


@cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Compiled on the first report that says a reason, not at start-up."""
    return [(template, _pattern(template)) for template in REASONS]


def reason_in(reason: str | None, gettext: Callable[[str], str]) -> str | None:
    """``reason`` in a report's language; one psyq did not word this way (a plugin's,
    or an older psyq's) is shown as stored."""
    if not reason:
        return reason
    for template, pattern in _patterns():
        found = pattern.fullmatch(reason)
        if found:
            return gettext(template) % found.groupdict()
    return reason
