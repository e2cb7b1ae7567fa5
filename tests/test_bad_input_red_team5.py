"""Bad input a fifth red-team pass tried: hand-edited norm tables (numbers quoted or
true/false, dates not YYYY-MM-DD, age bands that overlap or run backwards, a client's
age in no band), instrument translation files (an item, option or scale the instrument
does not have, a misspelt field, a wrong type), client ids that ``psyq batch`` took and
``psyq report`` refused, and answers files and batch inputs as other programs write
them. Each is one clear line naming the file and the key (or row), never used as
something it does not say."""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.cli_checks import one_line_error
from tests.cohorts import read_csv
from tests.languages import HERE

CLI = Callable[..., Result]
NINE = "1,1,1,1,1,1,1,1,0"


# -- 1. norm tables ---------------------------------------------------------------------------


@pytest.fixture
def norm_table(psyq_cli: CLI, tmp_path: Path) -> dict[str, Any]:
    """A PHQ-9 table built by psyq, with sex and age groups."""
    data = tmp_path / "sim.csv"
    assert psyq_cli("simulate", "phq9", "--n", "200", "-o", data).exit_code == 0
    rows = read_csv(data)
    for k, row in enumerate(rows):
        row["sex"] = "f" if k % 3 else "m"
        row["age"] = str(18 + (k * 7) % 60)
    with data.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "norms.json"
    result = psyq_cli("norms", "build", "phq9", data, "--group-by", "sex,age", "--age-bands",
                      "18-29,30-49,50-", "--description", "simulated", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    table: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert [g["group"] for g in table["groups"]][:3] == [
        {},
        {"sex": "f", "age": "18-29"},
        {"sex": "f", "age": "30-49"},
    ]
    return table


def _total(table: dict[str, Any], group: int) -> dict[str, Any]:
    scales: dict[str, Any] = table["groups"][group]["scales"]
    return scales["total"]  # type: ignore[no-any-return]


# fmt: off
NORM_EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("count quoted", lambda t: _total(t, 0).update(n="200"), "groups.0.scales.total.n:"),
    ("count 200.0", lambda t: _total(t, 0).update(n=200.0), "groups.0.scales.total.n:"),
    ("count true", lambda t: _total(t, 1).update(n=True), "groups.1.scales.total.n:"),
    ("mean quoted", lambda t: _total(t, 2).update(mean="11.4"), "groups.2.scales.total.mean:"),
    ("sd true", lambda t: _total(t, 2).update(sd=True), "groups.2.scales.total.sd:"),
    ("reliability quoted", lambda t: _total(t, 1).update(reliability="0.8"),
     "groups.1.scales.total.reliability:"),
    ("percentile quoted", lambda t: _total(t, 1).update(percentiles=[["3", 10.0]]),
     "groups.1.scales.total.percentiles.0.0:"),
    ("sample n quoted", lambda t: t["sample"].update(n="200"), "sample.n:"),
    ("group n above sample", lambda t: _total(t, 1).update(n=5000),
     "groups.1.scales.total.n: 5000 people, more than the whole sample (sample.n 200)"),
    ("created with a time", lambda t: t.update(created="2026-01-30T00:00:00"),
     "created: '2026-01-30T00:00:00' is not a date written YYYY-MM-DD"),
    ("created as a number", lambda t: t.update(created=20260130),
     "created: 20260130 is not a date written YYYY-MM-DD"),
    ("created in the future", lambda t: t.update(created="2999-01-01"),
     "created: 2999-01-01 is in the future"),
    ("bands overlap", lambda t: t["groups"][2]["group"].update(age="25-49"),
     "groups.2.group.age: band '25-49' overlaps '18-29'"),
    ("band backwards", lambda t: t["groups"][2]["group"].update(age="49-30"),
     "groups.2.group.age: band '49-30' ends before it starts"),
    ("bands and words", lambda t: t["groups"][2]["group"].update(age="adult"),
     "groups.2.group.age: 'adult' and '18-29': age mixes age bands"),
    ("empty group value", lambda t: t["groups"][1]["group"].update(sex=""),
     "groups.1.group.sex:"),
    ("group value on two lines", lambda t: t["groups"][1]["group"].update(sex="f\nT 80"),
     "groups.1.group.sex: holds a line break"),
    ("title on two lines", lambda t: t.update(title="Norms\nT 80, percentile 99"),
     "title: holds a line break"),
]
# fmt: on


