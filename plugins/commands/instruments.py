"""Commands about instruments: ``list``, ``show``, ``validate``, ``schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from psyq.app import App
from psyq.errors import DefinitionError, PsyqError
from psyq.hookspecs import hookimpl
from psyq.plugins.builtin_instruments import BUILTIN_SOURCE
from psyq.registry import load_instrument_file

if TYPE_CHECKING:
    from psyq.models import Instrument, Scale


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_command(app: App, as_json: bool) -> None:
    """List the instruments installed (id, title, status)."""
    # The entries' own id, title, version and status: listing validates no definition.
    entries = app.registry.all()
    if as_json:
        rows = [
            {
                "id": e.id,
                "version": e.version,
                "title": e.title,
                "status": e.status,
                "source": e.source,
            }
            for e in entries
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(e.id) for e in entries), default=2)
    for e in entries:
        source = "" if e.source == BUILTIN_SOURCE else f"  ({e.source})"
        click.echo(f"{e.id:<{width}}  {e.title} (v{e.version})  [{e.status}]{source}")


@click.command("show")
@click.argument("instrument_id")
@click.option("--json", "as_json", is_flag=True, help="Print the full definition as JSON.")
@click.pass_obj
def show_command(app: App, instrument_id: str, as_json: bool) -> None:
    """Show an instrument: items, answers, scales, bands, flags and caveats."""
    entry = app.registry.entry(instrument_id)
    inst = entry.instrument
    if as_json:
        data = inst.model_dump(mode="json")
        data["content_hash"] = inst.content_hash()
        data["source"] = entry.source
        data["notices"] = inst.notices
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(_describe(inst, entry.source))


def _describe(inst: Instrument, source: str) -> str:
    lines = [f"{inst.title} ({inst.short_name}) v{inst.version}  [{inst.status}]"]
    lines += [f"NOTICE: {n}" for n in inst.notices]
    if not inst.texts_installed:
        from psyq.overlays import placeholder_notice

        lines.append(f"LICENSED TEXT: {placeholder_notice(inst)}")
    elif inst.overlay is not None:
        lines.append(f"Licensed item texts from {inst.overlay}")
    if inst.description:
        lines += ["", inst.description.strip()]
    if inst.instructions:
        lines += ["", f"Instructions: {inst.instructions.strip()}"]
    lines += ["", "Items:"]
    for n, item in enumerate(inst.items, 1):
        marks = []
        if item.reverse:
            marks.append("reverse-keyed")
        if not item.scored:
            marks.append("not scored")
        if item.required:
            marks.append("required")
        if item.critical:
            marks.append("critical: unanswered raises a critical flag")
        suffix = f"  ({', '.join(marks)})" if marks else ""
        lines.append(f"  {n:>2}. {item.id}: {item.text.strip()}{suffix}")
    for rs_id, rs in inst.response_scales.items():
        lines.append(f"Answers ({rs_id}): {rs.describe()}")
    lines += ["", "Scales:"]
    for scale in inst.scales:
        lo, hi = inst.bounds(scale.id)
        direction = "higher is worse" if scale.higher_is_worse else "higher is better"
        lines.append(
            f"  {scale.id}: {scale.label}; {scale.method} of {len(scale.items)} items, "
            f"range {lo:g}-{hi:g}, {direction}"
        )
        if scale.client_bands:
            names = " and ".join(sorted(scale.client_attributes))
            lines.append(f"      {names} not known:")
        for band in scale.bands:
            lines.append(f"      {band.min:g}-{band.max:g}  {band.label}")
        if scale.clinical_cutoff is not None:
            lines.append(f"      clinical cut-off: {scale.clinical_cutoff:g}")
        if scale.bands_source:
            lines.append(f"      source: {scale.bands_source}")
        lines.append(f"      missing: {_missing_rule(scale)}")
        for group in scale.client_bands:
            source = f" ({group.source})" if group.source else ""
            lines.append(f"      for {group.label}{source}:")
            lines += [f"      {b.min:g}-{b.max:g}  {b.label}" for b in group.bands]
            if group.clinical_cutoff is not None:
                lines.append(f"      clinical cut-off: {group.clinical_cutoff:g}")
        if scale.reliable_change is not None:
            change = scale.reliable_change
            source = f" ({change.source})" if change.source else ""
            lines.append(f"      {change.describe(scale.decimals)}{source}")
        if scale.outcomes is not None:
            rule = scale.outcomes
            source = f" ({rule.source})" if rule.source else ""
            lines.append(
                f"      response: a drop of {rule.response_percent:g} % or more from the first; "
                f"remission: below {rule.remission_below:g}{source}"
            )
    if inst.flags or any(item.critical for item in inst.items):
        lines += ["", "Flags:"]
        lines += [f"  [{f.level}] {f.id}: {f.message.strip()}" for f in inst.flags]
        for item in inst.items:
            if item.critical:
                lines.append(
                    f"  [critical] critical_item_unanswered: raised when {item.id} is not "
                    "answered; ask it directly."
                )
    lines += ["", *citation_lines(inst)]
    lines += [f"Licence: {inst.licence.strip()}", f"Source: {source}"]
    return "\n".join(lines)


def _missing_rule(scale: Scale) -> str:
    """The scale's missing-data rule in words, with its source."""
    rule, n = scale.missing, len(scale.items)
    if not _allows_missing(scale):
        words = "every item needed"
    else:
        parts = []
        if rule.max_missing is not None:
            parts.append(f"at most {rule.max_missing} of {n} items unanswered")
        if rule.min_answered is not None:
            parts.append(f"at least {rule.min_answered} of {n} answered")
        words = " and ".join(parts) or "scored with any item unanswered"
        if rule.prorate:
            words += ", prorated"
    return f"{words} ({rule.source})" if rule.source else words


