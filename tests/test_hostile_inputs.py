"""Bad input nobody had tried: each is one clear line (exit 2) or one refused file, never an
internal error, a value silently dropped, or output that is not what it says it is."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from .conftest import SHARED

CLI = Callable[..., Result]
BRIDGE2AI = SHARED / "corpus" / "redcap" / "bridge2ai_voice_project_data_dictionary.csv"


def one_line_error(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("psyq: error: "), result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    return lines[0]


# -- simulate / analyze options -----------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--seed", "-1"),  # numpy refuses negative seeds: was an internal error
        ("--shift", "nan"),  # nan passed and made every answer the lowest
        ("--shift", "-inf"),
        ("--general", "nan"),  # click's FloatRange lets nan through its bounds
        ("--group", "nan"),
        ("--missing", "nan"),
        ("--not-happened", "nan"),
    ],
)
def test_simulate_refuses_negative_seeds_and_non_finite_numbers(
    psyq_cli: CLI, tmp_path: Path, option: str, value: str
) -> None:
    out = tmp_path / "sim.csv"
    result = psyq_cli("simulate", "phq9", "--n", "20", option, value, "-o", out)
    assert option in one_line_error(result)
    assert not out.exists()


def test_analyze_refuses_a_negative_seed_instead_of_reporting_a_failed_analysis(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    data = tmp_path / "sim.csv"
    assert psyq_cli("simulate", "phq9", "--n", "200", "-o", data).exit_code == 0
    result = psyq_cli("analyze", "phq9", data, "--ignore-extra-columns", "--seed", "-5")
    assert "--seed" in one_line_error(result)


# -- norm tables ----------------------------------------------------------------------------


@pytest.fixture
def norm_table(psyq_cli: CLI, tmp_path: Path) -> dict[str, Any]:
    """A table `psyq norms build` wrote from simulated data, to spoil one field at a time."""
    data, table = tmp_path / "sim.csv", tmp_path / "norms.json"
    assert psyq_cli("simulate", "phq9", "--n", "300", "-o", data).exit_code == 0
    built = psyq_cli("norms", "build", "phq9", data, "--ignore-extra-columns",
                     "--group-by", "sex,age", "--age-bands", "18-29,30-49,50-",
                     "--description", "simulated", "-o", table)  # fmt: skip
    assert built.exit_code == 0, built.output
    loaded: dict[str, Any] = json.loads(table.read_text())
    return loaded


def _whole(table: dict[str, Any]) -> dict[str, Any]:
    total: dict[str, Any] = table["groups"][0]["scales"]["total"]
    return total


@pytest.mark.parametrize(
    ("spoil", "words"),
    [
        # YAML's .nan / .inf: the JSON output carried NaN, which is not JSON
        (lambda t: _whole(t).update(mean=math.nan), "finite"),
        (lambda t: _whole(t).update(sd=math.inf), "finite"),
        # finite but overflowing: z and T were -Infinity
        (lambda t: _whole(t).update(mean=1e308, sd=1e-308), "no finite T score"),
        # percentiles out of order or out of 0-100: a wrong percentile was printed
        (lambda t: _whole(t).update(percentiles=[[5, 50], [3, 20]]), "scores must ascend"),
        (lambda t: _whole(t).update(percentiles=[[5, 150]]), "not within 0-100"),
        (lambda t: _whole(t).update(percentiles=[[3, 60], [5, 20]]), "ranks never fall"),
        # the first of two equal groups silently won
        (lambda t: t["groups"].append(t["groups"][0]), "listed twice"),
        # a scale the instrument does not have was ignored
        (lambda t: t["groups"][0]["scales"].update(totl=_whole(t)), "no scale 'totl'"),
    ],
)
def test_a_spoiled_norm_table_is_refused_in_one_line(
    psyq_cli: CLI,
    tmp_path: Path,
    norm_table: dict[str, Any],
    spoil: Callable[[dict[str, Any]], None],
    words: str,
) -> None:
    import yaml

    spoil(norm_table)
    path = tmp_path / "spoiled.yaml"
    path.write_text(yaml.safe_dump(norm_table))
    for extra in ([], ["--json"]):  # the terminal table and the JSON alike
        args = ["score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--norms", path]
        result = psyq_cli(*args, *extra)
        assert words in one_line_error(result)
        assert "NaN" not in result.stdout and "Infinity" not in result.stdout


# float() read "3_4" as 34, "٣٤" (Arabic-Indic) as 34 and "1e1" as 10: ages never written.
@pytest.mark.parametrize("age", ["abc", "nan", "inf", "3O", "3_4", "٣٤", "1e1", "3.4e1"])
def test_a_client_age_that_is_no_number_is_named_not_scored_against_the_whole_sample(
    psyq_cli: CLI, tmp_path: Path, norm_table: dict[str, Any], age: str
) -> None:
    path = tmp_path / "norms.json"
    path.write_text(json.dumps(norm_table))
    result = psyq_cli("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--norms", path,
                      "--group", f"sex=f,age={age}", "--json")  # fmt: skip
    assert f"age={age}: not a number" in one_line_error(result)
    fine = psyq_cli("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--norms", path,
                    "--group", "sex=f,age=34", "--json")  # fmt: skip
    assert json.loads(fine.stdout)["scores"]["total"]["norm"]["group"] == "sex=f, age=30-49"


# -- FHIR QuestionnaireResponses whose items or answers are not lists of objects ------------


def _response(items: Any) -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "status": "completed",
            "subject": {"identifier": {"value": "C0042"}}, "item": items}  # fmt: skip


GOOD_ITEMS = [{"linkId": f"phq9_{i}", "answer": [{"valueInteger": 1}]} for i in range(1, 9)]
NINE = {"linkId": "phq9_9", "answer": [{"valueInteger": 2}]}  # the critical item, endorsed


@pytest.mark.parametrize(
    ("items", "words"),
    [
        (
            [*GOOD_ITEMS, {"linkId": "phq9_9", "answer": {"valueInteger": 2}}],
            "'answer' is an object",
        ),
        ([*GOOD_ITEMS, {"linkId": "phq9_9", "answer": "2"}], "'answer' is a text"),
        ([*GOOD_ITEMS, {"linkId": "phq9_9", "answer": ["2"]}], "answer 1 is a text"),
        ([*GOOD_ITEMS, {"linkId": "phq9_9", "answer": [2]}], "answer 1 is a number"),
        ([*GOOD_ITEMS, "phq9_9"], "item 9 is a text"),
        ([*GOOD_ITEMS, None], "item 9 is null"),
        ([*GOOD_ITEMS, {"linkId": "phq9_9", "answer": [[2]]}], "answer 1 is a list"),
        ({"phq9_9": NINE}, "'item' is an object"),
        ([{"linkId": "g", "item": NINE}], "linkId 'g': 'item' is an object"),
        ([{"linkId": "g", "answer": [{"valueString": "x", "item": [7]}]}], "item 1 is a number"),
    ],
)
def test_a_response_whose_answers_are_not_lists_of_objects_is_refused_not_read_as_unanswered(
    psyq_cli: CLI, tmp_path: Path, items: Any, words: str
) -> None:
    """Each used to score with item 9's answer dropped (critical_item_unanswered, exit 0)."""
    path = tmp_path / "qr.json"
    path.write_text(json.dumps(_response(items)))
    assert words in one_line_error(psyq_cli("score", "phq9", "--answers-file", path))
    recorded = psyq_cli("record", "phq9", "--client", "C0042", "--answers-file", path)
    assert words in one_line_error(recorded)
    assert "C0042" not in psyq_cli("clients").output  # nothing stored
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(_response([*GOOD_ITEMS, NINE])))
    assert (
        json.loads(psyq_cli("score", "phq9", "--answers-file", ok, "--json").stdout)["answers"][
            "phq9_9"
        ]
        == 2
    )


