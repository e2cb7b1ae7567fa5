"""REDCap record exports through ``psyq batch --redcap DICT.csv``.

The dictionary says which export columns are the instrument's items: a field
named as the item, or the fields of the one form whose radio/dropdown fields,
in order, have exactly the item's answer codes (the Bridge2AI-Voice PHQ-9's
``no_interest``, ``feeling_depressed``, ...). A label export ("Not at all")
is read through the same choices, and a choice that is a missing-data code
(777, 999, "Decline", "Don't know") is a missing answer unless the instrument
itself has that answer.

After the batch, ``scores.csv`` gains the export's ``redcap_event_name``,
``redcap_repeat_instrument``, ``redcap_repeat_instance`` and the form's
completion status (``<form>_complete``: 2 complete, 1 unverified; an incomplete
form is not scored at all, see :func:`form_status`); ``--to redcap`` also writes
``redcap-import.csv`` (scores, bands and flags keyed by ``record_id`` and event,
importable once the fields in ``redcap-import-dictionary.csv`` are added to the
project).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from psyq.answers import looks_missing
from psyq.batch.inputs import FormStatus
from psyq.errors import PsyqError
from psyq.files import write_atomic
from psyq.models import Instrument
from psyq.plugins.redcap.dictionary import (
    Field,
    parse_choices,
    plain,
    read_dictionary,
    write_dictionary,
)

REDCAP_OUTPUTS = ("redcap-import.csv", "redcap-import-dictionary.csv")
"""What ``--to redcap`` writes beside the batch's own files."""
EVENT_COLUMNS = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance")
COMPLETE = {"2": "complete", "1": "unverified", "0": "incomplete"}
"""REDCap's form status (``<form>_complete``), raw code -> label. REDCap's own values:
0 Incomplete, 1 Unverified, 2 Complete (REDCapR ``constant()``, "Form Completeness":
https://search.r-project.org/CRAN/refmans/REDCapR/html/constant.html). What they mean
is the project's data-entry process; REDCap help pages describe them as Incomplete "data
entry has started but not finished", Unverified "all data has been entered but internal
review (if any) has not yet occurred", Complete "data entry for the form is finished"
(University of Alberta REDCap help, "Instrument Status":
https://help.redcap.ualberta.ca/help-and-faq/instrument-status)."""


UNVERIFIED = (
    "REDCap form status Unverified: every answer was entered but not yet checked; the "
    "scores change if an answer is corrected."
)
"""The notice every report of an Unverified form shows."""


def form_status(form: str) -> FormStatus:
    """How ``psyq batch --redcap`` reads the export's ``<form>_complete`` column.

    - Complete (2) and Unverified (1) are finished forms, scored. Unverified is every
      answer entered but not yet checked by a second person: the answers are the
      form's whole answers (a clinician acts on them as on any form), but they may
      still be corrected, so each report carries a notice saying so, scores.csv keeps
      ``redcap_complete`` "unverified" beside them and the batch says how many rows
      are (a reader sees it, never a quiet "complete").
    - Incomplete (0) is an unfinished form: not scored (a batch row has no partial
      status to carry, as a FHIR QuestionnaireResponse in-progress has not), its
      errors.csv line led by its critical items and their answers.
    - REDCap also exports 0 for a form nobody opened, every field empty (REDCapR
      issue #420, redcap-etl issue #26; REDCapR's ``blank-for-gray-status`` test
      project, record 6). With no answer at all there is nothing to be critical
      about: its errors.csv line says the form was not started, so a data manager
      sees the missed administration, without a CRITICAL lead that would bury the
      real ones. A cell as given is an answer here: a missing-data code (777
      "Decline" on item 9) is a respondent's answer to the question, so that row is
      an unfinished form, its critical items named.
    - An empty cell in a row with no answer at all is a row that is not this form's: a
      row of another repeating instrument (``redcap_repeat_instrument`` names it), of
      an event the form is not designated for, or a form never opened exported with
      the API's ``exportBlankForGrayFormStatus``. A flat export holds many: REDCapR's
      ``longitudinal-with-repeating-instrument`` test project has, in every event,
      seven such rows for its ``visit`` form (four laboratory and three medication
      instances). It is skipped: no score, no errors.csv line, counted on the
      terminal and in summary.json.
    - An empty cell in a row with an answer, or in the form's own repeat row, says
      nothing of the form being finished: not scored, named as an unfinished form is.
    - A label export's "Complete", "Unverified", "Incomplete" read as their codes;
      any other value is not a status REDCap writes: not scored either.
    - An export with no ``<form>_complete`` column at all (a file made by another
      tool, as reproschema-py's ``redcap_output_redcap.csv``) says nothing of any
      row: every row is scored as a plain CSV's is, and the batch says so.
    """
    column = f"{form}_complete"
    incomplete = (
        f"the REDCap form {form} is Incomplete ({column} 0): an unfinished form, not scored"
    )
    not_started = f"the REDCap form {form} was not started (Incomplete, no answers): not scored"
    return FormStatus(
        column=column,
        finished=frozenset({"2", "complete", "1", "unverified"}),
        reasons={
            "0": incomplete,
            "incomplete": incomplete,
            "": f"the REDCap form {form} has no status ({column} is empty): not known to "
            "be finished, not scored",
        },
        other=f"the REDCap form status '{{value}}' ({column}) is not one REDCap writes "
        "(0 Incomplete, 1 Unverified, 2 Complete): not known to be finished, not scored",
        context=EVENT_COLUMNS,  # which of the record's forms: its event, its instance
        notices=dict.fromkeys(("1", "unverified"), UNVERIFIED),
        not_started=dict.fromkeys(("0", "incomplete"), not_started),
        absent=frozenset({""}),
        owner=("redcap_repeat_instrument", form),
    )


