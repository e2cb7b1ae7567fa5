"""REDCap data dictionaries: ``psyq compile --to redcap`` and ``psyq import-redcap``.

Checked against the real dictionaries in ../shared/corpus/redcap (read in place),
and fixtures reproducing patterns of public REDCap instruments: the REDCap Shared
Library style PHQ-9 (fields ``phq1``..``phq9``, a ``sum()`` total and a threshold
flag), a byte-order mark, multi-line quoted labels with HTML (as REDCap's Online
Designer writes them), 777/999 missing-data choices and ``if([x]='777', ...)`` guards.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from psyq.manager import PsyqPluginManager
from psyq.models import ResponseOption
from psyq.plugins.redcap.calc import Node, parse
from psyq.plugins.redcap.dictionary import COLUMNS, FIELD_NAME, parse_choices, read_dictionary
from psyq.registry import InstrumentRegistry, load_instrument_file
from psyq.scoring import Scorer

from .conftest import SHARED

CLI = Callable[..., Result]
BUILT_IN = ["phq9", "gad7", "who5", "ccts"]
REDCAP = SHARED / "corpus" / "redcap"
BRIDGE2AI = REDCAP / "bridge2ai_voice_project_data_dictionary.csv"
needs_corpus = pytest.mark.skipif(not BRIDGE2AI.is_file(), reason="shared corpus is not present")


def compiled(psyq_cli: CLI, instrument_id: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{instrument_id}.csv"
    result = psyq_cli("compile", instrument_id, "--to", "redcap", "-o", path)
    assert result.exit_code == 0, result.output
    return path


# -- an independent evaluator of REDCap calc syntax (blank = None) ------------------


def evaluate(node: Node, record: dict[str, Any]) -> Any:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "str":
        return node[1]
    if kind == "field":
        value = record.get(node[1])
        return "" if value is None else value
    if kind == "bin":
        op = node[1]
        if op == "and":
            return bool(evaluate(node[2], record)) and bool(evaluate(node[3], record))
        if op == "or":
            return bool(evaluate(node[2], record)) or bool(evaluate(node[3], record))
        a, b = evaluate(node[2], record), evaluate(node[3], record)
        if op in ("=", "<>"):
            same = str(a) == str(b) or (a != "" and b != "" and float(a) == float(b))
            return same if op == "=" else not same
        if a == "" or b == "":
            return "" if op in "+-*/" else False
        a, b = float(a), float(b)
        operations: dict[str, Callable[[float, float], Any]] = {
            "+": lambda x, y: x + y,
            "-": lambda x, y: x - y,
            "*": lambda x, y: x * y,
            "/": lambda x, y: x / y if y else "",
            "<": lambda x, y: x < y,
            ">": lambda x, y: x > y,
            "<=": lambda x, y: x <= y,
            ">=": lambda x, y: x >= y,
        }
        return operations[op](a, b)
    name, args = node[1], node[2]
    if name == "if":
        return evaluate(args[1] if evaluate(args[0], record) else args[2], record)
    if name == "isblankormissingcode":
        return evaluate(args[0], record) == ""
    values = [evaluate(a, record) for a in args]
    if name in ("sum", "mean"):
        numbers = [float(v) for v in values if v != ""]  # REDCap skips blanks
        if not numbers:
            return ""
        return sum(numbers) if name == "sum" else sum(numbers) / len(numbers)
    if name == "round":
        if values[0] == "":
            return ""
        factor = 10 ** int(values[1])
        x = float(values[0]) * factor
        return math.copysign(math.floor(abs(x) + 0.5 + 1e-9), x) / factor
    raise AssertionError(f"unknown function {name}")


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("instrument_id", BUILT_IN)
def test_compiled_dictionary_follows_redcap_rules(
    psyq_cli: CLI, registry: InstrumentRegistry, tmp_path: Path, instrument_id: str
) -> None:
    path = compiled(psyq_cli, instrument_id, tmp_path)
    header = next(csv.reader(path.open(encoding="utf-8")))
    assert tuple(header) == COLUMNS and len(header) == 18
    rows = rows_of(path)
    inst = registry.get(instrument_id)
    assert rows[0]["Variable / Field Name"] == "record_id"
    names = [r["Variable / Field Name"] for r in rows]
    assert len(set(names)) == len(names)
    assert all(FIELD_NAME.fullmatch(n) for n in names)
    assert {r["Form Name"] for r in rows} == {instrument_id}
    assert "@HIDDEN" not in path.read_text()
    by_name = {r["Variable / Field Name"]: r for r in rows}
    for item in inst.items:
        row = by_name[item.id]
        assert row["Field Type"] == "radio"
        choices = parse_choices(row["Choices, Calculations, OR Slider Labels"])
        options = inst.response_scale_for(item).options
        assert choices == [(str(o.value), o.label) for o in options]
    for scale in inst.scales:
        row = by_name[f"{instrument_id}_{scale.id}"]
        assert row["Field Type"] == "calc"
        parse(row["Choices, Calculations, OR Slider Labels"])  # REDCap syntax psyq reads


@pytest.mark.parametrize("instrument_id", BUILT_IN)
def test_calc_fields_compute_the_golden_scores(
    psyq_cli: CLI, registry: InstrumentRegistry, tmp_path: Path, instrument_id: str
) -> None:
    """Evaluated with REDCap's rules (sum/mean skip blanks), each calc gives the manual's score."""
    rows = {
        r["Variable / Field Name"]: r for r in rows_of(compiled(psyq_cli, instrument_id, tmp_path))
    }
    inst = registry.get(instrument_id)
    checked = 0
    for example in inst.examples:
        record = dict(example.answers)
        for scale_id, expected in example.expect.scores.items():
            calc = parse(
                rows[f"{instrument_id}_{scale_id}"]["Choices, Calculations, OR Slider Labels"]
            )
            got = evaluate(calc, record)
            assert (None if got == "" else got) == expected, (example.name, scale_id)
            checked += 1
        if example.expect.flags is not None:
            raised = [
                f.id
                for f in inst.flags
                if (row := rows.get(f"{instrument_id}_flag_{f.id}")) is not None
                and row["Field Type"] == "calc"
                and evaluate(parse(row["Choices, Calculations, OR Slider Labels"]), record) == 1
            ]
            expressible = {
                f.id
                for f in inst.flags
                if rows[f"{instrument_id}_flag_{f.id}"]["Field Type"] == "calc"
            }
            assert set(raised) == set(example.expect.flags) & expressible, example.name
    assert checked >= len(inst.examples)


@pytest.mark.parametrize("instrument_id", BUILT_IN)
def test_round_trip_through_import_redcap(
    psyq_cli: CLI,
    psyq_pm: PsyqPluginManager,
    registry: InstrumentRegistry,
    tmp_path: Path,
    instrument_id: str,
) -> None:
    path = compiled(psyq_cli, instrument_id, tmp_path)
    draft_path = tmp_path / "draft.yaml"
    result = psyq_cli("import-redcap", path, "--id", f"{instrument_id}_rc", "-o", draft_path)
    assert result.exit_code == 0, result.output
    draft = load_instrument_file(psyq_pm, draft_path)
    original = registry.get(instrument_id)
    assert [i.id for i in draft.items] == [i.id for i in original.items]
    assert [i.scored for i in draft.items] == [i.scored for i in original.items]
    assert [i.reverse for i in draft.items] == [i.reverse for i in original.items]
    scorer = Scorer(psyq_pm)
    for example in original.examples:
        ours = scorer.score(original, dict(example.answers))
        theirs = scorer.score(draft, dict(example.answers))
        for scale in original.scales:
            assert theirs.scores[scale.id].value == ours.scores[scale.id].value, example.name


def dictionary(rows: list[dict[str, str]], *, bom: bool = True) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row.get(c, "") for c in COLUMNS])
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


FREQ = "0, Not at all | 1, Several days | 2, More than half the days | 3, Nearly every day"


def shared_library_phq9() -> list[dict[str, str]]:
    """The REDCap Shared Library PHQ-9 pattern, with HTML labels and missing codes."""
    rows = [{"Variable / Field Name": "record_id", "Form Name": "phq9", "Field Type": "text",
             "Field Label": "Record ID"}]  # fmt: skip
    for n in range(1, 10):
        rows.append(
            {
                "Variable / Field Name": f"phq{n}",
                "Form Name": "phq9",
                "Field Type": "radio",
                "Field Label": f"<b>Item {n}</b>\nover the <i>last 2 weeks</i> &amp; more",
                "Choices, Calculations, OR Slider Labels": FREQ + " | 777, Decline to answer",
            }
        )
    terms = ",".join(f"if([phq{n}]='777','',[phq{n}])" for n in range(1, 10))
    rows += [
        {"Variable / Field Name": "phq_date", "Form Name": "phq9", "Field Type": "text",
         "Field Label": "Date", "Field Annotation": "@NOW"},
        {"Variable / Field Name": "phq_total", "Form Name": "phq9", "Field Type": "calc",
         "Field Label": "PHQ-9 total", "Choices, Calculations, OR Slider Labels": f"sum({terms})"},
        {"Variable / Field Name": "phq_severe", "Form Name": "phq9", "Field Type": "calc",
         "Field Label": "Severe", "Choices, Calculations, OR Slider Labels":
         "if([phq_total]>=20,1,0)"},
        {"Variable / Field Name": "phq_odd", "Form Name": "phq9", "Field Type": "calc",
         "Field Label": "Odd", "Choices, Calculations, OR Slider Labels":
         "rounddown(datediff([phq_date],'today','y'),0)"},
        {"Variable / Field Name": "phq_where", "Form Name": "phq9", "Field Type": "checkbox",
         "Field Label": "Where\u2028# injected: true", "Choices, Calculations, OR Slider Labels":
         "1, Home | 2, Clinic"},
        {"Variable / Field Name": "other_form_field", "Form Name": "other", "Field Type": "radio",
         "Field Label": "Elsewhere", "Choices, Calculations, OR Slider Labels": "0, No | 1, Yes"},
    ]  # fmt: skip
    return rows


def test_import_redcap_shared_library_pattern(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    source = tmp_path / "dict.csv"
    source.write_bytes(dictionary(shared_library_phq9()))
    refused = psyq_cli("import-redcap", source)
    assert (
        refused.exit_code == 2 and "2 forms; choose one with --form (phq9, other)" in refused.output
    )
    draft_path = tmp_path / "phq9.yaml"
    result = psyq_cli("import-redcap", source, "--form", "phq9", "-o", draft_path)
    assert result.exit_code == 0, result.output
    text = draft_path.read_text()
    head = text.split("\nschema_version:")[0]
    assert all(line.startswith("#") for line in head.splitlines())
    assert "\u2028" not in head and "\n# injected" not in text
    assert "phq_date (text)" in head and "phq_where (checkbox)" in head
    assert "calc phq_odd" in head and "not converted" in head
    draft = load_instrument_file(psyq_pm, draft_path)
    assert [i.id for i in draft.items] == [f"phq{n}" for n in range(1, 10)]
    assert draft.items[0].text == "Item 1 over the last 2 weeks & more"  # HTML stripped
    options = draft.response_scale_for(draft.items[0]).options
    if "missing" in ResponseOption.model_fields:
        assert [o.missing for o in options] == [False] * 4 + [True]
    total = draft.scale("total")
    assert total.items == [f"phq{n}" for n in range(1, 10)]
    # By hand: 3,3,3,2,2,2,2,2,1 = 20, at the flag's threshold.
    answers = dict(zip(total.items, [3, 3, 3, 2, 2, 2, 2, 2, 1], strict=True))
    result_ = Scorer(psyq_pm).score(draft, answers)
    assert result_.scores["total"].value == 20
    assert [f.id for f in result_.flags] == ["phq_severe"]
    answers["phq9"] = 0
    assert Scorer(psyq_pm).score(draft, answers).flags == []


def test_import_redcap_refusals(psyq_cli: CLI, tmp_path: Path) -> None:
    not_dict = tmp_path / "data.csv"
    not_dict.write_text("record_id,phq1\n1,2\n")
    result = psyq_cli("import-redcap", not_dict)
    assert result.exit_code == 2
    assert "not a REDCap data dictionary: no column 'Variable / Field Name'" in result.output
    assert "looks like a record export" in result.output
    source = tmp_path / "dict.csv"
    source.write_bytes(dictionary(shared_library_phq9()))
    result = psyq_cli("import-redcap", source, "--form", "nope")
    assert result.exit_code == 2 and "no form 'nope'; forms: phq9, other" in result.output
    words = tmp_path / "words.csv"
    words.write_bytes(dictionary([{"Variable / Field Name": "q1", "Form Name": "f",
        "Field Type": "radio", "Field Label": "Q",
        "Choices, Calculations, OR Slider Labels": "never, Never | often, Often"}]))  # fmt: skip
    result = psyq_cli("import-redcap", words)
    assert result.exit_code == 2 and "choice code 'never' is not a whole number" in result.output


@needs_corpus
def test_compiled_dictionary_matches_the_real_ones(psyq_cli: CLI, tmp_path: Path) -> None:
    """Same 18 columns as a real dictionary, and the same PHQ-9/GAD-7 choices."""
    theirs = read_dictionary(BRIDGE2AI)
    header = next(csv.reader(BRIDGE2AI.open(encoding="utf-8-sig")))
    assert tuple(header) == COLUMNS
    real_choices = {
        f.choices.replace(" ", "")
        for f in theirs
        if f.form in ("q_generic_patient_health_questionnaire9", "q_generic_gad7_anxiety")
        and f.type == "radio"
    }
    ours = {
        r["Choices, Calculations, OR Slider Labels"].replace(" ", "")
        for instrument_id in ("phq9", "gad7")
        for r in rows_of(compiled(psyq_cli, instrument_id, tmp_path))
        if r["Field Type"] == "radio"
    }
    assert ours <= real_choices | {c.replace("Difficult", "difficult") for c in real_choices}


@needs_corpus
def test_import_redcap_reads_every_form_of_a_real_dictionary(psyq_cli: CLI, tmp_path: Path) -> None:
    forms = list(dict.fromkeys(f.form for f in read_dictionary(BRIDGE2AI)))
    assert len(forms) == 59
    converted = 0
    for form in forms:
        result = psyq_cli("import-redcap", BRIDGE2AI, "--form", form)
        assert result.exit_code in (0, 2), (form, result.output)
        assert "Traceback" not in result.output and "internal error" not in result.output
        if result.exit_code == 0:
            yaml.safe_load(result.stdout)
            converted += 1
        else:
            assert len(result.output.strip().splitlines()) == 1
    assert converted >= 20
    phq9 = psyq_cli("import-redcap", BRIDGE2AI, "--form", "q_generic_patient_health_questionnaire9")
    data = yaml.safe_load(phq9.stdout)
    assert [i["id"] for i in data["items"]][:3] == [
        "no_interest",
        "feeling_depressed",
        "trouble_sleeping",
    ]
    assert "branching logic" in phq9.stdout.split("\nschema_version:")[0]


@needs_corpus
def test_reproschema_redcap_export_dictionary_style_output(psyq_cli: CLI, tmp_path: Path) -> None:
    """The reproschema-py REDCap CSV is a data export, not a dictionary: one clear line."""
    export = REDCAP / "reproschema-py__example_redcap_output_redcap.csv"
    result = psyq_cli("import-redcap", export)
    assert result.exit_code == 2
    assert "not a REDCap data dictionary" in result.output


def test_calc_reading_never_crashes() -> None:
    """Long chains (REDCap sums of hundreds of fields) and junk are read or refused."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from psyq.plugins.redcap.calc import CalcSyntaxError, recognise_flag, recognise_scale

    long_sum = "+".join(f"[f{k}]" for k in range(3000))
    rule = recognise_scale(parse(long_sum))
    assert rule is not None and len(rule.items) == 3000 and not rule.blank_skipped
    guard = " or ".join(f"[x]='{k}'" for k in range(3000))
    assert recognise_scale(parse(f"sum(if({guard},'',[x]))")) is not None
    with pytest.raises(CalcSyntaxError):
        parse("-" * 5000 + "1")
    with pytest.raises(CalcSyntaxError):
        parse("(" * 5000 + "1" + ")" * 5000)

    alphabet = st.sampled_from([*"[]()+-*/=<>,'\" 01x_", "if(", "sum(", " and ", " or "])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(alphabet, max_size=60).map("".join))
    def check(text: str) -> None:
        try:
            tree = parse(text)
        except CalcSyntaxError:
            return
        recognise_scale(tree)
        recognise_flag(tree)

    check()