# -- REDCap data dictionaries naming a field or a column twice ---------------------------------

# Rows in the layout of the Bridge2AI-Voice dictionary (corpus/redcap/
# bridge2ai_voice_project_data_dictionary.csv): a GAD-7-like radio form.
CHOICES = "0, Not at all | 1, Several days | 2, More than half the days | 3, Nearly every day"


def _dictionary(path: Path, names: list[str], header: tuple[str, ...] | None = None) -> Path:
    from psyq.plugins.redcap.dictionary import COLUMNS

    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(header or COLUMNS)
        writer.writerow(["record_id", "gad", "", "text", "Record ID"] + [""] * 13)
        for k, name in enumerate(names, 1):
            writer.writerow([name, "gad", "", "radio", f"Question {k}", CHOICES] + [""] * 12)
    return path


def test_a_dictionary_defining_a_field_twice_is_refused_naming_both_lines(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """It used to write a draft with the item twice, which `psyq validate` then refused."""
    path = _dictionary(tmp_path / "dict.csv", ["nervous", "worry", "nervous"])
    out = tmp_path / "draft.yaml"
    out.write_text("# the user's own draft\n")
    line = one_line_error(psyq_cli("import-redcap", path, "-o", out, "--force"))
    assert "dict.csv:5: field 'nervous' is defined twice (first on line 3)" in line
    assert out.read_text() == "# the user's own draft\n"  # kept
    records = tmp_path / "records.csv"
    records.write_text("record_id,nervous,worry\nr1,1,1\n")
    batch = psyq_cli("batch", records, "--instrument", "gad7", "--redcap", path,
                     "--out", tmp_path / "out", "--scores-only", "--quiet")  # fmt: skip
    assert "defined twice" in one_line_error(batch)


def test_a_dictionary_with_a_column_twice_is_refused_rather_than_losing_one(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """Two 'Field Label' columns: the second (an empty note) replaced every item's text."""
    from psyq.plugins.redcap.dictionary import COLUMNS

    header = tuple("Field Label" if c == "Field Note" else c for c in COLUMNS)
    path = _dictionary(tmp_path / "dict.csv", ["nervous", "worry"], header)
    line = one_line_error(psyq_cli("import-redcap", path, "-o", tmp_path / "d.yaml"))
    assert "column 'Field Label' appears twice (columns 5 and 7)" in line
    assert not (tmp_path / "d.yaml").exists()


# -- dates out of any clinic's calendar ----------------------------------------------------------

ANSWERS = "1,1,1,1,1,1,1,1,0"


@pytest.mark.parametrize("day", ["0001-01-01", "0026-09-02", "1899-12-31"])
def test_record_refuses_a_date_before_1900(psyq_cli: CLI, day: str) -> None:
    """A typo such as 0026 was stored, and a --date-shift export then crashed on it."""
    result = psyq_cli("record", "phq9", "--client", "C0042", "--answers", ANSWERS, "--date", day)
    assert f"--date {day} is before 1900" in one_line_error(result)
    assert "C0042" not in psyq_cli("clients").output
    assert psyq_cli("record", "phq9", "--client", "C0042", "--answers", ANSWERS,
                    "--date", "1900-01-01").exit_code == 0  # fmt: skip


def test_a_stored_year_1_date_is_one_line_in_a_date_shifted_export(
    psyq_pm: Any, psyq_home: Path, psyq_cli: CLI, tmp_path: Path
) -> None:
    """Stored before record refused it: the export was an internal OverflowError."""
    from datetime import date

    from psyq.app import App
    from psyq.scoring import Scorer

    app = App(psyq_pm, home=psyq_home)
    phq9 = app.instrument("phq9")
    answers: dict[str, int | None] = {item.id: 0 for item in phq9.items}
    with app.open_store() as store:
        for n in range(8):  # some clients' keyed shifts are negative
            store.add_administration(instrument=phq9, client_id=f"C{n}", answers=answers,
                                     result=Scorer(psyq_pm).score(phq9, answers),
                                     administered=date(1, 1, 1))  # fmt: skip
    out = tmp_path / "export.csv"
    out.write_text("an earlier export\n")
    result = psyq_cli("export", "--deidentify", "--date-shift", "-o", out)
    assert "cannot be shifted" in one_line_error(result)
    assert out.read_text() == "an earlier export\n"
    assert psyq_cli("export", "--deidentify", "--drop-dates", "-o", out, "--force").exit_code == 0


# -- a batch manifest whose lines are whole JSON but not chunks psyq wrote --------------------


@pytest.mark.parametrize(
    "line",
    [
        {"foo": 1},  # KeyError: 'chunk'
        {"chunk": "x"},  # ValueError from int()
        {"chunk": None},  # TypeError
        {"chunk": 0},  # KeyError: 'scores' when finishing
        {"chunk": 0, "scores": "", "errors": "", "cohort": {"a": 1}},  # KeyError: 'rows'
        {"chunk": -1, "scores": "", "errors": "", "cohort": {}},
    ],
)
def test_resume_on_an_edited_manifest_names_the_line_and_keeps_the_outputs(
    psyq_cli: CLI, tmp_path: Path, line: dict[str, Any]
) -> None:
    from .cohorts import phq9_rows, write_csv

    src = write_csv(tmp_path / "in.csv", phq9_rows(12))
    out = tmp_path / "out"
    args = ["batch", src, "--instrument", "phq9", "--out", out, "--format", "json",
            "--chunk-size", "5", "--summary", "html", "--quiet"]  # fmt: skip
    assert psyq_cli(*args).exit_code == 0
    manifest = out / "batch-manifest.jsonl"
    head = manifest.read_text().splitlines()[:2]
    manifest.write_text("\n".join([*head, json.dumps(line)]) + "\n")
    scores = (out / "scores.csv").read_bytes()
    result = psyq_cli(*args, "--resume")
    assert "batch-manifest.jsonl:3: not a finished chunk" in one_line_error(result)
    assert (out / "scores.csv").read_bytes() == scores
    manifest.write_text("\n".join(head) + "\n")  # as the message says: the chunks run again
    assert psyq_cli(*args, "--resume").exit_code == 0
    assert (out / "scores.csv").read_bytes() == scores


# -- kiosk sessions: ids past SQLite's integers, URLs tablets cannot open ---------------------


@pytest.mark.parametrize("command", ["stop", "status"])
def test_a_kiosk_session_id_past_64_bits_is_not_found_not_an_overflow(
    psyq_cli: CLI, command: str
) -> None:
    result = psyq_cli("kiosk", command, "9" * 20)
    assert f"no kiosk session {'9' * 20}" in one_line_error(result)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://10.0.0.5/" + "a" * 3000, "3016 characters"),  # too long for its QR code
        ("javascript:alert(1)", "not an http:// or https:// address"),
        ("ftp://10.0.0.5/", "not an http:// or https:// address"),
        ("http:///no-host", "not an http:// or https:// address"),
        ("http://10.0.0.5:99999/", "not an http:// or https:// address"),
        ("http://10.0.0.5/a b", "not an http:// or https:// address"),
    ],
)
def test_kiosk_start_refuses_a_url_tablets_cannot_open_before_issuing_a_code(
    psyq_cli: CLI, url: str, words: str
) -> None:
    result = psyq_cli("kiosk", "start", "--client", "C0042", "--instruments", "phq9",
                      "--url", url)  # fmt: skip
    assert words in one_line_error(result)
    assert "C0042" not in psyq_cli("kiosk", "status", "--json").output  # no session issued
    ok = psyq_cli("kiosk", "start", "--client", "C0042", "--instruments", "phq9",
                  "--url", "https://10.0.0.5:8765/")  # fmt: skip
    assert ok.exit_code == 0 and "https://10.0.0.5:8765/" in ok.output


