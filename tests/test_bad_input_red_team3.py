"""Bad input a third red-team pass tried: digits that are not 0-9, dates Python reads but
the message forbids, JSON of the wrong shape as a client id, numbers past what a C int or
int() holds, and FIFOs given as files. Each is one clear line (or one refused row),
never an internal error, a hang, or a value scored as something other than what was typed."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.cli_checks import one_line_error
from tests.cohorts import read_csv

CLI = Callable[..., Result]
PHQ9_ITEMS = [f"phq9_{i}" for i in range(1, 10)]


# -- answers: only the digits 0-9 ---------------------------------------------------------

# int() reads each of these as an allowed PHQ-9 answer (0-3): "0_3" as 3, "١" (Arabic-Indic)
# as 1, "３" (full-width) as 3. Each was scored as a value the form never showed.
NOT_DIGITS = ["0_3", "0_0_1", "١", "３", "٢", "߂"]


@pytest.mark.parametrize("answer", NOT_DIGITS)
def test_an_answer_not_written_with_the_digits_0_to_9_is_refused(
    psyq_cli: CLI, answer: str
) -> None:
    result = psyq_cli("score", "phq9", "--answers", f"{answer},1,1,1,1,1,1,1,0")
    assert f"item phq9_1: '{answer}' is not an allowed answer" in one_line_error(result)
    # A sign or spaces around the digits 0-9 are still read as typed.
    plain = psyq_cli("score", "phq9", "--answers", " 1 ,+2,-0,1,1,1,1,1,0", "--json")
    answers = json.loads(plain.output)["answers"]
    assert [answers[i] for i in ("phq9_1", "phq9_2", "phq9_3")] == [1, 2, 0]


@pytest.mark.parametrize("answer", NOT_DIGITS)
def test_an_answers_file_or_batch_cell_with_other_digits_is_refused(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path, answer: str
) -> None:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"phq9_1": answer}, ensure_ascii=False), encoding="utf-8")
    record = psyq_cli("record", "phq9", "--client", "C1", "--answers-file", path)
    assert f"{path}: item phq9_1" in one_line_error(record)
    assert psyq_cli("history", "C1").exit_code == 2  # nothing stored

    src = tmp_path / "in.csv"
    src.write_text(
        "client_id,"
        + ",".join(PHQ9_ITEMS)
        + f"\nC1,{answer},1,1,1,1,1,1,1,0\nC2,1,1,1,1,1,1,1,1,0\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    batch = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet")
    assert batch.exit_code == 1, batch.output
    assert [r["client_id"] for r in read_csv(out / "scores.csv")] == ["C2"]
    [error] = read_csv(out / "errors.csv")
    assert error["row"] == "2" and "item phq9_1" in error["reason"]


@pytest.mark.parametrize("given", ["²", "١", "１"])
def test_an_administration_id_in_other_digits_is_not_a_number(
    psyq_cli: CLI, tmp_path: Path, given: str
) -> None:
    """``"²".isdigit()`` is true but int() refuses it: was an internal error; "١" was id 1."""
    assert (
        psyq_cli("record", "phq9", "--client", "C1", "--answers", "1,1,1,1,1,1,1,1,1").exit_code
        == 0
    )
    out = tmp_path / "r.json"
    result = psyq_cli("report", "--administration", given, "-o", out)
    assert f"administration id '{given}' is not a number" in one_line_error(result)
    assert not out.exists()


# -- batch dates: YYYY-MM-DD, as the message says --------------------------------------------


@pytest.mark.parametrize("day", ["20260101", "2026-W01-1", "2026W011"])
def test_a_batch_date_python_reads_but_not_yyyy_mm_dd_is_refused(
    psyq_cli: CLI, tmp_path: Path, day: str
) -> None:
    """The row's date is carried as written into scores.csv and report names: a basic or
    week date was accepted there although the error for any other says "use YYYY-MM-DD"."""
    src = tmp_path / "in.csv"
    src.write_text(
        "client_id,date," + ",".join(PHQ9_ITEMS) + "\n"
        f"C1,{day},1,1,1,1,1,1,1,1,0\nC2,2026-01-01,1,1,1,1,1,1,1,1,0\n"
    )
    out = tmp_path / "out"
    result = psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet"
    )
    assert result.exit_code == 1, result.output
    assert [r["date"] for r in read_csv(out / "scores.csv")] == ["2026-01-01"]
    [error] = read_csv(out / "errors.csv")
    assert error["reason"] == f"row 2: date '{day}' is not a date; use YYYY-MM-DD"


# -- a JSONL client id that is a list, an object or true --------------------------------------


@pytest.mark.parametrize(
    ("client", "words"),
    [(["C9"], "a list"), ({"id": "C9"}, "an object"), (True, "true/false")],
)
def test_a_jsonl_client_id_of_the_wrong_shape_is_a_bad_row(
    psyq_cli: CLI, tmp_path: Path, client: object, words: str
) -> None:
    """Was taken as the id '["C9"]' (its JSON text) and scored under it."""
    answers = {**{item: 1 for item in PHQ9_ITEMS}, "phq9_9": 0}
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"client_id": client, **answers}) + "\n"
        + json.dumps({"client_id": "C2", **answers}) + "\n"
    )  # fmt: skip
    out = tmp_path / "out"
    result = psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet"
    )
    assert result.exit_code == 1, result.output
    assert [r["client_id"] for r in read_csv(out / "scores.csv")] == ["C2"]
    [error] = read_csv(out / "errors.csv")
    assert error["reason"] == f"row 1: the client id is {words}, not a text such as C0042"


@pytest.mark.parametrize("client", ["C" * 300, ["C9"]])
def test_a_jsonl_row_refused_for_its_client_id_still_names_its_critical_answer(
    psyq_cli: CLI, tmp_path: Path, client: object
) -> None:
    """The JSONL reader dropped such a row's answers (the CSV reader kept them), so
    errors.csv and the terminal said nothing of an endorsed PHQ-9 item 9."""
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"client_id": client, **{i: 1 for i in PHQ9_ITEMS}, "phq9_9": 3}))
    out = tmp_path / "out"
    result = psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet"
    )
    assert result.exit_code == 1, result.output
    [error] = read_csv(out / "errors.csv")
    assert error["reason"].startswith("row 1: CRITICAL item phq9_9 answered 3 (Nearly every day)")


# -- numbers past what psyq's machinery holds --------------------------------------------------


@pytest.mark.parametrize("jobs", ["99999999999", "5000"])
def test_batch_jobs_past_what_a_pool_holds_is_a_usage_error(
    psyq_cli: CLI, tmp_path: Path, jobs: str
) -> None:
    """Was an OverflowError (a C int in the pool's semaphore) for 99999999999."""
    src = tmp_path / "in.csv"
    src.write_text("client_id," + ",".join(PHQ9_ITEMS) + "\nC1,1,1,1,1,1,1,1,1,0\n")
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
                      "--quiet", "--jobs", jobs)  # fmt: skip
    assert "'--jobs'" in one_line_error(result)
    assert not out.exists()


