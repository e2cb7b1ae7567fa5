"""The audit log: an append-only, hash-chained record of every write to the store.

Each entry holds who (the OS user), what (``action``), when (``at``, UTC), which
record (``administration 12``, ``client C0042``, ``schema``) and a ``digest`` of
that record's full content after the write. Entry *n*'s ``hash`` covers its own
fields and entry *n-1*'s hash, so changing, inserting or deleting any entry
breaks every hash after it.

:func:`verify` recomputes the chain, then re-digests every stored client and
administration (answers, scores, status, dates, everything) and compares it
with the digest of the last audit entry for that record. An answer or score
altered outside psyq, say with the ``sqlite3`` shell, no longer matches.

SQLite triggers refuse UPDATE and DELETE on the audit table, so psyq itself
cannot rewrite history; someone who can edit the file can drop the triggers,
which is what the chain is for. A chain kept in the same file can still be
rewritten wholesale by someone who recomputes every hash: note the head hash
that ``psyq audit verify`` prints to anchor it outside the file.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psyq.store import Store

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    seq: int
    at: str
    os_user: str
    action: str
    record: str
    digest: str
    prev: str
    hash: str


@dataclass
class VerifyReport:
    """What :func:`verify` found. ``problems`` are in the order found; the first is named."""

    entries: int = 0
    records: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def os_user() -> str:
    """The operating-system user doing the write (never fails)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (e.g. a container uid without passwd entry)
        return f"uid:{os.getuid()}"


def record_digest(row: Mapping[str, Any]) -> str:
    """Digest of a stored record's content.

    NULL columns are left out, so adding a nullable column in a schema migration
    does not change the digest of rows written before it; setting a value to NULL
    still changes the digest (the key disappears).
    """
    content = {k: v for k, v in row.items() if v is not None}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def entry_hash(
    seq: int, at: str, user: str, action: str, record: str, digest: str, prev: str
) -> str:
    payload = json.dumps(
        [seq, at, user, action, record, digest, prev], separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def append(conn: sqlite3.Connection, action: str, record: str, digest: str) -> AuditEntry:
    """Append one entry. Call inside the write transaction that made the change."""
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    user = os_user()
    digest_hash = entry_hash(seq, at, user, action, record, digest, prev)
    conn.execute(
        "INSERT INTO audit (seq, at, os_user, action, record, digest, prev, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, user, action, record, digest, prev, digest_hash),
    )
    return AuditEntry(seq, at, user, action, record, digest, prev, digest_hash)


def entries(conn: sqlite3.Connection) -> list[AuditEntry]:
    rows = conn.execute(
        "SELECT seq, at, os_user, action, record, digest, prev, hash FROM audit ORDER BY seq"
    ).fetchall()
    return [AuditEntry(*tuple(row)) for row in rows]


def verify(store: Store) -> VerifyReport:
    """Recompute the chain and re-check every stored record against it."""
    report = VerifyReport()
    last_digest: dict[str, tuple[str, AuditEntry]] = {}
    prev = GENESIS
    expected_seq = 1
    for entry in entries(store.connection):
        report.entries += 1
        where = f"audit entry #{entry.seq} ({entry.action} {entry.record}, {entry.at})"
        if entry.seq != expected_seq:
            report.problems.append(
                f"audit entry #{expected_seq} is missing (next is #{entry.seq}): "
                "entries were deleted"
            )
        elif entry.prev != prev:
            report.problems.append(f"{where}: does not follow the entry before it")
        elif entry.hash != entry_hash(
            entry.seq, entry.at, entry.os_user, entry.action, entry.record, entry.digest, prev
        ):
            report.problems.append(f"{where}: altered (its hash does not match its content)")
        if report.problems:
            # Past a broken link every later hash is suspect; naming the first is the point.
            return report
        prev = entry.hash
        expected_seq += 1
        last_digest[entry.record] = (entry.digest, entry)
    report.head = prev

    seen: set[str] = set()
    for record, row in store.audited_records():
        report.records += 1
        seen.add(record)
        known = last_digest.get(record)
        if known is None:
            report.problems.append(f"{record}: not in the audit log (written outside psyq)")
        elif known[0] != record_digest(row):
            entry = known[1]
            report.problems.append(
                f"{record}: stored content (answers, scores or details) differs from what "
                f"audit entry #{entry.seq} recorded ({entry.action} by {entry.os_user} "
                f"at {entry.at})"
            )
    for record, (_, entry) in last_digest.items():
        if record not in seen and store.is_record_name(record):
            report.problems.append(
                f"{record}: deleted outside psyq (last audited in entry #{entry.seq})"
            )
    return report
