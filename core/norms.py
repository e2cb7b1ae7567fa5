"""Norm tables: versioned data files that turn a scale score into z, T and a percentile.

A norm table is data, never code (JSON or YAML, read with psyq's safe
loaders). ``psyq norms build`` writes one from a sample; a definition names the
tables it uses (``norms: [table_id]``) and plugins ship them through the
``psyq_norm_sources`` hook, or a user passes ``--norms FILE``.

For a score ``x`` on a scale with norm-group mean ``M``, SD ``S`` and
reliability ``r``:

* ``z = (x - M) / S`` and ``T = 50 + 10 z``;
* the percentile is the score's percentile rank in the sample (the per cent
  below plus half the per cent at the score), interpolated between the
  scores the table lists;
* the 95 % interval is ``T ± 1.96 · 10 · sqrt(1 - r)``: the standard error of
  measurement (``S · sqrt(1 - r)``) in T units, as the issue specifies.

A table whose ``status`` is ``provisional``, or a group of fewer than
:data:`SMALL_GROUP` people, carries a warning that every output shows.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from psyq.errors import PsyqError
from psyq.i18n import N_
from psyq.results import NormScore

if TYPE_CHECKING:
    from collections.abc import Callable

    from psyq.manager import PsyqPluginManager
    from psyq.models import Instrument
    from psyq.results import ScoreResult

FORMAT = "psyq-norms/1"
MAX_TABLE_BYTES = 20 * 1024 * 1024
SMALL_GROUP = 100
# A norm score's warnings, stored in English with the score; a report words them in its
# language (warning_in).
PROVISIONAL_TABLE = N_(
    "PROVISIONAL norm table '%(table)s': not for interpreting a client's score on its own"
)
SMALL_GROUP_WARNING = N_(
    "SMALL NORM GROUP (%(group)s): fewer than %(n)s people, so T and percentile are imprecise"
)
NO_INTERVAL = N_("no reliability in the table, so no interval")
Z95 = 1.959963984540054

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
MAX_GROUP_VALUE = 64
MAX_GROUPS = 500


def _one_line(text: str) -> str:
    # Shown inline beside every normed score: `psyq norms build` refuses a line break in
    # these words, and a hand-edited table may not bring one in either.
    if not text.isprintable():
        raise ValueError("holds a line break or another control character; give one line")
    return text


OneLine = Annotated[str, AfterValidator(_one_line)]
GroupValue = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_GROUP_VALUE), AfterValidator(_one_line)
]
# Numbers as numbers: pydantic's lax mode read "612", true and 612.0 as counts and "1.4"
# as a mean, so a table that quoted or mistyped a number was used as if written otherwise.
Count = Annotated[int, Strict(), Field(ge=1)]
Number = Annotated[float, Strict()]


def _table_day(value: object) -> object:
    """``created`` as YYYY-MM-DD (a YAML date, or the JSON string): pydantic also read
    ``2026-11-30T00:00:00`` and a count of seconds as a date."""
    from psyq.dates import day_problem, written_day

    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            day = written_day(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a real date") from None
    else:
        raise ValueError(f"{value!r} is not a date written YYYY-MM-DD")

    problem = day_problem(day)
    if problem:
        raise ValueError(f"{day.isoformat()} {problem}")
    return day


class NormError(PsyqError):
    """A norm table is malformed, missing, or has no group for this client."""


class _Model(BaseModel):
    # YAML reads .nan and .inf as numbers: a table holding one gave NaN z and T scores.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Sample(_Model):
    """Who the norms come from."""

    description: Annotated[OneLine, StringConstraints(min_length=1, max_length=2000)]
    n: Count
    collected: OneLine = Field("", max_length=100, description="When the data were collected.")
    citation: OneLine = Field("", max_length=2000)


class ScaleNorm(_Model):
    n: Count
    mean: Number
    sd: Number = Field(gt=0)
    reliability: Number | None = Field(None, gt=0, lt=1)
    reliability_source: OneLine = Field("", max_length=500)
    percentiles: list[tuple[Number, Number]] = Field(
        default_factory=list,
        max_length=10_000,
        description="[score, percentile rank] pairs, ascending by score.",
    )

    @field_validator("percentiles")
    @classmethod
    def _ascending(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        # The lookup interpolates between neighbours: out of order, it read a wrong rank.
        for k, (score, rank) in enumerate(points):
            if not 0 <= rank <= 100:
                raise ValueError(f"entry {k + 1}: percentile rank {rank} is not within 0-100")
            if k and (score <= points[k - 1][0] or rank < points[k - 1][1]):
                raise ValueError(
                    f"entry {k + 1}: [{score}, {rank}] after {list(points[k - 1])}; "
                    "scores must ascend and ranks never fall"
                )
        return points


class NormGroup(_Model):
    """One norm group: ``{}`` is the whole sample; ``{sex: f, age: 30-49}`` a subgroup."""

    group: dict[Identifier, GroupValue] = Field(default_factory=dict, max_length=10)
    scales: dict[Identifier, ScaleNorm] = Field(min_length=1)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.group.items()) or "whole sample"


class NormTable(_Model):
    """A versioned norm table for one instrument version."""

    format: Literal["psyq-norms/1"] = "psyq-norms/1"
    id: Identifier
    version: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$")]
    title: Annotated[OneLine, StringConstraints(min_length=1, max_length=300)]
    instrument: Identifier
    instrument_version: str = Field(max_length=32)
    status: Literal["provisional", "final"]
    created: Annotated[date, BeforeValidator(_table_day)]
    sample: Sample
    notes: str = Field("", max_length=5000)
    groups: list[NormGroup] = Field(min_length=1, max_length=MAX_GROUPS)

    @model_validator(mode="after")
    def _distinct_groups(self) -> NormTable:
        seen: set[frozenset[tuple[str, str]]] = set()
        for k, group in enumerate(self.groups):
            key = frozenset((n, v.strip().lower()) for n, v in group.group.items())
            if key in seen:
                raise ValueError(f"groups.{k}: group '{group.label}' is listed twice")
            seen.add(key)
            for scale_id, norm in group.scales.items():
                if norm.n > self.sample.n:  # a typo in one of the two counts
                    raise ValueError(
                        f"groups.{k}.scales.{scale_id}.n: {norm.n} people, more than the "
                        f"whole sample (sample.n {self.sample.n})"
                    )
        self._bands_apart()
        return self

    def _bands_apart(self) -> None:
        """A key's values are all age bands or none, each band runs upwards, and no two
        overlap: a client in two bands got whichever was listed first, and a band that
        ends before it starts held nobody, silently."""
        values: dict[str, dict[str, tuple[float, float] | None]] = {}
        for k, group in enumerate(self.groups):
            for key, value in group.group.items():
                bounds = band_bounds(value)
                known = values.setdefault(key, {})
                if value in known:
                    continue
                if known and any((b is None) != (bounds is None) for b in known.values()):
                    raise ValueError(
                        f"groups.{k}.group.{key}: '{value}' and '{next(iter(known))}': {key} "
                        "mixes age bands (18-29, 50-) with other values"
                    )
                if bounds is not None:
                    lo, hi = bounds
                    if hi < lo:
                        raise ValueError(
                            f"groups.{k}.group.{key}: band '{value}' ends before it starts"
                        )
                    for other, o in known.items():
                        if o is not None and lo <= o[1] and o[0] <= hi:
                            raise ValueError(
                                f"groups.{k}.group.{key}: band '{value}' overlaps '{other}'"
                            )
                known[value] = bounds

    @property
    def name(self) -> str:
        return f"{self.title} ({self.id} v{self.version})"


@dataclass(frozen=True)
class NormSource:
    """A directory of norm table files (or one file), and who provides it.

    ``path`` may be given as a string (or any path-like): it is kept as a ``Path``.
    """

    name: str
    path: Path

    def __post_init__(self) -> None:
        path: object = self.path  # a plugin may give a str, whatever the annotation says
        if not isinstance(path, Path):
            # Path() refuses what is not a str or path-like: the plugin's hook names it.
            object.__setattr__(self, "path", Path(path))  # type: ignore[arg-type]


# -- reading ----------------------------------------------------------------------


def read_table(path: Path, pm: PsyqPluginManager | None = None) -> NormTable:
    """Read and validate one norm table file (JSON or YAML, safely)."""
    from psyq.errors import DefinitionError
    from psyq.files import read_limited
    from psyq.plugins.data_files import load_data

    # Capped, and never a device or FIFO: --norms /dev/zero read until memory ran out.
    raw = read_limited(path, MAX_TABLE_BYTES, "a norm table", NormError)
    try:
        data = load_data(path, raw)
    except DefinitionError as exc:
        raise NormError(str(exc)) from None
    try:
        return NormTable.model_validate(data)
    except ValidationError as exc:
        raise NormError(f"{path}: not a psyq norm table: {first_error(exc)}") from None


def first_error(exc: ValidationError) -> str:
    """The first of a table's problems, as ``groups.1.scales.total.n: ...``."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def tables_from_sources(
    pm: PsyqPluginManager, problems: list[str] | None = None
) -> dict[str, tuple[NormTable, str]]:
    """Every norm table the ``psyq_norm_sources`` hooks provide, by id (with its source).

    A malformed table is skipped, as a malformed instrument file is: one line naming its
    source and plugin goes to ``problems`` (``psyq validate``), else it is warned about
    (an error with ``PSYQ_STRICT_PLUGINS=1``). Other plugins' tables stay usable.
    """
    found: dict[str, tuple[NormTable, str]] = {}
    # Collected like the other sources: a plugin whose hook raises or returns something
    # other than NormSource records is skipped with one warning naming it.
    for plugin, source in pm.collect("psyq_norm_sources"):
        files = (
            sorted(p for p in source.path.iterdir() if p.suffix in {".json", ".yaml", ".yml"})
            if source.path.is_dir()
            else [source.path]
        )
        for file in files:
            try:
                table = read_table(file)
            except NormError as exc:
                owner = "" if pm.is_builtin(plugin) else f" (plugin '{plugin}')"
                problem = f"{source.name}{owner}: {exc}"
                pm.note(plugin, f"norm table skipped: {exc}")
                if problems is not None:
                    problems.append(problem)
                else:
                    pm.problem(f"skipped norm table: {problem}", NormError)
                continue
            if table.id in found:
                raise NormError(
                    f"norm table '{table.id}' is provided by both {found[table.id][1]} "
                    f"and {source.name}"
                )
            found[table.id] = (table, source.name)
    return found


