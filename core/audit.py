"""The audit log: an append-only, keyed hash chain recording every write to the store.

Each entry holds who (the OS user), what (``action``), when (``at``, UTC), which
record (``administration 12``, ``client C0042``, ``score version 3``,
``schema``) and a ``digest`` of that record's full content after the write.
Entry *n*'s ``hash`` is an HMAC-SHA256, under the **audit key**, of its own
fields and entry *n-1*'s hash, so changing, inserting or deleting any entry
breaks every hash after it, and nobody without the key can compute a valid
replacement chain.

The key is a file outside the database (:func:`key_path`: ``$PSYQ_AUDIT_KEY``,
else ``audit.key`` in the data directory), created 0600 with 256 random bits
the first time a keyed entry is written. It can live on other media (a USB
key, a mount only the clinic's admin can read). Its id, a one-way function of
the key, is written in the chain when keying starts, so a wrong key is named
as such rather than as tampering.

Stores written before keying (entries hashed with plain SHA-256) keep those
entries; the migration appends an ``audit key`` entry, keyed, whose ``prev``
is the last unkeyed hash, so rewriting the old entries still breaks the
keyed one after them.

:func:`verify` checks, in order: the schema (tables, triggers and indexes as
psyq made them: a dropped or altered trigger is named), the chain, then
re-digests every stored record and compares it with the digest of the last
audit entry for that record. SQLite triggers refuse UPDATE and DELETE on the
audit table, and any INSERT whose ``seq`` is not the next one (so ``INSERT OR
REPLACE`` cannot overwrite an entry).

What this cannot stop: someone who has both the database *and* the key can
rewrite everything. Someone with only the database can delete the newest
entries together with their records, or put back an older copy (the chain
still verifies, just shorter): the newest entry psyq wrote is noted beside the
key (:func:`remember_head`), and every read says when it is gone. Anchoring
catches both, even when the files beside the key were rewritten too: write
down ``psyq audit head`` somewhere else and check it later with
``psyq audit verify --head HASH``.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import stat
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psyq.errors import PsyqError

if TYPE_CHECKING:
    from psyq.store import Store

GENESIS = "0" * 64
KEY_FILE = "audit.key"
KEY_ENV = "PSYQ_AUDIT_KEY"
KEY_ACTION = "key chain"
"""The action of the entry from which the chain is keyed (its digest is the key id)."""
KEY_RECORD = "audit key"
_KEY_ID_LABEL = b"psyq audit key id"


class AuditKeyError(PsyqError):
    """The audit key is missing, unreadable, too open, or not this chain's key."""

    exit_code = 1


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
    """What :func:`verify` found. ``problems`` are in the order found; the first is named.

    ``bad_records`` names the records whose stored content fails; ``chain_ok``
    is False when the log itself (or the schema protecting it) is damaged, in
    which case no record can be trusted.
    """

    entries: int = 0
    records: int = 0
    head: str = GENESIS
    head_seq: int = 0
    keyed_from: int | None = None
    problems: list[str] = field(default_factory=list)
    bad_records: set[str] = field(default_factory=set)
    chain_ok: bool = True
    acknowledged: list[str] = field(default_factory=list)
    """Losses a person accepted (``psyq audit acknowledge``): said, but not problems."""

    @property
    def ok(self) -> bool:
        return not self.problems


# -- the key --------------------------------------------------------------------


def key_path(home: Path | None = None) -> Path:
    """Where the audit key lives: ``$PSYQ_AUDIT_KEY``, else ``audit.key`` in the data dir."""
    env = os.environ.get(KEY_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    if home is None:
        from psyq.paths import data_dir

        home = data_dir()
    return home / KEY_FILE


def key_id(key: bytes) -> str:
    """A public, one-way name for a key (written in the chain; reveals nothing of it)."""
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:32]