@pytest.mark.parametrize("expires", ["9" * 5000 + "m", "0" * 5000 + "1" + "0" * 5000 + "s"])
def test_a_kiosk_expiry_of_thousands_of_digits_is_refused(psyq_cli: CLI, expires: str) -> None:
    """int() refuses text past 4300 digits: was an internal error."""
    result = psyq_cli("kiosk", "start", "--client", "C1", "--instruments", "phq9",
                      "--expires", expires)  # fmt: skip
    assert "a code may live 24h at most" in one_line_error(result)
    assert "no kiosk sessions" in psyq_cli("kiosk", "status").output.lower()


# -- a Questionnaire giving one linkId to two items -----------------------------------------


def _two_items_one_link_id() -> dict[str, object]:
    """Two PHQ-9 item 1s under one linkId, the second's answer codes scored in reverse."""

    def options(values: list[int]) -> list[dict[str, object]]:
        ordinal = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
        return [
            {"valueCoding": {"system": "http://example.org/answers", "code": f"c{n}"},
             "extension": [{"url": ordinal, "valueDecimal": value}]}
            for n, value in enumerate(values)
        ]  # fmt: skip

    return {
        "resourceType": "Questionnaire",
        "id": "q",
        "status": "active",
        "item": [
            {"linkId": "phq9_1", "type": "choice", "answerOption": options([0, 1, 2, 3])},
            {"linkId": "phq9_1", "type": "choice", "answerOption": options([3, 2, 1, 0])},
        ],
    }


