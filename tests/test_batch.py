"""`psyq batch` end to end through the command line: outputs, errors, exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from psyq import hookimpl
from psyq.batch.executors import BatchExecutor, ExecutorSettings
from psyq.manager import PsyqPluginManager
from psyq.registry import InstrumentRegistry
from psyq.scoring import Scorer

from .cohorts import PHQ9_ITEMS, phq9_rows, read_csv, write_csv
from .conftest import SHARED
from .installed import installed_broken_plugin

CLI = Callable[..., Result]

# shared/ sits beside the clone in CI; a git worktree one level deeper finds it here.
REDCAP_GAD7 = next(
    (
        base / "corpus/redcap/reproschema-py__example_redcap_output_redcap.csv"
        for base in (SHARED, SHARED.parent.parent / "shared")
        if (base / "corpus/redcap").is_dir()
    ),
    SHARED / "corpus/redcap/reproschema-py__example_redcap_output_redcap.csv",
)


def expected_total(pm: PsyqPluginManager, row: dict[str, str]) -> str:
    """The total psyq's scorer gives one row, computed without the batch machinery."""
    inst = InstrumentRegistry(pm).get("phq9")
    result = Scorer(pm).score(inst, {i: row[i] for i in PHQ9_ITEMS})
    value = result.total.value
    return "" if value is None else str(value)


def test_sixty_rows_two_bad_give_58_reports_and_exit_1(
    psyq_cli: CLI, psyq_pm: PsyqPluginManager, tmp_path: Path
) -> None:
    rows = phq9_rows(60, bad={10: ("phq9_4", "7"), 40: ("phq9_1", "x")})
    src = write_csv(tmp_path / "cohort.csv", rows)
    out = tmp_path / "out"
    result = psyq_cli(
        "batch",
        "--summary",
        "html",
        str(src),
        "--instrument",
        "phq9",
        "--out",
        str(out),
        "--format",
        "json",
        "--jobs",
        "2",
    )
    assert result.exit_code == 1, result.output
    reports = sorted((out / "reports").iterdir())
    assert len(reports) == 58
    errors = read_csv(out / "errors.csv")
    # Rows are numbered by their line: the header is row 1, rows[k] is row k + 2.
    assert [(e["row"], e["client_id"]) for e in errors] == [("12", "C0010"), ("42", "C0040")]
    assert "phq9_4: '7' is not an allowed answer" in errors[0]["reason"]
    assert "phq9_1: 'x'" in errors[1]["reason"]
    scores = read_csv(out / "scores.csv")
    assert len(scores) == 58
    good = [r for k, r in enumerate(rows) if k not in (10, 40)]
    assert [s["client_id"] for s in scores] == [r["client_id"] for r in good]
    assert [s["total"] for s in scores] == [expected_total(psyq_pm, r) for r in good]
    # Worked by hand, so a bug shared by the batch and the scorer cannot pass: PHQ-9 is
    # the sum of items 1-9; with one or two missing, sum x 9 / answered, rounded half up.
    hand = {
        "C0000": ("2,1,3,1,3,3,3,2,0", "18"),  # 18, all answered
        "C0001": ("1,0,3,0,0,0,1,1,0", "6"),
        "C0003": ("1,0,1,,0,0,2,2,1", "8"),  # 7 x 9 / 8 = 7.875 -> 8
        "C0020": ("0,1,,0,2,1,1,3,3", "12"),  # 11 x 9 / 8 = 12.375 -> 12
    }
    by_client = {s["client_id"]: s["total"] for s in scores}
    for client, (answers, total) in hand.items():
        assert ",".join(rows[int(client[1:])][i] for i in PHQ9_ITEMS) == answers
        assert by_client[client] == total, client
    doc = json.loads((out / "reports" / "C0000_phq9_2024-01-01.json").read_text())
    assert doc["scores"]["total"]["value"] == int(scores[0]["total"])
    assert doc["report"]["client_id"] == "C0000"
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["rows"], summary["scored"], summary["failed"]) == (60, 58, 2)
    assert sum(summary["bands"]["total"].values()) == 58
    # Every row with a flag of any level (PHQ-9 algorithm screening results included).
    flagged = sum(1 for s in scores if s["flags"])
    assert summary["flagged"] == flagged > sum(1 for s in scores if "suicidal" in s["flags"]) > 0


