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


def prorated_cell(value: object, prorated: bool) -> str:
    """``1`` for a prorated score, ``0`` for one from every item, empty if unscored."""
    if value is None:
        return ""
    return "1" if prorated else "0"


def notices_cell(instrument: Instrument) -> str | None:
    """The instrument's notices (a provisional instrument's caveat, its own notice) in
    one cell, as ``export`` joins them; None when it has none (no ``notices`` column)."""
    return " | ".join(instrument.notices) or None


def beside_alert_cell(band: str | None, marked: bool) -> str:
    """``1`` for a band of low concern beside a critical flag (the score's band only,
    :func:`psyq.results.low_concern_bands`), ``0`` for any other band, empty if none."""
    if not band:
        return ""
    return "1" if marked else "0"


def scores_header(instrument: Instrument) -> list[str]:
    """Every scale's value and band, and whether that band is of low concern beside a
    critical flag (``<scale>_band_beside_alert``); a scale whose rule prorates also says
    whether it did. An instrument with notices (CCTS: provisional, no norms) repeats them
    on every row, so that the file never travels without them."""
    head = ["row", "client_id", "date"]
    for scale in instrument.scales:
        head += [scale.id, f"{scale.id}_band", f"{scale.id}_band_beside_alert"]
        if scale.missing.prorate:
            head.append(f"{scale.id}_prorated")
    notices = [] if notices_cell(instrument) is None else ["notices"]
    return [*head, "flags", "flag_items", "flag_levels", "reports", *notices]


def scores_line(instrument: Instrument, record: dict[str, Any]) -> list[str]:
    cells = [str(record["row"]), neutralise(record["client_id"]), neutralise(record["date"])]
    values, bands, prorated = record["values"], record["bands"], record["prorated"]
    beside = record.get("band_beside_alert", ())
    for scale in instrument.scales:
        value = values.get(scale.id)
        band = bands.get(scale.id) or ""
        cells += [
            format_value(value, scale.decimals),
            band,
            beside_alert_cell(band, scale.id in beside),
        ]
        if scale.missing.prorate:
            cells.append(prorated_cell(value, bool(prorated.get(scale.id))))
    files = ";".join(neutralise(f) for f in record["files"])
    flags = ";".join(record["flags"])
    notices = notices_cell(instrument)
    extra = [] if notices is None else [neutralise(notices)]
    return [*cells, flags, record["flag_items"], record["flag_levels"], files, *extra]


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
