"""Interop red team, fifth pass: FHIR and REDCap answers that mean something other than
what psyq would read them as are refused in one line; a Bundle written from a
QuestionnaireResponse keeps who answered it and when.

Where a pattern is not in ``../shared/corpus``, the fixture reproduces it and names the
public file it imitates.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from fhir.resources.R4B.bundle import Bundle

from tests.conftest import SHARED
from tests.definitions import definition

CLI = Callable[..., Result]
LOINC = "http://loinc.org"
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
ITEM_WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
PHQ9_ITEMS = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7",
              "44258-2", "44252-5", "44253-3", "44260-8"]  # fmt: skip
PHQ9_CODES = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
PHQ9_LABELS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]


def response(answers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A PHQ-9 QuestionnaireResponse with LOINC linkIds, as the lforms PHQ-9
    (``../shared/corpus/fhir/lforms__test_data_R4_phq9.json``) answers."""
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://loinc.org/q/44249-1",
        "status": "completed",
        "item": [
            {"linkId": f"/{code}", "answer": [answer]}
            for code, answer in zip(PHQ9_ITEMS, answers, strict=True)
        ],
        **extra,
    }


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


# -- FHIR: an answer's weight or code that its own display contradicts ---------------------


@pytest.mark.parametrize("extension", [ORDINAL, ITEM_WEIGHT])
def test_a_weight_counting_from_one_is_refused_not_read_one_step_up(
    psyq_cli: CLI, tmp_path: Path, extension: str
) -> None:
    """A sender whose Questionnaire weighs its answers 1-4 (the lforms answerOption
    pattern, ``lforms__test_data_R4_answerOption_answerOption-valueCoding.choice.R4.json``,
    with its own codes and an ordinalValue/itemWeight on each) answers "Not at all"
    everywhere. Read by the weight, every item was 1 and PHQ-9 item 9 raised the
    suicide alert for a client who answered "Not at all"."""
    answers = [
        {
            "valueCoding": {
                "system": "http://example.org/CodeSystem/frequency",
                "code": "not-at-all",
                "display": "Not at all",
                "extension": [{"url": extension, "valueDecimal": 1}],
            }
        }
    ] * 9
    path = write(tmp_path / "qr.json", response(answers))
    line = one_error_line(psyq_cli("score", "phq9", "--answers-file", path))
    assert "qr.json" in line and "linkId '/44250-9'" in line and "Not at all" in line
    assert "CRITICAL" not in line


