"""The condition language, critical items, "counts as missing" options and
flag-dependent texts, through ``psyq validate`` and ``psyq score``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.definitions import definition
from tests.packs import DirectoryPack

CLI = Callable[..., Result]

# Five items, 0-3, plus a "Decline" option that counts as missing and an unscored
# item; q5 is critical. Every rule of the condition language appears once.
RULES = definition(
    "rules",
    title="Rules",
    short_name="RULES",
    status="validated",
    missing={777: "Decline"},
    body="""\
items:
  - {id: q1, text: One, response_scale: freq}
  - {id: q2, text: Two, response_scale: freq}
  - {id: q3, text: Three, response_scale: freq}
  - {id: q4, text: Four, response_scale: freq, reverse: true}
  - {id: q5, text: Five, response_scale: freq, critical: true}
  - {id: extra, text: Extra, response_scale: freq, scored: false}
scales:
  - id: total
    label: Total
    items: [q1, q2, q3, q4, q5]
    missing: {max_missing: 2, prorate: true}
    bands:
      - id: low
        label: Low
        min: 0
        max: 5
        interpretation: Nothing to do.
        if_flagged:
          - {flags: [q5_positive], text: Low total; q5 is positive.}
      - {id: high, label: High, min: 6, max: 15, severity: 3}
flags:
  - id: q5_positive
    level: critical
    message: q5 positive
    when: {item: q5, op: ">", value: 0}
  - id: any_low
    level: warning
    message: an item at 0
    when: {items: [q1, q2, q3], op: "==", value: 0}
  - id: q1_or_q2_blank
    level: warning
    message: q1 or q2 not answered
    when: {items: [q1, q2], missing: true}
  - id: syndrome
    level: info
    message: two or three of q1-q4 at 2 or more, one of them q1 or q2
    when:
      count:
        - {items: [q1, q2, q3, q4], op: ">=", value: 2}
      at_least: 2
      at_most: 3
      including_one_of: [q1, q2]
