"""The client store: one SQLite file (``$PSYQ_HOME/psyq.db``, or ``psyq --db PATH``).

* Private: the file, its WAL and its shared-memory index are created 0600 (SQLite
  gives the WAL and ``-shm`` files the database file's mode) in a 0700 directory.
* Safe under concurrency: WAL mode, a busy timeout, and every write in a
  ``BEGIN IMMEDIATE`` transaction, so two psyq processes writing at once queue
  instead of failing, and the audit chain (:mod:`psyq.audit`) stays linear.
* Versioned: ``PRAGMA user_version`` holds the schema version; :data:`MIGRATIONS`
  are applied in order, automatically, when a store is opened.
* Pseudonymous: clients are ids matching :data:`psyq.clients.CLIENT_ID_PATTERN`; no names.

An administration keeps what was asked and answered (instrument id, version and
definition hash, date, clinician, answers, status). Its scores are derived data,
kept so history and exports need not rescore, and recomputed by ``psyq rescore``.
Every write appends an audit entry in the same transaction.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from psyq import audit
from psyq.clients import check_client_id
from psyq.errors import PsyqError
from psyq.models import CRITICAL_ITEM_FLAG, Instrument
from psyq.results import FlagHit, ScoreResult

DB_NAME = "psyq.db"
BUSY_TIMEOUT_S = 30.0

"""1-32 letters, digits, ``-`` or ``_``, starting with a letter or digit, with at
least one digit: a code such as ``C0042``, never a name."""

Status = Literal["complete", "partial"]

MIGRATIONS: tuple[str, ...] = (
    # 1: clients, administrations with their derived scores, the audit log.
    """
    CREATE TABLE clients (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL
    );
    CREATE TABLE administrations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT NOT NULL REFERENCES clients(id),
        instrument_id TEXT NOT NULL,
        instrument_version TEXT NOT NULL,
        definition_hash TEXT NOT NULL,
        administered TEXT NOT NULL,
        clinician TEXT,
        answers TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('complete', 'partial')),
        position INTEGER NOT NULL DEFAULT 0,
        scores TEXT,
        scored_with TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX administrations_by_client
        ON administrations (client_id, instrument_id, administered, id);
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        os_user TEXT NOT NULL,
        action TEXT NOT NULL,
        record TEXT NOT NULL,
        digest TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 2: a free-text note per administration (dropped by `export --deidentify`).
    """
    ALTER TABLE administrations ADD COLUMN note TEXT;
    """,
    # 3: the chain becomes keyed (HMAC; see psyq.audit), INSERT OR REPLACE and any
    # out-of-sequence insert into the log are refused, and rescoring keeps every
    # score version instead of overwriting it.
    """
    CREATE TRIGGER audit_next_only BEFORE INSERT ON audit
        WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit)
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    ALTER TABLE administrations ADD COLUMN scoring TEXT;
    CREATE TABLE score_versions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        administration_id INTEGER NOT NULL REFERENCES administrations(id),
        version INTEGER NOT NULL,
        scores TEXT NOT NULL,
        scored_with TEXT,
        scoring TEXT,
        superseded_at TEXT NOT NULL,
        superseded_by TEXT NOT NULL,
        UNIQUE (administration_id, version)
    );
    CREATE TRIGGER score_versions_no_update BEFORE UPDATE ON score_versions
        BEGIN SELECT RAISE(ABORT, 'score versions are append-only'); END;
    CREATE TRIGGER score_versions_no_delete BEFORE DELETE ON score_versions
        BEGIN SELECT RAISE(ABORT, 'score versions are append-only'); END;
    """,
    # 4: the language the form was given in (a BCP 47 tag; NULL: the instrument's own).
    """
    ALTER TABLE administrations ADD COLUMN language TEXT;
    """,
    # 5: a copy of each definition that did not ship with psyq (a draft given by path,
    # a local pack's or a plugin's), by content hash, so stored administrations keep
    # their instrument after the file moves or changes. Append-only.
    """
    CREATE TABLE definitions (
        hash TEXT PRIMARY KEY,
        instrument_id TEXT NOT NULL,
        version TEXT NOT NULL,
        source TEXT NOT NULL,
        source_path TEXT,
        definition TEXT NOT NULL,
        stored_at TEXT NOT NULL
    );
    CREATE INDEX definitions_by_id ON definitions (instrument_id, stored_at);
    CREATE TRIGGER definitions_no_update BEFORE UPDATE ON definitions
        BEGIN SELECT RAISE(ABORT, 'stored definitions are append-only'); END;
    CREATE TRIGGER definitions_no_delete BEFORE DELETE ON definitions
        BEGIN SELECT RAISE(ABORT, 'stored definitions are append-only'); END;
    """,
    # 6: client attributes (sex, for cut-offs that depend on it), each change keeping
    # the earlier attributes as a client version.
    """
    ALTER TABLE clients ADD COLUMN attributes TEXT;
    CREATE TABLE client_versions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT NOT NULL REFERENCES clients(id),
        attributes TEXT NOT NULL,
        superseded_at TEXT NOT NULL,
        superseded_by TEXT NOT NULL
    );
    CREATE TRIGGER client_versions_no_update BEFORE UPDATE ON client_versions
        BEGIN SELECT RAISE(ABORT, 'client versions are append-only'); END;
    CREATE TRIGGER client_versions_no_delete BEFORE DELETE ON client_versions
        BEGIN SELECT RAISE(ABORT, 'client versions are append-only'); END;
    """,
    # 7: answers already saved that psyq changes (a form gone back into with `b` or the
    # tablet's Back, a whole-form answer tapped again, a finished form reopened) keep
    # the earlier answers, status and scores as an answer version. Append-only.
    """
    CREATE TABLE answer_versions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        administration_id INTEGER NOT NULL REFERENCES administrations(id),
        answers TEXT NOT NULL,
        status TEXT NOT NULL,
        position INTEGER NOT NULL,
        scores TEXT,
        scored_with TEXT,
        scoring TEXT,
        saved_at TEXT NOT NULL,
        superseded_at TEXT NOT NULL,
        superseded_by TEXT NOT NULL
    );
    CREATE TRIGGER answer_versions_no_update BEFORE UPDATE ON answer_versions
        BEGIN SELECT RAISE(ABORT, 'answer versions are append-only'); END;
    CREATE TRIGGER answer_versions_no_delete BEFORE DELETE ON answer_versions
        BEGIN SELECT RAISE(ABORT, 'answer versions are append-only'); END;
    """,
)
KEYED_SCHEMA_VERSION = 3
"""From this schema version on, the audit chain must be keyed."""
SCHEMA_VERSION = len(MIGRATIONS)

_ADMIN_COLUMNS = (
    "id, client_id, instrument_id, instrument_version, definition_hash, administered, "
    "clinician, note, answers, status, position, scores, scored_with, scoring, created_at, "
    "updated_at, language"
)


class StoreError(PsyqError):
    """The store cannot be opened or a record does not exist."""


class TamperedError(StoreError):
    """A record no longer matches its audit entry; psyq will not build on it."""

    exit_code = 1


class Administration(BaseModel):
    """One stored administration of an instrument to a client."""

    model_config = ConfigDict(frozen=True)

    id: int
    client_id: str
    instrument_id: str
    instrument_version: str
    definition_hash: str
    administered: date
    clinician: str | None
    note: str | None
    answers: dict[str, int | None]
    status: Status
    position: int
    scores: dict[str, Any] | None
    scored_with: str | None
    scoring: dict[str, Any] | None = None
    """Who scored it, when, with which plugins, and the score version (1, 2, ...)."""
    created_at: datetime
    updated_at: datetime
    language: str | None = None
    """The language the form was given in; None for the instrument's own."""

    @property
    def score_version(self) -> int:
        """1 for the first scores; each ``rescore`` that changed them adds one."""
        return int((self.scoring or {}).get("version", 1))

    @property
    def result(self) -> ScoreResult | None:
        """The stored (derived) score result, if scored."""
        return None if self.scores is None else ScoreResult.model_validate(self.scores)

    @property
    def record(self) -> str:
        return admin_record(self.id)


