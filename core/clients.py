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