def test_a_contained_questionnaire_with_a_linkid_twice_is_refused_not_misread(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """FHIR's que-2 makes linkIds unique. The answer code c0 (0 for the first item) was
    read with the second item's values and scored as 3."""
    response = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": "#q",
        "contained": [_two_items_one_link_id()],
        "item": [
            {"linkId": "phq9_1",
             "answer": [{"valueCoding": {"system": "http://example.org/answers", "code": "c0"}}]}
        ],
    }  # fmt: skip
    path = tmp_path / "response.json"
    path.write_text(json.dumps(response))
    result = psyq_cli("score", "phq9", "--answers-file", path)
    assert f"{path}: its Questionnaire: linkId 'phq9_1' is given to two items" in one_line_error(
        result
    )


def test_a_questionnaire_with_a_linkid_twice_is_refused_by_import_and_as_a_reading_aid(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    questionnaire = tmp_path / "q.json"
    questionnaire.write_text(json.dumps(_two_items_one_link_id()))
    draft = tmp_path / "draft.yaml"
    imported = psyq_cli("import-fhir", questionnaire, "-o", draft)
    assert "linkId 'phq9_1' is given to two items" in one_line_error(imported)
    assert not draft.exists()
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"phq9_1": 1}))
    scored = psyq_cli("score", "phq9", "--answers-file", answers, "--questionnaire", questionnaire)
    assert f"{questionnaire}: linkId 'phq9_1' is given to two items" in one_line_error(scored)