def rows_said(errors_csv: Path, instrument: Instrument, form: str, skipped: int) -> list[str]:
    """The terminal lines on the export's rows that hold no answer to the form: those
    skipped as other forms' or events' rows, and forms not started (see
    :func:`form_status`), counted from errors.csv by the reason psyq wrote first."""
    said = []
    if skipped:
        rows = "1 export row holds" if skipped == 1 else f"{skipped} export rows hold"
        said.append(
            f"psyq: {rows} no {instrument.short_name} answers (other forms or events): "
            "skipped (not in scores.csv or errors.csv)"
        )
    reason = form_status(form).not_started["0"]
    try:
        with errors_csv.open(encoding="utf-8", newline="") as fh:
            count = sum(
                e.get("reason", "").startswith(f"row {e.get('row')}: {reason}")
                for e in csv.DictReader(fh)
            )
    except (OSError, csv.Error, UnicodeError):
        count = 0
    if count:
        said.append(
            f"psyq: {count} REDCap form(s) {form} were not started (Incomplete, no answers): "
            f"not scored; each is listed in {errors_csv}"
        )
    return said


@dataclass
class RedcapMapping:
    """Export column -> item id, per item label/missing code -> answer, and the form."""

    form: str
    rename: dict[str, str] = field(default_factory=dict)
    answer_codes: dict[str, dict[str, str]] = field(default_factory=dict)


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _fits(instrument: Instrument, item_id: str, f: Field) -> bool:
    """Same answer codes and, for a scored item, the same wording (forms share codes)."""
    from difflib import SequenceMatcher

    item = instrument.item(item_id)
    if item.scored:
        ours, theirs = _normalise(item.text), _normalise(plain(f.label))
        if SequenceMatcher(None, ours, theirs).ratio() < 0.8:
            return False
    options = instrument.response_scale_for(item).options
    choices = [(c, _normalise(label)) for c, label in parse_choices(f.choices)]
    scored = [c for c in choices if not _is_missing(c[0], c[1])]
    return [c for c, _ in scored] == [
        str(o.value) for o in options if not getattr(o, "missing", False)
    ]


def _is_missing(code: str, label: str) -> bool:
    return looks_missing(int(code) if re.fullmatch(r"-?[0-9]{1,6}", code) else None, label)