class StoredDefinition(BaseModel):
    """A definition kept in the store: where it came from, and a copy of it."""

    model_config = ConfigDict(frozen=True)

    hash: str
    instrument_id: str
    version: str
    source: str
    source_path: str | None
    stored_at: datetime
    definition: str

    def instrument(self) -> Instrument | None:
        """The stored copy, or None if it cannot be used (:meth:`checked` says why)."""
        return self.checked()[0]

    def checked(self) -> tuple[Instrument | None, str | None]:
        """The stored copy (or ``None``) and what to say about it (or ``None``).

        A copy that does not match its hash was changed outside psyq: not used. A copy
        that matches it but that this psyq's checks of the format refuse (checks added
        since the psyq that stored it) is the definition its administrations were scored
        with: it is built as stored, without those checks, so their history, flags
        included, stays readable, and the reason is said."""
        from pydantic import ValidationError

        changed = "does not match its hash (changed outside psyq)"
        try:
            instrument = Instrument.model_validate_json(self.definition)
        except ValidationError as exc:
            # The copy as psyq stored it (the hash of its text matches), refused by checks
            # added since: say so, not that someone changed it.
            content = self._authentic_content()
            if content is None:
                return None, changed
            from psyq.models import construct_instrument
            from psyq.registry import validation_problems

            problem = validation_problems(Path(self.instrument_id), content, exc)[0]
            refused = f"is refused by this version of psyq's checks of the format ({problem})"
            try:
                built = construct_instrument(content)
            except Exception:  # whatever it cannot build is not used
                return None, refused
            if built.content_hash() != self.hash:
                return None, refused
            return built, f"{refused}; used as it was stored"
        except ValueError:
            return None, changed
        if instrument.content_hash() != self.hash:
            return None, changed
        return instrument, None

    def _authentic_content(self) -> dict[str, Any] | None:
        """The stored text as data, if its content hash is the one it was stored under."""
        from psyq.models import definition_hash

        try:
            content = json.loads(self.definition)
        except ValueError:
            return None
        if not isinstance(content, dict):
            return None
        scored = {k: v for k, v in content.items() if k != "translations"}
        return content if definition_hash(scored) == self.hash else None


class ClientSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    created_at: datetime
    attributes: dict[str, str] = {}
    """Recorded client attributes (``{"sex": "female"}``); see ``psyq clients set``."""
    administrations: int
    partial: int
    last: date | None
    instruments: dict[str, int]


class ScoreVersion(BaseModel):
    """Scores an administration had before a ``rescore`` superseded them."""

    model_config = ConfigDict(frozen=True)

    id: int
    administration_id: int
    version: int
    scores: dict[str, Any]
    scored_with: str | None
    scoring: dict[str, Any] | None
    superseded_at: datetime
    superseded_by: str
    changed_outside_psyq: str | None = None
    """The warning when this kept version no longer matches its audit entry (or can no
    longer be read): what is shown may not be what psyq kept."""

    @property
    def record(self) -> str:
        return score_version_record(self.id)

    @property
    def result(self) -> ScoreResult | None:
        """The kept scores as a result; None when they can no longer be read."""
        try:
            return ScoreResult.model_validate(self.scores)
        except ValueError:
            return None

    def alerts_gone(self, now: ScoreResult | None) -> list[FlagHit]:
        """Critical flags these earlier scores raised that the current ones (``now``) do
        not: a risk signal a rescore took away is still shown."""
        earlier = [] if self.result is None else self.result.critical
        still = set() if now is None else {f.id for f in now.critical}
        return [f for f in earlier if f.id not in still]


class AnswerVersion(BaseModel):
    """An administration as it was saved before psyq changed answers already given in it
    (the form gone back into, a finished form reopened on the tablet)."""

    model_config = ConfigDict(frozen=True)

    id: int
    administration_id: int
    answers: dict[str, int | None]
    status: Status
    position: int
    scores: dict[str, Any] | None
    saved_at: datetime
    superseded_at: datetime
    superseded_by: str
    changed_outside_psyq: str | None = None
    """The warning when this kept version no longer matches its audit entry."""

    @property
    def record(self) -> str:
        return answer_version_record(self.id)

    @property
    def result(self) -> ScoreResult | None:
        return None if self.scores is None else ScoreResult.model_validate(self.scores)

    def alerts_gone(self, now: ScoreResult | None) -> list[FlagHit]:
        """Critical flags these earlier answers raised that the answers ``now`` (the
        administration's current result) do not: a risk signal answered away.

        An unanswered critical item that is answered now is not one: the client was
        asked (a form saved before reaching the item, then finished), and what they
        answered raises its own flag if it is a risk."""
        earlier = [] if self.result is None else self.result.critical
        still = set() if now is None else {f.id for f in now.critical}
        answered = set() if now is None else {k for k, v in now.answers.items() if v is not None}
        return [
            f
            for f in earlier
            if f.id not in still
            and not (f.id == CRITICAL_ITEM_FLAG and f.item_ids and set(f.item_ids) <= answered)
        ]

    def changes(self, now: dict[str, int | None]) -> dict[str, tuple[int | None, int | None]]:
        """Item id -> (answer then, answer now), for the items whose answer differs."""
        items = list(dict.fromkeys([*self.answers, *now]))
        return {
            k: (self.answers.get(k), now.get(k)) for k in items if self.answers.get(k) != now.get(k)
        }


class MovedForm(BaseModel):
    """A stored administration that may have left its client outside psyq
    (:meth:`Store.moved_outside`)."""

    model_config = ConfigDict(frozen=True)

    administration_id: int
    client_id: str
    """The client it is stored under now."""
    former_client: str | None
    """The client psyq last saved it for, when the client id is all that changed since;
    None when psyq cannot tell (more was changed)."""
    instrument_id: str
    administered: str
    status: str
    last_audited: str
    """``entry #7: record by ana at ...``: psyq's last save of it (moved after that)."""
    critical: tuple[str, ...] = ()
    """The critical flags its stored scores raise (``suicidal_ideation (item phq9_9)``)."""
    flags: tuple[FlagHit, ...] = ()
    """Those flags, worded (:func:`psyq.alerts.alert_line`) as every alert is."""

    def left(self, client_id: str) -> bool:
        """Whether to name it under ``client_id``: it left that client, or it may have
        (psyq cannot tell whose it was) and is not that client's now."""
        if self.former_client is not None:
            return self.former_client == client_id
        return self.client_id != client_id

    def line(self, *, detail: bool = True) -> str:
        """The ``!!! LEFT ... OUTSIDE PSYQ`` line said under the client it (may have) left;
        without ``detail`` (a de-identified export) no client id, date or user."""
        from psyq.alerts import alert_line

        # Each flag as every alert says it: its items and its message, never its id alone.
        raised = [alert_line(flag) for flag in self.flags] or [
            f"CRITICAL {', '.join(self.critical)}"
        ]
        critical = f"; it raises {'; '.join(raised)}" if self.critical or self.flags else ""
        end = "`psyq audit verify` gives the details"
        if not detail:
            return (
                f"!!! MOVED OUTSIDE PSYQ: an administration ({self.instrument_id}, "
                f"{self.status}) was moved to another client outside psyq (its row's "
                f"changed_outside_psyq names the client it was saved for){critical}; {end}"
            )
        what = (
            f"administration {self.administration_id} ({self.instrument_id}, "
            f"{self.administered}, {self.status})"
        )
        if self.former_client is not None:
            return (
                f"!!! LEFT CLIENT {self.former_client} OUTSIDE PSYQ: {what} was saved by psyq "
                f"as client {self.former_client}'s (last audited in {self.last_audited}) and "
                f"is now stored under client {self.client_id}: it was moved outside psyq "
                f"after that{critical}; it is not in this client's scores and trend; {end}"
            )
        return (
            f"!!! CHANGED OUTSIDE PSYQ, CLIENT UNKNOWN: {what}, now stored under client "
            f"{self.client_id}, was changed outside psyq after psyq last saved it (in "
            f"{self.last_audited}) and psyq cannot tell whose it was before: it may have "
            f"been this client's{critical}; {end}"
        )


def _critical_of(scores: Any) -> tuple[FlagHit, ...]:
    """The critical flags stored scores raise."""
    try:
        result = ScoreResult.model_validate_json(scores) if scores is not None else None
    except ValueError:
        return ()
    return () if result is None else tuple(result.critical)


CHANGED_OUTSIDE = (
    "This record was changed outside psyq after it was saved: what is shown may not be "
    "what psyq recorded; `psyq audit verify` gives the details"
)
"""Said on every output showing a stored administration that fails its audit entry."""


def deleted_lines(
    deleted: dict[int, str],
    *,
    detail: bool = True,
    gap: str | None = None,
    kept: dict[str, str] | None = None,
) -> list[str]:
    """One ``!!! DELETED OUTSIDE PSYQ`` line per administration deleted outside psyq
    (:meth:`Store.deleted_outside`), said wherever a client's administrations are listed;
    without ``detail`` (a de-identified export) one line with their number only. ``gap``
    (:meth:`Store.log_gap`) adds a line for audit entries deleted from the log; ``kept``
    (:meth:`Store.records_deleted_outside`) one per client or kept version that is gone."""
    end = "`psyq audit verify` gives the details"
    said = []
    if gap is not None:
        said.append(
            f"!!! AUDIT LOG CHANGED OUTSIDE PSYQ: {gap}; records they named may have been "
            f"changed or deleted with them: what is shown may not be what psyq recorded; {end}"
        )
    if kept and not detail:
        said.append(
            f"!!! DELETED OUTSIDE PSYQ: {len(kept)} record(s) psyq kept (clients, or earlier "
            "answers, scores or client details psyq replaced) were deleted outside psyq; what "
            f"they held is no longer shown; {end}"
        )
    elif kept:
        said += [
            f"!!! DELETED OUTSIDE PSYQ: {record} was deleted outside psyq after psyq saved "
            f"it ({problem}); the answers, scores or client details it held are no longer "
            f"shown; {end}"
            for record, problem in kept.items()
        ]
    if not deleted:
        return said
    if not detail:
        return [
            *said,
            f"!!! DELETED OUTSIDE PSYQ: {len(deleted)} administration(s) were deleted outside "
            f"psyq after they were saved; what is shown may be missing them; {end}",
        ]
    return said + [
        f"!!! DELETED OUTSIDE PSYQ: administration {n} was deleted outside psyq after it was "
        f"saved ({problem}); what is shown may be missing it; {end}"
        for n, problem in sorted(deleted.items())
    ]