def tables_for(
    pm: PsyqPluginManager,
    instrument: Instrument,
    files: list[Path],
    known: dict[str, tuple[NormTable, str]] | None = None,
) -> list[NormTable]:
    """``--norms FILE`` tables if given, else those the definition names (among ``known``,
    :func:`tables_from_sources` when not given)."""
    if files:
        tables = [read_table(f) for f in files]
    else:
        names = list(instrument.norms)
        if not names:
            return []
        known = tables_from_sources(pm) if known is None else known
        missing = [n for n in names if n not in known]
        if missing:
            raise NormError(
                f"{instrument.id} names norm table {', '.join(map(repr, missing))}, which no "
                "installed plugin provides (psyq_norm_sources)"
            )
        tables = [known[n][0] for n in names]
    for table in tables:
        if table.instrument != instrument.id:
            raise NormError(
                f"norm table '{table.id}' is for {table.instrument}, not {instrument.id}"
            )
        if table.instrument_version != instrument.version:
            raise NormError(
                f"norm table '{table.id}' was built for {instrument.id} "
                f"v{table.instrument_version}; this is v{instrument.version}"
            )
        scales = {scale.id for scale in instrument.scales}
        for group in table.groups:
            unknown = sorted(set(group.scales) - scales)
            if unknown:
                raise NormError(
                    f"norm table '{table.id}', group {group.label}: {instrument.id} has no "
                    f"scale '{unknown[0]}'; its scales: {', '.join(sorted(scales))}"
                )
    return tables


