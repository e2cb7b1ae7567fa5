"""``psyq plugins``: what is installed, what it implements, and what failed."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from psyq.app import App
from psyq.hookspecs import hookimpl


@click.command("plugins")
@click.option("--all", "show_all", is_flag=True, help="Include psyq's built-in plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def plugins_command(app: App, show_all: bool, as_json: bool) -> None:
    """List installed plugins: name, version, source and hooks (failed ones with the reason)."""
    rows = [i for i in app.pm.plugin_infos() if show_all or i.source != "built-in"]
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo("no third-party plugins installed (`psyq plugins --all` lists built-ins)")
        return
    for row in rows:
        version = f" {row.version}" if row.version else ""
        click.echo(f"{row.name}{version}  [{row.source}]")
        if row.error:
            click.echo(f"    error: {row.error}")
        if row.hooks:
            click.echo(f"    hooks: {', '.join(row.hooks)}")


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [plugins_command]
