"""Bad input a fourth red-team pass tried: dates in the future or before 1900 wherever a
date comes in, instrument definitions whose numbers are true/false, quoted or 2.0, an
``--answers`` list one short, YAML's other ways of writing a number, digits other than
0-9 in number options, and a folder given as a batch input. Each is one clear line (or
one refused row naming its column), never stored, scored or run as something not typed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from tests.cli_checks import one_line_error
from tests.cohorts import read_csv

CLI = Callable[..., Result]
PHQ9_ITEMS = [f"phq9_{i}" for i in range(1, 10)]
NINE = "1,1,1,1,1,1,1,1,1"


def utc_now() -> datetime:
    return datetime.now(UTC)


def future_day() -> str:
    """A date after today's date anywhere on earth (UTC+14 is at most a day ahead)."""
    return (utc_now().date() + timedelta(days=2)).isoformat()


def hours_ahead(hours: int = 3) -> str:
    return (utc_now() + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def latest_day_on_earth() -> str:
    """Today's date at UTC+14: a date-only value may be that (psyq's convention)."""
    return (utc_now() + timedelta(hours=14)).date().isoformat()


# -- 1. dates in the future or before 1900 ----------------------------------------------------


@pytest.mark.parametrize("when", ["future", "1899-12-31"])
def test_report_refuses_a_date_in_the_future_or_before_1900(
    psyq_cli: CLI, tmp_path: Path, when: str
) -> None:
    """`record --date` refused these; `report --date` wrote the report dated so."""
    day = future_day() if when == "future" else when
    why = "is in the future" if when == "future" else "is before 1900"
    out = tmp_path / "r.json"
    result = psyq_cli(
        "report", "phq9", "--answers", NINE, "--client", "C1", "--date", day, "-o", out
    )
    assert f"--date {day} {why}" in one_line_error(result)
    assert not out.exists()
    # A date that is today somewhere on earth (UTC+14) is not in the future.
    today_there = latest_day_on_earth()
    assert (
        psyq_cli(
            "report", "phq9", "--answers", NINE, "--client", "C1", "--date", today_there, "-o", out
        ).exit_code
        == 0
    )
    assert json.loads(out.read_text())["report"]["administered"] == today_there


@pytest.mark.parametrize("day", ["20260101", "２０２６-01-01"])
def test_record_and_report_refuse_a_date_not_written_as_yyyy_mm_dd_in_digits(
    psyq_cli: CLI, tmp_path: Path, day: str
) -> None:
    """strptime read full-width digits as 2026 (stored); report read 20260101 too."""
    record = psyq_cli("record", "phq9", "--client", "C1", "--answers", NINE, "--date", day)
    assert "is not a date" in one_line_error(record)
    assert psyq_cli("history", "C1").exit_code == 2  # nothing stored
    out = tmp_path / "r.json"
    report = psyq_cli(
        "report", "phq9", "--answers", NINE, "--client", "C1", "--date", day, "-o", out
    )
    assert "is not a date" in one_line_error(report)


def _response(tmp_path: Path, authored: str, name: str = "response.json") -> Path:
    response = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "subject": {"identifier": {"value": "C1"}},
        "authored": authored,
        "item": [{"linkId": f"phq9_{i}", "answer": [{"valueInteger": 1}]} for i in range(1, 10)],
    }
    path = tmp_path / name
    path.write_text(json.dumps(response))
    return path


@pytest.mark.parametrize(
    ("authored", "why"),
    [
        # Today's date (or tomorrow's, in UTC), but hours after now: the date check passed it.
        ("ahead", "is in the future (now "),
        # A partial date (FHIR allows a year, or a year and month) was ignored: the
        # form was stored as taken today.
        ("2999", "is in the future"),
        ("2999-03", "is in the future"),
        ("1850", "is before 1900"),
    ],
)
def test_record_and_report_refuse_an_authored_time_or_partial_date_out_of_range(
    psyq_cli: CLI, tmp_path: Path, authored: str, why: str
) -> None:
    authored = hours_ahead() if authored == "ahead" else authored
    path = _response(tmp_path, authored)
    result = psyq_cli("record", "phq9", "--client", "C1", "--answers-file", path)
    assert f"{path}: authored {authored} {why}" in one_line_error(result)
    assert psyq_cli("history", "C1").exit_code == 2  # nothing stored
    out = tmp_path / "r.json"
    report = psyq_cli("report", "phq9", "--client", "C1", "--answers-file", path, "-o", out)
    assert f"authored {authored} {why}" in one_line_error(report)
    assert not out.exists()


