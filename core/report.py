"""Reports: sections, their template context, and the HTML they render to.

Sections are registered through the ``psyq_report_sections`` hook. Each one is
a Jinja2 template *source* supplied by plugin code (never a file named by
instrument data), rendered with autoescape on. A section whose ``replaces``
names another section takes its place.

The pipeline for one report (:func:`render_report_html`):

1. :func:`build_context` turns a :class:`~psyq.outputs.RenderRequest` into plain
   values (rows, chart geometry, provenance); then every ``psyq_report_context``
   hook adds its own keys.
2. :func:`collect_sections` picks this instrument's sections, applies
   ``replaces`` and sorts them.
3. Each section renders against the context in one Jinja2 environment
   (autoescape on, strict undefined, filters from ``psyq_template_filters``);
   the base layout (``templates/report.html.j2``) wraps them.

Client and instrument text only ever enters as context *values*: Jinja2
escapes it and never compiles it, so ``{{ 7*7 }}`` in a note stays literal.
Jinja2 is imported on first use, so commands that do not render stay fast.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from psyq import __version__
from psyq.charts import (
    BandChart,
    ProfileChart,
    TrendChart,
    band_chart,
    format_value,
    ink_for,
    profile_chart,
    trend_chart,
)
from psyq.errors import DuplicateError, PluginError, PsyqError
from psyq.models import PROVISIONAL_NOTICE, WITHHELD_INTERPRETATION
from psyq.outputs import PAPER_SIZES
from psyq.proration import proration_note, unprorated_value
from psyq.text import visible
from psyq.unscored import reason_in

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

    from psyq.manager import PsyqPluginManager
    from psyq.models import Instrument, Item, Scale
    from psyq.outputs import RenderRequest
    from psyq.results import FlagHit, ScaleScore


DEFAULT_ORDER = 500
PROTECTED_SECTIONS = ("safety_alert",)
"""Sections no plugin may replace, shown first: the safety alert carries the critical flags."""


@dataclass(frozen=True)
class ReportSection:
    """One section of a report.

    ``name`` is unique; ``template`` is Jinja2 source; ``order`` sorts sections
    top to bottom (built-ins use multiples of 10; ``None`` means 500, or the
    replaced section's place when ``replaces`` is set); ``replaces`` names a
    section this one stands in for; ``instruments`` limits the section to those
    instrument ids (empty = every instrument).
    """

    name: str
    template: str
    order: int | None = None
    replaces: str | None = None
    instruments: tuple[str, ...] = ()

    def applies_to(self, instrument_id: str) -> bool:
        return not self.instruments or instrument_id in self.instruments


# -- sections ---------------------------------------------------------------


def collect_sections(pm: PsyqPluginManager, instrument_id: str) -> list[ReportSection]:
    """The sections of one instrument's report, replacements applied, top to bottom.

    A section limited to other instruments is left out before replacements are
    applied, so a replacement for one instrument leaves the original in place
    for the rest. Problems stay local to the section at fault, which is skipped
    with one warning naming its plugin (errors with ``PSYQ_STRICT_PLUGINS=1``):
    a second section of the same name, a second replacement of one section, a
    replacement naming no section.
    """
    owned = pm.collect_owned("psyq_report_sections", "report section")
    owners = {name: plugin for name, (plugin, _) in owned.items()}
    sections: dict[str, ReportSection] = {name: s for name, (_, s) in owned.items()}
    active = {name: s for name, s in sections.items() if s.applies_to(instrument_id)}
    replaced_by: dict[str, str] = {}
    for name, section in list(active.items()):
        target = section.replaces
        if target is None:
            continue
        if target in PROTECTED_SECTIONS and not pm.is_builtin(owners[name]):
            del active[name]
            pm.problem(
                f"report section '{name}' ({pm.describe(owners[name])}) replaces section "
                f"'{target}', which no plugin may replace: it shows the critical flags; "
                f"skipped it ({pm.disable_hint(owners[name])})"
            )
            continue
        if target not in sections:
            del active[name]
            pm.problem(
                f"report section '{name}' ({pm.describe(owners[name])}) replaces section "
                f"'{target}', which no plugin provides; known: {', '.join(sorted(sections))}; "
                f"skipped it ({pm.disable_hint(owners[name])})"
            )
            continue
        if target in replaced_by:
            other = replaced_by[target]
            del active[name]
            pm.problem(
                f"report section '{target}' is replaced by both '{other}' "
                f"({pm.describe(owners[other])}) and '{name}' ({pm.describe(owners[name])}); "
                f"skipped '{name}' ({pm.disable_hint(owners[name])})",
                DuplicateError,
            )
            continue
        replaced_by[target] = name
    placed: list[tuple[int, str, ReportSection]] = []
    for name, section in active.items():
        if name in replaced_by:
            continue
        order = section.order
        if order is None:
            stands_for = sections.get(section.replaces or "")
            order = _order_of(stands_for, sections) if stands_for else DEFAULT_ORDER
        placed.append((order, name, section))
    # The safety alert is the first thing on the page, whatever order another asks for.
    first = {name: index for index, name in enumerate(PROTECTED_SECTIONS)}
    return [
        section
        for _, _, section in sorted(placed, key=lambda t: (first.get(t[1], len(first)), t[0], t[1]))
    ]


def _order_of(section: ReportSection, sections: dict[str, ReportSection]) -> int:
    seen: set[str] = set()
    while section.order is None and section.replaces and section.replaces not in seen:
        seen.add(section.name)
        target = sections.get(section.replaces)
        if target is None:
            break
        section = target
    return section.order if section.order is not None else DEFAULT_ORDER


def collect_filters(pm: PsyqPluginManager) -> dict[str, Callable[..., Any]]:
    """Every ``psyq_template_filters`` filter by name; a later duplicate is skipped."""
    filters: dict[str, Callable[..., Any]] = {}
    owners: dict[str, str] = {}
    for plugin, mapping in pm.collect("psyq_template_filters"):
        for name, func in dict(mapping).items():
            if name in filters:
                pm.clash("template filter", name, owners[name], plugin)
                continue
            # A plugin's filter that raises names the plugin, like its hooks do.
            filters[name] = pm.attributed(func, plugin, f"psyq_template_filters (filter '{name}')")
            owners[name] = plugin
    return filters


# -- context ------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleRow:
    """One scale in the summary table and its band chart."""

    id: str
    label: str
    value: float | None
    value_text: str
    range_text: str
    band_label: str | None
    severity: int | None
    ink: str
    interpretation: str
    scored: bool
    reason: str | None
    answered: int
    missing: int
    prorated: bool
    raw_text: str
    transformed: bool  # the score is a transform of the raw sum (WHO-5: raw x 4)
    chart: BandChart
    has_bands: bool
    band_note: str = ""  # "band from 6 of 7 answers: unprorated 9 would be Mild"
    unprorated_band: str = ""  # "Mild": the band label in band_note, for other languages
    # Its interpretation is WITHHELD_INTERPRETATION (beside a critical flag): the
    # template writes that sentence in the report's language.
    withheld: bool = False
    unprorated_text: str = ""  # "9": the unprorated value in band_note
    unprorated_low_concern: bool = False  # that band is of low concern (severity 0 or 1)
    # A lone subscale beside the total (PHQ-9's PHQ-2 screen) is a row in the scores
    # table, not a chart of its own: PHQ-9 stays one page.
    charted: bool = True
    # A band of low concern beside a critical flag: the score's band only, marked so.
    band_only: bool = False


@dataclass(frozen=True)
class ItemRow:
    number: int
    id: str
    text: str
    answer_label: str | None
    value: int | None
    reverse: bool
    missing: bool
    scored: bool
    critical: bool = False  # a critical item (PHQ-9 item 9), highlighted in the table
    counts_as_missing: bool = False  # answered with an option that counts as missing
    skipped: str | None = None  # "skipped: item 2 was None of the time; scored 1"


@dataclass(frozen=True)
class FlagQuote:
    """One item that raised a flag, quoted with the answer given (or none)."""

    number: int
    text: str
    answer_label: str | None
    answer_value: int | None


@dataclass(frozen=True)
class FlagRow:
    id: str
    level: str
    message: str
    item_number: int | None
    item_text: str | None
    answer_label: str | None
    answer_value: int | None
    # Every item that raised it (the item_* fields are the first): all are quoted.
    quotes: tuple[FlagQuote, ...] = ()


@dataclass(frozen=True)
class Provenance:
    psyq_version: str
    instrument: str
    content_hash: str
    rendered_at: str

    @property
    def line(self) -> str:
        return self.line_in(str)

    def line_in(self, gettext: Callable[[str], str]) -> str:
        """The footer line, its one word ("rendered") in the report's language."""
        rendered = gettext("rendered")
        return (
            f"psyq {self.psyq_version} \u00b7 {self.instrument} \u00b7 {self.content_hash} "
            f"\u00b7 {rendered} {self.rendered_at}"
        )


def paper_size(request: RenderRequest) -> str:
    """The CSS page size for ``request.options['paper']`` (A4 unless told)."""
    paper = str(request.options.get("paper") or "a4").lower()
    if paper not in PAPER_SIZES:
        raise PsyqError(f"unknown paper size '{paper}'; choose one of: {', '.join(PAPER_SIZES)}")
    return PAPER_SIZES[paper]


GUARDED_CONTEXT = (
    "critical_flags",
    "later_critical",
    "earlier_critical",
    "answer_versions",
    "partial",
    "band_only",
    "scales",
    "notices",
    "changed_outside",
    "earlier_changed",
    "later_changed",
    "other_changed",
    "log_changed",
    "deleted_outside",
    "left_client",
)
"""Context keys that carry the safety alert, a changed record or a caveat: a plugin's
``psyq_report_context`` may add to one that is a list, never take away or change one."""


def add_plugin_context(
    pm: PsyqPluginManager, request: RenderRequest, context: dict[str, Any]
) -> None:
    """Call the ``psyq_report_context`` hooks; put back any :data:`GUARDED_CONTEXT` value
    a plugin's hook took away or changed, with one warning naming the plugin."""
    from psyq.scope import instruments_of

    plugins = [
        impl.plugin_name
        for impl in pm.hook.psyq_report_context.get_hookimpls()
        if not pm.is_builtin(impl.plugin_name)
        and request.instrument.id in (instruments_of(impl.function) or {request.instrument.id})
    ]
    if not plugins:
        pm.hook.psyq_report_context(request=request, context=context)
        return
    before = {
        key: list(value) if isinstance(value, list) else value
        for key, value in context.items()
        if key in GUARDED_CONTEXT
    }
    pm.hook.psyq_report_context(request=request, context=context)
    changed = []
    for key in (key for key in GUARDED_CONTEXT if key in before):
        value, now = before[key], context.get(key)
        if isinstance(value, list):  # every item psyq put there is still there, as it was
            kept = isinstance(now, list) and all(any(a is b for b in now) for a in value)
        else:
            kept = key in context and (now is value or now == value)
        if not kept:
            context[key] = value
            changed.append(key)
    if changed:
        who = ", ".join(pm.describe(name) for name in dict.fromkeys(plugins))
        pm.problem(
            f"{'' if len(plugins) == 1 else 'one of '}{who} changed report context "
            f"{', '.join(changed)} in hook psyq_report_context; psyq put it back, as it "
            f"carries the safety alert and the report's caveats ({pm.disable_hint(plugins[0])})"
        )


def build_context(request: RenderRequest) -> dict[str, Any]:
    """Plain values for the report templates, computed from the request alone."""
    from psyq.i18n import ui_language

    ui = ui_language(request.options.get("language"))
    inst, result = request.instrument, request.result
    generated = request.generated_at or datetime.now(UTC)
    numbers = {item.id: n for n, item in enumerate(inst.items, start=1)}
    flagged_items = {i for f in result.flags if f.level == "critical" for i in f.item_ids}
    answered = sum(result.answers.get(item.id) is not None for item in inst.items)
    scales = [_scale_row(inst, request, scale_id, ui.gettext) for scale_id in result.scores]
    items = [
        ItemRow(
            number=numbers[item.id],
            id=item.id,
            text=item.text,
            answer_label=_answer_label(inst, item.id, result.answers.get(item.id)),
            value=result.answers.get(item.id),
            reverse=item.reverse,
            missing=result.answers.get(item.id) is None and item.id not in result.skipped,
            scored=item.scored,
            critical=item.critical or item.id in flagged_items,
            counts_as_missing=result.answers.get(item.id)
            in inst.response_scale_for(item).missing_values,
            skipped=_skip_note(item, result.skipped.get(item.id), ui.gettext),
        )
        for item in inst.items
    ]
    flags = [_flag_row(inst, request, flag) for flag in result.flags]
    values = {sid: s.value for sid, s in result.scores.items()}
    total = inst.total
    past = [p for p in request.history if "total" in p.result.scores]
    series: list[tuple[date, float | None]] = [
        (p.administered, p.result.scores["total"].value) for p in past
    ]
    trend: TrendChart | None = None
    if series:
        current_day = request.administered or generated.date()
        critical = [bool(p.result.critical) for p in past] + [bool(result.critical)]
        trend = trend_chart(
            inst,
            total,
            [*series, (current_day, values.get("total"))],
            critical=critical,
            alert=request.alert_elsewhere,
            gettext=ui.gettext,
        )
    profile: ProfileChart | None = profile_chart(inst, values, ui.gettext)
    return {
        # The report's language (--language) and the form's (as administered).
        "_": ui.gettext,
        "ngettext": ui.translations.ngettext,
        "page_footer": _page_footer(ui.gettext),
        "lang": ui.language,
        "dir": ui.direction,
        "administered_language": request.options.get("administered_language"),
        "instrument": inst,
        "result": result,
        "client_id": request.client_id,
        "administered": request.administered.isoformat() if request.administered else None,
        # Shown with control and bidi characters escaped (psyq.text).
        "clinician": visible(request.clinician),
        "note": visible(request.note),
        "generated_at": _timestamp(generated),
        "paper": paper_size(request),
        "scales": scales,
        "multi_scale": len(scales) > 1,
        "items": items,
        "any_reverse": any(i.reverse for i in items),
        "critical_flags": [f for f in flags if f.level == "critical"],
        "later_critical": _later_critical(inst, request),
        "earlier_critical": _earlier_critical(inst, request),
        "other_flags": [f for f in flags if f.level != "critical"],
        # The banner's title already says "provisional": its standard sentence is left
        # out when the instrument gives its own caveat, so no caveat is said twice.
        "notices": [
            n
            for n in result.notices
            if not (
                n in (PROVISIONAL_NOTICE, ui.gettext(PROVISIONAL_NOTICE))
                and len(result.notices) > 1
            )
        ],
        "partial": request.options.get("status") == "partial",
        # A band of low concern beside a critical flag is marked as the score's band only.
        "band_only": any(row.band_only for row in scales),
        # A stored record (or one in its trend) that no longer matches its audit entry.
        "changed_outside": request.options.get("changed_outside_psyq"),
        "earlier_changed": request.options.get("earlier_changed_outside_psyq", []),
        "later_changed": request.options.get("later_changed_outside_psyq", []),
        "deleted_outside": request.options.get("deleted_outside_psyq", []),
        "records_deleted": request.options.get("records_deleted_outside_psyq", []),
        "left_client": _left_client(inst, request, ui.gettext),
        "log_changed": request.options.get("audit_log_changed_outside_psyq"),
        "log_not_psyqs": request.options.get("audit_log_not_psyqs", False),
        "other_changed": request.options.get("other_changed_outside_psyq", []),
        "answer_versions": _answer_versions(inst, request, ui.gettext),
        "answered_count": answered,
        "item_count": len(inst.items),
        "provisional": inst.status == "provisional",
        "missing_notes": _missing_notes(scales, ui.gettext, request.alert),
        "profile": profile,
        "trend": trend,
        "not_compared": request.options.get("not_compared"),
        "history_count": len(request.history),
        "citations": inst.citations,
        "licence": inst.licence,
        "provenance": Provenance(
            psyq_version=__version__,
            instrument=f"{inst.id}@{inst.version}",
            content_hash=inst.content_hash(),
            rendered_at=_timestamp(generated),
        ),
    }


def _page_footer(gettext: Callable[[str], str]) -> Markup | None:
    """The PDF page number line (CSS ``content``) in the report's language.

    ``None`` in English: report.css says it, and an English report stays as it was.
    """
    from markupsafe import Markup

    text = gettext("Page %(page)s of %(pages)s")
    if text == "Page %(page)s of %(pages)s":
        return None
    # A CSS string, so quotes and backslashes escaped; "<" too: it sits in a <style>.
    quoted = text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")
    content = (
        '"'
        + quoted.replace("%(page)s", '" counter(page) "').replace("%(pages)s", '" counter(pages) "')
        + '"'
    )
    return Markup(content)


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip() or moment.isoformat()


def _scale_row(
    inst: Instrument, request: RenderRequest, scale_id: str, gettext: Callable[[str], str]
) -> ScaleRow:
    scale = inst.scale(scale_id)
    score = request.result.scores[scale_id]
    lo, hi = inst.bounds(scale_id)
    band = scale.band_for(score.value, request.result.client) if score.value is not None else None
    raw = score.raw
    # Never a reassuring sentence beside a critical flag (instrument's if_flagged), nor
    # beside one shown from elsewhere: a later unfinished form's (--latest names it in
    # the alert), or this form's earlier answers' (the answer-version banner).
    interpretation = band.interpretation_for(request.result.raised) if band else ""
    if band is not None and band.low_concern and request.alert_elsewhere:
        interpretation = WITHHELD_INTERPRETATION
    return ScaleRow(
        id=scale_id,
        label=scale.label,
        value=score.value,
        value_text=format_value(scale, score.value),
        range_text=f"{lo:g}\u2013{hi:g}",
        band_label=score.band_label,
        severity=band.severity if band else None,
        ink=ink_for(band),
        interpretation=interpretation,
        scored=score.value is not None,
        reason=reason_in(score.reason, gettext),  # stored in English
        answered=score.answered,
        missing=score.missing,
        prorated=score.prorated,
        raw_text="-" if raw is None else f"{raw:g}",
        transformed=scale.transform is not None,
        # The client's own bands where they depend on the client (AUDIT-C by sex).
        chart=band_chart(
            inst,
            scale.model_copy(update={"bands": scale.bands_for(request.result.client)}),
            score.value,
        ),
        has_bands=bool(scale.bands),
        charted=bool(scale.bands) and (scale_id == "total" or len(inst.scales) > 2),
        band_note=_band_note(scale, score, request.alert),
        withheld=interpretation == WITHHELD_INTERPRETATION,
        **_unprorated(scale, score),
        band_only=band is not None and band.low_concern and request.alert,
    )


def _band_note(scale: Scale, score: ScaleScore, alert: bool) -> str:
    """The proration sentence's band part, when proration changed the band."""
    note = proration_note(scale, score, alert) or ""
    return note.split("; ", 1)[1] if "would be" in note else ""


def _unprorated(scale: Scale, score: ScaleScore) -> dict[str, Any]:
    """The unprorated value and its band, when proration changed the band."""
    plain = unprorated_value(scale, score) if score.prorated else None
    band = None if plain is None else scale.band_for(plain)
    if plain is None or band is None or band.id == score.band:
        return {}
    return {
        "unprorated_band": band.label,
        "unprorated_text": f"{plain:.{scale.decimals}f}",
        "unprorated_low_concern": band.low_concern,
    }


def _skip_note(item: Item, score: float | None, gettext: Callable[[str], str]) -> str | None:
    """How a skipped item was scored, for the answers table (None: not skipped); the
    reason is the instrument's text."""
    if score is None or item.skip is None:
        return None
    if item.skip.reason:
        return gettext("skipped (%(reason)s); scored %(score)s") % {
            "reason": item.skip.reason,
            "score": f"{score:g}",
        }
    return gettext("skipped; scored %(score)s") % {"score": f"{score:g}"}


def _answer_label(inst: Instrument, item_id: str, value: int | None) -> str | None:
    if value is None:
        return None
    return inst.response_scale_for(inst.item(item_id)).label_for(value)


def _later_critical(inst: Instrument, request: RenderRequest) -> list[dict[str, Any]]:
    """``options["later_critical"]``, each with ``quotes``: the items that raised its
    flags quoted with the answers that form gave, when it is of this instrument (its
    items are this one's); empty for another instrument's form."""
    from psyq.results import FlagHit

    out = []
    for later in request.options.get("later_critical", []):
        quotes: list[FlagQuote] = []
        if later.get("instrument_id") == inst.id and "answers" in later:
            for f in later["flags"]:
                row = _flag_row(inst, request, FlagHit.model_validate(f), later["answers"])
                quotes += [q for q in row.quotes if q not in quotes]
        out.append({**later, "quotes": quotes})
    return out


def _flag_words(
    inst: Instrument, flag: dict[str, Any], gettext: Callable[[str], str], same: bool = True
) -> str:
    """A critical flag named in a banner as the safety alert names it: its message and,
    for a form of this instrument (``same``), each item that raised it, quoted."""
    from psyq.results import FlagHit

    hit = FlagHit.model_validate(flag)
    numbers = {item.id: n for n, item in enumerate(inst.items, start=1)}
    quotes = [
        f"{gettext('Item')} {numbers[i]}: \u201c{inst.item(i).text}\u201d"
        for i in hit.item_ids
        if same and i in numbers
    ]
    return hit.message + (f" ({'; '.join(quotes)})" if quotes else "")


def _left_client(
    inst: Instrument, request: RenderRequest, gettext: Callable[[str], str]
) -> list[dict[str, Any]]:
    """``options["left_client_outside_psyq"]``, each with ``flag_words``: its critical
    flags worded as alerts are (its ``critical`` ids, from an older psyq, otherwise)."""
    return [
        {
            **moved,
            "flag_words": [
                _flag_words(inst, f, gettext, moved.get("instrument_id") == inst.id)
                for f in moved.get("flags", [])
            ]
            or list(moved.get("critical", [])),
        }
        for moved in request.options.get("left_client_outside_psyq", [])
    ]


def _answer_versions(
    inst: Instrument, request: RenderRequest, gettext: Callable[[str], str]
) -> list[dict[str, Any]]:
    """``options["answer_versions"]``, each with ``flag_words``: the critical flags its
    answers raised (``options["earlier_critical"]``) worded as alerts are."""
    raised = {
        kept["answer_version"]: kept["flags"]
        for kept in request.options.get("earlier_critical", [])
    }
    return [
        {
            **kept,
            "flag_words": [_flag_words(inst, f, gettext) for f in raised.get(kept["id"], [])]
            or list(kept.get("critical_flags", [])),
        }
        for kept in request.options.get("answer_versions", [])
    ]


def _earlier_critical(inst: Instrument, request: RenderRequest) -> list[dict[str, Any]]:
    """``options["earlier_critical"]``: each answer version psyq kept whose answers raised
    a critical flag the current ones do not, as ``answer_version`` and ``flags`` (each a
    :class:`FlagRow` quoting the items with the answers as first saved)."""
    from psyq.results import FlagHit

    out = []
    for kept in request.options.get("earlier_critical", []):
        answers = kept["answers"]
        flags = [
            _flag_row(inst, request, FlagHit.model_validate(f), answers) for f in kept["flags"]
        ]
        out.append({"answer_version": kept["answer_version"], "flags": flags})
    return out


def _flag_row(
    inst: Instrument,
    request: RenderRequest,
    hit: FlagHit,
    answers: dict[str, int | None] | None = None,
) -> FlagRow:
    """``hit`` quoting each item that raised it with its answer (``answers``: those it
    was raised by, when not this form's current ones)."""
    given = request.result.answers if answers is None else answers
    numbers = {item.id: n for n, item in enumerate(inst.items, start=1)}
    quotes = tuple(
        FlagQuote(
            number=numbers[item_id],
            text=inst.item(item_id).text,
            answer_label=_answer_label(inst, item_id, given.get(item_id)),
            answer_value=given.get(item_id),
        )
        for item_id in hit.item_ids
        if item_id in numbers
    )
    if not quotes:
        return FlagRow(hit.id, hit.level, hit.message, None, None, None, None)
    first = quotes[0]
    return FlagRow(
        id=hit.id,
        level=hit.level,
        message=hit.message,
        item_number=first.number,
        item_text=first.text,
        answer_label=first.answer_label,
        answer_value=first.answer_value,
        quotes=quotes,
    )


def _missing_notes(
    scales: list[ScaleRow], _: Callable[[str], str], alert: bool = False
) -> list[str]:
    """One sentence per scale where missing answers changed how it was scored.

    ``_``: the report language's gettext; the scale and band labels come from the
    instrument (translated with it), the sentences from psyq's catalogue. With
    ``alert`` (a critical flag), a band of low concern the unprorated score would
    have is marked as the score's band only, as the score's own band is.
    """
    notes: list[str] = []
    for row in scales:
        n = row.answered + row.missing
        words = {
            "scale": row.label,
            "answered": row.answered,
            "missing": row.missing,
            "n": n,
            "raw": row.raw_text,
            "value": row.value_text,
        }
        if not row.scored:
            if row.reason:
                note = _("%(scale)s was not scored (%(answered)s of %(n)s items answered)")
                notes.append(f"{note % words}: {row.reason}.")
            else:
                note = _("%(scale)s was not scored (%(answered)s of %(n)s items answered).")
                notes.append(note % words)
        elif row.prorated:
            note = (
                _(
                    "%(scale)s: %(missing)s of %(n)s items unanswered; the score was prorated "
                    "from the %(answered)s answered items (their sum %(raw)s scaled to "
                    "%(n)s items, rounded half up to %(value)s)."
                )
                % words
            )
            if row.unprorated_band:
                label = row.unprorated_band
                if alert and row.unprorated_low_concern:
                    label = f"{label} ({_('score band only; see the safety alert')})"
                band = _(
                    "Band from %(answered)s of %(n)s answers: unprorated %(plain)s would be "
                    "%(band)s."
                ) % {**words, "plain": row.unprorated_text, "band": label}
                note = f"{note} {band}"
            notes.append(note)
        elif row.missing:
            notes.append(
                _(
                    "%(scale)s: %(missing)s of %(n)s items unanswered; scored from the "
                    "%(answered)s answered items as the instrument's missing-data rule allows."
                )
                % words
            )
    return notes


# -- rendering --------------------------------------------------------------------


@cache
def packaged_template(name: str) -> str:
    """Text of a file shipped in ``psyq.templates`` (layout, partials, CSS)."""
    return (resources.files("psyq.templates") / name).read_text(encoding="utf-8")


# Line breaks and indentation before these tags are dropped from what psyq's own
# templates render: the tags are block, table or SVG structure, where such whitespace
# shows as nothing, yet every character of it is parsed and, between block boxes, is
# one more text box to build (about 1% of a PHQ-9 report's CPU). Closing tags of
# elements that hold text (</p>, </td>, </text>, ...) are not listed, so no text loses
# a space; client and instrument text cannot match, as autoescaping turns its < and >
# into entities.
_STRUCTURE_AFTER_WHITESPACE = re.compile(
    r"(?<=>)[ \t]*\n\s*(?=<(?:"
    r"/?(?:section|header|footer|div|table|thead|tbody|tr|ul|figure|svg|g)"
    r"|(?:td|th|li|p|h1|h2|figcaption|rect|line|path|text|polyline|polygon|circle)"
    r")[\s>/])"
)
_SHIPPED_TEMPLATES: set[str] = set()


def compact_markup(html: str) -> str:
    """``html`` without the line breaks and indentation before structural tags."""
    return _STRUCTURE_AFTER_WHITESPACE.sub("", html)


def packaged_section(name: str) -> str:
    """The source of a shipped report section; what it renders is compacted
    (:func:`compact_markup`). Plugin sections are rendered as written."""
    source = packaged_template(name)
    _SHIPPED_TEMPLATES.add(source)
    return source


def stylesheet() -> str:
    """The report stylesheet, shared by the PDF renderer and inline HTML."""
    return packaged_template("report.css")


class ReportRenderer:
    """Renders report HTML for one plugin manager.

    The Jinja2 environment and every compiled section are kept and reused
    while the set of filters stays the same; sections, context and filters
    are collected from the hooks on every render, so a plugin registered
    later takes part at once.
    """

    def __init__(self, pm: PsyqPluginManager) -> None:
        self.pm = pm
        self._env: jinja2.Environment | None = None
        self._filters: dict[str, Callable[..., Any]] = {}
        self._compiled: dict[str, jinja2.Template] = {}
        self._lock = threading.Lock()

    def _environment(self, filters: dict[str, Callable[..., Any]]) -> jinja2.Environment:
        if self._env is not None and filters == self._filters:
            return self._env
        import jinja2

        env = jinja2.Environment(
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        env.filters.update(filters)
        self._env, self._filters, self._compiled = env, dict(filters), {}
        return env

    def _template(self, env: jinja2.Environment, key: str, source: str) -> jinja2.Template:
        compiled = self._compiled.get(source)
        if compiled is None:
            import jinja2

            from psyq.compiled_templates import compile_template

            try:
                compiled = compile_template(env, source)
            except jinja2.TemplateError as exc:
                raise PluginError(
                    f"report section '{key}'{self._owner_words(key)}: template error: {exc}"
                ) from None
            self._compiled[source] = compiled
        return compiled

    def _owner_words(self, section_name: str) -> str:
        """`` (plugin 'x' (...); disable it with ...)`` for a plugin's section, else ``""``."""
        owned = self.pm.collect_owned("psyq_report_sections", "report section")
        owner = owned[section_name][0] if section_name in owned else None
        if owner is None or self.pm.is_builtin(owner):
            return ""
        return f" ({self.pm.describe(owner)}; {self.pm.disable_hint(owner)})"

    def render(self, request: RenderRequest, *, standalone: bool) -> str:
        """The report as one HTML document.

        ``standalone`` inlines the stylesheet (the ``html`` format); the PDF
        renderer passes ``False`` and applies its parsed copy of the same CSS.
        """
        import jinja2
        from markupsafe import Markup

        context = build_context(request)
        add_plugin_context(self.pm, request, context)
        sections = collect_sections(self.pm, request.instrument.id)
        filters = collect_filters(self.pm)
        with self._lock:
            env = self._environment(filters)
            parts = []
            for section in sections:
                template = self._template(env, section.name, section.template)
                try:
                    html = template.render(context)
                except jinja2.TemplateError as exc:
                    from psyq.manager import first_line

                    raise PluginError(
                        f"report section '{section.name}'{self._owner_words(section.name)} "
                        f"failed to render: {first_line(exc)}"
                    ) from None
                if section.template in _SHIPPED_TEMPLATES:
                    html = compact_markup(html)
                parts.append(Markup(html))
            layout = self._template(env, "layout", packaged_template("report.html.j2"))
            return layout.render(
                context,
                sections=parts,
                css=Markup(stylesheet()) if standalone else None,
            )


_RENDERERS: weakref.WeakKeyDictionary[PsyqPluginManager, ReportRenderer] = (
    weakref.WeakKeyDictionary()
)
_RENDERERS_LOCK = threading.Lock()


def report_renderer(pm: PsyqPluginManager) -> ReportRenderer:
    """The (cached) renderer bound to ``pm``."""
    with _RENDERERS_LOCK:
        renderer = _RENDERERS.get(pm)
        if renderer is None:
            renderer = _RENDERERS[pm] = ReportRenderer(pm)
        return renderer


def render_report_html(
    pm: PsyqPluginManager, request: RenderRequest, *, standalone: bool = True
) -> str:
    """Render one report to HTML with ``pm``'s sections, context hooks and filters."""
    return report_renderer(pm).render(request, standalone=standalone)
