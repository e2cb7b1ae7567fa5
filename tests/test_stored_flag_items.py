"""Scores stored before psyq named every item that raised a flag show those items in
every output, derived at read time from the stored answers, without a rescore and
without rewriting what is stored.

The store is built the old way: :func:`record_as_before_flag_items` writes an
administration exactly as psyq did before commit d11055b ("Flags name every item
that raised them"): each stored flag is ``{id, level, item, message}``, ``item``
being only the first item (WHO-5 answers 5,5,3,0,0: ``who5_4``, not ``who5_5``),
and ``null`` for a count (PHQ-9's major depressive syndrome).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result

from psyq.app import App
from psyq.manager import PsyqPluginManager
from psyq.models import Instrument
from psyq.stored_results import DERIVED_FLAG_ITEMS

CLI = Callable[..., Result]

WHO5 = "5,5,3,0,0"  # items 4 and 5 at 0: the "item at 0 or 1" warning names both
PHQ9 = "2,2,2,2,1,1,1,1,1"  # the syndrome count: items 1-4 and 9; item 9 critical
COUNTED = ["phq9_1", "phq9_2", "phq9_3", "phq9_4", "phq9_9"]


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def record_as_before_flag_items(
    pm: PsyqPluginManager,
    home: Path,
    client: str,
    instrument_id: str,
    answers: str,
    day: str,
    then: Instrument | None = None,
) -> int:
    """Store an administration in the shape psyq wrote before d11055b (flags without
    ``item_ids``), through the store's own write and audit entry, as psyq did then;
    ``then`` is the definition of the day, when it differed from today's."""
    app = App(pm, home=home)
    instrument = then or app.registry.get(instrument_id)
    given = dict(
        zip(
            [i.id for i in instrument.items],
            [None if a == "-" else int(a) for a in answers.split(",")],
            strict=False,  # PHQ-9's item 10 (difficulty) left unanswered
        )
    )
    scores = app.scorer.score(instrument, given).model_dump(mode="json")
    for flag in scores["flags"]:
        del flag["item_ids"]  # the old shape: {id, level, item, message}
    now = datetime.now(UTC).isoformat()
    digest = instrument.content_hash()
    with app.open_store() as store, store.write() as conn:
        store._ensure_client(client)
        cursor = conn.execute(
            "INSERT INTO administrations (client_id, instrument_id, instrument_version, "
            "definition_hash, administered, answers, status, position, scores, scored_with, "
            "scoring, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'complete', ?, ?, ?, ?, ?, ?)",
            (
                client,
                instrument.id,
                instrument.version,
                digest,
                day,
                json.dumps(given),
                len(instrument.items),
                json.dumps(scores),
                digest,
                json.dumps({"version": 1, "plugins": [], "at": now}),
                now,
                now,
            ),
        )
        admin_id = cursor.lastrowid
        assert admin_id is not None
        store._audit_admin(conn, "record", admin_id)
    return admin_id


@pytest.fixture
def old_store(psyq_pm: PsyqPluginManager, psyq_home: Path) -> Path:
    """W1's WHO-5 and P1's PHQ-9, stored before flag items existed."""
    record_as_before_flag_items(psyq_pm, psyq_home, "W1", "who5", WHO5, "2026-10-01")
    record_as_before_flag_items(psyq_pm, psyq_home, "P1", "phq9", PHQ9, "2026-10-02")
    return psyq_home / "psyq.db"


def stored_rows(db: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute("SELECT id, scores FROM administrations ORDER BY id"))
    finally:
        conn.close()


def test_the_fixture_writes_the_old_shape(old_store: Path) -> None:
    for _, scores in stored_rows(old_store):
        for flag in json.loads(scores)["flags"]:
            assert set(flag) == {"id", "level", "item", "message"}


def test_history_names_every_item_and_says_where_they_came_from(
    psyq_cli: CLI, old_store: Path
) -> None:
    before = stored_rows(old_store)
    head = ok(psyq_cli("audit", "verify")).output
    assert head.startswith("audit OK: ")
    history = ok(psyq_cli("history", "W1")).output
    assert "(items who5_4, who5_5): item_at_most_1" in history
    assert DERIVED_FLAG_ITEMS in history
    [entry] = json.loads(ok(psyq_cli("history", "W1", "--json")).stdout)
    [flag] = entry["flags"]
    assert (flag["item"], flag["item_ids"]) == ("who5_4", ["who5_4", "who5_5"])
    assert DERIVED_FLAG_ITEMS in entry["notices"]
    [entry] = json.loads(ok(psyq_cli("history", "P1", "--json")).stdout)
    by_id = {f["id"]: (f["item"], f["item_ids"]) for f in entry["flags"]}
    assert by_id == {
        "suicidal_ideation": ("phq9_9", ["phq9_9"]),
        "major_depressive_syndrome": (None, COUNTED),
    }
    # Read, not rewritten: the rows and the audit chain are as they were.
    assert stored_rows(old_store) == before
    assert ok(psyq_cli("audit", "verify")).output == head  # no entry added


