"""Chart geometry for reports: band charts, the subscale profile and the trend chart.

The functions here compute positions and colours only; the SVG markup lives in
the report templates, so every label reaches the page through Jinja2's
autoescaping. Colours come from a band's ``severity`` (0 = no concern ... 4 =
most concern), never from its position on the axis, so on a higher-is-better
scale such as the WHO-5 the low end is the red one.

Change between administrations comes from :func:`psyq.change.compare`, the one
place it is computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from psyq.change import Change, compare, outcome
from psyq.i18n import N_
from psyq.models import Band, Instrument, Scale

# Fill (light) and ink (strong) colours by severity; chosen to stay distinct
# when printed in grey scale (lightness falls as concern rises).
SEVERITY_FILL = ("#cde9cf", "#e9efb8", "#fddc9a", "#f9b98c", "#f29b9b")
SEVERITY_INK = ("#1b5e20", "#5b6300", "#8a5300", "#a23b05", "#9f1616")
NEUTRAL_FILL = "#e3e6ea"
NEUTRAL_INK = "#37474f"
IMPROVEMENT_INK = "#1b5e20"
DETERIORATION_INK = "#9f1616"

BAND_WIDTH = 600.0
BAND_LEFT = 12.0
BAND_RIGHT = 588.0


def fill_for(band: Band | None) -> str:
    return NEUTRAL_FILL if band is None else SEVERITY_FILL[band.severity]


def ink_for(band: Band | None) -> str:
    return NEUTRAL_INK if band is None else SEVERITY_INK[band.severity]


def format_value(scale: Scale, value: float | None) -> str:
    """A score as the manual prints it: the scale's decimals, '-' when unscored."""
    if value is None:
        return "-"
    return f"{value:.{scale.decimals}f}"


def band_edges(scale: Scale, lo: float, hi: float) -> list[tuple[Band, float, float]]:
    """Each band's drawn extent on a continuous axis from ``lo`` to ``hi``.

    Adjacent bands meet halfway between one band's ``max`` and the next one's
    ``min`` (4 | 5 meet at 4.5), so a score on a boundary sits inside its band.
    """
    bands = sorted(scale.bands, key=lambda b: b.min)
    out: list[tuple[Band, float, float]] = []
    for i, band in enumerate(bands):
        start = lo if i == 0 else (bands[i - 1].max + band.min) / 2
        end = hi if i == len(bands) - 1 else (band.max + bands[i + 1].min) / 2
        out.append((band, max(start, lo), min(end, hi)))
    return out


# Average advance of a DejaVu Sans character, in ems (bold is wider), and the room kept
# free at each end of a band: enough that a label never runs into its neighbour.
_EM_PER_CHAR = 0.62
_EM_PER_BOLD_CHAR = 0.68
_LABEL_PADDING = 4.0


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    fill: str
    ink: str
    label: str
    current: bool

    @property
    def label_size(self) -> int:
        """Font size at which the band's label fits inside its segment (10 or 8), or 0:
        the label is left out rather than cut off or printed over the next band (the
        caption and the scores table name the client's band)."""
        per_char = _EM_PER_BOLD_CHAR if self.current else _EM_PER_CHAR
        room = self.width - 2 * _LABEL_PADDING
        for size in (10, 8):
            if self.label and len(self.label) * per_char * size <= room:
                return size
        return 0


@dataclass(frozen=True)
class Tick:
    x: float
    text: str


@dataclass(frozen=True)
class BandChart:
    """One scale's score on its coloured bands (``viewBox`` 600 x 64)."""

    segments: list[Segment]
    ticks: list[Tick]
    marker_x: float | None
    value_text: str
    marker_ink: str
    direction_text: str


