"""The data ``psyq analyze`` and ``psyq norms build`` read: answers in, item matrices out.

Answers come from the same CSV / JSONL / FHIR NDJSON files ``psyq batch``
reads (:func:`psyq.batch.inputs.read_input`), or from the client store's
complete administrations. Each row is validated with
:func:`psyq.answers.coerce_answers` and turned into item values by psyq's own
scoring stages (``psyq_score_recode`` and ``psyq_score_reverse``), so
recoding, reverse keys and "counts as missing" options apply exactly as in
scoring. Rows are kept whole or refused with the row and item named: an
analysis never silently drops a respondent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from psyq.errors import PsyqError
from psyq.models import Instrument
from psyq.scoring import ScaleState, ScoringState

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from psyq.app import App


class AnalysisError(PsyqError):
    """The data cannot be analysed (exit 2), said in one line."""


@dataclass(frozen=True)
class ItemData:
    """Respondents x scored items: answers as given and values as scored (NaN = missing)."""

    instrument: Instrument
    source: str
    item_ids: list[str]
    respondents: list[str]
    answers: NDArray[np.float64]
    values: NDArray[np.float64]
    extra: list[dict[str, str]]  # per respondent: extra columns (group variables), if any
    notices: list[str] = field(default_factory=list)
    """What every output of the analysis says about the data (records changed outside psyq)."""

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    def columns(self, item_ids: list[str]) -> NDArray[np.float64]:
        index = [self.item_ids.index(i) for i in item_ids]
        out: NDArray[np.float64] = self.values[:, index]
        return out


def scored_item_ids(instrument: Instrument) -> list[str]:
    return [item.id for item in instrument.items if item.scored]


def item_values(app: App, instrument: Instrument, answers: dict[str, int | None]) -> dict[str, Any]:
    """Item values of one validated answer set, from psyq's recode and reverse stages."""
    state = ScoringState(
        instrument=instrument,
        answers=answers,
        methods=app.scorer.methods,
        scales={s.id: ScaleState(scale=s) for s in instrument.scales},
    )
    app.pm.hook.psyq_score_recode(state=state)
    app.pm.hook.psyq_score_reverse(state=state)
    return state.values


def build(
    app: App,
    instrument: Instrument,
    source: str,
    rows: list[tuple[str, str, dict[str, Any], dict[str, str]]],
) -> ItemData:
    """Validate rows of ``(where, respondent, raw answers, extra columns)`` into an ItemData."""
    import numpy as np

    from psyq.answers import coerce_answers

    ids = scored_item_ids(instrument)
    nan = float("nan")
    given_rows: list[list[float]] = []
    value_rows: list[list[float]] = []
    problems: list[tuple[int, str]] = []
    for r, (where, _, raw, _) in enumerate(rows):
        try:
            valid = coerce_answers(instrument, raw, where=f"{where}: ")
        except PsyqError as exc:
            problems.append((r, str(exc)))
            continue
        scored = item_values(app, instrument, valid)
        given_rows.append([nan if (v := valid.get(i)) is None else float(v) for i in ids])
        value_rows.append([nan if (v := scored.get(i)) is None else float(v) for i in ids])
    if problems:
        raise AnalysisError(_problem_line(instrument, source, rows, problems))
    shape = (len(rows), len(ids))
    answers = np.array(given_rows, dtype=np.float64).reshape(shape)
    values = np.array(value_rows, dtype=np.float64).reshape(shape)
    respondents = [row[1] for row in rows]
    extra = [row[3] for row in rows]
    return ItemData(instrument, source, ids, respondents, answers, values, extra)