def wrong_key(path: Path, key: bytes, chain_id: str) -> str:
    """What to say when the key at ``path`` is not the one the chain names (``chain_id``):
    the store is another one (copied in from elsewhere), or the key file is."""
    return (
        f"{path}: this is not the audit key this store's chain was written with (key id "
        f"{key_id(key)}, the chain names {chain_id}): the store or the key was replaced "
        "(another store copied in?); restore the right key file or set PSYQ_AUDIT_KEY"
    )


def read_key(path: Path) -> bytes | None:
    """The key at ``path``; None if there is no file. Refuses a file others can read."""
    from psyq.files import read_private

    try:
        raw, mode = read_private(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot read the audit key: {exc.strerror or exc}") from None
    text = raw.strip()
    if mode & 0o077:
        raise AuditKeyError(
            f"{path}: the audit key is readable by others (mode {mode:04o}); run `chmod 600 {path}`"
        )
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) < 32:
        raise AuditKeyError(f"{path}: the audit key is damaged; restore it from your backup")
    return key


def create_key(path: Path) -> bytes:
    """Create a new random key at ``path`` (0600); return the key in use there.

    The key is written in full under a temporary name, then linked into place,
    so a process racing to create it never reads half a key.
    """
    from psyq.files import create_private_once

    key = secrets.token_bytes(32)
    try:
        created = create_private_once(path, key.hex().encode("ascii") + b"\n")
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot create the audit key: {exc.strerror or exc}") from None
    if not created:  # another process made it first (never replaced): use theirs
        existing = read_key(path)
        assert existing is not None
        return existing
    return key


# -- the stores a key has keyed ------------------------------------------------------
#
# A store's chain is keyed from the entry that names the key. A log from before keying
# (plain SHA-256) can be written by anyone; so can a whole store in that older shape,
# which psyq would key as found. The key's folder remembers each store whose chain it
# keyed, so such a rewrite of an already keyed store is refused, not keyed as new.

KEYED_STORES_SUFFIX = ".stores"
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
"""Opening the list never waits: a FIFO put in its place must not hang every write."""
_KEYED_STORES_CAP = 10_000_000


def keyed_stores_path(key_file: Path) -> Path:
    """Beside the key: one JSON line per store whose chain this key started."""
    return key_file.with_name(key_file.name + KEYED_STORES_SUFFIX)


