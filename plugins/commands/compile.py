"""``psyq compile``: one definition out as another system's form (FHIR, REDCap)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from psyq.app import App
from psyq.errors import PsyqError
from psyq.files import write_output
from psyq.hookspecs import hookimpl

if TYPE_CHECKING:
    from psyq.models import Instrument


def _fhir(instrument: Instrument) -> bytes:
    from psyq.plugins.fhir.questionnaire import compile_questionnaire

    text = json.dumps(compile_questionnaire(instrument), indent=2, ensure_ascii=False)
    return (text + "\n").encode()


def _redcap(instrument: Instrument) -> bytes:
    from psyq.plugins.redcap.compile import compile_dictionary

    return compile_dictionary(instrument).encode("utf-8")


TARGETS: dict[str, Callable[[Instrument], bytes]] = {"fhir": _fhir, "redcap": _redcap}


@click.command("compile")
@click.argument("instrument_id", metavar="ID|PATH")
@click.option(
    "--to", "target", required=True, type=click.Choice(sorted(TARGETS)), help="Target format."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write."
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.pass_obj
def compile_command(
    app: App, instrument_id: str, target: str, output: Path | None, force: bool
) -> None:
    """Compile an instrument to a FHIR Questionnaire or a REDCap data dictionary.

    \b
    fhir:   R4 Questionnaire (SDC): answer weights, FHIRPath calculated scores.
    redcap: data dictionary CSV (18 columns): radio fields and calc fields.

    \b
    Examples:
      psyq compile phq9 --to fhir -o phq9-questionnaire.json
      psyq compile ./draft.yaml --to redcap -o dictionary.csv
    """
    instrument = app.instrument(instrument_id)
    payload = TARGETS[target](instrument)
    if output is None:
        click.echo(payload.decode("utf-8"), nl=False)
        return
    try:
        write_output(output, payload, force=force, client_data=False)
    except OSError as exc:
        raise PsyqError(f"{output}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"wrote {output}: {instrument.id} v{instrument.version} as {target}", err=True)


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [compile_command]
