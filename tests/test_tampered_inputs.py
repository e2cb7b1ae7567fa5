"""What a score is built on besides the answers: a hand-edited client record.

AUDIT-C's cut-off depends on the client's recorded sex (3 or more is positive for
women, 4 for men). Editing the sex in the database must not let `rescore`, `record`
or `administer` compute a new, validly audited score from it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

CLI = Callable[..., Result]


def edit_sex(home: Path, client: str, sex: str) -> None:
    with sqlite3.connect(home / "psyq.db") as conn:
        conn.execute(
            "UPDATE clients SET attributes = ? WHERE id = ?", (json.dumps({"sex": sex}), client)
        )
    conn.close()


def latest_band(psyq_cli: CLI, client: str) -> list[str]:
    result = psyq_cli("history", client, "--json")
    assert result.exit_code == 0, result.output
    return [entry["scores"]["total"]["band"] for entry in json.loads(result.stdout)]


def test_rescore_never_builds_on_a_hand_edited_sex(psyq_cli: CLI, psyq_home: Path) -> None:
    assert psyq_cli("clients", "set", "C0010", "--sex", "female").exit_code == 0
    record = ("record", "auditc", "--client", "C0010", "--date", "2026-09-01")
    assert psyq_cli(*record, "--answers", "1,1,1").exit_code == 0
    before = latest_band(psyq_cli, "C0010")
    edit_sex(psyq_home, "C0010", "male")  # 3 would read negative for a man
    result = psyq_cli("rescore")
    assert result.exit_code == 1
    assert "administration 1: not rescored: client C0010" in result.stderr
    assert latest_band(psyq_cli, "C0010") == before
    verify = psyq_cli("audit", "verify")
    assert verify.exit_code == 1 and "client C0010" in verify.stderr
    assert "administration 1" not in verify.stderr  # nothing new built on the edit


def test_a_new_form_is_not_scored_with_a_hand_edited_sex(psyq_cli: CLI, psyq_home: Path) -> None:
    assert psyq_cli("clients", "set", "C0011", "--sex", "female").exit_code == 0
    edit_sex(psyq_home, "C0011", "male")
    result = psyq_cli("record", "auditc", "--client", "C0011", "--answers", "1,1,1")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert "client C0011" in line and "Traceback" not in result.output
    result = psyq_cli("administer", "auditc", "--client", "C0011", input="1\n1\n1\n")
    assert result.exit_code == 1
    assert "client C0011" in result.stderr and "Traceback" not in result.output
    assert psyq_cli("history", "C0011", "--json").stdout.strip() in ("", "[]")
    # A client whose record is intact is scored as before.
    assert psyq_cli("record", "auditc", "--client", "C0012", "--answers", "1,1,1").exit_code == 0
