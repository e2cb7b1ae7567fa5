"""Hook specifications: every way a plugin can extend psyq.

A plugin is any module or object with functions decorated ``@psyq.hookimpl``
whose names match these specs. psyq's own behaviour (YAML loading, the
built-in instruments, the scoring stages, the output formats, the commands)
is written as default plugins in :mod:`psyq.plugins` against these same hooks,
so a third-party plugin can do anything a built-in can.

Rules that hold for every hook:

* Call order is last-registered-first; psyq's defaults are registered first
  and the fall-back implementations carry ``trylast=True``, so a third-party
  implementation runs before them.
* Hooks marked *first result wins* stop at the first implementation that
  returns something other than ``None``.
* Signatures only ever gain arguments. A plugin may accept fewer arguments
  than the spec lists (pluggy passes only the ones it names).
* ``since`` gives the psyq version that introduced the hook.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from psyq.batch.executors import BatchExecutor
    from psyq.manager import PsyqPluginManager
    from psyq.models import Instrument
    from psyq.norms import NormSource
    from psyq.outputs import OutputFormat, RenderRequest
    from psyq.registry import InstrumentSource
    from psyq.report import ReportSection
    from psyq.scoring import ScoringMethod, ScoringState

PROJECT = "psyq"
ENTRY_POINT_GROUP = "psyq"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- instruments ------------------------------------------------------------


@hookspec
def psyq_instrument_sources() -> list[InstrumentSource]:
    """Return places to load instrument definitions from.

    Each :class:`psyq.registry.InstrumentSource` names a directory (every
    ``*.yaml``, ``*.yml`` and ``*.json`` file in it is an instrument) or a
    single file, and the name shown when two sources define the same
    instrument id (the later one is skipped with a warning naming its
    plugin). An instrument pack that only ships data files needs nothing but
    this hook.

    Called once per process, the first time an instrument is needed. All
    implementations are called; their lists are concatenated.

    since: 0.1
    """
    raise NotImplementedError


@hookspec
def psyq_translation_sources() -> list[InstrumentSource]:
    """Return places to load instrument translations from.

    Each :class:`psyq.registry.InstrumentSource` names a directory of translation
    files (or one file): ``*.yaml``, ``*.yml`` or ``*.json`` files with
    ``translation_of``, ``instrument_version``, ``language``, ``source`` and every
    text of the instrument (see :mod:`psyq.translation_format`). This is how a
    plugin adds a language to an instrument it does not own, a built-in one
    included. An incomplete translation is reported by ``psyq validate`` and is
    never used.

    All implementations are called; their lists are concatenated.

    since: 0.2
    """
    raise NotImplementedError


@hookspec
def psyq_norm_sources() -> list[NormSource]:
    """Return places to load norm tables from (:class:`psyq.norms.NormSource`).

    Each names a directory (every ``*.json``, ``*.yaml`` and ``*.yml`` file in
    it is a norm table, as ``psyq norms build`` writes them) or one file. A
    definition uses a table by naming its id (``norms: [table_id]``). Tables
    are data, never code. All implementations are called; their lists are
    concatenated; two tables with one id are an error naming both sources. A
    malformed table is skipped with one warning naming its source and plugin.

    since: 0.2
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def psyq_load_definition(path: Path, data: bytes) -> dict[str, Any] | None:
    """Parse the raw bytes of a definition file into plain data.

    Return ``None`` when ``path`` is not a format this plugin reads (decide by
    suffix), else a ``dict`` that psyq validates against the instrument
    schema. Raise :class:`psyq.errors.DefinitionError` with ``file:line``
    for a malformed file. Loaders must never execute code from the file.

    First result wins. since: 0.1
    """
    raise NotImplementedError


# -- answers ----------------------------------------------------------------