def band_chart(instrument: Instrument, scale: Scale, value: float | None) -> BandChart:
    lo, hi = instrument.bounds(scale.id)
    span = (hi - lo) or 1.0

    def x_of(v: float) -> float:
        return BAND_LEFT + (v - lo) / span * (BAND_RIGHT - BAND_LEFT)

    current = scale.band_for(value) if value is not None else None
    segments: list[Segment] = []
    ticks = [Tick(x_of(lo), f"{lo:g}")]
    if scale.bands:
        for band, start, end in band_edges(scale, lo, hi):
            segments.append(
                Segment(
                    x=x_of(start),
                    width=max(x_of(end) - x_of(start), 0.0),
                    fill=fill_for(band),
                    ink=ink_for(band),
                    label=band.label,
                    current=band is current,
                )
            )
            if band.min > lo:
                ticks.append(Tick(x_of(band.min), f"{band.min:g}"))
    else:
        segments.append(
            Segment(BAND_LEFT, BAND_RIGHT - BAND_LEFT, NEUTRAL_FILL, NEUTRAL_INK, "", False)
        )
    ticks.append(Tick(x_of(hi), f"{hi:g}"))
    direction = N_("higher = more concern") if scale.higher_is_worse else N_("higher = better")
    return BandChart(
        segments=segments,
        ticks=_spread(ticks, min_gap=22.0),
        marker_x=None if value is None else x_of(min(max(value, lo), hi)),
        value_text=format_value(scale, value),
        marker_ink=ink_for(current),
        direction_text=direction,
    )


def _spread(ticks: list[Tick], min_gap: float) -> list[Tick]:
    """Drop tick labels that would overprint their left neighbour (keep both ends)."""
    kept: list[Tick] = []
    for i, tick in enumerate(ticks):
        if kept and tick.x - kept[-1].x < min_gap:
            if i == len(ticks) - 1:
                kept[-1] = tick
            continue
        kept.append(tick)
    return kept


@dataclass(frozen=True)
class ProfileRow:
    label: str
    y: float
    bar_width: float
    value_text: str
    fill: str
    ink: str
    scored: bool
    is_total: bool


@dataclass(frozen=True)
class ProfileChart:
    """Every scale of a multi-scale instrument on one axis (``viewBox`` 600 x height)."""

    rows: list[ProfileRow]
    ticks: list[Tick]
    left: float
    right: float
    height: float
    common_range: str
    caption: str = ""
    """What the bars show, true for this instrument (mean or sum, which scales have bands)."""


PROFILE_LEFT = 210.0
PROFILE_RIGHT = 548.0
PROFILE_ROW = 26.0


def profile_chart(
    instrument: Instrument,
    values: dict[str, float | None],
    gettext: Callable[[str], str] = str,
) -> ProfileChart | None:
    """A bar per scale; ``None`` unless there are at least two subscales.

    One subscale beside the total (PHQ-9's PHQ-2 screen, the K10's K6) is no
    profile: its score and band are in the scores table already. Bars share one
    axis when every scale has the same possible range (CCTS: 0-4); otherwise each
    bar is drawn as a share of its own range.
    """
    if len(instrument.scales) < 3:
        return None
    ranges = {instrument.bounds(s.id) for s in instrument.scales}
    common = next(iter(ranges)) if len(ranges) == 1 else None
    # Subscales first, the total last, as clinicians read a profile.
    scales = [s for s in instrument.scales if s.id != "total"] + [instrument.total]
    rows: list[ProfileRow] = []
    width = PROFILE_RIGHT - PROFILE_LEFT
    for i, scale in enumerate(scales):
        lo, hi = instrument.bounds(scale.id)
        value = values.get(scale.id)
        share = 0.0 if value is None else (value - lo) / ((hi - lo) or 1.0)
        band = scale.band_for(value) if value is not None else None
        rows.append(
            ProfileRow(
                label=scale.label,
                y=10.0 + i * PROFILE_ROW,
                bar_width=max(0.0, min(share, 1.0)) * width,
                value_text=format_value(scale, value) if value is not None else "not scored",
                fill=fill_for(band) if band else "#9fb3c8",
                ink=ink_for(band),
                scored=value is not None,
                is_total=scale.id == "total",
            )
        )
    ticks: list[Tick] = []
    if common is not None:
        lo, hi = common
        step = _nice_step(hi - lo)
        v = lo
        while v <= hi + 1e-9:
            ticks.append(Tick(PROFILE_LEFT + (v - lo) / ((hi - lo) or 1.0) * width, f"{v:g}"))
            v += step
    return ProfileChart(
        rows=rows,
        ticks=ticks,
        left=PROFILE_LEFT,
        right=PROFILE_RIGHT,
        height=10.0 + len(rows) * PROFILE_ROW + 18.0,
        common_range=f"{common[0]:g}-{common[1]:g}" if common else "",
        caption=_profile_caption(scales, common, gettext),
    )