@pytest.mark.parametrize(
    ("edit", "words"), [(e, w) for _, e, w in NORM_EDITS], ids=[n for n, _, _ in NORM_EDITS]
)
def test_a_hand_edited_norm_table_is_refused_naming_the_file_and_key(
    psyq_cli: CLI,
    tmp_path: Path,
    norm_table: dict[str, Any],
    edit: Callable[[dict[str, Any]], None],
    words: str,
) -> None:
    """Pydantic's lax mode read "200", true and 200.0 as counts, "11.4" as a mean and a
    date-time as a date; overlapping bands gave a client the first listed; a backwards
    band held nobody; a line break in a title or group split every normed score's line."""
    table = copy.deepcopy(norm_table)
    edit(table)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(table), encoding="utf-8")
    for command in (["score", "phq9", "--answers", NINE], ["report", "phq9", "--client", "C-1",
                    "--answers", NINE, "--format", "json", "-o", tmp_path / "r.json"]):  # fmt: skip
        line = one_line_error(psyq_cli(*command, "--norms", path, "--group", "sex=f,age=34"))
        assert f"{path}: not a psyq norm table: {words}" in line
    assert not (tmp_path / "r.json").exists()


def test_a_quoted_mean_in_a_yaml_norm_table_is_refused(
    psyq_cli: CLI, tmp_path: Path, norm_table: dict[str, Any]
) -> None:
    import yaml

    path = tmp_path / "norms.yaml"
    text = yaml.safe_dump(norm_table, sort_keys=False)
    mean = _total(norm_table, 0)["mean"]
    assert f"mean: {mean}\n" in text
    path.write_text(text, encoding="utf-8")
    assert psyq_cli("score", "phq9", "--answers", NINE, "--norms", path).exit_code == 0
    path.write_text(text.replace(f"mean: {mean}\n", f"mean: '{mean}'\n", 1), encoding="utf-8")
    line = one_line_error(psyq_cli("score", "phq9", "--answers", NINE, "--norms", path))
    assert "not a psyq norm table: groups.0.scales.total.mean: Input should be a valid" in line


@pytest.mark.parametrize("age", ["29.5", "10", "17.99"])
def test_an_age_in_no_band_of_the_table_is_refused_not_the_whole_sample(
    psyq_cli: CLI, tmp_path: Path, norm_table: dict[str, Any], age: str
) -> None:
    """Between two bands, or below the first, the whole sample's norms were used unsaid."""
    path = tmp_path / "norms.json"
    path.write_text(json.dumps(norm_table), encoding="utf-8")
    line = one_line_error(
        psyq_cli("score", "phq9", "--answers", NINE, "--norms", path, "--group", f"sex=f,age={age}")
    )
    assert f"--group age={age}: in none of the age bands of norm table 'phq9_norms'" in line
    assert "(18-29, 30-49, 50-)" in line
    # In a band, and with no age given, the table is used.
    for group in (["--group", "sex=f,age=29"], []):
        result = psyq_cli("score", "phq9", "--answers", NINE, "--norms", path, "--json", *group)
        assert result.exit_code == 0, result.output
        norm = json.loads(result.stdout)["scores"]["total"]["norm"]
        assert norm["group"] == ("sex=f, age=18-29" if group else "whole sample")


# -- 2. translation files ---------------------------------------------------------------------

ARABIC = (HERE / "langtest.ar.yaml").read_text(encoding="utf-8")
TRANSLATION_EDITS = [
    ("misspelt field", ("recall_period:", "recall_periode:"),
     "langtest.ar.yaml:8: recall_periode: unknown field"),
    ("item text a number", ("  l2: أستمتع بالفطور.", "  l2: 5"),
     "langtest.ar.yaml:13: items.l2: Input should be a valid string"),
    ("item text with a terminal control", ("  l2: أستمتع بالفطور.", '  l2: "a\\e[2Kb"'),
     "langtest.ar.yaml:13: items.l2: contains the control character U+001B"),
    ("misspelt band field", ("      interpretation:", "      interpretatoin:"),
     "langtest.ar.yaml:19: bands.total.low.interpretatoin: unknown field"),
    ("option keyed true", ("{0: أبدًا, 1:", "{0: أبدًا, true:"),
     "response_scales.freq.1.[key]: True is not an option value"),
    ("option keyed 1.0", ("{0: أبدًا, 1:", "{0: أبدًا, 1.0:"),
     "response_scales.freq.1.0.[key]: 1.0 is not an option value"),
    ("option keyed '01'", ("{0: أبدًا, 1:", "{0: أبدًا, '01':"),
     "response_scales.freq.01.[key]: '01' is not an option value"),
    ("a key twice", ("  l2: أستمتع بالفطور.\n", "  l2: أستمتع بالفطور.\n  l2: x\n"),
     "langtest.ar.yaml:14:3: not valid YAML: duplicate key 'l2'"),
    ("a language tag in capitals", ("language: ar", "language: AR"),
     "langtest.ar.yaml:4: language: String should match pattern"),
]  # fmt: skip