def map_export(instrument: Instrument, dictionary: Path) -> RedcapMapping:
    """How a record export of ``dictionary``'s project holds ``instrument``'s answers.

    Fields named as the items, else the first form whose choice fields, in
    order, have each item's answer codes and (scored items) its wording.
    """
    fields = read_dictionary(dictionary)
    choice_fields = [f for f in fields if f.type in ("radio", "dropdown", "yesno", "truefalse")]
    by_name = {f.name: f for f in choice_fields}
    items = [i.id for i in instrument.items]
    pairs: list[tuple[Field, str]] = []
    if all(i in by_name for i in items if instrument.item(i).scored):
        pairs = [(by_name[i], i) for i in items if i in by_name]
    else:
        for form in dict.fromkeys(f.form for f in choice_fields):
            in_form = [f for f in choice_fields if f.form == form]
            if len(in_form) >= len(items) and all(
                _fits(instrument, i, f) for f, i in zip(in_form, items, strict=False)
            ):
                pairs = list(zip(in_form, items, strict=False))
                break
    if not pairs:
        raise PsyqError(
            f"{dictionary}: no form's fields match the items of {instrument.short_name} "
            f"(by name, or in order with the same answer codes and wording)"
        )
    mapping = RedcapMapping(form=pairs[0][0].form)
    for f, item_id in pairs:
        mapping.rename[f.name] = item_id
        allowed = {str(v) for v in instrument.response_scale_for(instrument.item(item_id)).values}
        table: dict[str, str] = {}
        choices = (
            parse_choices(f.choices)
            if f.type in ("radio", "dropdown")
            else [("1", "Yes"), ("0", "No")]
        )
        for code, label in choices:
            answer = code if code in allowed else ("" if _is_missing(code, label) else code)
            table[plain(label)] = answer
            if answer != code:
                table[code] = answer
        mapping.answer_codes[item_id] = table
    return mapping


def _input_rows(path: Path) -> tuple[list[str], dict[int, list[str]]]:
    """The export's header and its rows by row number (as ``psyq batch`` numbers them)."""
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader)]
    rows: dict[int, list[str]] = {}
    start = reader.line_num + 1
    for cells in reader:
        rows[start] = cells
        start = reader.line_num + 1
    return header, rows


def _refuse_twice(
    export: Path,
    lines: list[tuple[list[str], list[str]]],
    kept: list[str],
    cell: Callable[[list[str], str], str],
) -> None:
    """Two scored rows of one record (and event, repeat instance) are refused before
    ``redcap-import.csv`` is written: REDCap would keep one row's scores and drop the
    other's without a word (an export never has such rows; an edited one may)."""
    seen: dict[tuple[str, ...], str] = {}
    for line, source in lines:
        key = (cell(source, "record_id") or line[1], *[cell(source, c) for c in kept])
        if key in seen:
            where = ", ".join(f"{c} '{v}'" for c, v in zip(kept, key[1:], strict=True))
            raise PsyqError(
                f"{export}: rows {seen[key]} and {line[0]} are both record '{key[0]}'"
                f"{f' ({where})' if where else ''}; REDCap would import one and drop the "
                "other's scores: redcap-import.csv not written (scores.csv is)"
            )
        seen[key] = line[0]


