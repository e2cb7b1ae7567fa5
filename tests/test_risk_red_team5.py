"""Red-team pass 5 on "never hide a risk signal": every built-in instrument with a
critical item (PHQ-9 item 9, EPDS item 10, BDI-II item 9) and a local one with two
critical items, one flagged only at its top option.

Each test is a gap found by trying the CLI: a CSV with a band of low concern beside a
critical flag and nothing in the row saying so; ``administer --resume`` ending on a
calm band after a risk was answered away; a critical item not yet reached in a saved
unfinished form named as a risk once it was answered.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from psyq.app import App
from psyq.manager import PsyqPluginManager

from .cohorts import read_csv
from .definitions import definition
from .test_redcap_batch import BRIDGE2AI, FORM, PHQ9_FIELDS, export
from .test_tablet_http import _begun, in_process

CLI = Callable[..., Result]
ONLY = "(score band only; see the safety alert)"

# Two critical items: t2 is flagged only at its top option ("Always"), t4 at any answer
# above "Never"; a band of no concern whose text would reassure.
TWO = definition(
    "twox",
    """\
    items:
      - {id: t1, text: Felt down, response_scale: freq}
      - {id: t2, text: Thoughts of ending your life, response_scale: freq, critical: true}
      - {id: t3, text: Slept badly, response_scale: freq}
      - {id: t4, text: Urges to hurt someone, response_scale: freq, critical: true}
    scales:
      - id: total
        label: TWX total
        items: [t1, t2, t3, t4]
        missing: {max_missing: 1, prorate: true}
        bands:
          - {id: none, min: 0, max: 3, label: No concern, interpretation: Nothing to worry about.}
          - {id: some, min: 4, max: 12, label: Some concern, severity: 2}
    flags:
      - id: ending_life
        level: critical
        message: The client reported thoughts of ending their life all the time. Assess today.
        when: {item: t2, op: ">=", value: 3}
      - id: hurt_others
        level: critical
        message: The client reported urges to hurt someone. Assess risk today.
        when: {item: t4, op: ">", value: 0}
    """,
    title="Two Critical Items",
    short_name="TWX",
)


@pytest.fixture
def twox(psyq_home: Path) -> str:
    folder = psyq_home / "instruments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "twox.yaml").write_text(TWO, encoding="utf-8")
    return "twox"


def rows_of(text: str) -> dict[str, dict[str, str]]:
    return {row["client_id"]: row for row in csv.DictReader(io.StringIO(text))}


def test_export_csv_says_which_band_stands_beside_a_critical_flag(psyq_cli: CLI) -> None:
    """Every other output marks "Minimal" beside item 9 "(score band only; see the safety
    alert)"; the export CSV had the bare band code ``minimal`` beside ``flag_levels``.
    ``band_beside_alert.<scale>`` says it, for each built-in critical item."""
    forms = {
        "PHQ9_MINIMAL": ("phq9", "0,0,0,0,0,0,0,0,1"),  # item 9 at its lowest non-zero
        "PHQ9_NONE": ("phq9", "0,0,0,0,0,0,0,0,0"),
        "PHQ9_SEVERE": ("phq9", "2,3,2,3,1,2,2,1,1"),  # a band of concern is no reassurance
        "EPDS10_HARDLY": ("epds", "0,0,3,0,3,3,3,3,3,2"),  # item 10 "Hardly ever": total 1
        "EPDS10_NEVER": ("epds", "0,0,3,0,3,3,3,3,3,3"),
        "BDI9_BLANK": ("bdi2", "0,0,0,0,0,0,0,0,,0,0,0,0,0,0,0,0,0,0,0,0"),  # item 9 unanswered
    }
    for client, (instrument, answers) in forms.items():
        made = psyq_cli("record", instrument, "--client", client, "--answers", answers)
        assert made.exit_code == 0, made.output
    out = psyq_cli("export")
    assert out.exit_code == 0, out.output
    header = next(csv.reader(io.StringIO(out.stdout)))
    assert header.index("band_beside_alert.total") == header.index("band.total") + 1
    rows = rows_of(out.stdout)
    got = {
        client: (row["band.total"], row["band_beside_alert.total"], row["band_beside_alert.phq2"])
        for client, row in rows.items()
    }
    assert got == {
        "PHQ9_MINIMAL": ("minimal", "true", "true"),
        "PHQ9_NONE": ("minimal", "false", "false"),
        "PHQ9_SEVERE": ("moderately_severe", "false", "false"),
        "EPDS10_HARDLY": ("below_cutoff", "true", ""),
        "EPDS10_NEVER": ("below_cutoff", "false", ""),
        "BDI9_BLANK": ("minimal", "true", ""),
    }
    assert ":critical" in rows["EPDS10_HARDLY"]["flag_levels"]


def test_export_csv_marks_the_band_of_a_form_whose_risk_was_answered_away(
    psyq_cli: CLI, twox: str
) -> None:
    """t2 answered "Always", the form left, resumed and t2 changed to "Never": the row's
    band is "No concern" with no flag in ``flag_levels``; ``answers_changed`` names the
    earlier flag, and the band beside it is the score's band only."""
    left = psyq_cli("administer", twox, "--client", "C1", input="0\n3\nq\n")
    assert "partial administration 1" in left.output, left.output
    assert psyq_cli("administer", "--resume", "1", input="b\n0\n0\n0\n").exit_code == 0
    [row] = rows_of(psyq_cli("export").stdout).values()
    assert (row["band.total"], row["flag_levels"]) == ("none", "")
    assert "CRITICAL ending_life" in row["answers_changed"]
    assert row["band_beside_alert.total"] == "true"


