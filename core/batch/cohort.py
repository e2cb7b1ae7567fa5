"""The cohort summary: counts per band, a distribution chart, flagged respondents first.

:class:`CohortStats` is filled one row record at a time (from the manifest,
in row order), so its memory grows only with the respondents it lists:
every flagged one, and the :data:`LISTED` highest-scoring others.
:func:`render_cohort_html` turns it into an HTML page (template
``templates/cohort_summary.html``) with the chart as inline SVG, which the
``pdf`` format's renderer can print as it is.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from importlib import resources
from typing import Any

from psyq.i18n import N_
from psyq.models import Instrument

LISTED = 200
"""Respondents without a flag listed in the summary (highest totals first); the rest
are in scores.csv."""

LISTED_FLAGGED = 1000
"""Flagged respondents listed (critical first, then by row); the count says how many more."""

SEVERITY_COLOURS = ("#4c9a5b", "#9bbf4d", "#e0b43c", "#e07b39", "#c8423b")

Entry = dict[str, Any]


@dataclass
class CohortStats:
    """Counts and lists for the cohort summary.

    Each worker fills one per chunk with :meth:`add` and sends
    :meth:`to_json`; the parent :meth:`merge` merges them in row order. Memory is
    bounded: counts, plus at most :data:`LISTED_FLAGGED` + :data:`LISTED`
    listed respondents.
    """

    instrument: Instrument
    rows: int = 0
    scored: int = 0
    failed: int = 0
    critical_failed: int = 0  # rows not scored whose errors.csv line names a critical item
    flagged_count: int = 0
    critical_count: int = 0  # scored rows with a critical flag
    skipped: int = 0  # input rows that are not this form's (inputs.NOT_THIS_FORM): no row
    bands: dict[str, Counter[str]] = field(default_factory=dict)
    totals: Counter[float] = field(default_factory=Counter)
    prorated: Counter[str] = field(default_factory=Counter)  # scale id -> prorated scores
    _flagged: list[tuple[tuple[float, ...], Entry]] = field(default_factory=list)
    _others: list[tuple[tuple[float, ...], Entry]] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        """Count one row record (``error``, ``skipped``, or ``values``/``bands``/``flags``)."""
        if record.get("skipped"):  # another form's or event's row: not one of the rows
            self.skipped += 1
            return
        self.rows += 1
        if "error" in record:
            from psyq.alerts import CRITICAL_ITEMS

            self.failed += 1
            # "row N: CRITICAL item ...": the summary says so too, beside "not scored".
            self.critical_failed += f": {CRITICAL_ITEMS}" in record["error"]
            return
        self.scored += 1
        values = record["values"]
        for scale_id, band in record["bands"].items():
            # "" counts unscored respondents; scored ones on a scale without bands
            # are not band counts at all.
            if band or values.get(scale_id) is None:
                self.bands.setdefault(scale_id, Counter())[band or ""] += 1
        total = record["values"].get("total")
        if total is not None:
            self.totals[total] += 1
        prorated = record.get("prorated", {})  # scale id -> prorated (absent: none)
        self.prorated.update(sid for sid, p in prorated.items() if p)
        flags = record["flags"]
        if flags:
            self.flagged_count += 1
            self.critical_count += bool(record["critical"])
        elif len(self._others) >= LISTED and _other_key(total, record["row"]) <= self._others[0][0]:
            return  # would not be listed: skip building its entry (the common case)
        entry = {
            "row": record["row"],
            "client_id": record["client_id"],
            "date": record["date"],
            "total": total,
            "prorated": total is not None and bool(prorated.get("total")),
            "band": _band_label(self.instrument, record["bands"].get("total")),
            "flags": flags,
            "critical": record["critical"],
        }
        self._keep(entry)

    def _keep(self, entry: Entry) -> None:
        # Bounded heaps keep the entries with the largest keys; keys are unique (row).
        if entry["flags"]:
            heap, limit = self._flagged, LISTED_FLAGGED
            key: tuple[float, ...] = (float(entry["critical"]), -entry["row"])
        else:
            heap, limit = self._others, LISTED
            key = _other_key(entry["total"], entry["row"])
        if len(heap) < limit:
            heapq.heappush(heap, (key, entry))
        elif key > heap[0][0]:
            heapq.heapreplace(heap, (key, entry))

    def to_json(self) -> dict[str, Any]:
        """Everything :meth:`merge` needs, as JSON-ready data."""
        return {
            "rows": self.rows,
            "scored": self.scored,
            "failed": self.failed,
            "critical_failed": self.critical_failed,
            "flagged_count": self.flagged_count,
            "critical_count": self.critical_count,
            "skipped": self.skipped,
            "bands": {sid: dict(c) for sid, c in self.bands.items()},
            "totals": [[v, n] for v, n in self.totals.items()],
            "prorated": dict(self.prorated),
            "listed": [e for _, e in self._flagged] + [e for _, e in self._others],
        }

    def merge(self, part: dict[str, Any]) -> None:
        """Add a chunk's :meth:`to_json`."""
        self.rows += part["rows"]
        self.scored += part["scored"]
        self.failed += part["failed"]
        self.critical_failed += part.get("critical_failed", 0)  # absent: an older manifest
        for sid, counts in part["bands"].items():
            self.bands.setdefault(sid, Counter()).update(counts)
        for value, n in part["totals"]:
            self.totals[value] += n
        self.prorated.update(part.get("prorated", {}))
        self.flagged_count += part["flagged_count"]
        self.critical_count += part.get("critical_count", 0)  # absent: an older manifest
        self.skipped += part.get("skipped", 0)
        for entry in part["listed"]:
            self._keep(entry)

    def listed(self) -> list[Entry]:
        """Flagged respondents (critical first, then by row), then the highest other totals."""
        flagged = [e for _, e in sorted(self._flagged, key=lambda k: k[0], reverse=True)]
        others = [e for _, e in sorted(self._others, key=lambda k: k[0], reverse=True)]
        return flagged + others

    @property
    def unlisted_flagged(self) -> int:
        return self.flagged_count - len(self._flagged)

    @property
    def unlisted_others(self) -> int:
        return self.scored - self.flagged_count - len(self._others)

    def band_table(
        self, shown: Instrument | None = None, gettext: Callable[[str], str] = str
    ) -> list[dict[str, Any]]:
        """Per scale, each band in order with its count (and 'not scored'); labels from
        ``shown`` (the instrument in the summary's language) when given."""
        out = []
        words = shown or self.instrument
        for scale, said in zip(self.instrument.scales, words.scales, strict=True):
            counts = self.bands.get(scale.id, Counter())
            if not scale.bands and not counts[""]:
                continue  # nothing to count: no bands, everyone scored
            rows = [
                {"id": b.id, "label": s.label, "severity": b.severity, "count": counts[b.id]}
                for b, s in zip(scale.bands, said.bands, strict=True)
            ]
            if counts[""]:
                rows.append(
                    {"id": "", "label": gettext("not scored"), "severity": 0, "count": counts[""]}
                )
            out.append({"id": scale.id, "label": said.label, "bands": rows})
        return out

    def summary(self) -> dict[str, Any]:
        """The cohort part of ``summary.json``."""
        return {
            "rows": self.rows,
            "scored": self.scored,
            "failed": self.failed,
            "failed_critical": self.critical_failed,
            "flagged": self.flagged_count,
            "critical": self.critical_count,
            # Input rows that hold none of this form's answers and are another form's or
            # event's (a REDCap export's): not in rows, scores.csv or errors.csv.
            "skipped": self.skipped,
            # Scores prorated for missing answers, per scale (scores.csv says which).
            "prorated": {
                s.id: self.prorated[s.id] for s in self.instrument.scales if s.missing.prorate
            },
            "bands": {
                t["id"]: {b["id"] or "not_scored": b["count"] for b in t["bands"]}
                for t in self.band_table()
            },
        }


