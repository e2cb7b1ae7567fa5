"""``psyq norms build``: a versioned norm table (JSON data) from a sample's answers."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from psyq.app import App
from psyq.errors import PsyqError
from psyq.hookspecs import hookimpl
from psyq.plugins.analysis.inputs import data_input

if TYPE_CHECKING:
    from psyq.norms import NormGroup, ScaleNorm
    from psyq.plugins.analysis.data import DataInput, ItemData

MIN_GROUP = 2  # a mean and an SD need two people; small groups are flagged when used


def parse_bands(text: str | None) -> list[tuple[float, float, str]]:
    """``18-29,30-49,50-`` -> [(18, 29, "18-29"), (30, 49, "30-49"), (50, inf, "50-")]."""
    from psyq.norms import band_contains

    if not text:
        return []
    bands: list[tuple[float, float, str]] = []
    for part in (p.strip() for p in text.split(",")):
        if band_contains(part, "0") is None:
            raise PsyqError(f"--age-bands: '{part}' is not a band like 18-29 or 50-")
        lo_text, _, hi_text = part.partition("-")
        lo, hi = float(lo_text), float(hi_text) if hi_text.strip() else float("inf")
        if hi < lo:
            raise PsyqError(f"--age-bands: '{part}' ends before it starts")
        if any(lo <= b_hi and b_lo <= hi for b_lo, b_hi, _ in bands):
            raise PsyqError(f"--age-bands: '{part}' overlaps another band")
        bands.append((lo, hi, part))
    return bands


def _band_of(value: str, bands: list[tuple[float, float, str]]) -> str | None:
    from psyq.norms import age_number

    x = age_number(value)
    if x is None:
        return None
    return next((label for lo, hi, label in bands if lo <= x <= hi), None)


def _scale_norm(
    data: ItemData, rows: list[int], scale_id: str, scores: list[dict[str, float | None]]
) -> ScaleNorm | None:
    import numpy as np

    from psyq.norms import ScaleNorm
    from psyq.plugins.analysis import stats

    values = np.array([v for r in rows if (v := scores[r].get(scale_id)) is not None])
    n = int(values.size)
    if n < MIN_GROUP or float(values.std(ddof=1)) == 0:
        return None
    reliability, source = None, ""
    scale = data.instrument.scale(scale_id)
    ids = [i for i in scale.items if i in data.item_ids]
    if len(ids) >= 3:
        x = data.columns(ids)[rows]
        cov, _ = stats.pairwise_cov(x)
        if np.isfinite(cov).all() and (np.diag(cov) > 0).all():
            try:
                raw = stats.alpha(cov, len(rows)).raw
            except stats.StatsError:
                raw = math.nan  # no reliability, so no interval (the table says so)
            if 0 < raw < 1:
                reliability = round(raw, 4)
                source = f"Cronbach's alpha in this group (n = {len(rows)}, pairwise)"
    distinct, counts = np.unique(values, return_counts=True)
    below = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranks = 100.0 * (below + 0.5 * counts) / n
    return ScaleNorm(
        n=n,
        mean=round(float(values.mean()), 4),
        sd=round(float(values.std(ddof=1)), 4),
        reliability=reliability,
        reliability_source=source,
        percentiles=[(float(v), round(float(p), 2)) for v, p in zip(distinct, ranks, strict=True)],
    )


def build_groups(
    app: App, data: ItemData, group_by: list[str], bands: list[tuple[float, float, str]]
) -> tuple[list[NormGroup], list[str]]:
    """The whole sample, then every combination of the --group-by values present."""
    import math

    from psyq.norms import MAX_GROUP_VALUE, MAX_GROUPS, NormGroup

    inst = data.instrument
    scores: list[dict[str, float | None]] = []
    for r in range(data.n):
        answers = {
            iid: None if math.isnan(v) else int(v)
            for iid, v in zip(data.item_ids, data.answers[r], strict=True)
        }
        result = app.scorer.score_valid(inst, {i.id: answers.get(i.id) for i in inst.items})
        scores.append({sid: s.value for sid, s in result.scores.items()})
    notes: list[str] = []
    keys: list[tuple[str, ...] | None] = []
    unplaced = 0
    for extra in data.extra:
        key = []
        for column in group_by:
            value = extra.get(column, "").strip()
            if column == "age" and bands and value:
                value = _band_of(value, bands) or ""
            if len(value) > MAX_GROUP_VALUE:  # was an internal ValidationError
                shown = repr(value[:20] + "...")
                raise PsyqError(
                    f"{data.source}: {column} value {shown} is {len(value)} characters long; "
                    f"a norm group value has at most {MAX_GROUP_VALUE} (f, m, 18-29)"
                )
            key.append(value.lower() if column != "age" else value)
        if any(not k for k in key):
            unplaced += 1
            keys.append(None)
        else:
            keys.append(tuple(key))
    if unplaced:
        notes.append(
            f"{unplaced} respondents had no value (or an age outside the bands) for "
            f"{', '.join(group_by)}: in the whole-sample norms only"
        )
    members: dict[tuple[str, ...], list[int]] = {(): list(range(data.n))}
    for r, found in enumerate(keys):
        if found is not None and group_by:
            members.setdefault(found, []).append(r)
    groups: list[NormGroup] = []
    left_out: list[str] = []
    for values, rows in sorted(members.items(), key=lambda kv: (len(kv[0]), kv[0])):
        scales = {
            sid: norm
            for sid in (s.id for s in inst.scales)
            if (norm := _scale_norm(data, rows, sid, scores)) is not None
        }
        label = ", ".join(f"{c}={v}" for c, v in zip(group_by, values, strict=False)) or "all"
        if not scales:
            left_out.append(label)
            continue
        groups.append(NormGroup(group=dict(zip(group_by, values, strict=False)), scales=scales))
    if left_out:  # one note, however many: the table's notes hold 5000 characters
        more = f" and {len(left_out) - 5} more" if len(left_out) > 5 else ""
        notes.append(
            f"group{'s' if len(left_out) > 1 else ''} {'; '.join(left_out[:5])}{more}: "
            f"fewer than {MIN_GROUP} scored people; left out"
        )
    if len(groups) > MAX_GROUPS:
        raise PsyqError(
            f"{data.source}: {len(groups)} norm groups (the whole sample too); a table holds "
            f"at most {MAX_GROUPS}: "
            "group by fewer columns, or give --age-bands"
        )
    return groups, notes


@click.group("norms")
def norms_group() -> None:
    """Norm tables: build one from a sample; score with it (psyq score --norms)."""


@norms_group.command("build")
@data_input
@click.option("--group-by", metavar="COL[,COL]", help="Norm groups by these columns (sex,age).")
@click.option("--age-bands", metavar="18-29,30-49,50-", help="Bands for the 'age' column.")
@click.option("--description", required=True, help="Who the sample is: population, recruitment.")
@click.option("--collected", default="", help="When the data were collected (e.g. 2026-03).")
@click.option("--citation", default="", help="Where the sample is described.")
@click.option("--id", "table_id", help="Table id (default: INSTRUMENT_norms).")
@click.option("--title", help="Table title shown on reports.")
@click.option("--table-version", default="1", show_default=True)
@click.option(
    "--status",
    type=click.Choice(["provisional", "final"]),
    default="provisional",
    show_default=True,
    help="final only for a documented normative study.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.pass_obj
def build_command(
    app: App,
    source: DataInput,
    group_by: str | None,
    age_bands: str | None,
    description: str,
    collected: str,
    citation: str,
    table_id: str | None,
    title: str | None,
    table_version: str,
    status: str,
    output: Path,
    force: bool,
) -> None:
    """Write a versioned norm table for INSTRUMENT_ID from the answers in DATA.

    \b
    Per scale and group: n, mean, SD, reliability (alpha in the group) and a
    percentile-rank table, with the sample's description and the date.
    The file is data (JSON): ship it in a plugin (psyq_norm_sources) and name
    it in the definition (norms: [id]), or pass it with --norms.

    \b
    Example:
      psyq norms build ccts pilot.csv --group-by sex,age --age-bands 18-29,30-49,50- \\
          --description "Outpatients, 3 clinics, 2026" -o ccts-norms.json
    """
    from pydantic import ValidationError

    from psyq.files import refuse_existing, write_output
    from psyq.norms import NormTable, Sample, dump_table, first_error

    refuse_existing(output, force)
    _check_texts({"--description": description, "--collected": collected,
                  "--citation": citation, "--title": title or ""})  # fmt: skip
    columns = [c.strip() for c in (group_by or "").split(",") if c.strip()]
    bands = parse_bands(age_bands)
    if bands and "age" not in columns:
        raise PsyqError("--age-bands applies to an 'age' column: add age to --group-by")
    if source.from_store and columns:
        raise PsyqError("the store keeps no client attributes: --group-by needs a DATA file")
    data = source.load(app, keep_columns=tuple(columns))
    groups, notes = build_groups(app, data, columns, bands)
    notes = [*data.notices, *notes]  # stored records changed outside psyq: in the table too
    if not groups:
        raise PsyqError(
            f"{data.source}: no scale could be normed (too few scored people, or scores "
            "that do not vary)"
        )
    inst = data.instrument
    fields: dict[str, Any] = {
        "id": table_id or f"{inst.id}_norms",
        "version": table_version,
        "title": title or f"{inst.short_name} norms ({description[:60]})",
        "instrument": inst.id,
        "instrument_version": inst.version,
        "status": status,
        "created": date.today(),
        "sample": Sample(description=description, n=data.n, collected=collected, citation=citation),
        "notes": " ".join(notes),
        "groups": groups,
    }
    try:
        table = NormTable(**fields)
    except ValidationError as exc:
        raise PsyqError(f"norm table: {first_error(exc)}") from None
    try:
        write_output(output, dump_table(table).encode("utf-8"), force=force)
    except OSError as exc:
        raise PsyqError(f"{output}: cannot write: {exc.strerror or exc}") from None
    sizes = ", ".join(f"{g.label} {max(s.n for s in g.scales.values())}" for g in groups)
    click.echo(f"wrote {output}: {len(groups)} groups ({sizes})", err=True)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    small = [g.label for g in groups if min(s.n for s in g.scales.values()) < 100]
    if small:
        click.echo(f"warning: groups under 100 people: {'; '.join(small)}", err=True)


def _check_texts(texts: dict[str, str]) -> None:
    """The sample's words are shown inline beside every normed score: one line each.

    An empty --description was an internal error (the table's own check, unasked); a
    line break in --title split the score's line in every text output.
    """
    limits = {"--collected": 100, "--title": 300}
    for option, text in texts.items():
        if option == "--description" and not text.strip():
            raise PsyqError("--description: say who the sample is (population, recruitment)")
        if not text.isprintable():
            raise PsyqError(
                f"{option}: holds a line break or another control character; give it as "
                "one line of text"
            )
        limit = limits.get(option, 2000)
        if len(text) > limit:
            raise PsyqError(f"{option}: {len(text)} characters; at most {limit} are allowed")


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [norms_group]