@pytest.mark.parametrize("columnar", ["0", "1"], ids=["per-row", "columnar"])
@pytest.mark.parametrize(
    ("instrument", "flagged", "calm"),
    [
        ("phq9", "0,0,0,0,0,0,0,0,1", "0,0,0,0,0,0,0,0,0"),
        ("epds", "0,0,3,0,3,3,3,3,3,2", "0,0,3,0,3,3,3,3,3,3"),
    ],
)
def test_batch_scores_csv_says_which_band_stands_beside_a_critical_flag(
    psyq_cli: CLI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    columnar: str,
    instrument: str,
    flagged: str,
    calm: str,
) -> None:
    """``<scale>_band_beside_alert`` (1, 0, or empty when there is no band) in both batch
    paths: a flagged row, an unanswered critical item, a calm row and a row not scored."""
    monkeypatch.setenv("PSYQ_COLUMNAR", columnar)
    n = len(calm.split(","))
    critical = 9 if instrument == "phq9" else 10
    blank = calm.split(",")
    blank[critical - 1] = ""
    head = "client_id,date," + ",".join(f"{instrument}_{k}" for k in range(1, n + 1))
    src = tmp_path / "in.csv"
    src.write_text(
        f"{head}\nFLAGGED,2026-01-02,{flagged}\nBLANK,2026-01-02,{','.join(blank)}\n"
        f"CALM,2026-01-02,{calm}\nEMPTY,2026-01-02,{',' * (n - 1)}\n"
    )
    out = tmp_path / "out"
    run = psyq_cli("batch", src, "--instrument", instrument, "--out", out, "--scores-only",
                   "--quiet")  # fmt: skip
    assert run.exit_code == 0, run.output
    text = (out / "scores.csv").read_text(encoding="utf-8")
    header = next(csv.reader(io.StringIO(text)))
    assert header.index("total_band_beside_alert") == header.index("total_band") + 1
    rows = rows_of(text)
    assert {k: r["total_band_beside_alert"] for k, r in rows.items()} == {
        "FLAGGED": "1",
        "BLANK": "1",
        "CALM": "0",
        "EMPTY": "",
    }
    if instrument == "phq9":
        assert rows["FLAGGED"]["phq2_band_beside_alert"] == "1"


