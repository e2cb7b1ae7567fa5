"""Client store: audited writes, `audit verify` and history (issue: clinician workflow)."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

WRITES = 300
VERIFY_ROWS = 2000


def bench_store() -> None:
    """Audited writes vs bare committed INSERTs; verify and history vs a bare SELECT."""
    from psyq import audit
    from psyq.app import App
    from psyq.history import build_history
    from psyq.manager import create_plugin_manager
    from psyq.store import open_store

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

    store = open_store(app.store_path)
    start = time.perf_counter()
    for n in range(WRITES):
        store.add_administration(
            instrument=inst,
            client_id=f"C{n % 20:04d}",
            answers=answers,
            result=result,
            administered=date(2026, 1, 1) + timedelta(days=n),
        )
    ours = (time.perf_counter() - start) / WRITES
    print(
        f"  audited write   {1 / ours:7.0f} /s  ({ours * 1e3:.2f} ms; {ours / bare:.1f}x a bare "
        "committed INSERT)"
    )

    for n in range(VERIFY_ROWS - WRITES):
        store.add_administration(
            instrument=inst,
            client_id=f"C{n % 20:04d}",
            answers=answers,
            result=result,
            administered=date(2026, 1, 1),
        )
    start = time.perf_counter()
    rows = store.connection.execute("SELECT * FROM administrations").fetchall()
    scan = time.perf_counter() - start
    start = time.perf_counter()
    report = audit.verify(store)
    took = time.perf_counter() - start
    assert report.ok and len(rows) == VERIFY_ROWS
    print(
        f"  audit verify    {took * 1e3:7.1f} ms for {report.entries} entries, {report.records} "
        f"records ({took / scan:.0f}x a bare SELECT *)"
    )
    start = time.perf_counter()
    entries = build_history(app, store, "C0001")
    hist = time.perf_counter() - start
    print(f"  history         {hist * 1e3:7.1f} ms for {len(entries)} administrations of a client")
    store.close()
