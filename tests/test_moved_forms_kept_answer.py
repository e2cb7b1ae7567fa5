"""`Store.moved_outside()` digests every stored form, so one open store keeps its answer
while nothing is written (a command that builds history, report notes and export lines
from one store digests each form once). A store held open for long (the tablet server's,
or a program using psyq as a library) must never be told "nothing moved" after a hand
edit or a write: each of these makes it look again."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from psyq import audit
from psyq.app import App
from psyq.manager import create_plugin_manager
from psyq.store import open_store

CLI = Callable[..., Result]


def test_an_open_store_sees_a_form_moved_after_it_last_looked(
    psyq_cli: CLI, psyq_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for client, answers in (("C0042", "2,2,2,2,2,2,2,2,2"), ("C0099", "0,0,0,0,0,0,0,0,0")):
        recorded = psyq_cli("record", "phq9", "--client", client, "--answers", answers)
        assert recorded.exit_code == 0, recorded.output
    digests = 0
    original = audit.changed_records

    def counted(*args: Any, **kwargs: Any) -> dict[str, str]:
        nonlocal digests
        digests += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(audit, "changed_records", counted)
    db = psyq_home / "psyq.db"
    with open_store(db, key_path=audit.key_path(psyq_home)) as store:
        assert store.moved_outside() == [] and store.moved_outside() == []
        assert digests == 1  # the second read is answered from the first
        # Another connection (the sqlite3 shell) moves C0042's form to C0099.
        shell = sqlite3.connect(db)
        shell.execute("UPDATE administrations SET client_id = 'C0099' WHERE id = 1")
        shell.commit()
        shell.close()
        (moved,) = store.moved_outside()
        assert (moved.administration_id, moved.former_client) == (1, "C0042")
        assert moved.critical and digests == 2
        # A write through this store is a change too: the forms are digested again.
        app = App(create_plugin_manager(load_entrypoints=False), home=psyq_home)
        inst = app.instrument("phq9")
        answers: dict[str, int | None] = {item.id: 0 for item in inst.items}
        store.add_administration(
            instrument=inst,
            client_id="C0100",
            answers=answers,
            result=app.scorer.score_valid(inst, answers),
            administered=date(2026, 11, 1),
        )
        assert [m.administration_id for m in store.moved_outside()] == [1]
        assert digests == 3
