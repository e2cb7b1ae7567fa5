"""Columnar scoring for scores-only batches: a chunk's answers as numpy columns.

The per-row pipeline (:mod:`psyq.scoring`) costs tens of microseconds a row in
hook calls and small objects. For a scores-only batch this module scores a
whole chunk with a few numpy operations per item and scale, and writes the
same bytes: the same ``scores.csv`` lines, the same errors, the same cohort
statistics. It is used only where it is exactly the per-row path:

* every scoring stage and scoring method comes from psyq's own plugins (a
  plugin that hooks scoring gets the per-row path);
* the instrument uses only the format features implemented here
  (:func:`unsupported` says which one is not): ``sum``/``mean`` scales with
  whole-number weights and recodes (so every sum is exact in floating point,
  whatever order a Python version adds in), missing-data rules with
  proration, linear transforms, bands, answers that count as missing,
  item skip rules (an unanswered item the form skips scores the rule's
  value), critical items, and every flag condition of the format (item, items,
  missing, scale, count, any, all). Any other field with a value
  that is set (a format feature added later) sends the instrument down the
  per-row path;
* a row whose cells are not plain allowed answers or missing tokens, or that
  has a reading problem, an empty client id or a bad date, is scored by the
  per-row path, which words its error exactly as always.

Rounding (half up, via :func:`psyq.models.round_half_up`), banding and cell
formatting run once per distinct value, not once per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from psyq.answers import MISSING_TOKENS
from psyq.batch.cohort import LISTED, LISTED_FLAGGED, CohortStats, _band_label
from psyq.batch.tables import format_value, prorated_cell
from psyq.errors import PsyqError
from psyq.models import CRITICAL_ITEM_FLAG, Condition, Instrument, round_half_up
from psyq.scoring import STAGES
from psyq.spreadsheet import neutralise

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from psyq.manager import PsyqPluginManager

    Floats: TypeAlias = npt.NDArray[np.float64]
    Bools: TypeAlias = npt.NDArray[np.bool_]

RowJob = tuple[int, str, str, str, tuple[Any, ...], str | None]

METHODS = ("sum", "mean")
MAX_FLAGS = 62  # flag sets are packed into one int64 per row

# Fields of the definition format this module implements, per model. A field not
# listed here whose value is set (not None/False/empty) means "per-row path".
_KNOWN: dict[str, set[str]] = {
    "instrument": {
        "schema_version", "id", "version", "title", "short_name", "description", "citations",
        "licence", "status", "notice", "instructions", "recall_period", "response_scales",
        "items", "scales", "flags", "examples", "codes",
        "licensed_text", "translations",  # texts only: scoring is the same
    },
    "response_scale": {"options"},
    "option": {"value", "label", "codes", "missing"},
    "item": {
        "id", "text", "response_scale", "reverse", "required", "scored", "critical", "recode",
        "codes", "skip",
    },
    "skip": {"when", "score", "reason"},
    "scale": {
        "id", "label", "items", "method", "weights", "missing", "decimals", "transform",
        "higher_is_worse", "bands", "reliable_change", "clinical_cutoff", "codes",
        "outcomes",  # response/remission criteria: history and trend, not scoring
    },
    "missing": {"max_missing", "min_answered", "prorate"},
    "transform": {"multiply", "add"},
    "band": {"id", "label", "min", "max", "severity", "interpretation", "if_flagged"},
    "flag": {"id", "level", "message", "when"},
    "condition": {
        "item", "items", "scale", "op", "value", "missing", "any", "all", "count", "at_least",
        "at_most", "including_one_of",
    },
}  # fmt: skip


def _unknown(kind: str, data: dict[str, Any], where: str) -> str | None:
    for key, value in data.items():
        if key not in _KNOWN[kind] and value not in (None, False, "", [], {}):
            return f"{where}: '{key}' is not implemented by the columnar path"
    return None


def _condition_unknown(data: dict[str, Any], where: str) -> str | None:
    problem = _unknown("condition", data, where)
    for sub in (data.get("any") or []) + (data.get("all") or []) + (data.get("count") or []):
        problem = problem or _condition_unknown(sub, where)
    return problem


def unsupported(pm: PsyqPluginManager, instrument: Instrument) -> str | None:
    """Why this instrument must be scored row by row, or ``None`` if it need not be."""
    for hook in [f"psyq_score_{stage}" for stage in STAGES] + ["psyq_scoring_methods"]:
        for impl in getattr(pm.hook, hook).get_hookimpls():
            if not pm.is_builtin(impl.plugin_name):
                return f"plugin '{impl.plugin_name}' implements {hook}"
    data = instrument.model_dump(mode="json")
    checks: list[str | None] = [_unknown("instrument", data, "instrument")]
    for rs_id, rs in data["response_scales"].items():
        checks.append(_unknown("response_scale", rs, rs_id))
        checks += [_unknown("option", o, rs_id) for o in rs["options"]]
    for item in data["items"]:
        checks.append(_unknown("item", item, item["id"]))
        recode = item.get("recode") or {}
        if any(not float(v).is_integer() for v in recode.values()):
            checks.append(f"item {item['id']}: a recode to a fraction")
        skip = item.get("skip")
        if skip:
            checks.append(_unknown("skip", skip, f"item {item['id']}: skip"))
            if skip.get("when"):
                checks.append(_condition_unknown(skip["when"], f"item {item['id']}: skip"))
            if not float(skip["score"]).is_integer():
                checks.append(f"item {item['id']}: a skip scored as a fraction")
    for scale in data["scales"]:
        where = f"scale {scale['id']}"
        checks.append(_unknown("scale", scale, where))
        checks.append(_unknown("missing", scale["missing"], where))
        if scale.get("transform"):
            checks.append(_unknown("transform", scale["transform"], where))
        checks += [_unknown("band", b, where) for b in scale["bands"]]
        if scale["method"] not in METHODS:
            checks.append(f"{where}: method '{scale['method']}'")
        weights = scale.get("weights") or {}
        if any(not float(w).is_integer() for w in weights.values()):
            checks.append(f"{where}: a fractional weight")
    for flag in data["flags"]:
        checks.append(_unknown("flag", flag, f"flag {flag['id']}"))
        checks.append(_condition_unknown(flag["when"], f"flag {flag['id']}"))
    if len(data["flags"]) > MAX_FLAGS:
        checks.append(f"more than {MAX_FLAGS} flags")
    return next((c for c in checks if c), None)


class ColumnarScorer:
    """Scores chunks of one instrument; build once per worker and reuse."""

    def __init__(self, instrument: Instrument) -> None:
        import numpy as np

        self.np = np
        self.instrument = instrument
        self.items = instrument.items
        self.index = {item.id: k for k, item in enumerate(self.items)}
        # Cell -> answer for the cells that need no thought: an allowed value as an
        # int or its digits, or a missing token. Anything else takes the per-row path.
        self._lookups: list[dict[Any, float]] = []
        nan = float("nan")
        for item in self.items:
            allowed = instrument.response_scale_for(item).values
            table: dict[Any, float] = {}
            for value in allowed:
                table[value] = float(value)
                table[str(value)] = float(value)
            if not item.required:
                table[None] = nan
                for token in MISSING_TOKENS:
                    table[token] = nan
            self._lookups.append(table)

    # -- reading cells ---------------------------------------------------------

    def _answers(self, rows: Sequence[RowJob]) -> tuple[Floats, Bools]:
        """Answers as given (NaN = missing), and which rows the fast path can take.

        Column by column: a cell this path cannot take (not a plain allowed answer
        or missing token) reads as infinity, which no answer is, and sends its row
        down the per-row path.
        """
        np = self.np
        n = len(rows)
        answers = np.empty((n, len(self.items)), dtype=np.float64)
        if not n:
            return answers, np.ones(0, dtype=bool)
        _, clients, dates, _, values, problems = zip(*rows, strict=True)
        good = [p is None and c != "" for p, c in zip(problems, clients, strict=True)]
        date_ok = {d: _date_ok(d) for d in set(dates)}
        if not all(date_ok.values()):
            good = [g and date_ok[d] for g, d in zip(good, dates, strict=True)]
        ok: Bools = np.array(good, dtype=bool)
        inf = float("inf")
        columns = list(zip(*values, strict=True))
        for k, table in enumerate(self._lookups):
            column = columns[k]
            if set(map(type, column)) <= _PLAIN:
                answers[:, k] = [table.get(v, inf) for v in column]
            else:
                answers[:, k] = [_cell(v, table) for v in column]
        ok &= ~np.isinf(answers).any(axis=1)
        return answers, ok

    # -- scoring -----------------------------------------------------------------

    def _effective(self, answers: Floats) -> Floats:
        """Answers as given, with the options that count as missing made NaN."""
        np = self.np
        effective = answers.copy()
        for k, item in enumerate(self.items):
            for value in self.instrument.response_scale_for(item).missing_values:
                effective[answers[:, k] == value, k] = np.nan
        return effective

    def _scored_values(self, answers: Floats, unanswered: Bools) -> Floats:
        """Item values after recoding, skip rules and reversal (NaN = missing).

        ``unanswered`` marks the cells left empty (not an option that counts as
        missing): only those can be skipped, as in the per-row recode stage.
        """
        inst = self.instrument
        values = answers.copy()
        for k, item in enumerate(self.items):
            column = answers[:, k]
            if item.recode is not None:
                recoded = column.copy()
                for given, to in item.recode.items():
                    recoded[column == given] = to
                values[:, k] = recoded
            if item.skip is not None:
                # The condition reads the answers as given; no scale has a value yet
                # when the per-row recode stage tests it, so a scale test never holds.
                skipped = unanswered[:, k].copy()
                if item.skip.when is not None:
                    skipped &= self._holds(item.skip.when, answers, {})
                values[skipped, k] = item.skip.score
            if item.reverse:
                scored = inst.response_scale_for(item).scored_values
                codes = [item.recode.get(v, v) for v in scored] if item.recode else scored
                values[:, k] = (min(codes) + max(codes)) - values[:, k]
        return values

    def score(self, rows: Sequence[RowJob]) -> dict[str, Any]:
        """Everything the writer needs for ``rows``, computed column by column."""
        np = self.np
        inst = self.instrument
        given, ok = self._answers(rows)
        given = given[ok]
        answers = self._effective(given)
        values = self._scored_values(answers, np.isnan(given))
        present = ~np.isnan(values)
        n = answers.shape[0]
        scale_values: dict[str, list[Any]] = {}  # per scale: the value object per row
        numeric: dict[str, Floats] = {}  # per scale: float value, NaN when unscored
        prorated: dict[str, Bools] = {}  # per scale whose rule prorates: prorated or not
        for scale in inst.scales:
            cols = [self.index[i] for i in scale.items]
            weights = [scale.weight(i) for i in scale.items]
            answered = present[:, cols].sum(axis=1)
            missing = len(cols) - answered
            rule = scale.missing
            scorable = answered > 0
            if rule.max_missing is not None:
                scorable &= missing <= rule.max_missing
            if rule.min_answered is not None:
                scorable &= answered >= rule.min_answered
            total = np.zeros(n)
            weight_sum = np.zeros(n)
            for col, weight in zip(cols, weights, strict=True):
                has = present[:, col]
                total += np.where(has, values[:, col] * weight, 0.0)
                weight_sum += np.where(has, weight, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                raw = total / weight_sum if scale.method == "mean" else total
                scaled = raw
                if rule.prorate:
                    all_weight = sum(weights)
                    scaled = np.where(missing > 0, raw * all_weight / weight_sum, raw)
            x = scale.transform.apply(scaled) if scale.transform else scaled
            x = np.where(scorable, x, np.nan)
            objects, floats = self._round(np.asarray(x, dtype=np.float64), scale.decimals)
            scale_values[scale.id] = objects
            numeric[scale.id] = floats
            if rule.prorate:
                prorated[scale.id] = missing > 0
        flags = self._flags(answers, numeric)
        unanswered = np.zeros(n, dtype=np.int64)
        for k, item in enumerate(self.items):
            if item.critical:
                unanswered += np.isnan(answers[:, k])
        return {
            "ok": ok,
            "values": scale_values,
            "numeric": numeric,
            "prorated": prorated,
            "flags": flags,
            "critical_unanswered": unanswered,
        }

    def _round(self, x: Floats, decimals: int) -> tuple[list[Any], Floats]:
        """Round half up once per distinct value; the value objects and their floats."""
        np = self.np
        out: list[Any] = [None] * len(x)
        floats = np.full(len(x), np.nan)
        scored = ~np.isnan(x)
        if scored.any():
            unique, inverse = np.unique(x[scored], return_inverse=True)
            rounded = [round_half_up(float(u), decimals) for u in unique]
            picked = [rounded[k] for k in inverse.tolist()]
            positions = np.flatnonzero(scored).tolist()
            for pos, value in zip(positions, picked, strict=True):
                out[pos] = value
            floats[scored] = np.asarray([float(v) for v in rounded])[inverse]
        return out, floats

    def _flags(self, answers: Floats, numeric: dict[str, Floats]) -> Any:
        """One int64 per row: bit k set when flag k holds."""
        np = self.np
        mask = np.zeros(answers.shape[0], dtype=np.int64)
        for k, rule in enumerate(self.instrument.flags):
            holds = self._holds(rule.when, answers, numeric)
            mask |= holds.astype(np.int64) << k
        return mask

    def _holds(self, cond: Condition, answers: Floats, numeric: dict[str, Floats]) -> Bools:
        np = self.np
        if cond.any is not None:
            result: Bools = np.zeros(answers.shape[0], dtype=bool)
            for sub in cond.any:
                result |= self._holds(sub, answers, numeric)
            return result
        if cond.all is not None:
            every: Bools = np.ones(answers.shape[0], dtype=bool)
            for sub in cond.all:
                every &= self._holds(sub, answers, numeric)
            return every
        if cond.count is not None:
            return self._count_holds(cond, answers)
        if cond.scale is not None:
            actual = numeric.get(cond.scale, np.full(answers.shape[0], np.nan))
            return self._compare(cond, actual)
        found: Bools = np.zeros(answers.shape[0], dtype=bool)
        for item_id in cond.item_ids:
            found |= self._meets(cond, answers[:, self.index[item_id]])
        return found

    def _count_holds(self, cond: Condition, answers: Floats) -> Bools:
        np = self.np
        n = answers.shape[0]
        met = np.zeros(n, dtype=np.int64)
        among: Bools = np.zeros(n, dtype=bool)
        counted: set[str] = set()
        for sub in cond.count or []:
            for item_id in sub.item_ids:
                if item_id in counted:
                    continue
                counted.add(item_id)
                meets = self._meets(sub, answers[:, self.index[item_id]])
                met += meets
                if cond.including_one_of is not None and item_id in cond.including_one_of:
                    among |= meets
        holds: Bools = np.ones(n, dtype=bool)
        if cond.at_least is not None:
            holds &= met >= cond.at_least
        if cond.at_most is not None:
            holds &= met <= cond.at_most
        if cond.including_one_of is not None:
            holds &= among
        return holds

    def _meets(self, cond: Condition, answer: Floats) -> Bools:
        """One item's answers (NaN = unanswered) against a leaf item test."""
        np = self.np
        if cond.missing is not None:
            unanswered: Bools = np.isnan(answer)
            return unanswered if cond.missing else ~unanswered
        return self._compare(cond, answer)

    def _compare(self, cond: Condition, actual: Floats) -> Bools:
        np = self.np
        target = cond.value if cond.value is not None else float("nan")
        known = ~np.isnan(actual)
        compare: dict[str | None, Callable[[Floats], Bools]] = {
            ">": lambda a: a > target,
            ">=": lambda a: a >= target,
            "<": lambda a: a < target,
            "<=": lambda a: a <= target,
            "==": lambda a: a == target,
            "!=": lambda a: a != target,
        }
        with np.errstate(invalid="ignore"):
            holds: Bools = known & compare[cond.op](actual)
        return holds

    # -- writing -----------------------------------------------------------------------

    def run(
        self,
        rows: Sequence[RowJob],
        stats: CohortStats,
        scores: Any,
        errors: Any,
        per_row: Callable[[RowJob], dict[str, Any]],
    ) -> None:
        """Score ``rows``, writing lines to the csv writers and counting into ``stats``.

        ``per_row`` is the per-row path (it returns the row's record) for the rows
        this path does not take.
        """
        inst = self.instrument
        scored = self.score(rows)
        ok: list[bool] = scored["ok"].tolist()
        fast_rows = [row for row, good in zip(rows, ok, strict=True) if good]
        keys: list[tuple[int, int]] = list(
            zip(scored["critical_unanswered"].tolist(), scored["flags"].tolist(), strict=True)
        )
        flag_ids = self._flag_ids(set(keys))
        lines = self._lines(fast_rows, scored, [flag_ids[k] for k in keys])
        self._count(stats, fast_rows, scored, keys, flag_ids)
        if all(ok):
            scores.writerows(lines)
            return
        fast = iter(lines)
        for row, good in zip(rows, ok, strict=True):
            if good:
                scores.writerow(next(fast))
                continue
            record = per_row(row)
            stats.add(record)
            if "error" in record:
                from psyq.batch.tables import errors_line

                errors.writerow(errors_line(record))
            else:
                from psyq.batch.tables import scores_line

                scores.writerow(scores_line(inst, record))

    def _flag_ids(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], list[str]]:
        """(unanswered critical items, rule bits) -> the record's flag ids, as the
        per-row path orders them: critical first (unanswered items, then rules),
        then warnings, then information, each in definition order."""
        out = {}
        for unanswered, mask in keys:
            ordered = sorted(self._held(mask), key=lambda rule: LEVELS.index(rule.level))
            out[unanswered, mask] = [CRITICAL_ITEM_FLAG] * unanswered + [r.id for r in ordered]
        return out

    def _lines(
        self, rows: Sequence[RowJob], scored: dict[str, Any], row_flags: list[list[str]]
    ) -> list[tuple[str, ...]]:
        columns: list[Iterable[str]] = [
            [str(row[0]) for row in rows],
            [neutralise(row[1]) for row in rows],
            [neutralise(row[2]) for row in rows],
        ]
        for scale in self.instrument.scales:
            objects = scored["values"][scale.id]
            cells: dict[Any, tuple[str, str]] = {}
            for value in set(objects):
                band = scale.band_for(value) if value is not None else None
                cells[value] = (format_value(value, scale.decimals), band.id if band else "")
            pairs = [cells[v] for v in objects]
            columns.append([p[0] for p in pairs])
            columns.append([p[1] for p in pairs])
            if scale.missing.prorate:
                marks: list[bool] = scored["prorated"][scale.id].tolist()
                columns.append([prorated_cell(v, m) for v, m in zip(objects, marks, strict=True)])
        joined: dict[int, str] = {}
        texts = []
        for ids in row_flags:  # rows with the same flags share one list: join it once
            text = joined.get(id(ids))
            if text is None:
                text = joined[id(ids)] = ";".join(ids)
            texts.append(text)
        columns.append(texts)
        columns.append([""] * len(rows))
        return list(zip(*columns, strict=True))

    def _count(
        self,
        stats: CohortStats,
        rows: Sequence[RowJob],
        scored: dict[str, Any],
        keys: list[tuple[int, int]],
        flag_ids: dict[tuple[int, int], list[str]],
    ) -> None:
        """What :meth:`CohortStats.add` would count for every fast row, in bulk."""
        from collections import Counter

        inst = self.instrument
        n = len(rows)
        stats.rows += n
        stats.scored += n
        values: dict[str, list[Any]] = scored["values"]
        for scale in inst.scales:
            bands: Counter[str] = Counter()
            for value, count in Counter(values[scale.id]).items():
                band = scale.band_for(value) if value is not None else None
                if band is not None or value is None:
                    bands[band.id if band else ""] += count
            if bands:
                stats.bands.setdefault(scale.id, Counter()).update(bands)
        totals = values.get("total", [None] * n)
        stats.totals.update(v for v in totals if v is not None)
        flagged = [bool(flag_ids[key]) for key in keys]
        stats.flagged_count += sum(flagged)
        # Listed respondents: every flagged one, and the LISTED highest others; keys
        # are unique, so keeping these (in row order) keeps what add() would keep.
        critical = {
            key: bool(key[0]) or any(r.level == "critical" for r in self._held(key[1]))
            for key in set(keys)
        }
        # Highest total first, then earliest row: sorted by (-total, row) in numpy.
        np = self.np
        total_floats = scored["numeric"].get("total", np.full(n, np.nan))
        order_by = np.where(np.isnan(total_floats), np.inf, -total_floats)
        numbers = np.fromiter((row[0] for row in rows), dtype=np.int64, count=n)
        unflagged = np.flatnonzero(~np.asarray(flagged, dtype=bool))
        ranked = np.lexsort((numbers[unflagged], order_by[unflagged]))
        others = unflagged[ranked[:LISTED]].tolist()
        # Flagged ones are kept critical first, then earliest: only these can stay.
        is_flagged = np.flatnonzero(np.asarray(flagged, dtype=bool))
        not_critical = np.asarray([not critical[keys[k]] for k in is_flagged.tolist()], dtype=bool)
        flagged_rows = is_flagged[np.lexsort((is_flagged, not_critical))][:LISTED_FLAGGED].tolist()
        listed = sorted(flagged_rows + others)
        total_scale = inst.total
        labels: dict[Any, str] = {}
        for k in listed:
            total = totals[k]
            if total not in labels:
                band = total_scale.band_for(total) if total is not None else None
                labels[total] = _band_label(inst, band.id if band else None)
            stats._keep(
                {
                    "row": rows[k][0],
                    "client_id": rows[k][1],
                    "date": rows[k][2],
                    "total": total,
                    "band": labels[total],
                    "flags": list(flag_ids[keys[k]]),
                    "critical": critical[keys[k]],
                }
            )

    def _held(self, mask: int) -> list[Any]:
        return [rule for k, rule in enumerate(self.instrument.flags) if mask >> k & 1]


LEVELS = ("critical", "warning", "info")


_PLAIN = {str, type(None)}


def _cell(value: Any, table: dict[Any, float]) -> float:
    """A JSON cell's answer, or infinity when the per-row path must word it."""
    if value.__class__ is bool:  # True == 1, but is not an answer
        return float("inf")
    try:
        return table.get(value, float("inf"))
    except TypeError:  # an unhashable cell (a JSON list): the per-row path says why
        return float("inf")


def _date_ok(text: str) -> bool:
    """Whether the per-row path accepts the date (its error wording stays its own)."""
    from psyq.batch.worker import parse_date

    try:
        parse_date(text, "")
    except PsyqError:
        return False
    return True