@pytest.fixture
def arabic_file(psyq_register: Callable[..., object], tmp_path: Path) -> Path:
    """langtest.ar.yaml in a folder a plugin names (psyq_translation_sources)."""
    from psyq import hookimpl
    from psyq.registry import InstrumentSource

    folder = tmp_path / "pack"
    folder.mkdir()

    class Pack:
        @hookimpl
        def psyq_instrument_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("lt", HERE / "langtest.yaml")]

        @hookimpl
        def psyq_translation_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("lt-ar", folder)]

    psyq_register(Pack(), "lt-ar")
    return folder / "langtest.ar.yaml"


@pytest.mark.parametrize(
    ("edit", "words"),
    [(e, w) for _, e, w in TRANSLATION_EDITS],
    ids=[n for n, _, _ in TRANSLATION_EDITS],
)
def test_a_translation_file_psyq_cannot_read_is_named_where_its_language_is_asked_for(
    psyq_cli: CLI, tmp_path: Path, arabic_file: Path, edit: tuple[str, str], words: str
) -> None:
    """A report in the file's language said "langtest has no 'ar' translation", hiding the
    file and its mistake; a control character in an item's text passed `psyq validate` and
    was a traceback in the report; an option keyed ``true`` or ``1.0`` labelled option 1."""
    assert edit[0] in ARABIC
    arabic_file.write_text(ARABIC.replace(edit[0], edit[1], 1), encoding="utf-8")
    validate = psyq_cli("validate", arabic_file)
    assert validate.exit_code == 2
    assert f"FAIL {arabic_file}" in validate.stderr and words in validate.stderr
    out = tmp_path / "r.html"
    report = psyq_cli("report", "langtest", "--answers", "0,1,2", "--client", "C-1",
                      "--language", "ar", "-o", out)  # fmt: skip
    line = one_line_error(report)
    assert str(arabic_file) in line and words in line
    assert not out.exists()
    # The instrument in its own language is unaffected.
    assert psyq_cli("report", "langtest", "--answers", "0,1,2", "--client", "C-1",
                    "-o", out).exit_code == 0  # fmt: skip


def test_an_option_keyed_as_json_writes_keys_is_still_read(
    psyq_cli: CLI, tmp_path: Path, arabic_file: Path
) -> None:
    arabic_file.write_text(ARABIC.replace("{0: أبدًا, 1:", "{'0': أبدًا, '1':"), encoding="utf-8")
    assert psyq_cli("validate", arabic_file).exit_code == 0
    out = tmp_path / "r.html"
    report = psyq_cli("report", "langtest", "--answers", "0,1,2", "--client", "C-1",
                      "--language", "ar", "-o", out)  # fmt: skip
    assert report.exit_code == 0, report.output
    assert "أحيانًا" in out.read_text(encoding="utf-8")


# -- 3. one rule for a client id given with its answers: report --client and batch ------------

PHQ9_ITEMS = [f"phq9_{i}" for i in range(1, 10)]
TAKEN = ["A", "7", "Müller-4", "Patient/123", "C-" + "9" * 198]
REFUSED = ["C\t02", "C\u202e02", "C\u200b02", "C-" + "9" * 199, " "]


