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
  proration, linear transforms, bands (and bands by the client's sex,
  ``client_bands``, from each row's ``sex``), answers that count as missing,
  item skip rules (an unanswered item the form skips scores the rule's
  value), critical items, and every flag condition of the format (item, items,
  missing, scale, count, any, all). Any other field with a value
  that is set (a format feature added later) sends the instrument down the
  per-row path;
* a row whose cells are not plain allowed answers or missing tokens, or that
  has a reading problem, an empty client id, a bad date or a sex psyq does not
  know, is scored by the per-row path, which words its error exactly as always.

Rounding (half up, via :func:`psyq.models.round_half_up`), banding and cell
formatting run once per distinct value, not once per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from psyq.answers import MISSING_TOKENS
from psyq.batch.cohort import LISTED, LISTED_FLAGGED, CohortStats, _band_label
from psyq.batch.tables import beside_alert_cell, format_value, notices_cell, prorated_cell
from psyq.errors import PsyqError
from psyq.models import CRITICAL_ITEM_FLAG, Condition, Instrument, round_half_up
from psyq.results import flag_items_cell, flag_levels_cell
from psyq.scoring import STAGES
from psyq.spreadsheet import neutralise

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from psyq.manager import PsyqPluginManager

    Floats: TypeAlias = npt.NDArray[np.float64]
    Ints: TypeAlias = npt.NDArray[np.int64]
    Bools: TypeAlias = npt.NDArray[np.bool_]

RowJob = tuple[int, str, str, str, tuple[Any, ...], str | None]
Key = tuple[int, ...]
"""A row's flags: (unanswered critical item bits, rule bits, each rule's item bits)."""

METHODS = ("sum", "mean")
MAX_FLAGS = 62  # flag sets are packed into one int64 per row
MAX_ITEMS = 63  # so are the items that raised a flag (bit k = item k)

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
        "client_bands",  # bands by each row's sex
        "bands_source",  # a citation: not scoring
    },
    "client_bands": {"client", "bands", "clinical_cutoff", "source"},
    "missing": {"max_missing", "min_answered", "prorate", "source"},  # source: a citation
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
        for group in scale.get("client_bands") or []:
            checks.append(_unknown("client_bands", group, f"{where}: client_bands"))
            checks += [_unknown("band", b, f"{where}: client_bands") for b in group["bands"]]
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
    if len(data["items"]) > MAX_ITEMS:
        checks.append(f"more than {MAX_ITEMS} items")
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

    def score(
        self, rows: Sequence[RowJob], sexes: Mapping[int, str] | None = None
    ) -> dict[str, Any]:
        """Everything the writer needs for ``rows``, computed column by column."""
        np = self.np
        inst = self.instrument
        given, ok = self._answers(rows)
        clients = self._clients(rows, sexes or {}, ok)
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
            # A row with no item answered divides 0 by 0 here (weights of a mean or a
            # prorated sum are above 0): the rule leaves it unscored, masked below.
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
        unanswered = np.zeros(n, dtype=np.int64)  # bit k: critical item k unanswered
        for k, item in enumerate(self.items):
            if item.critical:
                unanswered |= np.isnan(answers[:, k]).astype(np.int64) << k
        triggers = [  # per flag rule: bit k when item k's answer raised it
            np.where(
                self._holds(rule.when, answers, numeric), self._bits(rule.when, answers, numeric), 0
            )
            for rule in inst.flags
        ]
        return {
            "triggers": triggers,
            "ok": ok,
            "values": scale_values,
            "numeric": numeric,
            "prorated": prorated,
            "flags": flags,
            "critical_unanswered": unanswered,
            "clients": [c for c, good in zip(clients, ok.tolist(), strict=True) if good],
        }

    def _clients(self, rows: Sequence[RowJob], sexes: Mapping[int, str], ok: Bools) -> list[str]:
        """Each row's sex as the per-row path reads it for ``client_bands`` (``""``:
        not known); a row whose sex psyq does not know is left to the per-row path,
        which words its error."""
        if not (sexes and self.instrument.client_attributes):
            return [""] * len(rows)
        from psyq.clients import known_attributes

        read: dict[str, str | None] = {}
        out = []
        for k, row in enumerate(rows):
            raw = sexes.get(row[0], "")
            if raw not in read:
                try:
                    read[raw] = known_attributes({"sex": raw}).get("sex", "") if raw else ""
                except PsyqError:
                    read[raw] = None
            sex = read[raw]
            if sex is None:
                ok[k] = False
            out.append(sex or "")
        return out

    def _band(self, scale: Any, value: Any, sex: str) -> Any:
        """The band of ``value`` for a client of ``sex`` (``""``: not known)."""
        if value is None:
            return None
        return scale.band_for(value, {"sex": sex} if sex else None)

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

    def _bits(self, cond: Condition, answers: Floats, numeric: dict[str, Floats]) -> Ints:
        """Per row, bit k set when item k's answer makes ``cond`` hold (where it holds),
        as :func:`psyq.plugins.scoring_stages.triggering_items` picks them."""
        np = self.np
        bits: Ints = np.zeros(answers.shape[0], dtype=np.int64)
        if cond.any is not None or cond.all is not None:
            for sub in cond.any or cond.all or []:
                part = self._bits(sub, answers, numeric)
                if cond.any is not None:
                    part = np.where(self._holds(sub, answers, numeric), part, 0)
                bits |= part
        elif cond.count is not None:
            if cond.at_least is not None:
                for sub in cond.count:
                    for item_id in sub.item_ids:
                        k = self.index[item_id]
                        bits |= self._meets(sub, answers[:, k]).astype(np.int64) << k
        elif cond.scale is None:
            for item_id in cond.item_ids:
                k = self.index[item_id]
                bits |= self._meets(cond, answers[:, k]).astype(np.int64) << k
        return bits

    def _count_holds(self, cond: Condition, answers: Floats) -> Bools:
        np = self.np
        n = answers.shape[0]
        # An item counts once, when it meets any of the tests that list it (a skip
        # rule's count may list an item twice: the validator refuses that in flags only).
        meeting: dict[str, Bools] = {}
        for sub in cond.count or []:
            for item_id in sub.item_ids:
                meets = self._meets(sub, answers[:, self.index[item_id]])
                if item_id in meeting:
                    meets = meets | meeting[item_id]
                meeting[item_id] = meets
        met = np.zeros(n, dtype=np.int64)
        among: Bools = np.zeros(n, dtype=bool)
        for item_id, meets in meeting.items():
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
        sexes: Mapping[int, str] | None = None,
    ) -> None:
        """Score ``rows``, writing lines to the csv writers and counting into ``stats``.

        ``per_row`` is the per-row path (it returns the row's record) for the rows
        this path does not take; ``sexes`` maps a row number to its ``sex`` cell.
        """
        inst = self.instrument
        scored = self.score(rows, sexes)
        ok: list[bool] = scored["ok"].tolist()
        fast_rows = [row for row, good in zip(rows, ok, strict=True) if good]
        keys = self._keys(scored)
        flag_ids = self._flag_ids(set(keys))
        flag_items = self._flag_items(set(keys))
        flag_levels = self._flag_levels(set(keys))
        critical = {key: self._critical(key) for key in set(keys)}
        lines = self._lines(
            fast_rows,
            scored,
            [flag_ids[k] for k in keys],
            [flag_items[k] for k in keys],
            [flag_levels[k] for k in keys],
            [critical[k] for k in keys],
        )
        self._count(stats, fast_rows, scored, keys, flag_ids, critical)
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
            elif not record.get("skipped"):  # another form's row (inputs.NOT_THIS_FORM)
                from psyq.batch.tables import scores_line

                scores.writerow(scores_line(inst, record))

    def _keys(self, scored: dict[str, Any]) -> list[Key]:
        """Per row: (unanswered critical item bits, rule bits, each rule's item bits).

        Rows with the same key have the same flags and flag items; keys are found
        with one ``np.unique`` and shared, so each is worded once."""
        np = self.np
        matrix = np.column_stack(
            [scored["critical_unanswered"], scored["flags"], *scored["triggers"]]
        )
        if matrix.shape[0] == 0:
            return []
        unique, inverse = np.unique(matrix, axis=0, return_inverse=True)
        shared = [tuple(row) for row in unique.tolist()]
        return [shared[k] for k in inverse.reshape(-1).tolist()]

    def _ordered(self, key: Key) -> list[tuple[str, list[int]]]:
        """(flag id, item indexes) as the per-row path orders flags: critical first
        (unanswered items, then rules), then warnings, then information, each in
        definition order."""
        unanswered, mask, *triggers = key
        found = [(CRITICAL_ITEM_FLAG, [k]) for k in _set_bits(unanswered)]
        held = [k for k in range(len(self.instrument.flags)) if mask >> k & 1]
        held.sort(key=lambda k: LEVELS.index(self.instrument.flags[k].level))
        found += [(self.instrument.flags[k].id, _set_bits(triggers[k])) for k in held]
        return found

    def _flag_ids(self, keys: Iterable[Key]) -> dict[Key, list[str]]:
        """Key -> the record's flag ids (see :meth:`_ordered`)."""
        return {key: [flag_id for flag_id, _ in self._ordered(key)] for key in keys}

    def _flag_items(self, keys: Iterable[Key]) -> dict[Key, str]:
        """Key -> the ``flag_items`` cell, as :func:`psyq.results.flag_items_cell`."""
        ids = [item.id for item in self.items]
        return {
            key: flag_items_cell(
                (flag_id, [ids[k] for k in items]) for flag_id, items in self._ordered(key)
            )
            for key in keys
        }

    def _flag_levels(self, keys: Iterable[Key]) -> dict[Key, str]:
        """Key -> the ``flag_levels`` cell, as :func:`psyq.results.flag_levels_cell`."""
        levels = {flag.id: flag.level for flag in self.instrument.flags}
        levels[CRITICAL_ITEM_FLAG] = "critical"
        return {
            key: flag_levels_cell((flag_id, levels[flag_id]) for flag_id, _ in self._ordered(key))
            for key in keys
        }

    def _critical(self, key: Key) -> bool:
        """Whether a row of ``key`` raises a critical flag (an unanswered critical item
        or a critical rule)."""
        return bool(key[0]) or any(r.level == "critical" for r in self._held(key[1]))

    def _lines(
        self,
        rows: Sequence[RowJob],
        scored: dict[str, Any],
        row_flags: list[list[str]],
        row_items: list[str],
        row_levels: list[str],
        row_critical: list[bool],
    ) -> list[tuple[str, ...]]:
        columns: list[Iterable[str]] = [
            [str(row[0]) for row in rows],
            [neutralise(row[1]) for row in rows],
            [neutralise(row[2]) for row in rows],
        ]
        clients: list[str] = scored["clients"]
        for scale in self.instrument.scales:
            objects = scored["values"][scale.id]
            cells: dict[tuple[Any, str], tuple[str, str, bool]] = {}
            keys = list(zip(objects, clients, strict=True))
            for value, sex in set(keys):
                band = self._band(scale, value, sex)
                cells[value, sex] = (
                    format_value(value, scale.decimals),
                    band.id if band else "",
                    band is not None and band.low_concern,
                )
            pairs = [cells[key] for key in keys]
            columns.append([p[0] for p in pairs])
            columns.append([p[1] for p in pairs])
            # A band of low concern beside a critical flag: the score's band only.
            columns.append(
                [
                    beside_alert_cell(p[1], p[2] and alert)
                    for p, alert in zip(pairs, row_critical, strict=True)
                ]
            )
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
        columns.append(row_items)
        columns.append(row_levels)
        columns.append([""] * len(rows))
        notices = notices_cell(self.instrument)
        if notices is not None:
            columns.append([neutralise(notices)] * len(rows))
        return list(zip(*columns, strict=True))

    def _count(
        self,
        stats: CohortStats,
        rows: Sequence[RowJob],
        scored: dict[str, Any],
        keys: list[Key],
        flag_ids: dict[Key, list[str]],
        critical: dict[Key, bool],
    ) -> None:
        """What :meth:`CohortStats.add` would count for every fast row, in bulk;
        ``critical``: whether a row of each key raises a critical flag."""
        from collections import Counter

        inst = self.instrument
        n = len(rows)
        stats.rows += n
        stats.scored += n
        values: dict[str, list[Any]] = scored["values"]
        clients: list[str] = scored["clients"]
        for scale in inst.scales:
            bands: Counter[str] = Counter()
            for (value, sex), count in Counter(zip(values[scale.id], clients, strict=True)).items():
                band = self._band(scale, value, sex)
                if band is not None or value is None:
                    bands[band.id if band else ""] += count
            if bands:
                stats.bands.setdefault(scale.id, Counter()).update(bands)
        totals = values.get("total", [None] * n)
        stats.totals.update(v for v in totals if v is not None)
        prorated: dict[str, list[bool]] = {
            sid: [
                bool(p) and v is not None for p, v in zip(marks.tolist(), values[sid], strict=True)
            ]
            for sid, marks in scored["prorated"].items()
        }
        for sid, marks in prorated.items():
            if any(marks):
                stats.prorated[sid] += sum(marks)
        total_prorated = prorated.get("total", [False] * n)
        flagged = [bool(flag_ids[key]) for key in keys]
        stats.flagged_count += sum(flagged)
        # Listed respondents: every flagged one, and the LISTED highest others; keys
        # are unique, so keeping these (in row order) keeps what add() would keep.
        stats.critical_count += sum(critical[key] for key in keys)
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
        labels: dict[tuple[Any, str], str] = {}
        for k in listed:
            total = totals[k]
            if (total, clients[k]) not in labels:
                band = self._band(total_scale, total, clients[k])
                labels[total, clients[k]] = _band_label(inst, band.id if band else None)
            stats._keep(
                {
                    "row": rows[k][0],
                    "client_id": rows[k][1],
                    "date": rows[k][2],
                    "total": total,
                    "prorated": total_prorated[k],
                    "band": labels[total, clients[k]],
                    "flags": list(flag_ids[keys[k]]),
                    "critical": critical[keys[k]],
                }
            )

    def _held(self, mask: int) -> list[Any]:
        return [rule for k, rule in enumerate(self.instrument.flags) if mask >> k & 1]


LEVELS = ("critical", "warning", "info")


def _set_bits(bits: int) -> list[int]:
    """The indexes of the set bits of ``bits``, lowest first."""
    return [k for k in range(bits.bit_length()) if bits >> k & 1]


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
