"""Risk signals of shapes the built-in instruments do not have, through the CLI.

A local definition with several critical items (one reverse-keyed, one recoded, one
behind a skip rule) and critical flags of other shapes, and the texts shown beside them.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.definitions import definition

CLI = Callable[..., Result]

SLEEP = definition(
    "sleeprisk",
    title="Sleep and risk check (test)",
    short_name="SLR",
    version="1.0",
    body="""\
items:
  - {id: s1, text: slept badly?, response_scale: freq}
  - {id: s2, text: woke early?, response_scale: freq}
  - {id: s3, text: thought of ending your life?, response_scale: freq, critical: true}
scales:
  - id: total
    label: Total
    items: [s1, s2, s3]
    missing: {max_missing: 1}
    bands:
      - id: none
        label: Little or none
        min: 0
        max: 4
        severity: 0
        interpretation: No sleep problem; nothing to do.
        if_flagged:
          - flags: [early_waking]
            text: Sleeps well overall; early waking noted, no action needed.
      - {id: some, label: Some, min: 5, max: 9, severity: 2}
flags:
  - id: early_waking
    level: warning
    message: Wakes early always.
    when: {item: s2, op: "==", value: 3}
  - id: ending_life
    level: critical
    message: Thoughts of ending their life; assess risk today.
    when: {item: s3, op: ">", value: 0}