def test_export_report_fhir_and_clients_show_the_items(
    psyq_cli: CLI, old_store: Path, tmp_path: Path
) -> None:
    rows = list(csv.DictReader(io.StringIO(ok(psyq_cli("export", "--format", "csv")).output)))
    cells = {r["instrument_id"]: r["flag_items"] for r in rows}
    assert cells["who5"] == "item_at_most_1:who5_4 who5_5"
    assert cells["phq9"] == "suicidal_ideation:phq9_9;major_depressive_syndrome:" + " ".join(
        COUNTED
    )
    assert all(DERIVED_FLAG_ITEMS in r["notices"] for r in rows)
    lines = ok(psyq_cli("export", "--format", "jsonl")).output.splitlines()
    assert json.loads(lines[0])["flags"][0]["item_ids"] == ["who5_4", "who5_5"]
    html = tmp_path / "w.html"
    ok(psyq_cli("report", "--administration", "1", "-o", html))
    section = re.search(r'<section class="section-flags">(.*?)</section>', html.read_text(), re.S)
    assert section is not None and "(items 4, 5)</span>" in section.group(1)
    assert DERIVED_FLAG_ITEMS in html.read_text()
    bundle_path = tmp_path / "p.json"
    ok(psyq_cli("report", "--administration", "2", "--format", "fhir", "-o", bundle_path))
    bundle = json.loads(bundle_path.read_text())
    obs = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and e["resource"].get("component")
    )
    notes = [n["text"] for n in obs["note"]]
    assert any(n.startswith("INFO (items " + ", ".join(COUNTED) + ")") for n in notes)
    assert DERIVED_FLAG_ITEMS in notes
    [client] = [c for c in json.loads(ok(psyq_cli("clients", "--json")).output) if c["id"] == "P1"]
    assert [f["item_ids"] for f in client["latest_critical_flags"]] == [["phq9_9"]]


def test_rescore_stores_the_items_and_keeps_the_old_scores(psyq_cli: CLI, old_store: Path) -> None:
    ok(psyq_cli("rescore"))
    [entry] = json.loads(ok(psyq_cli("history", "W1", "--json")).stdout)
    assert entry["flags"][0]["item_ids"] == ["who5_4", "who5_5"]
    assert DERIVED_FLAG_ITEMS not in entry["notices"]
    for _, scores in stored_rows(old_store):
        assert all("item_ids" in f for f in json.loads(scores)["flags"])
    conn = sqlite3.connect(old_store)
    try:
        kept = [json.loads(s) for (s,) in conn.execute("SELECT scores FROM score_versions")]
    finally:
        conn.close()
    assert len(kept) == 2 and all("item_ids" not in f for k in kept for f in k["flags"])


def test_a_flag_the_definition_no_longer_raises_is_still_shown(
    psyq_pm: PsyqPluginManager, psyq_home: Path, psyq_cli: CLI
) -> None:
    # Stored by a WHO-5 whose warning held at 2 or less (a definition changed since
    # under the same version): today's definition does not raise it from 5,5,3,2,2.
    today = App(psyq_pm, home=psyq_home).registry.get("who5")
    data = today.model_dump(mode="json")
    data["flags"][0]["when"]["value"] = 2
    then = Instrument.model_validate(data)
    record_as_before_flag_items(
        psyq_pm, psyq_home, "W2", "who5", "5,5,3,2,2", "2026-10-01", then=then
    )
    [entry] = json.loads(ok(psyq_cli("history", "W2", "--json")).stdout)
    [flag] = entry["flags"]
    assert (flag["id"], flag["item_ids"]) == ("item_at_most_1", ["who5_4"])  # as stored
    [notice] = [n for n in entry["notices"] if "does not raise it again" in n]
    assert notice.startswith("Flag item_at_most_1 was stored by a psyq")
    assert "(item who5_4): item_at_most_1" in ok(psyq_cli("history", "W2")).output


def test_kiosk_status_shows_the_items_of_a_form_stored_before_them(
    psyq_cli: CLI, old_store: Path
) -> None:
    """A kiosk session whose PHQ-9 form was stored the old way: ``kiosk status`` (text
    and JSON) names every item of the count flag and item 9, as history does."""
    from psyq.plugins.tablet.sessions import KioskStore, kiosk_path

    with KioskStore(kiosk_path(old_store)) as kiosk:
        session, _ = kiosk.start(
            client_id="P1", instruments=["phq9"], language=None, clinician=None, expires_s=600
        )
        with kiosk.write() as conn:  # the tablet saved P1's form (administration 2)
            conn.execute(
                "UPDATE sessions SET state = 'complete', admin_ids = ? WHERE id = ?",
                (json.dumps([2]), session.id),
            )
    text = ok(psyq_cli("kiosk", "status", str(session.id))).output
    assert "(items " + ", ".join(COUNTED) + ")" in text
    assert "!!! CRITICAL (item phq9_9)" in text
    [status] = json.loads(ok(psyq_cli("kiosk", "status", str(session.id), "--json")).output)
    by_id = {f["id"]: f["item_ids"] for f in status["forms"][0]["flags"]}
    assert by_id == {"suicidal_ideation": ["phq9_9"], "major_depressive_syndrome": COUNTED}
