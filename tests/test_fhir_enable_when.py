"""``psyq import-fhir``: an item's ``enableWhen`` in the draft's header as a psyq condition.

A converted condition is checked by what it does: added to the draft as a flag, it is
raised by exactly the answers under which the FHIR form asks the item.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from psyq.models import Condition

from .conftest import SHARED
from .test_fhir_import import ORDINAL, choice, questionnaire

CLI = Callable[..., Any]
AUDIT = SHARED / "corpus/fhir/uwcirg-asbi__1_Questionnaire-WHOAUDIT.json"


def header_notes(text: str) -> list[str]:
    """The draft header's notes, each unwrapped to one line."""
    notes: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line[2:]
        if body.startswith("- "):
            notes.append(body[2:])
        elif body.startswith("  ") and notes:
            notes[-1] += " " + body.strip()
    return notes


def conditions(text: str) -> dict[str, dict[str, Any]]:
    """Item id -> the condition the header says the item is asked under."""
    out = {}
    for note in header_notes(text):
        found = re.fullmatch(
            r"item (\w+) \(linkId .*?\) is asked when (\{.*\}) \(its enableWhen\)", note
        )
        if found:
            out[found[1]] = yaml.safe_load(found[2])
            Condition.model_validate(out[found[1]])
    return out


def not_converted(text: str) -> dict[str, str]:
    out = {}
    for note in header_notes(text):
        found = re.fullmatch(r"item (\w+) \(linkId .*?\): enableWhen not converted: (.*)", note)
        if found:
            out[found[1]] = found[2]
    return out


def import_fhir(psyq_cli: CLI, source: Path, out: Path) -> str:
    result = psyq_cli("import-fhir", source, "-o", out)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def raised_when(
    psyq_cli: CLI, draft: Path, found: dict[str, dict[str, Any]], answers: dict[str, int]
) -> set[str]:
    """The items whose condition holds for ``answers``: each condition as an info flag."""
    data = yaml.safe_load(draft.read_text(encoding="utf-8"))
    data["flags"] = [
        {"id": f"asked_{item}", "level": "info", "message": f"{item} asked", "when": cond}
        for item, cond in found.items()
    ]
    flagged = draft.with_name("flagged.yaml")
    flagged.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    answers_file = draft.with_name("answers.json")
    answers_file.write_text(json.dumps(answers))
    result = psyq_cli("score", flagged, "--answers-file", answers_file, "--json")
    assert result.exit_code == 0, result.output
    return {f["id"].removeprefix("asked_") for f in json.loads(result.output)["flags"]}


@pytest.mark.skipif(not AUDIT.is_file(), reason="shared FHIR corpus is not present")
def test_uwcirg_audit_enable_when(psyq_cli: CLI, tmp_path: Path) -> None:
    """The uwcirg AUDIT, read in place: items 2 and 3 follow item 1 ('Never' skips them)."""
    draft = tmp_path / "audit.yaml"
    text = import_fhir(psyq_cli, AUDIT, draft)
    found = conditions(text)
    # q1 'Never' has the value 0 in this form; its answerCoding is matched by code.
    assert found == {
        "q2": {"all": [{"item": "q1", "op": "!=", "value": 0}, {"item": "q1", "missing": False}]},
        "q3": {"all": [{"item": "q1", "op": "!=", "value": 0}, {"item": "q2", "missing": False}]},
    }
    skipped = not_converted(text)
    assert sorted(skipped) == ["q1", "q10", "q4", "q5", "q6", "q7", "q8", "q9"]
    assert "'prescreen-question', which is not an earlier item" in skipped["q1"]
    assert "'should-display-questions-four-through-eight'" in skipped["q4"]
    # The form's required holds only while an item is enabled: no gated item is required.
    items = yaml.safe_load(text)["items"]
    assert [i["id"] for i in items if i.get("required")] == []
    never = {"q1": 0}
    assert raised_when(psyq_cli, draft, found, never) == set()
    monthly = {"q1": 2, "q2": 1}
    assert raised_when(psyq_cli, draft, found, monthly) == {"q2", "q3"}
    assert raised_when(psyq_cli, draft, found, {"q1": 2}) == {"q2"}


def test_comparisons_behaviours_and_what_is_not_converted(psyq_cli: CLI, tmp_path: Path) -> None:
    """A form of my own with the enableWhen shapes published forms use (LHC-Forms' and
    HL7 SDC's examples: answerCoding, answerInteger, exists, enableBehavior any)."""
    gate = choice("gate", ["no", "yes"])  # 0=No, 1=Yes by ordinalValue
    freq = choice("freq", ["never", "sometimes", "often", "always"])
    items = [
        gate,
        freq,
        {**choice("a", ["x", "y"]), "enableWhen": [
            {"question": "gate", "operator": "=",
             "answerCoding": {"code": "yes", "display": "Yes"}}]},  # no system: by code
        {**choice("b", ["x", "y"]), "enableBehavior": "any", "enableWhen": [
            {"question": "freq", "operator": ">=", "answerInteger": 2},
            {"question": "gate", "operator": "=", "answerString": "Yes"}]},
        {**choice("c", ["x", "y"]), "enableWhen": [
            {"question": "freq", "operator": "exists", "answerBoolean": False}]},
        # Not converted, each for its own reason:
        {**choice("d", ["x", "y"]), "enableWhen": [
            {"question": "e", "operator": "=", "answerInteger": 1}]},  # a later item
        {**choice("e", ["x", "y"]), "enableWhen": [
            {"question": "gate", "operator": "=", "answerInteger": 1},
            {"question": "freq", "operator": "=", "answerInteger": 1}]},  # no enableBehavior
        {**choice("f", ["x", "y"]), "extension": [{
            "url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression",
            "valueExpression": {"language": "text/fhirpath", "expression": "true"}}]},
        {**choice("g", ["x", "y"]), "enableWhen": [
            {"question": "gate", "operator": "=",
             "answerCoding": {"system": "http://example.org", "code": "maybe"}}]},
    ]  # fmt: skip
    assert all(o["extension"][0]["url"] == ORDINAL for o in gate["answerOption"])
    source = tmp_path / "q.json"
    source.write_text(json.dumps(questionnaire(items, name="Gated", copyright="CC0")))
    draft = tmp_path / "gated.yaml"
    text = import_fhir(psyq_cli, source, draft)
    found = conditions(text)
    assert found == {
        "a": {"item": "gate", "op": "==", "value": 1},
        "b": {"any": [{"item": "freq", "op": ">=", "value": 2},
                      {"item": "gate", "op": "==", "value": 1}]},
        "c": {"item": "freq", "missing": True},
    }  # fmt: skip
    skipped = not_converted(text)
    assert "linkId 'e', which is not an earlier item" in skipped["d"]
    assert "without enableBehavior" in skipped["e"]
    assert "enableWhenExpression (FHIRPath), which psyq does not run" in skipped["f"]
    assert "not one of that item's answer values" in skipped["g"]
    assert raised_when(psyq_cli, draft, found, {"gate": 1, "freq": 0}) == {"a", "b"}
    assert raised_when(psyq_cli, draft, found, {"gate": 0, "freq": 3}) == {"b"}
    assert raised_when(psyq_cli, draft, found, {"gate": 0}) == {"c"}