def _problem_line(
    instrument: Instrument,
    source: str,
    rows: list[tuple[str, str, dict[str, Any], dict[str, str]]],
    problems: list[tuple[int, str]],
) -> str:
    """One line for the refused rows; a column with no usable cell at all is named as such."""
    from psyq.answers import coerce_value

    bad: dict[str, int] = {}
    filled: dict[str, int] = {}
    for _, _, raw, _ in rows:
        for item_id, cell in raw.items():
            if not instrument.has_item(item_id) or str(cell).strip() == "":
                continue
            filled[item_id] = filled.get(item_id, 0) + 1
            try:
                coerce_value(instrument, instrument.item(item_id), cell)
            except PsyqError:
                bad[item_id] = bad.get(item_id, 0) + 1
    whole = [i for i, count in bad.items() if count == filled.get(i)]
    first = problems[0][1]
    if whole:
        names = ", ".join(repr(i) for i in whole)
        return (
            f"{source}: column {names} holds no allowed answers (not numeric, or not "
            f"this instrument's response values); first problem: {first}"
        )
    more = len(problems) - 1
    tail = f" (and {more} more row{'s' if more != 1 else ''} with bad answers)" if more else ""
    return f"{first}{tail}; fix the data and run again: no respondent is dropped silently"


def read_file(
    app: App,
    instrument: Instrument,
    path: str,
    *,
    id_column: str,
    date_column: str = "date",
    ignore_extra: bool = False,
    keep_columns: tuple[str, ...] = (),
) -> ItemData:
    """Read a CSV / JSONL / FHIR NDJSON file as ``psyq batch`` does.

    ``keep_columns`` (group variables such as sex or age, for norms) are kept
    per respondent; any other non-item column is an error unless
    ``ignore_extra``.
    """
    from psyq.batch.inputs import ColumnMap, read_input
    from psyq.batch.run import _documents

    columns = ColumnMap(id_column, date_column, ignore_extra or bool(keep_columns))
    if keep_columns:
        _check_group_columns(path, instrument, columns, keep_columns, ignore_extra)
    data = read_input(path, instrument, columns, _documents(app.pm, instrument))
    item_ids = [item.id for item in instrument.items]
    kept: list[dict[str, str]] = [{} for _ in data.rows]
    if keep_columns:
        by_line = _records_by_line(_text(path), data.format)
        for k, row in enumerate(data.rows):
            record = by_line.get(row.row, {})
            kept[k] = {c: str(record.get(c) or "").strip() for c in keep_columns}
    rows: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
    for row, more in zip(data.rows, kept, strict=True):
        where = f"{data.label}:{row.row}"
        if row.problem:
            raise AnalysisError(f"{where}: {row.problem}")
        raw = {i: v for i, v in zip(item_ids, row.values, strict=True) if v is not None}
        rows.append((where, row.client_id, raw, more))
    return build(app, instrument, data.label, rows)


def _records_by_line(text: str, fmt: str) -> dict[int, dict[str, Any]]:
    """Each CSV record / JSON line by the line it starts on (as batch numbers rows)."""
    import csv
    import io
    import json

    from psyq.batch.inputs import MAX_JSONL_LINE_CHARS, jsonl_lines, wide_csv_cells

    out: dict[int, dict[str, Any]] = {}
    if fmt == "csv":
        # As the batch reader reads it: a cell over csv's 128 KB was an internal error here.
        with wide_csv_cells():
            reader = csv.reader(io.StringIO(text, newline=""))
            header = [h.strip() for h in next(reader, [])]
            start = reader.line_num + 1
            for cells in reader:
                out[start] = dict(zip(header, cells, strict=False))
                start = reader.line_num + 1
        return out
    for number, line in jsonl_lines(text):  # numbered as the batch reader numbers them
        if len(line) > MAX_JSONL_LINE_CHARS:
            continue  # the reader refused it unparsed, as one bad row
        try:
            obj = json.loads(line) if line.strip() else None
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(obj, dict):
            out[number] = obj
    return out


def _text(path: str) -> str:
    from pathlib import Path

    from psyq.batch.inputs import MAX_INPUT_BYTES, InputError
    from psyq.files import read_limited

    # As the batch reader reads it: a FIFO or /dev/zero given with --group-by was read
    # here first, blocking forever or without end.
    return read_limited(Path(path), MAX_INPUT_BYTES, "a data file", InputError).decode("utf-8-sig")


