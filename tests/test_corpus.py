"""Built-in instruments checked against independent public sources in ../shared/corpus.

ReproSchema (ReproNim), a REDCap data dictionary (Bridge2AI-Voice) and a REDCap data
export were written by others; where they agree with each other, psyq must agree too.
The corpus is read in place, never copied; tests skip when it is absent.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from psyq.manager import PsyqPluginManager
from psyq.registry import InstrumentRegistry
from psyq.scoring import Scorer

from .conftest import SHARED

CORPUS = SHARED / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")

REPROSCHEMA = {
    "phq9": (CORPUS / "reproschema/activities/PHQ-9", 9),
    "gad7": (CORPUS / "reproschema/activities/GAD7", 7),
}


def normalise(text: str) -> str:
    """Compare wording, not typography: dashes, punctuation, case and spacing."""
    text = text.replace("—", "-").replace("–", "-").lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("instrument_id", sorted(REPROSCHEMA))
def test_item_wording_matches_reproschema(registry: InstrumentRegistry, instrument_id: str) -> None:
    folder, n = REPROSCHEMA[instrument_id]
    inst = registry.get(instrument_id)
    prefix = "phq9" if instrument_id == "phq9" else "gad7"
    for k in range(1, n + 1):
        theirs = read_json(folder / "items" / f"{prefix}_{k}")["question"]["en"]
        ours = inst.item(f"{instrument_id}_{k}").text
        assert normalise(ours) == normalise(theirs), f"{instrument_id}_{k}"


@pytest.mark.parametrize("instrument_id", sorted(REPROSCHEMA))
def test_response_options_match_reproschema(
    registry: InstrumentRegistry, instrument_id: str
) -> None:
    folder, _ = REPROSCHEMA[instrument_id]
    choices = read_json(folder / "valueConstraints")["choices"]
    theirs = [(c["value"], normalise(c["name"]["en"])) for c in choices]
    inst = registry.get(instrument_id)
    rs = inst.response_scale_for(inst.item(f"{instrument_id}_1"))
    assert [(o.value, normalise(o.label)) for o in rs.options] == theirs


def redcap_choices(form: str) -> dict[str, list[tuple[int, str]]]:
    path = CORPUS / "redcap/bridge2ai_voice_project_data_dictionary.csv"
    out: dict[str, list[tuple[int, str]]] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Form Name"] != form or row["Field Type"] != "radio":
                continue
            pairs = []
            for choice in row["Choices, Calculations, OR Slider Labels"].split("|"):
                code, label = choice.split(",", 1)
                pairs.append((int(code), normalise(label)))
            out[row["Variable / Field Name"]] = pairs
    return out


@pytest.mark.parametrize(
    ("instrument_id", "form", "n_items", "n_fields"),
    [
        ("phq9", "q_generic_patient_health_questionnaire9", 10, 10),
        # The dictionary's GAD-7 form adds the difficulty question psyq's GAD-7 lacks.
        ("gad7", "q_generic_gad7_anxiety", 7, 8),
    ],
)
def test_response_codes_match_redcap_dictionary(
    registry: InstrumentRegistry, instrument_id: str, form: str, n_items: int, n_fields: int
) -> None:
    """REDCap fields in form order correspond to our items in order, with the same codes."""
    fields = list(redcap_choices(form).values())
    inst = registry.get(instrument_id)
    # Count both sides: a shorter list would otherwise check fewer pairs silently.
    assert len(fields) == n_fields
    assert len(inst.items) == n_items
    for item, choices in zip(inst.items, fields[:n_items], strict=True):
        rs = inst.response_scale_for(item)
        assert [(o.value, normalise(o.label)) for o in rs.options] == choices, item.id


def test_redcap_export_gad7_total(psyq_pm: PsyqPluginManager, registry: InstrumentRegistry) -> None:
    path = CORPUS / "redcap/reproschema-py__example_redcap_output_redcap.csv"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    gad7 = registry.get("gad7")
    answers = {k: v for k, v in row.items() if k.startswith("gad7_")}
    result = Scorer(psyq_pm).score(gad7, answers)
    assert result.scores["total"].value == 9
    assert result.scores["total"].band == "mild"


def test_hl7_sdc_phq9_response_really_sums_to_ten(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    """The HL7 SDC example response claims a total of 13; its answers add up to 10."""
    codes = read_json(CORPUS / "fhir/hl7sdc__questionnaire-sdc-profile-example-PHQ9.json")
    ordinal: dict[str, int] = {}
    for contained in codes.get("contained", []):
        for include in contained.get("compose", {}).get("include", []):
            for concept in include.get("concept", []):
                for ext in concept.get("extension", []):
                    if ext["url"].endswith("ordinalValue"):
                        ordinal[concept["code"]] = int(ext["valueDecimal"])
    response = read_json(
        CORPUS / "fhir/hl7sdc__questionnaireresponse-sdc-profile-example-PHQ9.json"
    )
    answers: list[int] = []
    claimed = None
    stack = list(reversed(response["item"]))
    while stack:  # items nest (groups); walk them in document order
        item = stack.pop()
        stack.extend(reversed(item.get("item", [])))
        for answer in item.get("answer", []):
            if "valueCoding" in answer:
                answers.append(ordinal[answer["valueCoding"]["code"]])
            elif "valueQuantity" in answer:
                claimed = answer["valueQuantity"]["value"]
    assert len(answers) == 9 and claimed == 13
    phq9 = registry.get("phq9")
    mapping = {f"phq9_{k}": v for k, v in enumerate(answers, 1)}
    assert Scorer(psyq_pm).score(phq9, mapping).scores["total"].value == 10
