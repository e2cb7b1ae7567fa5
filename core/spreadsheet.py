"""CSV cells that are safe to open in a spreadsheet.

A cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return can run
as a formula in Excel or LibreOffice (CSV injection). Every CSV psyq writes
passes its text through :func:`neutralise`, so there is one rule for exports
and batch tables alike.
"""

from __future__ import annotations

import re

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def neutralise(cell: str) -> str:
    """Make a CSV cell inert in spreadsheets: a leading = + - @ tab or CR gets a ``'``.

    Plain numbers (``-3``, ``-0.5``) are left alone: a spreadsheet reads them as
    numbers, never as formulas, and prefixing them would corrupt the data.
    """
    if cell.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(cell):
        return "'" + cell
    return cell
