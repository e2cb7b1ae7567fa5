"""`psyq export`: CSV and JSONL, formula neutralising, filters, de-identification."""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from click.testing import Result

from psyq.spreadsheet import neutralise

CLI = Callable[..., Result]


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("-3", "-3"),  # a plain number is data, not a formula
        ("-0.5", "-0.5"),
        ("C0042", "C0042"),
        ("", ""),
    ],
)
def test_neutralise(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe


@pytest.fixture
def filled(psyq_cli: CLI) -> CLI:
    for args in [
        ["phq9", "--client", "C0042", "--date", "2026-09-01", "--answers", "3,3,3,2,2,2,2,2,0"],
        ["phq9", "--client", "C0042", "--date", "2026-10-01", "--answers", "2,2,2,2,1,1,1,1,0"],
        ["gad7", "--client", "C0042", "--date", "2026-10-01", "--answers", "1,1,1,1,1,1,1"],
        ["phq9", "--client", "C0099", "--date", "2026-10-15", "--answers", "0,0,0,0,0,0,0,0,0"],
    ]:
        result = psyq_cli(
            "record", *args, "--clinician", "@Dr Evil", "--note", "=cmd|' /C calc'!A0"
        )
        assert result.exit_code == 0, result.output
    psyq_cli("administer", "phq9", "--client", "C0099", input="1\n1\nq\n")  # partial
    return psyq_cli


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_scores_and_answers_with_formulas_neutralised(filled: CLI) -> None:
    result = filled("export", "--instrument", "phq9")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert [(r["client_id"], r["administered"], r["score.total"]) for r in table] == [
        ("C0042", "2026-09-01", "19"),
        ("C0042", "2026-10-01", "12"),
        ("C0099", "2026-10-15", "0"),
    ]
    first = table[0]
    assert first["band.total"] == "moderately_severe"
    assert [first[f"answer.phq9_{i}"] for i in range(1, 11)] == [
        "3", "3", "3", "2", "2", "2", "2", "2", "0", ""
    ]  # fmt: skip
    assert first["clinician"] == "'@Dr Evil"
    assert first["note"] == "'=cmd|' /C calc'!A0"
    assert first["status"] == "complete"
    assert first["definition_hash"].startswith("sha256:")


def test_filters_since_and_partial(filled: CLI) -> None:
    since = rows(filled("export", "--since", "2026-10-01").stdout)
    assert [(r["instrument_id"], r["administered"]) for r in since] == [
        ("phq9", "2026-10-01"),  # by date, then in the order recorded
        ("gad7", "2026-10-01"),
        ("phq9", "2026-10-15"),
    ]
    assert since[1]["score.total"] == "7" and since[1]["answer.gad7_1"] == "1"
    assert since[1]["answer.phq9_1"] == ""  # columns are the union over instruments
    everything = rows(filled("export", "--include-partial").stdout)
    assert [r["status"] for r in everything].count("partial") == 1
    assert len(everything) == 5


def test_deidentified_csv(filled: CLI, psyq_home: Path) -> None:
    text = filled("export", "--deidentify").stdout
    table = rows(text)
    assert "clinician" not in table[0] and "note" not in table[0]
    assert "C0042" not in text and "C0099" not in text and "Evil" not in text and "calc" not in text
    ids = [r["client_id"] for r in table]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    assert all(i.startswith("x") and len(i) == 21 for i in ids)
    key = psyq_home / "deidentify.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = rows(filled("export", "--deidentify").stdout)
    assert [r["client_id"] for r in again] == ids  # same key: same pseudonyms
    key.write_text("f" * 64 + "\n")
    rekeyed = rows(filled("export", "--deidentify").stdout)
    assert rekeyed[0]["client_id"] != ids[0]


def test_jsonl_to_a_private_file(filled: CLI, tmp_path: Path) -> None:
    out = tmp_path / "export.jsonl"
    result = filled("export", "--format", "jsonl", "--deidentify", "-o", str(out))
    assert result.exit_code == 0
    assert "wrote 4 administration(s)" in result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(docs) == 4
    doc = docs[0]
    assert set(doc["administration"]) == {
        "id",
        "client_id",
        "instrument_id",
        "instrument_version",
        "definition_hash",
        "definition_source",  # null: shipped with psyq (a draft's path is left out)
        "administered",
        "status",
        "changed_outside_psyq",  # null: the record is as psyq wrote it
        "answers_changed",  # null: no answer psyq saved was replaced
    }
    assert doc["scores"]["total"]["value"] == 19
    assert doc["answers"]["phq9_1"] == 3
    plain = [json.loads(x) for x in filled("export", "--format", "jsonl").stdout.splitlines()]
    assert plain[0]["administration"]["clinician"] == "@Dr Evil"  # JSON needs no neutralising


def test_export_of_an_unknown_instrument_is_one_line(filled: CLI) -> None:
    result = filled("export", "--instrument", "nope")
    assert result.exit_code == 2 and result.stdout == ""


def test_provisional_instruments_carry_their_notice_in_csv(psyq_cli: CLI) -> None:
    answers = ",".join(["2"] * 16)
    assert psyq_cli("record", "ccts", "--client", "C0007", "--answers", answers).exit_code == 0
    assert (
        psyq_cli("record", "gad7", "--client", "C0007", "--answers", "1,1,1,1,1,1,1").exit_code == 0
    )
    table = rows(psyq_cli("export").stdout)
    by_instrument = {r["instrument_id"]: r for r in table}
    assert "no norms" in by_instrument["ccts"]["notices"]
    assert by_instrument["gad7"]["notices"] == ""


def test_deidentified_administration_ids_are_keyed_pseudonyms(filled: CLI) -> None:
    plain = rows(filled("export").stdout)
    table = rows(filled("export", "--deidentify").stdout)
    ids = [r["administration_id"] for r in table]
    assert [r["administration_id"] for r in plain] == ["1", "2", "3", "4"]
    assert all(i.startswith("a") and len(i) == 21 for i in ids) and len(set(ids)) == 4
    assert [r["administration_id"] for r in rows(filled("export", "--deidentify").stdout)] == ids


def test_date_shift_keeps_each_clients_order_and_intervals(filled: CLI) -> None:
    exact = rows(filled("export", "--deidentify").stdout)
    shifted = rows(filled("export", "--deidentify", "--date-shift").stdout)
    assert [r["client_id"] for r in shifted] == [r["client_id"] for r in exact]
    offsets: dict[str, set[int]] = {}
    for before, after in zip(exact, shifted, strict=True):
        delta = date.fromisoformat(after["administered"]) - date.fromisoformat(
            before["administered"]
        )
        offsets.setdefault(before["client_id"], set()).add(delta.days)
    for client, found in offsets.items():
        assert len(found) == 1, client  # one offset per client: intervals kept
        (days,) = found
        assert days != 0 and abs(days) <= 365
    again = rows(filled("export", "--deidentify", "--date-shift").stdout)
    assert [r["administered"] for r in again] == [r["administered"] for r in shifted]
    assert "2026-09-01" not in filled("export", "--deidentify", "--date-shift").stdout


def test_drop_dates_leaves_no_date(filled: CLI) -> None:
    text = filled("export", "--deidentify", "--drop-dates", "--format", "jsonl").stdout
    docs = [json.loads(line) for line in text.splitlines()]
    assert docs and all("administered" not in d["administration"] for d in docs)
    assert "2026-" not in text
    table = rows(filled("export", "--deidentify", "--drop-dates").stdout)
    assert "administered" not in table[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date-shift"], "give it with --deidentify"),
        (["--drop-dates"], "give it with --deidentify"),
        (["--deidentify", "--date-shift", "--drop-dates"], "not both"),
    ],
)
def test_date_options_need_deidentify(filled: CLI, args: list[str], message: str) -> None:
    result = filled("export", *args)
    assert result.exit_code == 2 and message in result.output
