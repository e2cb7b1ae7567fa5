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
