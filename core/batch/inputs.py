"""Reading a batch input: CSV or JSONL rows, one respondent each.

A CSV has a header row: the client id column (``client_id`` unless told
otherwise), an optional date column (``date``), for instruments whose cut-offs
depend on it an optional ``sex`` column, and one column per item id; an empty
cell is a missing answer. UTF-8, with or without a byte-order mark.
A JSONL file has one JSON object per line with the same keys, or one resource
per line (an object with a ``resourceType``, as FHIR Bulk Data NDJSON has),
turned into answers by the ``documents`` reader (``psyq_parse_answers``).

Everything that makes the whole input unusable (an unreadable file, bad
UTF-8, a missing id column, missing item columns, unknown columns) is an
:class:`InputError`, raised before any work starts. Problems with one row
(a short CSV row, a line that is not a JSON object) travel with that row and
become a line in ``errors.csv``: a bad row never stops the batch.

Rows are numbered by the line they start on, as a spreadsheet numbers them:
in a CSV the header is row 1 and the first respondent row 2.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import operator
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from psyq.answers import FINISHED_STATUSES, UNFINISHED_STATUSES
from psyq.clients import MAX_GIVEN_CLIENT_ID_CHARS, given_client_id_problem
from psyq.errors import PsyqError
from psyq.files import read_limited
from psyq.models import Instrument
from psyq.strict_json import StrictJSONError, strict_loads

if TYPE_CHECKING:
    from _csv import Reader

MAX_INPUT_BYTES = 1024 * 1024 * 1024
MAX_JSONL_LINE_CHARS = 16 * 1024 * 1024
"""A JSONL row (a FHIR Bundle included) longer than this is refused unparsed: parsing
takes some 30 times its size in memory, so one 1 GB line would take 30 GB."""
"""A batch input (file or stdin) is at most 1 GB (split a larger cohort)."""
MAX_CLIENT_ID_CHARS = MAX_GIVEN_CLIENT_ID_CHARS
"""Longest client id a batch row may carry (room for a FHIR subject reference; the
store's stricter rule, :data:`psyq.clients.CLIENT_ID_PATTERN`, allows 32)."""

InputFormat = Literal["csv", "jsonl"]

DocumentReader = Callable[[dict[str, Any]], dict[str, Any]]
"""Item id -> answer for one resource line, plus ``"@client_id"``, ``"@date"`` and
``"@authored"`` when the resource says who answered and when; raises PsyqError when
unreadable."""

STDIN = "-"


class InputError(PsyqError):
    """The batch input cannot be used at all (exit 2, before any work starts)."""


@dataclass(frozen=True)
class InputRow:
    """One respondent as read: raw answers, not yet validated.

    ``values`` holds the answers in the instrument's item order (``None`` for
    an item the input does not have). ``problem`` is set when the row could
    not even be read (it becomes an error line for this row only).
    """

    row: int
    client_id: str
    date: str
    values: tuple[Any, ...]
    problem: str | None = None
    authored: str = ""
    """When a document row says the moment it was answered (a FHIR ``authored`` with
    its time), that text; ``date`` keeps the date alone, which names the reports."""
    sex: str = ""
    """The ``sex`` column, for cut-offs that depend on it (AUDIT-C); empty: not known."""
    notice: str = ""
    """A caveat every report of this row shows (:attr:`FormStatus.notices`)."""


@dataclass(frozen=True)
class FormStatus:
    """A column saying whether each row's form was finished (REDCap's ``<form>_complete``).

    A row whose cell (case-folded, stripped) is not in ``finished`` is an unfinished
    form, as a FHIR QuestionnaireResponse in-progress or stopped is: not scored (a
    batch row has no partial status to carry; scored, it would read as a finished
    form), its errors.csv line led by its critical items and what was answered.
    ``reasons`` words that line per cell; ``other`` (with ``{value}``) any other cell.
    """

    column: str
    finished: frozenset[str]
    reasons: Mapping[str, str] = field(default_factory=dict)
    other: str = "the form status '{value}' is not a finished form's: not scored"
    context: tuple[str, ...] = ()
    """Columns whose cells the line quotes, where given, to say which form it is (a
    REDCap event and repeat instance: one record has a form in each)."""
    notices: Mapping[str, str] = field(default_factory=dict)
    """Per finished cell, a caveat every report of the row shows (REDCap's Unverified)."""
    not_started: Mapping[str, str] = field(default_factory=dict)
    """Per unfinished cell, the reason for a row with no answer at all (REDCap's 0 for a
    form nobody opened): not scored, listed in errors.csv, but not led by the critical
    items, since there is no answer to be critical about."""
    absent: frozenset[str] = frozenset()
    """Cells that, in a row with no answer at all, say the row is not this form's (REDCap
    writes an empty status on a row of another repeating instrument or of an event the
    form is not in): the row is skipped (:data:`NOT_THIS_FORM`), counted, no error line."""
    owner: tuple[str, str] | None = None
    """A column and the value that says a row is this form's own however empty it is
    (REDCap's ``redcap_repeat_instrument`` naming the form): never skipped."""


NOT_THIS_FORM = "the row holds no answer of this form and is another form's or event's"
"""The problem of a row that is not an administration of this form at all (see
:attr:`FormStatus.absent`): compared by equality, so no reader's problem can be taken
for it; the worker skips the row (no score, no error line) and counts it."""


UNFINISHED = "\x1e"
"""Leads the problem of a row whose form was not finished (a status column or
``"@status"`` saying so, a FHIR response in-progress or stopped). The worker takes it
off and leads the errors.csv line with the row's critical items that are positive or
unanswered, with their answers' labels (:func:`psyq.alerts.critical_items_lead`),
named even when nothing was answered. A control character no input can put at the
start of a problem (cells are quoted escaped)."""

_UNFINISHED = (
    '"@status" says the form was not finished (partial): not scored in a batch; '
    "`psyq record` stores it as a partial administration"
)
PLAIN_STATUS = FormStatus(
    column="@status",
    finished=frozenset(FINISHED_STATUSES),
    reasons=dict.fromkeys(UNFINISHED_STATUSES, _UNFINISHED),
    other="\"@status\" '{value}' says neither that the form was finished (complete) nor "
    "that it was not (partial); refusing rather than guessing",
)
"""A CSV's ``@status`` column, read as an answers document's ``"@status"`` is
(:func:`psyq.answers.document_status`): ``--ignore-extra-columns`` dropped it and
scored a row the file says was not finished."""


@dataclass(frozen=True)
class ColumnMap:
    """Which columns hold the client id and the date, and what to do with others.

    ``rename`` maps an input column to an item id (a REDCap field name);
    ``answer_codes`` maps, per item id, an answer label to its code (a REDCap
    export of labels rather than raw codes); ``status`` is the column, if any, that
    says whether each row's form was finished.
    """

    id_column: str = "client_id"
    date_column: str = "date"
    ignore_extra: bool = False
    rename: Mapping[str, str] = field(default_factory=dict)
    answer_codes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    status: FormStatus | None = None
    date_given: bool = False
    """``--date-column`` was given: a file without that column is an error, not undated."""


@dataclass(frozen=True)
class BatchInput:
    """A whole input: where it came from, a digest of its bytes, and its rows."""

    label: str
    format: InputFormat
    digest: str
    rows: list[InputRow]


def read_input(
    path: str,
    instrument: Instrument,
    columns: ColumnMap,
    documents: DocumentReader | None = None,
) -> BatchInput:
    """Read ``path`` (or ``-`` for stdin) into rows, checking its columns."""
    label = "<stdin>" if path == STDIN else input_label(path)
    raw = _read_bytes(path, label)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{label}:{line}: not UTF-8 (byte {exc.start}); save the file as UTF-8 and retry"
        ) from None
    fmt = _detect_format(path, text)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    if fmt == "csv":
        rows = _read_csv(label, text, instrument, columns)
    else:
        rows = _read_jsonl(label, text, instrument, columns, documents)
    if not rows:
        raise InputError(f"{label}: no respondent rows found")
    return BatchInput(label=label, format=fmt, digest=digest, rows=rows)


