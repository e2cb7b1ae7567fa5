"""`psyq demo`, the README's first command: every sample scored, every report written."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from pypdf import PdfReader

from psyq.files import TMP_SUFFIX, temporary_name
from psyq.plugins.builtin_instruments import builtin_instruments_dir
from psyq.plugins.commands.demo import demo_samples


def test_demo_writes_pdf_html_and_json_for_every_sample(
    psyq_cli: Callable[..., Result], tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    result = psyq_cli("demo", "--out", str(out))
    assert result.exit_code == 0, result.output
    samples = demo_samples()
    builtins = {p.stem for p in builtin_instruments_dir().glob("*.yaml")}
    assert {s["instrument"] for s in samples} == builtins  # a sample of every built-in
    for suffix in (".pdf", ".html", ".json"):
        assert len(list(out.glob(f"*{suffix}"))) == len(samples)
    # No temporary file left behind (their real names: .NAME.<random>.psyq-tmp).
    assert fnmatch.fnmatch(temporary_name(out / "x.pdf").name, f".*{TMP_SUFFIX}")
    assert not list(out.glob(f".*{TMP_SUFFIX}"))
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    first = json.loads((out / "demo-001_phq9_2026-08-04.json").read_text())
    assert first["scores"]["total"]["value"] == 17
    assert first["report"]["client_id"] == "demo-001"
    # The third PHQ-9 of demo-001 carries the two earlier ones as its trend.
    text = "".join(
        page.extract_text() for page in PdfReader(out / "demo-001_phq9_2026-10-06.pdf").pages
    )
    assert "TREND" in text.upper()
    assert "reliable improvement" in text