# -- batch headers: a huge cell, tens of thousands of columns, a REDCap column twice --------


def _phq9_csv(path: Path, header_extra: list[str]) -> Path:
    from .cohorts import PHQ9_ITEMS

    header = ["client_id", *PHQ9_ITEMS, *header_extra]
    row = ["C1", *["1"] * 9, *[""] * len(header_extra)]
    path.write_text(",".join(header) + "\n" + ",".join(row) + "\n")
    return path


def test_a_header_cell_over_csvs_128_kb_limit_is_named_not_an_internal_error(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    src = _phq9_csv(tmp_path / "in.csv", ["x" * 200_000])
    out = tmp_path / "out"
    args = ["batch", src, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet",
            "--summary", "html"]  # fmt: skip
    line = one_line_error(psyq_cli(*args))
    assert "'xxxxxxxxxx" in line and "are not items of PHQ-9" in line and len(line) < 300
    assert psyq_cli(*args, "--ignore-extra-columns").exit_code == 0
    assert read_scores(out)[0]["client_id"] == "C1"


def test_twenty_thousand_extra_columns_are_one_short_line(psyq_cli: CLI, tmp_path: Path) -> None:
    src = _phq9_csv(tmp_path / "in.csv", [f"c{k}" for k in range(20_000)])
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", tmp_path / "out",
                      "--scores-only", "--quiet")  # fmt: skip
    line = one_line_error(result)
    assert "'c0', 'c1'" in line and "(and 19990 more)" in line and len(line) < 400