def _check_group_columns(
    path: str, instrument: Instrument, columns: Any, keep: tuple[str, ...], ignore_extra: bool
) -> None:
    """Group columns must be there; other non-item columns are refused unless ignored."""
    import csv
    import io

    from psyq.batch.inputs import InputError

    try:
        first = _text(path).splitlines()[0] if path != "-" else ""
    except (OSError, IndexError, UnicodeDecodeError):
        return  # read_input reports an unreadable file in its own words
    if first.lstrip().startswith("{"):
        return  # JSONL: group keys may be absent from some lines; they go unplaced
    header = [h.strip() for h in next(csv.reader(io.StringIO(first)))]
    missing = [c for c in keep if c not in header]
    if missing:
        raise InputError(
            f"{path}: no column {', '.join(map(repr, missing))} for --group-by; "
            f"the columns are: {', '.join(header)}"
        )
    known = {columns.id_column, columns.date_column, *keep} | {i.id for i in instrument.items}
    extra = [h for h in header if h not in known]
    if extra and not ignore_extra:
        raise InputError(
            f"{path}: columns {', '.join(map(repr, extra))} are neither items nor "
            "--group-by columns; remove them or pass --ignore-extra-columns"
        )


def read_store(app: App, instrument: Instrument) -> ItemData:
    """The store's complete administrations of ``instrument`` (any client)."""
    with app.open_store() as store:
        admins = store.administrations(instrument_id=instrument.id, status="complete")
        # Answers changed (or forms deleted) outside psyq are analysed as stored, and said.
        changed = store.changed_outside(a.id for a in admins)
        deleted = store.deleted_outside()
    if not admins:
        raise AnalysisError(
            f"{app.store_path}: no complete administrations of {instrument.id} are stored"
        )
    rows: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        (f"administration {a.id}", a.client_id, dict(a.answers), {})
        for a in admins
        if a.instrument_version == instrument.version
    ]
    if not rows:
        versions = sorted({a.instrument_version for a in admins})
        raise AnalysisError(
            f"{app.store_path}: the stored {instrument.id} administrations are of version "
            f"{', '.join(versions)}, not {instrument.version}; analyse them with that version"
        )
    data = build(app, instrument, f"store {app.store_path}", rows)
    notices = []
    used = {int(row[0].rpartition(" ")[2]) for row in rows}
    hit = sorted(n for n in changed if n in used)
    if hit:
        notices.append(
            f"CHANGED OUTSIDE PSYQ: {len(hit)} administration(s) used here "
            f"(administration {', '.join(map(str, hit))}) were changed outside psyq after "
            "they were saved: what is computed from them may not be what psyq recorded; "
            "`psyq audit verify` gives the details"
        )
    if deleted:
        notices.append(
            f"DELETED OUTSIDE PSYQ: {len(deleted)} administration(s) (administration "
            f"{', '.join(map(str, sorted(deleted)))}) were deleted outside psyq after they "
            "were saved: what is computed here may be missing them; `psyq audit verify` "
            "gives the details"
        )
    return replace(data, notices=notices) if notices else data


@dataclass(frozen=True)
class DataInput:
    """INSTRUMENT_ID, [DATA] and the options that say how to read DATA."""

    instrument_id: str
    data_path: str | None
    from_store: bool
    id_column: str
    date_column: str
    ignore_extra_columns: bool

    def load(self, app: App, keep_columns: tuple[str, ...] = ()) -> ItemData:
        """The answers, from DATA or the store's complete administrations."""
        instrument = app.instrument(self.instrument_id)
        if self.from_store == (self.data_path is not None):
            raise PsyqError("give a DATA file or --from-store (one of them)")
        if self.data_path is None:
            return read_store(app, instrument)
        return read_file(
            app,
            instrument,
            self.data_path,
            id_column=self.id_column,
            date_column=self.date_column,
            ignore_extra=self.ignore_extra_columns,
            keep_columns=keep_columns,
        )
