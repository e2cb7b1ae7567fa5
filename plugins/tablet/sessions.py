"""Kiosk sessions: one-time codes and where each tablet is in its forms.

Kept in a private SQLite file beside the store (``psyq.db`` -> ``psyq.kiosk.db``,
0600 in the store's 0700 folder), written by ``psyq kiosk`` and read by
``psyq serve``, so the two processes share it safely (WAL, ``BEGIN IMMEDIATE``).
The answers themselves never live here: they go to the store, as ``administer``
saves them. Starting, using, locking and ending a session leave entries in the
store's audit log (record ``kiosk session N``).

Codes are short (6 letters/digits from an alphabet without look-alikes, about
3 x 10^8 codes), so they are protected by use, not length: a code works once,
expires (30 minutes by default), is stored only as a salted PBKDF2 hash, and
every wrong guess counts against every code waiting at that moment, which locks
after :data:`MAX_WRONG` wrong guesses. The server also locks out a tablet after
as many wrong guesses and limits guesses server-wide (:mod:`.web`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from psyq.errors import PsyqError

if TYPE_CHECKING:
    from psyq.store import Store

CODE_ALPHABET = "ACDEFHJKLMNPRTUVWXY3479"
"""Letters and digits nobody confuses on a tablet keyboard (no O/0, I/1, S/5, B/8, G/6)."""
CODE_LENGTH = 6
MAX_WRONG = 5
"""Wrong guesses after which a waiting code, or a tablet, is locked."""
DEFAULT_EXPIRES_S = 30 * 60
IDLE_TIMEOUT_S = 60 * 60
"""A tablet session with no answer for this long ends (its answers stay saved)."""
_PBKDF2_ROUNDS = 20_000

Layout = Literal["auto", "item", "form"]
WHOLE_FORM_MAX_ITEMS = 10
"""``auto`` layout: a form of at most this many items is shown whole on one page (psyq's
own convention: PHQ-9, GAD-7 and EPDS fit a tablet screen); longer ones one item per screen."""

State = Literal["waiting", "active", "complete", "stopped", "locked", "expired", "timed out"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    instruments TEXT NOT NULL,
    language TEXT,
    clinician TEXT,
    code_salt TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    state TEXT NOT NULL,
    wrong INTEGER NOT NULL DEFAULT 0,
    token_hash TEXT UNIQUE,
    started_at REAL,
    last_seen REAL,
    ended_at REAL,
    idx INTEGER NOT NULL DEFAULT 0,
    position INTEGER NOT NULL DEFAULT -1,
    confirm TEXT,
    admin_ids TEXT NOT NULL,
    layout TEXT NOT NULL DEFAULT 'item'
);
CREATE TABLE IF NOT EXISTS tablets (
    id TEXT PRIMARY KEY,
    wrong INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0
);
"""


class KioskError(PsyqError):
    """A kiosk session cannot be started, found or stopped as asked."""


@dataclass(frozen=True)
class KioskSession:
    """One kiosk session: who it is for (server side only), and where the tablet is."""

    id: int
    client_id: str
    instruments: list[str]
    language: str | None
    clinician: str | None
    created_at: float
    expires_at: float
    state: State
    wrong: int
    started_at: float | None
    last_seen: float | None
    ended_at: float | None
    idx: int
    position: int
    confirm: str | None
    admin_ids: list[int | None]
    layout: Layout = "item"

    def layout_for(self, items: int) -> Literal["item", "form"]:
        """How a form of ``items`` items is shown: :data:`WHOLE_FORM_MAX_ITEMS` decides ``auto``."""
        if self.layout == "auto":
            return "form" if items <= WHOLE_FORM_MAX_ITEMS else "item"
        return self.layout

    @property
    def open(self) -> bool:
        """A tablet may still answer in it."""
        return self.state == "active"


def kiosk_path(store_path: Path) -> Path:
    """The kiosk file beside a store: ``psyq.db`` -> ``psyq.kiosk.db``."""
    return store_path.with_name(f"{store_path.stem}.kiosk.db")


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """What the client typed, as stored: upper case, spaces and dashes dropped."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def show_code(code: str) -> str:
    """``ACD479`` -> ``ACD-479`` (easier to read out and type)."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def _code_hash(code: str, salt: str) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", code.encode(), bytes.fromhex(salt), _PBKDF2_ROUNDS)
    return digest.hex()