_Kept = TypeVar("_Kept", "AnswerVersion", "ScoreVersion")


def by_administration(versions: Iterable[_Kept]) -> dict[int, list[_Kept]]:
    """Kept versions (:meth:`Store.answer_versions`, :meth:`Store.score_versions`) by
    the administration they belong to, each list oldest first."""
    grouped: dict[int, list[_Kept]] = {}
    for version in versions:
        grouped.setdefault(version.administration_id, []).append(version)
    return grouped


def changed_warning(problem: str | None, *, detail: bool = True) -> str | None:
    """The warning shown for an administration ``problem`` names (None: nothing to say);
    ``detail`` adds what the audit check found (left out of de-identified exports)."""
    if problem is None:
        return None
    return f"{CHANGED_OUTSIDE} ({problem})" if detail else CHANGED_OUTSIDE


def score_version_record(version_id: int) -> str:
    return f"score version {version_id}"


def admin_record(admin_id: int) -> str:
    return f"administration {admin_id}"


def client_record(client_id: str) -> str:
    return f"client {client_id}"


def answer_version_record(version_id: int) -> str:
    return f"answer version {version_id}"


def client_version_record(version_id: int) -> str:
    return f"client version {version_id}"


def definition_record(digest: str) -> str:
    return f"definition {digest}"


