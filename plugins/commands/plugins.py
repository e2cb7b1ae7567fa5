"""``psyq plugins``: what is installed, what each plugin provides, and what failed."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from psyq.app import App
from psyq.hookspecs import hookimpl
from psyq.manager import PsyqPluginManager
from psyq.scope import instruments_of

# What ``provides`` lists, in this order: kind -> the collecting hook (``None``: computed).
PROVIDES: dict[str, str | None] = {
    "instruments": None,
    "output_formats": "psyq_output_formats",
    "commands": "psyq_register_commands",
    "report_sections": "psyq_report_sections",
    "template_filters": None,
    "scoring_methods": "psyq_scoring_methods",
    "scoring_stages": None,
    "batch_executors": "psyq_batch_executors",
    "norm_sources": None,
    "translation_sources": None,
}

_KIND_WORDS = {
    "output_formats": "output format",
    "commands": "command",
    "report_sections": "report section",
    "scoring_methods": "scoring method",
    "batch_executors": "batch executor",
}


def provided(app: App) -> dict[str, dict[str, list[str]]]:
    """plugin name -> kind -> names it provides, by calling every collecting hook.

    A plugin whose hook raises here is recorded as failed (with the hook) and
    provides nothing; a name another plugin took first is one of its problems.
    """
    pm = app.pm
    out: dict[str, dict[str, list[str]]] = {}

    def add(plugin: str, kind: str, name: str) -> None:
        out.setdefault(plugin, {k: [] for k in PROVIDES})[kind].append(name)

    for instrument_id, plugin in app.registry.owners.items():
        add(plugin, "instruments", instrument_id)
    for kind, hook in PROVIDES.items():
        if hook is None:
            continue
        kwargs: dict[str, Any] = {"pm": pm} if hook == "psyq_output_formats" else {}
        for name, (plugin, _) in pm.collect_owned(hook, _KIND_WORDS[kind], **kwargs).items():
            add(plugin, kind, name)
    filters: set[str] = set()
    for plugin, mapping in pm.collect("psyq_template_filters"):
        for name in dict(mapping):
            if name not in filters:
                filters.add(name)
                add(plugin, "template_filters", name)
    # Sources are folders, not named records: list their labels as given.
    for kind, hook in (
        ("norm_sources", "psyq_norm_sources"),
        ("translation_sources", "psyq_translation_sources"),
    ):
        for plugin, source in pm.collect(hook):
            add(plugin, kind, source.name)
    for info in pm.plugin_infos():
        for hook_name in info.hooks:
            if hook_name.startswith("psyq_score_"):
                add(info.name, "scoring_stages", hook_name.removeprefix("psyq_score_"))
    for plugin in list(out):
        if pm.get_plugin(plugin) is None:  # failed while collecting: it provides nothing
            del out[plugin]
    return out


def scopes(pm: PsyqPluginManager, plugin_name: str) -> dict[str, list[str]]:
    """hook name -> instrument ids, for hooks the plugin scoped with ``for_instruments``."""
    plugin = pm.get_plugin(plugin_name)
    out: dict[str, list[str]] = {}
    callers = pm.get_hookcallers(plugin) if plugin is not None else None
    for caller in callers or []:
        for impl in caller.get_hookimpls():
            scope = instruments_of(impl.function) if impl.plugin is plugin else ()
            if scope:
                out[caller.name] = list(scope)
    return dict(sorted(out.items()))


def _rows(pm: PsyqPluginManager, show_all: bool) -> list[Any]:
    return [i for i in pm.plugin_infos() if show_all or i.source != "built-in"]


@click.command("plugins")
@click.option("--all", "show_all", is_flag=True, help="Include psyq's built-in plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def plugins_command(app: App, show_all: bool, as_json: bool) -> None:
    """List installed plugins: what each provides, its hooks, and what failed.

    Provides: instruments, output formats, commands, report sections, template
    filters, scoring methods, scoring stages and batch executors. A plugin
    whose hook raised is listed as failed with the hook and the error; a name
    another plugin took first is listed under problems.
    """
    provides = provided(app)
    rows = _rows(app.pm, show_all)
    if as_json:
        empty: dict[str, list[str]] = {kind: [] for kind in PROVIDES}
        data = [
            {**asdict(r), "provides": provides.get(r.name, empty), "scoped": scopes(app.pm, r.name)}
            for r in rows
        ]
        click.echo(json.dumps(data, indent=2))
        return
    if not rows:
        click.echo("no third-party plugins installed (`psyq plugins --all` lists built-ins)")
        return
    for row in rows:
        version = f" {row.version}" if row.version else ""
        dist = f" ({row.distribution})" if row.distribution and row.distribution != row.name else ""
        click.echo(f"{row.name}{version}{dist}  [{row.source}]")
        if row.error:
            click.echo(f"    error: {row.error}")
        for kind, names in provides.get(row.name, {}).items():
            if names:
                click.echo(f"    {kind.replace('_', ' ')}: {', '.join(names)}")
        for hook_name, ids in scopes(app.pm, row.name).items():
            click.echo(f"    {hook_name} only for: {', '.join(ids)}")
        for problem in row.problems:
            click.echo(f"    problem: {problem}")
        if row.hooks:
            click.echo(f"    hooks: {', '.join(row.hooks)}")


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [plugins_command]