@pytest.mark.skipif(not BRIDGE2AI.is_file(), reason="shared corpus is not present")
def test_a_redcap_export_column_twice_is_named_as_the_file_names_it(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    # The Bridge2AI-Voice PHQ-9 form's fields, one of them exported twice.
    src = tmp_path / "export.csv"
    src.write_text(
        "record_id,no_interest,no_interest,trouble_sleeping,no_energy,no_appetite,"
        "feeling_bad_self,trouble_concentrate,move_speak_slow,thoughts_death\n"
        "r1,1,1,1,1,1,1,1,1,0\n"
    )
    result = psyq_cli("batch", src, "--instrument", "phq9", "--redcap", BRIDGE2AI,
                      "--out", tmp_path / "out", "--scores-only", "--quiet")  # fmt: skip
    assert "column 'no_interest' (read as 'phq9_1') appears twice" in one_line_error(result)


def read_scores(out: Path) -> list[dict[str, str]]:
    return read_scores_file(out / "scores.csv")


def read_scores_file(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# -- text that is not Unicode: bytes from a non-UTF-8 terminal, JSON's half surrogate pairs --

NOT_UTF8 = b"Dr \xe9\xe0".decode("utf-8", "surrogateescape")  # Latin-1 bytes, as argv holds them


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["record", "phq9", "--client", "C0042", "--answers", ANSWERS, "--clinician", NOT_UTF8],
         "--clinician"),
        (["record", "phq9", "--client", "C0042", "--answers", ANSWERS, "--note", NOT_UTF8],
         "--note"),
        (["kiosk", "start", "--client", "C0042", "--instruments", "phq9", "--no-qr",
          "--clinician", NOT_UTF8], "--clinician"),
        (["export", "--instrument", NOT_UTF8], "--instrument"),
        (["rescore", "--client", NOT_UTF8], "--client"),
        (["norms", "build", "phq9", "--from-store", "--description", NOT_UTF8,
          "-o", "{tmp}/n.json"], "--description"),
    ],
)  # fmt: skip
def test_command_line_text_that_is_not_utf8_is_one_line_not_an_internal_error(
    psyq_cli: CLI, tmp_path: Path, args: list[str], option: str
) -> None:
    result = psyq_cli(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert f"{option}: 'Dr \\udce9\\udce0' is not UTF-8 text" in one_line_error(result)
    assert "C0042" not in psyq_cli("clients").output


def test_a_batch_input_whose_file_name_is_not_utf8_is_read_and_named(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """Such a name is still a path: it is read, and the summaries name it (they failed)."""
    from .cohorts import phq9_rows, write_csv

    name = b"caf\xe9.csv".decode("utf-8", "surrogateescape")
    src = write_csv(tmp_path / name, phq9_rows(5))
    out = tmp_path / "out"
    for formats in (["--scores-only"], ["--format", "json"]):  # the whole and ranged readers
        result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, *formats,
                          "--summary", "html", "--quiet", "--force")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "caf\ufffd.csv" in (out / "cohort-summary.html").read_text()
        assert len(read_scores(out)) == 5


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\uDBFFy"])
def test_a_json_string_holding_half_a_surrogate_pair_is_refused(
    psyq_cli: CLI, tmp_path: Path, escape: str
) -> None:
    """Valid JSON, not Unicode: a JSONL client id so written stopped the whole batch."""
    good = {"client_id": "C1", **{f"phq9_{k}": 1 for k in range(1, 10)}}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(good) + "\n" + json.dumps(good).replace('"C1"', f'"C{escape}"')
                   + "\n")  # fmt: skip
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--format", "json",
                      "--summary", "html", "--quiet")  # fmt: skip
    assert result.exit_code == 1, result.output
    [error] = read_scores_file(out / "errors.csv")
    assert error["row"] == "2" and "half of a surrogate pair" in error["reason"]
    assert [row["client_id"] for row in read_scores(out)] == ["C1"]
    answers = tmp_path / "answers.json"
    answers.write_text('{"phq9_1": 1, "phq9_2": "' + escape + '"}')
    recorded = psyq_cli("record", "phq9", "--client", "C0042", "--answers-file", answers)
    assert "half of a surrogate pair" in one_line_error(recorded)
    emoji = tmp_path / "emoji.jsonl"  # a whole pair is one character, and fine
    emoji.write_text(json.dumps(good).replace('"C1"', '"C\\ud83d\\ude00"') + "\n")
    fine = psyq_cli("batch", emoji, "--instrument", "phq9", "--out", tmp_path / "o2",
                    "--scores-only", "--summary", "html", "--quiet")  # fmt: skip
    assert fine.exit_code == 0, fine.output


# -- rescore --client with a mistyped id ------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "words"), [("C0024", "no client 'C0024'"), ("C 42", "not a valid pseudonymous id")]
)
def test_rescore_names_a_client_it_does_not_know_instead_of_saying_0_updated(
    psyq_cli: CLI, client: str, words: str
) -> None:
    assert psyq_cli("record", "phq9", "--client", "C0042", "--answers", ANSWERS).exit_code == 0
    assert words in one_line_error(psyq_cli("rescore", "--client", client))
    rescored = psyq_cli("rescore", "--client", "C0042")
    assert rescored.exit_code == 0 and "1 unchanged" in rescored.output