def default_path(home: Path) -> Path:
    return home / DB_NAME


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _json(value: Any) -> str:
    # Key order kept: answers read best in item order (and the digest is of the text).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Store:
    """An open psyq store. Use as a context manager, or call :meth:`close`."""

    keyed_schema_version = KEYED_SCHEMA_VERSION

    def __init__(self, path: Path, *, key_path: Path | None = None) -> None:
        self.path = path
        self.key_path = key_path if key_path is not None else audit.key_path()
        self._key: bytes | None = None
        self.read_only = _is_read_only(path)
        self._schema_checked = False  # before the first write (not during migrations)
        self._migrating = False
        self._appended: audit.AuditEntry | None = None
        """The newest entry of the write under way (noted beside the key once committed)."""
        self.notes: list[str] = []
        """What psyq changed about the files on opening (loose modes made 0600)."""
        self._moved: tuple[tuple[int, int], list[MovedForm]] | None = None
        """:meth:`moved_outside`'s answer, and the store's state it was found in."""
        _refuse_foreign_journal(path)
        if self.read_only:
            self.connection = _connect_read_only(path)
        else:
            self.notes = _make_private(path)
            self.connection = _connect(path)
        try:
            if self.read_only:
                self._check_read_only_schema()
            else:
                self._migrate()
        except sqlite3.Error as exc:
            self.connection.close()
            raise StoreError(f"{path}: cannot set up the psyq store: {exc}") from None
        except BaseException:
            self.connection.close()
            raise

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    # -- the audit key -------------------------------------------------------

    def audit_key(self, *, create: bool = True) -> bytes:
        """The key the audit chain is written with (see :mod:`psyq.audit`).

        Created (0600) only for a store whose chain is not keyed yet; a keyed
        store whose key file is gone refuses to write rather than start a
        chain nobody could verify.
        """
        if self._key is None:
            key = audit.read_key(self.key_path)
            try:
                marker = audit.keyed_from(self.connection)
            except sqlite3.Error:  # the log dropped: audit verify names it
                marker = None
            if key is None:
                if not create or self.read_only or marker is not None:
                    raise audit.AuditKeyError(
                        f"{self.key_path}: the audit key is missing; restore it from your "
                        "backup (or point PSYQ_AUDIT_KEY at it): without it this store's "
                        "audit chain can be neither extended nor verified"
                    )
                key = audit.create_key(self.key_path)
            elif marker is not None and audit.key_id(key) != marker[1]:
                # Entries under another key would make the chain verifiable by neither.
                raise audit.AuditKeyError(audit.wrong_key(self.key_path, key, marker[1]))
            self._key = key
        return self._key

    def _append(self, action: str, record: str, digest: str) -> audit.AuditEntry:
        entry = audit.append(self.connection, action, record, digest, key=self.audit_key())
        self._appended = entry
        return entry

    def audit_event(self, action: str, record: str, content: dict[str, Any]) -> None:
        """Record an event about something kept outside the store (``kiosk session 3``)
        in the audit log, with a digest of ``content``."""
        with self.write():
            self._append(action, record, audit.record_digest(content))

    # -- schema ------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        version: int = self.connection.execute("PRAGMA user_version").fetchone()[0]
        return version

    def _migrate(self) -> None:
        if self.schema_version == SCHEMA_VERSION:
            return
        self._migrating = True
        try:
            self._run_migrations()
        finally:
            self._migrating = False

    def _run_migrations(self) -> None:
        keyed: audit.AuditEntry | None = None
        with self.write():
            # Re-read under the write lock: another process may have migrated meanwhile.
            current = self.schema_version
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: store schema version {current} is newer than this psyq "
                    f"understands ({SCHEMA_VERSION}); "
                    + (self._version_raised(current) or "upgrade psyq")
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                try:
                    for statement in _statements(MIGRATIONS[version - 1]):
                        self.connection.execute(statement)
                except sqlite3.Error as exc:
                    raise StoreError(
                        f"{self.path}: cannot set up the psyq store: {exc}"
                        + self._version_lowered(current)
                    ) from None
                self.connection.execute(f"PRAGMA user_version = {version}")
                if audit.keyed_from(self.connection) is None:
                    # A new store, or one written before the chain was keyed: every
                    # entry from here on is keyed; older ones stay as they were.
                    key = self.audit_key()
                    self._refuse_rewritten_log()
                    keyed = self._append(audit.KEY_ACTION, audit.KEY_RECORD, audit.key_id(key))
                self._append("migrate", "schema", audit.record_digest({"v": version}))
            if current == 0:
                self._record_replaced()
        if keyed is not None:  # after the commit: only a chain that was really keyed
            audit.remember_keyed(self.key_path, self.path, keyed.seq, keyed.hash)

    def _version_lowered(self, current: int) -> str:
        """What to add when the store's tables are those of a later schema version than
        its ``PRAGMA user_version`` says: the version was set back outside psyq."""
        actual = _schema(self.connection)
        for version in range(SCHEMA_VERSION, current, -1):
            if _expected_schema(version) == actual:
                return (
                    f" (it holds the tables of schema version {version}, but says it is at "
                    f"version {current}: its version was changed outside psyq; nothing was "
                    "changed; restore it from a backup)"
                )
        return ""

    def _version_raised(self, current: int) -> str | None:
        """What to say when a store says it is at a later schema version than this psyq's
        but holds exactly this psyq's tables and its log's last migration is to this
        psyq's version: its ``PRAGMA user_version`` was set up outside psyq (a later psyq
        would have migrated it, and audited that)."""
        try:
            last = self.connection.execute(
                "SELECT seq, digest FROM audit WHERE action = 'migrate' AND record = 'schema' "
                "ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        except sqlite3.Error:
            return None
        if (
            last is None
            or last[1] != audit.record_digest({"v": SCHEMA_VERSION})
            or _schema(self.connection) != _expected_schema(SCHEMA_VERSION)
        ):
            return None
        return (
            f"but it holds the tables of version {SCHEMA_VERSION}, and its audit log's last "
            f"migration (entry #{last[0]}) is to version {SCHEMA_VERSION}: its version was "
            f"changed outside psyq to {current}; nothing was changed; restore it from a backup"
        )

    def _refuse_rewritten_log(self) -> None:
        """Refuse to key, as if new, an older-shape log in a store this key keyed before:
        anyone can write a plain SHA-256 chain, so it was rewritten outside psyq."""
        entries = self.connection.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
        earlier = audit.keyed_before(self.key_path, self.path)
        if entries and earlier is not None:
            raise TamperedError(
                f"{self.path}: its audit log was keyed from entry #{earlier} (noted in "
                f"{audit.keyed_stores_path(self.key_path)}) and is now a log from before "
                "keying, which anyone can write: the store was rewritten outside psyq; "
                "nothing was written to it. Restore it from a backup (a backup from before keying "
                "opens at another path, with --db)"
            )

    def _check_read_only_schema(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: read-only, and written by "
                f"{'an older' if self.schema_version < SCHEMA_VERSION else 'a newer'} psyq "
                f"(schema {self.schema_version}, this psyq uses {SCHEMA_VERSION}); copy it "
                "to writable media and open it there once to upgrade it"
            )

    def schema_problems(self) -> list[str]:
        """Tables, indexes and triggers that differ from the ones psyq made (by name)."""
        actual = _schema(self.connection)
        expected = _expected_schema(self.schema_version)
        problems: list[str] = []
        for (kind, name), sql in expected.items():
            if (kind, name) not in actual:
                problems.append(f"schema: {kind} {name} is missing (dropped outside psyq)")
            elif actual[(kind, name)] != sql:
                problems.append(f"schema: {kind} {name} was changed outside psyq")
        for kind, name in actual:
            if (kind, name) not in expected:
                problems.append(f"schema: {kind} {name} was added outside psyq")
        return problems

    def has_audit_table(self) -> bool:
        row = self.connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'"
        ).fetchone()
        return row is not None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the write lock is taken at once so writers queue."""
        conn = self.connection
        if self.read_only:
            raise StoreError(
                f"{self.path}: the store is read-only (read-only media or no write "
                "permission); it can be read (history, export, audit verify) but not changed"
            )
        if not self._migrating and not self._schema_checked:
            # A trigger added outside psyq would rewrite what psyq writes, inside psyq's
            # own transaction, and the audit entry would digest the rewrite as psyq's.
            problems = self.schema_problems()
            if problems:
                raise TamperedError(
                    f"{self.path}: {problems[0]}; psyq does not write to a store whose "
                    "schema was changed (nothing saved); `psyq audit verify` gives the details"
                )
            self._schema_checked = True
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot write to the store: {exc}") from None
        self._appended = None
        try:
            if self.has_audit_table():
                forged = audit.unwritten_tail(self)
                if forged is not None:  # writing after it would bury it in the chain
                    raise TamperedError(
                        f"{self.path}: {forged}; psyq does not write after it (nothing "
                        "saved): `psyq audit verify` gives the details; restore the store "
                        "from a backup"
                    )
            self._record_rollback()
            yield conn
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(
                f"{self.path}: the write was refused and nothing was saved ({exc}); "
                "run `psyq audit verify`"
            ) from None
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise StoreError(f"{self.path}: nothing was saved: {exc}") from None
        appended = self._newest_appended()
        if appended is not None:  # after the commit: only an entry really written
            audit.remember_head(self.key_path, self.path, appended.seq, appended.hash)
            self._appended = None

    def _newest_appended(self) -> audit.AuditEntry | None:
        """The newest entry the write under way appended (set by :meth:`_append`)."""
        return self._appended

    def _record_rollback(self) -> None:
        """Before psyq writes to a store older than its last write to it (put back to an
        older copy, or cut short), record that in the log itself: the next write would
        otherwise become the newest entry psyq remembers, and the loss go unsaid."""
        if not self.has_audit_table():
            return
        lost = audit.lost_head(self)
        if lost is None:
            return
        seq, _ = audit.head(self.connection)
        gone = f"entry #{lost[0]}" if lost[0] <= seq + 1 else f"entries #{seq + 1}-#{lost[0]}"
        self._append(
            audit.ROLLBACK_ACTION,
            f"store: the log ended at entry #{seq}, but psyq had written up to entry "
            f"#{lost[0]} ({lost[1][:16]}...): {gone} and what "
            f"{'it' if gone.startswith('entry ') else 'they'} recorded were lost",
            audit.record_digest({"seq": lost[0], "hash": lost[1]}),
        )

    def _record_replaced(self) -> None:
        """In a new store's first write: if psyq wrote an earlier store at this path with
        this key, that store was deleted, moved or replaced outside psyq; say so in the
        new log (a ``rollback noticed`` entry, shown everywhere until acknowledged)."""
        noted = audit.remembered_head(self.key_path, self.path)
        if noted is None:
            return
        self._append(
            audit.ROLLBACK_ACTION,
            f"store: a new, empty store was made at {self.path}, where psyq had written up "
            f"to entry #{noted[0]} ({noted[1][:16]}...): the store psyq wrote there was "
            "deleted, moved or replaced outside psyq, with everything it recorded",
            audit.record_digest({"seq": noted[0], "hash": noted[1]}),
        )

    def acknowledge_loss(self, reason: str) -> tuple[int, int]:
        """Record, for ``psyq audit acknowledge``, that a person accepted the loss the
        newest unanswered ``rollback noticed`` entry records, and why. Returns (that
        entry's seq, the acknowledgement's seq). Refused when there is no such loss."""
        reason = " ".join(reason.split())
        if not reason or not reason.isprintable() or len(reason) > 500:
            raise PsyqError(
                "--reason: say in printable text (500 characters at most) why the loss is "
                "accepted, e.g. 'backup of 1 March restored after a disk failure'"
            )
        with self.write():  # records a loss found now first (_record_rollback)
            noticed = audit.unacknowledged_rollback(self.connection)
            if noticed is None:
                raise PsyqError(
                    f"{self.path}: the audit log records no loss to acknowledge (no store "
                    "put back to an older copy, cut short or replaced); nothing written"
                )
            entry = self._append(
                audit.ACKNOWLEDGED_ACTION,
                f"store: acknowledges entry #{noticed[0]} "
                f"({noticed[2].removeprefix('store: ')}): {reason}",
                audit.record_digest({"seq": noticed[0], "reason": reason}),
            )
        return noticed[0], entry.seq

    # -- clients -----------------------------------------------------------

    def add_client(self, client_id: str) -> None:
        """Create the client if new (administrations add their client themselves)."""
        check_client_id(client_id)
        with self.write():
            self._ensure_client(client_id)

    def _ensure_client(self, client_id: str) -> None:
        # Inside the caller's write transaction.
        conn = self.connection
        if conn.execute("SELECT 1 FROM clients WHERE id = ?", (client_id,)).fetchone():
            return
        last = conn.execute(
            "SELECT seq, at, os_user, action FROM audit WHERE record = ? ORDER BY seq DESC LIMIT 1",
            (client_record(client_id),),
        ).fetchone()
        if last is not None:  # psyq never deletes a client: adding it anew would hide that
            raise TamperedError(
                f"client {client_id} is no longer in {self.path}: it was deleted outside psyq "
                f"(last audited in entry #{last[0]}: {last[3]} by {last[2]} at {last[1]}); "
                "nothing saved; restore the store from a backup (`psyq audit verify` gives "
                "the details)"
            )
        created = _now()
        conn.execute("INSERT INTO clients (id, created_at) VALUES (?, ?)", (client_id, created))
        row = {"id": client_id, "created_at": created}
        self._append("add client", client_record(client_id), audit.record_digest(row))

    def client_attributes(self, client_id: str) -> dict[str, str]:
        """The client's recorded attributes (``{"sex": "female"}``; ``{}``: none)."""
        row = self.connection.execute(
            "SELECT attributes FROM clients WHERE id = ?", (client_id,)
        ).fetchone()
        return _attributes(None if row is None else row[0], client_id)

    def scoring_attributes(self, client_id: str) -> dict[str, str]:
        """The attributes a new or recomputed score uses (:meth:`client_attributes`).

        Refuses (:class:`TamperedError`) a client record changed outside psyq: a
        score built on a hand-edited sex would get a fresh, valid audit entry.
        """
        row = self.connection.execute("SELECT * FROM clients WHERE id = ?", (client_id,)).fetchone()
        if row is None:
            return {}
        problem = audit.verify_record(self, client_record(client_id), dict(row))
        if problem is not None:
            raise TamperedError(f"{problem}; its recorded sex is not used to score")
        return _attributes(row["attributes"], client_id)

    def set_client_attributes(
        self, client_id: str, changes: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, str], int | None]:
        """Record client attributes (creating the client if new).

        Returns (before, after, the id of the client version keeping ``before``, or
        None when nothing was recorded before or nothing changed). Refuses a client
        record changed outside psyq.
        """
        check_client_id(client_id)
        now = _now()
        with self.write() as conn:
            self._ensure_client(client_id)
            row = conn.execute("SELECT * FROM clients WHERE id = ?", (client_id,)).fetchone()
            problem = audit.verify_record(self, client_record(client_id), dict(row))
            if problem is not None:
                raise TamperedError(f"{problem}; nothing recorded")
            before = _attributes(row["attributes"], client_id)
            after = before | changes
            if after == before:
                return before, after, None
            version_id: int | None = None
            if row["attributes"] is not None:
                version_id = self._keep_version(
                    conn,
                    "client_versions",
                    client_version_record,
                    {"client_id": client_id, "attributes": row["attributes"], "superseded_at": now},
                )
            conn.execute(
                "UPDATE clients SET attributes = ? WHERE id = ?",
                (_json(dict(sorted(after.items()))), client_id),
            )
            new = conn.execute("SELECT * FROM clients WHERE id = ?", (client_id,)).fetchone()
            self._append("set client", client_record(client_id), audit.record_digest(dict(new)))
        return before, after, version_id

    def client_versions(self, client_id: str) -> list[dict[str, Any]]:
        """Earlier attributes of a client, oldest first (what each change replaced), each
        with ``changed_outside_psyq``: the warning when it no longer matches its audit
        entry (else None)."""
        rows = self.connection.execute(
            "SELECT * FROM client_versions WHERE client_id = ? ORDER BY id", (client_id,)
        ).fetchall()
        changed = audit.changed_records(
            self, {client_version_record(row["id"]): dict(row) for row in rows}
        )
        return [
            {
                "id": row["id"],
                "attributes": _attributes(row["attributes"], client_id),
                "superseded_at": row["superseded_at"],
                "superseded_by": row["superseded_by"],
                "changed_outside_psyq": changed_warning(
                    changed.get(client_version_record(row["id"]))
                ),
            }
            for row in rows
        ]

    def clients(self) -> list[ClientSummary]:
        rows = self.connection.execute(
            "SELECT c.id, c.created_at, c.attributes, a.instrument_id, a.status, a.administered "
            "FROM clients c LEFT JOIN administrations a ON a.client_id = c.id ORDER BY c.id"
        ).fetchall()
        out: dict[str, dict[str, Any]] = {}
        for cid, created, attributes, instrument_id, status, administered in rows:
            entry = out.setdefault(
                cid,
                {
                    "id": cid,
                    "created_at": created,
                    "attributes": _attributes(attributes, cid),
                    "administrations": 0,
                    "partial": 0,
                    "last": None,
                    "instruments": {},
                },
            )
            if instrument_id is None:
                continue
            entry["administrations"] += 1
            entry["partial"] += status == "partial"
            entry["instruments"][instrument_id] = entry["instruments"].get(instrument_id, 0) + 1
            if entry["last"] is None or administered > entry["last"]:
                entry["last"] = administered
        try:
            return [ClientSummary.model_validate(e) for e in out.values()]
        except ValueError as exc:  # a row edited outside psyq (a date that is not one)
            bad = next(e["id"] for e in out.values() if not _valid_summary(e))
            raise StoreError(
                f"client {bad}: damaged record ({str(exc).splitlines()[0]}); run "
                "`psyq audit verify` to see what was changed"
            ) from None

    def has_client(self, client_id: str) -> bool:
        row = self.connection.execute("SELECT 1 FROM clients WHERE id = ?", (client_id,))
        return row.fetchone() is not None

    # -- administrations ---------------------------------------------------

    def add_administration(
        self,
        *,
        instrument: Instrument,
        client_id: str,
        answers: dict[str, int | None],
        result: ScoreResult | None,
        administered: date,
        clinician: str | None = None,
        note: str | None = None,
        status: Status = "complete",
        position: int | None = None,
        plugins: list[str] | None = None,
        language: str | None = None,
        origin: tuple[str, str | None] | None = None,
    ) -> Administration:
        """Save a new administration (and its client, if new); return it with its id.

        ``plugins`` names the plugin set that scored ``result`` (kept with it);
        ``language`` is the tag of the translation the form was given in, if any;
        ``origin`` (source, path) of a definition that did not ship with psyq keeps
        a copy of it (:meth:`keep_definition`).
        """
        check_client_id(client_id)
        now = _now()
        definition_hash = instrument.content_hash()
        with self.write() as conn:
            self._ensure_client(client_id)
            if origin is not None:
                self._keep_definition(conn, instrument, *origin)
            cursor = conn.execute(
                "INSERT INTO administrations (client_id, instrument_id, instrument_version, "
                "definition_hash, administered, clinician, note, answers, status, position, "
                "scores, scored_with, scoring, created_at, updated_at, language) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    client_id,
                    instrument.id,
                    instrument.version,
                    definition_hash,
                    administered.isoformat(),
                    clinician or None,
                    note or None,
                    _json(answers),
                    status,
                    len(instrument.items) if position is None else position,
                    None if result is None else _json(result.model_dump(mode="json")),
                    None if result is None else definition_hash,
                    None if result is None else _scoring(1, plugins, now),
                    now,
                    now,
                    language,
                ),
            )
            admin_id = cursor.lastrowid
            assert admin_id is not None
            self._audit_admin(conn, "record" if status == "complete" else "start", admin_id)
        return self.get(admin_id)

    def keep_definition(self, instrument: Instrument, source: str, path: str | None) -> None:
        """Keep a copy of ``instrument`` by content hash (once; never changed)."""
        with self.write() as conn:
            self._keep_definition(conn, instrument, source, path)

    def _keep_definition(
        self, conn: sqlite3.Connection, instrument: Instrument, source: str, path: str | None
    ) -> None:
        copy = instrument.model_dump_json()
        digest = instrument.content_hash()
        if Instrument.model_validate_json(copy).content_hash() != digest:
            return  # texts from a licensed overlay: the copy would not be the definition
        cursor = conn.execute(
            "INSERT OR IGNORE INTO definitions (hash, instrument_id, version, source, "
            "source_path, definition, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (digest, instrument.id, instrument.version, source, path, copy, _now()),
        )
        if cursor.rowcount == 1:  # a new copy, audited like every other store write
            row = conn.execute("SELECT * FROM definitions WHERE hash = ?", (digest,)).fetchone()
            self._append(
                "keep definition", definition_record(digest), audit.record_digest(dict(row))
            )

    def definition(self, digest: str) -> StoredDefinition | None:
        """The kept copy of the definition with content hash ``digest``, if any."""
        if self.schema_version < 5:
            return None
        row = self.connection.execute(
            "SELECT hash, instrument_id, version, source, source_path, definition, stored_at "
            "FROM definitions WHERE hash = ?",
            (digest,),
        ).fetchone()
        return None if row is None else StoredDefinition.model_validate(dict(row))

    def definition_deleted(self, digests: list[str]) -> str | None:
        """``definition sha256:...: last audited in entry #n ...`` when the audit log
        records a kept copy of one of these definitions that the store no longer holds
        (deleted outside psyq: psyq never deletes one), else None."""
        for digest in digests:
            try:
                last = self.connection.execute(
                    "SELECT seq, at, os_user, action FROM audit WHERE record = ? "
                    "ORDER BY seq DESC LIMIT 1",
                    (definition_record(digest),),
                ).fetchone()
                if last is None or self.definition(digest) is not None:
                    continue
            except sqlite3.Error:  # a table dropped: audit verify names it
                return None
            return (
                f"{definition_record(digest)}: last audited in entry #{last[0]}: {last[3]} by "
                f"{last[2]} at {last[1]}"
            )
        return None

    def definition_origins(self) -> dict[str, tuple[str, str | None]]:
        """Content hash -> (source, source path) of every kept definition copy (a draft
        scored by path, a local pack's or a plugin's); shipped definitions are not kept."""
        if self.schema_version < 5:
            return {}
        rows = self.connection.execute("SELECT hash, source, source_path FROM definitions")
        return {row[0]: (row[1], row[2]) for row in rows}

    def has_instrument(self, instrument_id: str) -> bool:
        """Whether any administration of ``instrument_id`` is stored."""
        row = self.connection.execute(
            "SELECT 1 FROM administrations WHERE instrument_id = ? LIMIT 1", (instrument_id,)
        ).fetchone()
        return row is not None

    def update_progress(
        self,
        admin_id: int,
        *,
        answers: dict[str, int | None],
        position: int,
        status: Status,
        result: ScoreResult | None,
        plugins: list[str] | None = None,
    ) -> Administration:
        """Save progress of an administration being given (answers, position, status).

        Refuses (:class:`TamperedError`) a record changed outside psyq since its last
        save: the new audit entry would digest the hand edit (a note, a client id, an
        answer the tablet reads back) and make it look as psyq wrote it.
        """
        now = _now()
        with self.write() as conn:
            current = self._row(admin_id)
            problem = audit.verify_record(self, admin_record(admin_id), dict(current))
            if problem is not None:
                raise TamperedError(f"{problem}; nothing saved")
            if _answers_replaced(current, answers):
                self._keep_answer_version(conn, current, now)
            conn.execute(
                "UPDATE administrations SET answers = ?, position = ?, status = ?, scores = ?, "
                "scored_with = ?, scoring = ?, updated_at = ? WHERE id = ?",
                (
                    _json(answers),
                    position,
                    status,
                    None if result is None else _json(result.model_dump(mode="json")),
                    None if result is None else current["definition_hash"],
                    None if result is None else _scoring(1, plugins, now),
                    now,
                    admin_id,
                ),
            )
            self._audit_admin(conn, "complete" if status == "complete" else "answer", admin_id)
        return self.get(admin_id)

    def _keep_answer_version(
        self, conn: sqlite3.Connection, current: sqlite3.Row, now: str
    ) -> None:
        """Keep the administration as it was saved before psyq changes answers in it."""
        kept = ("answers", "status", "position", "scores", "scored_with", "scoring")
        self._keep_version(
            conn,
            "answer_versions",
            answer_version_record,
            {
                "administration_id": current["id"],
                **{column: current[column] for column in kept},
                "saved_at": current["updated_at"],
                "superseded_at": now,
            },
        )

    def _keep_version(
        self,
        conn: sqlite3.Connection,
        table: str,
        record: Callable[[int], str],
        values: dict[str, Any],
    ) -> int:
        """Keep an earlier version in an append-only ``table`` (one of psyq's own
        ``*_versions`` tables), stamped with who superseded it, and audit it as
        ``record(id)``; its id."""
        values = {**values, "superseded_by": audit.os_user()}
        cursor = conn.execute(
            f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
            tuple(values.values()),
        )
        version_id = cursor.lastrowid
        assert version_id is not None
        row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (version_id,)).fetchone()
        self._append("supersede", record(version_id), audit.record_digest(dict(row)))
        return version_id

    def _kept_rows(
        self, table: Literal["answer_versions", "score_versions"], admin_ids: Iterable[int] | None
    ) -> list[dict[str, Any]]:
        """Every row of a table of kept versions, oldest first, or those of these
        administrations only (the forms shown: the store picks them, any number, with
        one parameter)."""
        if admin_ids is None:
            rows = self.connection.execute(f"SELECT * FROM {table} ORDER BY id")
        else:
            rows = self.connection.execute(
                f"SELECT * FROM {table} WHERE administration_id IN "
                "(SELECT value FROM json_each(?)) ORDER BY id",
                (json.dumps(sorted(set(admin_ids))),),
            )
        return [dict(row) for row in rows]

    def answer_versions(self, admin_ids: Iterable[int] | None = None) -> list[AnswerVersion]:
        """Earlier answers psyq replaced, oldest first (of these administrations, or all)."""
        if self.schema_version < 7:
            return []
        kept = self._kept_rows("answer_versions", admin_ids)
        # A kept version is shown as psyq kept it, or said to have been changed since.
        changed = audit.changed_records(self, {answer_version_record(r["id"]): r for r in kept})
        out = []
        for data in kept:
            problem = changed.get(answer_version_record(data["id"]))
            try:
                data["answers"] = json.loads(data["answers"])
                data["scores"] = None if data["scores"] is None else json.loads(data["scores"])
                data["changed_outside_psyq"] = changed_warning(problem)
                out.append(AnswerVersion.model_validate(data))
            except (ValueError, TypeError):  # damaged outside psyq: audit verify names it
                continue
        return out

    def set_scores(
        self,
        admin_id: int,
        result: ScoreResult,
        scored_with: str,
        plugins: list[str] | None = None,
    ) -> Administration:
        """New derived scores (``psyq rescore``); the old ones are kept as a score version.

        Refuses (:class:`StoreError`, exit 1) a record whose stored content no
        longer matches its audit entry: rescoring must never make tampering
        look legitimate.
        """
        now = _now()
        with self.write() as conn:
            current = self._row(admin_id)
            problem = audit.verify_record(self, admin_record(admin_id), dict(current))
            if problem is not None:
                raise TamperedError(f"{problem}; not rescored")
            version = 1
            if current["scores"] is not None:
                old = json.loads(current["scoring"]) if current["scoring"] else {}
                version = int(old.get("version", 1))
                self._keep_version(
                    conn,
                    "score_versions",
                    score_version_record,
                    {
                        "administration_id": admin_id,
                        "version": version,
                        "scores": current["scores"],
                        "scored_with": current["scored_with"],
                        "scoring": current["scoring"],
                        "superseded_at": now,
                    },
                )
                version += 1
            conn.execute(
                "UPDATE administrations SET scores = ?, scored_with = ?, scoring = ?, "
                "updated_at = ? WHERE id = ?",
                (
                    _json(result.model_dump(mode="json")),
                    scored_with,
                    _scoring(version, plugins, now),
                    now,
                    admin_id,
                ),
            )
            self._audit_admin(conn, "rescore", admin_id)
        return self.get(admin_id)

    def score_versions(self, admin_ids: int | Iterable[int] | None = None) -> list[ScoreVersion]:
        """Superseded scores, oldest first (of one administration, of these, or all).

        Each is checked against its audit entry (``changed_outside_psyq``); one whose
        stored text can no longer be read is still listed, said to be changed."""
        if isinstance(admin_ids, int):
            admin_ids = [admin_ids]
        kept = self._kept_rows("score_versions", admin_ids)
        changed = audit.changed_records(self, {score_version_record(r["id"]): r for r in kept})
        out = []
        for data in kept:
            problem = changed.get(score_version_record(data["id"]))
            try:
                scores = json.loads(data["scores"])
                scoring = json.loads(data["scoring"]) if data["scoring"] else None
                if not isinstance(scores, dict) or not isinstance(scoring, dict | None):
                    raise ValueError("not an object")
            except (ValueError, TypeError):
                scores, scoring = {}, None
                problem = problem or f"{score_version_record(data['id'])}: damaged"
            data.update(scores=scores, scoring=scoring, changed_outside_psyq=None)
            if problem is not None:
                data["changed_outside_psyq"] = changed_warning(problem)
            try:
                out.append(ScoreVersion.model_validate(data))
            except ValueError:  # a column of another type put there: audit verify names it
                continue
        return out

    def verify_administration(self, admin_id: int) -> None:
        """Raise :class:`TamperedError` if this administration was changed outside psyq."""
        problem = audit.verify_record(self, admin_record(admin_id), dict(self._row(admin_id)))
        if problem is not None:
            raise TamperedError(problem)

    def changed_outside(self, admin_ids: Iterable[int]) -> dict[int, str]:
        """Administration id -> what is wrong, for those among ``admin_ids`` whose stored
        record no longer matches what psyq wrote (its last audit entry).

        For every read path that shows stored administrations (history, export, report):
        one pass over the audit log for them all (:func:`psyq.audit.changed_records`),
        not the whole-chain check of ``audit verify``.
        """
        ids = sorted(set(admin_ids))
        rows: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):  # SQLite caps the parameters of one query
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT * FROM administrations WHERE id IN ({marks})"
            for row in self.connection.execute(sql, chunk):
                rows[admin_record(row["id"])] = dict(row)
        problems = audit.changed_records(self, rows)
        return {int(name.rpartition(" ")[2]): text for name, text in problems.items()}

    def clients_changed_outside(self, client_ids: Iterable[str]) -> dict[str, str]:
        """Client id -> what is wrong, for those clients whose record (their recorded sex)
        no longer matches its last audit entry (as :meth:`changed_outside`)."""
        rows = {
            client_record(row["id"]): dict(row)
            for row in self.connection.execute("SELECT * FROM clients ORDER BY id")
        }
        wanted = {client_record(c) for c in client_ids}
        problems = audit.changed_records(self, {k: v for k, v in rows.items() if k in wanted})
        return {name.partition(" ")[2]: text for name, text in problems.items()}

    def moved_outside(self) -> list[MovedForm]:
        """Administrations that may have left their client outside psyq: every stored
        administration that no longer matches its (authentic) last audit entry, with the
        client psyq last saved it for when that is the only change (its row with that
        client id digests as the entry recorded), else ``former_client`` None: psyq
        cannot tell whose it was. psyq never moves a form to another client, so a
        history, report or export of a client names the forms that left it, as the
        client they went to cannot be the only one told.

        One pass over the store's administrations and their last audit entries (the
        digests :meth:`changed_outside` checks, for every form), then, for the few that
        fail, one digest per known client id.

        The answer is kept while the store is unchanged (no write through this
        connection, ``total_changes``, nor by another, ``PRAGMA data_version``): a
        command that reads several outputs digests every form once."""
        state = self._state()
        if self._moved is not None and self._moved[0] == state:
            return list(self._moved[1])
        found = self._find_moved()
        self._moved = (state, found)
        return list(found)

    def _state(self) -> tuple[int, int]:
        """Changes to the store since it was opened, by this connection and by others
        (a new value whenever either commits)."""
        version = self.connection.execute("PRAGMA data_version").fetchone()[0]
        return (self.connection.total_changes, int(version))

    def _find_moved(self) -> list[MovedForm]:
        rows = {
            admin_record(row["id"]): dict(row)
            for row in self.connection.execute("SELECT * FROM administrations ORDER BY id")
        }
        # The last entries only: a form whose earlier entry was altered did not move (and
        # is named as changed wherever it is shown).
        problems = audit.changed_records(self, rows, earlier=False)
        if not problems:
            return []
        try:
            known = {
                str(r[0])
                for r in self.connection.execute(
                    "SELECT id FROM clients UNION SELECT substr(record, 8) FROM audit "
                    "WHERE record LIKE 'client %'"
                )
            }
        except sqlite3.Error:  # the log or the table dropped: audit verify names it
            known = set()
        out = []
        for name in sorted(problems, key=lambda n: int(n.rpartition(" ")[2])):
            row = rows[name]
            entry = audit.authentic_last_entry(self, name)
            if entry is None:  # written outside psyq, or its entry altered: not psyq's
                continue
            former = None
            if entry.digest != audit.record_digest(row):
                former = next(
                    (
                        client
                        for client in sorted(known - {row["client_id"]})
                        if audit.record_digest({**row, "client_id": client}) == entry.digest
                    ),
                    None,
                )
            raised = _critical_of(row["scores"])
            out.append(
                MovedForm(
                    administration_id=row["id"],
                    client_id=str(row["client_id"]),
                    former_client=former,
                    instrument_id=str(row["instrument_id"]),
                    administered=str(row["administered"]),
                    status=str(row["status"]),
                    last_audited=f"entry #{entry.seq}: {entry.action} by {entry.os_user} "
                    f"at {entry.at}",
                    critical=tuple(f.id + f.about() for f in raised),
                    flags=raised,
                )
            )
        return out

    def deleted_outside(self) -> dict[int, str]:
        """Administration id -> its last audit entry, for every administration the
        audit log records that is no longer in the store. psyq never deletes one, so
        each was deleted (or renumbered) outside psyq; the log does not say whose it was,
        so every read path that lists a client's administrations names them all.

        One pass over the log, comparing ids only (no digests: cheap enough for every
        history, export and report)."""
        created = (
            "FROM audit WHERE action IN ('record', 'start') AND record LIKE 'administration %'"
        )
        try:
            # As many administrations as the log saw created, up to the same id: none gone
            # (a few ms); otherwise find which, comparing every id the log names.
            counts = self.connection.execute(
                "SELECT (SELECT COUNT(*) FROM administrations), "
                "(SELECT MAX(id) FROM administrations), "
                f"(SELECT COUNT(*) {created}), "
                f"(SELECT MAX(CAST(substr(record, 16) AS INTEGER)) {created})"
            ).fetchone()
            if counts[0] == counts[2] and counts[1] == counts[3]:
                return {}
            rows = self.connection.execute(
                "SELECT record, MAX(seq), at, os_user, action FROM audit "
                "WHERE record LIKE 'administration %' AND NOT EXISTS (SELECT 1 FROM "
                "administrations WHERE id = CAST(substr(audit.record, 16) AS INTEGER)) "
                "GROUP BY record ORDER BY MAX(seq)"
            ).fetchall()
        except sqlite3.Error:  # the log or the table dropped: audit verify names it
            return {}
        out: dict[int, str] = {}
        for record, seq, at, user, action in rows:
            number = str(record).rpartition(" ")[2]
            if number.isdigit():
                out[int(number)] = f"last audited in entry #{seq}: {action} by {user} at {at}"
        return out

    def records_deleted_outside(self) -> dict[str, str]:
        """Record name (``answer version 3``, ``client C0042``) -> what it was and its last
        audit entry, for every earlier version psyq kept (of answers, scores or a client's
        details) and every client the audit log records that the store no longer holds.
        psyq deletes neither, so each was deleted outside psyq; said wherever
        :meth:`deleted_outside` is.

        One pass over the log (ids compared by key, no digests). What a version was kept
        of is the record of the entry after its own: psyq writes the version and then the
        change that replaced it, in one transaction."""
        kinds = (
            ("answer version %", "answer_versions", 16),
            ("score version %", "score_versions", 15),
            ("client version %", "client_versions", 16),
        )
        gone = " ".join(
            f"WHEN a.record LIKE '{like}' THEN NOT EXISTS (SELECT 1 FROM {table} v "
            f"WHERE v.id = CAST(substr(a.record, {start}) AS INTEGER))"
            for like, table, start in kinds
        )
        # A client id has no space (psyq.clients.CLIENT_ID_PATTERN): "client version 3" is
        # not a client.
        gone += (
            " WHEN a.record LIKE 'client %' AND instr(substr(a.record, 8), ' ') = 0 THEN "
            "NOT EXISTS (SELECT 1 FROM clients c WHERE c.id = substr(a.record, 8))"
        )
        try:
            rows = self.connection.execute(
                "SELECT a.record, MAX(a.seq), a.at, a.os_user, a.action FROM audit a "
                f"WHERE CASE {gone} ELSE 0 END GROUP BY a.record ORDER BY MAX(a.seq)"
            ).fetchall()
            out: dict[str, str] = {}
            for record, seq, at, user, action in rows:
                last = f"last audited in entry #{seq}: {action} by {user} at {at}"
                if str(record).startswith(("answer ", "score ", "client version ")):
                    after = self.connection.execute(
                        "SELECT record FROM audit WHERE seq = ?", (seq + 1,)
                    ).fetchone()
                    of = after[0] if after is not None else None
                    what = f"kept of {of}; " if of and self.is_record_name(of) else ""
                else:  # a client: its forms stay, under an id the store no longer holds
                    forms = self.connection.execute(
                        "SELECT COUNT(*) FROM administrations WHERE client_id = ?",
                        (str(record)[7:],),
                    ).fetchone()[0]
                    what = f"{forms} administration(s) stored for it remain; "
                out[str(record)] = f"{what}{last}"
        except sqlite3.Error:  # the log or a table dropped: audit verify names it
            return {}
        return out

    def log_gap(self) -> str | None:
        """The first audit entry missing from the log (entries deleted outside psyq, with
        the triggers dropped), or the store older than psyq's last write to it
        (:meth:`rollback`), or the audit key not this chain's (:func:`psyq.audit.key_problem`),
        or a newest entry psyq did not write (:func:`psyq.audit.unwritten_tail`), or None:
        two counts, a few look-ups and normally one HMAC, cheap enough for every listing.
        Only ``audit verify`` checks every entry's hash and link."""
        try:
            count, top = self.connection.execute("SELECT COUNT(*), MAX(seq) FROM audit").fetchone()
            if count == (top or 0):
                return audit.key_problem(self) or self.rollback() or audit.unwritten_tail(self)
            row = self.connection.execute(
                "SELECT CASE WHEN MIN(seq) > 1 THEN 1 ELSE (SELECT a.seq + 1 FROM audit a "
                "WHERE a.seq < (SELECT MAX(seq) FROM audit) AND NOT EXISTS (SELECT 1 FROM "
                "audit b WHERE b.seq = a.seq + 1) ORDER BY a.seq LIMIT 1) END FROM audit"
            ).fetchone()
        except sqlite3.Error:  # the log dropped: audit verify names it
            return None
        return f"audit entry #{row[0]} is missing: entries were deleted outside psyq"

    def rollback(self) -> str | None:
        """The store is older than psyq's last write to it (put back to an older copy or
        cut short: :func:`psyq.audit.rollback_problem`), or None."""
        return audit.rollback_problem(self)

    def has_administration(self, admin_id: int) -> bool:
        row = self.connection.execute("SELECT 1 FROM administrations WHERE id = ?", (admin_id,))
        return row.fetchone() is not None

    def get(self, admin_id: int) -> Administration:
        return _administration(self._row(admin_id))

    def administrations(
        self,
        *,
        client_id: str | None = None,
        instrument_id: str | None = None,
        status: Status | None = None,
        since: date | None = None,
    ) -> list[Administration]:
        """Matching administrations, oldest first (by date, then by id)."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("client_id", client_id),
            ("instrument_id", instrument_id),
            ("status", status),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("administered >= ?")
            params.append(since.isoformat())
        sql = f"SELECT {_ADMIN_COLUMNS} FROM administrations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY administered, id"
        return [_administration(row) for row in self.connection.execute(sql, params)]

    def _row(self, admin_id: int) -> sqlite3.Row:
        if not 0 < admin_id < 2**63:  # SQLite integers are 64-bit; larger would overflow
            raise StoreError(f"no administration {admin_id} in {self.path}")
        row = self.connection.execute(
            f"SELECT {_ADMIN_COLUMNS} FROM administrations WHERE id = ?", (admin_id,)
        ).fetchone()
        if row is None:
            try:
                last = self.connection.execute(
                    "SELECT seq, at, os_user, action FROM audit WHERE record = ? "
                    "ORDER BY seq DESC LIMIT 1",
                    (admin_record(admin_id),),
                ).fetchone()
            except sqlite3.Error:
                last = None
            if last is not None:  # psyq never deletes one: it was deleted by hand
                raise TamperedError(
                    f"administration {admin_id} is no longer in {self.path}: it was deleted "
                    f"outside psyq (last audited in entry #{last[0]}: {last[3]} by {last[2]} "
                    f"at {last[1]}); `psyq audit verify` gives the details"
                )
            raise StoreError(f"no administration {admin_id} in {self.path}")
        assert isinstance(row, sqlite3.Row)
        return row

    def _audit_admin(self, conn: sqlite3.Connection, action: str, admin_id: int) -> None:
        row = conn.execute("SELECT * FROM administrations WHERE id = ?", (admin_id,)).fetchone()
        self._append(action, admin_record(admin_id), audit.record_digest(dict(row)))

    # -- audit support -----------------------------------------------------

    def audited_records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored record (clients, administrations, their earlier versions, kept
        definitions) as (record name, full row)."""
        conn = self.connection
        # A table dropped outside psyq is named by schema_problems(), not a crash here.
        present = {kind_name[1] for kind_name in _schema(conn) if kind_name[0] == "table"}
        for table, key, name in (
            ("clients", "id", client_record),
            ("client_versions", "id", client_version_record),
            ("administrations", "id", admin_record),
            ("score_versions", "id", score_version_record),
            ("answer_versions", "id", answer_version_record),
            ("definitions", "hash", definition_record),
        ):
            if table in present:
                for row in conn.execute(f"SELECT * FROM {table} ORDER BY {key}"):
                    yield name(row[key]), dict(row)

    @staticmethod
    def is_record_name(record: str) -> bool:
        return record.startswith(
            ("client ", "administration ", "score version ", "answer version ", "definition ")
        )