# -- branching logic and skip rules ----------------------------------------------------

SKIPPING = ["audit", "pcptsd5", "k10", "phq15"]


@pytest.mark.parametrize("instrument_id", SKIPPING)
def test_skips_compile_to_branching_logic_and_calcs_that_count_them(
    psyq_cli: CLI, registry: InstrumentRegistry, tmp_path: Path, instrument_id: str
) -> None:
    """Each skipped item is shown unless its skip condition holds; the calc fields count
    a hidden blank item as its skip score, so REDCap's totals are the manual's."""
    rows = {
        r["Variable / Field Name"]: r for r in rows_of(compiled(psyq_cli, instrument_id, tmp_path))
    }
    inst = registry.get(instrument_id)
    for item in inst.items:
        logic = rows[item.id]["Branching Logic (Show field only if...)"]
        assert bool(logic) == (item.skip is not None and item.skip.when is not None)
    checked = 0
    for example in inst.examples:
        record = dict(example.answers)
        # As REDCap keeps it: a hidden field answered with its skip score is blank.
        for item in inst.items:
            logic = rows[item.id]["Branching Logic (Show field only if...)"]
            if logic and not evaluate(parse(logic), record):
                assert item.skip is not None
                if record.get(item.id) == item.skip.score:
                    record[item.id] = None
        for scale_id, expected in example.expect.scores.items():
            got = evaluate(
                parse(
                    rows[f"{instrument_id}_{scale_id}"]["Choices, Calculations, OR Slider Labels"]
                ),
                record,
            )
            assert (None if got == "" else got) == expected, (example.name, scale_id)
            checked += 1
    assert checked >= len(inst.examples)