# -- an item's column named as the id or date column ----------------------------------------


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (["--id-column", "phq9_1"], "--id-column 'phq9_1' names an item column of PHQ-9"),
        (["--date-column", "phq9_9"], "--date-column 'phq9_9' names an item column of PHQ-9"),
        (["--date-column", "client_id"], "--id-column and --date-column both name 'client_id'"),
    ],
)
@pytest.mark.parametrize("command", ["batch", "analyze", "norms"])
def test_an_item_column_given_as_the_id_or_date_column_is_refused(
    psyq_cli: CLI, tmp_path: Path, option: list[str], words: str, command: str
) -> None:
    """--id-column phq9_1 made each answer a client id (every "1" one respondent, scored
    with the other answers); --date-column phq9_9 refused every row's date."""
    data = tmp_path / "sim.csv"
    assert psyq_cli("simulate", "phq9", "--n", "30", "-o", data).exit_code == 0
    out = tmp_path / "out"
    args = {
        "batch": ["batch", data, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet"],
        "analyze": ["analyze", "phq9", data, "--json"],
        "norms": ["norms", "build", "phq9", data, "--description", "x", "-o", out],
    }[command]
    result = psyq_cli(*args, "--ignore-extra-columns", *option)
    assert words in one_line_error(result)
    assert not out.exists()


# -- skip logic that cannot work ---------------------------------------------------------------


def _with_skips(skip_a: str, skip_b: str, extra: str = "") -> str:
    from tests.definitions import definition

    return definition(
        "skips",
        f"""
        items:
          - {{id: s_a, text: First, response_scale: freq{skip_a}}}
          - {{id: s_b, text: Second, response_scale: freq{skip_b}}}
          - {{id: s_c, text: Third, response_scale: freq{extra}}}
          - {{id: s_d, text: Fourth, response_scale: freq}}
        scales:
          - id: total
            label: Total
            items: [s_a, s_b, s_c, s_d]
            method: sum
            missing: {{max_missing: 1, prorate: true}}
        """,
        title="Skips",
        short_name="SK",
    )


@pytest.mark.parametrize(
    ("skip_a", "skip_b", "extra", "words"),
    [
        # Both blank: each one's condition held, so both were scored 0 as "skipped" and
        # the total read "answered 4/4" for a form with two answers.
        (", skip: {when: {item: s_b, missing: true}, score: 0}",
         ", skip: {when: {item: s_a, missing: true}, score: 0}", "",
         "item s_a: skip: circular skip logic (s_a -> s_b -> s_a)"),
        (", skip: {when: {item: s_c, op: '==', value: 0}, score: 0}",
         ", skip: {when: {item: s_a, missing: true}, score: 0}",
         ", skip: {when: {item: s_b, missing: true}, score: 0}",
         "item s_a: skip: circular skip logic (s_a -> s_c -> s_b -> s_a)"),
        # Skips are applied before scales are scored: the test never held.
        (", skip: {when: {scale: total, op: '>=', value: 1}, score: 0}", "", "",
         "item s_a: skip: the condition tests scale total"),
    ],
)  # fmt: skip
def test_skip_logic_that_cannot_work_is_refused(
    psyq_cli: CLI, tmp_path: Path, skip_a: str, skip_b: str, extra: str, words: str
) -> None:
    path = tmp_path / "skips.yaml"
    path.write_text(_with_skips(skip_a, skip_b, extra))
    result = psyq_cli("score", path, "--answers", ",,3,3")
    assert words in one_line_error(result)
    assert psyq_cli("validate", path).exit_code == 2


def test_norms_build_puts_no_age_written_otherwise_than_in_digits_into_a_band(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """float() read "3_5" as 35, "٣٥" as 35 and "1e309" as infinity (in the band "50-")."""
    data = tmp_path / "sim.csv"
    assert psyq_cli("simulate", "phq9", "--n", "40", "-o", data).exit_code == 0
    rows = read_csv(data)
    odd = ["3_5", "٣٥", "1e309", "inf"]
    for n, row in enumerate(rows):
        row["age"] = "25" if n % 2 else odd[n // 2 % len(odd)]
    with data.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "norms.json"
    bands = ["--group-by", "age", "--age-bands", "18-29,30-49,50-"]
    result = psyq_cli("norms", "build", "phq9", data, "--description", "x", *bands, "-o", out,
                      "--ignore-extra-columns")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "20 respondents had no value (or an age outside the bands) for age" in result.stderr
    groups = [group["group"] for group in json.loads(out.read_text())["groups"]]
    assert groups == [{}, {"age": "18-29"}]


# -- a FIFO as a TLS file; a language tag that would break the line --------------------------


def test_serve_refuses_a_fifo_as_its_certificate_instead_of_waiting(tmp_path: Path) -> None:
    """OpenSSL opened the file blocking: serve waited for a writer forever."""
    fifo = tmp_path / "cert.fifo"
    os.mkfifo(fifo)
    result = subprocess.run(
        [sys.executable, "-m", "psyq", "serve", "--port", "0",
         "--certfile", str(fifo), "--keyfile", str(fifo)],
        env={**os.environ, "PSYQ_HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert f"--certfile {fifo}: not a regular file" in one_line_error(result)


@pytest.mark.parametrize("command", ["report", "kiosk"])
def test_a_language_tag_with_a_line_break_is_shown_escaped_on_one_line(
    psyq_cli: CLI, tmp_path: Path, command: str
) -> None:
    args = {
        "report": [
            "report",
            "phq9",
            "--client",
            "C1",
            "--answers",
            "1,1,1,1,1,1,1,1,1",
            "-o",
            tmp_path / "r.json",
        ],
        "kiosk": ["kiosk", "start", "--client", "C1", "--instruments", "phq9", "--no-qr"],
    }[command]
    result = psyq_cli(*args, "--language", "de\nx")
    assert "phq9 has no 'de\\nx' translation" in one_line_error(result)


# -- record: the day a FHIR response says it was authored ------------------------------------


def _authored_response(tmp_path: Path, authored: str) -> Path:
    response = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "authored": authored,
        "item": [{"linkId": f"phq9_{i}", "answer": [{"valueInteger": 1}]} for i in range(1, 10)],
    }
    path = tmp_path / "response.json"
    path.write_text(json.dumps(response))
    return path


def test_record_and_report_use_the_day_a_response_was_authored(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """It was stored as taken today: months out of place in the client's trend."""
    path = _authored_response(tmp_path, "2024-01-05T23:30:00-12:00")
    result = psyq_cli("record", "phq9", "--client", "C1", "--answers-file", path)
    assert result.exit_code == 0, result.output
    assert "on 2024-01-05" in result.output
    [stored] = json.loads(psyq_cli("history", "C1", "--json").output)
    assert stored["administration"]["administered"] == "2024-01-05"
    out = tmp_path / "report.json"
    assert (
        psyq_cli("report", "phq9", "--client", "C1", "--answers-file", path, "-o", out).exit_code
        == 0
    )
    assert json.loads(out.read_text())["report"]["administered"] == "2024-01-05"


@pytest.mark.parametrize(
    ("authored", "date", "words"),
    [
        ("2024-01-05", "2024-01-06", "--date 2024-01-06 contradicts {path}, authored 2024-01-05"),
        ("2026-02-30", None, "{path}: authored '2026-02-30' is not a date"),
        ("2999-01-05", None, "{path}: authored 2999-01-05 is in the future"),
        ("1850-01-05T10:00:00Z", None, "{path}: authored 1850-01-05 is before 1900"),
    ],
)
def test_record_and_report_refuse_an_authored_date_they_cannot_use_as_given(
    psyq_cli: CLI, tmp_path: Path, authored: str, date: str | None, words: str
) -> None:
    path = _authored_response(tmp_path, authored)
    extra = ["--date", date] if date else []
    result = psyq_cli("record", "phq9", "--client", "C1", "--answers-file", path, *extra)
    assert words.format(path=path) in one_line_error(result)
    assert psyq_cli("history", "C1").exit_code == 2  # nothing stored
    out = tmp_path / "report.json"
    report = psyq_cli("report", "phq9", "--client", "C1", "--answers-file", path, *extra, "-o", out)
    assert words.format(path=path) in one_line_error(report)
    assert not out.exists()


# -- norms build: the sample's words ---------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        # Was an internal error (the table's own check of an empty description).
        ("--description", "", "--description: say who the sample is"),
        ("--description", "   ", "--description: say who the sample is"),
        # A line break split the normed score's line in every text output.
        ("--title", "Clinic norms\nT 80, percentile 99", "--title: holds a line break"),
        ("--collected", "2026\u202e", "--collected: holds a line break or another control"),
    ],
)
def test_norms_build_refuses_sample_words_that_are_empty_or_not_one_line(
    psyq_cli: CLI, tmp_path: Path, option: str, value: str, words: str
) -> None:
    data = tmp_path / "sim.csv"
    assert psyq_cli("simulate", "phq9", "--n", "30", "-o", data).exit_code == 0
    out = tmp_path / "norms.yaml"
    given = {"--description": "Outpatients", option: value}
    args = [a for pair in given.items() for a in pair]
    result = psyq_cli("norms", "build", "phq9", data, *args, "-o", out, "--ignore-extra-columns")
    assert words in one_line_error(result)
    assert not out.exists()


# -- text a user gave, quoted in an error --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["import-redcap", "{dd}", "--form", "f\nx", "-o", "{tmp}/d.yaml"], "no form 'f\\nx'"),
        (["import-redcap", "{dd}", "--id", "a\x1b[2Jb", "-o", "{tmp}/d.yaml"],
         "--id 'a\\x1b[2Jb'"),
        (["score", "phq9\u202e", "--answers", "1"], "unknown instrument 'phq9\\u202e'"),
    ],
)  # fmt: skip
def test_text_quoted_in_an_error_is_escaped_to_one_line(
    psyq_cli: CLI, tmp_path: Path, args: list[str], words: str
) -> None:
    """A line break in an --id or a form name split the error; an escape sequence in it
    reached the terminal (ESC [2J clears the screen, hiding the error)."""
    dictionary = tmp_path / "dd.csv"
    dictionary.write_text(
        "Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"
        '"Choices, Calculations, OR Slider Labels",Field Note\n'
        'q1,f,,radio,Question one,"0, No | 1, Yes",\n'
    )
    given = [a.replace("{dd}", str(dictionary)).replace("{tmp}", str(tmp_path)) for a in args]
    line = one_line_error(psyq_cli(*given))
    assert words in line and "\x1b" not in line


# -- --to redcap: a record twice; an earlier batch's import file ----------------------------


def _redcap_export(tmp_path: Path, psyq_cli: CLI, records: list[str]) -> tuple[Path, Path]:
    dictionary = tmp_path / "phq9-dictionary.csv"
    assert psyq_cli("compile", "phq9", "--to", "redcap", "-o", dictionary).exit_code == 0
    export = tmp_path / "export.csv"
    export.write_text(
        "record_id,redcap_event_name," + ",".join(PHQ9_ITEMS) + "\n"
        + "".join(f"{r},baseline_arm_1,{n % 4},1,1,1,1,1,1,1,0\n" for n, r in enumerate(records))
    )  # fmt: skip
    return dictionary, export


def test_to_redcap_refuses_a_record_and_event_given_twice(psyq_cli: CLI, tmp_path: Path) -> None:
    """redcap-import.csv had two rows for R1 at baseline: REDCap imports one, and the
    other's scores were lost without a word."""
    dictionary, export = _redcap_export(tmp_path, psyq_cli, ["R1", "R2", "R1"])
    out = tmp_path / "out"
    result = psyq_cli("batch", export, "--instrument", "phq9", "--redcap", dictionary,
                      "--out", out, "--scores-only", "--quiet", "--to", "redcap")  # fmt: skip
    line = one_line_error(result)
    assert "rows 2 and 4 are both record 'R1' (redcap_event_name 'baseline_arm_1')" in line
    assert not (out / "redcap-import.csv").exists()
    assert len(read_csv(out / "scores.csv")) == 3  # the batch's own outputs are kept


def test_force_leaves_no_earlier_batchs_redcap_import_file(psyq_cli: CLI, tmp_path: Path) -> None:
    """--force removed the earlier batch's scores.csv and reports but kept its
    redcap-import.csv: scores of other answers, ready to import."""
    dictionary, export = _redcap_export(tmp_path, psyq_cli, ["R1", "R2"])
    out = tmp_path / "out"
    args = [
        "--instrument",
        "phq9",
        "--redcap",
        dictionary,
        "--out",
        out,
        "--scores-only",
        "--quiet",
    ]
    assert psyq_cli("batch", export, *args, "--to", "redcap").exit_code == 0
    assert (out / "redcap-import.csv").exists()
    assert psyq_cli("batch", export, *args, "--force").exit_code == 0
    assert not (out / "redcap-import.csv").exists()
    assert not (out / "redcap-import-dictionary.csv").exists()


@pytest.mark.parametrize(
    ("client", "code", "shown"),
    [
        ("C\t02", "U+0009", "C\\t02"),  # a tab: splits the id in a tab-separated listing
        ("C\u202e02", "U+202E", "C\\u202e02"),  # a right-to-left override: reads as another
        ("C\u200b02", "U+200B", "C\\u200b02"),  # a zero-width space: looks like C02
        ("C\n02", "U+000A", "C\\n02"),  # a line break in a quoted CSV cell
    ],
)
def test_a_client_id_with_a_character_that_does_not_print_is_a_bad_row(
    psyq_cli: CLI, tmp_path: Path, client: str, code: str, shown: str
) -> None:
    """Such an id was scored under it: in scores.csv and a report's name it read as
    another id (or split the line). The row is refused, shown escaped, and its
    critical answer is still named; an id in another script (Müller-4) stays valid."""
    src = tmp_path / "in.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["client_id", "date", *PHQ9_ITEMS])
        writer.writerow([client, "2026-01-02", *["0"] * 8, "2"])
        writer.writerow(["Müller-4", "2026-01-02", *["0"] * 9])
    out = tmp_path / "out"
    for path in ("--scores-only",), ("--format", "json"):  # the columnar and per-row paths
        result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, *path,
                          "--quiet", "--force")  # fmt: skip
        assert result.exit_code == 1, result.output
        assert [r["client_id"] for r in read_csv(out / "scores.csv")] == ["Müller-4"]
        [error] = read_csv(out / "errors.csv")
        assert error["client_id"] == shown
        assert error["reason"].startswith("row 2: CRITICAL item phq9_9 answered 2")
        assert f"invisible or control character ({code}, character 2)" in error["reason"]
