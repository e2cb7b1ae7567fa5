"""The batch pieces on their own: input reading, names, CSV cells, cohort statistics."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from psyq.batch.cohort import LISTED, CohortStats, distribution_svg
from psyq.batch.inputs import ColumnMap, InputError, read_input
from psyq.batch.naming import StemAllocator, report_stem, safe_stem
from psyq.batch.progress import Progress
from psyq.models import Instrument
from psyq.registry import InstrumentRegistry
from psyq.spreadsheet import neutralise

HEADER = "client_id,date," + ",".join(f"phq9_{k}" for k in range(1, 10))


@pytest.fixture
def phq9(registry: InstrumentRegistry) -> Instrument:
    return registry.get("phq9")


def test_csv_rows_are_numbered_by_their_first_line(phq9: Instrument, tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_text(
        f"{HEADER}\n"
        'A,2024-01-01,1,1,1,1,1,1,1,1,0\n'
        "\n"  # blank lines are skipped but still count as lines
        '"B\nsecond line",2024-01-02,0,0,0,0,0,0,0,0,0\n'
        "C,2024-01-03,1,2\n",
        encoding="utf-8",
    )  # fmt: skip
    data = read_input(str(src), phq9, ColumnMap())
    # A client id with a line break is a bad row, shown escaped (it would split a line).
    assert [(r.row, r.client_id) for r in data.rows] == [(2, "A"), (4, "B\\nsecond line"), (6, "C")]
    assert "invisible or control character (U+000A" in str(data.rows[1].problem)
    assert data.rows[0].values[:9] == ("1",) * 8 + ("0",)
    assert data.rows[0].values[9] is None  # phq9_10 has no column: missing, not an error
    assert data.rows[2].problem == "has 4 cells but the header has 11"
    assert data.digest.startswith("sha256:") and data.format == "csv"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "c.csv: the file is empty; expected a header row"),
        (f"{HEADER}\n".encode(), "c.csv: no respondent rows found"),
        (b"\xff\xfe" + HEADER.encode(), "c.csv:1: not UTF-8 (byte 0)"),
        (f"{HEADER},phq9_2\nA".encode(), "c.csv:1: column 'phq9_2' appears twice"),
        (HEADER.replace("client_id", "id").encode(), "c.csv: no 'client_id' column"),
    ],
)
def test_unusable_csv_names_file_and_line(
    phq9: Instrument, tmp_path: Path, content: bytes, message: str
) -> None:
    src = tmp_path / "c.csv"
    src.write_bytes(content)
    with pytest.raises(InputError) as exc:
        read_input(str(src), phq9, ColumnMap())
    assert str(exc.value).startswith(str(tmp_path / message))


def test_jsonl_absent_keys_are_missing_answers(phq9: Instrument, tmp_path: Path) -> None:
    src = tmp_path / "c.ndjson"
    lines = [
        {"client_id": 7, **{f"phq9_{k}": 1 for k in range(1, 10)}},
        {"client_id": "b", "phq9_1": None},
        [1, 2],
    ]
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    rows = read_input(str(src), phq9, ColumnMap()).rows
    assert rows[0].client_id == "7" and rows[0].values[:9] == (1,) * 9
    assert rows[1].values == (None,) * 10
    assert rows[2].problem == "expected a JSON object, got a list"


def test_safe_stems_and_collisions() -> None:
    assert safe_stem("Zoë Ünal", "phq9", "2024-01-01") == "Zoe-Unal_phq9_2024-01-01"
    assert safe_stem("../../etc/passwd") == "etc-passwd"
    assert safe_stem("   ") == ""
    assert len(safe_stem("x" * 500)) == 96
    names = StemAllocator()
    stems = [report_stem(names, c, "phq9", "2024-01-01", n) for n, c in enumerate(
        ["A", "a", "A", "", "///"], start=2)]  # fmt: skip
    assert stems == [
        "A_phq9_2024-01-01",
        "a_phq9_2024-01-01-2",
        "A_phq9_2024-01-01-3",
        "row-5_phq9_2024-01-01",
        "row-6_phq9_2024-01-01",
    ]


@pytest.mark.parametrize(
    ("cell", "safe"),
    [("=1+2", "'=1+2"), ("+44", "'+44"), ("-3", "-3"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\tx", "'\tx"), ("C001", "C001"), ("", "")],
)  # fmt: skip
def test_formula_cells_are_neutralised(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe


def _record(row: int, total: int, band: str, flags: list[str]) -> dict[str, object]:
    return {
        "row": row, "client_id": f"C{row}", "date": "", "values": {"total": total},
        "bands": {"total": band}, "flags": flags, "critical": bool(flags),
    }  # fmt: skip


def test_cohort_stats_merged_from_chunks_equal_one_pass(phq9: Instrument) -> None:
    records: list[dict[str, object]] = []
    for row in range(2, 2 + 3 * LISTED):
        total = (row * 7) % 28
        band = phq9.total.band_for(total)
        assert band is not None
        records.append(_record(row, total, band.id, ["suicidal_ideation"] if row % 9 == 0 else []))
    records.insert(5, {"row": 999_999, "client_id": "bad", "date": "", "error": "row x: bad"})
    whole = CohortStats(phq9)
    for record in records:
        whole.add(record)
    merged = CohortStats(phq9)
    for start in range(0, len(records), 37):
        part = CohortStats(phq9)
        for record in records[start : start + 37]:
            part.add(record)
        merged.merge(json.loads(json.dumps(part.to_json())))
    assert merged.summary() == whole.summary()
    assert merged.listed() == whole.listed()
    listed = whole.listed()
    flagged = [e for e in listed if e["flags"]]
    assert listed[: len(flagged)] == flagged and whole.flagged_count == len(flagged)
    others = listed[len(flagged) :]
    assert len(others) == LISTED
    assert [e["total"] for e in others] == sorted((e["total"] for e in others), reverse=True)
    assert whole.summary()["failed"] == 1
    assert sum(whole.summary()["bands"]["total"].values()) == whole.scored


def test_distribution_chart_has_a_bar_per_possible_total(phq9: Instrument) -> None:
    stats = CohortStats(phq9)
    stats.add(_record(2, 27, "severe", []))
    stats.add(_record(3, 27, "severe", []))
    svg = distribution_svg(stats)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<rect") == 28  # 0..27
    assert "<title>27: 2</title>" in svg and "<title>0: 0</title>" in svg


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only() -> None:
    tty, pipe = _Terminal(), io.StringIO()
    for stream in (tty, pipe):
        bar = Progress(1000, done=200, stream=stream)
        bar.advance(300)
        bar.advance(500)
        bar.close()
    assert pipe.getvalue() == ""
    last = tty.getvalue().rstrip("\n").split("\r")[-1]
    assert last.startswith("[" + "#" * 24 + "] 1000/1000 rows")
    assert "rows/s" in last and "ETA 00:00:00" in last