# -- client groups --------------------------------------------------------------------

_GROUP_PAIR = re.compile(r"^\s*([a-z][a-z0-9_]{0,63})\s*=\s*([^,=]{1,64}?)\s*$")


def parse_group(text: str | None) -> dict[str, str]:
    """``sex=f,age=34`` -> ``{"sex": "f", "age": "34"}``."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        m = _GROUP_PAIR.match(part)
        if m is None:
            raise NormError(
                f"--group: '{part.strip()}' is not NAME=VALUE (e.g. --group sex=f,age=34)"
            )
        if m.group(1) in out:  # the last used to win, silently
            raise NormError(f"--group: {m.group(1)} is given twice; give it once")
        out[m.group(1)] = m.group(2)
    return out


_AGE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*")


def age_number(text: str) -> float | None:
    """An age as written with the digits 0-9 (``34``, ``34.5``); else None.

    float() also reads ``3_4`` as 34, ``1e1`` as 10, ``inf`` and other scripts' digits:
    an age so written was put in a band it was not written as.
    """
    m = _AGE.fullmatch(text)
    return float(m.group(1)) if m else None


def band_bounds(band: str) -> tuple[float, float] | None:
    """``30-49`` -> (30, 49), ``50-`` -> (50, inf); None if ``band`` is no age band."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*-\s*([0-9]+(?:\.[0-9]+)?)?\s*", band)
    if m is None:
        return None
    return float(m.group(1)), float(m.group(2)) if m.group(2) else math.inf