def test_all_good_rows_exit_0_with_scores_flags_and_cohort_summary(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    rows = phq9_rows(8)
    rows[0].update({k: "1" for k in PHQ9_ITEMS} | {"phq9_1": "2", "phq9_9": "0"})  # 9: mild
    rows[1].update({k: "0" for k in PHQ9_ITEMS} | {"phq9_9": "2"})  # 2: minimal, critical
    src = write_csv(tmp_path / "c.csv", rows)
    out = tmp_path / "out"
    result = psyq_cli(
        "batch",
        "--summary",
        "html",
        str(src),
        "--instrument",
        "phq9",
        "--out",
        str(out),
        "--scores-only",
        "--jobs",
        "1",
    )
    assert result.exit_code == 0, result.output
    scores = read_csv(out / "scores.csv")
    assert (scores[0]["total"], scores[0]["total_band"], scores[0]["flags"]) == ("9", "mild", "")
    assert (scores[1]["total"], scores[1]["flags"]) == ("2", "suicidal_ideation")
    assert not (out / "reports").exists() or not any((out / "reports").iterdir())
    html = (out / "cohort-summary.html").read_text()
    assert "<svg" in html and "Mild" in html
    # The flagged respondent is listed before everyone else.
    table = html[html.index("<h2>Respondents") :]
    assert table.index("C0001") < min(table.index(f"C000{k}") for k in (0, 2, 3))
    assert read_csv(out / "errors.csv") == []


def test_non_empty_out_dir_is_refused_unless_forced(psyq_cli: CLI, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "c.csv", phq9_rows(3))
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = [
        "batch",
        "--summary",
        "html",
        str(src),
        "--instrument",
        "phq9",
        "--out",
        str(out),
        "--scores-only",
        "--jobs",
        "1",
    ]
    refused = psyq_cli(*args)
    assert refused.exit_code == 2
    assert "directory is not empty" in refused.output and "--force" in refused.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert psyq_cli(*args, "--force").exit_code == 0
    assert len(read_csv(out / "scores.csv")) == 3
    # A finished batch is not empty either: running again is refused too.
    assert psyq_cli(*args).exit_code == 2


def test_missing_item_columns_exit_2_naming_them_before_any_work(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    rows = [{k: v for k, v in r.items() if k not in ("phq9_3", "phq9_7")} for r in phq9_rows(4)]
    src = write_csv(tmp_path / "c.csv", rows)
    out = tmp_path / "out"
    result = psyq_cli(
        "batch", "--summary", "html", str(src), "--instrument", "phq9", "--out", str(out)
    )
    assert result.exit_code == 2
    line = result.output.strip()
    assert line == f"psyq: error: {src}: missing item columns for PHQ-9: phq9_3, phq9_7"
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--instrument", "nope"], "nope"),
        (["--format", "nope"], "unknown output format 'nope'"),
        (["--executor", "nope"], "unknown executor 'nope'; available: dask, local"),
    ],
)
def test_unusable_requests_exit_2(
    psyq_cli: CLI, tmp_path: Path, args: list[str], message: str
) -> None:
    src = write_csv(tmp_path / "c.csv", phq9_rows(2))
    base = ["batch", "--summary", "html", str(src), "--out", str(tmp_path / "out")]
    if "--instrument" not in args:
        base += ["--instrument", "phq9"]
    result = psyq_cli(*base, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_unreadable_and_unknown_column_inputs_exit_2(psyq_cli: CLI, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    missing = psyq_cli(
        "batch",
        "--summary",
        "html",
        str(tmp_path / "none.csv"),
        "--instrument",
        "phq9",
        "--out",
        out,
    )
    assert missing.exit_code == 2 and "none.csv: cannot read input" in missing.output
    rows = [r | {"notes": "x"} for r in phq9_rows(2)]
    src = write_csv(tmp_path / "extra.csv", rows)
    extra = psyq_cli("batch", "--summary", "html", str(src), "--instrument", "phq9", "--out", out)
    assert extra.exit_code == 2
    assert "'notes' are not items of PHQ-9" in extra.output
    assert "--ignore-extra-columns" in extra.output


def test_stdin_csv_with_bom(psyq_cli: CLI, tmp_path: Path) -> None:
    rows = phq9_rows(5)
    src = write_csv(tmp_path / "c.csv", rows, bom=True)
    out = tmp_path / "out"
    result = psyq_cli(
        "batch",
        "--summary",
        "html",
        "-",
        "--instrument",
        "phq9",
        "--out",
        str(out),
        "--format",
        "table",
        "--jobs",
        "1",
        input=src.read_bytes(),
    )
    assert result.exit_code == 0, result.output
    assert [s["client_id"] for s in read_csv(out / "scores.csv")] == [r["client_id"] for r in rows]
    assert json.loads((out / "summary.json").read_text())["input"] == "<stdin>"
    text = (out / "reports" / "C0000_phq9_2024-01-01.txt").read_text()
    assert text.startswith("Patient Health Questionnaire-9") and "client C0000" in text


def test_jsonl_rows_with_bad_lines_names_and_unsafe_cells(psyq_cli: CLI, tmp_path: Path) -> None:
    answers = {k: 1 for k in PHQ9_ITEMS}
    lines = [
        json.dumps({"client_id": "=cmd|' /C calc'!A0", "date": "2024-05-01", **answers}),
        "{not json",
        json.dumps({"client_id": "Zoë/../x", "date": "2024-05-01", **answers}),
        json.dumps({"client_id": "zoe-..-x", "date": "2024-05-01", **answers}),
        json.dumps({"client_id": "C9", "date": "May 1st", **answers}),
        json.dumps({"client_id": "", **answers}),
    ]
    src = tmp_path / "c.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = psyq_cli(
        "batch",
        "--summary",
        "html",
        str(src),
        "--instrument",
        "phq9",
        "--out",
        str(out),
        "--format",
        "json",
        "--jobs",
        "1",
    )
    assert result.exit_code == 1
    errors = {e["row"]: e["reason"] for e in read_csv(out / "errors.csv")}
    assert errors.keys() == {"2", "5", "6"}
    assert errors["2"].startswith("row 2: not valid JSON")
    # Item 9 is 1 on every row: a row not scored still names it (never only in the input).
    critical = "CRITICAL item phq9_9 answered 1 (Several days): act on it. "
    assert errors["5"] == f"row 5: {critical}Date 'May 1st' is not a date; use YYYY-MM-DD"
    assert errors["6"] == f"row 6: {critical}The client id is empty"
    scores = read_csv(out / "scores.csv")
    assert scores[0]["client_id"] == "'=cmd|' /C calc'!A0"  # never a live formula
    names = sorted(p.name for p in (out / "reports").iterdir())
    # Unsafe characters become '-', accents fold, and a case-only clash gets '-2'.
    assert names == [
        "Zoe-..-x_phq9_2024-05-01.json",
        "cmd-C-calc-A0_phq9_2024-05-01.json",
        "zoe-..-x_phq9_2024-05-01-2.json",
    ]


def test_jsonl_item_absent_from_every_object_is_a_missing_column(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"client_id": "a", "phq9_1": 1}) + "\n", encoding="utf-8")
    result = psyq_cli(
        "batch", "--summary", "html", str(src), "--instrument", "phq9", "--out", str(tmp_path / "o")
    )
    assert result.exit_code == 2
    assert "missing item keys for PHQ-9: phq9_2, phq9_3" in result.output