def citation_lines(inst: Instrument) -> list[str]:
    """``Citation: text (url)``, or a numbered list, one citation a line."""
    shown = [" ".join(c.text.split()) + (f" <{c.url}>" if c.url else "") for c in inst.citations]
    if not shown:
        return ["Citation: none given"]
    if len(shown) == 1:
        return [f"Citation: {shown[0]}"]
    return ["Citations:", *(f"  {n}. {text}" for n, text in enumerate(shown, 1))]


@click.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.pass_obj
def validate_command(app: App, files: tuple[Path, ...]) -> None:
    """Check instrument files: schema, consistency and golden examples.

    With no FILES, checks every installed instrument (built-in and plugins).
    Exits 2 when any file fails.
    """
    failures = 0
    if not files:
        registry = app.loaded_registry  # its problems are listed here, not warned about
        for problem in registry.problems:
            click.echo(f"FAIL {problem}", err=True)
        failures += len(registry.problems)
        for entry in registry.all():
            failures += _report(app, entry.instrument, str(entry.path))
        failures += _translations(app)
        failures += _norm_tables(app)
    for path in files:
        try:
            if _is_translation(app, path):
                failures += _translation_report(app, path)
                continue
            instrument = load_instrument_file(app.pm, path)
        except PsyqError as exc:  # DefinitionError, or a translation of an unknown instrument
            shown = exc.problems if isinstance(exc, DefinitionError) else [str(exc)]
            for problem in shown:
                click.echo(f"FAIL {problem}", err=True)
            failures += len(shown)
            continue
        failures += _report(app, instrument, str(path))
    if failures:
        click.echo(f"{failures} problem(s) found", err=True)
        raise click.exceptions.Exit(2)


def _report(app: App, instrument: Instrument, where: str) -> int:
    from psyq.scoring import check_examples

    problems = check_examples(app.scorer, instrument)
    if problems:
        for problem in problems:
            click.echo(f"FAIL {where}: {problem}", err=True)
        return len(problems)
    n = len(instrument.examples)
    note = f"{n} golden example(s) pass" if n else "no golden examples (add some under examples:)"
    click.echo(f"ok   {where}: {instrument.id} v{instrument.version}, {note}")
    for unsourced, key in _unsourced(instrument):
        click.echo(
            f"note {where}: {unsourced} gives no source: cite the manual or paper, or say "
            f"it is your own convention ({key})",
            err=True,
        )
    for item_id in _untested_critical(instrument):
        click.echo(
            f"note {where}: critical item {item_id}: no critical flag tests its answer, so "
            "only leaving it unanswered raises one and a risk answer raises nothing; add a "
            f"flag such as `level: critical, when: {{item: {item_id}, op: '>', value: 0}}`",
            err=True,
        )
    return 0


