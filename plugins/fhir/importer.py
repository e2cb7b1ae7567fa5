"""``psyq import-fhir``: a FHIR R4 Questionnaire becomes a psyq instrument DRAFT.

The conversion (what becomes an item, a scale, a flag, and what is reported
in the draft's header instead) is :mod:`psyq.plugins.fhir.drafting`, loaded
when the command runs, so that other commands start without it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from psyq.errors import DefinitionError, PsyqError
from psyq.files import read_limited, write_output
from psyq.hookspecs import hookimpl
from psyq.plugins.data_files import load_json
from psyq.registry import MAX_DEFINITION_BYTES

if TYPE_CHECKING:
    from psyq.plugins.fhir.resources import JSON


@click.command("import-fhir")
@click.argument("questionnaire", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Draft YAML file."
)
@click.option("--id", "instrument_id", help="Instrument id for the draft (default: from the file).")
@click.option(
    "--value-set",
    "value_set_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A ValueSet JSON file the Questionnaire's answerValueSet names by URL (repeatable).",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def import_fhir_command(
    questionnaire: Path,
    output: Path | None,
    instrument_id: str | None,
    value_set_files: tuple[Path, ...],
    force: bool,
) -> None:
    """Convert a FHIR R4 Questionnaire (JSON) to a psyq instrument YAML DRAFT.

    The draft is provisional; its header lists what could not be converted
    (calculated totals are not run, items without numeric answer values are
    skipped). Check it, add golden examples, then `psyq validate` it.

    \b
    Example:
      psyq import-fhir phq9-questionnaire.json -o phq9-draft.yaml
    """
    from psyq.plugins.fhir.drafting import draft_yaml, questionnaire_to_draft

    if instrument_id is not None and not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", instrument_id):
        raise PsyqError(f"--id '{instrument_id}': use a lower-case letter, then a-z, 0-9, _")
    raw = read_limited(questionnaire, MAX_DEFINITION_BYTES, "a FHIR Questionnaire")
    data = load_json(questionnaire, raw)
    if not isinstance(data, dict):
        raise DefinitionError(f"{questionnaire}: a JSON {type(data).__name__}, not a Questionnaire")
    value_sets = [_read_value_set(path) for path in value_set_files]
    draft = questionnaire_to_draft(data, questionnaire.name, instrument_id, value_sets)
    from psyq.plugins.drafts import carry_critical, installed_instruments

    carry_critical(draft.data, draft.notes, installed_instruments())
    text = draft_yaml(draft, questionnaire.name)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_output(output, text.encode(), force=force, client_data=False)
    except OSError as exc:
        raise PsyqError(f"{output}: cannot write the draft: {exc.strerror or exc}") from None
    click.echo(
        f"wrote {output}: {draft.data['id']}, {len(draft.data['items'])} item(s), "
        f"{len(draft.notes)} note(s) to check in its header",
        err=True,
    )


def _read_value_set(path: Path) -> JSON:
    # Not open(): a FIFO given as --value-set was waited on forever.
    raw = read_limited(path, MAX_DEFINITION_BYTES, "a FHIR ValueSet", DefinitionError)
    data = load_json(path, raw)
    if not isinstance(data, dict) or data.get("resourceType") != "ValueSet":
        raise DefinitionError(f"{path}: --value-set takes a FHIR ValueSet")
    return data


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [import_fhir_command]