def _other_key(total: float | None, row: int) -> tuple[float, ...]:
    """Unflagged respondents are listed highest total first, then earliest row."""
    return (total if total is not None else float("-inf"), -row)


def _low_concern_labels(instrument: Instrument) -> frozenset[str]:
    """The labels of the total's bands of low concern (severity 0 or 1), for every client
    group."""
    total = instrument.total
    groups = [total.bands, *(group.bands for group in total.client_bands)]
    return frozenset(band.label for bands in groups for band in bands if band.low_concern)


def _band_words(instrument: Instrument, shown: Instrument) -> dict[str, str]:
    """The total's band labels -> those of ``shown``, the same instrument in another
    language (the same bands, in the same order)."""
    if shown is instrument:
        return {}
    # Listed bands are named by the total's own bands (_band_label).
    pairs = zip(instrument.total.bands, shown.total.bands, strict=True)
    return {band.label: said.label for band, said in pairs}


def _band_label(instrument: Instrument, band_id: str | None) -> str:
    if band_id is None:
        return ""
    for band in instrument.total.bands:
        if band.id == band_id:
            return band.label
    return band_id


def distribution_svg(
    stats: CohortStats,
    width: int = 640,
    height: int = 220,
    gettext: Callable[[str], str] = str,
    label: str | None = None,
) -> str:
    """A bar chart of the total score, one bar per possible value, coloured by band;
    ``gettext`` and ``label`` (the total's label): in the summary's language."""
    inst = stats.instrument
    total = inst.total
    named = escape(total.label if label is None else label)
    described = gettext("%(scale)s distribution") % {"scale": named}
    axis = gettext("%(scale)s score") % {"scale": named}
    lo, hi = inst.bounds("total")
    step = 10.0 ** (-total.decimals)
    values: list[float] = []
    x = lo
    while x <= hi + 1e-9 and len(values) <= 200:
        values.append(round(x, total.decimals))
        x += step
    if len(values) > 200:  # a fine-grained scale: chart the values that occurred
        values = sorted(stats.totals)
    peak = max((stats.totals[v] for v in values), default=0) or 1
    left, bottom, top = 40, 30, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    bar_w = plot_w / max(1, len(values))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{described}">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#333"/>',
        f'<text x="4" y="{top + 10}" font-size="10">{peak}</text>',
        f'<text x="4" y="{top + plot_h}" font-size="10">0</text>',
    ]
    label_every = max(1, len(values) // 14)
    for k, value in enumerate(values):
        count = stats.totals[value]
        h = plot_h * count / peak
        band = total.band_for(value)
        colour = SEVERITY_COLOURS[min(band.severity, 4)] if band else "#888"
        bx = left + k * bar_w
        parts.append(
            f'<rect x="{bx + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{value:g}: {count}</title></rect>'
        )
        if k % label_every == 0:
            parts.append(
                f'<text x="{bx + bar_w / 2:.1f}" y="{top + plot_h + 14}" font-size="9" '
                f'text-anchor="middle">{value:g}</text>'
            )
    parts.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 2}" font-size="10" '
        f'text-anchor="middle">{axis}</text></svg>'
    )
    return "".join(parts)