def test_a_loinc_code_whose_display_is_another_answer_is_refused(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """LA6569-3 is "Several days"; a display of "Nearly every day" beside it says the
    sender's mapping is broken: psyq cannot tell which of the two the client chose."""
    answers = [{"valueCoding": {"system": LOINC, "code": PHQ9_CODES[0]}}] * 8 + [
        {"valueCoding": {"system": LOINC, "code": PHQ9_CODES[1], "display": PHQ9_LABELS[3]}}
    ]
    path = write(tmp_path / "qr.json", response(answers))
    line = one_error_line(psyq_cli("score", "phq9", "--answers-file", path))
    assert "linkId '/44260-8'" in line and "LA6569-3" in line and "Nearly every day" in line
    # The same code with its own display, or with none, is read as before.
    fine = [{"valueCoding": {"system": LOINC, "code": PHQ9_CODES[1]}}] * 8 + [
        {"valueCoding": {"system": LOINC, "code": PHQ9_CODES[1], "display": PHQ9_LABELS[1]}}
    ]
    scored = psyq_cli("score", "phq9", "--answers-file", write(tmp_path / "ok.json",
                      response(fine)), "--json")  # fmt: skip
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["scores"]["total"]["value"] == 9


def test_an_answer_with_two_values_is_refused(psyq_cli: CLI, tmp_path: Path) -> None:
    """FHIR's answer.value[x] is one value; valueInteger 0 beside a coding for "Nearly
    every day" on item 9 was read as 0, and the alert never raised."""
    answers = [{"valueInteger": 0}] * 8 + [
        {"valueInteger": 0, "valueCoding": {"system": LOINC, "code": PHQ9_CODES[3]}}
    ]
    path = write(tmp_path / "qr.json", response(answers))
    line = one_error_line(psyq_cli("score", "phq9", "--answers-file", path))
    assert "linkId '/44260-8'" in line and "valueInteger" in line and "valueCoding" in line


# -- FHIR: a response to another version of psyq's own Questionnaire ------------------------


MOOD = """\
items:
  - {{id: m1, text: "{first}", response_scale: freq}}
  - {{id: m2, text: I slept well, response_scale: freq}}
scales:
  - {{id: total, label: Total, items: [m1, m2], method: sum}}
"""


def test_a_response_to_another_version_of_the_questionnaire_is_refused(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """psyq's responses name ``.../Questionnaire/<id>|<version>``. A definition that
    keeps its item ids while a question changes (version 1 asks "I felt calm", version 2
    "I felt tense") scored a version 1 response as answers to version 2's questions."""
    v1 = tmp_path / "mood-v1.yaml"
    v1.write_text(definition("mood", MOOD.format(first="I felt calm"), title="Mood",
                             short_name="MOOD", version="1"))  # fmt: skip
    v2 = tmp_path / "mood-v2.yaml"
    v2.write_text(definition("mood", MOOD.format(first="I felt tense"), title="Mood",
                             short_name="MOOD", version="2"))  # fmt: skip
    bundle_path = tmp_path / "m.fhir.json"
    made = psyq_cli("report", v1, "--answers", "3,1", "--client", "C-1", "-o", bundle_path)
    assert made.exit_code == 0, made.output
    qr = json.loads(bundle_path.read_text())["entry"][0]["resource"]
    assert qr["questionnaire"].endswith("/Questionnaire/mood|1")
    path = write(tmp_path / "qr.json", qr)
    same = psyq_cli("score", v1, "--answers-file", path)
    assert same.exit_code == 0, same.output
    line = one_error_line(psyq_cli("score", v2, "--answers-file", path))
    assert "qr.json" in line and "v1" in line and "v2" in line
    # In a batch it is the row's error, not a score.
    ndjson = tmp_path / "in.ndjson"
    ndjson.write_text(json.dumps(qr) + "\n")
    out = tmp_path / "out"
    batch = psyq_cli("batch", ndjson, "--instrument", v2, "--out", out, "--quiet",
                     "--summary", "html", "--jobs", "1")  # fmt: skip
    assert batch.exit_code == 1, batch.output
    with (out / "errors.csv").open(encoding="utf-8", newline="") as fh:
        (error,) = list(csv.DictReader(fh))
    assert "v1" in error["reason"]
    assert len((out / "scores.csv").read_text().splitlines()) == 1  # the header only


# -- FHIR out: the Bundle written from a response keeps its subject and authored time -------


def test_bundles_from_a_response_keep_its_subject_and_time(psyq_cli: CLI, tmp_path: Path) -> None:
    """`report --answers-file` dated the Bundle by the day alone and `score --format fhir`
    gave it no date and no subject, where `batch` keeps both (README: "`authored` and
    `effectiveDateTime` keep the input's time and zone"). An in-progress response with
    item 9 unanswered: every Observation preliminary and carrying the alert."""
    answers = [{"valueCoding": {"system": LOINC, "code": PHQ9_CODES[1]}}] * 9
    qr = response(answers, authored="2026-03-01T10:15:30+01:00",
                  subject={"reference": "Patient/p1"}, status="in-progress")  # fmt: skip
    del qr["item"][8]
    path = write(tmp_path / "qr.json", qr)
    reported = tmp_path / "r.fhir.json"
    made = psyq_cli("report", "phq9", "--answers-file", path, "--client", "C-1", "-o", reported)
    assert made.exit_code == 0, made.output
    scored = psyq_cli("score", "phq9", "--answers-file", path, "--format", "fhir")
    assert scored.exit_code == 0, scored.output
    for bundle, subject in ((json.loads(reported.read_text()), {"identifier": {"value": "C-1"}}),
                            (json.loads(scored.output), {"reference": "Patient/p1"})):  # fmt: skip
        Bundle.model_validate(bundle)
        (qr_out, *observations) = [e["resource"] for e in bundle["entry"]]
        assert qr_out["authored"] == "2026-03-01T10:15:30+01:00"
        assert qr_out["status"] == "in-progress" and qr_out["subject"] == subject
        assert observations
        for obs in observations:
            assert obs["effectiveDateTime"] == "2026-03-01T10:15:30+01:00"
            assert obs["subject"] == subject and obs["status"] == "preliminary"
            assert "CRITICAL (item phq9_9)" in obs["note"][0]["text"]


def test_a_file_that_is_not_fhir_is_named_so(psyq_cli: CLI, tmp_path: Path) -> None:
    """The LHC-Forms internal format (``lforms__test_data_lforms_twoTotalScore.json``) has
    no resourceType: it was called "a FHIR None"."""
    path = write(tmp_path / "form.json", {"name": "PHQ-9", "items": []})
    line = one_error_line(psyq_cli("import-fhir", path, "-o", tmp_path / "d.yaml"))
    assert "None" not in line and "no resourceType" in line and "form.json" in line


# -- REDCap: a field named as the item but coded otherwise ---------------------------------


def compiled_dictionary(psyq_cli: CLI, tmp_path: Path, instrument: str) -> list[dict[str, str]]:
    path = tmp_path / f"{instrument}-dictionary.csv"
    made = psyq_cli("compile", instrument, "--to", "redcap", "-o", path)
    assert made.exit_code == 0, made.output
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_dictionary(path: Path, rows: list[dict[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


ONE_TO_FOUR = "1, Not at all | 2, Several days | 3, More than half the days | 4, Nearly every day"
REVERSED = "0, Nearly every day | 1, More than half the days | 2, Several days | 3, Not at all"


@pytest.mark.parametrize(
    ("choices", "renamed"),
    [
        # A project coding the PHQ-9 1-4 (REDCap's default numbering when choices are
        # typed without codes); Bridge2AI-Voice's q_generic_patient_health_questionnaire9
        # codes it 0-3. (Under other names its codes already matched no item.)
        (ONE_TO_FOUR, False),
        # The right codes with the labels the other way round, by name or by wording.
        (REVERSED, False),
        (REVERSED, True),
    ],
)
def test_redcap_fields_coded_otherwise_are_refused(
    psyq_cli: CLI, tmp_path: Path, choices: str, renamed: bool
) -> None:
    """Fields named as the items (or, renamed, found by their wording as Bridge2AI's
    are) were read code for code: "1, Not at all" on item 9 was scored 1 and raised the
    suicide alert; a label export's "Not at all" was read as 1 too."""
    rows = compiled_dictionary(psyq_cli, tmp_path, "phq9")
    names = {}
    for row in rows:
        if row["Field Type"] == "radio" and row["Variable / Field Name"] != "phq9_10":
            row["Choices, Calculations, OR Slider Labels"] = choices
        if renamed and row["Field Type"] == "radio":
            names[row["Variable / Field Name"]] = "q_" + row["Variable / Field Name"]
            row["Variable / Field Name"] = names[row["Variable / Field Name"]]
    rows = [r for r in rows if r["Field Type"] != "calc"]
    dictionary = write_dictionary(tmp_path / "dict.csv", rows)
    fields = [names.get(f"phq9_{i}", f"phq9_{i}") for i in range(1, 11)]
    export = tmp_path / "export.csv"
    export.write_text(
        f"record_id,{','.join(fields)},phq9_complete\n"
        f"1,{','.join(['1'] * 9)},0,2\n"
        f"2,{','.join(['Not at all'] * 9)},Not difficult at all,2\n"
    )
    out = tmp_path / "out"
    result = psyq_cli("batch", export, "--instrument", "phq9", "--redcap", dictionary,
                      "--out", out, "--quiet", "--summary", "html")  # fmt: skip
    line = one_error_line(result)
    assert "dict.csv:3:" in line and f"field '{fields[0]}'" in line and "phq9_1" in line
    assert not (out / "scores.csv").exists()


def test_redcap_numeral_labels_do_not_change_raw_codes(psyq_cli: CLI, tmp_path: Path) -> None:
    """A 0-4 item whose choices are shown as 1-5 ("0, 1 | 1, 2 | ..."): a raw export's
    1 is code 1. The label table read it as the label "1", code 0, so every answer
    scored one step down."""
    rows = compiled_dictionary(psyq_cli, tmp_path, "ccts")
    for row in rows:
        if row["Field Type"] == "radio":
            row["Choices, Calculations, OR Slider Labels"] = " | ".join(
                f"{k}, {k + 1}" for k in range(5)
            )
    dictionary = write_dictionary(tmp_path / "dict.csv", rows)
    answers = ["1", "2", "3", "4", "0", "1", "2", "3"] * 2
    items = ",".join(r["Variable / Field Name"] for r in rows if r["Field Type"] == "radio")
    export = tmp_path / "export.csv"
    export.write_text(f"record_id,{items},ccts_complete\n1,{','.join(answers)},2\n")
    out = tmp_path / "out"
    result = psyq_cli("batch", export, "--instrument", "ccts", "--redcap", dictionary,
                      "--out", out, "--quiet", "--summary", "html")  # fmt: skip
    assert result.exit_code == 0, result.output
    with (out / "scores.csv").open(encoding="utf-8", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    expected = psyq_cli("score", "ccts", "--answers", ",".join(answers), "--json")
    total = json.loads(expected.output)["scores"]["total"]["value"]
    assert float(row["total"]) == pytest.approx(total)


def test_redcap_record_id_field_named_otherwise(psyq_cli: CLI, tmp_path: Path) -> None:
    """REDCap's record ID field is the dictionary's first, whatever its name (many
    projects call it ``study_id``). The batch asked for a ``record_id`` column, and
    `--id-column study_id` wrote redcap-import.csv headed ``record_id``, which REDCap
    refuses to import into such a project."""
    rows = compiled_dictionary(psyq_cli, tmp_path, "phq9")
    assert rows[0]["Variable / Field Name"] == "record_id"
    rows[0]["Variable / Field Name"] = "study_id"
    dictionary = write_dictionary(tmp_path / "dict.csv", rows)
    items = ",".join(f"phq9_{i}" for i in range(1, 11))
    export = tmp_path / "export.csv"
    export.write_text(
        f"study_id,redcap_event_name,{items},phq9_complete\n"
        f"S-7,baseline_arm_1,{','.join(['1'] * 8)},0,0,2\n"
    )
    out = tmp_path / "out"
    result = psyq_cli("batch", export, "--instrument", "phq9", "--redcap", dictionary,
                      "--to", "redcap", "--out", out, "--quiet", "--summary", "html")  # fmt: skip
    assert result.exit_code == 0, result.output
    with (out / "scores.csv").open(encoding="utf-8", newline="") as fh:
        (scored,) = list(csv.DictReader(fh))
    assert scored["client_id"] == "S-7" and scored["total"] == "8"
    with (out / "redcap-import.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames is not None and reader.fieldnames[0] == "study_id"
        (imported,) = list(reader)
    assert imported["study_id"] == "S-7" and imported["phq9_psyq_total"] == "8"


# -- FHIR in: answer codes without a system ------------------------------------------------


def test_answer_codes_without_a_system_survive_import(psyq_cli: CLI, tmp_path: Path) -> None:
    """Answer codes with no system (``{"code": "c2"}``) and an ordinalValue, as in
    ``lforms__test_data_R4_answerOption_answerOption-valueCoding.choice.R4.json``
    (group 3), here in a form with a url. The draft dropped the codes, so a response to
    the very form imported, answering by code, was refused for every answer."""
    url = "http://example.org/fhir/Questionnaire/choice-codes"

    def option(k: int) -> dict[str, Any]:
        return {
            "valueCoding": {"code": f"c{k}", "display": f"Answer {k}"},
            "extension": [{"url": ORDINAL, "valueDecimal": k}],
        }

    questionnaire = {
        "resourceType": "Questionnaire",
        "url": url,
        "status": "draft",
        "title": "Answer codes without a system",
        "item": [
            {
                "linkId": f"item{i}",
                "text": f"Item {i}",
                "type": "choice",
                "answerOption": [option(k) for k in (1, 2, 3)],
            }
            for i in (1, 2)
        ],
    }
    draft = tmp_path / "draft.yaml"
    made = psyq_cli("import-fhir", write(tmp_path / "q.json", questionnaire), "-o", draft)
    assert made.exit_code == 0, made.output

    def answered(codings: list[dict[str, Any]]) -> Path:
        qr = {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": url,
            "status": "completed",
            "item": [
                {"linkId": f"item{i}", "answer": [{"valueCoding": c}]}
                for i, c in zip((1, 2), codings, strict=True)
            ],
        }
        return write(tmp_path / "qr.json", qr)

    scored = psyq_cli("score", draft, "--answers-file",
                      answered([{"code": "c2"}, {"code": "c3"}]), "--json")  # fmt: skip
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["scores"]["total"]["value"] == 5
    # A code of another system is not this form's c2.
    other = [{"system": "http://example.org/other", "code": "c2"}, {"code": "c3"}]
    line = one_error_line(psyq_cli("score", draft, "--answers-file", answered(other)))
    assert "linkId 'item1'" in line


# -- drafts: an item with other answers summed into the total is named ---------------------

BRIDGE2AI = SHARED / "corpus/redcap/bridge2ai_voice_project_data_dictionary.csv"


@pytest.mark.skipif(not BRIDGE2AI.is_file(), reason="shared corpus is not present")
def test_redcap_draft_names_the_difficulty_item_in_its_total(psyq_cli: CLI, tmp_path: Path) -> None:
    """Bridge2AI-Voice's PHQ-9 form has no calc field, so the draft's total sums every
    field, the difficulty item hard_to_work ("Not difficult at all" ...) among them: a
    0-30 "PHQ-9 total". import-fhir names such an item; import-redcap said only that the
    draft sums every item."""
    draft = tmp_path / "draft.yaml"
    made = psyq_cli("import-redcap", BRIDGE2AI, "--form",
                    "q_generic_patient_health_questionnaire9", "-o", draft)  # fmt: skip
    assert made.exit_code == 0, made.output
    header = " ".join(
        line.lstrip("# ") for line in draft.read_text().splitlines() if line.startswith("#")
    )
    assert "item hard_to_work has answers unlike no_interest's" in header
    assert "IS included in the total" in header
    assert "item thoughts_death has answers unlike" not in header


def test_fhir_draft_names_the_first_item_its_answers_differ_from(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """With the linkIds kept as item ids (mood_1, ...) the note said "unlike q1's", an
    item the draft does not have."""

    def item(n: int, labels: list[str]) -> dict[str, Any]:
        return {
            "linkId": f"mood_{n}",
            "text": f"Item {n}",
            "type": "choice",
            "answerOption": [
                {
                    "valueCoding": {"code": f"{n}-{k}", "display": label},
                    "extension": [{"url": ORDINAL, "valueDecimal": k}],
                }
                for k, label in enumerate(labels)
            ],
        }

    often = ["Never", "Sometimes", "Often"]
    questionnaire = {
        "resourceType": "Questionnaire",
        "url": "http://example.org/fhir/Questionnaire/mood",
        "status": "draft",
        "item": [item(1, often), item(2, often), item(3, ["Not hard", "Hard", "Very hard"])],
    }
    draft = tmp_path / "draft.yaml"
    made = psyq_cli("import-fhir", write(tmp_path / "q.json", questionnaire), "-o", draft)
    assert made.exit_code == 0, made.output
    header = " ".join(
        line.lstrip("# ") for line in draft.read_text().splitlines() if line.startswith("#")
    )
    assert "item mood_3" in header and "unlike mood_1's" in header and "q1's" not in header


# -- batch: a response refused for one answer still names its critical item ----------------

DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


def test_batch_response_refused_for_one_answer_names_its_critical_item(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """A CSV row with a bad cell is led in errors.csv by its critical items and their
    answers; a QuestionnaireResponse refused for one answer (item 1 answered with a
    data-absent-reason code, as ``lforms__test_data_R4_ValueSet_yesnodontknow.json``
    offers "Don't know") was not, though item 9 said "Nearly every day"; and an item 9
    answered "asked-declined" is an unanswered critical item."""
    declined = {"valueCoding": {"system": DATA_ABSENT, "code": "asked-declined"}}
    codes = [{"valueCoding": {"system": LOINC, "code": PHQ9_CODES[1]}}] * 8
    nearly = {"valueCoding": {"system": LOINC, "code": PHQ9_CODES[3]}}
    rows = [
        response([declined, *codes[1:], nearly], subject={"reference": "Patient/p1"}),
        response([*codes, declined], subject={"reference": "Patient/p2"}),
    ]
    src = tmp_path / "in.ndjson"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--quiet",
                      "--summary", "html", "--jobs", "1")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "2 row(s) not scored name a critical item" in result.output
    with (out / "errors.csv").open(encoding="utf-8", newline="") as fh:
        first, second = list(csv.DictReader(fh))
    assert first["reason"].startswith("row 1: CRITICAL item phq9_9 answered 3 (Nearly every day)")
    assert "'/44250-9'" in first["reason"] and "asked-declined" in first["reason"]
    assert second["reason"].startswith("row 2: CRITICAL item phq9_9 not answered")


# -- FHIR out: a risk answered away is said on every Observation ---------------------------


def test_a_risk_answered_away_is_on_every_observation(psyq_cli: CLI, tmp_path: Path) -> None:
    """Item 9 answered 2, the form left, resumed and item 9 changed to 0: the PHQ-2
    Observation read "Negative screen (score band only; see the safety alert)" with no
    note at all; the earlier answers' CRITICAL was on the total's only."""
    left = psyq_cli("administer", "phq9", "--client", "C1", input="0\n" * 8 + "2\nq\n")
    assert "partial administration 1" in left.output, left.output
    assert psyq_cli("administer", "--resume", "1", input="b\n0\n0\n").exit_code == 0
    fhir = tmp_path / "r.fhir.json"
    made = psyq_cli("report", "--administration", "1", "-o", fhir)
    assert made.exit_code == 0, made.output
    bundle = json.loads(fhir.read_text(encoding="utf-8"))
    Bundle.model_validate(bundle)
    observations = [e["resource"] for e in bundle["entry"][1:]]
    assert {o["code"]["coding"][0]["code"] for o in observations} == {"44261-6", "55758-7"}
    for obs in observations:
        assert "see the safety alert" in obs["interpretation"][0]["text"]
        assert any(
            n["text"].startswith("ANSWERS CHANGED: administration 1")
            and "the earlier answers raised CRITICAL" in n["text"]
            and "phq9_9" in n["text"]
            for n in obs.get("note", [])
        ), obs


def test_redcap_scores_import_into_a_repeating_forms_instances(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """A repeating PHQ-9 (REDCapR's longitudinal-with-repeating-instrument export shape):
    redcap-import.csv names each row's repeat instrument, phq9, so every field it
    imports must be on phq9. They were on a form of their own, phq9_psyq_scores, and
    REDCap refuses such a row ("redcap_repeat_instrument must be the unique form name of
    a Repeating Instrument", PyCap issue #154)."""
    rows = compiled_dictionary(psyq_cli, tmp_path, "phq9")
    dictionary = write_dictionary(tmp_path / "dict.csv", rows)
    items = ",".join(f"phq9_{i}" for i in range(1, 11))
    blank = "," * 10
    export = tmp_path / "export.csv"
    export.write_text(
        f"record_id,redcap_repeat_instrument,redcap_repeat_instance,{items},phq9_complete\n"
        f"1,,,{blank}\n"
        f"1,phq9,1,{','.join(['1'] * 9)},0,2\n"
        f"1,phq9,2,{','.join(['2'] * 9)},1,2\n"
    )
    out = tmp_path / "out"
    result = psyq_cli("batch", export, "--instrument", "phq9", "--redcap", dictionary,
                      "--to", "redcap", "--out", out, "--summary", "html")  # fmt: skip
    assert result.exit_code == 0, result.output
    with (out / "redcap-import-dictionary.csv").open(encoding="utf-8", newline="") as fh:
        forms = {r["Variable / Field Name"]: r["Form Name"] for r in csv.DictReader(fh)}
    with (out / "redcap-import.csv").open(encoding="utf-8", newline="") as fh:
        imported = list(csv.DictReader(fh))
    assert [(r["redcap_repeat_instance"], r["phq9_psyq_total"]) for r in imported] == [
        ("1", "9"),
        ("2", "18"),
    ]
    fields = [k for k in imported[0] if k.startswith("phq9_psyq_")]
    assert fields and set(fields) == set(forms)
    for row in imported:
        assert {forms[f] for f in fields} == {row["redcap_repeat_instrument"]}


# -- drafts keep a known critical item's alert ---------------------------------------------

LFORMS_PHQ9 = SHARED / "corpus/fhir/lforms__test_data_R4_phq9.json"


def header_of(draft: Path) -> str:
    lines = draft.read_text(encoding="utf-8").splitlines()
    return " ".join(line.lstrip("# ") for line in lines if line.startswith("#"))


@pytest.mark.skipif(not LFORMS_PHQ9.is_file(), reason="shared corpus is not present")
def test_a_fhir_draft_of_the_phq9_keeps_item_9s_alert(psyq_cli: CLI, tmp_path: Path) -> None:
    """LOINC's PHQ-9 (the lforms copy, read in place) became a draft with no critical
    item: scored with it, item 9 answered "More than half the days" raised nothing and
    left blank nothing either. Its item 9 has psyq's PHQ-9 item 9's LOINC code and
    answers, so the draft carries the mark and the suicidal_ideation flag, said in its
    header."""
    draft = tmp_path / "draft.yaml"
    made = psyq_cli("import-fhir", LFORMS_PHQ9, "-o", draft)
    assert made.exit_code == 0, made.output
    assert "item q9 is psyq's PHQ-9 item phq9_9" in header_of(draft)
    scored = psyq_cli("score", draft, "--answers", "0,0,0,0,0,0,0,0,2", "--json")
    assert scored.exit_code == 0, scored.output
    flags = json.loads(scored.output)["flags"]
    assert [(f["id"], f["level"]) for f in flags] == [("suicidal_ideation", "critical")]
    blank = psyq_cli("score", draft, "--answers", "0,0,0,0,0,0,0,0,-")
    assert "CRITICAL (item q9)" in blank.output, blank.output
    calm = psyq_cli("score", draft, "--answers", "0,0,0,0,0,0,0,0,0", "--json")
    assert json.loads(calm.output)["flags"] == []


@pytest.mark.skipif(not BRIDGE2AI.is_file(), reason="shared corpus is not present")
def test_a_redcap_draft_of_the_phq9_keeps_item_9s_alert(psyq_cli: CLI, tmp_path: Path) -> None:
    """Bridge2AI-Voice's PHQ-9 form: thoughts_death has psyq's item 9 wording and answers."""
    draft = tmp_path / "draft.yaml"
    made = psyq_cli("import-redcap", BRIDGE2AI, "--form",
                    "q_generic_patient_health_questionnaire9", "-o", draft)  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "item thoughts_death is psyq's PHQ-9 item phq9_9" in header_of(draft)
    scored = psyq_cli("score", draft, "--answers", "0,0,0,0,0,0,0,0,1,0")
    assert scored.exit_code == 0, scored.output
    assert "!!! CRITICAL (item thoughts_death)" in scored.output


def test_a_draft_item_like_a_critical_one_with_other_answers_is_named(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """PHQ-9 item 9's LOINC code with answers valued 1-4: "> 0" would mean something
    else there, so nothing is carried, and the header says so."""
    labels = PHQ9_LABELS

    def item(n: int, code: str) -> dict[str, Any]:
        return {
            "linkId": f"q{n}",
            "code": [{"system": LOINC, "code": code}],
            "text": f"Item {n}",
            "type": "choice",
            "answerOption": [
                {
                    "valueCoding": {"code": f"a{k}", "display": label},
                    "extension": [{"url": ORDINAL, "valueDecimal": k + 1}],
                }
                for k, label in enumerate(labels)
            ],
        }

    questionnaire = {
        "resourceType": "Questionnaire",
        "url": "http://example.org/fhir/Questionnaire/phq9-one-to-four",
        "status": "draft",
        "item": [item(1, PHQ9_ITEMS[0]), item(9, PHQ9_ITEMS[8])],
    }
    draft = tmp_path / "draft.yaml"
    made = psyq_cli("import-fhir", write(tmp_path / "q.json", questionnaire), "-o", draft)
    assert made.exit_code == 0, made.output
    header = header_of(draft)
    assert "item q9 looks like psyq's PHQ-9 item phq9_9" in header and "NOT marked" in header
    assert "flags:" not in draft.read_text(encoding="utf-8")


def test_redcap_checkbox_item_is_named(psyq_cli: CLI, tmp_path: Path) -> None:
    """PHQ-9 item 9 made a checkbox (exported as phq9_9___0 ... phq9_9___3, as
    Bridge2AI-Voice's checkbox fields are): the batch said only that no form's fields
    match; it names the field and why."""
    rows = compiled_dictionary(psyq_cli, tmp_path, "phq9")
    for row in rows:
        if row["Variable / Field Name"] == "phq9_9":
            row["Field Type"] = "checkbox"
    dictionary = write_dictionary(tmp_path / "dict.csv", rows)
    boxes = ",".join(f"phq9_9___{k}" for k in range(4))
    items = ",".join(f"phq9_{i}" for i in range(1, 9))
    export = tmp_path / "export.csv"
    export.write_text(f"record_id,{items},{boxes},phq9_10,phq9_complete\n1,{'0,' * 8}0,0,1,0,0,2\n")
    result = psyq_cli("batch", export, "--instrument", "phq9", "--redcap", dictionary,
                      "--out", tmp_path / "out", "--summary", "html")  # fmt: skip
    line = one_error_line(result)
    assert "dict.csv:11:" in line and "'phq9_9'" in line and "checkbox" in line


def test_a_questionnaire_weighing_from_one_is_refused_for_a_code_only_answer(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """The answered Questionnaire (contained, as the HL7 SDC PHQ-9 example's ValueSet
    is, ``hl7sdc__questionnaire-sdc-profile-example-PHQ9.json``) weighs "Not at all" 1;
    the answers give its code alone. Read by the Questionnaire's weight, every answer was
    one step up; its own label for the code says which answer it is."""
    value_set = {
        "resourceType": "ValueSet",
        "id": "freq",
        "status": "draft",
        "compose": {
            "include": [
                {
                    "system": "http://example.org/CodeSystem/freq",
                    "concept": [
                        {
                            "code": f"f{k}",
                            "display": label,
                            "extension": [{"url": ORDINAL, "valueDecimal": k + 1}],
                        }
                        for k, label in enumerate(PHQ9_LABELS)
                    ],
                }
            ]
        },
    }
    questionnaire = {
        "resourceType": "Questionnaire",
        "id": "q",
        "status": "draft",
        "contained": [value_set],
        "item": [
            {
                "linkId": f"Q{n}",
                "code": [{"system": LOINC, "code": code}],
                "type": "choice",
                "answerValueSet": "#freq",
            }
            for n, code in enumerate(PHQ9_ITEMS, 1)
        ],
    }
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "contained": [questionnaire],
        "questionnaire": "#q",
        "item": [
            {"linkId": f"Q{n}", "answer": [{"valueCoding": {"code": "f0"}}]} for n in range(1, 10)
        ],
    }
    line = one_error_line(psyq_cli("score", "phq9", "--answers-file",
                                   write(tmp_path / "qr.json", qr)))  # fmt: skip
    assert "linkId 'Q1'" in line and "Not at all" in line
    # Weighed 0-3, the same response scores as its labels say.
    for concept in value_set["compose"]["include"][0]["concept"]:  # type: ignore[index]
        concept["extension"][0]["valueDecimal"] -= 1
    scored = psyq_cli("score", "phq9", "--answers-file", write(tmp_path / "ok.json", qr), "--json")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["scores"]["total"]["value"] == 0


def test_redcap_label_export_events_are_not_written_for_import(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """A label export ("CSV, raw headers, labeled data") names the event by its label:
    redcap-import.csv carried "Baseline (Arm 1: Arm A)", which REDCap refuses on every
    row. The scores are kept; the import file is refused in one line naming the row."""
    rows = compiled_dictionary(psyq_cli, tmp_path, "phq9")
    dictionary = write_dictionary(tmp_path / "dict.csv", rows)
    items = ",".join(f"phq9_{i}" for i in range(1, 11))
    answers = ",".join(["Not at all"] * 9 + ["Not difficult at all"])
    export = tmp_path / "export.csv"
    export.write_text(
        f"record_id,redcap_event_name,{items},phq9_complete\n"
        f'1,"Baseline (Arm 1: Arm A)",{answers},Complete\n'
    )
    out = tmp_path / "out"
    result = psyq_cli("batch", export, "--instrument", "phq9", "--redcap", dictionary,
                      "--to", "redcap", "--out", out, "--quiet", "--summary", "html")  # fmt: skip
    line = one_error_line(result)
    assert "row 2" in line and "Baseline (Arm 1: Arm A)" in line and "label" in line
    assert not (out / "redcap-import.csv").exists()
    with (out / "scores.csv").open(encoding="utf-8", newline="") as fh:
        (scored,) = list(csv.DictReader(fh))
    assert scored["total"] == "0"
