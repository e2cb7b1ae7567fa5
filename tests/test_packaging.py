"""`pip install .` must carry the package data: instruments, samples, templates."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_code_and_data(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("psyq-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for instrument in ("phq9", "gad7", "who5", "ccts"):
        assert f"psyq/instruments/{instrument}.yaml" in names
    assert "psyq/instruments/samples/demo.yaml" in names
    assert "psyq/plugins/scoring_stages.py" in names
    assert "psyq/hookspecs.py" in names
    assert "psyq/py.typed" in names
    expected_templates = {
        f"psyq/templates/{p.relative_to(ROOT / 'templates')}"
        for p in (ROOT / "templates").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert expected_templates <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "psyq = psyq.launch:main" in text