@pytest.mark.parametrize("instrument_id", SKIPPING)
def test_branching_logic_round_trip_scores_golden_examples(
    psyq_cli: CLI, registry: InstrumentRegistry, tmp_path: Path, instrument_id: str
) -> None:
    """compile --to redcap -> import-redcap: the skip rules come back, and the draft scores
    every golden example's skips and total as the original (through `psyq score`)."""
    path = compiled(psyq_cli, instrument_id, tmp_path)
    draft = tmp_path / "draft.yaml"
    result = psyq_cli("import-redcap", path, "--id", f"{instrument_id}_rc", "-o", draft)
    assert result.exit_code == 0, result.output
    original = registry.get(instrument_id)
    items = {i["id"]: i for i in yaml.safe_load(draft.read_text())["items"]}
    assert {i for i, v in items.items() if "skip" in v} == {
        i.id for i in original.items if i.skip is not None
    }
    answers_file = tmp_path / "answers.json"

    def score(instrument: str | Path, answers: dict[str, Any]) -> Any:
        answers_file.write_text(json.dumps(answers))
        out = psyq_cli("score", instrument, "--answers-file", answers_file, "--json")
        assert out.exit_code == 0, out.output
        data = json.loads(out.output)
        return data["scores"]["total"]["value"], data.get("skipped")

    for example in original.examples:
        answers = dict(example.answers)
        assert score(draft, answers) == score(instrument_id, answers), example.name


