"""``scores.csv`` and ``errors.csv``: one line per row, in row order.

Text a respondent or operator typed (client ids, dates, reasons) goes through
:func:`psyq.spreadsheet.neutralise`, so a spreadsheet never runs it as a
formula; numbers psyq computed are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from psyq.models import Instrument
from psyq.spreadsheet import neutralise


def format_value(value: int | float | None, decimals: int) -> str:
    if value is None:
        return ""
    return str(value) if decimals == 0 else f"{value:.{decimals}f}"


def scores_header(instrument: Instrument) -> list[str]:
    head = ["row", "client_id", "date"]
    for scale in instrument.scales:
        head += [scale.id, f"{scale.id}_band"]
    return [*head, "flags", "reports"]


def scores_line(instrument: Instrument, record: dict[str, Any]) -> list[str]:
    cells = [str(record["row"]), neutralise(record["client_id"]), neutralise(record["date"])]
    values, bands = record["values"], record["bands"]
    for scale in instrument.scales:
        cells += [format_value(values.get(scale.id), scale.decimals), bands.get(scale.id) or ""]
    files = ";".join(neutralise(f) for f in record["files"])
    return [*cells, ";".join(record["flags"]), files]


def errors_line(record: dict[str, Any]) -> list[str]:
    return [str(record["row"]), neutralise(record["client_id"]), neutralise(record["error"])]


ERRORS_HEADER = ["row", "client_id", "reason"]


def csv_bytes(header: list[str], lines: Iterable[list[str]]) -> Iterable[bytes]:
    """Encode CSV lines as UTF-8 (no BOM, ``\\r\\n`` as RFC 4180), a block at a time."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for n, line in enumerate(lines, start=1):
        writer.writerow(line)
        if n % 1000 == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()
