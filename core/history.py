"""A client's history: stored administrations with change between them.

Each :class:`HistoryEntry` is one complete administration: its score result
(the ``psyq score --json`` object) plus, for every scale, the change against
the previous administration of the same instrument and definition version
(``change``) and against the first (``change_from_first``); administrations of
another version (CCTS 0.1 beside 0.2) are not compared with it. Change is
computed only by :func:`psyq.change.compare`.

:func:`render_request_for` and :func:`render_request_for_latest` turn a stored
administration into a :class:`psyq.outputs.RenderRequest` whose ``history``
holds the client's earlier administrations of the same instrument and version,
for reports and their trend charts (``options["not_compared"]`` counts those of
other versions, with the dates of any that raised a critical flag, which the report names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psyq.change import Change, Outcome, compare, outcome
from psyq.clients import check_client_id
from psyq.errors import PsyqError
from psyq.models import Instrument
from psyq.outputs import PastScore, RenderRequest
from psyq.results import ScoreResult
from psyq.store import Administration, AnswerVersion, ScoreVersion, Store, by_administration

if TYPE_CHECKING:
    from psyq.app import App

ScaleChanges = dict[str, Change | None]


@dataclass(frozen=True)
class HistoryEntry:
    """One complete administration with its change against the previous and the first."""

    administration: Administration
    result: ScoreResult
    change: ScaleChanges | None  # None for the first administration of an instrument
    change_from_first: ScaleChanges | None
    previous_id: int | None
    first_id: int | None
    outcome: dict[str, Outcome | None] | None = None  # response / remission vs the first
    origin: tuple[str, str | None] | None = None  # (source, path) of a kept definition
    changed: str | None = None
    """The warning when the stored record no longer matches its audit entry (changed
    outside psyq after it was saved: :meth:`psyq.store.Store.changed_outside`)."""
    band_notes: frozenset[str] = frozenset()
    """Scales whose band of low concern stands beside a critical flag
    (:func:`psyq.results.low_concern_bands`): ``band_beside_alert`` in JSON."""
    answer_versions: tuple[AnswerVersion, ...] = ()
    """The administration as saved before psyq changed answers already given in it."""
    score_versions: tuple[ScoreVersion, ...] = ()
    """The scores it had before each ``rescore`` that changed them (kept, numbered)."""

    def to_json(self) -> dict[str, Any]:
        """The ``psyq score --json`` object plus ``administration``, ``change`` and
        ``change_from_first`` (``change.<scale>`` = delta, reliable, direction, rci,
        clinically_significant; ``null`` where a score is missing)."""
        from psyq.results import with_band_notes

        adm = self.administration
        doc = with_band_notes(self.result.to_json(), self.band_notes)
        doc["administration"] = {
            "id": adm.id,
            "client_id": adm.client_id,
            "administered": adm.administered.isoformat(),
            "clinician": adm.clinician,
            "status": adm.status,
            "instrument_version": adm.instrument_version,
            "definition_hash": adm.definition_hash,
            **origin_fields(self.origin),
            "changed_outside_psyq": self.changed,
            "answer_versions": answer_versions_json(self.answer_versions, adm),
            **score_versions_fields(self.score_versions, adm),
        }
        doc["change"] = _changes_json(self.change)
        doc["change_from_first"] = _changes_json(self.change_from_first)
        doc["compared_with"] = {"previous": self.previous_id, "first": self.first_id}
        doc["outcome"] = (
            None
            if self.outcome is None
            else {k: (None if v is None else v.model_dump()) for k, v in self.outcome.items()}
        )
        return doc


def origin_fields(origin: tuple[str, str | None] | None) -> dict[str, str | None]:
    """``definition_source`` and ``definition_path``: where a definition that did not
    ship with psyq came from (``file`` and the draft's path, ``local``, a plugin),
    as the store kept it; both null for a shipped definition."""
    source, path = origin if origin is not None else (None, None)
    return {"definition_source": source, "definition_path": path}


def changes_text(changes: dict[str, tuple[int | None, int | None]]) -> str:
    """``phq9_9 2 -> 0, phq9_10 - -> 1`` (``-``: unanswered)."""
    return ", ".join(
        f"{k} {'-' if a is None else a} -> {'-' if b is None else b}"
        for k, (a, b) in changes.items()
    )


def alert_of(result: ScoreResult, versions: Iterable[AnswerVersion] = ()) -> bool:
    """Whether a stored form is shown beside a critical flag: its own answers', or one
    its earlier answers raised before they were changed through psyq (an answer
    version's :meth:`~psyq.store.AnswerVersion.alerts_gone`): beside either, a band of
    low concern is the score's band only."""
    return bool(result.critical) or any(version.alerts_gone(result) for version in versions)


def answer_versions_json(
    versions: tuple[AnswerVersion, ...] | list[AnswerVersion], adm: Administration
) -> list[dict[str, Any]]:
    """``administration.answer_versions``: each earlier save psyq replaced (the form gone
    back into, a finished form reopened), what changed since, and the critical flags the
    earlier answers raised that the current ones do not (a risk signal answered away is
    still shown)."""
    now = adm.answers
    out = []
    for version in versions:
        out.append(
            {
                "id": version.id,
                "status": version.status,
                "saved_at": version.saved_at.isoformat(),
                "superseded_at": version.superseded_at.isoformat(),
                "superseded_by": version.superseded_by,
                "changed": {k: list(v) for k, v in version.changes(now).items()},
                "changed_text": changes_text(version.changes(now)),
                "answers": version.answers,
                "critical_flags": [f.id for f in version.alerts_gone(adm.result)],
                "changed_outside_psyq": version.changed_outside_psyq,
            }
        )
    return out


def score_versions_fields(
    versions: tuple[ScoreVersion, ...] | list[ScoreVersion], adm: Administration
) -> dict[str, Any]:
    """``administration.score_version`` (the current scores' number, when and by whom
    they were scored) and ``administration.score_versions``: every earlier version a
    ``rescore`` replaced, as the audit keeps it (its scores and flags, the definition
    and plugins that made them, when and by whom scored and superseded, why it was
    replaced, the critical flags it raised that the current scores do not), oldest first."""
    scoring = adm.scoring or {}
    out: list[dict[str, Any]] = []
    for n, version in enumerate(versions):
        after = versions[n + 1] if n + 1 < len(versions) else None
        then = version.scoring or {}
        result = version.result
        out.append(
            {
                "version": version.version,
                "scores": {
                    k: {"value": v.value, "band": v.band}
                    for k, v in ({} if result is None else result.scores).items()
                },
                "flags": [
                    {"id": f.id, "level": f.level} for f in ([] if result is None else result.flags)
                ],
                "critical_flags": [f.id for f in version.alerts_gone(adm.result)],
                "definition_hash": version.scored_with,
                "plugins": then.get("plugins"),
                "scored_at": then.get("at"),
                "scored_by": then.get("by"),
                "superseded_at": version.superseded_at.isoformat(),
                "superseded_by": version.superseded_by,
                "why": _why_rescored(
                    version,
                    adm.scored_with if after is None else after.scored_with,
                    (scoring if after is None else after.scoring or {}).get("plugins"),
                ),
                "changed_outside_psyq": version.changed_outside_psyq,
            }
        )
    # Every version before the current one is kept: a number missing was deleted by hand.
    kept = {version.version for version in versions}
    for number in range(1, adm.score_version if adm.scores is not None else 1):
        if number not in kept:
            out.append(
                {
                    "version": number,
                    "changed_outside_psyq": f"score version {number} of administration "
                    f"{adm.id} is no longer in the store: it was deleted outside psyq; "
                    "`psyq audit verify` gives the details",
                }
            )
    out.sort(key=lambda doc: int(doc["version"]))
    return {
        "score_version": adm.score_version if adm.scores is not None else None,
        "scored_at": scoring.get("at"),
        "scored_by": scoring.get("by"),
        "score_versions": out,
    }


def _why_rescored(version: ScoreVersion, definition: str | None, plugins: Any) -> str:
    """Why ``rescore`` replaced ``version``: what differs in what scored the next one."""
    said = []
    if version.scored_with != definition:
        said.append(
            f"the definition changed ({(version.scored_with or '-')[:19]} -> "
            f"{(definition or '-')[:19]})"
        )
    before = (version.scoring or {}).get("plugins")
    if before != plugins:
        said.append(f"the scoring plugins changed ({before} -> {plugins})")
    if not said:
        return (
            "rescored with the same definition and plugins (the client's recorded "
            "attributes or psyq's scoring changed)"
        )
    return "; ".join(said)


def score_version_lines(
    adm: Administration, versions: tuple[ScoreVersion, ...] | list[ScoreVersion]
) -> list[str]:
    """One line per earlier score version of ``adm`` a rescore replaced (text outputs)."""
    from psyq.alerts import alert_line

    fields = score_versions_fields(versions, adm)["score_versions"]
    lines = [
        f"!!! CHANGED OUTSIDE PSYQ: {doc['changed_outside_psyq']}"
        for doc in fields
        if "scores" not in doc  # deleted: only its number is known
    ]
    fields = [doc for doc in fields if "scores" in doc]
    for version, doc in zip(versions, fields, strict=True):
        total = doc["scores"].get("total", {}).get("value")
        # Each flag worded as every alert is (its items and message), not by its id.
        critical = [alert_line(f) for f in version.alerts_gone(adm.result)]
        then = f"; it raised {'; '.join(critical)}" if critical else ""
        lines.append(
            f"SCORES REPLACED: administration {adm.id} ({adm.administered.isoformat()}): "
            f"score version {version.version} (total {'-' if total is None else total}, "
            f"scored {doc['scored_at'] or '-'} by {doc['scored_by'] or '-'}) was replaced "
            f"by a rescore {version.superseded_at.isoformat(timespec='seconds')} by "
            f"{version.superseded_by}: {doc['why']}{then}; kept (`psyq audit log`)"
            + (
                f"; !!! CHANGED OUTSIDE PSYQ: {version.changed_outside_psyq}"
                if version.changed_outside_psyq
                else ""
            )
        )
    return lines


def answer_version_lines(
    adm: Administration, versions: tuple[AnswerVersion, ...] | list[AnswerVersion]
) -> list[str]:
    """One line per earlier save of ``adm`` that psyq replaced (for text outputs)."""
    from psyq.alerts import alert_line

    lines = []
    for version in versions:
        changed = changes_text(version.changes(adm.answers))
        # Each flag worded as every alert is (its items and message), not by its id.
        critical = [alert_line(f) for f in version.alerts_gone(adm.result)]
        then = f"; the earlier answers raised {'; '.join(critical)}" if critical else ""
        lines.append(
            f"ANSWERS CHANGED: administration {adm.id} ({adm.administered.isoformat()}): "
            f"{changed or 'nothing'} (the {version.status} form saved "
            f"{version.saved_at.isoformat(timespec='seconds')} was changed "
            f"{version.superseded_at.isoformat(timespec='seconds')} by "
            f"{version.superseded_by}){then}; kept as answer version {version.id} "
            "(`psyq audit log`)"
            + (
                f"; !!! CHANGED OUTSIDE PSYQ: {version.changed_outside_psyq}"
                if version.changed_outside_psyq
                else ""
            )
        )
    return lines


def partial_json(
    app: App,
    adm: Administration,
    origin: tuple[str, str | None] | None = None,
    changed: str | None = None,
    versions: list[AnswerVersion] | None = None,
    score_versions: list[ScoreVersion] | None = None,
) -> dict[str, Any]:
    """A partial administration as ``psyq history --json`` lists it: its flags and
    scores from the answers given so far, ``administration.status`` = ``partial``,
    ``answered`` / ``items`` counts, and no change (change compares complete ones).
    ``changed`` is the warning for a record changed outside psyq (or None)."""
    from psyq.results import low_concern_bands, with_band_notes

    instrument = app.instrument_of(adm)
    result = result_of(app, adm, instrument)
    marked = low_concern_bands(instrument, result, alert_of(result, versions or ()))
    doc = with_band_notes(result.to_json(), marked)
    doc["administration"] = {
        "id": adm.id,
        "client_id": adm.client_id,
        "administered": adm.administered.isoformat(),
        "clinician": adm.clinician,
        "status": adm.status,
        "instrument_version": adm.instrument_version,
        "definition_hash": adm.definition_hash,
        **origin_fields(origin),
        "changed_outside_psyq": changed,
        "answer_versions": answer_versions_json(versions or [], adm),
        **score_versions_fields(score_versions or [], adm),
        "answered": sum(v is not None for v in adm.answers.values()),
        "items": len(instrument.items),
    }
    doc["change"] = None
    doc["change_from_first"] = None
    doc["compared_with"] = {"previous": None, "first": None}
    doc["outcome"] = None
    return doc


def scale_outcomes(
    instrument: Instrument, first: ScoreResult | None, later: ScoreResult
) -> dict[str, Outcome | None] | None:
    """Response and remission of ``later`` against ``first``, for scales that define them.

    ``None`` when ``later`` is the first administration: both are judged against a
    baseline, so the first has neither (not "no remission").
    """
    if first is None:
        return None
    out: dict[str, Outcome | None] = {}
    for scale in instrument.scales:
        if scale.outcomes is None:
            continue
        before = first.scores.get(scale.id)
        after = later.scores.get(scale.id)
        out[scale.id] = outcome(
            scale, None if before is None else before.value, None if after is None else after.value
        )
    return out or None


def _changes_json(changes: ScaleChanges | None) -> dict[str, Any] | None:
    if changes is None:
        return None
    return {k: (None if v is None else v.model_dump()) for k, v in changes.items()}


def scale_changes(instrument: Instrument, earlier: ScoreResult, later: ScoreResult) -> ScaleChanges:
    """Change on every scale of ``instrument`` from ``earlier`` to ``later``."""
    out: ScaleChanges = {}
    for scale in instrument.scales:
        before = earlier.scores.get(scale.id)
        after = later.scores.get(scale.id)
        out[scale.id] = compare(
            scale,
            None if before is None else before.value,
            None if after is None else after.value,
        )
    return out


def result_of(app: App, administration: Administration, instrument: Instrument) -> ScoreResult:
    """The stored score result (what an older psyq did not store derived at read time:
    :mod:`psyq.stored_results`), or (never stored) a fresh one from the stored answers."""
    from psyq.stored_results import stored_result

    stored = stored_result(app, administration, instrument)
    if stored is not None:
        return stored
    return app.scorer.score_valid(instrument, dict(administration.answers))


UNREADABLE_MARK = "!!! CANNOT SHOW"
"""Leads the line for a stored form whose definition psyq cannot read any more."""


def unreadable(app: App, store: Store, administrations: Iterable[Administration]) -> dict[int, str]:
    """Administration id -> why it cannot be read: its definition is not installed and
    the store keeps no usable copy (deleted or changed outside psyq). Every output that
    lists a store's or a client's forms shows the others, and names each of these with
    the flags stored with it (:func:`unreadable_lines`), rather than failing whole."""
    from psyq.errors import UnknownInstrumentError
    from psyq.store import TamperedError

    found: dict[tuple[str, str, str, str | None], str | None] = {}
    out: dict[int, str] = {}
    for adm in administrations:
        key = (adm.instrument_id, adm.instrument_version, adm.definition_hash, adm.scored_with)
        if key not in found:
            try:
                app.instrument_of(adm, store)
                found[key] = None
            except (UnknownInstrumentError, TamperedError) as exc:
                # "administration 7: instrument ... is not installed ...": said per form.
                found[key] = re.sub(r"^administration \d+: ", "", str(exc))
        problem = found[key]
        if problem is not None:
            out[adm.id] = problem
    return out


def unreadable_lines(adm: Administration, problem: str, *, detail: bool = True) -> list[str]:
    """``!!! CANNOT SHOW administration 7 (mood9 v1.0, 2026-11-30, complete) of client
    C1: <why>``, then each critical flag stored with it, as alerts are worded: psyq
    cannot show the form without its definition, but its risk signal is never lost with
    it. ``detail=False`` (a de-identified export) names neither the form nor its client."""
    from psyq.alerts import alert_line, form_words

    about = f"{adm.instrument_id} v{adm.instrument_version}, {adm.administered.isoformat()}"
    which = (
        f"administration {adm.id} ({about}, {adm.status}) of client {adm.client_id}"
        if detail
        else f"an administration ({adm.instrument_id} v{adm.instrument_version}, {adm.status})"
    )
    if not detail:  # the audit detail names an OS user and a time
        problem = (
            "its definition is not installed and the store keeps no usable copy of it "
            "(`psyq audit verify` gives the details)"
        )
    lines = [f"{UNREADABLE_MARK}: {which}: {problem}"]
    try:
        stored = adm.result
    except ValueError:  # its scores changed outside psyq too: nothing to read
        stored = None
    if stored is None:
        lines.append(
            "  no scores were stored with it: whether it raises a critical flag is not "
            "known until its definition is given again"
        )
        return lines
    where = (
        form_words(adm.id, adm.status, instrument=adm.instrument_id)
        if detail
        else f"{adm.status} administration ({adm.instrument_id})"
    )
    critical = [flag for flag in stored.flags if flag.level == "critical"]
    lines += [f"  as stored: {alert_line(flag, where)}" for flag in critical]
    if not critical:
        lines.append("  as stored, it raised no critical flag")
    return lines


def with_moved_from(store: Store, changed: dict[int, str]) -> dict[int, str]:
    """``changed`` (:meth:`~psyq.store.Store.changed_outside`) with the client a form was
    moved from outside psyq added to its problem, so the client it now shows under is
    told it was saved as another's (its risk signals are not this client's)."""
    if not changed:
        return changed
    moved = {m.administration_id: m.former_client for m in store.moved_outside()}
    return {
        n: problem
        + (
            f"; it was saved by psyq as client {moved[n]}'s and moved here outside psyq"
            if moved.get(n)
            else ""
        )
        for n, problem in changed.items()
    }


def build_history(
    app: App,
    store: Store,
    client_id: str,
    instrument_id: str | None = None,
    *,
    skip: Iterable[int] = (),
) -> list[HistoryEntry]:
    """Complete administrations of ``client_id``, oldest first, with change; ``skip``:
    administration ids left out (those :func:`unreadable` names, said apart)."""
    check_client_id(client_id)
    if not store.has_client(client_id) and not store.administrations(client_id=client_id):
        # A client deleted outside psyq whose forms remain is shown (and said to be).
        raise PsyqError(f"no client '{client_id}' in {store.path} (see `psyq clients`)")
    if instrument_id is not None:
        # An unknown id is a clear error, not an empty list; a path names its id.
        instrument_id = app.instrument_filter(instrument_id, store)
    left_out = set(skip)
    administrations = [
        adm
        for adm in store.administrations(
            client_id=client_id, instrument_id=instrument_id, status="complete"
        )
        if adm.id not in left_out
    ]
    origins = store.definition_origins()
    # A record changed outside psyq is shown, and said to be, on every line it is on.
    from psyq.results import low_concern_bands
    from psyq.store import changed_warning

    changed = with_moved_from(store, store.changed_outside(adm.id for adm in administrations))
    versions = by_administration(store.answer_versions(adm.id for adm in administrations))
    rescored = by_administration(store.score_versions([adm.id for adm in administrations]))
    # Change is measured within one version of a definition: another version may ask
    # other items or score them otherwise (CCTS 0.1 and 0.2), so its totals are not
    # comparable with this one's.
    firsts: dict[tuple[str, str], tuple[Administration, ScoreResult]] = {}
    previous: dict[tuple[str, str], tuple[Administration, ScoreResult]] = {}
    entries: list[HistoryEntry] = []
    for adm in administrations:
        instrument = app.instrument_of(adm, store)
        result = result_of(app, adm, instrument)
        key = (adm.instrument_id, adm.instrument_version)
        kept = tuple(versions.get(adm.id, ()))
        prev = previous.get(key)
        first = firsts.get(key)
        entries.append(
            HistoryEntry(
                administration=adm,
                result=result,
                change=None if prev is None else scale_changes(instrument, prev[1], result),
                change_from_first=(
                    None if first is None else scale_changes(instrument, first[1], result)
                ),
                previous_id=None if prev is None else prev[0].id,
                first_id=None if first is None else first[0].id,
                outcome=scale_outcomes(instrument, None if first is None else first[1], result),
                origin=origins.get(adm.definition_hash),
                changed=changed_warning(changed.get(adm.id)),
                band_notes=frozenset(low_concern_bands(instrument, result, alert_of(result, kept))),
                answer_versions=kept,
                score_versions=tuple(rescored.get(adm.id, ())),
            )
        )
        previous[key] = (adm, result)
        firsts.setdefault(key, (adm, result))
    return entries


def render_request_for(
    app: App, administration_id: int | str, store: Store | None = None
) -> RenderRequest:
    """A render request for one stored administration, ``history`` filled.

    ``history`` holds the same client's earlier complete administrations of the
    same instrument and definition version, oldest first, without this one.
    ``options`` carries ``administration_id``, ``status``, ``change`` /
    ``change_from_first`` (as in ``psyq history --json``) so a report need not
    compute change itself, and ``not_compared`` for administrations of other
    versions (their count, versions and the dates of any critical flag).
    ``changed_outside_psyq`` (the warning) is set when this record no longer matches
    its audit entry, ``earlier_changed_outside_psyq`` lists such records in the trend.
    """
    # isdigit() is true of "²" and "١" too, which int() refuses or reads as another
    # script's digit: an id is the digits 0-9.
    if isinstance(administration_id, str) and not re.fullmatch(
        r"[0-9]+", administration_id.strip()
    ):
        raise PsyqError(f"administration id '{administration_id[:40]}' is not a number")
    admin_id = int(administration_id)
    if store is None:
        with app.open_store() as own:
            return render_request_for(app, admin_id, own)
    adm = store.get(admin_id)
    from psyq.errors import UnknownInstrumentError
    from psyq.store import TamperedError

    try:
        instrument = app.instrument_of(adm, store)
    except (UnknownInstrumentError, TamperedError) as exc:  # no readable definition:
        # the flags stored with it are said (the trend and scores need the definition)
        said = "; ".join(line.strip() for line in unreadable_lines(adm, "")[1:])
        raise type(exc)(f"{exc}; {said}") from None
    result = result_of(app, adm, instrument)
    before = [
        other
        for other in store.administrations(
            client_id=adm.client_id, instrument_id=adm.instrument_id, status="complete"
        )
        if (other.administered, other.id) < (adm.administered, adm.id)
    ]
    # Only administrations of this version of the definition are compared and plotted
    # (see build_history); the others are counted, so the report can say so.
    earlier = [other for other in before if other.instrument_version == adm.instrument_version]
    other_versions = sorted({o.instrument_version for o in before} - {adm.instrument_version})
    history = [
        PastScore(
            administered=other.administered,
            result=result_of(app, other, instrument),
            administration_id=str(other.id),
        )
        for other in earlier
    ]
    options: dict[str, Any] = {"administration_id": adm.id, "status": adm.status}
    # Changed outside psyq after it was saved: this record, or one plotted in its trend.
    from psyq.store import changed_warning

    # The client's other forms of this instrument that are not in the trend (another
    # status, version or date): a hand edit of one of those may be what moved it out.
    outside = [
        other
        for other in store.administrations(client_id=adm.client_id, instrument_id=adm.instrument_id)
        if other.id != adm.id and other.id not in {e.id for e in earlier}
    ]
    changed = with_moved_from(
        store,
        store.changed_outside(
            [adm.id, *(other.id for other in earlier), *(other.id for other in outside)]
        ),
    )
    not_in_trend = [
        {
            "administration_id": other.id,
            "administered": other.administered.isoformat(),
            "status": other.status,
            "instrument_version": other.instrument_version,
            "problem": changed_warning(changed[other.id]),
        }
        for other in outside
        if other.id in changed
    ]
    if not_in_trend:
        options["other_changed_outside_psyq"] = not_in_trend
    if adm.id in changed:
        options["changed_outside_psyq"] = changed_warning(changed[adm.id])
    # Answers psyq replaced after saving them: the earlier ones, and their alerts, shown.
    kept = store.answer_versions([adm.id])
    if kept:
        options["answer_versions"] = answer_versions_json(kept, adm)
        options["answer_version_lines"] = answer_version_lines(adm, kept)
        # The critical flags those earlier answers raised, with the answers that raised
        # them, for the report's safety alert (never only a flag id in a banner).
        earlier_critical = [
            {
                "answer_version": version.id,
                "answers": version.answers,
                "flags": [f.model_dump(mode="json") for f in version.alerts_gone(result)],
            }
            for version in kept
            if version.alerts_gone(result)
        ]
        if earlier_critical:
            options["earlier_critical"] = earlier_critical
    earlier_changed = [
        {
            "administration_id": other.id,
            "administered": other.administered.isoformat(),
            "problem": changed_warning(changed[other.id]),
        }
        for other in earlier
        if other.id in changed
    ]
    if earlier_changed:
        options["earlier_changed_outside_psyq"] = earlier_changed
    # One deleted by hand may have been in this trend: the log does not say whose it was.
    gap = store.log_gap()  # entries cut out of the log: what they named is unknown
    if gap is not None:
        options["audit_log_changed_outside_psyq"] = gap
        # Not entries cut out: an entry psyq did not write, or another store's log.
        from psyq import audit

        if gap in (audit.key_problem(store), audit.unwritten_tail(store)):
            options["audit_log_not_psyqs"] = True
    # A form moved to another client outside psyq is named in this client's reports.
    left = [m for m in store.moved_outside() if m.left(adm.client_id)]
    if left:
        options["left_client_outside_psyq"] = [
            {**m.model_dump(mode="json"), "problem": m.line()} for m in left
        ]
    deleted = store.deleted_outside()
    if deleted:
        options["deleted_outside_psyq"] = [
            {"administration_id": n, "problem": problem} for n, problem in sorted(deleted.items())
        ]
    # So may an earlier version psyq kept of a form or of the client (deleted by hand).
    kept_gone = store.records_deleted_outside()
    if kept_gone:
        options["records_deleted_outside_psyq"] = [
            {"record": record, "problem": problem} for record, problem in kept_gone.items()
        ]
    if other_versions:
        others = [o for o in before if o.instrument_version != adm.instrument_version]
        options["not_compared"] = {
            "count": len(others),
            "versions": other_versions,
            # Left out of the trend, they are still named when a critical flag was raised.
            "critical_dates": [
                o.administered.isoformat()
                for o in others
                if result_of(app, o, app.instrument_of(o, store)).critical
            ],
        }
    if adm.language:
        options["administered_language"] = adm.language
    if history:
        options["change"] = _changes_json(scale_changes(instrument, history[-1].result, result))
        options["change_from_first"] = _changes_json(
            scale_changes(instrument, history[0].result, result)
        )
    return RenderRequest(
        result=result,
        instrument=instrument,
        client_id=adm.client_id,
        administered=adm.administered,
        clinician=adm.clinician,
        note=adm.note,
        generated_at=datetime.now().astimezone(),
        history=history,
        options=options,
    )


def render_request_for_latest(
    app: App, client_id: str, instrument_id: str | None = None, store: Store | None = None
) -> RenderRequest:
    """The render request for the client's latest complete administration
    (of ``instrument_id``, when given), ``history`` filled.

    ``options["later_critical"]`` lists the partial administrations after it whose
    answers raise a critical flag (id, instrument, date, status, answers, flags), so the
    report names them; ``options["later_changed_outside_psyq"]`` those changed outside
    psyq after they were saved (id, date, status, the warning), whose stored answers
    may not show a risk that was there."""
    if store is None:
        with app.open_store() as own:
            return render_request_for_latest(app, client_id, instrument_id, own)
    check_client_id(client_id)
    done = store.administrations(
        client_id=client_id, instrument_id=instrument_id, status="complete"
    )
    if not done:
        of = f" of {instrument_id}" if instrument_id else ""
        raise PsyqError(f"client '{client_id}' has no complete administration{of} in {store.path}")
    latest = done[-1]
    request = render_request_for(app, latest.id, store)
    # A form left unfinished after it is not reported, but its risk signal is never
    # hidden behind an older complete form ("the client's latest").
    later = []
    partials = [
        other
        for other in store.administrations(
            client_id=client_id, instrument_id=instrument_id, status="partial"
        )
        if (other.administered, other.id) > (latest.administered, latest.id)
    ]
    for other in partials:
        instrument = app.instrument_of(other, store)
        critical = result_of(app, other, instrument).critical
        if critical:
            later.append(
                {
                    "administration_id": other.id,
                    "instrument": instrument.short_name or instrument.id,
                    "instrument_id": instrument.id,
                    "answers": dict(other.answers),
                    "administered": other.administered.isoformat(),
                    "status": other.status,
                    "flags": [f.model_dump(mode="json") for f in critical],
                }
            )
    if later:
        request.options["later_critical"] = later
    # A hand edit of such a form may have taken its risk signal away: never silently.
    from psyq.store import changed_warning

    changed = store.changed_outside([other.id for other in partials])
    later_changed = [
        {
            "administration_id": other.id,
            "administered": other.administered.isoformat(),
            "status": other.status,
            "problem": changed_warning(changed[other.id]),
        }
        for other in partials
        if other.id in changed
    ]
    if later_changed:
        request.options["later_changed_outside_psyq"] = later_changed
        # Named once, as a later unfinished form, not again as one outside the trend.
        named = {entry["administration_id"] for entry in later_changed}
        others = [
            entry
            for entry in request.options.get("other_changed_outside_psyq", [])
            if entry["administration_id"] not in named
        ]
        if others:
            request.options["other_changed_outside_psyq"] = others
        else:
            request.options.pop("other_changed_outside_psyq", None)
    return request
