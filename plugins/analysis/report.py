"""The psychometric report: HTML (and PDF through psyq's locked-down WeasyPrint).

The page a scale author puts in a paper's supplement: the alpha/omega table
with confidence intervals, items flagged for review, item statistics with
response distributions, the inter-item correlation heatmap, the scree plot
with parallel analysis, and the factor loadings. Charts are inline SVG built
here; every text in them is escaped. The template is
``templates/analysis_report.html.j2``, rendered by Jinja2 with autoescape on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from psyq import __version__
from psyq.models import Instrument
from psyq.plugins.analysis.results import Analysis, Correlations, ItemStats, Parallel

BAR = "#5b7db1"
OBSERVED = "#1f3b73"
SIMULATED = "#c8423b"


def _fmt(value: float | None, digits: int = 2) -> str:
    """A statistic as printed: fixed decimals, a dash when the data cannot give it."""
    if value is None:
        return "\u2013"
    text = f"{value:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")  # no "-0.00"
    return text.replace("-", "\u2212")


def distribution_svg(item: ItemStats, labels: dict[str, str], width: int = 170) -> str:
    """Small bar chart: respondents per answer option (as given)."""
    counts = list(item.distribution.items())
    height = 34
    if not counts:
        return ""
    top = max(c for _, c in counts) or 1
    bar_w = width / len(counts)
    parts = [
        f'<svg class="dist" width="{width}" height="{height + 10}" '
        f'viewBox="0 0 {width} {height + 10}" role="img">'
    ]
    for k, (value, count) in enumerate(counts):
        h = height * count / top
        x = k * bar_w
        title = escape(f"{value} = {labels.get(value, '')}: {count}")
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{height - h:.1f}" width="{bar_w - 2:.1f}" '
            f'height="{h:.1f}" fill="{BAR}"><title>{title}</title></rect>'
            f'<text x="{x + bar_w / 2:.1f}" y="{height + 9}" font-size="7" '
            f'text-anchor="middle">{escape(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _cell_colour(r: float) -> str:
    # Blue for positive, red for negative correlations; white at zero.
    strength = min(abs(r), 1.0)
    if r >= 0:
        red, green, blue = 255 - 200 * strength, 255 - 150 * strength, 255 - 40 * strength
    else:
        red, green, blue = 255 - 40 * strength, 255 - 190 * strength, 255 - 190 * strength
    return f"rgb({red:.0f},{green:.0f},{blue:.0f})"


def heatmap_svg(corr: Correlations, size: int = 460) -> str:
    """The inter-item correlation matrix as coloured cells, values printed when room allows."""
    k = len(corr.items)
    margin = 42
    cell = (size - margin) / k
    show_values = cell >= 16
    parts = [
        f'<svg class="heatmap" width="{size}" height="{size}" viewBox="0 0 {size} {size}" '
        'role="img">'
    ]
    font = max(5.0, min(9.0, cell * 0.55))
    for i, name in enumerate(corr.items):
        y = margin + i * cell
        parts.append(
            f'<text x="{margin - 3}" y="{y + cell * 0.65:.1f}" font-size="{font:.1f}" '
            f'text-anchor="end">{escape(name)}</text>'
        )
        parts.append(
            f'<text x="{margin + i * cell + cell * 0.6:.1f}" y="{margin - 3}" '
            f'font-size="{font:.1f}" transform="rotate(-60 {margin + i * cell + cell * 0.6:.1f} '
            f'{margin - 3})">{escape(name)}</text>'
        )
        for j, r in enumerate(corr.matrix[i]):
            x = margin + j * cell
            colour = "#eeeeee" if r is None else _cell_colour(r)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                f'fill="{colour}" stroke="#fff" stroke-width="0.5"/>'
            )
            if show_values and r is not None and i != j:
                parts.append(
                    f'<text x="{x + cell / 2:.1f}" y="{y + cell * 0.65:.1f}" '
                    f'font-size="{font * 0.8:.1f}" text-anchor="middle">'
                    f"{_fmt(r).replace('0.', '.')}</text>"
                )
    parts.append("</svg>")
    return "".join(parts)


def scree_svg(parallel: Parallel, width: int = 460, height: int = 230) -> str:
    """Observed eigenvalues (components and factors) against the simulated means."""
    series = [
        ("components, observed", parallel.observed_pc, OBSERVED, ""),
        ("components, simulated", parallel.simulated_pc, OBSERVED, "4 3"),
        ("factors, observed", parallel.observed_fa, SIMULATED, ""),
        ("factors, simulated", parallel.simulated_fa, SIMULATED, "4 3"),
    ]
    k = len(parallel.observed_pc)
    left, right, top, bottom = 36.0, 12.0, 12.0, 44.0
    hi = max(max(s) for _, s, _, _ in series)
    lo = min(0.0, min(min(s) for _, s, _, _ in series))
    span = (hi - lo) or 1.0

    def px(i: int) -> float:
        return left + (width - left - right) * (i / max(k - 1, 1))

    def py(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / span)

    parts = [
        f'<svg class="scree" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img">',
        f'<line x1="{left}" y1="{py(0):.1f}" x2="{width - right}" y2="{py(0):.1f}" '
        'stroke="#999" stroke-width="0.6"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999" '
        'stroke-width="0.6"/>',
    ]
    step = max(1, round(span / 4))
    tick = int(lo)
    while tick <= hi:
        parts.append(
            f'<text x="{left - 4}" y="{py(tick) + 3:.1f}" font-size="7" text-anchor="end">'
            f"{tick}</text>"
        )
        tick += step
    for i in range(k):
        if k <= 20 or i % 5 == 0:
            parts.append(
                f'<text x="{px(i):.1f}" y="{height - bottom + 10}" font-size="7" '
                f'text-anchor="middle">{i + 1}</text>'
            )
    for n, (label, values, colour, dash) in enumerate(series):
        points = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(values))
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.2"'
            f"{dashed}/>"
        )
        if not dash:
            parts.extend(
                f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="1.8" fill="{colour}"/>'
                for i, v in enumerate(values)
            )
        lx = left + (n % 2) * 200
        ly = height - 18 + (n // 2) * 11
        parts.append(
            f'<line x1="{lx}" y1="{ly - 3}" x2="{lx + 18}" y2="{ly - 3}" stroke="{colour}" '
            f'stroke-width="1.2"{dashed}/><text x="{lx + 22}" y="{ly}" font-size="7.5">'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def context(analysis: Analysis, instrument: Instrument) -> dict[str, Any]:
    """Plain values for ``analysis_report.html.j2``."""
    from markupsafe import Markup

    labels = {
        item.id: {str(o.value): o.label for o in instrument.response_scale_for(item).options}
        for item in instrument.items
    }
    flagged = {(f.scale, f.item): f.reasons for f in analysis.flagged}
    scales = []
    for sid, scale in analysis.scales.items():
        rows = [
            {
                "id": iid,
                "text": item.label,
                "stats": item,
                "reasons": flagged.get((sid, iid), []),
                "chart": Markup(distribution_svg(item, labels.get(iid, {}))),
            }
            for iid, item in scale.items.items()
        ]
        scales.append({"id": sid, "stats": scale, "rows": rows})
    factors = analysis.factors
    return {
        "a": analysis,
        "instrument": instrument,
        "note": analysis.data.note,
        "scales": scales,
        "fmt": _fmt,
        "heatmap": Markup(heatmap_svg(analysis.correlations)) if analysis.correlations else None,
        "scree": Markup(scree_svg(factors.parallel)) if factors and factors.parallel else None,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "psyq_version": __version__,
        "content_hash": instrument.content_hash(),
    }


def render_html(analysis: Analysis, instrument: Instrument) -> str:
    import jinja2

    from psyq.compiled_templates import compile_template
    from psyq.report import packaged_template

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = compile_template(env, packaged_template("analysis_report.html.j2"))
    return template.render(context(analysis, instrument))


def render_pdf(analysis: Analysis, instrument: Instrument) -> bytes:
    from psyq.pdf import html_to_pdf

    return html_to_pdf(render_html(analysis, instrument), stylesheets=False)