def _untested_critical(instrument: Instrument) -> list[str]:
    """Critical items no critical flag tests the answer of (only ``missing`` or nothing)."""
    tested = {
        item_id
        for flag in instrument.flags
        if flag.level == "critical"
        for leaf in flag.when.leaves()
        if leaf.missing is not True  # "answered" (missing: false) raises on any answer
        for item_id in leaf.item_ids
    }
    return [item.id for item in instrument.items if item.critical and item.id not in tested]


def _unsourced(instrument: Instrument) -> list[tuple[str, str]]:
    """The numbers whose source field is left empty (every number has a source), each
    with the name of that field."""
    found = []
    for scale in instrument.scales:
        if (scale.bands or scale.clinical_cutoff is not None) and not scale.bands_source.strip():
            what = "bands" if scale.bands else "clinical_cutoff"
            found.append((f"scale {scale.id}: {what}", "bands_source:"))
        if _allows_missing(scale) and not scale.missing.source.strip():
            found.append((f"scale {scale.id}: missing", "missing: {source: ...}"))
        if scale.reliable_change is not None and not scale.reliable_change.source.strip():
            found.append((f"scale {scale.id}: reliable_change", "source:"))
        if scale.outcomes is not None and not scale.outcomes.source.strip():
            found.append((f"scale {scale.id}: outcomes", "source:"))
        for group in scale.client_bands:
            if not group.source.strip():
                where = ", ".join(f"{k}: {v}" for k, v in group.client.items())
                found.append((f"scale {scale.id}: client_bands ({where})", "source:"))
    return found


def _allows_missing(scale: Scale) -> bool:
    """Whether the scale's missing-data rule scores it with an item unanswered."""
    rule = scale.missing
    if rule.max_missing == 0:
        return False
    return rule.min_answered is None or rule.min_answered < len(scale.items)


def _is_translation(app: App, path: Path) -> bool:
    from psyq.registry import read_definition

    return "translation_of" in read_definition(app.pm, path)


def _translation_report(app: App, path: Path) -> int:
    """Check one translation file against its instrument (every text there)."""
    from psyq.translations import check_file, untranslated

    found, problems = check_file(app, path)
    for problem in problems:
        click.echo(f"FAIL {problem}", err=True)
    if not problems:
        click.echo(f"ok   {path}: {found.translation_of} in '{found.language}'")
        # The optional texts it leaves out are shown in English: said here as in reports.
        english = untranslated(app.instrument(found.translation_of), found)
        if english:
            click.echo(
                f"note {path}: not translated, so shown in English: {'; '.join(english)}",
                err=True,
            )
    return len(problems)


def _translations(app: App) -> int:
    """Every translation file the plugins ship (translations inside definitions are
    checked when the definition loads)."""
    from psyq.translations import files_for

    files = files_for(app.pm)
    for problem in files.problems:
        click.echo(f"FAIL {problem}", err=True)
    failures = len(files.problems)
    for _, path in files.files.values():
        try:
            failures += _translation_report(app, path)
        except PsyqError as exc:
            click.echo(f"FAIL {path}: {exc}", err=True)
            failures += 1
    return failures


def _norm_tables(app: App) -> int:
    """Every norm table the plugins ship, and each instrument's ``norms:`` against them
    (its version and scales), as ``psyq score`` would use them."""
    from psyq.norms import NormError, tables_for, tables_from_sources

    problems: list[str] = []
    try:
        known = tables_from_sources(app.pm, problems)
    except NormError as exc:  # one id from two sources
        problems.append(str(exc))
        known = {}
    for problem in problems:
        click.echo(f"FAIL {problem}", err=True)
    failures = len(problems)
    for entry in app.loaded_registry.all():
        if not entry.instrument.norms:
            continue
        try:
            tables_for(app.pm, entry.instrument, [], known)
        except NormError as exc:
            click.echo(f"FAIL {entry.path}: {exc}", err=True)
            failures += 1
    return failures


@click.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the instrument definition format."""
    from psyq.models import Instrument

    click.echo(json.dumps(Instrument.model_json_schema(), indent=2))


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [list_command, show_command, validate_command, schema_command]
