"""The codes on the built-in PHQ-9 and GAD-7 checked against public FHIR Questionnaires.

The files in ../shared/corpus/fhir were written by others (lforms, uwcirg, HL7 SDC,
ResearchKitOnFHIR); psyq's LOINC codes and linkIds must agree with them. Read in
place, never copied; skipped when the corpus is absent (set PSYQ_SHARED_DIR).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from psyq.models import Coding, Instrument
from psyq.plugins.fhir.resources import LOINC, normalise, ordinal_value
from psyq.registry import InstrumentRegistry

from .conftest import SHARED

FHIR = SHARED / "corpus" / "fhir"
pytestmark = pytest.mark.skipif(not FHIR.is_dir(), reason="shared FHIR corpus is not present")


def read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FHIR / name).read_text(encoding="utf-8"))
    return data


def loinc(codes: list[Coding]) -> list[str]:
    return [c.code for c in codes if c.system == LOINC]


def questions(form: dict[str, Any]) -> list[dict[str, Any]]:
    """The answerable items with answer options, in order."""
    out = []
    stack = list(reversed(form["item"]))
    while stack:
        item = stack.pop()
        if "answerOption" in item or "answerValueSet" in item:
            out.append(item)
        stack.extend(reversed(item.get("item", [])))
    return out


def option_codes(inst: Instrument, item_id: str) -> list[tuple[list[str], str]]:
    scale = inst.response_scale_for(inst.item(item_id))
    return [(loinc(o.codes), normalise(o.label)) for o in scale.options]


@pytest.mark.parametrize(
    ("instrument_id", "source", "n_items", "panel", "total_link"),
    [
        ("phq9", "lforms__test_data_R4_phq9.json", 10, "44249-1", "/44261-6"),
        ("phq9", "uwcirg-asbi__1_Questionnaire-PHQ9.json", 10, "44249-1", "/44261-6"),
        ("gad7", "uwcirg-asbi__1_Questionnaire-GAD7.json", 7, "69737-5", "/70274-6"),
    ],
)
def test_loinc_codes_match_published_questionnaires(
    registry: InstrumentRegistry,
    instrument_id: str,
    source: str,
    n_items: int,
    panel: str,
    total_link: str,
) -> None:
    inst = registry.get(instrument_id)
    form = read(source)
    assert loinc(inst.codes) == [c["code"] for c in form["code"]] == [panel]
    theirs = questions(form)
    assert len(theirs) == n_items
    for k, item in enumerate(theirs, start=1):
        ours = inst.item(f"{instrument_id}_{k}")
        assert loinc(ours.codes) == [c["code"] for c in item["code"]], ours.id
        assert item["linkId"] == "/" + loinc(ours.codes)[0]
        their_options = [
            (o["valueCoding"]["code"], normalise(o["valueCoding"]["display"]))
            for o in item["answerOption"]
        ]
        for (codes, label), (code, display) in zip(
            option_codes(inst, ours.id), their_options, strict=True
        ):
            assert code in codes, (ours.id, code)
            # GAD-7 item 2 in the uwcirg file says "More days than not" for LA18938-3.
            assert display == label or code == "LA18938-3", (ours.id, display)
    totals = [i for i in form["item"] if i["linkId"] == total_link]
    assert [c["code"] for c in totals[0]["code"]] == loinc(inst.total.codes)


def test_gad7_keeps_the_uwcirg_answer_code_variant(registry: InstrumentRegistry) -> None:
    form = read("uwcirg-asbi__1_Questionnaire-GAD7.json")
    item2 = next(i for i in form["item"] if i["linkId"] == "/68509-9")
    variant = next(o for o in item2["answerOption"] if o["valueCoding"]["code"] == "LA18938-3")
    ordinal = ordinal_value(variant)
    assert ordinal == 2
    gad7 = registry.get("gad7")
    option = next(o for o in gad7.response_scales["frequency"].options if o.value == ordinal)
    assert "LA18938-3" in loinc(option.codes)


@pytest.mark.parametrize(
    ("instrument_id", "source"),
    [
        ("phq9", "hl7sdc__questionnaire-sdc-profile-example-PHQ9.json"),
        ("gad7", "researchkitonfhir__GAD-7.json"),
    ],
)
def test_questionnaire_linkids_match_their_questionnaire(
    registry: InstrumentRegistry, instrument_id: str, source: str
) -> None:
    """Codes whose system is a Questionnaire's URL are its linkIds, item for item."""
    inst = registry.get(instrument_id)
    form = read(source)
    url = form["url"]
    ours = [(item.id, c.code) for item in inst.items for c in item.codes if c.system == url]
    theirs = questions(form)
    assert [code for _, code in ours] == [i["linkId"] for i in theirs]
    assert [item_id for item_id, _ in ours] == [
        f"{instrument_id}_{k}" for k in range(1, 1 + len(theirs))
    ]
    # Same answers in the same order, by label, from the contained ValueSet.
    (value_set,) = form["contained"]
    concepts = value_set["compose"]["include"][0]["concept"]
    labels = [normalise(o.label) for o in inst.response_scales["frequency"].options]
    assert [normalise(c["display"]) for c in concepts] == labels
    assert [c["extension"][0]["valueDecimal"] for c in concepts] == [0, 1, 2, 3]


def test_hl7_sdc_total_linkid_is_a_code_of_the_phq9_total(registry: InstrumentRegistry) -> None:
    form = read("hl7sdc__questionnaire-sdc-profile-example-PHQ9.json")
    total = next(i for i in form["item"][0]["item"] if i["type"] == "quantity")
    phq9 = registry.get("phq9")
    assert Coding(system=form["url"], code=total["linkId"]) in phq9.total.codes
    assert [c["code"] for c in total["code"]] == loinc(phq9.total.codes)


@pytest.mark.skipif(not (SHARED / "corpus").is_dir(), reason="shared corpus is not present")
def test_import_fhir_over_every_questionnaire_of_the_corpus(psyq_cli: Any, tmp_path: Path) -> None:
    """Every Questionnaire in ../shared/corpus (read in place) becomes a valid draft, or is
    refused with one line (exit 2) because no item has numeric answers; never a crash."""
    imported, refused = [], []
    for path in sorted((SHARED / "corpus").rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue  # the corpus keeps an invalid file on purpose; test_fhir_import reads it
        if not (isinstance(data, dict) and data.get("resourceType") == "Questionnaire"):
            continue
        draft = tmp_path / f"{path.stem}.yaml"
        result = psyq_cli("import-fhir", path, "-o", draft)
        if result.exit_code == 0:
            checked = psyq_cli("validate", draft)
            assert checked.exit_code == 0, (path.name, checked.output)
            imported.append(path.name)
        else:
            assert result.exit_code == 2, (path.name, result.output)
            assert len(result.output.strip().splitlines()) == 1, result.output
            assert "nothing psyq can score" in result.output, result.output
            refused.append(path.name)
    assert len(imported) >= 8, imported  # 8 of the 11 at the time of writing
    assert len(imported) + len(refused) >= 11
