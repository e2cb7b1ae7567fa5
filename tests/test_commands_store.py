"""`psyq record`, `clients`, `history`, `rescore`, `audit` and the global `--db`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from psyq.app import App
from psyq.manager import PsyqPluginManager
from psyq.store import SCHEMA_VERSION, open_store

from .packs import DirectoryPack

CLI = Callable[..., Result]


def record(cli: CLI, *args: str) -> Result:
    result = cli("record", *args)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize(
    "answers",
    ["1,2,9", "1,2,x", "1,2,3,1,1,1,1,1,1,1,1"],
)
def test_record_validates_exactly_like_score(psyq_cli: CLI, psyq_home: Path, answers: str) -> None:
    scored = psyq_cli("score", "phq9", "--answers", answers)
    recorded = psyq_cli("record", "phq9", "--client", "C0042", "--answers", answers)
    assert recorded.exit_code == scored.exit_code == 2
    assert recorded.stderr == scored.stderr
    assert len(recorded.stderr.splitlines()) == 1
    assert not (psyq_home / "psyq.db").exists()  # nothing stored, not even an empty client


def test_record_from_a_file_and_its_mistakes(psyq_cli: CLI, tmp_path: Path) -> None:
    answers = tmp_path / "form.yaml"
    answers.write_text(
        "gad7_1: 3\ngad7_2: 2\ngad7_3: 2\ngad7_4: 1\ngad7_5: 1\ngad7_6: 0\ngad7_7: 1\n"
    )
    out = record(psyq_cli, "gad7", "--client", "C0042", "--answers-file", str(answers))
    assert out.output.startswith("saved administration 1: GAD-7 for client C0042 on ")
    assert "total" in out.output and "10" in out.output
    for args, message in [
        (["--client", "C0042"], "give the answers with --answers"),
        (["--client", "Jane", "--answers", "1,1,1,1,1,1,1"], "not a valid pseudonymous id"),
        (
            ["--client", "C0042", "--answers", "1,1,1,1,1,1,1", "--date", "2999-01-01"],
            "is in the future",
        ),
    ]:
        bad = psyq_cli("record", "gad7", *args)
        assert bad.exit_code == 2 and message in bad.stderr, bad.output


def test_clients(psyq_cli: CLI) -> None:
    assert "no clients yet" in psyq_cli("clients").output
    record(
        psyq_cli,
        "phq9",
        "--client",
        "C0042",
        "--date",
        "2026-09-01",
        "--answers",
        "1,1,1,1,1,1,1,1,1",
    )
    record(
        psyq_cli, "gad7", "--client", "C0042", "--date", "2026-09-03", "--answers", "1,1,1,1,1,1,1"
    )
    record(
        psyq_cli,
        "phq9",
        "--client",
        "B0007",
        "--date",
        "2026-08-01",
        "--answers",
        "1,1,1,1,1,1,1,1,1",
    )
    output = psyq_cli("clients").output.splitlines()
    lines = [line for line in output if not line.startswith(" ")]  # client rows
    assert lines[0].split()[:3] == ["B0007", "last", "2026-08-01"]
    # Item 9 left unanswered in the latest PHQ-9 of each: said under each client.
    assert output[1].strip().startswith("!!! CRITICAL in latest administration 3 (phq9)")
    assert lines[1].startswith("C0042") and "gad7 x1, phq9 x1" in lines[1]
    doc = json.loads(psyq_cli("clients", "--json").output)
    assert [(c["id"], c["administrations"]) for c in doc] == [("B0007", 1), ("C0042", 2)]


def test_history_text_shows_reliable_change(psyq_cli: CLI) -> None:
    for day, answers in [
        ("2026-09-01", "3,3,3,2,2,2,2,2,0"),  # 19
        ("2026-10-01", "2,2,2,2,1,1,1,1,0"),  # 12
        ("2026-11-01", "1,1,1,1,1,0,1,0,0"),  # 6
    ]:
        record(psyq_cli, "phq9", "--client", "C0042", "--date", day, "--answers", answers)
    psyq_cli("administer", "phq9", "--client", "C0042", input="1\nq\n")
    out = psyq_cli("history", "C0042").output
    lines = out.splitlines()
    assert "Patient Health Questionnaire-9 (phq9), total 0-27, lower is better" in out
    assert "reliable change: 6 points" in out
    row2 = next(line for line in lines if "2026-10-01" in line)
    assert "-7 reliable improvement" in row2
    row3 = next(line for line in lines if "2026-11-01" in line)
    assert "-6 reliable improvement*" in row3 and "-13 reliable improvement*" in row3
    assert "partial: administration 4" in out and "--resume 4" in out
    # The partial's answers so far (item 1 = 1) leave item 9 unanswered: said here too.
    assert "PARTIAL: 1 of 10 items answered" in out
    assert "CRITICAL (item phq9_9): Critical item phq9_9 was not answered" in out
    # Response and remission against the first (19): 12 is a 37 % drop, 6 a 68 % drop.
    assert "outcome" in lines[4]  # under the partial form's critical flag, which leads
    assert "no response, no remission" in row2
    assert "response, no remission" in row3 and "no response" not in row3


def test_history_outcomes_need_a_baseline(psyq_cli: CLI) -> None:
    # One PHQ-9 of 21 (not below 5): with nothing to compare it with, history must not
    # call it "no remission" or "no response"; the second (4) is both.
    record(
        psyq_cli,
        "phq9",
        "--client",
        "C0042",
        "--date",
        "2026-09-01",
        "--answers",
        "3,3,3,3,3,2,2,2,0",
    )
    out = psyq_cli("history", "C0042").output
    row1 = next(line for line in out.splitlines() if "2026-09-01" in line)
    assert "response" not in row1 and "remission" not in row1
    doc = json.loads(psyq_cli("history", "C0042", "--json").output)
    assert doc[0]["outcome"] is None
    record(
        psyq_cli,
        "phq9",
        "--client",
        "C0042",
        "--date",
        "2026-10-01",
        "--answers",
        "1,1,1,1,0,0,0,0,0",
    )
    out = psyq_cli("history", "C0042").output
    row1 = next(line for line in out.splitlines() if "2026-09-01" in line)
    row2 = next(line for line in out.splitlines() if "2026-10-01" in line)
    assert "remission" not in row1
    # (21 - 4) / 21 = 81 % >= 50 %: response; 4 < 5: remission.
    assert "response, remission" in row2
    doc = json.loads(psyq_cli("history", "C0042", "--json").output)
    assert doc[0]["outcome"] is None
    assert doc[1]["outcome"] == {"total": {"response": True, "remission": True}}


def test_history_json_who5_higher_is_better(psyq_cli: CLI) -> None:
    for day, answers in [
        ("2026-09-01", "2,2,2,1,1"),  # raw 8 -> 32
        ("2026-10-01", "3,3,3,2,2"),  # raw 13 -> 52
        ("2026-11-01", "4,4,3,3,3"),  # raw 17 -> 68
    ]:
        record(psyq_cli, "who5", "--client", "C0007", "--date", day, "--answers", answers)
    result = psyq_cli("history", "C0007", "--instrument", "who5", "--json")
    assert result.exit_code == 0
    docs = json.loads(result.output)
    assert [d["scores"]["total"]["value"] for d in docs] == [32, 52, 68]
    assert docs[0]["change"] is None
    # 10 points is WHO-5's minimal important difference, not a reliable-change value.
    assert docs[1]["change"]["total"] == {
        "delta": 20,
        "reliable": False,
        "direction": "improvement",
        "rci": None,
        "clinically_significant": None,
        "important": True,
    }
    assert docs[2]["change"]["total"]["direction"] == "improvement"
    assert docs[2]["change"]["total"]["delta"] == 16
    assert docs[2]["change_from_first"]["total"]["delta"] == 36
    assert docs[2]["administration"]["administered"] == "2026-11-01"
    assert set(docs[2]) >= {"instrument", "scores", "flags", "notices"}


def test_history_of_unknown_client(psyq_cli: CLI) -> None:
    result = psyq_cli("history", "C0404")
    assert result.exit_code == 2 and "no client 'C0404'" in result.stderr


def test_rescore_rewrites_only_stale_scores(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, psyq_home: Path
) -> None:
    record(psyq_cli, "phq9", "--client", "C0042", "--answers", "1,1,1,1,1,1,1,1,0")
    record(psyq_cli, "phq9", "--client", "C0042", "--answers", "2,2,2,2,2,2,2,2,0")
    app = App(psyq_pm, home=psyq_home)
    inst = app.instrument("phq9")
    stale = app.scorer.score(inst, {"phq9_1": 3})  # e.g. from an older scoring plugin
    with app.open_store() as store:
        store.set_scores(2, stale, "sha256:older")
    out = psyq_cli("rescore")
    assert out.exit_code == 0
    assert out.output.splitlines() == [
        "administration 2: total None -> 16 (score version 3; version 2 kept)",
        # The stale scores (item 9 unanswered) raised it; the stored answers do not.
        "  critical flag no longer raised on administration 2 (item phq9_9): Critical item "
        "phq9_9 was not answered (Thoughts that you would be better off dead or of hurting "
        "yourself in some way). Ask the client about it directly.",
        "rescored: 1 updated, 1 unchanged",
    ]
    assert psyq_cli("rescore").output.strip() == "rescored: 0 updated, 2 unchanged"
    with app.open_store() as store:
        fixed = store.get(2)
    assert fixed.result is not None and fixed.result.total.value == 16
    assert fixed.scored_with == inst.content_hash()
    assert psyq_cli("audit", "verify").exit_code == 0  # rescoring is an audited write


def test_audit_verify_catches_an_answer_changed_with_sqlite(psyq_cli: CLI, psyq_home: Path) -> None:
    record(
        psyq_cli,
        "phq9",
        "--client",
        "C0042",
        "--date",
        "2026-09-01",
        "--answers",
        "3,3,3,2,2,0,0,0,0",
    )
    record(
        psyq_cli,
        "phq9",
        "--client",
        "C0042",
        "--date",
        "2026-10-01",
        "--answers",
        "1,1,1,1,1,0,0,0,0",
    )
    ok = psyq_cli("audit", "verify")
    # The key entry, one per schema migration, then the client and the two administrations.
    entries = SCHEMA_VERSION + 4
    assert ok.exit_code == 0 and ok.output.startswith(f"audit OK: {entries} entries, 3 records")

    conn = sqlite3.connect(psyq_home / "psyq.db")
    conn.execute(
        "UPDATE administrations SET answers = replace(answers, '\"phq9_2\":1', '\"phq9_2\":0') "
        "WHERE id = 2"
    )
    conn.commit()
    conn.close()
    bad = psyq_cli("audit", "verify")
    assert bad.exit_code == 1
    assert bad.stderr.startswith("psyq: audit FAILED: administration 2: stored content")
    assert f"audit entry #{entries}" in bad.stderr  # key, migrations, client, 2 records

    log = psyq_cli("audit", "log", "--record", "administration 2").output.splitlines()
    assert len(log) == 1 and log[0].split()[0] == str(entries)
    assert log[0].split()[-3:-1] == ["administration", "2"]


def test_global_db_option(psyq_cli: CLI, psyq_home: Path, tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "clinic.db"
    saved = psyq_cli(
        "--db", str(db), "record", "phq9", "--client", "C0042", "--answers", "1,1,1,1,1,1,1,1,1"
    )
    assert saved.exit_code == 0, saved.output
    assert db.exists() and not (psyq_home / "psyq.db").exists()
    with open_store(db) as store:
        assert [a.client_id for a in store.administrations()] == ["C0042"]
    assert "C0042" in psyq_cli("--db", str(db), "clients").output


def test_changed_definition_rescore_and_resume(
    psyq_cli: CLI,
    psyq_register: Callable[..., object],
    psyq_home: Path,
    tmp_path: Path,
    minimal_yaml: str,
) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    definition = pack / "mini.yaml"
    definition.write_text(minimal_yaml)
    psyq_register(DirectoryPack("mini pack", pack), "mini-pack")
    record(psyq_cli, "mini", "--client", "C0042", "--answers", "1,1,2")  # 1 + 1 + (2-2) = 2
    psyq_cli("administer", "mini", "--client", "C0042", input="1\nq\n")
    with open_store(psyq_home / "psyq.db") as store:
        before = store.get(1)
    assert before.result is not None and before.result.total.band == "low"

    # A new version of the definition moves the band boundary: stored scores are stale.
    definition.write_text(
        minimal_yaml.replace('version: "1"', 'version: "2"')
        .replace("min: 0, max: 2}", "min: 0, max: 1}")
        .replace("min: 3, max: 6", "min: 2, max: 6")
    )
    out = psyq_cli("rescore")
    assert out.exit_code == 0, out.output
    assert "rescored: 2 updated, 0 unchanged" in out.output
    with open_store(psyq_home / "psyq.db") as store:
        after = store.get(1)
    assert after.result is not None and after.result.total.band == "high"
    assert after.definition_hash == before.definition_hash  # what was answered is unchanged
    assert after.scored_with != before.scored_with
    assert after.answers == before.answers
    resumed = psyq_cli("administer", "--resume", "2", input="1\n1\n")
    assert resumed.exit_code == 2
    assert "has changed since; it cannot be resumed" in resumed.stderr
    assert psyq_cli("audit", "verify").exit_code == 0


def test_history_text_shows_every_scale_and_the_provisional_notice(psyq_cli: CLI) -> None:
    for day, answers in [("2026-01-01", "1," * 15 + "1"), ("2026-02-01", "3," * 15 + "3")]:
        record(psyq_cli, "ccts", "--client", "C0001", "--date", day, "--answers", answers)
    out = psyq_cli("history", "C0001").output
    assert "no reliable-change criterion, so no change is called reliable" in out
    assert out.count("NOTE: Provisional instrument") == 1
    rows = [line.split() for line in out.splitlines() if line.startswith("      ")]
    assert [r[0] for r in rows[-4:]] == ["putting_first", "protecting", "deflecting", "helper_role"]
    assert all("deterioration" in r and "reliable" not in r for r in rows[-4:])
