"""Red-team pass on "nothing is silently rewritten": a record changed outside psyq (the
sqlite3 shell) while psyq is still saving to it, a kiosk tablet or `psyq administer`,
must not be given a fresh audit entry by psyq's next save (which would make
`psyq audit verify` pass on the hand edit); the save is refused and said."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.test_tablet_http import _begun, server  # noqa: F401 (the fixture)

CLI = Callable[..., Result]


def _hand_edit(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_a_kiosk_tap_after_a_hand_edit_does_not_launder_it(
    server: tuple[str, list[str]],  # noqa: F811
    psyq_cli: CLI,
    psyq_home: Path,
) -> None:
    url, lines = server
    session_id, tablet = _begun(url, psyq_cli, "--instruments", "phq9")
    for value in (0, 0, 0):
        tablet.act("answer", value)
    db = psyq_home / "psyq.db"
    # While the client is on item 4: someone changes the form's note and an answer.
    _hand_edit(
        db,
        "UPDATE administrations SET note = 'seen, fine', "
        "answers = replace(answers, '\"phq9_1\":0', '\"phq9_1\":3') WHERE id = 1",
    )
    assert psyq_cli("audit", "verify").exit_code == 1
    tablet.act("answer", 0)
    # The tap was not saved over the hand edit: the audit still names it.
    verified = psyq_cli("audit", "verify")
    assert verified.exit_code == 1, verified.output
    assert "administration 1" in verified.output
    conn = sqlite3.connect(db)
    (answers,) = conn.execute("SELECT answers FROM administrations WHERE id = 1").fetchone()
    conn.close()
    assert '"phq9_4":null' in answers  # nothing saved on top of it
    # The clinician's terminal says why, the session is stopped, the tablet is let go.
    said = "\n".join(lines)
    assert f"kiosk session {session_id} (client C0042): STOPPED" in said
    assert "administration 1: stored content differs" in said and "nothing saved" in said
    status = psyq_cli("kiosk", "status", str(session_id)).output
    assert "stopped" in status and "CHANGED OUTSIDE PSYQ" in status
    assert 'name="code"' in tablet.page  # back at the code page, no error shown to the client


def test_administer_refuses_to_save_over_a_hand_edit_made_mid_form(psyq_home: Path) -> None:
    env = {**os.environ, "PSYQ_HOME": str(psyq_home)}
    run = subprocess.Popen(
        [sys.executable, "-m", "psyq", "administer", "phq9", "--client", "C0042"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stdin is not None and run.stdout is not None
    seen = ""
    for answer in ("1", "1"):
        run.stdin.write(answer + "\n")
        run.stdin.flush()
    while "[3/10]" not in seen:  # two answers saved: administration 1, partial
        line = run.stdout.readline()
        assert line, seen
        seen += line
    _hand_edit(psyq_home / "psyq.db", "UPDATE administrations SET client_id = 'C0099'")
    out, err = run.communicate("1\n" * 8, timeout=60)
    assert run.returncode == 1, out + err
    assert "administration 1: stored content differs" in err and "nothing saved" in err
    assert "Traceback" not in err
    verified = subprocess.run(
        [sys.executable, "-m", "psyq", "audit", "verify"], env=env, capture_output=True, text=True
    )
    assert verified.returncode == 1 and "administration 1" in verified.stderr