def test_an_authored_time_hours_ahead_is_refused_minutes_ahead_is_clock_skew(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    ahead = hours_ahead(3)
    refused = _response(tmp_path, ahead, "ahead.json")
    result = psyq_cli("record", "phq9", "--client", "C1", "--answers-file", refused)
    assert f"authored {ahead} is in the future (now " in one_line_error(result)
    assert "psyq allows a clock 10 minutes fast" in result.stderr
    moment = utc_now() + timedelta(minutes=2)
    path = _response(tmp_path, moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    result = psyq_cli("record", "phq9", "--client", "C1", "--answers-file", path)
    assert result.exit_code == 0, result.output
    # ... as is one authored just now, written in the zone where the date is latest
    # (its date may be tomorrow's in UTC).
    now_there = utc_now().astimezone(timezone(timedelta(hours=14))).isoformat()
    there = _response(tmp_path, now_there, "there.json")
    result = psyq_cli("record", "phq9", "--client", "C2", "--answers-file", there)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("column", ["date", "visit_date"])
@pytest.mark.parametrize("scores_only", [True, False])
def test_a_batch_row_dated_in_the_future_or_before_1900_is_a_bad_row_naming_its_column(
    psyq_cli: CLI, tmp_path: Path, column: str, scores_only: bool
) -> None:
    """Scored and reported under that date (a 2062 typo the "latest" form of the client)."""
    future, ahead = future_day(), hours_ahead()
    src = tmp_path / "in.csv"
    src.write_text(
        f"client_id,{column}," + ",".join(PHQ9_ITEMS) + "\n"
        f"C1,{future},1,1,1,1,1,1,1,1,2\n"
        f"C2,1899-12-31,1,1,1,1,1,1,1,1,0\n"
        f"C3,{ahead},1,1,1,1,1,1,1,1,0\n"
        f"C4,{latest_day_on_earth()},1,1,1,1,1,1,1,1,0\n"
        f"C5,2026-01-05T10:00:00Z,1,1,1,1,1,1,1,1,0\n"
    )
    out = tmp_path / "out"
    extra = ["--scores-only"] if scores_only else ["--format", "json"]
    result = psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", out, "--date-column", column,
        "--quiet", *extra,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert [r["client_id"] for r in read_csv(out / "scores.csv")] == ["C4", "C5"]
    errors = {e["row"]: e["reason"] for e in read_csv(out / "errors.csv")}
    assert errors["2"] == (
        "row 2: CRITICAL item phq9_9 answered 2 (More than half the days): act on it. "
        f"{column[:1].upper()}{column[1:]} {future} is in the future; correct the date"
    )
    assert errors["3"] == f"row 3: {column} 1899-12-31 is before 1900; correct the date"
    assert errors["4"].startswith(f"row 4: {column} {ahead} is in the future (now ")


def test_a_fhir_batch_row_authored_in_the_future_is_a_bad_row_naming_authored(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    ahead = hours_ahead()
    src = tmp_path / "in.ndjson"
    lines = [json.loads(_response(tmp_path, when).read_text()) for when in (ahead, "2026-01-05")]
    lines[0]["item"][8]["answer"] = [{"valueInteger": 3}]
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    result = psyq_cli(
        "batch", src, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet"
    )
    assert result.exit_code == 1, result.output
    assert [r["date"] for r in read_csv(out / "scores.csv")] == ["2026-01-05"]
    [error] = read_csv(out / "errors.csv")
    assert error["reason"].startswith(
        "row 1: CRITICAL item phq9_9 answered 3 (Nearly every day): act on it. "
        f"Authored {ahead} is in the future (now "
    )


# -- 2. instrument definitions: a number is a number ------------------------------------------


@pytest.mark.parametrize(
    ("written", "replaced", "where", "words"),
    [
        ("min: 3, max: 6", "min: true, max: 6", "scales[total].bands[high].min",
         "Input should be a valid number, not true; write the number"),
        ("min: 3, max: 6", 'min: "3", max: 6', "scales[total].bands[high].min",
         "Input should be a valid number, not the text '3'; write the number without quotes"),
        ("max_missing: 1", "max_missing: 1.0", "scales[total].missing.max_missing",
         "Input should be a valid integer, not 1.0; write a whole number"),
        ("max_missing: 1", "max_missing: yes", "scales[total].missing.max_missing",
         "Input should be a valid integer, not true (YAML reads an unquoted yes as true)"),
        ("prorate: true", "prorate: 1", "scales[total].missing.prorate",
         "Input should be a valid boolean, not 1; write true or false"),
        ("value: 2}", "value: false}", "flags[often_one].when.value",
         "Input should be a valid number, not false"),
        ("{m1: 0, m2: 0, m3: 0}", "{m1: true, m2: 0, m3: 0}", "examples[0].answers.m1",
         "Input should be a valid integer, not true"),
        ("id: mini", "schema_version: true\nid: mini", "schema_version",
         "the number 1, not true or false"),
    ],
)  # fmt: skip
def test_a_definition_with_a_boolean_text_or_fraction_for_a_number_is_refused(
    psyq_cli: CLI, tmp_path: Path, minimal_yaml: str, written: str, replaced: str,
    where: str, words: str,
) -> None:  # fmt: skip
    """pydantic's lax mode read true as 1, "3" as 3 and 1.0 as 1: a scale author's typo
    became a cut-off, a missing-data rule or a golden example nobody wrote."""
    assert written in minimal_yaml
    path = tmp_path / "mini.yaml"
    path.write_text(minimal_yaml.replace(written, replaced, 1))
    first = replaced.splitlines()[0]
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if first in text)
    for command in (["validate", path], ["score", path, "--answers", "1,1,1"]):
        result = psyq_cli(*command)
        assert result.exit_code == 2, result.output
        message = result.output if command[0] == "validate" else one_line_error(result)
        assert f"{path}:{line}: {where}: " in message and words in message
    path.write_text(minimal_yaml)  # corrected, it loads (the definition cache is not stuck)
    assert psyq_cli("score", path, "--answers", "1,1,1").exit_code == 0


def test_a_json_definition_with_a_quoted_number_is_refused(
    psyq_cli: CLI, tmp_path: Path, minimal_yaml: str
) -> None:
    data = yaml.safe_load(minimal_yaml)
    data["scales"][0]["bands"][1]["min"] = "3"
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(data))
    result = psyq_cli("score", path, "--answers", "1,1,1")
    assert "scales[total].bands[high].min: Input should be a valid number, not the text '3'" in (
        one_line_error(result)
    )
    # JSON writes every key as text: a recode's answer keys in digits are still answers.
    data["scales"][0]["bands"][1]["min"] = 3
    data["items"][0]["recode"] = {"0": 0, "1": 2, "2": 1}
    path.write_text(json.dumps(data))
    scored = psyq_cli("score", path, "--answers", "1,1,1", "--json")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["scores"]["total"]["value"] == 4  # 2 + 1 + (2 - 1)


@pytest.mark.parametrize(
    ("written", "read_as"),
    [("0x2", 2), ("0b10", 2), ("0_2", 2), ("1:00", 60), ("1_0.0", 10)],
)
def test_yaml_numbers_not_written_in_plain_digits_are_refused(
    psyq_cli: CLI, tmp_path: Path, minimal_yaml: str, written: str, read_as: int
) -> None:
    """YAML 1.1 reads 0x2, 0b10 and 0_2 as 2 and 1:00 as 60 (base 60): as a cut-off or
    an answer, a number nobody wrote."""
    path = tmp_path / "mini.yaml"
    path.write_text(minimal_yaml.replace("value: 2}", f"value: {written}}}", 1))
    message = one_line_error(psyq_cli("score", path, "--answers", "1,1,1"))
    assert f"'{written}' is not a number written in plain digits" in message
    answers = tmp_path / "answers.yaml"
    answers.write_text(f"phq9_1: {written}\n")
    record = psyq_cli("record", "phq9", "--client", "C1", "--answers-file", answers)
    assert f"{answers}:1:9: " in one_line_error(record)
    assert psyq_cli("history", "C1").exit_code == 2  # nothing stored
    # Digits with a sign or leading zero are still the number written.
    answers.write_text("phq9_1: 02\nphq9_2: +1\nphq9_3: -0\n")
    plain = psyq_cli("score", "phq9", "--answers-file", answers, "--json")
    assert [json.loads(plain.output)["answers"][i] for i in PHQ9_ITEMS[:3]] == [2, 1, 0]


# -- 3. --answers with fewer answers than items -------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "words"),
    [
        ("1,1", "PHQ-9 has 10 items (phq9_1..phq9_10); 2 answers given, none for phq9_3..phq9_9"),
        ("1,1,1,1,1,1,1,1", "8 answers given, none for phq9_9:"),
        ("", "0 answers given, none for phq9_1..phq9_9"),
    ],
)
def test_fewer_answers_than_items_is_refused_not_stored_as_missing(
    psyq_cli: CLI, tmp_path: Path, answers: str, words: str
) -> None:
    """`--answers 1,1` stored a PHQ-9 with seven answers missing, item 9 among them."""
    score = one_line_error(psyq_cli("score", "phq9", "--answers", answers))
    assert words in score and "marking one not answered with '-'" in score
    record = psyq_cli("record", "phq9", "--client", "C1", "--answers", answers)
    assert words in one_line_error(record)
    assert psyq_cli("history", "C1").exit_code == 2  # nothing stored
    out = tmp_path / "r.pdf"
    report = psyq_cli("report", "phq9", "--answers", answers, "--client", "C1", "-o", out)
    assert words in one_line_error(report)
    assert not out.exists()


