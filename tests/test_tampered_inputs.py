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


def forge_pre_keying_store(path: Path, answers: dict[str, int | None]) -> None:
    """Rewrite the store at ``path`` as psyq wrote stores before keying (schema 2, a
    plain SHA-256 chain, which needs no key), with other answers and no flags: what
    anyone who can edit the file, but not read the key, can do."""
    from psyq import audit
    from psyq.store import MIGRATIONS, _statements

    with sqlite3.connect(path) as old:
        old.row_factory = sqlite3.Row
        clients = [dict(r) for r in old.execute("SELECT id, created_at FROM clients")]
        admins = [dict(r) for r in old.execute("SELECT * FROM administrations")]
    old.close()
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        (path.parent / name).unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    for version in (1, 2):
        for statement in _statements(MIGRATIONS[version - 1]):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    chain = [audit.GENESIS]

    def entry(action: str, record: str, content: dict[str, object]) -> None:
        seq, at, digest = len(chain), "2026-01-01T00:00:00+00:00", audit.record_digest(content)
        done = audit.entry_hash(seq, at, "someone", action, record, digest, chain[-1], None)
        row = (seq, at, "someone", action, record, digest, chain[-1], done)
        conn.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        chain.append(done)

    entry("migrate", "schema", {"v": 1})
    entry("migrate", "schema", {"v": 2})
    for client in clients:
        conn.execute("INSERT INTO clients VALUES (?, ?)", (client["id"], client["created_at"]))
        entry("add client", f"client {client['id']}", client)
    columns = [c for c in admins[0] if c not in ("scoring", "language")]
    for adm in admins:
        scores = json.loads(adm["scores"])
        scores.update(answers=answers, flags=[])
        adm.update(answers=json.dumps(answers), scores=json.dumps(scores))
        marks = ", ".join("?" * len(columns))
        conn.execute(
            f"INSERT INTO administrations ({', '.join(columns)}) VALUES ({marks})",
            [adm[c] for c in columns],
        )
        stored = conn.execute("SELECT * FROM administrations WHERE id = ?", (adm["id"],))
        entry("record", f"administration {adm['id']}", dict(stored.fetchone()))
    conn.commit()
    conn.close()


def test_a_keyed_store_rewritten_in_the_pre_keying_shape_is_refused(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    record = ("record", "phq9", "--client", "C0060", "--date", "2026-09-01")
    assert psyq_cli(*record, "--answers", "0,0,0,0,0,0,0,0,3").exit_code == 0
    assert psyq_cli("audit", "verify").exit_code == 0
    # Item 9 "nearly every day" rewritten to 0, its flag gone, in a chain needing no key.
    calm: dict[str, int | None] = {f"phq9_{n}": 0 for n in range(1, 10)} | {"phq9_10": None}
    forge_pre_keying_store(psyq_home / "psyq.db", calm)
    for command in (("audit", "verify"), ("history", "C0060"), ("export",), ("rescore",)):
        result = psyq_cli(*command)
        assert result.exit_code == 1, (command, result.output)
        assert "rewritten outside psyq" in result.stderr
        assert "audit OK" not in result.output and "Traceback" not in result.output
    # A store from before keying that this key never keyed still opens, as before.
    other = psyq_home / "old.db"
    (psyq_home / "psyq.db").rename(other)
    result = psyq_cli("--db", str(other), "audit", "verify")
    assert result.exit_code == 0, result.output