@hookspec(firstresult=True)
def psyq_parse_answers(instrument: Instrument, data: Any) -> dict[str, Any] | None:
    """Turn one parsed answers document into a mapping of item id -> answer.

    ``data`` is plain data already parsed (safely, with psyq's size and
    nesting caps) from an answers file or one line of a batch input: a
    mapping, a list, or a scalar. Return ``None`` when it is not a shape this
    plugin reads; otherwise return item id -> answer, which psyq then checks
    like any answers (unknown items and disallowed values are errors). A
    document that says who answered and when may add ``"@client_id"``,
    ``"@date"`` (``YYYY-MM-DD``) and ``"@authored"`` (an ISO date-time with its
    time zone): ``psyq batch`` names JSONL rows with the first two and carries
    ``@authored`` into the outputs (``RenderRequest.authored``). ``"@sex"``
    (``female``/``male``, with ``"@sex_source"`` naming where it was read) gives
    the client's sex for cut-offs that depend on it; a conflicting ``--sex`` or
    recorded sex is refused.

    Raise :class:`psyq.errors.AnswerError` with one line naming the part of
    the document at fault (a FHIR ``linkId``, a field) when the document is
    yours but cannot be mapped; the caller adds the file or row. Never fetch
    anything a document points to.

    psyq's default (``trylast``) accepts a plain mapping; its ``fhir_answers``
    plugin reads a FHIR R4 QuestionnaireResponse.

    First result wins. since: 0.1
    """
    raise NotImplementedError


# -- scoring ----------------------------------------------------------------