""",
)


def report_text(psyq_cli: CLI, tmp_path: Path, definition: str, answers: str) -> str:
    path = tmp_path / "inst.yaml"
    path.write_text(definition, encoding="utf-8")
    out = tmp_path / "r.html"
    answered = ("--answers", answers, "--client", "C1")
    result = psyq_cli("report", str(path), *answered, "-o", out, "--force")  # one file, reused
    assert result.exit_code == 0, result.output
    text = re.sub(r"<(style|svg)\b.*?</\1>", " ", out.read_text(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def test_a_text_written_for_a_lesser_flag_never_reassures_beside_a_critical_one(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    from psyq.models import WITHHELD_INTERPRETATION

    # s2 = 3 raises the warning and s3 = 1 the critical flag; total 4 is "none".
    text = report_text(psyq_cli, tmp_path, SLEEP, "0,3,1")
    assert "Thoughts of ending their life" in text
    assert "no action needed" not in text and "nothing to do" not in text
    assert WITHHELD_INTERPRETATION in text
    # A text that names the critical flag is used: it was written for it.
    named = SLEEP.replace(
        "no action needed.\n",
        "no action needed.\n"
        "          - {flags: [ending_life], text: but see the risk flag first.}\n",
    )
    text = report_text(psyq_cli, tmp_path, named, "0,3,1")
    assert "but see the risk flag first" in text and "no action needed" not in text
    # Without the critical flag the warning's own text stands.
    text = report_text(psyq_cli, tmp_path, SLEEP, "0,3,0")
    assert "early waking noted, no action needed" in text
    # The same through an unanswered critical item (critical_item_unanswered).
    text = report_text(psyq_cli, tmp_path, SLEEP, "0,3,-")
    assert "no action needed" not in text and WITHHELD_INTERPRETATION in text


def html_text(path: Path) -> str:
    text = re.sub(r"<(style|svg)\b.*?</\1>", " ", path.read_text(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def test_latest_report_names_a_later_unfinished_form_with_a_risk_signal(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    # A complete PHQ-9 with nothing endorsed, then a form stopped after item 9 = 3:
    # the latest complete one is reported, but never as if nothing followed it.
    record = ("record", "phq9", "--client", "C0020", "--date", "2026-09-01")
    assert psyq_cli(*record, "--answers", "0,0,0,0,0,0,0,0,0").exit_code == 0
    stopped = psyq_cli("administer", "phq9", "--client", "C0020", input="0\n" * 8 + "3\nq\n")
    assert "partial administration 2" in stopped.output
    for k, args in enumerate((("phq9", "--client", "C0020"), ("--client", "C0020"))):
        out = tmp_path / f"latest{k}.html"
        result = psyq_cli("report", *args, "--latest", "-o", out)
        assert result.exit_code == 0, result.output
        text = html_text(out)
        assert "2026-09-01" in text and "Safety alert" in text
        assert "unfinished administration 2" in text
        assert "The client endorsed thoughts that they would be better off dead" in text
        assert "No treatment action indicated" not in text  # no reassurance beside it
        assert "later partial administration 2 (PHQ-9, " in result.stderr
        assert "(item phq9_9): suicidal_ideation; total" in result.stderr
        data = tmp_path / f"latest{k}.json"
        assert psyq_cli("report", *args, "--latest", "-o", data).exit_code == 0
        [later] = json.loads(data.read_text())["report"]["later_critical"]
        assert later["administration_id"] == 2 and later["status"] == "partial"
        assert [f["id"] for f in later["flags"]] == ["suicidal_ideation"]
    # Nor is a remission claimed beside it (a first form of 20, then this one of 0).
    earlier = ("record", "phq9", "--client", "C0020", "--date", "2026-08-01")
    assert psyq_cli(*earlier, "--answers", "3,3,2,2,2,2,2,2,2").exit_code == 0
    out = tmp_path / "trend.html"
    assert psyq_cli("report", "phq9", "--client", "C0020", "--latest", "-o", out).exit_code == 0
    text = html_text(out)
    assert "remission (below 5): not claimed" in text and "remission (below 5): yes" not in text
    # The form finished with item 9 taken back to 0: its earlier answer's flag is named
    # and still no remission is claimed beside it.
    resumed = psyq_cli("administer", "--resume", "2", input="b\n0\n0\n")
    assert resumed.exit_code == 0, resumed.output
    out = tmp_path / "after.html"
    assert psyq_cli("report", "phq9", "--client", "C0020", "--latest", "-o", out).exit_code == 0
    text = html_text(out)
    assert "unfinished administration" not in text
    assert "The earlier answers raised a critical flag: The client endorsed thoughts" in text
    assert "remission (below 5): not claimed" in text
    # A later form with nothing raising a flag: the text stands.
    later = ("record", "phq9", "--client", "C0020")  # today, after the resumed form
    assert psyq_cli(*later, "--answers", "0,0,0,0,0,0,0,0,0").exit_code == 0
    out = tmp_path / "later.html"
    assert psyq_cli("report", "phq9", "--client", "C0020", "--latest", "-o", out).exit_code == 0
    text = html_text(out)
    assert "unfinished administration" not in text and "Safety alert" not in text
    assert "remission (below 5): yes" in text


def test_remission_is_never_claimed_beside_a_critical_flag(psyq_cli: CLI, tmp_path: Path) -> None:
    # 20 -> 3 is a response and, by the total, a remission (below 5, Kroenke & Spitzer
    # 2002); but item 9 is at 3: the form is not called a remission while it stands.
    record = ("record", "phq9", "--client", "C0040")
    assert (
        psyq_cli(*record, "--date", "2026-09-01", "--answers", "3,3,2,2,2,2,2,2,2").exit_code == 0
    )
    assert (
        psyq_cli(*record, "--date", "2026-10-01", "--answers", "0,0,0,0,0,0,0,0,3").exit_code == 0
    )
    history = psyq_cli("history", "C0040").output
    [row] = [line for line in history.splitlines() if "2026-10-01" in line]
    assert "CRITICAL (item phq9_9): suicidal_ideation" in row and "response" in row
    assert "response, remission withheld (critical flag)" in row
    out = tmp_path / "r.html"
    assert psyq_cli("report", "--administration", "2", "-o", out).exit_code == 0
    text = html_text(out)
    assert "remission (below 5): yes" not in text
    assert "remission (below 5): not claimed: the total is below 5, but a critical flag" in text
    # Without the flag the manual's criterion is reported as it stands.
    assert (
        psyq_cli(*record, "--date", "2026-11-01", "--answers", "0,0,0,0,0,0,0,0,0").exit_code == 0
    )
    [row] = [
        line for line in psyq_cli("history", "C0040").output.splitlines() if "2026-11-01" in line
    ]
    assert "response, remission" in row
    out = tmp_path / "r3.html"
    assert psyq_cli("report", "--administration", "3", "-o", out).exit_code == 0
    assert "remission (below 5): yes" in html_text(out)


TWO_CRITICAL = definition(
    "twocrit",
    title="Two critical items (test)",
    short_name="TWO",
    version="1.0",
    levels=3,
    missing={9: "Prefer not to say"},
    body="""\
items:
  - {id: t1, text: felt low?, response_scale: freq}
  - {id: t2, text: thought of self-harm?, response_scale: freq, critical: true}
  - {id: t3, text: slept badly?, response_scale: freq}
  - {id: t4, text: thought of ending your life?, response_scale: freq, critical: true}
scales:
  - {id: total, label: Total, items: [t1, t2, t3, t4], missing: {max_missing: 1}}
