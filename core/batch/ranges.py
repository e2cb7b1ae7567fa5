"""A CSV input read in byte ranges, each by the worker that scores it.

For a scores-only batch on this machine the parent does not read the rows at
all: :func:`scan_csv` passes once over the file in blocks (its digest, its
line count, a byte offset every :data:`MARK` lines, and the checks below),
reads the header row, and then sends each chunk as a :class:`CsvSlice`, a
few numbers. The worker reads its own lines (:func:`read_slice`) with the
same row code the parent uses (:func:`psyq.batch.inputs.csv_body`), so rows,
row numbers and row problems are exactly those of reading the whole file.
The parent's memory does not grow with the input.

Splitting at line ends is only safe when every line is one row. A CSV cell
may hold a line break inside quotes, so a file with any ``"``, a carriage
return not followed by a line feed, or a NUL byte is read whole by the
parent instead (:func:`scan_csv` returns ``None``), as is anything the whole
reader reports as an error (not UTF-8, too large, no rows): its one-line
error stays the same.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import operator
import os
import stat
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice, repeat
from typing import Any

from psyq.batch.inputs import (
    MAX_CLIENT_ID_CHARS,
    MAX_INPUT_BYTES,
    STDIN,
    ColumnMap,
    CsvLayout,
    InputError,
    InputRow,
    _detect_format,
    csv_body,
    csv_layout,
    input_label,
    wide_csv_cells,
)
from psyq.models import Instrument

MARK = 256
"""A byte offset is kept every this many lines (8 bytes each: 31 KB per million rows)."""
BLOCK = 1 << 22
BOM = codecs.BOM_UTF8
# Bytes that may make a line not one row ("), or that csv reads differently
# from a split at line feeds (a lone CR ends a line; NUL).
_UNSAFE = (b'"', b"\0")
# Bytes that leave a CSV row blank (whitespace and commas): a data line made of
# nothing else is skipped; an input with only such lines has no rows.
_BLANK = b" \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f,"
_HIGH = bytes(range(128, 256))


@dataclass(frozen=True)
class CsvSlice:
    """``count`` lines of a CSV file from line ``first`` (1 is the header)."""

    path: str
    offset: int
    """Byte offset of a line start at or before the first line wanted."""
    skip: int
    """Lines to pass over from ``offset`` to reach line ``first``."""
    count: int
    first: int
    size: int
    mtime_ns: int
    layout: CsvLayout


@dataclass(frozen=True)
class CsvFile:
    """A scanned CSV file: what the parent needs to hand out slices of it."""

    path: str
    label: str
    digest: str
    lines: int
    """Lines after the header (blank ones included): the rows chunks are cut from."""
    marks: array[int]
    size: int
    mtime_ns: int
    layout: CsvLayout

    def slice(self, start: int, count: int) -> CsvSlice:
        """Data lines ``start`` .. ``start + count - 1`` (0 is the line after the header)."""
        mark = start // MARK
        return CsvSlice(
            path=self.path,
            offset=self.marks[mark],
            skip=start - mark * MARK,
            count=count,
            first=start + 2,
            size=self.size,
            mtime_ns=self.mtime_ns,
            layout=self.layout,
        )


def scan_csv(path: str, instrument: Instrument, columns: ColumnMap) -> CsvFile | None:
    """Scan a CSV file for reading in slices, or ``None``: read it whole instead.

    Raises :class:`InputError` for a header the whole reader would refuse.
    """
    import numpy as np

    if path == STDIN:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None  # the whole reader words the error
    try:
        fh = os.fdopen(fd, "rb")
    except OSError:  # a folder opens, but not as a file: the whole reader words it
        os.close(fd)
        return None
    with fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or not 0 < info.st_size <= MAX_INPUT_BYTES:
            return None
        digest = hashlib.sha256()
        decoder = codecs.getincrementaldecoder("utf-8")()
        marks: array[int] = array("q")
        newlines = 0  # line feeds before this block
        offset = 0  # of this block
        cr_pending = False  # the last block ended with a CR
        has_rows = False
        last = b""
        header = b""
        while block := fh.read(BLOCK):
            digest.update(block)
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                return None
            if any(b in block for b in _UNSAFE) or _lone_cr(block, cr_pending):
                return None
            cr_pending = block.endswith(b"\r")
            at = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            # Line n (0 the header) starts after the n-th line feed; data line j is
            # line j + 1, so a mark is kept after line feed 1, MARK + 1, ...
            numbers = newlines + np.arange(len(at))  # each line feed's number, less one
            keep = at[numbers % MARK == 0] + offset + 1
            marks.extend(keep.tolist())
            if not offset:
                end = block.find(b"\n")
                if end < 0:
                    return None  # a header row longer than a block, or no rows
                header = block[: end + 1]
            body = block[max(0, (marks[0] if marks else info.st_size) - offset) :]
            if not has_rows and body:
                rest = body.translate(None, _BLANK).translate(None, _HIGH)
                has_rows = bool(rest)
            newlines += len(at)
            offset += len(block)
            last = block[-1:]
        if cr_pending or offset != info.st_size or not marks or not has_rows:
            return None
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    lines = newlines + (last != b"\n") - 1
    label = input_label(path)
    text = header.decode("utf-8")
    text = text[1:] if text.startswith("\ufeff") else text
    if _detect_format(path, text) != "csv":
        return None
    try:
        with wide_csv_cells():
            (names,) = list(csv.reader(io.StringIO(text, newline=""))) or [[]]
    except (csv.Error, ValueError):
        return None  # the whole reader words the error
    layout = csv_layout(label, names, instrument, columns)
    return CsvFile(
        path=path,
        label=label,
        digest="sha256:" + digest.hexdigest(),
        lines=lines,
        marks=marks,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        layout=layout,
    )


def _lone_cr(block: bytes, cr_pending: bool) -> bool:
    """Whether ``block`` has a CR not followed by LF (the one at its end is pending)."""
    if cr_pending and not block.startswith(b"\n"):
        return True
    lone = block.count(b"\r") - block.count(b"\r\n") - block.endswith(b"\r")
    return lone > 0


def read_slice(part: CsvSlice) -> list[tuple[int, str, str, str, tuple[Any, ...], str | None]]:
    """The slice's rows as worker row jobs (scores only: no report names).

    A line here is one row with no quotes, so a row as wide as the header is its
    line split at commas, as :func:`csv.reader` reads it; any other line (blank,
    short, long, an empty or overlong client id, or one with a character that does
    not print) is read by
    :func:`~psyq.batch.inputs.csv_body` itself, which words its problem.
    """
    with open(part.path, "rb") as fh:
        info = os.fstat(fh.fileno())
        if (info.st_size, info.st_mtime_ns) != (part.size, part.mtime_ns):
            raise InputError(
                f"{part.layout.label}: the file changed while the batch ran; "
                "rerun on a copy that nobody writes to"
            )
        fh.seek(part.offset)
        text = b"".join(islice(fh, part.skip, part.skip + part.count)).decode("utf-8")
    layout = part.layout
    lines = text.replace("\r\n", "\n").split("\n")  # no lone CR in a sliced file
    if text.endswith("\n"):
        lines.pop()
    item_at = layout.item_at
    # Labels to read as codes, or a form status to check: each row read by csv_body.
    if layout.codes or layout.status_at is not None or len(item_at) < 2:
        return [_job(r) for r in _careful(layout, lines, 0, part.first)]
    width, id_at = layout.width, layout.id_at
    # An item the file has no column for (PHQ-9's optional item 10) reads the
    # None appended to each row, one past the header's width.
    pick = operator.itemgetter(*(width if k is None else k for k in item_at))
    split = [line.split(",") for line in lines]
    clients = [c[id_at].strip() if id_at < len(c) else "" for c in split]
    odd = [
        k
        for k, (cells, client) in enumerate(zip(split, clients, strict=True))
        if len(cells) != width
        or not client
        or len(client) > MAX_CLIENT_ID_CHARS
        or not client.isprintable()
    ]
    date_at = layout.date_at
    dates: Iterable[str] = repeat("", len(split))
    if date_at is not None:
        dates = [c[date_at].strip() if date_at < len(c) else "" for c in split]
    if None in item_at:
        for cells in split:
            cells.append(None)  # type: ignore[arg-type]
        width += 1
    values = [pick(c) if len(c) == width else () for c in split] if odd else map(pick, split)
    numbers = range(part.first, part.first + len(split))
    rows = list(zip(numbers, clients, dates, repeat(""), values, repeat(None)))
    for k in reversed(odd):  # the careful reading of each odd line, in its place
        rows[k : k + 1] = [_job(r) for r in _careful(layout, lines[k : k + 1], k, part.first)]
    return rows


def _careful(layout: CsvLayout, lines: list[str], at: int, first: int) -> list[InputRow]:
    with wide_csv_cells():
        return csv_body(layout, csv.reader(lines), first + at - 1)


def _job(row: InputRow) -> tuple[int, str, str, str, tuple[Any, ...], str | None]:
    return (row.row, row.client_id, row.date, "", row.values, row.problem)