@pytest.mark.skipif(not REDCAP_GAD7.is_file(), reason="../shared/corpus is not present")
def test_redcap_export_of_gad7(psyq_cli: CLI, tmp_path: Path) -> None:
    """A real REDCap export (ReproSchema example): gad7_1..7 = 1,0,1,1,3,1,2, total 9."""
    out = tmp_path / "out"
    result = psyq_cli(
        "batch", "--summary", "html", str(REDCAP_GAD7), "--instrument", "gad7", "--out", str(out),
        "--id-column", "record_id", "--date-column", "GAD7_schema_start_time",
        "--ignore-extra-columns", "--format", "json", "--jobs", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = read_csv(out / "scores.csv")
    assert row["client_id"] == "reproschema_ui_to_redcap_example"
    assert (row["date"], row["total"], row["total_band"]) == (
        "2025-02-24T16:55:03.139Z",
        "9",
        "mild",
    )
    doc = json.loads(
        (
            out / "reports" / "reproschema_ui_to_redcap_example_gad7_2025-02-24T16-55-03.139Z.json"
        ).read_text()
    )
    assert doc["report"]["administered"] == "2025-02-24"


class _SerialRunner:
    def __init__(self, calls: list[int]) -> None:
        self.calls = calls

    def run(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        for job in jobs:
            self.calls.append(len(getattr(job, "rows", ())))
            yield fn(job)


class _SerialExecutorPlugin:
    def __init__(self, name: str = "serial") -> None:
        self.name = name
        self.calls: list[int] = []

    @hookimpl
    def psyq_batch_executors(self) -> list[BatchExecutor]:
        @contextmanager
        def open_serial(settings: ExecutorSettings) -> Iterator[_SerialRunner]:
            yield _SerialRunner(self.calls)

        return [BatchExecutor(self.name, open_serial, "every chunk in this process")]


def test_psyq_batch_executors_plugin_runs_the_chunks(
    psyq_cli: CLI, psyq_register: Callable[..., object], tmp_path: Path
) -> None:
    plugin = _SerialExecutorPlugin()
    psyq_register(plugin, name="serial-executor")
    src = write_csv(tmp_path / "c.csv", phq9_rows(10))
    out = tmp_path / "out"
    result = psyq_cli("batch", "--summary", "html", str(src), "--instrument", "phq9",
                      "--out", str(out), "--scores-only", "--chunk-size", "4",
                      "--executor", "serial")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert plugin.calls == [4, 4, 2]
    assert json.loads((out / "summary.json").read_text())["executor"] == "serial"
    assert len(read_csv(out / "scores.csv")) == 10


def test_psyq_batch_executors_duplicate_name_is_an_error(
    psyq_cli: CLI, psyq_register: Callable[..., object], tmp_path: Path
) -> None:
    psyq_register(_SerialExecutorPlugin("local"), name="second-local")
    src = write_csv(tmp_path / "c.csv", phq9_rows(2))
    result = psyq_cli("batch", str(src), "--instrument", "phq9", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "plugin 'second-local' provides batch executor 'local', which" in result.output


def test_bundled_sample_cohort(psyq_cli: CLI, tmp_path: Path) -> None:
    sample = Path(str(resources.files("psyq.instruments") / "samples" / "phq9-cohort.csv"))
    out = tmp_path / "out"
    result = psyq_cli("batch", "--summary", "html", str(sample), "--instrument", "phq9",
                      "--out", str(out), "--scores-only", "--jobs", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = {s["client_id"]: s for s in read_csv(out / "scores.csv")}
    assert len(scores) == 12
    # demo-105 skipped item 5: 10 from 8 answers, prorated to 10 x 9 / 8 = 11.25 -> 11.
    assert (scores["demo-105"]["total"], scores["demo-105"]["total_band"]) == ("11", "moderate")
    critical = sorted(c for c, s in scores.items() if "suicidal_ideation" in s["flags"])
    assert critical == ["demo-103", "demo-107", "demo-111"]


def test_provisional_cohort_carries_notices_and_counts_only_banded_scales(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    header = ["client_id"] + [f"ccts2_{i:02d}" for i in range(1, 17)]
    lines = [",".join(header)] + [
        ",".join([f"c-{k}1"] + [str((k + i) % 5) for i in range(16)]) for k in range(5)
    ]
    src = tmp_path / "ccts.csv"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = psyq_cli("batch", str(src), "--instrument", "ccts", "--out", str(out),
                      "--scores-only", "--summary", "html", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["instrument"]["status"] == "provisional"
    assert any("no norms" in n for n in summary["notices"])
    # CCTS v0.2 has no bands at all (no cut-offs until data exist): nothing is counted.
    assert summary["bands"] == {}
    assert "no norms" in (out / "cohort-summary.html").read_text()


def test_deeply_nested_jsonl_line_is_a_bad_row_not_a_crash(psyq_cli: CLI, tmp_path: Path) -> None:
    answers = {k: 1 for k in PHQ9_ITEMS}
    lines = [
        json.dumps({"client_id": "C1", **answers}),
        "[" * 200_000 + "]" * 200_000,
        json.dumps({"client_id": "C3", **answers}),
    ]
    src = tmp_path / "deep.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = psyq_cli("batch", str(src), "--instrument", "phq9", "--out", str(out),
                      "--scores-only", "--summary", "html", "--jobs", "1", "--quiet")  # fmt: skip
    assert result.exit_code == 1
    errors = {e["row"]: e["reason"] for e in read_csv(out / "errors.csv")}
    assert list(errors) == ["2"] and "nested too deeply" in errors["2"]
    assert [r["client_id"] for r in read_csv(out / "scores.csv")] == ["C1", "C3"]


def test_broken_plugin_warns_once_not_once_per_worker(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = installed_broken_plugin(tmp_path, "raise RuntimeError('boom')\n")
    src = write_csv(tmp_path / "c.csv", phq9_rows(40))
    run = subprocess.run(
        [sys.executable, "-m", "psyq", "batch", str(src), "--instrument", "phq9", "--out",
         str(tmp_path / "out"), "--format", "json", "--jobs", "2", "--chunk-size", "5",
         "--summary", "html"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "broken_demo" in line]
    assert len(warnings) == 1, run.stderr


@pytest.mark.parametrize("columnar", ["1", "0"])
def test_scores_csv_marks_every_prorated_score(
    psyq_cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columnar: str
) -> None:
    """``total_prorated`` (PHQ-9's total prorates; its PHQ-2 subscale does not) on the
    columnar path and on the per-row path alike."""
    monkeypatch.setenv("PSYQ_COLUMNAR", columnar)
    monkeypatch.setenv("PSYQ_DISABLE_PLUGINS", "example")
    rows = phq9_rows(4)
    rows[0].update({k: "1" for k in PHQ9_ITEMS})  # every item: 9, not prorated
    rows[1].update({k: "1" for k in PHQ9_ITEMS} | {"phq9_9": ""})  # 8 x 9 / 8 = 9, prorated
    rows[2].update({k: "2" for k in PHQ9_ITEMS} | {"phq9_3": "", "phq9_4": ""})  # 14 -> 18
    rows[3].update({k: "" for k in PHQ9_ITEMS[:3]})  # three missing: not scored
    src = write_csv(tmp_path / "c.csv", rows)
    out = tmp_path / "out"
    result = psyq_cli("batch", src, "--instrument", "phq9", "--out", out, "--scores-only",
                      "--quiet", "--jobs", "1", "--summary", "html")  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = read_csv(out / "scores.csv")
    assert "phq2_prorated" not in scores[0]
    got = [(s["total"], s["total_prorated"], s["flags"]) for s in scores]
    assert got == [
        ("9", "0", "suicidal_ideation"),
        ("9", "1", "critical_item_unanswered"),
        ("18", "1", "suicidal_ideation;major_depressive_syndrome"),
        ("", "", got[3][2]),
    ]
    # The cohort summary counts them and marks each listed prorated total.
    summary = json.loads((out / "summary.json").read_text())
    assert summary["prorated"] == {"total": 2}
    html = (out / "cohort-summary.html").read_text()
    assert html.count(" prorated ") == 2 and re.search(r"C0002 +2024-03-03 +18 prorated ", html)
