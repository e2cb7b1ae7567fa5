"""Answers from FHIR: read an R4 QuestionnaireResponse as item id -> answer.

A response item maps to an instrument item when its ``linkId`` is the item's
id, is one of the item's LOINC codes (``44250-9`` or ``/44250-9``), is one
of its codes whose system is the Questionnaire the response answers (a
canonical, versioned or not, a relative reference, a contained Questionnaire:
see :mod:`psyq.plugins.fhir.linking`), or a ``--link-map`` names it. Groups
and items nested under answers are walked. An answer maps to an option by
``valueInteger``, by a ``valueCoding`` code among the option's codes, by an
``ordinalValue`` extension, or by its label.

Anything answered that cannot be mapped is refused in one line naming its
linkId: dropping it could hide an answer that matters (PHQ-9 item 9). A
response item that carries a score psyq computes itself (its linkId is a
code of one of the instrument's scales, such as the PHQ-9 total 44261-6) is
ignored, so a wrong total in the file never reaches a report.

The response's ``status`` says whether the form was finished: ``completed`` and
``amended`` are complete; ``in-progress`` and ``stopped`` are an unfinished form,
given as ``"@status": "partial"`` and shown and stored as a partial administration
(the PARTIAL mark, ``partial`` in JSON, history and export, ``in-progress`` in FHIR
out); ``entered-in-error``, a missing status (FHIR requires one) or an unknown one
are refused in one line.

A Bundle holding exactly one QuestionnaireResponse (as ``psyq report
--format fhir`` writes) is read too. Nothing is fetched. For an instrument whose
cut-offs depend on sex, the gender of the response's Patient, when the input
holds it (:mod:`psyq.plugins.fhir.patient`), is given as ``"@sex"``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from psyq.errors import AnswerError
from psyq.hookspecs import hookimpl
from psyq.plugins.fhir.resources import (
    JSON,
    TERMINOLOGIES,
    as_list,
    iter_items,
    normalise,
    ordinal_value,
    whole_number,
)

if TYPE_CHECKING:
    from psyq.models import Coding, Instrument, Item
    from psyq.plugins.fhir.linking import ResponseContext


class _Index:
    """Which instrument item (or scale) a response linkId names."""

    def __init__(self, instrument: Instrument, questionnaire: str) -> None:
        self.items: dict[str, Item] = {}
        self.scales: set[str] = set()
        for item in instrument.items:
            for key in [item.id, *self._keys(item.codes, questionnaire)]:
                self.items.setdefault(key, item)
        for scale in instrument.scales:
            self.scales.update(self._keys(scale.codes, questionnaire))

    @staticmethod
    def _keys(codes: list[Coding], questionnaire: str) -> list[str]:
        keys = []
        for coding in codes:
            if questionnaire and coding.system == questionnaire:
                keys.append(coding.code)
            elif coding.system in TERMINOLOGIES:
                keys += [coding.code, "/" + coding.code]
        return keys


_INDEXES: dict[tuple[int, str], tuple[Instrument, _Index]] = {}


def _index_for(instrument: Instrument, questionnaire: str) -> _Index:
    # A batch reads thousands of responses to one Questionnaire: build its index once.
    key = (id(instrument), questionnaire)
    cached = _INDEXES.get(key)
    if cached is not None and cached[0] is instrument:
        return cached[1]
    if len(_INDEXES) > 64:
        _INDEXES.clear()
    index = _Index(instrument, questionnaire)
    _INDEXES[key] = (instrument, index)
    return index


def response_of(data: JSON) -> JSON | None:
    """The QuestionnaireResponse in ``data`` (itself, or a Bundle's only one)."""
    kind = data.get("resourceType")
    if kind == "QuestionnaireResponse":
        return data
    if kind == "Bundle":
        found = [
            entry["resource"]
            for entry in as_list(data.get("entry"))
            if isinstance(entry, dict)
            and isinstance(entry.get("resource"), dict)
            and entry["resource"].get("resourceType") == "QuestionnaireResponse"
        ]
        if len(found) != 1:
            raise AnswerError(
                f"a FHIR Bundle holding {len(found)} QuestionnaireResponses; expected exactly one"
            )
        only: JSON = found[0]
        return only
    if kind is not None:
        raise AnswerError(f"a FHIR {kind} holds no answers; expected a QuestionnaireResponse")
    return None


FINISHED = ("completed", "amended")
UNFINISHED = ("in-progress", "stopped")
"""FHIR R4 QuestionnaireResponse statuses of a form that was not finished: read as a
partial administration, as psyq reads a form stopped before its end."""
STATUSES = ("in-progress", "completed", "amended", "entered-in-error", "stopped")


def response_status(response: JSON) -> str:
    """``complete`` or ``partial`` for a response's FHIR ``status``; one line refusing
    ``entered-in-error``, a missing status or one FHIR R4 does not define.

    FHIR requires the status (1..1): without it psyq cannot tell a finished form from
    one stopped halfway, and refuses rather than guess, as it refuses an answer it
    cannot map.
    """
    status = response.get("status")
    if status in FINISHED:
        return "complete"
    if status in UNFINISHED:
        return "partial"
    if status == "entered-in-error":
        raise AnswerError(
            "QuestionnaireResponse status is entered-in-error (it was recorded in error); "
            "not scored"
        )
    allowed = ", ".join(STATUSES)
    if status is None:
        raise AnswerError(
            f"QuestionnaireResponse has no status (FHIR requires one of {allowed}); "
            "give it, so psyq knows whether the form was finished"
        )
    raise AnswerError(
        f"QuestionnaireResponse status {_shown(status)!r} is not a FHIR R4 status "
        f"({allowed}); refusing rather than guessing whether the form was finished"
    )


def read_response(instrument: Instrument, response: JSON) -> dict[str, int]:
    """Item id -> answer value for one QuestionnaireResponse (see the module docs)."""
    try:
        nodes = list(iter_items(response.get("item")))
    except ValueError as exc:
        raise AnswerError(f"QuestionnaireResponse refused: {exc}") from None
    _check_shape(response.get("item"), "the response")
    response_status(response)  # entered-in-error, or no status FHIR knows: refused
    answered = [(node, _given(node)) for node in nodes]
    answered = [(node, given) for node, given in answered if given]
    # Loaded here, not at import: every command loads this plugin, few read FHIR.
    from psyq.plugins.fhir.linking import infer_system, response_context

    _check_version(instrument, response.get("questionnaire"))
    context = response_context(instrument, response)
    indexes = [_index_for(instrument, system) for system in context.systems]
    if not indexes and _is_relative(response.get("questionnaire")):
        plain = _index_for(instrument, "")
        unknown = [
            str(node.get("linkId"))
            for node, _ in answered
            if str(node.get("linkId")) not in plain.items
            and str(node.get("linkId")) not in context.items
        ]
        # A server's id psyq cannot resolve: the one known form whose linkIds these
        # all are. A response naming no Questionnaire at all is not guessed at.
        system = infer_system(instrument, unknown)
        indexes = [_index_for(instrument, system or "")]
    if not indexes:
        indexes = [_index_for(instrument, "")]
    answers: dict[str, int] = {}
    where_from: dict[str, str] = {}
    # The first answer refused is the response's error; the others are still read, so a
    # batch can lead that error with the critical items and their answers, as it does
    # for a CSV row with a bad cell (``exc.answers``: an item refused is unanswered).
    refused: AnswerError | None = None
    unusable: set[str] = set()
    for node, given in answered:
        raw_id = str(node.get("linkId", "?"))
        link_id = _shown(raw_id)  # for messages; matching uses the linkId as written
        item = context.items.get(raw_id)
        for index in indexes:
            item = item or index.items.get(raw_id)
        if item is None:
            if any(raw_id in index.scales for index in indexes):
                continue  # a score the sender computed; psyq computes its own
            refused = refused or AnswerError(
                f"linkId '{link_id}': no {instrument.short_name} item matches it (by item id, "
                "LOINC code or this Questionnaire's linkIds; --link-map maps your own); "
                "refusing rather than dropping an answer"
            )
            continue
        try:
            if len(given) > 1:
                raise AnswerError(f"linkId '{link_id}': {len(given)} answers; {item.id} takes one")
            if item.id in answers or item.id in unusable:
                raise AnswerError(
                    f"linkId '{link_id}': item {item.id} was already answered "
                    f"(linkId '{where_from.get(item.id, '?')}')"
                )
            where_from[item.id] = link_id
            value = answer_value(instrument, item, given[0], link_id, context, raw_id)
            scale = instrument.response_scale_for(item)
            if value not in scale.values:
                raise AnswerError(
                    f"linkId '{link_id}' ({item.id}): {value} is not an allowed answer; "
                    f"allowed: {scale.describe()}"
                )
        except AnswerError as exc:
            refused = refused or exc
            unusable.add(item.id)
            answers.pop(item.id, None)  # two answers to one item: which is not known
            continue
        answers[item.id] = value
    if refused is not None:
        refused.answers = {**answers, **dict.fromkeys(unusable)}  # type: ignore[attr-defined]
        raise refused
    return answers


def _check_version(instrument: Instrument, ref: Any) -> None:
    """Refuse a response to another version of this instrument's psyq Questionnaire.

    psyq's own responses name ``http://psyq.local/fhir/Questionnaire/<id>|<version>``.
    A definition may keep an item's id while its question or answers change (a local
    pack's version 2 asking "I felt tense" where version 1 asked "I felt calm"): read
    with the version installed now, a version 1 response was scored as answers to
    version 2's questions.
    """
    from psyq.plugins.fhir.questionnaire import questionnaire_url

    if not isinstance(ref, str) or "|" not in ref:
        return
    base, _, version = ref.partition("|")
    version = version.strip()
    if base.strip() != questionnaire_url(instrument) or version == instrument.version:
        return
    raise AnswerError(
        f"the response answers {instrument.short_name} v{_shown(version)} "
        f"(questionnaire '{_shown(ref)}'), but this is v{instrument.version}, whose items "
        f"may differ; refusing rather than reading v{_shown(version)}'s answers as "
        f"v{instrument.version}'s"
    )


def _is_relative(ref: Any) -> bool:
    """``Questionnaire/ID``: a server's own id, resolvable only on that server."""
    return isinstance(ref, str) and ref.startswith("Questionnaire/")


_KINDS = {str: "a text", int: "a number", float: "a number", bool: "true/false",
          dict: "an object", list: "a list", type(None): "null"}  # fmt: skip


def _kind(value: object) -> str:
    """What ``value`` is, in words ("a text", "a number", ...)."""
    return _KINDS.get(type(value), type(value).__name__)


def _check_shape(items: Any, where: str) -> None:
    """Refuse an ``item`` or ``answer`` that is not a list of objects.

    The walk skips what is not an object, so ``"answer": "1"`` or ``"item": {...}``
    read as unanswered and the form scored without them (PHQ-9 item 9 among them).
    Called after :func:`iter_items`, which caps the depth.
    """
    if items is None:
        return
    if not isinstance(items, list):
        kind = _kind(items)
        raise AnswerError(f"{where}: 'item' is {kind}, not a list of items; refusing it")
    for k, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise AnswerError(f"{where}: item {k} is {_KINDS.get(type(item), 'unknown')}, "
                              "not an object with a linkId; refusing it")  # fmt: skip
        inside = f"linkId '{_shown(item.get('linkId', '?'))}'"
        _check_shape(item.get("item"), inside)
        answers = item.get("answer")
        if answers is None:
            continue
        if not isinstance(answers, list):
            kind = _kind(answers)
            raise AnswerError(f"{inside}: 'answer' is {kind}, not a list of answers; refusing it")
        for n, answer in enumerate(answers, 1):
            if not isinstance(answer, dict):
                kind = _kind(answer)
                raise AnswerError(
                    f"{inside}: answer {n} is {kind}, not an object such as "
                    '{"valueInteger": 1}; refusing it'
                )
            _check_shape(answer.get("item"), inside)


def _given(node: JSON) -> list[JSON]:
    given = [a for a in as_list(node.get("answer")) if isinstance(a, dict)]
    return [a for a in given if any(k.startswith("value") for k in a)]


def answer_value(
    instrument: Instrument,
    item: Item,
    answer: JSON,
    link_id: str,
    context: ResponseContext | None = None,
    raw_id: str = "",
) -> int:
    """The option value one FHIR answer stands for, or one line saying why not."""
    scale = instrument.response_scale_for(item)
    where = f"linkId '{link_id}' ({item.id})"
    kinds = [k for k in answer if k.startswith("value")]
    if len(kinds) > 1:
        # FHIR's value[x] is one value. Read in psyq's order, {"valueCoding": code 3,
        # "valueInteger": 0} was the 0, hiding the endorsed PHQ-9 item 9 it also says.
        raise AnswerError(
            f"{where}: one answer holds {len(kinds)} values ({', '.join(kinds)}); a FHIR "
            "answer has one value[x]: refusing it rather than picking one"
        )
    if "valueInteger" in answer or "valueDecimal" in answer:
        raw = answer.get("valueInteger", answer.get("valueDecimal"))
        number = whole_number(raw) if not isinstance(raw, str) else None
        if number is None:
            raise AnswerError(
                f"{where}: {raw!r} is not a whole number; allowed: {scale.describe()}"
            )
        return number
    if "valueCoding" in answer:
        coding = answer["valueCoding"] if isinstance(answer["valueCoding"], dict) else {}
        code, system = coding.get("code"), coding.get("system")
        labels = context.answer_labels.get(raw_id, {}) if context is not None else {}
        named = labels.get(code) if isinstance(code, str) else None
        for option in scale.options:
            for known in option.codes:
                if known.code == code and system in (None, known.system):
                    return _agreeing(instrument, item, coding, option.value, where, "code", named)
        ordinal = ordinal_value(coding, answer)
        if ordinal is not None:
            return _agreeing(
                instrument, item, coding, ordinal, where, "ordinalValue/itemWeight", named
            )
        if context is not None:
            from psyq.plugins.fhir.linking import coded_value

            # The Questionnaire answered says what its codes are worth (answerOption, ValueSet).
            given = coded_value(context, raw_id, system, code)
            if given is not None:
                return _agreeing(
                    instrument, item, coding, given, where, "Questionnaire's value", named
                )
        texts = (coding.get("display"), code, labels.get(code) if isinstance(code, str) else None)
        for text in texts:
            value = _by_label(instrument, item, text)
            if value is not None:
                return value
        shown = " ".join(str(p) for p in (code, coding.get("display")) if p) or "(empty)"
        raise AnswerError(
            f"{where}: answer coding '{shown}' matches no answer; allowed: {scale.describe()}"
        )
    if "valueString" in answer:
        text = answer["valueString"]
        value = _by_label(instrument, item, text)
        if value is None:
            value = whole_number(text)
        if value is None:
            raise AnswerError(
                f"{where}: answer '{str(text)[:40]}' matches no answer; allowed: {scale.describe()}"
            )
        return value
    kind = next(k for k in answer if k.startswith("value"))
    raise AnswerError(
        f"{where}: a {kind} answer cannot be mapped to an option; allowed: {scale.describe()}"
    )


def _agreeing(
    instrument: Instrument,
    item: Item,
    coding: JSON,
    value: int,
    where: str,
    source: str,
    questionnaire_label: Any = None,
) -> int:
    """``value``, unless the coding's ``display`` (or, without one, the label the
    answered Questionnaire gives its code) is the label of another answer.

    A sender whose ordinalValue/itemWeight counts 1-4 where psyq counts 0-3 gives
    "Not at all" the weight 1: read as it stands, every answer was one step up and a
    "Not at all" on PHQ-9 item 9 raised the suicide alert. A code whose display is
    another answer's says the sender's mapping is broken; either way psyq cannot
    tell which of the two was meant.
    """
    display = coding.get("display")
    said_by = "its display"
    if not isinstance(display, str) or not display.strip():
        display, said_by = questionnaire_label, "the Questionnaire's label"
    said = _by_label(instrument, item, display)
    if said is None or said == value:
        return value
    raise AnswerError(
        f"{where}: answer coding '{str(coding.get('code'))[:40]}' is {value} by its {source}, "
        f"but {said_by} '{str(display)[:40]}' is answer {said}; refusing rather than "
        "guessing which was meant"
    )


def _shown(link_id: Any) -> str:
    text = str(link_id)
    return text if len(text) <= 60 and text.isprintable() else repr(text[:57]) + "..."


def _by_label(instrument: Instrument, item: Item, text: Any) -> int | None:
    if not isinstance(text, str) or not normalise(text):
        return None
    for option in instrument.response_scale_for(item).options:
        if normalise(option.label) == normalise(text):
            return option.value
    return None


def identity(response: JSON) -> dict[str, str]:
    """``@client_id`` (the subject's identifier or reference), ``@date`` and ``@authored``.

    ``@date`` is the date of ``authored``; ``@authored`` is the whole value when it
    is a date-time with a time zone (as FHIR requires of one with a time).
    """
    out: dict[str, str] = {}
    subject: JSON = response["subject"] if isinstance(response.get("subject"), dict) else {}
    ident: JSON = subject["identifier"] if isinstance(subject.get("identifier"), dict) else {}
    client = ident.get("value") or subject.get("reference")
    if isinstance(client, str) and client.strip():
        out["@client_id"] = client.strip()
    authored = response.get("authored")
    if isinstance(authored, str) and authored.strip():
        out["@date"] = authored.strip()[:10]
        if _moment(authored.strip()):
            out["@authored"] = authored.strip()
    return out


def _moment(text: str) -> bool:
    if not 10 < len(text) <= 40 or text[10] != "T":
        return False
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


@hookimpl
def psyq_parse_answers(instrument: Instrument, data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        return None
    response = response_of(data)
    if response is None:
        return None
    try:
        answers = read_response(instrument, response)
        about = identity(response)
        if response_status(response) == "partial":
            # in-progress or stopped: an unfinished form, shown and stored as partial.
            about["@status"] = "partial"
        if "sex" in instrument.client_attributes:
            # Cut-offs by sex (AUDIT-C): the response's Patient, when the input holds it.
            from psyq.plugins.fhir.patient import patient_sex

            found = patient_sex(data, response)
            if found is not None:
                about["@sex"] = found[0]
                about["@sex_source"] = f"FHIR Patient '{found[1]}'"
    except AnswerError as exc:
        # A batch names the client of a refused response in errors.csv.
        exc.client_id = identity(response).get("@client_id", "")  # type: ignore[attr-defined]
        raise
    return {**answers, **about}
