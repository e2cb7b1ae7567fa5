"""Malformed FHIR never crashes psyq: every outcome is answers, a draft, or one-line error."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psyq.errors import AnswerError, DefinitionError
from psyq.manager import create_plugin_manager
from psyq.models import Instrument
from psyq.plugins.answer_documents import parse_answers
from psyq.plugins.fhir.drafting import questionnaire_to_draft
from psyq.registry import InstrumentRegistry

PM = create_plugin_manager(load_entrypoints=False, strict=True)
PHQ9 = InstrumentRegistry(PM).get("phq9")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"

# JSON-ish values biased towards the keys psyq reads, so the walk goes deep.
KEYS = st.sampled_from(
    [
        "item", "answer", "linkId", "valueCoding", "valueInteger", "valueDecimal",
        "valueString", "code", "system", "display", "extension", "url", "answerOption",
        "answerValueSet", "type", "text", "contained", "compose", "include", "concept",
        "resourceType", "id", "subject", "authored", "status",
    ]
)  # fmt: skip
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["/44250-9", "LA6568-5", "phq9_1", "choice", ORDINAL, "#vs", "Not at all"]),
    st.text(max_size=8),
)
JSONISH = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=30,
)


def one_line(exc: Exception) -> bool:
    return "\n" not in str(exc) and len(str(exc)) < 2000


@SETTINGS
@given(items=JSONISH, extra=st.dictionaries(KEYS, JSONISH, max_size=3))
def test_any_response_maps_or_is_refused_in_one_line(items: Any, extra: dict[str, Any]) -> None:
    doc = {**extra, "resourceType": "QuestionnaireResponse", "item": items}
    try:
        answers = parse_answers(PM, PHQ9, doc)
    except AnswerError as exc:
        assert one_line(exc)
    else:
        assert set(answers) == {i.id for i in PHQ9.items}


@SETTINGS
@given(items=JSONISH, extra=st.dictionaries(KEYS, JSONISH, max_size=3))
def test_any_questionnaire_drafts_or_is_refused_in_one_line(
    items: Any, extra: dict[str, Any]
) -> None:
    doc = {**extra, "resourceType": "Questionnaire", "item": items}
    try:
        draft = questionnaire_to_draft(doc, "q.json")
    except DefinitionError as exc:
        assert one_line(exc)
    else:
        Instrument.model_validate(draft.data)  # every draft loads


def test_deep_items_are_refused() -> None:
    deep: dict[str, Any] = {"linkId": "x"}
    for _ in range(40):
        deep = {"linkId": "g", "item": [deep]}
    doc = {"resourceType": "QuestionnaireResponse", "item": [deep]}
    try:
        parse_answers(PM, PHQ9, doc)
    except AnswerError as exc:
        assert "nested deeper than 32" in str(exc)
    else:
        raise AssertionError("a 40-deep response was accepted")