def finish_redcap_outputs(
    export: Path, out_dir: Path, instrument: Instrument, mapping: RedcapMapping, to_redcap: bool
) -> str:
    """Add the export's event columns to ``scores.csv``; write ``redcap-import.csv``.

    Returns what the terminal should say of the forms' status (``""``: nothing): how
    many scored rows are Unverified, or that the export has no status column."""
    header, rows = _input_rows(export)
    complete = f"{mapping.form}_complete"
    kept = [c for c in EVENT_COLUMNS if c in header]
    at = {c: header.index(c) for c in [*kept, complete, "record_id"] if c in header}

    def cell(row: list[str], column: str) -> str:
        k = at.get(column)
        return row[k].strip() if k is not None and k < len(row) else ""

    scores_path = out_dir / "scores.csv"
    with scores_path.open(encoding="utf-8", newline="") as fh:
        table = list(csv.reader(fh))
    extra = [*kept, *(["redcap_complete"] if complete in at else [])]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    head = table[0]
    writer.writerow([*head[:2], *extra, *head[2:]])
    lines = []
    for line in table[1:]:
        source = rows.get(int(line[0]), [])
        added = [cell(source, c) for c in kept]
        if complete in at:
            status = cell(source, complete)
            added.append(COMPLETE.get(status, status.casefold()))  # a label export's too
        writer.writerow([*line[:2], *added, *line[2:]])
        lines.append((line, source))
    write_atomic(scores_path, out.getvalue().encode("utf-8"), private=True)
    said = _status_said(out_dir, complete, complete in at, [source for _, source in lines], cell)
    if not to_redcap:
        return said
    prefix = f"{instrument.id}_psyq"
    fields = []
    # A scale whose rule prorates also says whether it did (scores.csv's ``_prorated``).
    # ``_band_beside_alert``: a band of low concern beside a critical flag is the score's
    # band only (scores.csv's column), so a REDCap report never shows it as reassurance.
    suffixes = {
        s.id: ["", "_band", "_band_beside_alert", *(["_prorated"] if s.missing.prorate else [])]
        for s in instrument.scales
    }
    for scale in instrument.scales:
        fields += [f"{prefix}_{scale.id}{suffix}" for suffix in suffixes[scale.id]]
    fields += [f"{prefix}_flags", f"{prefix}_flag_items"]
    _refuse_twice(export, lines, kept, cell)
    imported = io.StringIO()
    writer = csv.writer(imported, lineterminator="\r\n")
    writer.writerow(["record_id", *kept, *fields])
    for line, source in lines:
        by_name = dict(zip(head, line, strict=False))
        values = []
        for scale in instrument.scales:
            values += [by_name.get(f"{scale.id}{suffix}", "") for suffix in suffixes[scale.id]]
        values += [by_name.get("flags", ""), by_name.get("flag_items", "")]
        writer.writerow(
            [
                cell(source, "record_id") or by_name["client_id"],
                *[cell(source, c) for c in kept],
                *values,
            ]
        )
    write_atomic(out_dir / REDCAP_OUTPUTS[0], imported.getvalue().encode("utf-8"), private=True)
    definitions = []
    for scale in instrument.scales:
        definitions += [
            {
                "Variable / Field Name": f"{prefix}_{scale.id}",
                "Form Name": f"{instrument.id}_psyq_scores",
                "Field Type": "text",
                "Field Label": f"{instrument.short_name} {scale.label} (psyq)",
                "Text Validation Type OR Show Slider Number": "number",
            },
            {
                "Variable / Field Name": f"{prefix}_{scale.id}_band",
                "Form Name": f"{instrument.id}_psyq_scores",
                "Field Type": "text",
                "Field Label": f"{instrument.short_name} {scale.label}: band (psyq)",
            },
            {
                "Variable / Field Name": f"{prefix}_{scale.id}_band_beside_alert",
                "Form Name": f"{instrument.id}_psyq_scores",
                "Field Type": "yesno",
                "Field Label": f"{instrument.short_name} {scale.label}: band of low concern "
                "beside a critical flag, the score's band only (psyq)",
            },
        ]
        if scale.missing.prorate:
            definitions.append(
                {
                    "Variable / Field Name": f"{prefix}_{scale.id}_prorated",
                    "Form Name": f"{instrument.id}_psyq_scores",
                    "Field Type": "yesno",
                    "Field Label": f"{instrument.short_name} {scale.label}: prorated (psyq)",
                }
            )
    definitions.append(
        {
            "Variable / Field Name": f"{prefix}_flags",
            "Form Name": f"{instrument.id}_psyq_scores",
            "Field Type": "notes",
            "Field Label": f"{instrument.short_name} flags raised (psyq; ; separated)",
        }
    )
    definitions.append(
        {
            "Variable / Field Name": f"{prefix}_flag_items",
            "Form Name": f"{instrument.id}_psyq_scores",
            "Field Type": "notes",
            "Field Label": f"{instrument.short_name} items that raised each flag "
            "(psyq; flag:item item; ...)",
        }
    )
    write_atomic(out_dir / REDCAP_OUTPUTS[1], write_dictionary(definitions).encode("utf-8"))
    return said


def _status_said(
    out_dir: Path,
    complete: str,
    has_column: bool,
    scored: list[list[str]],
    cell: Callable[[list[str], str], str],
) -> str:
    """The terminal line on the status of the forms scored (see :func:`form_status`)."""
    if not has_column:
        return (
            f"psyq: the export has no {complete} column: nothing says whether each form "
            "was finished; every row was scored as a finished form"
        )
    unverified = sum(cell(s, complete).casefold() in ("1", "unverified") for s in scored)
    if not unverified:
        return ""
    return (
        f"psyq: {unverified} scored row(s) are REDCap forms marked Unverified (entered, "
        f"not yet checked): see redcap_complete in {out_dir / 'scores.csv'}"
    )
