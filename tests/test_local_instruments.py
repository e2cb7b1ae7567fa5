"""Drafts usable without a plugin: a definition file's path wherever an id goes, and
the local pack in ``$PSYQ_HOME/instruments/`` (source ``local``)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from psyq.manager import PsyqPluginManager

CLI = Callable[..., Result]


def test_score_show_and_batch_take_a_definition_path(
    psyq_cli: CLI, tmp_path: Path, minimal_yaml: str
) -> None:
    draft = tmp_path / "drafts" / "mini-draft.yaml"
    draft.parent.mkdir()
    draft.write_text(minimal_yaml)
    # m3 is reverse-keyed on 0-2: 2 + 1 + (2 - 0) = 5, in band "high" (3-6).
    scored = psyq_cli("score", str(draft), "--answers", "2,1,0", "--json")
    assert scored.exit_code == 0, scored.output
    result = json.loads(scored.output)
    assert result["scores"]["total"]["value"] == 5
    assert result["scores"]["total"]["band"] == "high"
    shown = psyq_cli("show", str(draft))
    assert shown.exit_code == 0 and "Source: file" in shown.output
    rows = tmp_path / "rows.csv"
    rows.write_text("client_id,m1,m2,m3\nc1,0,0,0\nc2,2,2,2\n")
    out = tmp_path / "out"
    batch = psyq_cli(
        "batch",
        str(rows),
        "--instrument",
        str(draft),
        "--out",
        str(out),
        "--scores-only",
        "--quiet",
    )
    assert batch.exit_code == 0, batch.output
    with (out / "scores.csv").open(newline="") as fh:
        table = list(csv.DictReader(fh))
    # c1: 0 + 0 + (2 - 0) = 2; c2: 2 + 2 + (2 - 2) = 4.
    assert [(r["client_id"], r["total"]) for r in table] == [("c1", "2"), ("c2", "4")]


def test_a_missing_or_broken_path_is_one_line(psyq_cli: CLI, tmp_path: Path) -> None:
    missing = psyq_cli("score", str(tmp_path / "nope.yaml"), "--answers", "1")
    assert missing.exit_code == 2
    assert "nope.yaml: no such definition file" in missing.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: broken\nversion: '1'\n")
    refused = psyq_cli("score", str(broken), "--answers", "1")
    assert refused.exit_code == 2
    assert f"{broken}" in refused.output and "required field is missing" in refused.output
    assert "Traceback" not in refused.output


def test_a_path_may_not_redefine_an_installed_id(psyq_cli: CLI, tmp_path: Path) -> None:
    shipped = json.loads(psyq_cli("show", "phq9", "--json").output)
    for key in ("content_hash", "source", "notices"):
        shipped.pop(key)
    shipped["title"] = "A changed PHQ-9"
    changed = tmp_path / "phq9.json"
    changed.write_text(json.dumps(shipped))
    result = psyq_cli("score", str(changed), "--answers", "0,0,0,0,0,0,0,0,0")
    assert result.exit_code == 2
    assert "defines 'phq9'" in result.output and "different content" in result.output


def test_local_pack_is_listed_with_source_local_and_scored(
    psyq_cli: CLI, psyq_home: Path, minimal_yaml: str, psyq_pm: PsyqPluginManager
) -> None:
    psyq_pm.strict = False  # a normal run warns about the broken file; psyq_pm is strict
    pack = psyq_home / "instruments"
    pack.mkdir()
    (pack / "mini.yaml").write_text(minimal_yaml)
    (pack / "broken.yaml").write_text("id: [not, an, id]\n")
    listed = psyq_cli("list", "--json")
    assert listed.exit_code == 0
    rows = {row["id"]: row["source"] for row in json.loads(listed.stdout)}
    assert rows["mini"] == "local"
    assert rows["phq9"] == "psyq (built-in)"
    assert "skipped instrument file: local: " in listed.stderr
    assert "broken.yaml" in listed.stderr
    listed = {line.split()[0]: line for line in psyq_cli("list").stdout.splitlines()}
    assert listed["mini"].split(None, 1)[1] == "Mini scale (v1)  [validated]  (local)"
    scored = json.loads(psyq_cli("score", "mini", "--answers", "1,1,1", "--json").stdout)
    assert scored["scores"]["total"]["value"] == 3  # 1 + 1 + (2 - 1)


def test_local_pack_through_the_real_command(tmp_path: Path, minimal_yaml: str) -> None:
    home = tmp_path / "home"
    (home / "instruments").mkdir(parents=True)
    (home / "instruments" / "mini.yml").write_text(minimal_yaml)
    env = {"PSYQ_HOME": str(home), "PATH": "/usr/bin:/bin", "PSYQ_DISABLE_PLUGINS": "all"}
    run = subprocess.run(
        [sys.executable, "-m", "psyq", "score", "mini", "--answers", "2,2,2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "4" in run.stdout  # 2 + 2 + (2 - 2)
