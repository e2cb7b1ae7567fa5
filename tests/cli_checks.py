"""Checks and set-ups that the bad-input and integrity test files share: a bad input's
one clear line, a CSV read back, an edit made with the sqlite3 shell, and a PHQ-9 draft."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from click.testing import Result

ITEM_9 = 'when: {item: phq9_9, op: ">", value: 0}'
"""PHQ-9 item 9's critical rule, as the shipped definition writes it."""


def one_line_error(result: Result | subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The one ``psyq: error:`` line a bad input gets (exit ``code``, no traceback)."""
    exit_code = (
        result.returncode if isinstance(result, subprocess.CompletedProcess) else result.exit_code
    )
    assert exit_code == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("psyq: error: "), result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    return lines[0]


def hand_edit(db: Path, *statements: str) -> None:
    """What someone with the sqlite3 shell can do while psyq is not running."""
    conn = sqlite3.connect(db)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def phq9_draft(folder: Path) -> Path:
    """The PHQ-9 as a draft under its own id, ``mood9`` (a clinic's copy, given by path)."""
    text = (Path(__file__).resolve().parents[1] / "instruments" / "phq9.yaml").read_text(
        encoding="utf-8"
    )
    assert ITEM_9 in text
    text = text.replace("\nid: phq9\n", "\nid: mood9\n").split("\nexamples:")[0] + "\n"
    path = folder / "mood9.yaml"
    path.write_text(text, encoding="utf-8")
    return path
