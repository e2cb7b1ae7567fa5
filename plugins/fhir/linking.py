"""Which Questionnaire a response answers, and what its linkIds and answer codes mean.

A QuestionnaireResponse names its Questionnaire in ``questionnaire``: a
canonical URL (with or without ``|version``), a relative reference
(``Questionnaire/sdc-profile-example-PHQ9``), or ``#id`` of a Questionnaire
*contained* in the response. This module turns that, and the Questionnaires
a user gives (``--questionnaire``) or a link map (``--link-map``), into:

* the canonical URLs whose item codes name the response's linkIds;
* linkId -> instrument item, from a link map or from a known Questionnaire's
  item codes (LOINC) matching the instrument's;
* per linkId, answer code -> option value, from the Questionnaire's
  ``answerOption`` or contained ``ValueSet`` (ordinalValue / itemWeight), and
  answer code -> label (a display-like code such as ``Several-days``).

Nothing is fetched: a reference is compared as a string, and a Questionnaire
is used only when it is contained or given.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from psyq.errors import AnswerError, DefinitionError
from psyq.plugins.fhir.resources import (
    JSON,
    TERMINOLOGIES,
    as_list,
    canonical_base,
    codings,
    contained,
    iter_items,
    ordinal_value,
    repeated_link_id,
    repeated_link_id_problem,
    value_set_concepts,
    whole_number,
)

if TYPE_CHECKING:
    from psyq.models import Instrument, Item


@dataclass(frozen=True)
class ReadingAids:
    """What the user gave to read responses with: a link map and Questionnaires."""

    link_map: dict[str, str] = field(default_factory=dict)
    questionnaires: tuple[JSON, ...] = ()


_AIDS: ContextVar[ReadingAids | None] = ContextVar("psyq_fhir_reading_aids", default=None)


def current_aids() -> ReadingAids:
    return _AIDS.get() or ReadingAids()


@contextlib.contextmanager
def reading_aids(aids: ReadingAids) -> Iterator[None]:
    """Read responses with ``aids`` inside this block (``--link-map``, ``--questionnaire``)."""
    token = _AIDS.set(aids)
    try:
        yield
    finally:
        _AIDS.reset(token)


def load_link_map(path: Path, instrument: Instrument) -> dict[str, str]:
    """A YAML/JSON mapping of linkId -> item id, every item id checked."""
    from psyq.files import read_limited
    from psyq.plugins.data_files import load_data
    from psyq.registry import MAX_DEFINITION_BYTES

    try:
        data = load_data(path, read_limited(path, MAX_DEFINITION_BYTES, "a link map", AnswerError))
    except DefinitionError as exc:
        raise AnswerError(str(exc)) from None
    if not isinstance(data, dict) or not data:
        raise AnswerError(f"{path}: a link map is a mapping of linkId to item id (Q1: phq9_1)")
    out: dict[str, str] = {}
    for link_id, item_id in data.items():
        if not isinstance(item_id, str) or not instrument.has_item(item_id):
            known = ", ".join(i.id for i in instrument.items)
            raise AnswerError(
                f"{path}: linkId '{link_id}' maps to '{item_id}', not an item of "
                f"{instrument.short_name} ({known})"
            )
        out[str(link_id)] = item_id
    return out


def load_questionnaire(path: Path) -> JSON:
    """A Questionnaire file given to read responses with."""
    from psyq.files import read_limited
    from psyq.plugins.data_files import load_json
    from psyq.registry import MAX_DEFINITION_BYTES

    raw = read_limited(path, MAX_DEFINITION_BYTES, "a FHIR Questionnaire", AnswerError)
    try:
        data = load_json(path, raw)
    except DefinitionError as exc:
        raise AnswerError(str(exc)) from None
    if not isinstance(data, dict) or data.get("resourceType") != "Questionnaire":
        raise AnswerError(f"{path}: not a FHIR Questionnaire")
    try:
        repeated = repeated_link_id(list(iter_items(data.get("item"))))
    except ValueError as exc:  # nested too deep
        raise AnswerError(f"{path}: refused: {exc}") from None
    if repeated is not None:
        raise AnswerError(f"{path}: {repeated_link_id_problem(repeated)}")
    return data


@dataclass
class ResponseContext:
    """What one response's Questionnaire reference tells about its linkIds."""

    systems: list[str]
    items: dict[str, Item] = field(default_factory=dict)
    answer_values: dict[str, dict[tuple[str | None, str], int]] = field(default_factory=dict)
    answer_labels: dict[str, dict[str, str]] = field(default_factory=dict)


def response_context(instrument: Instrument, response: JSON) -> ResponseContext:
    """Resolve the response's ``questionnaire`` against what is known (see module docs)."""
    aids = current_aids()
    given_ref = response.get("questionnaire")
    ref: str = given_ref if isinstance(given_ref, str) else ""
    questionnaire: JSON | None = None
    if ref.startswith("#"):
        questionnaire = contained(response, "Questionnaire").get(ref[1:])
    else:
        base = canonical_base(ref)
        for given in aids.questionnaires:
            if base and base in (canonical_base(given.get("url")), _relative(given)):
                questionnaire = given
    systems = _systems(instrument, ref, questionnaire)
    context = ResponseContext(systems=systems)
    if questionnaire is not None:
        _learn(instrument, questionnaire, context)
    for link_id, item_id in aids.link_map.items():
        context.items[link_id] = instrument.item(item_id)
    return context