def test_administer_resume_that_answers_a_risk_away_still_shows_it(
    psyq_cli: CLI, twox: str
) -> None:
    """t2 answered "Always" (ending_life), the form left, then resumed, gone back into
    and t2 changed to "Never": the screen the clinician reads when the client leaves
    showed "No concern" and no alert at all, while history names the earlier flag."""
    left = psyq_cli("administer", twox, "--client", "C1", input="0\n3\nq\n")
    assert "partial administration 1" in left.output, left.output
    done = psyq_cli("administer", "--resume", "1", input="b\n0\n0\n0\n")
    assert done.exit_code == 0, done.output
    finished = done.output.split("saved administration 1 (complete)")[1]
    assert (
        "the earlier answers raised CRITICAL (item t2): The client reported thoughts of "
        "ending their life all the time. Assess today."
    ) in finished
    assert f"No concern {ONLY}" in finished
    assert (
        "!!! CRITICAL (item t2): The client reported thoughts of ending their life all the "
        "time. Assess today. (raised by the answers as first saved, since changed: kept as "
        "answer version 1)"
    ) in finished
    assert finished.rstrip().splitlines()[-2] == (
        "!!! Review this with the client now, before they leave."
    )


def test_administer_stopped_again_after_answering_a_risk_away_still_shows_it(
    psyq_cli: CLI,
) -> None:
    """PHQ-9 item 9 answered "Nearly every day", the form left, resumed, item 9 changed
    to "Not at all" and the form left again: the stop screen said "flags from the
    answers so far: none"."""
    left = psyq_cli("administer", "phq9", "--client", "C1", input="0\n" * 8 + "3\nq\n")
    assert "partial administration 1" in left.output, left.output
    again = psyq_cli("administer", "--resume", "1", input="b\n0\nq\n")
    stop = again.output.split("flags from the answers so far:")[1]
    assert "none" not in stop.splitlines()[1], stop
    assert "!!! CRITICAL (item phq9_9): The client endorsed thoughts" in stop
    assert "(raised by the answers as first saved, since changed: kept as answer version" in stop


def test_a_critical_item_not_reached_in_a_saved_form_is_no_risk_once_answered(
    psyq_cli: CLI, twox: str
) -> None:
    """A form saved after t2 ("Sometimes": below t2's flag) with t4 not reached, resumed,
    t2 changed to "Never" and t4 answered "Never": history, clients and the resume
    screen said "the earlier answers raised CRITICAL critical_item_unanswered (item t4)"
    for an item the client was not yet asked and then answered, an alert to act on for
    nothing. A positive answer changed away is still named."""
    left = psyq_cli("administer", twox, "--client", "C1", input="0\n1\nq\n")
    assert "partial administration 1" in left.output, left.output
    done = psyq_cli("administer", "--resume", "1", input="b\n0\n0\n0\n")
    assert done.exit_code == 0, done.output
    assert "CRITICAL" not in done.output.split("saved administration 1 (complete)")[1]
    history = psyq_cli("history", "C1").output
    assert "ANSWERS CHANGED: administration 1" in history  # the change is still shown
    assert "CRITICAL" not in history and ONLY not in history
    assert "CRITICAL" not in psyq_cli("clients").output
    [entry] = json.loads(psyq_cli("history", "C1", "--json").output)
    assert "band_beside_alert" not in entry["scores"]["total"]
    assert entry["administration"]["answer_versions"][0]["critical_flags"] == []
    # t2 "Always" answered, then t2 cleared on resuming: both alerts are shown.
    left = psyq_cli("administer", twox, "--client", "C2", input="0\n3\nq\n")
    assert "partial administration 2" in left.output, left.output
    done = psyq_cli("administer", "--resume", "2", input="b\n-\ns\n0\n0\n")
    assert done.exit_code == 0, done.output
    history = psyq_cli("history", "C2").output
    assert (
        "the earlier answers raised CRITICAL (item t2): The client reported thoughts of "
        "ending their life all the time. Assess today.;"
    ) in history
    assert "CRITICAL (item t2): critical_item_unanswered" in history