def _profile_caption(
    scales: list[Scale], common: tuple[float, float] | None, gettext: Callable[[str], str]
) -> str:
    """Says what the bars are for this instrument (CCTS: means on 0-4 without bands;
    DASS-21: sums x 2, banded subscales, an unbanded total), in the report's language."""
    means = all(s.method == "mean" for s in scales)
    if common is not None:
        on_common = (
            gettext("Each bar is a scale's mean item score on the common %(low)s-%(high)s range")
            if means
            else gettext("Each bar is a scale's score on the common %(low)s-%(high)s range")
        )
        what = on_common % {"low": f"{common[0]:g}", "high": f"{common[1]:g}"}
    elif means:
        what = gettext("Each bar is a scale's mean item score as a share of its own range")
    else:
        what = gettext("Each bar is a scale's score as a share of its own range")
    banded = [s for s in scales if s.bands]
    if not banded:
        colour = gettext("no scale has bands")
    elif len(banded) == len(scales):
        colour = gettext("each bar is coloured by its band")
    else:
        names = ", ".join(s.label for s in banded)
        colour = gettext(
            "bars with bands (%(names)s) are coloured by their band; the others have none"
        ) % {"names": names}
    return gettext("%(what)s; higher means more of what it measures; %(colour)s.") % {
        "what": what,
        "colour": colour,
    }


def _nice_step(span: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 20, 25, 50, 100):
        if span / step <= 10:
            return float(step)
    return span / 10


@dataclass(frozen=True)
class TrendPoint:
    x: float
    y: float
    when: date
    value_text: str
    current: bool
    reliable: bool
    ink: str
    date_label: bool
    critical: bool = False  # a critical flag was raised at this administration


@dataclass(frozen=True)
class TrendBand:
    y: float
    height: float
    fill: str
    label: str
    label_y: float


@dataclass(frozen=True)
class ChangeLine:
    """One line under the trend chart: change from an earlier administration."""

    label: str
    since: date
    delta_text: str
    change: Change


@dataclass(frozen=True)
class TrendChart:
    """Past scores of one scale over time (``viewBox`` 600 x 136)."""

    scale_label: str
    bands: list[TrendBand]
    points: list[TrendPoint]
    polyline: str
    y_ticks: list[Tick]
    left: float
    right: float
    top: float
    bottom: float
    changes: list[ChangeLine] = field(default_factory=list)
    criterion: str = ""
    outcome: str = ""  # response / remission against the first administration
    any_critical: bool = False
    # The current form is shown beside a critical flag (its own or one from elsewhere):
    # an improvement or no change is the total's only, said so beside the alert.
    beside_alert: bool = False


TREND_LEFT, TREND_RIGHT, TREND_TOP, TREND_BOTTOM = 44.0, 500.0, 16.0, 118.0


