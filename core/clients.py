"""Client ids: pseudonymous codes, never names.

One rule for every place a client id enters psyq (the store, reports, the
interactive administration), so the same client is the same id everywhere.
"""

from __future__ import annotations

import re

from psyq.errors import PsyqError

CLIENT_ID_PATTERN = re.compile(r"^(?=[^0-9]*[0-9])[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
"""1-32 letters, digits, ``-`` or ``_``, starting with a letter or digit, with a digit."""


def check_client_id(client_id: str) -> str:
    """Return ``client_id`` if it is a valid pseudonymous id, else raise a clear error."""
    if not CLIENT_ID_PATTERN.fullmatch(client_id):
        shown = client_id if client_id.isprintable() else repr(client_id)
        raise PsyqError(
            f"client id '{shown[:40]}' is not a valid pseudonymous id: use 1-32 letters, "
            "digits, '-' or '_', starting with a letter or digit and containing a digit "
            "(e.g. C0042); never a name"
        )
    return client_id


MAX_GIVEN_CLIENT_ID_CHARS = 200
"""Longest id of a client whose answers come with it (room for a FHIR subject reference)."""


def given_client_id_problem(client_id: str) -> str | None:
    """Why ``client_id`` (stripped) cannot name the client of answers given with it, or
    None: the one rule of ``psyq report --client`` with answers and of a ``psyq batch``
    row, which store nothing (a stored client is :func:`check_client_id`'s).

    Any printable text up to :data:`MAX_GIVEN_CLIENT_ID_CHARS` is shown as given (``A``,
    ``Müller-4``, a FHIR ``Patient/123``). A tab, line break, right-to-left override
    or zero-width character is not: the id would read as another on a screen or split
    a line of a report's name.
    """
    if not client_id:
        return "the client id is empty"
    if not client_id.isprintable():
        at, char = next((k, c) for k, c in enumerate(client_id) if not c.isprintable())
        return (
            f"the client id holds an invisible or control character (U+{ord(char):04X}, "
            f"character {at + 1}); use letters, digits, '-' or '_' (a pseudonymous id "
            "such as C0042)"
        )
    if len(client_id) > MAX_GIVEN_CLIENT_ID_CHARS:
        return (
            f"the client id is {len(client_id)} characters long; at most "
            f"{MAX_GIVEN_CLIENT_ID_CHARS} are accepted (a pseudonymous id such as C0042)"
        )
    return None


def check_given_client_id(client_id: str) -> str:
    """``client_id`` stripped, or a :class:`PsyqError` saying why it cannot be used
    (:func:`given_client_id_problem`)."""
    client_id = client_id.strip()
    problem = given_client_id_problem(client_id)
    if problem is not None:
        shown = client_id[:40].encode("unicode_escape").decode("ascii")
        raise PsyqError(f"--client '{shown}': {problem}")
    return client_id


# -- client attributes ----------------------------------------------------------------

SEX_VALUES = ("female", "male", "other", "unknown")
"""What ``psyq clients set --sex`` records. ``unknown`` is a recorded "not known"."""

CLIENT_ATTRIBUTES: dict[str, tuple[str, ...]] = {"sex": SEX_VALUES}
"""Client attributes psyq stores and a definition's ``client_bands`` may select on."""

BAND_VALUES: dict[str, tuple[str, ...]] = {"sex": ("female", "male", "other")}
"""Values a definition's ``client_bands`` may name (``unknown`` selects no set: the
scale's own bands, which must not assume either sex, are used)."""

_ALIASES = {"sex": {"f": "female", "m": "male", "woman": "female", "man": "male"}}


def normalise_attribute(name: str, value: str, where: str = "") -> str:
    """``value`` of client attribute ``name`` in its stored spelling (``F`` -> ``female``).

    Raises a one-line :class:`PsyqError` for an unknown attribute or value.
    """
    allowed = CLIENT_ATTRIBUTES.get(name)
    if allowed is None:
        raise PsyqError(
            f"{where}'{name}' is not a client attribute psyq knows; known: "
            + ", ".join(sorted(CLIENT_ATTRIBUTES))
        )
    text = value.strip().lower()
    text = _ALIASES.get(name, {}).get(text, text)
    if text not in allowed:
        shown = value if value.isprintable() else repr(value)
        raise PsyqError(f"{where}{name} '{shown[:40]}' is not one of {', '.join(allowed)}")
    return text


def known_attributes(attributes: dict[str, str], where: str = "") -> dict[str, str]:
    """The client attributes among ``attributes`` (e.g. a ``--group``), normalised;
    other keys (norm-group keys such as ``age``) are left out. ``unknown`` is dropped:
    it selects nothing."""
    out: dict[str, str] = {}
    for name, value in attributes.items():
        if name in CLIENT_ATTRIBUTES:
            normal = normalise_attribute(name, value, where)
            if normal != "unknown":
                out[name] = normal
    return out
