"""REDCap data dictionaries: the 18 standard columns, read and written.

A dictionary is the CSV REDCap's "Data Dictionary" page exports and imports:
one row per field, these 18 columns in this order. Reading accepts a UTF-8
byte-order mark, multi-line quoted cells and HTML in labels (tags stripped,
entities decoded); a missing column is one error naming it.
"""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

from psyq.errors import DefinitionError

COLUMNS: tuple[str, ...] = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
MAX_DICTIONARY_BYTES = 20 * 1024 * 1024
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")


@dataclass(frozen=True)
class Field:
    """One row of a dictionary (labels as written; see :func:`plain`)."""

    line: int
    name: str
    form: str
    section: str
    type: str
    label: str
    choices: str
    note: str
    validation: str
    branching: str
    required: bool
    annotation: str


def plain(text: str) -> str:
    """A label without HTML tags or entities, on one line."""
    text = re.sub(r"<[^>]{0,2000}>", " ", text)
    return " ".join(html.unescape(text).split())


def parse_choices(text: str) -> list[tuple[str, str]]:
    """``0, Not at all | 1, Several days`` as (code, label) pairs."""
    out = []
    for part in text.split("|"):
        if not part.strip():
            continue
        code, _, label = part.partition(",")
        out.append((code.strip(), plain(label)))
    return out


def read_dictionary(path: Path) -> list[Field]:
    """Every field of a data dictionary file; DefinitionError naming file and line."""
    from psyq.files import read_limited

    # Never a device or FIFO (/dev/zero was read until memory ran out), and capped.
    raw = read_limited(path, MAX_DICTIONARY_BYTES, "a REDCap data dictionary", DefinitionError)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DefinitionError(f"{path}: empty file; expected a REDCap data dictionary") from None
    except csv.Error as exc:
        raise DefinitionError(f"{path}:1: not CSV: {exc}") from None
    index: dict[str, int] = {}
    for k, name in enumerate(header):
        if name.strip() in index and name.strip():
            # Which of the two is the label? Reading either would lose the other's text.
            raise DefinitionError(
                f"{path}:1: column '{name.strip()}' appears twice (columns "
                f"{index[name.strip()] + 1} and {k + 1}); a dictionary names each column once"
            )
        index[name.strip()] = k
    missing = [c for c in COLUMNS[:6] if c not in index]
    if missing:
        hint = (
            "this looks like a record export: score it with `psyq batch`"
            if "record_id" in index
            else "a dictionary has REDCap's 18 columns"
        )
        raise DefinitionError(
            f"{path}:1: not a REDCap data dictionary: no column '{missing[0]}' ({hint})"
        )
    fields: list[Field] = []
    first_line: dict[str, int] = {}
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue

            def cell(name: str, row: list[str] = row) -> str:
                k = index.get(name)
                return row[k] if k is not None and k < len(row) else ""

            fields.append(
                Field(
                    line=reader.line_num,
                    name=cell(COLUMNS[0]).strip(),
                    form=cell(COLUMNS[1]).strip(),
                    section=cell(COLUMNS[2]),
                    type=cell(COLUMNS[3]).strip().lower(),
                    label=cell(COLUMNS[4]),
                    choices=cell(COLUMNS[5]),
                    note=cell(COLUMNS[6]),
                    validation=cell(COLUMNS[7]).strip(),
                    branching=cell(COLUMNS[11]).strip(),
                    required=cell(COLUMNS[12]).strip().lower() == "y",
                    annotation=cell(COLUMNS[17]),
                )
            )
            name, line = fields[-1].name, fields[-1].line
            if name and name in first_line:
                # REDCap itself refuses this; a draft with the item twice would not load.
                raise DefinitionError(
                    f"{path}:{line}: field '{name[:64]}' is defined twice (first on line "
                    f"{first_line[name]}); a dictionary names each field once"
                )
            first_line.setdefault(name, line)
    except csv.Error as exc:
        raise DefinitionError(f"{path}:{reader.line_num}: not CSV: {exc}") from None
    return fields


def write_dictionary(rows: list[dict[str, str]]) -> str:
    """Rows (column name -> cell) as a dictionary CSV, every column present."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row.get(c, "") for c in COLUMNS])
    return out.getvalue()