def test_answers_marked_missing_or_left_off_where_not_asked_are_still_accepted(
    psyq_cli: CLI,
) -> None:
    # Every item's answer marked missing with '-' or left empty, then the unscored item 10 off.
    marked = psyq_cli("score", "phq9", "--answers", "1,-,,1,1,1,1,1,0", "--json")
    assert marked.exit_code == 0, marked.output
    answers = json.loads(marked.output)["answers"]
    assert answers["phq9_2"] is None and answers["phq9_3"] is None and answers["phq9_9"] == 0
    # PC-PTSD-5: "No" to the trauma question skips the five symptom items.
    assert psyq_cli("score", "pcptsd5", "--answers", "0").exit_code == 0
    # ... but "Yes" asks them: they must be given.
    refused = one_line_error(psyq_cli("score", "pcptsd5", "--answers", "1"))
    assert "1 answer given, none for pcptsd5_2..pcptsd5_6" in refused
    # Too many is refused as before.
    assert "got 11 answers" in one_line_error(
        psyq_cli("score", "phq9", "--answers", ",".join(["1"] * 11))
    )


# -- red team: digits other than 0-9 in number options; a folder as batch input ---------------


@pytest.mark.parametrize(
    "args",
    [
        ["administer", "--resume", "３"],
        ["simulate", "phq9", "--n", "٣", "-o", "{tmp}/s.csv"],
        ["simulate", "phq9", "--shift", "０.5", "-o", "{tmp}/s.csv"],
        ["serve", "--port", "８０"],
        ["kiosk", "stop", "１"],
        ["batch", "{tmp}/in.csv", "--instrument", "phq9", "--out", "{tmp}/o", "--jobs", "２"],
    ],
    ids=["resume", "simulate-n", "simulate-shift", "serve-port", "kiosk-stop", "batch-jobs"],
)
def test_a_number_option_in_other_digits_is_refused(
    psyq_cli: CLI, tmp_path: Path, args: list[str]
) -> None:
    """int() reads '３' as 3: --resume ３ went to administration 3, --port ８０ served on
    port 80, --n ٣ simulated three respondents."""
    (tmp_path / "in.csv").write_text("client_id," + ",".join(PHQ9_ITEMS) + "\nC1," + NINE + "\n")
    given = [a.format(tmp=tmp_path) for a in args]
    result = psyq_cli(*given)
    message = one_line_error(result)
    assert "is not a number written in the digits 0-9" in message
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "o").exists()


def test_a_folder_as_a_scores_only_batch_input_is_named(psyq_cli: CLI, tmp_path: Path) -> None:
    """The slice reader opened the folder and failed on it: "3: cannot write: it is a folder"
    (file descriptor 3, and the wrong verb)."""
    folder = tmp_path / "in.csv"
    folder.mkdir()
    out = tmp_path / "out"
    result = psyq_cli(
        "batch", folder, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet"
    )
    assert f"{folder}: a folder, not a regular file" in one_line_error(result)
    assert not out.exists()