def remember_keyed(key_file: Path, store: Path, seq: int, entry_hash: str) -> None:
    """Note that ``store``'s chain is keyed from entry ``seq``. Best effort: a key kept
    on read-only media keeps no list (and cannot protect an older-shape rewrite)."""
    line = json.dumps({"store": str(store.resolve()), "seq": seq, "hash": entry_hash})
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | _NONBLOCK
    try:
        fd = os.open(keyed_stores_path(key_file), flags | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError:
        return
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device put there: not ours
        os.close(fd)
        return
    # O_CREAT's 0600 is masked by the umask: 0400 under umask 277, which the next run
    # could not append to. Exactly 0600, through the descriptor (where modes exist).
    with suppress(OSError):
        os.fchmod(fd, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def keyed_before(key_file: Path, store: Path) -> int | None:
    """The entry ``store``'s chain was keyed from, if this key keyed it before."""
    try:
        fd = os.open(
            keyed_stores_path(key_file), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | _NONBLOCK
        )
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as fh:
        text = fh.read(_KEYED_STORES_CAP).decode("utf-8", "replace")
    wanted = str(store.resolve())
    for line in text.splitlines():
        try:
            noted = json.loads(line)
        except ValueError:
            continue
        if isinstance(noted, dict) and noted.get("store") == wanted:
            seq = noted.get("seq")
            return seq if isinstance(seq, int) else 0
    return None


# -- the head each store reached -------------------------------------------------------
#
# A chain inside the file cannot show that the file was put back to an older copy (a
# backup restored over it) or that its newest entries were cut off with their records:
# it still verifies, just shorter. The key's folder remembers the newest entry psyq wrote
# to each store, so every read can say when that entry is no longer there.

HEADS_SUFFIX = ".heads"
ROLLBACK_ACTION = "rollback noticed"
"""The action of the entry psyq appends when it finds the store older than its last write."""


def heads_path(key_file: Path) -> Path:
    """Beside the key: a JSON object, store path -> [seq, hash] of the newest entry psyq
    wrote to it."""
    return key_file.with_name(key_file.name + HEADS_SUFFIX)


def _read_heads(key_file: Path) -> dict[str, Any]:
    try:
        fd = os.open(heads_path(key_file), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | _NONBLOCK)
    except OSError:
        return {}
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return {}
    with os.fdopen(fd, "rb") as fh:
        text = fh.read(_KEYED_STORES_CAP).decode("utf-8", "replace")
    try:
        heads = json.loads(text)
    except ValueError:
        return {}
    return heads if isinstance(heads, dict) else {}


def remember_head(key_file: Path, store: Path, seq: int, entry_hash: str) -> None:
    """Note ``store``'s newest entry after a write. Best effort: a key kept on
    read-only media keeps no note (and cannot tell a store put back to an older copy)."""
    from psyq.files import write_atomic

    heads = _read_heads(key_file)
    heads[str(store.resolve())] = [seq, entry_hash]
    # Not fsynced (every write pays this, and an fsync more than doubled a write's cost):
    # the store's commit before it is durable, so a crash can only leave an older note
    # (an entry still in the log) or none, which never raises a false alarm.
    with suppress(OSError):
        write_atomic(heads_path(key_file), json.dumps(heads).encode("utf-8"), synced=False)


def remembered_head(key_file: Path, store: Path) -> tuple[int, str] | None:
    """(seq, hash) of the newest entry psyq wrote to ``store``, if noted."""
    noted = _read_heads(key_file).get(str(store.resolve()))
    if (
        isinstance(noted, list)
        and len(noted) == 2
        and isinstance(noted[0], int)
        and isinstance(noted[1], str)
    ):
        return noted[0], noted[1]
    return None


def lost_head(store: Store) -> tuple[int, str] | None:
    """The remembered newest entry (:func:`remembered_head`) when the store's log no
    longer holds it: the store was put back to an older copy or cut short."""
    noted = remembered_head(store.key_path, store.path)
    if noted is None:
        return None
    try:
        row = store.connection.execute(
            "SELECT hash FROM audit WHERE seq = ?", (noted[0],)
        ).fetchone()
    except sqlite3.Error:  # the log dropped: audit verify names it
        return None
    return None if row is not None and row[0] == noted[1] else noted


ACKNOWLEDGED_ACTION = "loss acknowledged"
"""The action of the entry ``psyq audit acknowledge`` appends: a named person says why
the store lost what a ``rollback noticed`` entry records (a backup restored after a
disk failure, say). Until then every output that reads the store warns of the loss."""


def unacknowledged_rollback(conn: sqlite3.Connection) -> tuple[int, str, str] | None:
    """(seq, at, record) of the newest ``rollback noticed`` entry that no later
    ``loss acknowledged`` entry answers, or None."""
    try:
        noticed = conn.execute(
            "SELECT seq, at, record FROM audit WHERE action = ? AND NOT EXISTS (SELECT 1 "
            "FROM audit later WHERE later.action = ? AND later.seq > audit.seq) "
            "ORDER BY seq DESC LIMIT 1",
            (ROLLBACK_ACTION, ACKNOWLEDGED_ACTION),
        ).fetchone()
    except sqlite3.Error:
        return None
    return None if noticed is None else (int(noticed[0]), str(noticed[1]), str(noticed[2]))


def acknowledged_losses(conn: sqlite3.Connection) -> list[str]:
    """One line per acknowledgement in the log: the loss it answers, who, when and why
    (``audit verify`` prints them even when everything else checks)."""
    try:
        rows = conn.execute(
            "SELECT seq, at, os_user, record FROM audit WHERE action = ? ORDER BY seq",
            (ACKNOWLEDGED_ACTION,),
        ).fetchall()
    except sqlite3.Error:
        return []
    return [
        f"audit entry #{seq} ({at}, OS user {user}): {str(record).removeprefix('store: ')}"
        for seq, at, user, record in rows
    ]


def unwritten_tail(store: Store) -> str | None:
    """The first of the log's newest entries that psyq did not write: an entry whose hash
    does not match its content, among the newest one and those after the newest psyq
    noted (:func:`remember_head`; normally none). The triggers let anyone append the next
    entry with the sqlite3 shell, and every read checks a record's own entries only.
    None when the key cannot be read (nothing to check with) or is not this chain's
    (:func:`key_problem` says so). One query and, normally, one HMAC."""
    conn = store.connection
    try:
        marker = keyed_from(conn)
        noted = remembered_head(store.key_path, store.path)
        top = head(conn)[0]
        since = min(top, noted[0] + 1) if noted is not None else top
        rows = conn.execute(
            "SELECT seq, at, os_user, action, record, digest, prev, hash FROM audit "
            "WHERE seq >= ? ORDER BY seq LIMIT 1000",
            (since,),
        ).fetchall()
    except sqlite3.Error:  # the log dropped: audit verify names it
        return None
    key: bytes | None = None
    if marker is not None:
        try:
            key = store.audit_key(create=False)
        except AuditKeyError:
            return None
    for row in rows:
        entry = AuditEntry(*tuple(row))
        keyed = marker is not None and entry.seq >= marker[0]
        if not _well_formed(entry) or not _hash_matches(entry, key if keyed else None):
            return (
                f"audit entry #{entry.seq} ({entry.action} {entry.record}, {entry.at}) was not "
                "written by psyq: its hash does not match its content (added or altered "
                "outside psyq)"
            )
    return None


def key_problem(store: Store) -> str | None:
    """What to say when the audit key at hand is not the one this store's chain was
    written with (another store copied in, or another key file), else None. Reads go on
    (they compare digests only); writes are refused (:meth:`psyq.store.Store.audit_key`)."""
    try:
        marker = keyed_from(store.connection)
        if marker is None:
            return None
        key = read_key(store.key_path)
    except (sqlite3.Error, AuditKeyError):
        return None
    if key is None or key_id(key) == marker[1]:
        return None
    return wrong_key(store.key_path, key, marker[1]) + "; what is shown is not checked"


def rollback_problem(store: Store) -> str | None:
    """What to say when the store is older than psyq's last write to it (now, or as
    recorded in its log by a later write and not yet acknowledged), else None."""
    noticed = unacknowledged_rollback(store.connection)
    if noticed is not None:
        return (
            f"audit entry #{noticed[0]} ({noticed[1]}) records that psyq found the store put "
            "back to an older copy, cut short or replaced outside psyq "
            f"({noticed[2].removeprefix('store: ')}); once the loss is understood, "
            "`psyq audit acknowledge --reason TEXT` records who accepted it and why"
        )
    lost = lost_head(store)
    if lost is None:
        return None
    return (
        f"audit entry #{lost[0]}, the newest psyq wrote to this store (noted in "
        f"{heads_path(store.key_path)}), is no longer in its log: the store was put back "
        "to an older copy (a backup restored over it) or its newest entries were cut off "
        "outside psyq, with what they recorded"
    )


# -- entries ------------------------------------------------------------------------


def os_user() -> str:
    """The operating-system user doing the write (never fails)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (e.g. a container uid without passwd entry)
        return f"uid:{os.getuid()}"


def _plain(value: Any) -> Any:
    # A cell someone set to a BLOB still gets a digest (which then mismatches).
    if isinstance(value, bytes | bytearray | memoryview):
        return {"blob": bytes(value).hex()}
    return value


def record_digest(row: Mapping[str, Any]) -> str:
    """Digest of a stored record's content.

    NULL columns are left out, so adding a nullable column in a schema migration
    does not change the digest of rows written before it; setting a value to NULL
    still changes the digest (the key disappears).
    """
    content = {k: v for k, v in row.items() if v is not None}
    try:
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except TypeError:  # a BLOB put there outside psyq: digest it anyway (it then mismatches)
        content = {k: _plain(v) for k, v in content.items()}
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def entry_hash(
    seq: int,
    at: str,
    user: str,
    action: str,
    record: str,
    digest: str,
    prev: str,
    key: bytes | None = None,
) -> str:
    """The entry's chain hash: HMAC-SHA256 under ``key`` (plain SHA-256 for legacy entries)."""
    payload = json.dumps(
        [seq, at, user, action, record, digest, prev], separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    if key is None:
        return hashlib.sha256(payload).hexdigest()
    return _keyed(key, payload)


_HMAC_CACHE: dict[bytes, hmac.HMAC] = {}


def _keyed(key: bytes, payload: bytes) -> str:
    # The keyed state is built once per key and copied: HMAC's key set-up is per key.
    base = _HMAC_CACHE.get(key)
    if base is None:
        base = _HMAC_CACHE[key] = hmac.new(key, digestmod=hashlib.sha256)
    mac = base.copy()
    mac.update(payload)
    return mac.hexdigest()


def append(
    conn: sqlite3.Connection, action: str, record: str, digest: str, *, key: bytes
) -> AuditEntry:
    """Append one keyed entry. Call inside the write transaction that made the change."""
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    user = os_user()
    digest_hash = entry_hash(seq, at, user, action, record, digest, prev, key)
    conn.execute(
        "INSERT INTO audit (seq, at, os_user, action, record, digest, prev, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, user, action, record, digest, prev, digest_hash),
    )
    return AuditEntry(seq, at, user, action, record, digest, prev, digest_hash)


def entries(conn: sqlite3.Connection) -> list[AuditEntry]:
    """Every entry, oldest first."""
    rows = conn.execute(
        "SELECT seq, at, os_user, action, record, digest, prev, hash FROM audit ORDER BY seq"
    ).fetchall()
    return [AuditEntry(*tuple(row)) for row in rows]


def keyed_from(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """(seq, key id) of the entry from which the chain is keyed; None for a legacy chain."""
    row = conn.execute(
        "SELECT seq, digest FROM audit WHERE action = ? AND record = ? ORDER BY seq LIMIT 1",
        (KEY_ACTION, KEY_RECORD),
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(seq, hash) of the newest entry; (0, GENESIS) for an empty log."""
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


# -- verification ---------------------------------------------------------------------


def _well_formed(entry: AuditEntry) -> bool:
    return isinstance(entry.seq, int) and all(
        isinstance(v, str)
        for v in (entry.at, entry.os_user, entry.action, entry.record, entry.digest, entry.prev)
    )


def verify(store: Store, *, anchor: str | None = None) -> VerifyReport:
    """Check the schema, the chain, and every stored record against it.

    ``anchor`` is a head hash written down earlier (``psyq audit head``): the
    check fails unless that entry is still in the chain.
    """
    report = VerifyReport()
    for schema_problem in store.schema_problems():
        report.problems.append(schema_problem)
        report.chain_ok = False
    if not store.has_audit_table():
        report.problems.append("the audit table is missing (dropped outside psyq)")
        report.chain_ok = False
        return report
    key: bytes | None = None
    marker = keyed_from(store.connection)
    if marker is not None:
        report.keyed_from = marker[0]
        key = store.audit_key(create=False)
        if key_id(key) != marker[1]:
            raise AuditKeyError(wrong_key(store.key_path, key, marker[1]))
    elif store.schema_version >= store.keyed_schema_version:
        report.problems.append(
            "the audit log has no keyed entries although the store schema says it is keyed: "
            "the log was rewritten outside psyq"
        )
        report.chain_ok = False

    last_digest: dict[str, tuple[str, AuditEntry]] = {}
    found: set[str] = set()
    prev = GENESIS
    expected_seq = 1
    for entry in entries(store.connection):
        report.entries += 1
        where = f"audit entry #{entry.seq} ({entry.action} {entry.record}, {entry.at})"
        entry_key = key if marker is not None and entry.seq >= marker[0] else None
        problem: str | None = None
        if not _well_formed(entry):
            problem = f"audit entry #{entry.seq}: altered (a field holds data that is not text)"
        elif entry.seq != expected_seq:
            problem = (
                f"audit entry #{expected_seq} is missing (next is #{entry.seq}): "
                "entries were deleted"
            )
        elif entry.prev != prev:
            problem = f"{where}: does not follow the entry before it"
        elif not _hash_matches(entry, entry_key):  # its prev is the one before it (above)
            problem = f"{where}: altered (its hash does not match its content)"
        if problem is not None:
            # Past a broken link every later hash is suspect; naming the first is the point.
            report.problems.insert(0, problem)
            report.chain_ok = False
            return report
        prev = entry.hash
        found.add(entry.hash)
        report.head_seq = entry.seq
        expected_seq += 1
        last_digest[entry.record] = (entry.digest, entry)
    report.head = prev
    if anchor is not None:
        wanted = anchor.strip().lower().rpartition(":")[2]
        if wanted not in found:
            report.problems.append(
                f"the anchored head {wanted[:16]}... is not in the audit chain: entries after "
                "it were cut off, or the chain was rewritten"
            )
            report.chain_ok = False

    report.acknowledged = acknowledged_losses(store.connection)
    rolled_back = rollback_problem(store)
    if rolled_back is not None:  # the records match a chain that is older than psyq left it
        report.problems.append(rolled_back)

    seen: set[str] = set()
    for record, row in store.audited_records():
        report.records += 1
        seen.add(record)
        known = last_digest.get(record)
        if known is None:
            report.problems.append(f"{record}: not in the audit log (written outside psyq)")
            report.bad_records.add(record)
        elif known[0] != record_digest(row):
            entry = known[1]
            report.problems.append(
                f"{record}: stored content (answers, scores or details) differs from what "
                f"audit entry #{entry.seq} recorded ({entry.action} by {entry.os_user} "
                f"at {entry.at})"
            )
            report.bad_records.add(record)
    for record, (_, entry) in last_digest.items():
        if record not in seen and store.is_record_name(record):
            report.problems.append(
                f"{record}: deleted outside psyq (last audited in entry #{entry.seq})"
            )
            report.bad_records.add(record)
    return report


def changed_records(
    store: Store, rows: Mapping[str, Mapping[str, Any]], *, earlier: bool = True
) -> dict[str, str]:
    """The records among ``rows`` (record name -> full row) that no longer match their
    last audit entry, each with what is wrong; for read paths (history, export, report).

    One pass over the log for every record, not one query each, and no replay of the
    chain (that is :func:`verify`): each record's last entry is checked on its own,
    its digest against the row and, when the audit key can be read and is this
    chain's, its HMAC. Without the key only the digests are compared: a read never
    fails for want of the key. With ``earlier`` the HMAC of each of the records'
    earlier entries is checked too (the query fetches them anyway): an entry altered
    in the log (who saved the form, when, what it held) is named on read, not only by
    ``audit verify`` (about 6 microseconds an entry).
    """
    if not rows:
        return {}
    conn = store.connection
    names = sorted(rows)
    last: dict[str, AuditEntry] = {}
    before: list[AuditEntry] = []  # the records' entries that are not their last
    try:
        for start in range(0, len(names), 500):  # SQLite caps the parameters of one query
            chunk = names[start : start + 500]
            found = conn.execute(
                "SELECT seq, at, os_user, action, record, digest, prev, hash FROM audit "
                f"WHERE record IN ({','.join('?' * len(chunk))}) ORDER BY seq",
                chunk,
            )
            for row in found:  # in order: each record's last entry is the one kept
                fetched = AuditEntry(*tuple(row))
                replaced = last.get(str(fetched.record))
                if replaced is not None and earlier:
                    before.append(replaced)
                last[str(fetched.record)] = fetched
    except sqlite3.Error:  # the audit table dropped outside psyq
        return {record: f"{record}: not in the audit log (the log is missing)" for record in rows}
    marker = keyed_from(conn)
    key: bytes | None = None
    if marker is not None:
        try:
            key = store.audit_key(create=False)
        except AuditKeyError:
            key = None
        if key is not None and key_id(key) != marker[1]:
            key = None  # not this chain's key: its HMACs say nothing
    out: dict[str, str] = {}
    for record, row in rows.items():
        entry = last.get(record)
        if entry is None:
            out[record] = f"{record}: not in the audit log (written outside psyq)"
            continue
        keyed = marker is not None and entry.seq >= marker[0]
        if keyed and key is None:
            problem = _entry_problem(entry, row, None, check_hash=False)
        else:
            problem = _entry_problem(entry, row, key if keyed else None)
        if problem is not None:
            out[record] = problem
    for entry in before:  # oldest first: each record's first altered entry is named
        keyed = marker is not None and entry.seq >= marker[0]
        if entry.record in out or (keyed and key is None):
            continue
        if not _well_formed(entry) or not _hash_matches(entry, key if keyed else None):
            out[str(entry.record)] = (
                f"audit entry #{entry.seq} ({entry.action} {entry.record}, an earlier entry "
                "for it): altered in the log outside psyq"
            )
    return out


def authentic_last_entry(store: Store, record: str) -> AuditEntry | None:
    """``record``'s last audit entry, if it is authentic (its HMAC matches, when the key
    can be read); None when there is none or it was altered."""
    conn = store.connection
    try:
        found = conn.execute(
            "SELECT seq, at, os_user, action, record, digest, prev, hash FROM audit "
            "WHERE record = ? ORDER BY seq DESC LIMIT 1",
            (record,),
        ).fetchone()
    except sqlite3.Error:
        return None
    if found is None:
        return None
    entry = AuditEntry(*tuple(found))
    if not _well_formed(entry):
        return None
    marker = keyed_from(conn)
    if marker is None or entry.seq < marker[0]:
        return entry if _hash_matches(entry, None) else None
    try:
        key = store.audit_key(create=False)
    except AuditKeyError:
        return entry  # no key to check it with: its digest alone is compared (as on read)
    if key_id(key) != marker[1]:
        return entry
    return entry if _hash_matches(entry, key) else None


def _hash_matches(entry: AuditEntry, key: bytes | None) -> bool:
    """Whether ``entry``'s hash is the one its own fields (and ``key``) give."""
    return hmac.compare_digest(
        str(entry.hash),
        entry_hash(
            entry.seq,
            entry.at,
            entry.os_user,
            entry.action,
            entry.record,
            entry.digest,
            entry.prev,
            key,
        ),
    )


def _entry_problem(
    entry: AuditEntry, row: Mapping[str, Any], key: bytes | None, *, check_hash: bool = True
) -> str | None:
    """What is wrong with ``row`` against its last audit ``entry``, or None."""
    if not _well_formed(entry) or (check_hash and not _hash_matches(entry, key)):
        return f"audit entry #{entry.seq} ({entry.action} {entry.record}): altered"
    if entry.digest != record_digest(row):
        return (
            f"{entry.record}: stored content differs from what audit entry #{entry.seq} "
            f"recorded ({entry.action} by {entry.os_user} at {entry.at})"
        )
    return None


def verify_record(store: Store, record: str, row: Mapping[str, Any]) -> str | None:
    """Check one record against its last audit entry; a problem, or None if it matches.

    Cheaper than :func:`verify` (one entry, not the chain), for commands that
    are about to build on one record (``administer --resume``).
    """
    conn = store.connection
    found = conn.execute(
        "SELECT seq, at, os_user, action, record, digest, prev, hash FROM audit "
        "WHERE record = ? ORDER BY seq DESC LIMIT 1",
        (record,),
    ).fetchone()
    if found is None:
        return f"{record}: not in the audit log (written outside psyq)"
    entry = AuditEntry(*tuple(found))
    marker = keyed_from(conn)
    key = None
    if marker is not None and entry.seq >= marker[0]:
        key = store.audit_key(create=False)
    return _entry_problem(entry, row, key)