# -- an answers document that is empty, null or a list; a --group key given twice -------------


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "not null (an empty document)"), ("null", "not null (an empty document)"),
     ("[1, 2]", "not a list"), ("3", "not a number"), ('"1,2"', "not a text")],
)  # fmt: skip
def test_an_answers_file_that_is_no_mapping_says_what_it_is(
    psyq_cli: CLI, tmp_path: Path, text: str, words: str
) -> None:
    """It said 'not a NoneType' (or 'a str', 'a int'): Python's words, not the user's."""
    path = tmp_path / "answers.yaml"
    path.write_text(text)
    assert words in one_line_error(psyq_cli("score", "phq9", "--answers-file", path))
    piped = psyq_cli("score", "phq9", "--answers-file", "-", input=text)
    assert words in one_line_error(piped)


def test_a_jsonl_row_that_is_not_an_object_says_what_it_is(psyq_cli: CLI, tmp_path: Path) -> None:
    good = {"client_id": "C1", **{f"phq9_{k}": 1 for k in range(1, 10)}}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(good) + "\nnull\n7\n")
    out = tmp_path / "out"
    assert psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
                    "--summary", "html", "--quiet").exit_code == 1  # fmt: skip
    reasons = [e["reason"] for e in read_scores_file(out / "errors.csv")]
    assert reasons == ["row 2: expected a JSON object, got null (an empty document)",
                       "row 3: expected a JSON object, got a number"]  # fmt: skip


def test_a_norm_group_key_given_twice_is_refused(
    psyq_cli: CLI, tmp_path: Path, norm_table: dict[str, Any]
) -> None:
    """``--group sex=f,sex=m`` used the last value without a word."""
    path = tmp_path / "norms.json"
    path.write_text(json.dumps(norm_table))
    result = psyq_cli("score", "phq9", "--answers", ANSWERS, "--norms", path,
                      "--group", "sex=f,age=34,sex=m")  # fmt: skip
    assert "--group: sex is given twice" in one_line_error(result)


# -- CSV headers that are not comma-separated, or not there -----------------------------------


@pytest.mark.parametrize(
    ("sep", "words"),
    [(";", "separated by semicolons"), ("\t", "separated by tabs"), ("|", "separated by bars")],
)
def test_a_csv_saved_with_another_separator_says_so(
    psyq_cli: CLI, tmp_path: Path, sep: str, words: str
) -> None:
    """A spreadsheet saved as 'CSV' in a locale using ';' was 'no client_id column'."""
    from .cohorts import PHQ9_ITEMS

    src = tmp_path / "in.csv"
    src.write_text(sep.join(["client_id", *PHQ9_ITEMS]) + "\n" + sep.join(["C1", *"111111110"]))
    for command in (["batch", src, "--instrument", "phq9", "--out", tmp_path / "o",
                     "--scores-only", "--quiet"], ["analyze", "phq9", src]):  # fmt: skip
        line = one_line_error(psyq_cli(*command))
        assert f"in.csv:1: the header is one column {words}" in line


@pytest.mark.parametrize("text", ["\n\n\n", "\nclient_id,phq9_1\nC1,1\n"])
def test_a_csv_whose_first_line_is_blank_says_so(psyq_cli: CLI, tmp_path: Path, text: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text(text)
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", tmp_path / "o",
                      "--scores-only", "--quiet")  # fmt: skip
    assert "in.csv:1: the first line is empty; expected a header row" in one_line_error(result)


# -- importers: answer values psyq's definitions cannot hold --------------------------------


def _notes(draft: Path) -> str:
    """A draft's header notes as one line (they are wrapped at 86 characters)."""
    lines = [line.lstrip("#").strip() for line in draft.read_text().splitlines()]
    return " ".join(line for line in lines if line)


