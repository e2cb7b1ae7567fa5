"""``psyq import-redcap``: one form of a REDCap data dictionary becomes a psyq DRAFT.

The conversion (which fields become items, scales and flags, and what is listed
in the draft's header instead) is :mod:`psyq.plugins.redcap.drafting`; it, the
calculation parser and the dictionary reader load when the command runs, not
at every start-up.
"""

from __future__ import annotations

from pathlib import Path

import click

from psyq.errors import PsyqError
from psyq.files import write_output
from psyq.hookspecs import hookimpl


@click.command("import-redcap")
@click.argument("dictionary", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--form", help="Form (instrument) name in the dictionary; needed if it has several.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Draft YAML file."
)
@click.option("--id", "instrument_id", help="Instrument id for the draft (default: the form).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def import_redcap_command(
    dictionary: Path,
    form: str | None,
    output: Path | None,
    instrument_id: str | None,
    force: bool,
) -> None:
    """Convert one form of a REDCap data dictionary (CSV) to a psyq instrument YAML DRAFT.

    The draft is provisional; its header lists what was not converted. Check
    it, add bands and golden examples, then `psyq validate` it.

    \b
    Example:
      psyq import-redcap dictionary.csv --form phq9 -o phq9-draft.yaml
    """
    from psyq.plugins.redcap.dictionary import read_dictionary
    from psyq.plugins.redcap.drafting import IDENTIFIER, dictionary_to_draft, draft_yaml

    if instrument_id is not None and not IDENTIFIER.fullmatch(instrument_id):
        raise PsyqError(f"--id '{instrument_id}': use a lower-case letter, then a-z, 0-9, _")
    fields = read_dictionary(dictionary)
    draft = dictionary_to_draft(fields, form, dictionary.name, instrument_id)
    from psyq.plugins.drafts import carry_critical, installed_instruments

    carry_critical(draft.data, draft.notes, installed_instruments())
    text = draft_yaml(draft, dictionary.name)
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


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [import_redcap_command]