@hookspec
def psyq_scoring_methods() -> list[ScoringMethod]:
    """Return aggregation methods that a scale's ``method:`` may name.

    psyq ships ``sum`` and ``mean``. A method name another plugin already
    provides is skipped with one warning naming the later plugin. All implementations are called.

    since: 0.1
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def psyq_score_recode(state: ScoringState) -> bool | None:
    """Stage 1 of 7: turn answers into item values (``state.values``).

    The default copies each answer, applying an item's ``recode`` map. Return
    ``True`` to replace the default; return ``None`` to let it run after
    you. Use a ``wrapper=True`` implementation to adjust its result.

    Each of the seven stages follows the same rules: first result wins, the
    default is ``trylast``, and a plain implementation returns ``True`` or
    ``None`` only (any other value, ``False`` included, is an error naming the
    plugin). The stages run in this order: recode, reverse, missing, aggregate,
    transform, interpret, flags. After a plugin's stage has run, psyq checks
    the state it left (:mod:`psyq.stage_checks`): a critical flag the file's
    rules raise is never lost.

    since: 0.1
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def psyq_score_reverse(state: ScoringState) -> bool | None:
    """Stage 2 of 7: reverse-key items (value becomes min + max - value).

    First result wins; the default is ``trylast``. since: 0.1
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def psyq_score_missing(state: ScoringState) -> bool | None:
    """Stage 3 of 7: count answered and missing items per scale and apply the
    scale's missing-data rule, setting ``reason`` on scales that cannot be
    scored.

    First result wins; the default is ``trylast``. since: 0.1
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def psyq_score_aggregate(state: ScoringState) -> bool | None:
    """Stage 4 of 7: compute each scorable scale's ``raw`` aggregate with its
    method (sum, mean, or a plugin's) and, where the rule says so, prorate.

    First result wins; the default is ``trylast``. since: 0.1
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def psyq_score_transform(state: ScoringState) -> bool | None:
    """Stage 5 of 7: apply the scale's linear transform and round half up to
    the scale's decimals, giving ``value``. A norms plugin can wrap this
    stage to add T-scores to ``state.extra``.

    First result wins; the default is ``trylast``. since: 0.1
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def psyq_score_interpret(state: ScoringState) -> bool | None:
    """Stage 6 of 7: find each scored scale's band.

    First result wins; the default is ``trylast``. since: 0.1
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def psyq_score_flags(state: ScoringState) -> bool | None:
    """Stage 7 of 7: evaluate the instrument's flag rules into ``state.flags``.

    The default also raises ``critical_item_unanswered`` for every unanswered
    critical item, and puts critical flags first. A plugin may add flags; a
    critical flag of the file's that a plugin's stage dropped or downgraded is
    raised again, with a warning naming the plugin.

    First result wins; the default is ``trylast``. since: 0.1
    """
    raise NotImplementedError


# -- output and commands ----------------------------------------------------


@hookspec
def psyq_output_formats(pm: PsyqPluginManager) -> list[OutputFormat]:
    """Return output formats (``table``, ``json``, ``html``, ``pdf``, ...).

    Each :class:`psyq.outputs.OutputFormat` has a unique name, a file suffix
    and a ``render`` function returning ``bytes``; ``psyq score --format`` with a
    plugin's format also writes each critical flag on stderr. A name another plugin already provides
    is skipped with one warning naming the later plugin. All implementations are called.

    ``pm`` is the plugin manager asking: a format whose ``render`` calls other
    hooks (the report formats collect sections, context and filters) binds to
    it, so a plugin registered on that manager takes part.

    since: 0.1
    """
    raise NotImplementedError


@hookspec
def psyq_register_commands() -> list[click.Command]:
    """Return click commands to add to the ``psyq`` command line.

    Commands reach the plugin manager and the instrument registry through
    ``click.get_current_context().obj``, a :class:`psyq.app.App`. A command
    name another plugin already provides is skipped with one warning naming
    the later plugin. All
    implementations are called.

    since: 0.1
    """
    raise NotImplementedError


# -- reports ----------------------------------------------------------------


@hookspec
def psyq_report_sections() -> list[ReportSection]:
    """Return sections to add to PDF and HTML reports, or to replace built-in ones.

    Each :class:`psyq.report.ReportSection` carries Jinja2 template source
    (autoescaped), a sort ``order`` and optionally ``replaces`` naming the
    section it stands in for (never ``safety_alert``, which is always first).
    Section names are unique; a duplicate is
    skipped with one warning naming the later plugin. All implementations are called.

    since: 0.1
    """
    raise NotImplementedError


@hookspec
def psyq_report_context(request: RenderRequest, context: dict[str, Any]) -> None:
    """Add values to the template context of one report, in place.

    Called once per rendered report, after psyq has filled ``context`` and
    before any section is rendered. Keys a plugin adds should carry its name
    as a prefix to avoid collisions. psyq's keys that carry the safety alert or
    a caveat (:data:`psyq.report.GUARDED_CONTEXT`) are put back, with a warning,
    if a plugin takes something away from them. All implementations are called.

    since: 0.1
    """
    raise NotImplementedError


@hookspec
def psyq_template_filters() -> dict[str, Callable[..., Any]]:
    """Return Jinja2 filters (name -> function) for report templates.

    A filter name another plugin already provides is skipped with one
    warning naming the later plugin. All implementations are called.

    since: 0.1
    """
    raise NotImplementedError


# -- batch ------------------------------------------------------------------


@hookspec
def psyq_batch_executors() -> list[BatchExecutor]:
    """Return executors that ``psyq batch --executor NAME`` can run chunks on.

    Each :class:`psyq.batch.executors.BatchExecutor` has a unique name and an
    ``open(settings)`` returning a context manager that yields a runner whose
    ``run(fn, jobs)`` calls ``fn`` (always
    :func:`psyq.batch.worker.run_chunk`) on every job, anywhere, and yields
    the results in any order. ``fn`` and the jobs are picklable and touch no
    file; keep a few jobs in flight, not all of them, so memory stays flat.
    psyq ships ``local`` (a process pool) and ``dask`` (a Dask distributed
    cluster, with the ``psyq[dask]`` extra). A name another plugin
    already provides is skipped with one warning naming the later plugin.
    All implementations are called.

    since: 0.1
    """
    raise NotImplementedError
