"""The ``fhir`` and ``fhir-transaction`` output formats, and ``--transaction``.

What a Bundle holds is :mod:`psyq.plugins.fhir.bundle`, loaded when one is
written: every command loads this plugin, few write FHIR.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from psyq.errors import PsyqError
from psyq.hookspecs import hookimpl

if TYPE_CHECKING:
    from psyq.outputs import OutputFormat, RenderRequest


def render_fhir(request: RenderRequest) -> bytes:
    from psyq.plugins.fhir.bundle import fhir_bundle

    # Compact, as FHIR servers write it: indenting makes json use its pure-Python
    # encoder, 10x slower, which a batch of thousands of Bundles would feel.
    text = json.dumps(fhir_bundle(request), ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode()


def render_fhir_transaction(request: RenderRequest) -> bytes:
    from psyq.plugins.fhir.bundle import fhir_bundle

    bundle = fhir_bundle(request, transaction=True)
    text = json.dumps(bundle, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode()


TRANSACTION_FORMAT = "fhir-transaction"
TRANSACTION_HELP = "With --format fhir: a transaction Bundle (POST entries) for a FHIR server."


def with_transaction(names: tuple[str, ...], transaction: bool) -> tuple[str, ...]:
    """The format names a command uses: ``--transaction`` turns ``fhir`` into
    ``fhir-transaction`` (the name kept as an alias of ``--format fhir --transaction``).

    Raises PsyqError when ``--transaction`` is given without a FHIR format.
    """
    if not transaction:
        return names
    if not any(name in ("fhir", TRANSACTION_FORMAT) for name in names):
        chosen = ", ".join(names) or "none"
        raise PsyqError(f"--transaction applies to --format fhir (the format here: {chosen})")
    out = (TRANSACTION_FORMAT if name == "fhir" else name for name in names)
    return tuple(dict.fromkeys(out))


@hookimpl
def psyq_output_formats() -> list[OutputFormat]:
    from psyq.outputs import OutputFormat  # loaded when formats are asked for, not at start-up

    return [
        OutputFormat(
            name="fhir",
            suffix=".fhir.json",
            render=render_fhir,
            description="FHIR R4 Bundle: QuestionnaireResponse and one Observation per scale",
            media_type="application/fhir+json",
        ),
        OutputFormat(
            name="fhir-transaction",
            suffix=".fhir-transaction.json",
            render=render_fhir_transaction,
            description="FHIR R4 transaction Bundle (POST entries) to send to a FHIR server",
            media_type="application/fhir+json",
        ),
    ]
