"""Data stored with CCTS v0.1 keep being scored with v0.1 after v0.2 replaced it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from psyq.app import App
from psyq.manager import PsyqPluginManager
from psyq.scoring import Scorer
from psyq.superseded import find_version
from psyq.testing import CLI

V01_ANSWERS = [2, 1, 0, 3, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 0, 1]  # v0.1 golden "mixed" example


def store_v01(pm: PsyqPluginManager, home: Path) -> None:
    old = find_version(pm, "ccts", "0.1")
    assert old is not None
    answers: dict[str, int | None] = {
        item.id: v for item, v in zip(old.items, V01_ANSWERS, strict=True)
    }
    with App(pm, home=home).open_store() as store:
        store.add_administration(
            instrument=old,
            client_id="C0001",
            answers=answers,
            result=Scorer(pm).score(old, answers),
            administered=date(2026, 3, 1),
        )


def test_history_report_export_and_rescore_use_v01(
    psyq_pm: PsyqPluginManager, psyq_home: Path, psyq_cli: CLI, tmp_path: Path
) -> None:
    assert App(psyq_pm, home=psyq_home).instrument("ccts").version == "0.2"
    store_v01(psyq_pm, psyq_home)
    history = json.loads(psyq_cli("history", "C0001", "--json").stdout)
    entry = history[0] if isinstance(history, list) else history["administrations"][0]
    text = json.dumps(entry)
    assert '"attention"' in text and "2.25" in text and "1.63" in text  # v0.1's scores
    rescored = psyq_cli("rescore")
    assert rescored.exit_code == 0, rescored.output
    assert "no longer fits" not in rescored.output
    out = tmp_path / "r.html"
    report = psyq_cli("report", "--administration", "1", "-o", out)
    assert report.exit_code == 0, report.output
    html = out.read_text(encoding="utf-8")
    assert "Therapist-focused attention" in html and "v0.1" in html.replace("version 0.1", "v0.1")
    export = psyq_cli("export", "--format", "jsonl", "-o", tmp_path / "e.jsonl")
    assert export.exit_code == 0, export.output


def test_new_administrations_use_v02(psyq_cli: CLI) -> None:
    answers = ",".join(["1"] * 16)
    result = psyq_cli("record", "ccts", "--client", "C0002", "--answers", answers)
    assert result.exit_code == 0, result.output
    doc = json.loads(psyq_cli("history", "C0002", "--json").stdout)
    assert "putting_first" in json.dumps(doc)


def test_change_is_not_measured_across_definition_versions(
    psyq_pm: PsyqPluginManager, psyq_home: Path, psyq_cli: CLI, tmp_path: Path
) -> None:
    store_v01(psyq_pm, psyq_home)  # 2026-03-01, v0.1
    for day, value in (("2026-04-01", "1"), ("2026-05-01", "3")):
        done = psyq_cli(
            "record", "ccts", "--client", "C0001", "--answers", ",".join([value] * 16),
            "--date", day,
        )  # fmt: skip
        assert done.exit_code == 0, done.output
    entries = json.loads(psyq_cli("history", "C0001", "--json").stdout)
    entries = entries if isinstance(entries, list) else entries["administrations"]
    by_date = {e["administration"]["administered"]: e["administration"] | e for e in entries}
    # The first v0.2 administration has nothing to be compared with: v0.1 is another
    # definition. The second is compared with the first v0.2 one only.
    assert by_date["2026-04-01"]["compared_with"] == {"previous": None, "first": None}
    second = by_date["2026-05-01"]["compared_with"]
    assert second["previous"] == second["first"] == by_date["2026-04-01"]["id"]
    text = psyq_cli("history", "C0001").stdout
    assert "change is within v0.2 only: v0.1 of the definition" in text
    # The report of the last one plots and compares the v0.2 administration only, and
    # says that the v0.1 one is left out.
    out = tmp_path / "r.html"
    report = psyq_cli("report", "ccts", "--client", "C0001", "--latest", "-o", out)
    assert report.exit_code == 0, report.output
    html = out.read_text(encoding="utf-8")
    assert "Since the previous administration (2026-04-01)" in html
    assert "Since the first administration" not in html  # two points: previous only
    assert "2026-03-01" not in html
    assert (
        "Not compared: 1 earlier administration of CCTS scored with version 0.1 of its "
        "definition, not this version (0.2)" in " ".join(html.split())
    )
    # The v0.2 report of the first v0.2 administration: no trend, but the same note.
    first_id = by_date["2026-04-01"]["id"]
    report = psyq_cli("report", "--administration", str(first_id), "-o", out, "--force")
    assert report.exit_code == 0, report.output
    html = " ".join(out.read_text(encoding="utf-8").split())
    assert "Not compared: 1 earlier administration" in html and "Trend:" not in html


def test_a_left_out_version_still_names_its_critical_flags(
    psyq_pm: PsyqPluginManager, psyq_home: Path, psyq_cli: CLI, tmp_path: Path
) -> None:
    """An earlier version's administrations are not plotted, but one that raised a
    critical flag (PHQ-9 item 9) is still named on the report."""
    app = App(psyq_pm, home=psyq_home)
    older = app.instrument("phq9").model_copy(update={"version": "0.9"})
    answers: dict[str, int | None] = {item.id: 0 for item in older.items} | {"phq9_9": 2}
    result = Scorer(psyq_pm).score(older, answers)
    assert result.critical
    with app.open_store() as store:
        store.add_administration(
            instrument=older, client_id="C0003", answers=answers, result=result,
            administered=date(2026, 2, 1),
        )  # fmt: skip
    for day in ("2026-03-01", "2026-04-01"):
        done = psyq_cli(
            "record", "phq9", "--client", "C0003", "--answers", "1,1,1,1,1,1,1,1,0", "--date", day
        )
        assert done.exit_code == 0, done.output
    out = tmp_path / "r.html"
    report = psyq_cli("report", "phq9", "--client", "C0003", "--latest", "-o", out)
    assert report.exit_code == 0, report.output
    html = " ".join(out.read_text(encoding="utf-8").split())
    assert "Not compared: 1 earlier administration of PHQ-9 scored with version 0.9" in html
    assert "A critical flag was raised at the administration of 2026-02-01." in html