def trend_chart(
    instrument: Instrument,
    scale: Scale,
    series: list[tuple[date, float | None]],
    critical: list[bool] | None = None,
    alert: bool = False,
    gettext: Callable[[str], str] = str,
) -> TrendChart | None:
    """The trend of ``scale`` over ``series`` (oldest first, current last).

    Unscored administrations are left out. A point is marked when its change
    from the previous plotted point is reliable (:func:`psyq.change.compare`),
    and ``critical[i]`` marks the administrations that raised a critical flag.
    ``alert``: the report shows a critical flag of a later form, so, as beside the
    current one's, no remission is claimed.
    ``gettext``: the report's language for the criterion and outcome sentences.
    Returns ``None`` when fewer than two scored administrations remain.
    """
    marks = critical if critical is not None else [False] * len(series)
    flagged = [c for (_, v), c in zip(series, marks, strict=True) if v is not None]
    scored = [(when, v) for when, v in series if v is not None]
    if len(scored) < 2:
        return None
    lo, hi = instrument.bounds(scale.id)
    span = (hi - lo) or 1.0

    def y_of(v: float) -> float:
        return TREND_BOTTOM - (v - lo) / span * (TREND_BOTTOM - TREND_TOP)

    first_day, last_day = scored[0][0].toordinal(), scored[-1][0].toordinal()
    days = last_day - first_day
    width = TREND_RIGHT - TREND_LEFT - 20.0

    def x_of(i: int, when: date) -> float:
        # Spaced by date, so a long gap looks long; evenly when all share a day.
        frac = (when.toordinal() - first_day) / days if days else i / (len(scored) - 1)
        return TREND_LEFT + 10.0 + frac * width

    bands = []
    for band, start, end in band_edges(scale, lo, hi) if scale.bands else []:
        top, bottom = y_of(end), y_of(start)
        bands.append(TrendBand(top, bottom - top, fill_for(band), band.label, (top + bottom) / 2))
    xs = [x_of(i, when) for i, (when, _) in enumerate(scored)]
    labelled = _date_labels(xs)
    points: list[TrendPoint] = []
    previous: float | None = None
    for i, (when, value) in enumerate(scored):
        change = compare(scale, previous, value) if previous is not None else None
        reliable = bool(change and change.reliable)
        ink = NEUTRAL_INK
        if reliable and change is not None:
            ink = IMPROVEMENT_INK if change.direction == "improvement" else DETERIORATION_INK
        last = i == len(scored) - 1
        points.append(
            TrendPoint(
                x=xs[i],
                y=y_of(value),
                when=when,
                value_text=format_value(scale, value),
                current=last,
                reliable=reliable,
                ink=ink,
                date_label=i in labelled,
                critical=flagged[i],
            )
        )
        previous = value
    current = scored[-1][1]
    changes: list[ChangeLine] = []
    for label, (when, earlier) in (("previous", scored[-2]), ("first", scored[0])):
        if label == "first" and len(scored) < 3:
            break
        change = compare(scale, earlier, current)
        if change is not None:
            changes.append(ChangeLine(label, when, signed(change.delta, scale.decimals), change))
    rc = scale.reliable_change
    if rc is None:
        criterion = gettext("This scale declares no reliable-change criterion.")
    else:
        text = rc.describe(scale.decimals, gettext)
        criterion = text[:1].upper() + text[1:] + "."
    result = outcome(scale, scored[0][1], current)
    outcome_text = ""
    if result is not None and scale.outcomes is not None:
        rule = scale.outcomes
        parts = []
        if result.response is not None:
            parts.append(
                gettext("response (a drop of %(percent)s %% or more from %(first)s): %(answer)s")
                % {
                    "percent": f"{rule.response_percent:g}",
                    "first": format_value(scale, scored[0][1]),
                    "answer": gettext("yes") if result.response else gettext("no"),
                }
            )
        below = "" if rule.remission_below is None else f"{rule.remission_below:g}"
        if result.remission and (marks[-1] or alert):  # no reassurance beside a risk signal
            parts.append(
                gettext(
                    "remission (below %(below)s): not claimed: the total is below "
                    "%(below)s, but a critical flag is raised"
                )
                % {"below": below}
            )
        elif result.remission is not None:
            parts.append(
                gettext("remission (below %(below)s): %(answer)s")
                % {
                    "below": below,
                    "answer": gettext("yes") if result.remission else gettext("no"),
                }
            )
        if parts:
            outcome_text = (
                gettext("Since the first administration (%(date)s):")
                % {"date": scored[0][0].isoformat()}
                + " "
                + "; ".join(parts)
                + "."
            )
    step = _nice_step(span)
    y_ticks = []
    v = lo
    while v <= hi + 1e-9:
        y_ticks.append(Tick(y_of(v), f"{v:g}"))
        v += step * 2 if span / step > 6 else step
    return TrendChart(
        scale_label=scale.label,
        bands=bands,
        points=points,
        polyline=" ".join(f"{p.x:.1f},{p.y:.1f}" for p in points),
        y_ticks=y_ticks,
        left=TREND_LEFT,
        right=TREND_RIGHT,
        top=TREND_TOP,
        bottom=TREND_BOTTOM,
        changes=changes,
        criterion=criterion,
        outcome=outcome_text,
        any_critical=any(flagged),
        beside_alert=bool(marks[-1] or alert),
    )


DATE_LABEL_WIDTH = 54.0
"""Room one ``YYYY-MM-DD`` label needs on the x-axis (8.5 pt text, in viewBox units)."""


def _date_labels(xs: list[float]) -> set[int]:
    """Indexes of the points whose dates are printed: never two closer than a label.

    The last (current) date is always printed; earlier ones are kept from the
    first onward while they leave room, so dates never overprint.
    """
    last = len(xs) - 1
    shown: list[int] = []
    for i, x in enumerate(xs[:-1]):
        if xs[last] - x < DATE_LABEL_WIDTH:
            break
        if not shown or x - xs[shown[-1]] >= DATE_LABEL_WIDTH:
            shown.append(i)
    return {*shown, last}


def signed(value: float, decimals: int = 0) -> str:
    """``+3``, ``\u22122.50``, ``0``: a change with its sign (a true minus sign)."""
    text = f"{abs(value):.{decimals}f}"
    if value > 0:
        return "+" + text
    if value < 0:
        return "\u2212" + text
    return text
