"""`psyq batch` with PDF reports: whole PDFs per row, a cohort summary PDF, and
WeasyPrint imported only in the worker processes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pypdf
import pytest

from .cohorts import PHQ9_ITEMS, phq9_rows, read_csv, write_csv

pytestmark = pytest.mark.slow

SCRIPT = """
import sys
from psyq.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("WEASYPRINT_IN_PARENT:" + str("weasyprint" in sys.modules), file=sys.stderr)
sys.exit(code)
"""


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_pdf_reports_and_cohort_summary_rendered_in_workers_only(tmp_path: Path) -> None:
    rows = phq9_rows(5, seed=3)
    rows[0].update({k: "0" for k in PHQ9_ITEMS})  # 0, minimal, no flag
    rows[4].update({k: "0" for k in PHQ9_ITEMS} | {"phq9_9": "1"})  # critical flag
    rows[2]["phq9_3"] = "5"  # a bad row
    src = write_csv(tmp_path / "cohort.csv", rows)
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, "batch", str(src), "--instrument", "phq9",
         "--out", str(out), "--format", "pdf,json", "--jobs", "1"],
        env={**os.environ, "PSYQ_HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "WEASYPRINT_IN_PARENT:False" in run.stderr
    pdfs = sorted((out / "reports").glob("*.pdf"))
    assert [p.stem for p in pdfs] == [
        f"C000{k}_phq9_{r['date']}" for k, r in enumerate(rows) if k != 2
    ]
    for path in pdfs:
        data = path.read_bytes()
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        text = pdf_text(data)
        client = path.stem.split("_")[0]
        assert client in text
        total = json.loads(path.with_suffix(".json").read_text())["scores"]["total"]["value"]
        assert f"{total}" in text
    summary = pdf_text((out / "cohort-summary.pdf").read_bytes())
    assert "cohort summary" in summary
    # The critical respondent (row 6) is listed before the unflagged one (row 2).
    assert summary.index("C0004") < summary.index("C0000")
    assert not (out / "cohort-summary.html").exists()
    assert json.loads((out / "summary.json").read_text())["files"]["cohort_summary"] == (
        "cohort-summary.pdf"
    )
    assert [e["row"] for e in read_csv(out / "errors.csv")] == ["4"]