def test_import_redcap_skips_a_choice_code_psyq_cannot_hold_instead_of_a_broken_draft(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """Codes up to 4 digits were copied as they were: 5000 made a draft `validate` refused."""
    from psyq.plugins.redcap.dictionary import COLUMNS

    path = tmp_path / "dict.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for name, choices in (("q1", "0, Never | 5000, Always"), ("q2", "0, Never | 1, Often")):
            writer.writerow([name, "f", "", "radio", name.upper(), choices] + [""] * 12)
    draft = tmp_path / "draft.yaml"
    assert psyq_cli("import-redcap", path, "-o", draft).exit_code == 0
    assert "field q1: choice code 5000 is outside the -1000..1000" in _notes(draft)
    validated = psyq_cli("validate", draft)
    assert validated.exit_code == 0, validated.output


@pytest.mark.parametrize("worth", [5000, -5000, 1e308])
def test_import_fhir_skips_an_ordinal_value_psyq_cannot_hold(
    psyq_cli: CLI, tmp_path: Path, worth: float
) -> None:
    ordinal = "http://hl7.org/fhir/StructureDefinition/ordinalValue"

    def option(code: str, value: float) -> dict[str, Any]:
        return {"valueCoding": {"code": code, "display": code},
                "extension": [{"url": ordinal, "valueDecimal": value}]}  # fmt: skip

    questionnaire = {"resourceType": "Questionnaire", "status": "draft", "title": "T",
                     "item": [{"linkId": "a", "text": "A", "type": "choice",
                               "answerOption": [option("no", 0), option("yes", worth)]},
                              {"linkId": "b", "text": "B", "type": "choice",
                               "answerOption": [option("no", 0), option("yes", 1)]}]}  # fmt: skip
    path = tmp_path / "q.json"
    path.write_text(json.dumps(questionnaire))
    draft = tmp_path / "draft.yaml"
    assert psyq_cli("import-fhir", path, "-o", draft, "--id", "t").exit_code == 0
    assert "outside the -1000..1000 psyq accepts: skipped" in _notes(draft)
    validated = psyq_cli("validate", draft)
    assert validated.exit_code == 0, validated.output


# -- output names longer than the file system allows -------------------------------------------


def test_an_output_name_too_long_is_a_usage_error_everywhere(psyq_cli: CLI, tmp_path: Path) -> None:
    """ENAMETOOLONG exited 1 (as a full disk does) from export, batch, compile, import-fhir."""
    import os
    import subprocess
    import sys

    long = str(tmp_path / ("x" * 300))
    assert psyq_cli("record", "phq9", "--client", "C0042", "--answers", ANSWERS).exit_code == 0
    export = psyq_cli("export", "-o", long + ".csv")
    assert "cannot write: the name is too long" in one_line_error(export)
    src = tmp_path / "in.csv"
    src.write_text("client_id," + ",".join(f"phq9_{k}" for k in range(1, 10)) + "\nC1," + ANSWERS)
    batch = psyq_cli("batch", src, "--instrument", "phq9", "--out", long, "--scores-only",
                     "--quiet")  # fmt: skip
    assert "the name is too long" in one_line_error(batch)
    for args in (["compile", "phq9", "--to", "fhir", "-o", long + ".json"],
                 ["new-plugin", "abc", "--dir", long]):  # fmt: skip
        real = subprocess.run([sys.executable, "-m", "psyq", *args], capture_output=True,
                              text=True, env={**os.environ, "PSYQ_HOME": str(tmp_path / "h")},
                              timeout=60)  # fmt: skip
        assert real.returncode == 2, real.stderr
        assert real.stderr.startswith("psyq: error: ") and "too long" in real.stderr


# -- definitions: NaN and infinity where a comparison decides what a clinician is told -------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("clinical_cutoff: .nan", "clinical_cutoff"),  # never clinically significant
        ("clinical_cutoff: .inf", "clinical_cutoff"),
        ("reliable_change: {threshold: .inf}", "reliable_change.threshold"),  # never reliable
        ("reliable_change: {sd: .inf, reliability: 0.8}", "reliable_change.sd"),
        ("outcomes: {remission_below: .nan}", "outcomes.remission_below"),
        ("outcomes: {remission_below: -.inf}", "outcomes.remission_below"),
    ],
)
def test_a_definition_number_that_is_nan_or_infinite_is_refused(
    psyq_cli: CLI, tmp_path: Path, minimal_yaml: str, extra: str, field: str
) -> None:
    anchor = "    missing: {max_missing: 1, prorate: true}\n"
    path = tmp_path / "mini.yaml"
    path.write_text(minimal_yaml.replace(anchor, anchor + f"    {extra}\n"))
    validated = psyq_cli("validate", path)
    assert validated.exit_code == 2
    assert f"scales[total].{field}: Input should be a finite number" in validated.output
    scored = psyq_cli("score", path, "--answers", "1,1,1")
    assert "should be a finite number" in one_line_error(scored)
    path.write_text(minimal_yaml)
    assert psyq_cli("validate", path).exit_code == 0


# -- files read whole without a cap: devices, FIFOs, a JSONL line of many MB ----------------


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
@pytest.mark.parametrize(
    "args",
    [
        ["score", "phq9", "--answers", ANSWERS, "--norms", "{f}"],
        ["import-redcap", "{f}", "-o", "{tmp}/d.yaml"],
        ["batch", "{tmp}/in.csv", "--instrument", "phq9", "--out", "{tmp}/o", "--scores-only",
         "--link-map", "{f}"],
        ["batch", "{tmp}/in.csv", "--instrument", "phq9", "--out", "{tmp}/o", "--scores-only",
         "--questionnaire", "{f}"],
        ["batch", "{tmp}/in.csv", "--instrument", "phq9", "--out", "{tmp}/o", "--scores-only",
         "--redcap", "{f}"],
        ["import-fhir", str(SHARED / "corpus" / "fhir" / "lforms__test_data_R4_phq9.json"),
         "--value-set", "{f}", "-o", "{tmp}/d.yaml"],
        # The data file itself, read for its --group-by column before the batch reader.
        ["norms", "build", "phq9", "{f}", "--description", "x", "--group-by", "sex",
         "-o", "{tmp}/n.yaml"],
    ],
)  # fmt: skip
def test_a_device_or_fifo_given_as_a_side_file_is_refused_without_reading(
    tmp_path: Path, special: str, args: list[str]
) -> None:
    """Each was read whole: /dev/zero until memory ran out, a FIFO until a writer came.

    Run as a separate process with its memory capped, so a regression fails this test
    (MemoryError, or the timeout) instead of exhausting the machine.
    """
    import os
    import resource
    import subprocess
    import sys

    if special == "fifo":
        special = str(tmp_path / "fifo")
        os.mkfifo(special)
    src = tmp_path / "in.csv"
    src.write_text("client_id," + ",".join(f"phq9_{k}" for k in range(1, 10)) + "\nC1," + ANSWERS)
    given = [a.replace("{f}", special).replace("{tmp}", str(tmp_path)) for a in args]

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    result = subprocess.run([sys.executable, "-m", "psyq", *given], capture_output=True,
                            text=True, timeout=60, preexec_fn=cap_memory,
                            env={**os.environ, "PSYQ_HOME": str(tmp_path / "home")})  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("psyq: error: "), result.stderr
    assert special in lines[0] and "not a regular file" in lines[0]