LISTING_COLUMNS = (N_("row"), N_("client"), N_("date"), N_("total"), N_("band"), N_("flags"))
WIDEST = 24
"""Cells are padded to their column's widest value, up to this many characters."""


def listing_lines(
    listed: list[Entry],
    low_concern: frozenset[str] = frozenset(),
    gettext: Callable[[str], str] = str,
) -> list[tuple[str, str]]:
    """The respondents list as (CSS class, line of text in aligned columns).

    One monospace line per respondent, not a table: WeasyPrint lays out a line
    in a fraction of the time of six table cells, which makes the summary PDF of
    a large cohort (1,200 listed respondents) about six times faster. Critical
    and flagged respondents keep their highlighted rows. A band of low concern
    (``low_concern``: the labels of the total's bands of low concern) on a critical row is
    said to be the score's band only (:func:`psyq.results.band_shown`).
    """
    from psyq.results import band_shown

    said = gettext
    prorated = gettext("prorated")
    names = [gettext(name) for name in LISTING_COLUMNS]
    cells = [
        [
            str(e["row"]),
            str(e["client_id"]),
            str(e["date"]),
            ""
            if e["total"] is None
            else f"{e['total']}{' ' + prorated if e.get('prorated') else ''}",
            band_shown(str(e["band"]), bool(e["critical"]) and e["band"] in low_concern, said)
            or "",
            ", ".join(e["flags"]),
        ]
        for e in listed
    ]
    widths = [
        min(WIDEST, max([len(name)] + [len(row[k]) for row in cells]))
        for k, name in enumerate(names)
    ]
    right = {0, 3}  # numbers align right

    def line(row: list[str]) -> str:
        padded = [
            cell.rjust(widths[k]) if k in right else cell.ljust(widths[k])
            for k, cell in enumerate(row[:-1])
        ]
        return "  ".join([*padded, row[-1]])

    out = [("head", line(names))]
    for entry, row in zip(listed, cells, strict=True):
        kind = "critical" if entry["critical"] else ("flagged" if entry["flags"] else "")
        out.append((kind, line(row)))
    return out


def render_cohort_html(
    stats: CohortStats,
    *,
    source: str,
    generated_at: datetime,
    errors: int,
    shown: Instrument | None = None,
    language: str | None = None,
) -> str:
    """The cohort summary page as HTML (UTF-8 text); with ``shown`` (the instrument in
    ``language``, ``psyq batch --language``) its texts and psyq's words in that language."""
    # Imported here: only batch summaries need them, and `psyq list` stays light.
    import jinja2
    from markupsafe import Markup

    from psyq.i18n import ui_language
    from psyq.models import PROVISIONAL_NOTICE

    ui = ui_language(language)
    _ = ui.gettext
    inst = shown or stats.instrument
    # Each listed respondent's band was named as scored (English): said in ``inst``'s words.
    said = _band_words(stats.instrument, inst)
    listed = [{**e, "band": said.get(e["band"], e["band"])} for e in stats.listed()]

    template_text = (resources.files("psyq.templates") / "cohort_summary.html").read_text("utf-8")
    from psyq.compiled_templates import compile_template

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = compile_template(env, template_text)
    return template.render(
        _=_,
        lang=ui.language,
        dir=ui.direction,
        instrument=inst,
        notices=[_(n) if n == PROVISIONAL_NOTICE else n for n in inst.notices],
        source=source,
        generated_at=generated_at.strftime("%Y-%m-%d %H:%M %Z").strip(),
        stats=stats,
        band_table=stats.band_table(inst, _),
        # Built from numbers and escaped labels.
        chart=Markup(distribution_svg(stats, gettext=_, label=inst.total.label)),
        listed=listed,
        listing=listing_lines(listed, _low_concern_labels(inst), _),
        unlisted=stats.unlisted_others,
        unlisted_flagged=stats.unlisted_flagged,
        errors=errors,
        colours=SEVERITY_COLOURS,
    )