def _attributes(text: str | None, client_id: str) -> dict[str, str]:
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise StoreError(
            f"client {client_id}: damaged attributes; run `psyq audit verify` to see what "
            "was changed"
        )
    return data


def _valid_summary(entry: dict[str, Any]) -> bool:
    try:
        ClientSummary.model_validate(entry)
    except ValueError:
        return False
    return True


def _administration(row: sqlite3.Row) -> Administration:
    data = dict(row)
    try:
        data["answers"] = json.loads(data["answers"])
        data["scores"] = None if data["scores"] is None else json.loads(data["scores"])
        data["scoring"] = None if data.get("scoring") is None else json.loads(data["scoring"])
        return Administration.model_validate(data)
    except (ValueError, TypeError) as exc:  # JSONDecodeError and ValidationError included
        first = str(exc).splitlines()[0]
        raise StoreError(
            f"administration {data.get('id')}: damaged record ({first}); "
            "run `psyq audit verify` to see what was changed"
        ) from None


def _answers_replaced(current: sqlite3.Row, answers: dict[str, int | None]) -> bool:
    """Whether saving ``answers`` over ``current`` replaces stored data: an answer already
    given changes (or is cleared), or a complete form's answers change at all. Answering
    the next item of an unfinished form only adds to it, and keeps no version."""
    try:
        before = json.loads(current["answers"])
    except ValueError:
        return True
    if not isinstance(before, dict):
        return True
    if current["status"] == "complete":
        return bool(before != answers)
    return any(value is not None and answers.get(k) != value for k, value in before.items())