def band_contains(band: str, value: str) -> bool | None:
    """Whether ``value`` is in an age band ``30-49`` / ``50-``; None if ``band`` is no band."""
    bounds = band_bounds(band)
    if bounds is None:
        return None
    x = age_number(value)
    if x is None:
        return False
    return bounds[0] <= x <= bounds[1]


def _matches(group: dict[str, str], client: dict[str, str]) -> bool:
    for key, wanted in group.items():
        have = client.get(key)
        if have is None:
            return False
        inside = band_contains(wanted, have)
        if inside is None:
            if wanted.strip().lower() != have.strip().lower():
                return False
        elif not inside:
            return False
    return True


def choose_group(table: NormTable, client: dict[str, str]) -> NormGroup | None:
    """The most specific group the client belongs to (the whole sample if nothing finer)."""
    for key, have in client.items():
        bands = sorted({g.group[key] for g in table.groups if key in g.group})
        is_age = any(band_contains(b, "0") is not None for b in bands)
        if is_age and age_number(have) is None:
            # Not silently the whole sample: the client's group was asked for.
            raise NormError(
                f"--group {key}={have}: not a number; norm table '{table.id}' has "
                f"{key} bands {', '.join(bands)}"
            )
        if is_age and not any(band_contains(b, have) for b in bands):
            # Between two bands (29.5 beside 18-29 and 30-49), below the first or in a band
            # the table left out: the whole sample's norms were used, unsaid.
            raise NormError(
                f"--group {key}={have}: in none of the {key} bands of norm table "
                f"'{table.id}' ({', '.join(bands)})"
            )
    fitting = [g for g in table.groups if _matches(dict(g.group), client)]
    if not fitting:
        return None
    return max(fitting, key=lambda g: len(g.group))


# -- lookup ---------------------------------------------------------------------------


def percentile_rank(norm: ScaleNorm, value: float) -> float | None:
    """The percentile of ``value``, interpolated in the table (clamped at its ends)."""
    points = norm.percentiles
    if not points:
        return None
    if value <= points[0][0]:
        return points[0][1] if value == points[0][0] else max(0.0, points[0][1] / 2)
    if value >= points[-1][0]:
        last = points[-1][1]
        return last if value == points[-1][0] else min(100.0, last + (100 - last) / 2)
    for (x0, p0), (x1, p1) in itertools.pairwise(points):
        if x0 <= value <= x1:
            return p0 if x1 == x0 else p0 + (p1 - p0) * (value - x0) / (x1 - x0)
    return None


