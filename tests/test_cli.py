"""The command line through click's runner: output, JSON shape, and one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from psyq import __version__
from psyq.plugins.builtin_instruments import builtin_instruments_dir

CLI = Callable[..., Result]


def test_version(psyq_cli: CLI) -> None:
    assert psyq_cli("--version").output.strip() == f"psyq, version {__version__}"


def test_list(psyq_cli: CLI) -> None:
    result = psyq_cli("list")
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    builtins = sorted(p.stem for p in builtin_instruments_dir().glob("*.yaml"))
    assert list(lines) == builtins
    assert "Client Caretaking Tendency Scale" in lines["ccts"] and "[provisional]" in lines["ccts"]
    assert "[validated]" in lines["phq9"]


def test_score_json_shape(psyq_cli: CLI) -> None:
    result = psyq_cli("score", "phq9", "--answers", "1,2,0,1,1,0,2,1,0", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["instrument"] == {
        "id": "phq9",
        "version": "1.0",
        "title": "Patient Health Questionnaire-9",
        "status": "validated",
    }
    assert doc["scores"]["total"] == {
        "value": 8,
        "raw": 8,
        "band": "mild",
        "band_label": "Mild",
        "answered": 9,
        "missing": 0,
        "prorated": False,
        "reason": None,
    }
    # Items 2 and 7 at 2 or more, one of them item 2: the PHQ-9 algorithm's "other
    # depressive syndrome" (Kroenke, Spitzer & Williams 2001).
    assert [(f["id"], f["level"], f["item"]) for f in doc["flags"]] == [
        ("other_depressive_syndrome", "info", None)
    ]
    assert doc["answers"] == {
        "phq9_1": 1,
        "phq9_2": 2,
        "phq9_3": 0,
        "phq9_4": 1,
        "phq9_5": 1,
        "phq9_6": 0,
        "phq9_7": 2,
        "phq9_8": 1,
        "phq9_9": 0,
        "phq9_10": None,
    }


def test_score_missing_items_and_trailing_unscored_item(psyq_cli: CLI) -> None:
    result = psyq_cli("score", "phq9", "--answers", "1,2,,1,-,0,2,1,1,3", "--json")
    doc = json.loads(result.output)
    total = doc["scores"]["total"]
    # 8 over 7 answered: 8 x 9 / 7 = 10.29 -> 10; item 10 (answered 3) is not in it.
    assert (total["value"], total["raw"], total["missing"], total["prorated"]) == (10, 8, 2, True)
    assert doc["answers"]["phq9_10"] == 3
    assert (doc["answers"]["phq9_3"], doc["answers"]["phq9_5"]) == (None, None)
    assert [f["id"] for f in doc["flags"]] == ["suicidal_ideation", "other_depressive_syndrome"]


def test_score_table_puts_critical_flag_first(psyq_cli: CLI) -> None:
    result = psyq_cli("score", "phq9", "--answers", "3,3,3,3,3,3,3,3,2")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[1].startswith("!!! CRITICAL")
    assert any(line.startswith("total") and "26" in line and "Severe" in line for line in lines)


def test_ccts_table_carries_provisional_notice(psyq_cli: CLI) -> None:
    result = psyq_cli("score", "ccts", "--answers", ",".join(["2"] * 16))
    assert "no norms" in result.output
    assert "provisional" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["phq9", "--answers", "1,2,9"], "item phq9_3: '9' is not an allowed answer; allowed: 0-3"),
        (["phq9", "--answers", "1,x"], "item phq9_2: 'x' is not an allowed answer"),
        (["phq9", "--answers", ",".join(["1"] * 11)], "got 11 answers but the instrument has 10"),
        (
            ["nope", "--answers", "1"],
            "unknown instrument 'nope'; available: audit, auditc, bdi2, ccts, dass21, epds,",
        ),
        (["phq9"], "give the answers with --answers"),
    ],
)
def test_score_errors_are_one_line_exit_2(psyq_cli: CLI, args: list[str], expected: str) -> None:
    result = psyq_cli("score", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("psyq: error: ")
    assert expected in lines[0]


def test_answers_file_yaml_and_json(psyq_cli: CLI, tmp_path: Path) -> None:
    yaml_file = tmp_path / "a.yaml"
    yaml_file.write_text("who5_1: 5\nwho5_2: 4\nwho5_3: 3\nwho5_4: 2\nwho5_5: 1\n")
    doc = json.loads(psyq_cli("score", "who5", "--answers-file", str(yaml_file), "--json").output)
    assert doc["scores"]["total"]["value"] == 60
    json_file = tmp_path / "a.json"
    json_file.write_text(json.dumps({"who5_1": 5, "who5_9": 1}))
    bad = psyq_cli("score", "who5", "--answers-file", str(json_file))
    assert bad.exit_code == 2
    assert f"{json_file}: WHO-5: unknown item 'who5_9'" in bad.stderr


def test_hostile_answers_file_is_refused(psyq_cli: CLI, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"who5_1: !!python/object/apply:os.system ['touch {marker}']\n")
    result = psyq_cli("score", "who5", "--answers-file", str(evil))
    assert result.exit_code == 2
    assert "tags are not allowed" in result.stderr
    assert not marker.exists()


def test_show_text_and_json(psyq_cli: CLI) -> None:
    text = psyq_cli("show", "ccts").output
    assert "NOTICE:" in text and "reverse-keyed" in text
    doc = json.loads(psyq_cli("show", "phq9", "--json").output)
    assert doc["id"] == "phq9"
    assert doc["content_hash"].startswith("sha256:")
    assert len(doc["items"]) == 10


def test_validate_installed_and_files(psyq_cli: CLI, tmp_path: Path, minimal_yaml: str) -> None:
    result = psyq_cli("validate")
    assert result.exit_code == 0
    builtins = len(list(builtin_instruments_dir().glob("*.yaml")))
    assert result.output.count("golden example(s) pass") == builtins
    good = tmp_path / "mini.yaml"
    good.write_text(minimal_yaml)
    bad = tmp_path / "bad.yaml"
    bad.write_text(minimal_yaml.replace("scores: {total: 2}", "scores: {total: 3}"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [\n")
    result = psyq_cli("validate", str(good), str(bad), str(broken))
    assert result.exit_code == 2
    assert f"ok   {good}" in result.output
    assert "mini example 'zeros': total expected 3.0, got 2" in result.stderr
    assert f"FAIL {broken}:" in result.stderr


def test_schema_is_json_schema(psyq_cli: CLI) -> None:
    schema = json.loads(psyq_cli("schema").output)
    assert schema["title"] == "Instrument"
    assert {"id", "items", "scales", "status"} <= set(schema["properties"])


def test_plugins_lists_builtins_with_all(psyq_cli: CLI) -> None:
    assert "no third-party plugins" in psyq_cli("plugins").output
    rows = json.loads(psyq_cli("plugins", "--all", "--json").output)
    by_name = {r["name"]: r for r in rows}
    assert by_name["scoring_stages"]["source"] == "built-in"
    assert "psyq_score_aggregate" in by_name["scoring_stages"]["hooks"]


def test_control_characters_in_answers_are_shown_escaped(psyq_cli: CLI) -> None:
    result = psyq_cli("score", "phq9", "--answers", "1,\x1b[31m2")
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr
    assert "item phq9_2: '\\x1b[31m2' is not an allowed answer" in result.stderr
