"""Client store: audited writes, `audit verify` and history (issue: clinician workflow)."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

WRITES = 300
VERIFY_ROWS = 2000


def _audited(
    app: Any, inst: Any, answers: dict[str, int | None], result: Any, *, keyed: bool
) -> tuple[float, float, Any]:
    """(seconds per audited write, seconds for `audit verify` of VERIFY_ROWS, the store)."""
    from psyq import audit
    from psyq.store import open_store

    folder = Path(tempfile.mkdtemp())
    original = audit.entry_hash

    def unkeyed(*fields: Any, key: bytes | None = None) -> str:
        return original(*fields[:7])  # plain SHA-256, the chain before keying

    if not keyed:
        audit.entry_hash = unkeyed  # type: ignore[assignment]
    try:
        store = open_store(folder / "psyq.db", key_path=folder / "audit.key")
        start = time.perf_counter()
        for n in range(WRITES):
            store.add_administration(
                instrument=inst,
                client_id=f"C{n % 20:04d}",
                answers=answers,
                result=result,
                administered=date(2026, 1, 1) + timedelta(days=n),
            )
        write = (time.perf_counter() - start) / WRITES
        for n in range(VERIFY_ROWS - WRITES):
            store.add_administration(
                instrument=inst,
                client_id=f"C{n % 20:04d}",
                answers=answers,
                result=result,
                administered=date(2026, 1, 1),
            )
        start = time.perf_counter()
        report = audit.verify(store)
        verify = time.perf_counter() - start
        assert report.ok, report.problems
    finally:
        audit.entry_hash = original
    return write, verify, store


def bench_store() -> None:
    """Audited writes vs bare committed INSERTs; verify and history vs a bare SELECT."""
    from psyq import audit
    from psyq.app import App
    from psyq.history import build_history
    from psyq.manager import create_plugin_manager

    app = App(create_plugin_manager(load_entrypoints=False), home=Path(tempfile.mkdtemp()))
    inst = app.instrument("phq9")
    answers: dict[str, int | None] = {item.id: 1 for item in inst.items}
    result = app.scorer.score_valid(inst, answers)

    # Baseline: the same row as JSON, one committed WAL transaction per INSERT.
    bare_path = Path(tempfile.mkdtemp()) / "bare.db"
    conn = sqlite3.connect(bare_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, answers TEXT, scores TEXT)")
    payload = (result.model_dump_json(), result.model_dump_json())
    start = time.perf_counter()
    for _ in range(WRITES):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (answers, scores) VALUES (?, ?)", payload)
        conn.execute("COMMIT")
    bare = (time.perf_counter() - start) / WRITES

    # The same audited writes and verify with the chain keyed (HMAC-SHA256, as shipped)
    # and unkeyed (plain SHA-256, as before keying), in this run, on fresh stores.
    plain_write, plain_verify, _ = _audited(app, inst, answers, result, keyed=False)
    ours, took, store = _audited(app, inst, answers, result, keyed=True)
    print(
        f"  audited write   {1 / ours:7.0f} /s  ({ours * 1e3:.2f} ms; {ours / bare:.1f}x a bare "
        f"committed INSERT; {ours / plain_write:.2f}x the unkeyed chain)"
    )
    start = time.perf_counter()
    rows = store.connection.execute("SELECT * FROM administrations").fetchall()
    scan = time.perf_counter() - start
    report = audit.verify(store)
    assert report.ok and len(rows) == VERIFY_ROWS
    print(
        f"  audit verify    {took * 1e3:7.1f} ms for {report.entries} entries, {report.records} "
        f"records ({took / scan:.0f}x a bare SELECT *; {took / plain_verify:.2f}x the unkeyed "
        "chain)"
    )
    start = time.perf_counter()
    entries = build_history(app, store, "C0001")
    hist = time.perf_counter() - start
    print(f"  history         {hist * 1e3:7.1f} ms for {len(entries)} administrations of a client")
    store.close()
