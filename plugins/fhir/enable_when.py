"""A Questionnaire item's ``enableWhen`` as a psyq condition, where one can say it.

An ``enableWhen`` that compares an earlier converted item's answer (``=``,
``!=``, ``>``, ``<``, ``>=``, ``<=``; an answer given as a coding, an integer,
a whole decimal or an answer label) or asks whether it was answered
(``exists``) becomes the psyq condition under which the item is asked (see
docs/instruments.md, "Conditions"); several are joined with ``all``/``any`` as
the item's ``enableBehavior`` says. Anything else (a condition on a display
item, a later item or an item the draft does not have, on a text or date
answer, an ``enableWhenExpression``) is reported as not converted, with why.
Nothing is evaluated here: FHIRPath expressions are never run.

:func:`skip_condition` turns the same enableWhen around: the psyq condition
under which the form does NOT ask the item, for the item's ``skip`` rule. FHIR
reads a comparison on an unanswered question as false, except ``!=``, which is
true (R5 states it; LHC-Forms does so); psyq's comparisons are false on an
unanswered item, so "not ``= v``" becomes "``!= v`` or unanswered".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psyq.plugins.drafts import negate
from psyq.plugins.fhir.resources import JSON, as_list, codings, normalise, whole_number

if TYPE_CHECKING:
    from psyq.models import Coding

OPERATORS = {"=": "==", "!=": "!=", ">": ">", "<": "<", ">=": ">=", "<=": "<="}


@dataclass(frozen=True)
class Answer:
    """One answer option of a converted item, as the condition reader needs it."""

    value: int
    label: str
    codes: Sequence[Coding]


@dataclass(frozen=True)
class Earlier:
    """A converted item the conditions of later items may name."""

    item_id: str
    answers: Sequence[Answer]


def enable_condition(node: JSON, earlier: Mapping[str, Earlier]) -> dict[str, Any] | str:
    """The condition (plain data) under which ``node`` is asked, or why there is none.

    ``earlier``: the items converted before this one, by linkId.
    """
    from psyq.models import Condition

    tests = []
    for raw in as_list(node.get("enableWhen")):
        test = _test(raw, earlier)
        if isinstance(test, str):
            return test
        tests.append(test)
    if not tests:
        return "its condition is an enableWhenExpression (FHIRPath), which psyq does not run"
    if len(tests) == 1:
        condition: dict[str, Any] = tests[0]
    else:
        behaviour = node.get("enableBehavior")
        if behaviour not in ("all", "any"):
            return "several enableWhen without enableBehavior all or any"
        condition = {behaviour: tests}
    try:
        Condition.model_validate(condition)
    except ValueError:
        return "more enableWhen tests than a psyq condition holds (50)"
    return condition


def skip_condition(node: JSON, earlier: Mapping[str, Earlier]) -> dict[str, Any] | str:
    """The condition under which the form does not ask ``node`` (its enableWhen unmet),
    or why there is none (as :func:`enable_condition`)."""
    from psyq.models import Condition

    asked = enable_condition(node, earlier)
    if isinstance(asked, str):
        return asked
    # FHIR's != holds on an unanswered question; psyq's does not.
    tests = [
        {"any": [t, {"item": t["item"], "missing": True}]} if t.get("op") == "!=" else t
        for t in asked.get("all") or asked.get("any") or [asked]
    ]
    kind = "any" if "any" in asked else "all"
    condition = negate(tests[0] if len(tests) == 1 else {kind: tests})
    try:
        Condition.model_validate(condition)
    except ValueError:
        return "more enableWhen tests than a psyq condition holds (50)"
    return condition


def _test(raw: Any, earlier: Mapping[str, Earlier]) -> dict[str, Any] | str:
    if not isinstance(raw, dict):
        return "an enableWhen that is not an object"
    question = raw.get("question")
    shown = repr(question)[:60]
    target = earlier.get(question) if isinstance(question, str) else None
    if target is None:
        return f"it depends on linkId {shown}, which is not an earlier item of the draft"
    operator = raw.get("operator")
    if operator == "exists":
        wanted = raw.get("answerBoolean")
        if not isinstance(wanted, bool):
            return "an exists test without answerBoolean"
        return {"item": target.item_id, "missing": not wanted}
    if operator not in OPERATORS:
        return f"operator {repr(operator)[:20]} is not a comparison psyq has"
    value = _answer_value(raw, target)
    if value is None:
        return f"its answer for {shown} is not one of that item's answer values"
    return {"item": target.item_id, "op": OPERATORS[operator], "value": value}


def _answer_value(raw: JSON, target: Earlier) -> int | None:
    """The compared answer as the earlier item's value (its answers are whole numbers)."""
    if isinstance(raw.get("answerCoding"), dict):
        wanted = codings([raw["answerCoding"]])
        for answer in target.answers:
            if any(c.code == w.code and c.system == w.system for c in answer.codes for w in wanted):
                return answer.value
        code = raw["answerCoding"].get("code")
        display = raw["answerCoding"].get("display")
        # A coding psyq could not keep (a code without a system): by code or label.
        for answer in target.answers:
            if any(c.code == code for c in answer.codes) or _same_label(answer, display):
                return answer.value
        for answer in target.answers:  # a code written as the label ('never' for Never)
            if _same_label(answer, code):
                return answer.value
        return None
    for key in ("answerInteger", "answerDecimal"):
        if key in raw:
            return whole_number(raw[key])
    if isinstance(raw.get("answerBoolean"), bool):
        # A yes/no item kept as a choice: its answer labelled yes (true) or no (false).
        said = ("yes", "true") if raw["answerBoolean"] else ("no", "false")
        for answer in target.answers:
            if normalise(answer.label) in said or any(c.code.lower() in said for c in answer.codes):
                return answer.value
        return None
    if isinstance(raw.get("answerString"), str):
        for answer in target.answers:
            if _same_label(answer, raw["answerString"]):
                return answer.value
    return None


def _same_label(answer: Answer, text: Any) -> bool:
    return (
        isinstance(text, str)
        and bool(normalise(text))
        and normalise(text) == normalise(answer.label)
    )