def norm_score(table: NormTable, group: NormGroup, scale_id: str, value: float) -> NormScore:
    norm = group.scales[scale_id]
    z = (value - norm.mean) / norm.sd
    t = 50 + 10 * z
    ci = None
    if norm.reliability is not None:
        half = Z95 * 10 * math.sqrt(1 - norm.reliability)
        ci = (round(t - half, 1), round(t + half, 1))
    warnings: list[str] = []
    if table.status == "provisional":
        warnings.append(PROVISIONAL_TABLE % {"table": table.id})
    if norm.n < SMALL_GROUP:
        warnings.append(SMALL_GROUP_WARNING % {"group": group.label, "n": SMALL_GROUP})
    if not math.isfinite(t) or (ci is not None and not all(map(math.isfinite, ci))):
        raise NormError(
            f"norm table '{table.id}', group {group.label}, scale {scale_id}: mean {norm.mean} "
            f"and SD {norm.sd} give no finite T score for {value}"
        )
    if ci is None:
        warnings.append(NO_INTERVAL)
    pct = percentile_rank(norm, value)
    return NormScore(
        z=round(z, 2),
        t=round(t, 1),
        percentile=None if pct is None else round(pct, 1),
        group=group.label,
        table=table.name,
        n=norm.n,
        ci=ci,
        warnings=warnings,
    )


def warning_in(text: str, gettext: Callable[[str], str]) -> str:
    """A stored norm warning (:func:`norm_score`) in a report's language; one psyq did
    not word (or worded otherwise before) is shown as stored."""
    for template in (PROVISIONAL_TABLE, SMALL_GROUP_WARNING, NO_INTERVAL):
        pattern = re.sub(r"%\\\((\w+)\\\)s", r"(?P<\1>.*)", re.escape(template))
        found = re.fullmatch(pattern, text, flags=re.S)
        if found:
            return gettext(template) % found.groupdict()
    return text


def apply_norms(
    result: ScoreResult, tables: list[NormTable], client: dict[str, str]
) -> ScoreResult:
    """``result`` with a ``norm`` on every scored scale a table covers (first table wins)."""
    if not tables:
        return result
    scores = dict(result.scores)
    covered = False
    for scale_id, score in result.scores.items():
        if score.value is None:
            continue
        for table in tables:
            group = choose_group(table, client)
            if group is None or scale_id not in group.scales:
                continue
            norm = norm_score(table, group, scale_id, float(score.value))
            scores[scale_id] = score.model_copy(update={"norm": norm})
            covered = True
            break
    if not covered and any(s.value is not None for s in result.scores.values()):
        wanted = ", ".join(f"{k}={v}" for k, v in client.items()) or "no --group"
        raise NormError(
            f"no norm group fits this client ({wanted}) in "
            f"{', '.join(t.id for t in tables)}; groups: "
            + "; ".join(g.label for t in tables for g in t.groups)
        )
    return result.model_copy(update={"scores": scores})


def with_norms(
    pm: PsyqPluginManager,
    instrument: Instrument,
    result: ScoreResult,
    files: list[Path],
    group_text: str | None,
) -> ScoreResult:
    """``result`` scored against ``--norms FILE`` tables, or those the definition names."""
    client = parse_group(group_text)
    tables = tables_for(pm, instrument, files)
    if not tables:
        if client:
            raise NormError(
                f"--group picks a norm group, but {instrument.id} names no norm table; "
                "give --norms FILE"
            )
        return result
    # A key no table groups by (a misspelt `sexx=f`) was passed over, and the whole
    # sample's norms used. The instrument's client attributes (sex, for cut-offs that
    # depend on it) are --group keys of their own.
    keys = {key for table in tables for group in table.groups for key in group.group}
    for key in client:
        if key not in keys and key not in instrument.client_attributes:
            names = ", ".join(f"'{t.id}'" for t in tables)
            by = f"groups by {', '.join(sorted(keys))}" if keys else "only the whole sample"
            raise NormError(
                f"--group {key}={client[key]}: norm table {names} has {by}, none by {key}"
            )
    return apply_norms(result, tables, client)


def dump_table(table: NormTable) -> str:
    """The table as the JSON file ``psyq norms build`` writes."""
    import json

    data: dict[str, Any] = table.model_dump(mode="json")
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