def _scoring(version: int, plugins: list[str] | None, at: str) -> str:
    return _json({"version": version, "plugins": plugins or [], "at": at, "by": audit.os_user()})


def _schema(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {(str(kind), str(name)): str(sql) for kind, name, sql in rows}


_EXPECTED: dict[int, dict[tuple[str, str], str]] = {}


def _expected_schema(version: int) -> dict[tuple[str, str], str]:
    """The schema psyq's migrations make, up to ``version`` (built once, in memory)."""
    if version not in _EXPECTED:
        conn = sqlite3.connect(":memory:")
        try:
            for script in MIGRATIONS[:version]:
                for statement in _statements(script):
                    conn.execute(statement)
            _EXPECTED[version] = _schema(conn)
        finally:
            conn.close()
    return _EXPECTED[version]


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (``executescript`` would COMMIT)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def _enable_wal(conn: sqlite3.Connection) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite answers "locked"
    # at once instead of calling the busy handler, so two processes creating the
    # store together retry here.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005 + random.random() * 0.02)


def _is_read_only(path: Path) -> bool:
    """An existing store psyq must not write: read-only media, or a file without write bits.

    The mode bits count even for root, so a store made read-only on purpose
    (``chmod a-w``) is treated as such by everyone.
    """
    try:
        info = path.stat()
    except OSError:
        return False  # not there yet: created (or the open fails) as usual
    if not info.st_mode & 0o222 or not os.access(path, os.W_OK):
        return True
    flags = os.statvfs(path.parent).f_flag
    return bool(flags & getattr(os, "ST_RDONLY", 1))


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Open without writing anything: no WAL switch, no shared-memory file, no journal."""
    wal = path.with_name(path.name + "-wal")
    unfinished = wal.exists() and wal.stat().st_size > 0
    # immutable: nothing can change the file (read-only media), so SQLite needs no
    # lock files. Writes still in a WAL must be read, which needs the -shm index.
    query = "mode=ro" if unfinished else "immutable=1"
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?{query}",
            uri=True,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA user_version").fetchone()
        return conn
    except sqlite3.Error as exc:
        hint = (
            "; it holds writes not yet folded into the file (a -wal file): open it once "
            "on writable media"
            if unfinished
            else ""
        )
        if "not a database" in str(exc):
            raise StoreError(f"{path}: not a psyq store ({exc})") from None
        raise StoreError(f"{path}: cannot open the read-only store: {exc}{hint}") from None


_JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")
"""The first bytes of a rollback journal SQLite would play back (a "hot" journal)."""


_JOURNAL_PATIENCE = 2.0
"""Seconds a rollback journal beside a WAL store may take to go before it is refused:
another process's switch to WAL mode, or its migration, lasts milliseconds."""


def _refuse_foreign_journal(path: Path) -> None:
    """Refuse a store in WAL mode (psyq's, which never uses a rollback journal) with a
    rollback journal beside it: SQLite would play it back into the store on opening,
    overwriting pages with another file's (a journal copied in from another store).
    Nothing is opened, and the journal is left where it is.

    Another psyq creating the store at that moment has a journal of its own there for a
    few milliseconds (SQLite journals the switch to WAL mode): one that goes within
    :data:`_JOURNAL_PATIENCE` seconds was that, not a copied-in one."""
    import time

    real = Path(os.path.realpath(path))
    journal = real.with_name(real.name + "-journal")
    waited = 0.0
    while True:
        magic, header = _first_bytes(journal, 8), b""
        if magic == _JOURNAL_MAGIC:  # only then is the store read (one small read)
            header = _first_bytes(real, 20)
        if magic != _JOURNAL_MAGIC or len(header) < 20 or header[18:20] != b"\x02\x02":
            return  # not a hot journal, or a store in rollback mode (its own journal)
        if waited >= _JOURNAL_PATIENCE:
            break
        time.sleep(0.05)
        waited += 0.05
    raise StoreError(
        f"{journal}: a rollback journal beside a store psyq keeps in WAL mode, so not one "
        "psyq wrote (copied in from another store?); SQLite would play it back into the "
        "store and overwrite it: psyq does not open the store (nothing changed); move the "
        "journal away (keep it: `psyq audit verify` afterwards), then run psyq again"
    )


def _first_bytes(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of a regular file; b"" if there is none (a FIFO put
    there is not opened for reading: that would wait)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, size)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _make_private(path: Path) -> list[str]:
    """Make the store (and its -wal, -shm and -journal files) 0600 where others can read them.

    A store restored with ``cp`` or ``sqlite3 .backup`` under umask 022 is 0644:
    psyq must not go on writing client data into it. Returns one line per file
    changed; refuses a file it cannot make private.

    The -wal and -shm files SQLite makes belong to the store's owner (SQLite gives them
    to it even when root opens the store). One belonging to anyone else was put there:
    its owner may hold it open and read every write, whatever its mode, so it is refused.
    """
    said = []
    try:
        owner = path.stat().st_uid
    except OSError:
        owner = os.getuid()  # not there yet: psyq creates it
    if owner != os.getuid():
        # root writing alice's store would make root's audit key and kiosk file beside
        # it, which alice cannot read, and log root as the one who wrote.
        from psyq.files import belongs_to_another

        raise StoreError(str(belongs_to_another(path, owner, "the store")))
    # SQLite keeps the -wal and -shm files beside the file a link names, not the link.
    path = Path(os.path.realpath(path))
    # A -journal too: one left "hot" is played back into the store when it is opened.
    companions = [path.with_name(path.name + end) for end in ("-wal", "-shm", "-journal")]
    for file in (path, *companions):
        try:
            info = file.stat() if file == path else file.lstat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"{file}: cannot open the store: {exc.strerror or exc}") from None
        if info.st_uid != owner:
            raise StoreError(
                f"{file}: belongs to another user (uid {info.st_uid}) than the store "
                f"(uid {owner}); someone else may be holding it open to read what psyq "
                "writes: psyq does not use it (check who put it there, then remove it)"
            )
        mode = info.st_mode & 0o777
        if not mode & 0o077:
            continue
        try:
            os.chmod(file, 0o600)
        except OSError as exc:
            raise StoreError(
                f"{file}: readable by others (mode {mode:04o}) and psyq cannot make it "
                f"private ({exc.strerror or exc}); run `chmod 600 {file}` as its owner"
            ) from None
        said.append(f"{file}: was readable by others (mode {mode:04o}); made it 0600")
    return said


def _connect(path: Path) -> sqlite3.Connection:
    # umask too, so nothing SQLite creates on our behalf is ever group/world readable.
    old_umask = os.umask(0o077)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.is_symlink() and not path.exists():
            # SQLite would create the store wherever a link planted here points.
            raise StoreError(
                f"{path}: is a link to {os.readlink(path)}, which does not exist; psyq does "
                "not create a store through a link (remove it, or give the real path with --db)"
            )
        if not path.exists():
            # Another process may create it between the check and the open: fine.
            with suppress(FileExistsError):
                os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(conn)
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error:
            conn.close()
            raise
        return conn
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the store: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:
        if "not a database" in str(exc):
            raise StoreError(f"{path}: not a psyq store ({exc})") from None
        raise StoreError(f"{path}: cannot open the store: {exc}") from None
    finally:
        os.umask(old_umask)


def open_store(path: Path, *, key_path: Path | None = None) -> Store:
    """Open (creating and migrating as needed) the store at ``path``.

    ``key_path`` is the audit key file (default: :func:`psyq.audit.key_path`).
    """
    return Store(path, key_path=key_path)