def test_report_and_batch_take_and_refuse_the_same_client_ids(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """`psyq report --client A` was refused ("not a valid pseudonymous id": 1-32 ASCII
    letters and digits with a digit) though `psyq batch` scored and reported a row of
    client A; both store nothing, and now share psyq.clients.given_client_id_problem."""
    src = tmp_path / "in.jsonl"
    answers = {**{item: 1 for item in PHQ9_ITEMS}, "phq9_9": 0}  # as NINE
    src.write_text(
        "".join(json.dumps({"client_id": c, **answers}) + "\n" for c in TAKEN + REFUSED),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    batch = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--quiet")
    assert batch.exit_code == 1, batch.output
    assert [r["client_id"] for r in read_csv(out / "scores.csv")] == TAKEN
    errors = {int(r["row"]): r["reason"] for r in read_csv(out / "errors.csv")}
    assert sorted(errors) == list(range(len(TAKEN) + 1, len(TAKEN) + len(REFUSED) + 1))
    report = tmp_path / "r.html"
    for client in TAKEN:
        made = psyq_cli("report", "phq9", "--answers", NINE, "--client", client, "-o", report,
                        "--force")  # fmt: skip
        assert made.exit_code == 0, (client, made.output)
        assert client in report.read_text(encoding="utf-8")
    for row, client in enumerate(REFUSED, start=len(TAKEN) + 1):
        line = one_line_error(
            psyq_cli(
                "report", "phq9", "--answers", NINE, "--client", client, "-o", tmp_path / "x.html"
            )
        )
        reason = errors[row].removeprefix(f"row {row}: ")
        assert reason.startswith("the client id ") and line.endswith(reason), (line, reason)
        assert not (tmp_path / "x.html").exists()


# -- 4. answers and dates as other programs write them ----------------------------------------


def _response(tmp_path: Path, last: dict[str, Any]) -> Path:
    """A completed PHQ-9 QuestionnaireResponse whose item 9 answer is ``last``."""
    items = [{"linkId": f"phq9_{i}", "answer": [{"valueInteger": 1}]} for i in range(1, 9)]
    response = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "subject": {"identifier": {"value": "C1"}},
        "authored": "2026-01-02",
        "item": [*items, {"linkId": "phq9_9", "answer": [last]}],
    }
    path = tmp_path / "response.json"
    path.write_text(json.dumps(response), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("answer", "kinds"),
    [
        ({"valueCoding": {"code": "3"}, "valueInteger": 0}, "valueCoding, valueInteger"),
        ({"valueInteger": 3, "valueString": "Not at all"}, "valueInteger, valueString"),
    ],
)
def test_a_fhir_answer_holding_two_values_is_refused_not_read_as_one(
    psyq_cli: CLI, tmp_path: Path, answer: dict[str, Any], kinds: str
) -> None:
    """FHIR's value[x] is one value; psyq read the first kind it looked for, so a coding
    of 3 beside a valueInteger 0 scored PHQ-9 item 9 as 0 and raised no alert."""
    path = _response(tmp_path, answer)
    words = f"linkId 'phq9_9' (phq9_9): one answer holds 2 values ({kinds})"
    assert words in one_line_error(psyq_cli("score", "phq9", "--answers-file", path))
    record = psyq_cli("record", "phq9", "--client", "C1", "--answers-file", path)
    assert words in one_line_error(record)
    assert psyq_cli("history", "C1").exit_code == 2  # nothing stored
    ndjson = tmp_path / "in.ndjson"
    ndjson.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    out = tmp_path / "out"
    batch = psyq_cli("batch", ndjson, "--instrument", "phq9", "--out", out, "--scores-only",
                     "--quiet")  # fmt: skip
    assert batch.exit_code == 1, batch.output
    assert read_csv(out / "scores.csv") == []
    [error] = read_csv(out / "errors.csv")
    # After the row's CRITICAL lead (the item's answer cannot be read), as a sentence.
    assert error["reason"].startswith("row 1: CRITICAL item phq9_9 ")
    assert "L" + words[1:] in error["reason"]


@pytest.mark.parametrize("day", ["2026-1-5", "2026-01-5", "2026-1-05"])
def test_every_date_option_takes_yyyy_mm_dd_as_report_and_batch_do(
    psyq_cli: CLI, tmp_path: Path, day: str
) -> None:
    """`record --date 2026-1-5` was stored (and `export --since` read it) where
    `report --date` and a batch row's date refused it: one form, psyq.dates.written_day."""
    record = psyq_cli("record", "phq9", "--client", "C1", "--answers", NINE, "--date", day)
    assert f"'{day}' is not a date; give a real date as YYYY-MM-DD" in one_line_error(record)
    assert psyq_cli("history", "C1").exit_code == 2  # nothing stored
    export = psyq_cli("export", "--since", day, "-o", tmp_path / "x.csv")
    assert f"'{day}' is not a date" in one_line_error(export)
    report = psyq_cli("report", "phq9", "--answers", NINE, "--client", "C1", "--date", day,
                      "-o", tmp_path / "r.html")  # fmt: skip
    assert f"--date: '{day}' is not a date" in one_line_error(report)
    padded = day.replace("-1-", "-01-").replace("-5", "-05")
    assert psyq_cli("record", "phq9", "--client", "C1", "--answers", NINE,
                    "--date", padded).exit_code == 0  # fmt: skip


def test_a_translation_file_for_a_language_the_definition_has_is_a_validate_error(
    psyq_cli: CLI, arabic_file: Path
) -> None:
    """langtest's definition translates it into Spanish; a file giving Spanish too was
    "ok" in `psyq validate`, and every Spanish form used the definition's, unsaid."""
    spanish = arabic_file.with_name("langtest.es.yaml")
    spanish.write_text(ARABIC.replace("language: ar", "language: es"), encoding="utf-8")
    for args in ([spanish], []):
        result = psyq_cli("validate", *args)
        assert result.exit_code == 2
        assert (
            f"FAIL {spanish}: langtest 'es' is already translated in its definition, which "
            "is the one used; remove one of the two"
        ) in result.stderr


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_a_date_column_named_but_not_in_the_file_is_refused_not_left_undated(
    psyq_cli: CLI, tmp_path: Path, suffix: str
) -> None:
    """With --ignore-extra-columns, `--date-column visit` on a file whose dates are in
    'date' scored every row undated (the dates dropped as an extra column), unsaid."""
    row = {"client_id": "C1", "date": "2026-01-02", **{i: "1" for i in PHQ9_ITEMS}}
    src = tmp_path / f"in.{suffix}"
    if suffix == "csv":
        src.write_text(",".join(row) + "\n" + ",".join(row.values()) + "\n", encoding="utf-8")
    else:
        src.write_text(json.dumps(row) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ("batch", src, "--instrument", "phq9", "--out", out, "--scores-only", "--quiet",
            "--ignore-extra-columns")  # fmt: skip
    kind = "column" if suffix == "csv" else "key"
    line = one_line_error(psyq_cli(*args, "--date-column", "visit"))
    assert f"{src}: no 'visit' {kind}, which --date-column names" in line
    assert not (out / "scores.csv").exists()
    # Named as in the file, or left to its default, the dates are read.
    for named in (["--date-column", "date"], []):
        assert psyq_cli(*args, *named, "--force").exit_code == 0
        assert [r["date"] for r in read_csv(out / "scores.csv")] == ["2026-01-02"]


@pytest.mark.parametrize(("group", "key"), [("sexx=f,age=34", "sexx"), ("sex=f,agee=34", "agee")])
def test_a_group_key_no_norm_group_has_is_refused_not_the_whole_sample(
    psyq_cli: CLI, tmp_path: Path, norm_table: dict[str, Any], group: str, key: str
) -> None:
    """A misspelt --group key was passed over: the whole sample's norms, unsaid but for
    the group label. A value no group has (sex=x) still gets the whole sample, as
    docs/norms.md says; a client attribute (AUDIT-C's sex) is a key of its own."""
    path = tmp_path / "norms.json"
    path.write_text(json.dumps(norm_table), encoding="utf-8")
    base = ("score", "phq9", "--answers", NINE, "--norms", path, "--json")
    line = one_line_error(psyq_cli(*base, "--group", group))
    value = group.split(f"{key}=")[1].split(",")[0]
    assert (
        f"--group {key}={value}: norm table 'phq9_norms' has groups by age, sex, none by {key}"
        in line
    )
    other = psyq_cli(*base, "--group", "sex=x,age=34")
    assert json.loads(other.stdout)["scores"]["total"]["norm"]["group"] == "whole sample"


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_a_jsonl_row_whose_text_holds_a_unicode_line_separator_is_one_row(
    psyq_cli: CLI, tmp_path: Path, separator: str
) -> None:
    """JSON strings may hold U+2028, U+0085 and the like as they are (json.dumps with
    ensure_ascii=False writes them so); the reader split lines at them too, so such a
    row became broken-JSON rows and its positive PHQ-9 item 9 was never read: no alert."""
    items = [{"linkId": f"phq9_{i}", "text": f"Item{separator}{i}",
              "answer": [{"valueInteger": 3 if i == 9 else 1}]} for i in range(1, 10)]  # fmt: skip
    response = {"resourceType": "QuestionnaireResponse", "status": "completed",
                "subject": {"identifier": {"value": "C1"}}, "authored": "2026-01-02",
                "item": items}  # fmt: skip
    plain = {"client_id": "C2", **{i: 1 for i in PHQ9_ITEMS}, "note": f"seen{separator}twice"}
    src = tmp_path / "in.jsonl"
    text = json.dumps(response, ensure_ascii=False) + "\n" + json.dumps(plain, ensure_ascii=False)
    src.write_text(text + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
                      "--ignore-extra-columns", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "!!! CRITICAL: 2 row(s) raise a critical flag" in result.stderr
    scores = read_csv(out / "scores.csv")
    assert [(r["row"], r["client_id"], r["total"]) for r in scores] == [
        ("1", "C1", "11"),
        ("2", "C2", "9"),
    ]
    assert read_csv(out / "errors.csv") == []


def test_a_jsonl_file_joined_to_another_keeps_the_second_files_first_row(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """`cat a.jsonl b.jsonl`, each saved with a byte order mark: the second file's first
    row was refused as "Unexpected UTF-8 BOM" (its answers unread)."""
    row = {"client_id": "C1", **{i: 1 for i in PHQ9_ITEMS}, "phq9_9": 2}
    src = tmp_path / "joined.jsonl"
    src.write_text(("\ufeff" + json.dumps(row) + "\n") * 2, encoding="utf-8")
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
                      "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["row"] for r in read_csv(out / "scores.csv")] == ["1", "2"]


@pytest.mark.parametrize("scores_only", [True, False])
def test_a_header_repeated_by_joining_two_files_is_named_not_a_critical_answer(
    psyq_cli: CLI, tmp_path: Path, scores_only: bool
) -> None:
    """`cat a.csv b.csv`: b's header became a data row, reported as "CRITICAL item phq9_9
    answered phq9_9: act on it", and the terminal counted it as a critical row."""
    header = "client_id," + ",".join(f"phq9_{n}" for n in range(1, 11))
    one = f"{header}\nC1,1,1,1,1,1,1,1,1,0,0\n"
    joined = tmp_path / "joined.csv"
    joined.write_text(one + one.replace("C1,", "C2,"), encoding="utf-8")
    out = tmp_path / "out"
    args = ["batch", joined, "--instrument", "phq9", "--out", out, "--quiet"]
    batch = psyq_cli(*args, *(["--scores-only"] if scores_only else []))
    assert batch.exit_code == 1, batch.output
    assert [r["client_id"] for r in read_csv(out / "scores.csv")] == ["C1", "C2"]
    [error] = read_csv(out / "errors.csv")
    assert (
        error["reason"]
        == "row 3: it repeats the header line (files joined?): not a form, not scored"
    )
    assert "CRITICAL" not in batch.output


@pytest.mark.parametrize(
    ("subject", "warned"),
    [
        ({"reference": "Patient/C77"}, "'Patient/C77'"),
        ({"identifier": {"value": "C77"}}, "'C77'"),
        ({"reference": "Patient/C5"}, None),
        ({"identifier": {"value": "C5"}}, None),
    ],
)
def test_record_says_when_the_responses_subject_is_not_the_client_given(
    psyq_cli: CLI, tmp_path: Path, subject: dict[str, Any], warned: str | None
) -> None:
    """`record --client C5` of a response whose subject is C77 was stored under C5
    without a word (its critical flag then in C5's history)."""
    path = _response(tmp_path, {"valueInteger": 2})
    response = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**response, "subject": subject}), encoding="utf-8")
    recorded = psyq_cli("record", "phq9", "--client", "C5", "--answers-file", path)
    assert recorded.exit_code == 0, recorded.output
    assert "saved administration 1: PHQ-9 for client C5" in recorded.stdout
    if warned is None:
        assert "warning" not in recorded.stderr
    else:
        assert f"names its subject {warned}, not C5; stored under client C5" in recorded.stderr