@pytest.fixture
def server(psyq_pm: PsyqPluginManager, psyq_home: Path) -> Iterator[tuple[str, list[str]]]:
    """``psyq serve`` in this process, as tests/test_tablet_http.py runs it."""
    with in_process(App(psyq_pm, home=psyq_home)) as running:
        yield running


def test_kiosk_status_shows_a_risk_answered_away_on_the_tablet(
    server: tuple[str, list[str]], psyq_cli: CLI
) -> None:
    """On the tablet, PHQ-9 item 9 tapped "Nearly every day", then Back and "Not at all":
    ``kiosk status``, what the clinician reads of the session, said "complete, 10/10
    answered, no flags" while history names the earlier answers' critical flag."""
    url, terminal = server
    session_id, tablet = _begun(url, psyq_cli, "--instruments", "phq9")
    for value in (0, 0, 0, 0, 0, 0, 0, 0, 3):
        tablet.act("answer", value)
    tablet.act("back")
    assert "Question 9 of 10" in tablet.page
    tablet.act("answer", 0)
    tablet.act("answer", 0)
    assert "Thank you" in tablet.page
    # The serve terminal: the form's completion line is no "no flags" after the alert.
    [done] = [line for line in terminal if "PHQ-9 complete" in line]
    assert "no flags" not in done
    after = terminal[terminal.index(done) :]
    assert any(
        line.startswith("!!! CRITICAL (item phq9_9)") and "kept as answer version" in line
        for line in after
    ), terminal
    status = psyq_cli("kiosk", "status", str(session_id)).output
    assert "no flags" not in status, status
    assert (
        "!!! CRITICAL (item phq9_9): The client endorsed thoughts that they would be better "
        "off dead"
    ) in status
    assert "(raised by the answers as first saved, since changed: kept as answer version" in status
    [doc] = json.loads(psyq_cli("kiosk", "status", str(session_id), "--json").output)
    [earlier] = doc["forms"][0]["earlier_critical_flags"]
    assert (earlier["id"], earlier["item_ids"]) == ("suicidal_ideation", ["phq9_9"])
    german = psyq_cli("kiosk", "status", str(session_id), "--language", "de").output
    assert "aufbewahrt als Antwortversion" in german and "keine Hinweise" not in german


@pytest.mark.skipif(not BRIDGE2AI.is_file(), reason="shared corpus is not present")
def test_redcap_import_says_which_band_stands_beside_a_critical_flag(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    """``--to redcap``: redcap-import.csv carried ``phq9_psyq_total_band`` = ``minimal``
    beside item 9 "Several days" and nothing saying it is the score's band only; a REDCap
    report built on it reads as reassurance. ``_band_beside_alert`` (yesno) says it."""
    rows = [
        ["1", "baseline_arm_1", "", "", *["0"] * 8, "1", "", "2"],  # item 9 at 1, total 1
        ["2", "baseline_arm_1", "", "", *["0"] * 9, "", "2"],
    ]
    src = tmp_path / "export.csv"
    src.write_text(export(rows, PHQ9_FIELDS, FORM))
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--redcap", BRIDGE2AI, "--to",
                      "redcap", "--out", out, "--scores-only", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    imported = {r["record_id"]: r for r in read_csv(out / "redcap-import.csv")}
    got = {
        k: (r["phq9_psyq_total_band"], r["phq9_psyq_total_band_beside_alert"])
        for k, r in imported.items()
    }
    assert got == {"1": ("minimal", "1"), "2": ("minimal", "0")}
    fields = {
        r["Variable / Field Name"]: r["Field Type"]
        for r in read_csv(out / "redcap-import-dictionary.csv")
    }
    assert fields["phq9_psyq_total_band_beside_alert"] == "yesno"