def _relative(questionnaire: JSON) -> str:
    ident = questionnaire.get("id")
    return f"Questionnaire/{ident}" if isinstance(ident, str) else ""


def _known_systems(instrument: Instrument) -> set[str]:
    return {
        coding.system
        for item in instrument.items
        for coding in item.codes
        if coding.system not in TERMINOLOGIES
    }


def _systems(instrument: Instrument, ref: str, questionnaire: JSON | None) -> list[str]:
    known = _known_systems(instrument)
    wanted: list[str] = []
    if questionnaire is not None:
        wanted.append(canonical_base(questionnaire.get("url")))
        wanted += [canonical_base(d) for d in as_list(questionnaire.get("derivedFrom"))]
    elif ref:
        wanted.append(canonical_base(ref))
    found = [s for s in wanted if s in known]
    if found:
        return found
    # A relative reference (Questionnaire/ID, maybe with /_history/N): the known
    # canonical whose last segment is that id, or the HL7 IGs' "questionnaire-ID".
    parts = canonical_base(ref).split("/")
    if len(parts) >= 2 and "Questionnaire" in parts:
        ident = parts[parts.index("Questionnaire") + 1] if parts[-1] != "Questionnaire" else ""
        for system in sorted(known):
            last = system.rstrip("/").rsplit("/", 1)[-1]
            if ident and last in (ident, f"questionnaire-{ident}"):
                return [system]
    return []


def infer_system(instrument: Instrument, link_ids: list[str]) -> str | None:
    """The one known Questionnaire whose linkIds include every one of ``link_ids``."""
    if not link_ids:
        return None
    by_system: dict[str, set[str]] = {}
    for item in instrument.items:
        for coding in item.codes:
            by_system.setdefault(coding.system, set()).add(coding.code)
    for scale in instrument.scales:
        for coding in scale.codes:
            by_system.setdefault(coding.system, set()).add(coding.code)
    fits = [
        system
        for system, codes in by_system.items()
        if system not in TERMINOLOGIES and set(link_ids) <= codes
    ]
    return fits[0] if len(fits) == 1 else None


def _learn(instrument: Instrument, questionnaire: JSON, context: ResponseContext) -> None:
    """Item links (by LOINC code) and answer meanings from a known Questionnaire."""
    value_sets = contained(questionnaire, "ValueSet")
    by_code: dict[tuple[str, str], Item] = {}
    for item in instrument.items:
        for coding in item.codes:
            if coding.system in TERMINOLOGIES:
                by_code[(coding.system, coding.code)] = item
    try:
        nodes = list(iter_items(questionnaire.get("item")))
    except ValueError:
        return
    repeated = repeated_link_id(nodes)
    if repeated is not None:  # a contained one (a given file is checked as it is read)
        raise AnswerError(f"its Questionnaire: {repeated_link_id_problem(repeated)}")
    for node in nodes:
        link_id = node.get("linkId")
        if not isinstance(link_id, str):
            continue
        for coding in codings(node.get("code")):
            match = by_code.get((coding.system, coding.code))
            if match is not None:
                context.items.setdefault(link_id, match)
        values: dict[tuple[str | None, str], int] = {}
        labels: dict[str, str] = {}
        for system, code, display, value in _answers(node, value_sets):
            if value is not None:
                values[(system, code)] = value
            if display:
                labels[code] = display
        if values:
            context.answer_values[link_id] = values
        if labels:
            context.answer_labels[link_id] = labels


def _answers(
    node: JSON, value_sets: dict[str, JSON]
) -> Iterator[tuple[str | None, str, str | None, int | None]]:
    for option in as_list(node.get("answerOption")):
        if not isinstance(option, dict) or not isinstance(option.get("valueCoding"), dict):
            continue
        coding = option["valueCoding"]
        if isinstance(coding.get("code"), str):
            system = coding.get("system") if isinstance(coding.get("system"), str) else None
            display = coding.get("display") if isinstance(coding.get("display"), str) else None
            yield system, coding["code"], display, ordinal_value(option, coding)
    ref = node.get("answerValueSet")
    if isinstance(ref, str):
        value_set = value_sets.get(ref[1:]) if ref.startswith("#") else None
        if value_set is None:
            value_set = next(
                (v for v in value_sets.values() if canonical_base(v.get("url")) == ref), None
            )
        for system, concept in value_set_concepts(value_set or {}):
            display = concept.get("display") if isinstance(concept.get("display"), str) else None
            value = ordinal_value(concept)
            yield system, concept["code"], display, value


def coded_value(context: ResponseContext, link_id: str, system: object, code: object) -> int | None:
    """The option value the Questionnaire gives an answer code, if it gives one."""
    values = context.answer_values.get(link_id)
    if not values or not isinstance(code, str):
        return None
    key_system = system if isinstance(system, str) else None
    found = values.get((key_system, code))
    if found is None and key_system is None:
        matches = {v for (_, c), v in values.items() if c == code}
        found = matches.pop() if len(matches) == 1 else None
    return whole_number(found) if found is not None else None


def aids_for(
    instrument: Instrument, link_map: Path | None, questionnaires: tuple[Path, ...]
) -> ReadingAids:
    """The reading aids ``--link-map`` and ``--questionnaire`` ask for."""
    return ReadingAids(
        link_map=load_link_map(link_map, instrument) if link_map is not None else {},
        questionnaires=tuple(load_questionnaire(p) for p in questionnaires),
    )