def token_hash(token: str) -> str:
    """Tablet cookies are 256-bit random tokens: a plain hash is enough at rest."""
    return hashlib.sha256(token.encode()).hexdigest()


class KioskStore:
    """The kiosk sessions file. One per thread: SQLite connections are not shared."""

    def __init__(self, path: Path) -> None:
        from psyq.store import StoreError, _connect, _make_private

        self.path = path
        _make_private(path)  # a restored copy others can read: made 0600 before use
        self.connection = _connect(path)  # 0600 file, 0700 folder, WAL, busy timeout
        try:
            with self.write() as conn:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
                if "layout" not in columns:  # a kiosk file from before layouts
                    conn.execute(
                        "ALTER TABLE sessions ADD COLUMN layout TEXT NOT NULL DEFAULT 'item'"
                    )
        except sqlite3.Error as exc:
            self.connection.close()
            raise StoreError(f"{path}: cannot set up the kiosk sessions file: {exc}") from None

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> KioskStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        conn = self.connection
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- meta ----------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def secret(self) -> bytes:
        """The server's key for CSRF tokens (made once, kept so restarts keep forms valid)."""
        with self.write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
            if row is None:
                value = secrets.token_hex(32)
                conn.execute("INSERT INTO meta (key, value) VALUES ('secret', ?)", (value,))
            else:
                value = row[0]
        return bytes.fromhex(value)

    # -- sessions --------------------------------------------------------------

    def start(
        self,
        *,
        client_id: str,
        instruments: list[str],
        language: str | None,
        clinician: str | None,
        expires_s: float,
        layout: Layout = "item",
    ) -> tuple[KioskSession, str]:
        """A new waiting session and its one-time code (returned once, kept only hashed)."""
        code = new_code()
        salt = secrets.token_hex(16)
        now = time.time()
        with self.write() as conn:
            cursor = conn.execute(
                "INSERT INTO sessions (client_id, instruments, language, clinician, code_salt, "
                "code_hash, created_at, expires_at, state, admin_ids, layout) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?)",
                (
                    client_id,
                    json.dumps(instruments),
                    language,
                    clinician,
                    salt,
                    _code_hash(code, salt),
                    now,
                    now + expires_s,
                    json.dumps([None] * len(instruments)),
                    layout,
                ),
            )
            session_id = cursor.lastrowid
            assert session_id is not None
        return self.get(session_id), code

    def get(self, session_id: int) -> KioskSession:
        found = None
        if 0 < session_id < 2**63:  # SQLite integers are 64-bit; larger would overflow
            row = self.connection.execute("SELECT * FROM sessions WHERE id = ?", (session_id,))
            found = row.fetchone()
        if found is None:
            raise KioskError(f"no kiosk session {session_id} (see `psyq kiosk status`)")
        return _session(found)

    def all(self) -> list[KioskSession]:
        rows = self.connection.execute("SELECT * FROM sessions ORDER BY id").fetchall()
        return [_session(row) for row in rows]

    def by_token(self, token: str) -> KioskSession | None:
        """The open session a tablet's cookie belongs to; ends one idle too long."""
        row = self.connection.execute(
            "SELECT * FROM sessions WHERE token_hash = ?", (token_hash(token),)
        ).fetchone()
        if row is None:
            return None
        session = _session(row)
        idle = time.time() - (session.last_seen or time.time())
        if session.state == "active" and idle > IDLE_TIMEOUT_S:
            self.end(session.id, "timed out")
            return self.get(session.id)
        return session

    def redeem(self, code: str, token: str) -> tuple[KioskSession | None, str]:
        """Try a code typed on a tablet; on success bind the session to ``token``.

        Returns (session, "ok"), or (None, why): "wrong", "locked" or "expired".
        A wrong code counts against every waiting code.
        """
        wanted = normalise_code(code)
        now = time.time()
        with self.write() as conn:
            rows = conn.execute(
                "SELECT * FROM sessions WHERE state IN ('waiting', 'locked') "
                "AND expires_at > ? - 86400",
                (now,),
            ).fetchall()
            for row in rows:
                if not hmac.compare_digest(_code_hash(wanted, row["code_salt"]), row["code_hash"]):
                    continue
                if row["state"] == "locked":
                    return None, "locked"
                if row["expires_at"] <= now:
                    return None, "expired"
                conn.execute(
                    "UPDATE sessions SET state = 'active', token_hash = ?, started_at = ?, "
                    "last_seen = ? WHERE id = ?",
                    (token_hash(token), now, now, row["id"]),
                )
                return _session(row), "ok"
            conn.execute(
                "UPDATE sessions SET wrong = wrong + 1 WHERE state = 'waiting' AND expires_at > ?",
                (now,),
            )
            conn.execute(
                "UPDATE sessions SET state = 'locked' WHERE state = 'waiting' AND wrong >= ?",
                (MAX_WRONG,),
            )
        return None, "wrong"

    def newly_locked(self, seen: set[int]) -> list[KioskSession]:
        return [s for s in self.all() if s.state == "locked" and s.id not in seen]

    def move(
        self,
        session_id: int,
        *,
        idx: int,
        position: int,
        confirm: str | None,
        admin_ids: list[int | None],
    ) -> None:
        """Save where the tablet is (after the answer itself was saved to the store)."""
        with self.write() as conn:
            conn.execute(
                "UPDATE sessions SET idx = ?, position = ?, confirm = ?, admin_ids = ?, "
                "last_seen = ? WHERE id = ? AND state = 'active'",
                (idx, position, confirm, json.dumps(admin_ids), time.time(), session_id),
            )

    def end(self, session_id: int, state: State) -> KioskSession:
        """Finish, stop or time out a session: its tablet cookie stops working."""
        with self.write() as conn:
            conn.execute(
                "UPDATE sessions SET state = ?, ended_at = ?, token_hash = NULL WHERE id = ?",
                (state, time.time(), session_id),
            )
        return self.get(session_id)

    # -- tablets (browsers), for their own lock-out --------------------------

    def tablet_locked(self, tablet: str) -> bool:
        row = self.connection.execute(
            "SELECT locked_until FROM tablets WHERE id = ?", (token_hash(tablet),)
        ).fetchone()
        return row is not None and row[0] > time.time()

    def tablet_wrong(self, tablet: str, lock_s: float) -> int:
        """Count a wrong code from this browser; lock it at :data:`MAX_WRONG`."""
        key = token_hash(tablet)
        with self.write() as conn:
            conn.execute(
                "INSERT INTO tablets (id, wrong) VALUES (?, 1) "
                "ON CONFLICT(id) DO UPDATE SET wrong = wrong + 1",
                (key,),
            )
            wrong = int(
                conn.execute("SELECT wrong FROM tablets WHERE id = ?", (key,)).fetchone()[0]
            )
            if wrong >= MAX_WRONG:
                conn.execute(
                    "UPDATE tablets SET locked_until = ? WHERE id = ?", (time.time() + lock_s, key)
                )
        return wrong


def _session(row: sqlite3.Row) -> KioskSession:
    state: Any = row["state"]
    if state == "waiting" and row["expires_at"] <= time.time():
        state = "expired"
    return KioskSession(
        id=row["id"],
        client_id=row["client_id"],
        instruments=json.loads(row["instruments"]),
        language=row["language"],
        clinician=row["clinician"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        state=state,
        wrong=row["wrong"],
        started_at=row["started_at"],
        last_seen=row["last_seen"],
        ended_at=row["ended_at"],
        idx=row["idx"],
        position=row["position"],
        confirm=row["confirm"],
        admin_ids=json.loads(row["admin_ids"]),
        layout=row["layout"],
    )


def audit_kiosk(store: Store, action: str, session: KioskSession) -> None:
    """Record a kiosk event in the store's audit log (record ``kiosk session N``)."""
    content = {
        "id": session.id,
        "client_id": session.client_id,
        "instruments": session.instruments,
        "language": session.language,
        "state": session.state,
        "admin_ids": session.admin_ids,
    }
    store.audit_event(action, f"kiosk session {session.id}", content)
