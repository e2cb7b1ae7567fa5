"""Output formats: how a scored result becomes bytes on disk or on screen.

Formats are registered through the ``psyq_output_formats`` hook and looked
up by name (``table``, ``json``, and whatever plugins add). A format's
``render`` gets a :class:`RenderRequest` carrying the result, its
instrument and the report metadata a clinician supplies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from psyq.errors import PsyqError
from psyq.paper import PAPER_SIZES as PAPER_SIZES  # re-exported: reports name it here

if TYPE_CHECKING:
    from psyq.manager import PsyqPluginManager
    from psyq.models import Instrument
    from psyq.results import ScoreResult


@dataclass(frozen=True)
class PastScore:
    """An earlier administration of the same instrument, for trend charts."""

    administered: date
    result: ScoreResult
    administration_id: str | None = None


@dataclass
class RenderRequest:
    """Everything an output format may show. Only ``result`` and ``instrument`` are required."""

    result: ScoreResult
    instrument: Instrument
    client_id: str | None = None
    administered: date | None = None
    # The moment the answers were given, with its time zone, when the input says
    # (a FHIR ``authored``, a batch date-time); ``administered`` is its date.
    authored: datetime | None = None
    clinician: str | None = None
    note: str | None = None
    generated_at: datetime | None = None
    history: list[PastScore] = field(default_factory=list)  # oldest first, without this one
    options: dict[str, Any] = field(default_factory=dict)

    def partial_line(self, gettext: Callable[[str], str] | None = None) -> str | None:
        """``PARTIAL — 2 of 4 items answered`` for an unfinished form (``options["status"]``
        is ``partial``), else ``None``: a format shows it before any score. ``gettext``:
        in a report's language."""
        if self.options.get("status") != "partial":
            return None
        given = sum(v is not None for v in self.result.answers.values())
        words = {"answered": given, "items": len(self.instrument.items)}
        return (gettext or str)("PARTIAL — %(answered)s of %(items)s items answered") % words

    def band_shown(self, scale_id: str, gettext: Callable[[str], str] | None = None) -> str | None:
        """The scale's band label as a text format shows it: marked ``(score band only;
        see the safety alert)`` when it is a band of low concern and a critical flag is
        raised (this form's, or a later unfinished one's), so it never reads as
        reassurance beside the alert; ``None`` when the scale has no band. ``gettext``:
        the mark in a report's language."""
        from psyq.results import band_shown, low_concern_bands

        marked = scale_id in low_concern_bands(self.instrument, self.result, self.alert)
        return band_shown(self.result.scores[scale_id].band_label, marked, gettext)

    @property
    def alert(self) -> bool:
        """Whether a critical flag is raised: this form's, or one it shows from elsewhere
        (:attr:`alert_elsewhere`). Beside it no band of low concern reassures."""
        return bool(self.result.critical) or self.alert_elsewhere

    @property
    def alert_elsewhere(self) -> bool:
        """Whether the output shows a critical flag that this form's current answers do
        not raise: one a later unfinished form raises (``report --latest``,
        ``options["later_critical"]``), or one this form's earlier answers raised before
        they were changed through psyq (``options["answer_versions"]``). Beside it a band
        of low concern is the score's band only, its text withheld, no remission said."""
        versions = self.options.get("answer_versions", [])
        return bool(self.options.get("later_critical")) or any(
            version.get("critical_flags") for version in versions
        )

    def later_alerts(self) -> list[str]:
        """What forms left unfinished after this one say (``report --latest``), a line
        each, for every output to show beside this form's own alert: each critical flag
        their answers raise (``options["later_critical"]``: ``CRITICAL in later partial
        administration 2 (PHQ-9, 2026-11-30) (item phq9_9): ...``, as
        :func:`psyq.alerts.alert_line` words every alert), then each of them changed
        outside psyq after it was saved (``options["later_changed_outside_psyq"]``)."""
        from psyq.alerts import alert_line, later_form_words
        from psyq.results import FlagHit

        lines = []
        for later in self.options.get("later_critical", []):
            where = later_form_words(later)
            lines += [alert_line(FlagHit.model_validate(f), where) for f in later["flags"]]
        for later in self.options.get("later_changed_outside_psyq", []):
            lines.append(f"CHANGED OUTSIDE PSYQ: {later_form_words(later)}: {later['problem']}")
        return lines


@dataclass(frozen=True)
class OutputFormat:
    """A named output format.

    ``render(request) -> bytes``; ``suffix`` (``".json"``) picks the format
    from an output file name; ``binary`` formats are never written to a
    terminal.
    """

    name: str
    suffix: str
    render: Callable[[RenderRequest], bytes]
    description: str = ""
    media_type: str = "application/octet-stream"
    binary: bool = False


def output_formats(pm: PsyqPluginManager) -> dict[str, OutputFormat]:
    """Every registered output format by name (a later duplicate is skipped with a warning).

    A plugin's ``render`` that raises names the plugin, like a hook does.
    """
    owned = pm.collect_owned("psyq_output_formats", "output format", pm=pm)
    return {
        name: replace(
            fmt,
            render=pm.attributed(fmt.render, plugin, f"psyq_output_formats (format '{name}')"),
        )
        for name, (plugin, fmt) in owned.items()
    }


def format_provider(pm: PsyqPluginManager, name: str) -> str | None:
    """The name of the plugin that provides output format ``name`` (``None``: no plugin)."""
    owned = pm.collect_owned("psyq_output_formats", "output format", pm=pm)
    return owned[name][0] if name in owned else None


def get_output_format(pm: PsyqPluginManager, name: str) -> OutputFormat:
    formats = output_formats(pm)
    if name not in formats:
        raise PsyqError(f"unknown output format '{name}'; available: {', '.join(sorted(formats))}")
    return formats[name]


def format_for_path(pm: PsyqPluginManager, filename: str) -> OutputFormat | None:
    """The format whose suffix matches ``filename``, if any; the longest suffix wins.

    So ``r.fhir.json`` is ``fhir``, not ``json``.
    """
    lowered = filename.lower()
    matches = [f for f in output_formats(pm).values() if f.suffix and lowered.endswith(f.suffix)]
    return max(matches, key=lambda f: len(f.suffix), default=None)


def require_format_for_path(pm: PsyqPluginManager, filename: str, hint: str = "") -> OutputFormat:
    """:func:`format_for_path`, or a one-line error listing the suffixes that work."""
    fmt = format_for_path(pm, filename)
    if fmt is None:
        suffixes = ", ".join(sorted({f.suffix for f in output_formats(pm).values() if f.suffix}))
        raise PsyqError(
            f"cannot tell the report format from '{filename}': no output format writes "
            f"that suffix; use a name ending in {suffixes}{hint}"
        )
    return fmt