""",
)


def critical_flags(psyq_cli: CLI, definition: Path, answers: str) -> list[tuple[str, str]]:
    result = psyq_cli("score", str(definition), "--answers", answers, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    return [(f["id"], f["item"]) for f in doc["flags"] if f["level"] == "critical"]


def test_critical_items_survive_a_round_trip_through_a_redcap_dictionary(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    # psyq's own dictionary carries the critical items as a CRITICAL calc; reading it
    # back must keep them critical, or the draft scores a blank item 9 in silence.
    original = tmp_path / "twocrit.yaml"
    original.write_text(TWO_CRITICAL, encoding="utf-8")
    for n, (source, critical) in enumerate(((str(original), ["t2", "t4"]), ("phq9", ["phq9_9"]))):
        dictionary = tmp_path / f"dictionary{n}.csv"
        assert psyq_cli("compile", source, "--to", "redcap", "-o", dictionary).exit_code == 0
        draft = tmp_path / f"draft{n}.yaml"
        made = psyq_cli("import-redcap", dictionary, "--id", "draft", "-o", draft)
        assert made.exit_code == 0, made.output
        assert psyq_cli("validate", str(draft)).exit_code == 0
        import yaml

        items = yaml.safe_load(draft.read_text())["items"]
        assert [i["id"] for i in items if i.get("critical")] == critical
        if source == "phq9":
            blank = critical_flags(psyq_cli, draft, "1,1,1,1,1,1,1,1,,")
            assert ("critical_item_unanswered", "phq9_9") in blank
        else:
            assert critical_flags(psyq_cli, draft, "0,9,0,0") == [
                ("critical_item_unanswered", "t2")
            ]
            assert critical_flags(psyq_cli, draft, "0,0,0,") == [("critical_item_unanswered", "t4")]


def test_validate_names_numbers_given_without_a_source(psyq_cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "unsourced.yaml"
    path.write_text(
        TWO_CRITICAL.replace(
            "missing: {max_missing: 1}}",
            "missing: {max_missing: 1}, reliable_change: {threshold: 2},"
            " outcomes: {remission_below: 2}}",
        ),
        encoding="utf-8",
    )
    result = psyq_cli("validate", str(path))
    assert result.exit_code == 0, result.output  # a note, not a refusal
    assert "scale total: reliable_change gives no source" in result.stderr
    assert "scale total: outcomes gives no source" in result.stderr
    assert "scale total: missing gives no source" in result.stderr
    sourced = path.read_text().replace("threshold: 2}", "threshold: 2, source: our own pilot}")
    sourced = sourced.replace("{max_missing: 1}", "{max_missing: 1, source: our convention}")
    path.write_text(sourced.replace("remission_below: 2}", "remission_below: 2, source: X}"))
    result = psyq_cli("validate", str(path))
    assert result.exit_code == 0 and "no source" not in result.output
    # The built-in library cites every such number.
    assert "no source" not in psyq_cli("validate").output


def test_a_definition_text_cannot_erase_a_flag_line_on_the_terminal(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    # CR then "erase line" (ESC [2K) in a flag message: on a terminal the line
    # "!!! CRITICAL (item s3): ..." would be replaced by "All fine".
    hostile = SLEEP.replace(
        "message: Thoughts of ending their life; assess risk today.",
        'message: "Thoughts of ending their life.\\r\\e[2KAll fine."',
    )
    path = tmp_path / "hostile.yaml"
    for text in (
        hostile,
        SLEEP.replace("title: Sleep and risk check (test)", 'title: "Sleep\\e[8m check"'),
        hostile.replace("\\r\\e[2K", "\\x9b2K"),
    ):
        path.write_text(text, encoding="utf-8")
        checked = psyq_cli("validate", str(path))
        assert checked.exit_code == 2, checked.output
        assert "control character" in checked.stderr and str(path) in checked.stderr
        scored = psyq_cli("score", str(path), "--answers", "0,3,1")
        assert scored.exit_code == 2 and "Traceback" not in scored.output
        assert "All fine" not in scored.stdout
    # Line breaks and tabs in a text are fine.
    path.write_text(SLEEP.replace("woke early?", '"woke\\tearly,\\nor late?"'), encoding="utf-8")
    assert psyq_cli("validate", str(path)).exit_code == 0


def test_a_draft_imported_with_terminal_escapes_is_never_used(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    compiled = tmp_path / "q.json"
    assert psyq_cli("compile", "phq9", "--to", "fhir", "-o", compiled).exit_code == 0
    questionnaire = json.loads(compiled.read_text())
    questionnaire["item"][8]["text"] = "Thoughts of self-harm\u001b[2K"
    compiled.write_text(json.dumps(questionnaire))
    draft = tmp_path / "draft.yaml"
    assert psyq_cli("import-fhir", compiled, "-o", draft).exit_code == 0
    for command in (("validate", str(draft)), ("score", str(draft), "--answers", "0,0,0")):
        result = psyq_cli(*command)
        assert result.exit_code == 2 and "control character U+001B" in result.stderr
        assert "Traceback" not in result.output