def input_label(path: str) -> str:
    """``path`` as messages and outputs name it: a file name that is not UTF-8 (Latin-1
    from an old share) gets U+FFFD for its odd bytes, where writing it whole into the
    summaries failed."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def required_items(instrument: Instrument) -> list[str]:
    """Items whose column must be present: every scored or required item.

    Unscored optional items (PHQ-9's difficulty question) may be left out.
    """
    return [i.id for i in instrument.items if i.scored or i.required]


def _read_bytes(path: str, label: str) -> bytes:
    if path != STDIN:
        return read_limited(Path(path), MAX_INPUT_BYTES, "input", InputError)
    try:
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{label}: cannot read input: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{label}: larger than the {MAX_INPUT_BYTES // 2**20} MB psyq reads")
    return data


def _detect_format(path: str, text: str) -> InputFormat:
    suffix = Path(path).suffix.lower() if path != STDIN else ""
    if suffix in {".jsonl", ".ndjson"}:
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _check_columns(
    label: str, names: list[str], instrument: Instrument, columns: ColumnMap, *, kind: str
) -> None:
    # An item's column named as the id or date column was read as both: the answers
    # became client ids (several respondents under one), or every row's date was refused.
    items = {i.id for i in instrument.items} | set(columns.rename)
    for option, name in (
        ("--id-column", columns.id_column),
        ("--date-column", columns.date_column),
    ):
        if name in items:
            raise InputError(
                f"{option} '{name}' names an item {kind} of {instrument.short_name}; name the "
                f"{kind} that holds the {'client id' if option == '--id-column' else 'date'}"
            )
    if columns.id_column == columns.date_column:
        raise InputError(
            f"--id-column and --date-column both name '{columns.id_column}'; a {kind} holds "
            "the client id or the date, not both"
        )
    if columns.id_column not in names:
        seps = {";": "semicolons", "\t": "tabs", "|": "bars"}
        sep = next((s for s in seps if len(names) == 1 and s in names[0]), None)
        if sep is not None:  # a spreadsheet saved as CSV in a locale that uses ';'
            raise InputError(
                f"{label}:1: the header is one column separated by {seps[sep]}; psyq reads "
                "comma-separated files: save it as CSV with commas"
            )
        raise InputError(
            f"{label}: no '{columns.id_column}' {kind}; every row needs a client id "
            f"(use --id-column to name the {kind} that holds it)"
        )
    if columns.date_given and columns.date_column not in names:
        # With --ignore-extra-columns a misspelt --date-column dropped the file's dates:
        # every row scored undated, unsaid.
        raise InputError(f"{label}: no '{columns.date_column}' {kind}, which --date-column names")
    missing = [i for i in required_items(instrument) if i not in names]
    if missing:
        raise InputError(
            f"{label}: missing item {kind}s for {instrument.short_name}: {', '.join(missing)}"
        )
    known = {columns.id_column, columns.date_column} | {i.id for i in instrument.items}
    known |= {(columns.status or PLAIN_STATUS).column}
    known |= instrument.client_attributes  # a `sex` column where cut-offs depend on it
    extra = [n for n in names if n not in known]
    if extra and not columns.ignore_extra:
        shown = ", ".join(repr(n if len(n) <= 40 else n[:37] + "...") for n in extra[:10])
        more = f" (and {len(extra) - 10} more)" if len(extra) > 10 else ""
        raise InputError(
            f"{label}: {kind}s {shown}{more} are not items of "
            f"{instrument.short_name}; remove them or pass --ignore-extra-columns"
        )


@contextmanager
def wide_csv_cells() -> Iterator[None]:
    """Let csv read cells as large as an input may be, while the block runs.

    csv refuses a cell over 128 KB by stopping the whole file (it cannot
    resynchronise); within the input size cap, an oversized cell is one bad row instead.
    """
    limit = csv.field_size_limit(min(MAX_INPUT_BYTES, 2**31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(limit)


def _read_csv(label: str, text: str, instrument: Instrument, columns: ColumnMap) -> list[InputRow]:
    with wide_csv_cells():
        return _csv_rows(label, text, instrument, columns)


@dataclass(frozen=True)
class CsvLayout:
    """Where a CSV's client id, date and item answers are: its header, understood.

    Plain data, so a worker can read rows of the file itself
    (:mod:`psyq.batch.ranges`) exactly as the parent would.
    """

    label: str
    width: int
    id_at: int
    date_at: int | None
    item_at: tuple[int | None, ...]
    codes: tuple[Mapping[str, str] | None, ...]
    """Per item, answer label -> code (REDCap labels); empty when no item has any."""
    sex_at: int | None = None
    """The ``sex`` column, where the instrument's cut-offs depend on it (AUDIT-C)."""
    status_at: int | None = None
    """The form status column (:class:`FormStatus`), where the file has it."""
    status: FormStatus | None = None
    """Each critical item and its place in a row's values, for an unfinished form's line."""
    context_at: tuple[tuple[str, int], ...] = ()
    """The status's context columns (:attr:`FormStatus.context`) the file has."""
    owner_at: int | None = None
    """The column of :attr:`FormStatus.owner`, where the file has it."""


def csv_layout(
    label: str, header: list[str], instrument: Instrument, columns: ColumnMap
) -> CsvLayout:
    """The layout of a CSV with this header row, or an :class:`InputError`."""
    if not "".join(header).strip():
        raise InputError(
            f"{label}:1: the first line is empty; expected a header row "
            f"({columns.id_column}, then the item ids)"
        )
    names = [columns.rename.get(h.strip(), h.strip()) for h in header]
    # A Counter, not names.count(): 100 000 columns took minutes to check.
    dupes = sorted(n for n, k in Counter(names).items() if k > 1)
    if dupes:
        # Name the columns as the file does: --redcap renames no_interest to phq9_1.
        given = [h.strip() for h, n in zip(header, names, strict=True) if n == dupes[0]]
        what = " and ".join(map(repr, sorted(set(given))))
        if set(given) != {dupes[0]}:
            what += f" (read as {dupes[0]!r})"
        raise InputError(f"{label}:1: column {what} appears twice")
    _check_columns(label, names, instrument, columns, kind="column")
    # Position of each item's column, in the instrument's item order (None: no column).
    where = {n: k for k, n in enumerate(names)}
    status = columns.status or (PLAIN_STATUS if PLAIN_STATUS.column in names else None)
    codes = tuple(columns.answer_codes.get(item.id) for item in instrument.items)
    return CsvLayout(
        label=label,
        width=len(names),
        id_at=names.index(columns.id_column),
        date_at=names.index(columns.date_column) if columns.date_column in names else None,
        item_at=tuple(where.get(item.id) for item in instrument.items),
        codes=codes if any(codes) else (),
        sex_at=names.index("sex") if "sex" in instrument.client_attributes & set(names) else None,
        status_at=names.index(status.column) if status and status.column in names else None,
        status=status,
        context_at=tuple((c, where[c]) for c in (status.context if status else ()) if c in where),
        owner_at=where.get(status.owner[0]) if status and status.owner else None,
    )


def _csv_rows(label: str, text: str, instrument: Instrument, columns: ColumnMap) -> list[InputRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{label}: the file is empty; expected a header row") from None
    except csv.Error as exc:
        raise InputError(f"{label}:1: cannot read the header row: {exc}") from None
    layout = csv_layout(label, header, instrument, columns)
    return csv_body(layout, reader, 0)


def csv_body(layout: CsvLayout, reader: Reader, before: int) -> list[InputRow]:
    """The rows ``reader`` (a :func:`csv.reader`) has left, numbered by the line each
    starts on; ``before`` is the number of the line before the reader's first."""
    label, item_at = layout.label, layout.item_at
    id_at, date_at, codes = layout.id_at, layout.date_at, layout.codes
    sex_at = layout.sex_at
    # The common row (every item column present, as wide as the header) is picked
    # in C; a short or odd row takes the careful way below.
    complete = len(item_at) > 1 and all(k is not None for k in item_at)
    pick = operator.itemgetter(*item_at) if complete else None
    rows: list[InputRow] = []
    start = before + reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # csv cannot resynchronise after a broken quote; nothing after it is trustworthy.
            raise InputError(f"{label}:{start}: cannot read the CSV: {exc}") from None
        row, start = start, before + reader.line_num + 1
        if not "".join(cells).strip():
            continue
        client, problem = _client_id(cells[id_at] if id_at < len(cells) else "")
        if problem is None and len(cells) != layout.width:
            problem = f"has {len(cells)} cells but the header has {layout.width}"
        width = len(cells)
        if pick is not None and width == layout.width:
            values = pick(cells)
        else:
            values = tuple(cells[k] if k is not None and k < width else None for k in item_at)
        if codes:
            values = tuple(
                table.get(v.strip(), v) if table and isinstance(v, str) else v
                for v, table in zip(values, codes, strict=True)
            )
        date = cells[date_at].strip() if date_at is not None and date_at < width else ""
        sex = cells[sex_at].strip() if sex_at is not None and sex_at < width else ""
        notice = ""
        if layout.status_at is not None and problem is None:
            problem = unfinished_form(layout, cells, values)
            if layout.status is not None and layout.status_at < len(cells):
                notice = layout.status.notices.get(cells[layout.status_at].strip().casefold(), "")
        rows.append(InputRow(row, client, date, values, problem, sex=sex, notice=notice))
    return rows


def unfinished_form(layout: CsvLayout, cells: Sequence[str], values: Sequence[Any]) -> str | None:
    """Why a row whose form status column says it is not finished is not scored, led
    by its critical items and what was answered (``None``: a finished form)."""
    status, at = layout.status, layout.status_at
    if status is None or at is None:
        return None
    cell = cells[at].strip() if at < len(cells) else ""
    key = cell.casefold()
    if key in status.finished:
        return None
    # A cell as given counts as an answer: a missing-data code (777 "Decline") is one,
    # though it scores as missing; only a row with every item's cell empty has none.
    answered = any(k is not None and k < len(cells) and cells[k].strip() for k in layout.item_at)
    if not answered and key in status.absent and not _owned(layout, cells):
        return NOT_THIS_FORM
    not_started = None if answered else status.not_started.get(key)
    problem = not_started or status.reasons.get(key) or status.other.format(value=_short(cell))
    given = [(c, cells[k].strip()) for c, k in layout.context_at if k < len(cells)]
    which = [f"{c} {_short(v)}" for c, v in given if v]
    if which:
        problem += f" ({', '.join(which)})"
    if not_started:  # no answer to be critical about: no CRITICAL lead
        return problem
    # Led by its critical items that are positive or unanswered, as every unfinished
    # form's line is: a risk in a form nobody finished is in the batch's output.
    return UNFINISHED + problem


def _owned(layout: CsvLayout, cells: Sequence[str]) -> bool:
    """Whether the row's :attr:`FormStatus.owner` column names this form."""
    owner, at = layout.status.owner if layout.status else None, layout.owner_at
    if owner is None or at is None or at >= len(cells):
        return False
    return cells[at].strip() == owner[1]


def _short(text: str) -> str:
    """A cell as a line quotes it: cut short, escaped when it holds what does not print."""
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 40 else text[:37] + "..."


def _too_long(line: str) -> str:
    return (
        f"refused: a line of {len(line) // 2**20} MB; a JSONL row may be at most "
        f"{MAX_JSONL_LINE_CHARS // 2**20} MB"
    )


def jsonl_lines(text: str) -> Iterator[tuple[int, str]]:
    """Each line of JSON Lines text, numbered from 1.

    Lines end at ``\n`` only (``\r\n`` leaves a ``\r``, which JSON reads as space):
    ``str.splitlines`` also split at U+2028, U+0085 and other characters a JSON string
    may hold as they are, so a row whose text held one became two rows of broken JSON,
    its answers (a positive critical item among them) never read. A byte order mark
    at the start of a line (files joined with ``cat``) is not part of it.
    """
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.removeprefix("\ufeff")


def _read_jsonl(
    label: str,
    text: str,
    instrument: Instrument,
    columns: ColumnMap,
    documents: DocumentReader | None = None,
) -> list[InputRow]:
    rows: list[InputRow] = []
    seen: set[str] = set()
    item_ids = [i.id for i in instrument.items]
    none = (None,) * len(item_ids)
    for number, line in jsonl_lines(text):
        if not line.strip():
            continue
        if len(line) > MAX_JSONL_LINE_CHARS:
            rows.append(InputRow(number, "", "", none, _too_long(line)))
            continue
        try:
            obj = strict_loads(line)
        except json.JSONDecodeError as exc:
            rows.append(InputRow(number, "", "", none, f"not valid JSON: {exc.msg}"))
            continue
        except StrictJSONError as exc:  # duplicate key, huge number: this row
            rows.append(InputRow(number, "", "", none, f"refused: {exc}"))
            continue
        except RecursionError:  # hostile nesting: a bad row, not a crashed batch
            rows.append(InputRow(number, "", "", none, "refused: JSON nested too deeply"))
            continue
        if not isinstance(obj, dict):
            from psyq.registry import kind_of

            kind = kind_of(obj)
            rows.append(InputRow(number, "", "", none, f"expected a JSON object, got {kind}"))
            continue
        if documents is not None and "resourceType" in obj:
            rows.append(_document_row(number, obj, documents, item_ids))
            continue
        unfinished = None
        if "@status" in obj:  # as an answers file's: a form it says was not finished
            obj = dict(obj)
            unfinished = _plain_status(obj.pop("@status"))
        seen.update(obj)
        raw_client = obj.get(columns.id_column)
        client, problem = _client_id(_text(raw_client))
        if problem is None and isinstance(raw_client, bool | list | dict):
            # JSON text of a list or object (or "true") is no one's id: say what it is.
            kind = {bool: "true/false", list: "a list"}.get(type(raw_client), "an object")
            problem = f"the client id is {kind}, not a text such as C0042"
        problem = problem or unfinished
        date = obj.get(columns.date_column)
        rows.append(
            InputRow(
                number,
                client,
                _text(date),
                # Kept for a refused row too: errors.csv names a critical item's answer
                # (as the CSV reader's rows do; a JSONL row with a bad id hid it).
                tuple(obj.get(i) for i in item_ids),
                problem,
                sex=_text(obj.get("sex")) if "sex" in instrument.client_attributes else "",
            )
        )
    if seen:
        # An item key absent from every object is a missing column, not missing answers.
        _check_columns(label, sorted(seen), instrument, columns, kind="key")
    return rows


def _plain_status(status: Any) -> str | None:
    """Why a JSON row whose ``"@status"`` says the form was not finished (or says what
    psyq does not know) is not scored, led by its critical items; ``None``: finished.
    Without this, ``--ignore-extra-columns`` dropped the key and scored the row."""
    from psyq.answers import document_status

    try:
        if document_status(status) == "complete":
            return None
    except PsyqError as exc:
        return str(exc)
    return UNFINISHED + _UNFINISHED


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value)[: MAX_CLIENT_ID_CHARS + 1]  # a list or object: shown short


def _client_id(text: str) -> tuple[str, str | None]:
    """The row's client id, cut short with a problem when it is too long, shown
    escaped with a problem when it holds a character that does not print.

    Checked before any other work on the row, so a hostile 10 MB id costs no
    more than a normal one.
    """
    text = text.strip()
    if not text:
        return text, None  # the worker says so, after naming the row's critical answers
    # One rule with `psyq report --client` (psyq.clients): an id one takes, the other does.
    problem = given_client_id_problem(text)
    if problem is None:
        return text, None
    if not text.isprintable():  # shown escaped: as typed, it would read as another id
        return text[: MAX_CLIENT_ID_CHARS + 1].encode("unicode_escape").decode("ascii"), problem
    return text[:MAX_CLIENT_ID_CHARS] + "...", problem


_UNFINISHED_DOCUMENT = (
    "the QuestionnaireResponse is in-progress or stopped (an unfinished form): not scored "
    "in a batch; `psyq record` stores it as a partial administration"
)


def _document_row(
    number: int,
    obj: dict[str, Any],
    documents: DocumentReader,
    item_ids: list[str],
) -> InputRow:
    """One resource line (a FHIR QuestionnaireResponse, ...) as a row."""
    try:
        answers = dict(documents(obj))
    except PsyqError as exc:
        # A reader may say whose document it refused (a FHIR response's subject).
        refused, _ = _client_id(str(getattr(exc, "client_id", "") or ""))
        # The answers it could read (a FHIR response refused for one answer): the worker
        # leads the error with the critical items among them, as for a CSV row.
        read = getattr(exc, "answers", None)
        values = tuple(read.get(i) for i in item_ids) if isinstance(read, dict) else None
        return InputRow(number, refused, "", values or (None,) * len(item_ids), str(exc))
    client, problem = _client_id(str(answers.pop("@client_id", None) or ""))
    date = str(answers.pop("@date", None) or "").strip()
    authored = str(answers.pop("@authored", None) or "").strip()
    # A FHIR Patient's gender, for cut-offs by sex (given only where they depend on it).
    sex = str(answers.pop("@sex", None) or "").strip()
    answers.pop("@sex_source", None)
    # A form the document says was not finished (FHIR in-progress, stopped): a batch
    # row has no partial status to carry, and scored it would read as a finished form.
    if answers.pop("@status", None) == "partial" and problem is None:
        # Its critical items that are positive or unanswered are named before this, as
        # on every row not scored, so a risk in an unfinished form is in errors.csv too.
        problem = UNFINISHED + _UNFINISHED_DOCUMENT
    if problem is None:
        problem = _authored_problem(authored or date)
    unknown = sorted(set(answers) - set(item_ids))
    if unknown and problem is None:
        problem = f"answers for unknown items: {', '.join(unknown)}"
    values = tuple(answers.get(i) for i in item_ids)
    return InputRow(number, client, date, values, problem, authored, sex)


def _authored_problem(text: str) -> str | None:
    """Why a document's ``authored`` cannot be when it was answered (in the future,
    before 1900: :mod:`psyq.dates`), named as the document's field; a value that is
    not a date at all is left to the worker, which says so for every row alike."""
    from psyq.batch.worker import parse_date
    from psyq.dates import DateOutOfRange

    try:
        parse_date(text, "", "authored")
    except DateOutOfRange as exc:
        return str(exc)
    except PsyqError:
        pass
    return None