""",
)


@pytest.fixture
def rules_cli(
    psyq_cli: CLI, psyq_register: Callable[..., object], tmp_path: Path
) -> Callable[[str], CLI]:
    """Serve one version of RULES (edited by ``change``) and return psyq_cli."""
    pack = tmp_path / "pack"
    pack.mkdir()
    psyq_register(DirectoryPack("rules-pack", pack))

    def install(text: str = RULES) -> CLI:
        (pack / "rules.yaml").write_text(text, encoding="utf-8")
        return psyq_cli

    return install


def score(cli: CLI, answers: str) -> dict[str, object]:
    result = cli("score", "rules", "--answers", answers, "--json")
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def flag_ids(doc: dict[str, object]) -> list[tuple[str, str | None]]:
    flags = doc["flags"]
    assert isinstance(flags, list)
    return [(f["id"], f["item"]) for f in flags]


def test_any_item_rule_names_the_first_item_that_meets_it(rules_cli: Callable[[str], CLI]) -> None:
    cli = rules_cli(RULES)
    # q2 = 0 is the first of q1-q3 at 0.
    assert flag_ids(score(cli, "1,0,0,1,0,0")) == [("any_low", "q2")]
    assert flag_ids(score(cli, "1,1,1,1,0,0")) == []


def test_count_needs_one_of_the_listed_items(rules_cli: Callable[[str], CLI]) -> None:
    cli = rules_cli(RULES)
    # q3 and q4 at 2 (q4's answer as given, not reversed): two symptoms, neither q1 nor q2.
    assert flag_ids(score(cli, "1,1,2,2,0,0")) == []
    # q1 and q3 at 2: two, one of them q1.
    assert flag_ids(score(cli, "2,1,2,1,0,0")) == [("syndrome", None)]
    # q1-q4 all at 3: four is above at_most 3.
    assert flag_ids(score(cli, "3,3,3,3,0,0")) == []


def test_declined_answer_counts_as_missing_everywhere(rules_cli: Callable[[str], CLI]) -> None:
    cli = rules_cli(RULES)
    doc = score(cli, "777,1,1,1,0,0")
    # Stored as given...
    assert doc["answers"] == {"q1": 777, "q2": 1, "q3": 1, "q4": 1, "q5": 0, "extra": 0}
    total = doc["scores"]["total"]  # type: ignore[index]
    # ...scored as missing: (1 + 1 + (3 - 1) + 0) x 5 / 4 = 5.
    assert (total["value"], total["answered"], total["prorated"]) == (5, 4, True)
    # ...and tested as missing: q1 counts as blank, and 777 is not "> 0" anywhere.
    assert flag_ids(doc) == [("q1_or_q2_blank", "q1")]


def test_unanswered_critical_item_raises_critical_flag_first(
    rules_cli: Callable[[str], CLI],
) -> None:
    cli = rules_cli(RULES)
    for answers in ("1,0,1,1,-,0", "1,0,1,1,777,0", "1,0,1,1,,"):
        doc = score(cli, answers)
        flags = doc["flags"]
        assert isinstance(flags, list)
        assert flags[0]["id"] == "critical_item_unanswered", answers
        assert flags[0]["level"] == "critical"
        assert flags[0]["item"] == "q5"
        assert "not answered" in flags[0]["message"]
        assert "directly" in flags[0]["message"]


def test_flag_dependent_interpretation_replaces_reassurance() -> None:
    import yaml

    from psyq.models import WITHHELD_INTERPRETATION, Instrument

    inst = Instrument.model_validate(yaml.safe_load(RULES))
    band = inst.total.band_for(2)
    assert band is not None
    assert band.interpretation_for({}) == "Nothing to do."
    assert band.interpretation_for({"q5_positive": "critical"}) == "Low total; q5 is positive."
    # A critical flag without a matching text: the reassurance is withheld.
    assert band.interpretation_for({"critical_item_unanswered": "critical"}) == (
        WITHHELD_INTERPRETATION
    )
    # A warning does not withhold it.
    assert band.interpretation_for({"any_low": "warning"}) == "Nothing to do."


def check_invalid(psyq_cli: CLI, tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    result = psyq_cli("validate", str(path))
    assert result.exit_code == 2
    lines = [x for x in result.stderr.splitlines() if x.startswith("FAIL")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert lines[0].startswith(f"FAIL {path}:{line}: "), lines[0]
    assert message in lines[0], lines[0]


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            "      at_least: 2\n      at_most: 3\n",
            "      at_least: 5\n",
            49,
            "flag syndrome: count at_least 5 is more than the 4 items counted",
        ),
        ("at_most: 3\n", "at_most: 7\n", 49, "count at_most 7 is more than the 4 items counted"),
        ("[q1, q2, q3, q4], op", "[q1, q2, q3, qq], op", 49, "flag syndrome: unknown item 'qq'"),
        (
            "including_one_of: [q1, q2]",
            "including_one_of: [q1, q5]",
            49,
            "including_one_of names q5, not among the items counted",
        ),
        (
            '        - {items: [q1, q2, q3, q4], op: ">=", value: 2}\n',
            '        - {items: [q1, q2, q3, q4], op: ">=", value: 2}\n'
            '        - {item: q1, op: ">=", value: 3}\n',
            49,
            "count lists item q1 more than once",
        ),
        (
            'when: {item: q5, op: ">", value: 0}',
            "when: {item: extra, missing: true}",
            37,
            "a critical flag tests whether unscored item 'extra' is missing",
        ),
        # A critical flag that compares with NaN or infinity could never be raised.
        (
            'when: {item: q5, op: ">", value: 0}',
            'when: {item: q5, op: ">", value: .nan}',
            40,
            "finite number",
        ),
        (
            'when: {item: q5, op: ">", value: 0}',
            'when: {item: q5, op: ">", value: .inf}',
            40,
            "finite number",
        ),
        (
            "response_scale: freq, scored: false}",
            "response_scale: freq, scored: false, critical: true}",
            21,
            "item extra: a critical item must be scored",
        ),
        (
            "{flags: [q5_positive], text",
            "{flags: [q5_pos], text",
            23,
            "band low: if_flagged names unknown flag 'q5_pos'",
        ),
        ("id: any_low", "id: critical_item_unanswered", 41, "this id is psyq's own"),
        (
            "when: {items: [q1, q2], missing: true}",
            'when: {items: [q1, q2], missing: true, op: ">", value: 1}',
            48,
            "use missing, or op and value, not both",
        ),
        (
            "      at_least: 2\n      at_most: 3\n",
            "",
            52,
            "count needs at_least, at_most or both",
        ),
        (
            "      at_least: 2\n      at_most: 3\n",
            "      at_least: 3\n      at_most: 2\n",
            52,
            "at_least 3 is above at_most 2",
        ),
    ],
)
def test_bad_conditions_are_one_line_naming_file_and_line(
    psyq_cli: CLI, tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    assert old in RULES
    check_invalid(psyq_cli, tmp_path, RULES.replace(old, new), line, message)


def test_rules_file_is_valid(psyq_cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    result = psyq_cli("validate", str(path))
    assert result.exit_code == 0, result.output


def test_all_options_missing_is_refused(psyq_cli: CLI, tmp_path: Path) -> None:
    text = RULES.replace("{value: 0, label: Never}", "{value: 0, label: Never, missing: true}")
    for v in ("1, label: Sometimes", "2, label: Often", "3, label: Always"):
        text = text.replace(f"{{value: {v}}}", f"{{value: {v}, missing: true}}")
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    result = psyq_cli("validate", str(path))
    assert result.exit_code == 2
    assert "every option is marked missing" in result.stderr


SKIP_BY_COUNT = RULES.replace(
    "  - {id: q4, text: Four, response_scale: freq, reverse: true}\n",
    "  - id: q4\n"
    "    text: Four\n"
    "    response_scale: freq\n"
    "    reverse: true\n"
    "    skip:\n"
    "      score: 0\n"
    "      when:\n"
    "        any:\n"
    '          - {item: q5, op: "==", value: 3}\n'
    "          - count:\n"
    '              - {items: [q1, q2, q3], op: "==", value: 0}\n'
    "            at_least: 2\n"
    "            including_one_of: [q1]\n",
)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("at_least: 2\n            including", "at_least: 4\n            including",
         "item q4: skip: count at_least 4 is more than the 3 items counted"),
        ("including_one_of: [q1]", "including_one_of: [q5]",
         "item q4: skip: including_one_of names q5, not among the items counted"),
    ],
)  # fmt: skip
def test_a_skip_rule_whose_count_can_never_hold_is_refused(
    psyq_cli: CLI, tmp_path: Path, old: str, new: str, message: str
) -> None:
    """As a flag's count is checked: a skip rule counting more items than it lists, or
    requiring one it does not count, would never skip, and the items it was written to
    skip would be scored as missing answers instead (also nested in any/all)."""
    assert old in SKIP_BY_COUNT
    path = tmp_path / "rules.yaml"
    path.write_text(SKIP_BY_COUNT, encoding="utf-8")
    assert psyq_cli("validate", str(path)).exit_code == 0
    path.write_text(SKIP_BY_COUNT.replace(old, new), encoding="utf-8")
    result = psyq_cli("validate", str(path))
    assert result.exit_code == 2, result.output
    lines = [x for x in result.stderr.splitlines() if x.startswith("FAIL")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output