def test_import_redcap_branching_logic_shapes(psyq_cli: CLI, tmp_path: Path) -> None:
    """Branching logic as REDCap Shared Library forms write it (`[gate]='1'`, `>`, `<>''`,
    and/or), imitating the AUDIT-C/AUDIT instruments of the REDCap Shared Library."""
    yes_no = "0, No | 1, Yes"
    freq = "0, Never | 1, Monthly | 2, Weekly | 3, Daily"
    rows = [{"Variable / Field Name": "record_id", "Form Name": "f", "Field Type": "text",
             "Field Label": "ID"}]  # fmt: skip
    spec = [
        ("gate", yes_no, ""),
        ("often", freq, "[gate]='1'"),
        ("more", freq, "[often] > 1 and [gate] = '1'"),
        ("either", freq, "[gate]='0' or [often]<>''"),
        ("later", freq, "[nothere]='1'"),
        ("odd", freq, "datediff([d],'today','y')>5"),
    ]
    for name, choices, logic in spec:
        rows.append({"Variable / Field Name": name, "Form Name": "f", "Field Type": "radio",
                     "Field Label": name, "Choices, Calculations, OR Slider Labels": choices,
                     "Branching Logic (Show field only if...)": logic})  # fmt: skip
    source = tmp_path / "dict.csv"
    source.write_bytes(dictionary(rows))
    draft = tmp_path / "f.yaml"
    result = psyq_cli("import-redcap", source, "-o", draft)
    assert result.exit_code == 0, result.output
    items = {i["id"]: i for i in yaml.safe_load(draft.read_text())["items"]}
    assert "skip" not in items["later"] and "skip" not in items["odd"]
    header = " ".join(line[2:] for line in draft.read_text().splitlines() if line[:1] == "#")
    assert "item later is shown only when" in header and "not an earlier item" in header
    assert "item odd is shown only when" in header and "not converted" in header
    answers_file = tmp_path / "a.json"

    def skipped(answers: dict[str, int]) -> set[str]:
        answers_file.write_text(json.dumps(answers))
        out = psyq_cli("score", draft, "--answers-file", answers_file, "--json")
        assert out.exit_code == 0, out.output
        return set(json.loads(out.output).get("skipped") or {})

    # gate No: often and more are hidden (skipped when blank); either is shown.
    assert skipped({"gate": 0}) == {"often", "more"}
    # gate Yes, often Monthly: more is hidden (often not > 1); either shown.
    assert skipped({"gate": 1, "often": 1}) == {"more"}
    # gate Yes, often Daily: nothing hidden.
    assert skipped({"gate": 1, "often": 3}) == set()
    # gate Yes, often blank: often shown (so missing), more hidden, either hidden.
    assert skipped({"gate": 1}) == {"more", "either"}
