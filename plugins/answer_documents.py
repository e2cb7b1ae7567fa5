"""Answers documents: from parsed data to validated answers, through ``psyq_parse_answers``.

:func:`parse_answers` is the one place an answers document (an answers file,
one line of a batch input) becomes item id -> answer; plugins recognise their
formats through the hook (psyq's FHIR plugin reads QuestionnaireResponses) and
this module's fall-back accepts a plain mapping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psyq.errors import AnswerError
from psyq.hookspecs import hookimpl
from psyq.manager import PsyqPluginManager

if TYPE_CHECKING:
    from psyq.models import Instrument


def parse_answers(
    pm: PsyqPluginManager, instrument: Instrument, data: Any, *, where: str = ""
) -> dict[str, int | None]:
    """Validated answers from one parsed document; ``where`` prefixes every error."""
    return parse_document(pm, instrument, data, where=where)[0]


def parse_document(
    pm: PsyqPluginManager, instrument: Instrument, data: Any, *, where: str = ""
) -> tuple[dict[str, int | None], dict[str, str]]:
    """Validated answers and what the document says about them: its ``"@..."`` keys
    without the ``@`` (``client_id``, ``date``, ``sex``, ``sex_source``, ...)."""
    try:
        mapping = pm.hook.psyq_parse_answers(instrument=instrument, data=data)
    except AnswerError as exc:
        raise AnswerError(f"{where}{exc}") from None
    if mapping is None:
        from psyq.registry import kind_of

        raise AnswerError(
            f"{where}expected a mapping of item id to answer "
            f"(e.g. {instrument.items[0].id}: 1) or a FHIR QuestionnaireResponse, "
            f"not {kind_of(data)}"
        )
    # "@client_id" and "@date" say who answered and when (psyq batch names rows with them).
    answers = {k: v for k, v in mapping.items() if not (isinstance(k, str) and k.startswith("@"))}
    about = {k[1:]: str(v) for k, v in mapping.items() if isinstance(k, str) and k.startswith("@")}
    from psyq.answers import coerce_answers, document_status

    if "@status" in mapping:
        # Only "partial" was read as unfinished: "in-progress", "incomplete" or a typo
        # in a plain answers file was stored and reported as a finished form.
        try:
            about["status"] = document_status(mapping["@status"])
        except AnswerError as exc:
            raise AnswerError(f"{where}{exc}") from None

    return coerce_answers(instrument, answers, where=where), about


@hookimpl(trylast=True)
def psyq_parse_answers(data: Any) -> dict[str, Any] | None:
    # The plain format: item id -> answer, checked by coerce_answers.
    return data if isinstance(data, dict) else None