def test_a_cell_over_128_kb_beside_the_norm_group_column_is_read(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """The batch reader reads such a cell; the group columns' second reading crashed."""
    import random

    from .cohorts import PHQ9_ITEMS

    pick = random.Random(3).choice
    rows = [f"C{k},{'fm'[k % 2]},,{','.join(pick('0112233') for _ in range(9))}"
            for k in range(300)]  # fmt: skip
    rows.append(f"C999,f,{'n' * 200_000},{','.join('1' * 9)}")
    src = tmp_path / "in.csv"
    src.write_text("client_id,sex,note," + ",".join(PHQ9_ITEMS) + "\n" + "\n".join(rows) + "\n")
    out = tmp_path / "norms.json"
    result = psyq_cli("norms", "build", "phq9", src, "--group-by", "sex", "--description", "sim",
                      "--ignore-extra-columns", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    groups = [g["group"] for g in json.loads(out.read_text())["groups"]]
    assert {"sex": "f"} in groups and {"sex": "m"} in groups


@pytest.mark.parametrize(
    ("sex_of", "words"),
    [
        (lambda k: "x" * 100 if k % 2 else "m", "sex value 'xxxxxxxxxxxxxxxxxxxx...' is 100 "
         "characters long; a norm group value has at most 64"),  # an internal ValidationError
        (lambda k: str(k % 600), "601 norm groups (the whole sample too); a table holds at "
         "most 500"),
    ],
)  # fmt: skip
def test_norm_groups_a_table_cannot_hold_are_named(
    psyq_cli: CLI, tmp_path: Path, sex_of: Callable[[int], str], words: str
) -> None:
    import random

    from .cohorts import PHQ9_ITEMS

    pick = random.Random(3).choice
    rows = [f"C{k},{sex_of(k)},{','.join(pick('0112233') for _ in range(9))}"
            for k in range(2400)]  # fmt: skip
    src = tmp_path / "in.csv"
    src.write_text("client_id,sex," + ",".join(PHQ9_ITEMS) + "\n" + "\n".join(rows) + "\n")
    result = psyq_cli("norms", "build", "phq9", src, "--group-by", "sex",
                      "--description", "simulated", "-o", tmp_path / "n.json")  # fmt: skip
    assert words in one_line_error(result)


def test_many_norm_groups_left_out_are_one_short_note(psyq_cli: CLI, tmp_path: Path) -> None:
    """Each left-out group was a note of its own: 3000 overflowed the table's notes."""
    import random

    from .cohorts import PHQ9_ITEMS

    pick = random.Random(3).choice
    rows = [f"C{k},{k},{','.join(pick('0112233') for _ in range(9))}" for k in range(3000)]
    src = tmp_path / "in.csv"
    src.write_text("client_id,sex," + ",".join(PHQ9_ITEMS) + "\n" + "\n".join(rows) + "\n")
    out = tmp_path / "n.json"
    result = psyq_cli("norms", "build", "phq9", src, "--group-by", "sex",
                      "--description", "simulated", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    notes = json.loads(out.read_text())["notes"]
    assert "and 2995 more: fewer than 2 scored people; left out" in notes and len(notes) < 300


def test_a_jsonl_line_over_16_mb_is_one_bad_row_refused_unparsed(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """A 112 MB line took 3 GB to parse (a 1 GB one would take some 30 GB)."""
    good = {"client_id": "C1", **{f"phq9_{k}": 1 for k in range(1, 10)}}
    src = tmp_path / "in.jsonl"
    with src.open("w") as fh:
        fh.write(json.dumps(good) + "\n")
        fh.write('{"client_id": "C2", "x": [' + ",".join(['{"a":1}'] * 2_200_000) + "]}\n")
        fh.write(json.dumps({**good, "client_id": "C3"}) + "\n")
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
                      "--summary", "html", "--quiet", "--ignore-extra-columns")  # fmt: skip
    assert result.exit_code == 1, result.output
    [error] = read_scores_file(out / "errors.csv")
    assert (
        error["row"] == "2"
        and "a line of 16 MB; a JSONL row may be at most 16 MB" in (error["reason"])
    )
    assert [r["client_id"] for r in read_scores(out)] == ["C1", "C3"]


def test_items_whose_covariances_cancel_out_are_said_not_an_internal_error(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """Answers cycling 0-3 across items: alpha divides by zero (a ZeroDivisionError)."""
    from .cohorts import PHQ9_ITEMS

    rows = [f"C{k},{','.join('0123'[(k + j) % 4] for j in range(9))}" for k in range(300)]
    src = tmp_path / "in.csv"
    src.write_text("client_id," + ",".join(PHQ9_ITEMS) + "\n" + "\n".join(rows) + "\n")
    analyzed = psyq_cli("analyze", "phq9", src, "--json")
    assert analyzed.exit_code == 0, analyzed.output
    total = json.loads(analyzed.stdout)["scales"]["total"]
    assert total["alpha"] is None
    assert any("alpha is undefined for these data" in p for p in total["problems"])
    out = tmp_path / "norms.json"
    built = psyq_cli("norms", "build", "phq9", src, "--description", "cycled", "-o", out)
    assert built.exit_code == 0, built.output
    assert json.loads(out.read_text())["groups"][0]["scales"]["total"]["reliability"] is None


def test_a_pair_of_items_without_a_correlation_is_said_not_an_internal_error(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """phq9_2 is constant where phq9_1 is answered: their correlation is undefined (NaN),
    which the analysis then refused as an internal ValidationError."""
    import random

    from .cohorts import PHQ9_ITEMS

    pick = random.Random(5).choice
    rows = []
    for k in range(40):
        first = pick("0123") if k < 20 else ""
        second = "1" if k < 20 else pick("0123")
        rows.append(f"C{k},{first},{second},{','.join(pick('0123') for _ in range(7))}")
    src = tmp_path / "in.csv"
    src.write_text("client_id," + ",".join(PHQ9_ITEMS) + "\n" + "\n".join(rows) + "\n")
    result = psyq_cli("analyze", "phq9", src, "--json")
    assert result.exit_code == 0, result.output
    analysis = json.loads(result.stdout)
    assert analysis["correlations"] is None
    assert any("correlation matrix is incomplete" in p for p in analysis["problems"])


@pytest.mark.filterwarnings("error::RuntimeWarning")  # what the user saw on stderr
@pytest.mark.parametrize(("instrument", "seed", "extra"),
                         [("ccts", 2, []), ("ccts", 10, ["--factors", "2"]),
                          ("auditc", 9, ["--listwise"])])  # fmt: skip
def test_patchy_small_samples_analyse_without_numpy_warnings_on_stderr(
    psyq_cli: CLI, psyq_pm: Any, tmp_path: Path, instrument: str, seed: int, extra: list[str]
) -> None:
    """numpy printed RuntimeWarnings (source lines and all) for a singular matrix or an
    item without variance among complete respondents; the analysis says these in words."""
    import random

    from psyq.app import App

    inst = App(psyq_pm, home=tmp_path).instrument(instrument)
    values = {i.id: inst.response_scale_for(i).values for i in inst.items}
    r = random.Random(seed)
    n, miss = r.choice([10, 15, 30, 80]), r.choice([0, 0.3, 0.6])
    rows = []
    for k in range(n):
        b = r.random()
        cells = ["" if r.random() < miss else str(v[0] if r.random() < b else r.choice(v))
                 for v in values.values()]  # fmt: skip
        rows.append(f"C{k}," + ",".join(cells))
    src = tmp_path / "in.csv"
    src.write_text("client_id," + ",".join(values) + "\n" + "\n".join(rows) + "\n")
    result = psyq_cli("analyze", instrument, src, *extra, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    json.loads(result.stdout)


@pytest.mark.parametrize("gender", [["female"], {"code": "female"}, 5])
def test_a_patient_gender_that_is_no_code_gives_no_sex_not_an_internal_error(
    psyq_cli: CLI, tmp_path: Path, gender: Any
) -> None:
    """A Bundle's Patient whose gender is a list: 'unhashable type' for AUDIT-C."""
    response = {"resourceType": "QuestionnaireResponse", "status": "completed",
                "subject": {"reference": "urn:uuid:p1"},
                "item": [{"linkId": f"auditc_{k}", "answer": [{"valueInteger": 1}]}
                         for k in (1, 2, 3)]}  # fmt: skip
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": "urn:uuid:p1",
                         "resource": {"resourceType": "Patient", "gender": gender}},
                        {"resource": response}]}  # fmt: skip
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    result = psyq_cli("score", "auditc", "--answers-file", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scores"]["total"]["value"] == 3


@pytest.mark.parametrize("url", [["http://hl7.org/fhir/StructureDefinition/ordinalValue"],
                                 {"a": 1}])  # fmt: skip
def test_an_extension_whose_url_is_not_text_is_ignored_not_an_internal_error(
    psyq_cli: CLI, tmp_path: Path, url: Any
) -> None:
    """'unhashable type' from import-fhir when an extension's url was a list or object."""
    ordinal = "http://hl7.org/fhir/StructureDefinition/ordinalValue"

    def option(code: str, value: int) -> dict[str, Any]:
        return {"valueCoding": {"code": code, "display": code},
                "extension": [{"url": url, "valueDecimal": 9},
                              {"url": ordinal, "valueDecimal": value}]}  # fmt: skip

    items = [
        {
            "linkId": link,
            "text": link.upper(),
            "type": "choice",
            "extension": [{"url": url}],
            "answerOption": [option("no", 0), option("yes", 1)],
        }
        for link in ("a", "b")
    ]
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"resourceType": "Questionnaire", "status": "draft",
                                "title": "T", "item": items}))  # fmt: skip
    draft = tmp_path / "draft.yaml"
    result = psyq_cli("import-fhir", path, "-o", draft, "--id", "t")
    assert result.exit_code == 0, result.output
    assert psyq_cli("validate", draft).exit_code == 0


# -- serve: TLS files, hosts and ports that cannot work, checked before anything is kept -----


def test_serve_names_what_cannot_work_in_one_line_and_keeps_no_url(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """A bad PEM was '[SSL] PEM lib' (exit 1); an unknown host was uvicorn's ERROR line after
    psyq's warning, and its URL was kept for `kiosk start` to hand to tablets."""
    import socket

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    tls = one_line_error(psyq_cli("serve", "--port", "0", "--certfile", junk, "--keyfile", junk))
    assert f"--certfile {junk} and --keyfile {junk} are not a PEM certificate" in tls
    host = one_line_error(psyq_cli("serve", "--host", "no such host.invalid", "--port", "0"))
    assert "--host no such host.invalid: not an address of this computer" in host
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = psyq_cli("serve", "--port", str(port))
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in one_line_error(
            busy, 1
        )
    started = psyq_cli("kiosk", "start", "--client", "C0042", "--instruments", "phq9", "--no-qr")
    assert "on the tablet open: http://127.0.0.1:8765/" in started.output
