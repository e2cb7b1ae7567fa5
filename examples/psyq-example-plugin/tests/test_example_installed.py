"""The example plugin as installed: found through its real `psyq` entry point, in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

HOOKS = [
    "psyq_instrument_sources",
    "psyq_norm_sources",
    "psyq_output_formats",
    "psyq_report_context",
    "psyq_report_sections",
    "psyq_score_transform",
    "psyq_template_filters",
]


@pytest.fixture(scope="module")
def installed() -> metadata.Distribution:
    try:
        dist = metadata.distribution("psyq-example-plugin")
    except metadata.PackageNotFoundError:
        pytest.fail("psyq-example-plugin is not installed: run `make venv-test`")
    assert [(ep.name, ep.value) for ep in dist.entry_points if ep.group == "psyq"] == [
        ("example", "psyq_example.plugin")
    ]
    return dist


def psyq(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "PSYQ_DISABLE_PLUGINS"}
    environ.update(PSYQ_HOME=str(tmp_path), PSYQ_STRICT_PLUGINS="1", **env)
    return subprocess.run(
        [sys.executable, "-m", "psyq", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_psyq_plugins_lists_it(installed: metadata.Distribution, tmp_path: Path) -> None:
    run = psyq(tmp_path, "plugins", "--json")
    assert run.returncode == 0, run.stderr
    rows = {row["name"]: row for row in json.loads(run.stdout)}
    assert rows["example"] == {
        "name": "example",
        "source": "entry point",
        "version": installed.version,
        "distribution": "psyq-example-plugin",
        "hooks": HOOKS,
        "error": None,
        "problems": [],
        "provides": {
            "instruments": ["rses"],
            "output_formats": ["markdown"],
            "commands": [],
            "report_sections": ["example_pomp"],
            "template_filters": ["example_pomp_label"],
            "scoring_methods": [],
            "scoring_stages": ["transform"],
            "batch_executors": [],
            "norm_sources": ["psyq-example-plugin"],
            "translation_sources": [],
        },
        "scoped": {"psyq_report_context": ["rses"], "psyq_score_transform": ["rses"]},
    }
    assert all(row["source"] != "built-in" for row in rows.values())
    with_builtins = json.loads(psyq(tmp_path, "plugins", "--all", "--json").stdout)
    assert {"scoring_stages", "example"} <= {row["name"] for row in with_builtins}
    text = psyq(tmp_path, "plugins").stdout.splitlines()
    at = text.index(f"example {installed.version} (psyq-example-plugin)  [entry point]")
    assert text[at + 1 : at + 10] == [
        "    instruments: rses",
        "    output formats: markdown",
        "    report sections: example_pomp",
        "    template filters: example_pomp_label",
        "    scoring stages: transform",
        "    norm sources: psyq-example-plugin",
        "    psyq_report_context only for: rses",
        "    psyq_score_transform only for: rses",
        f"    hooks: {', '.join(HOOKS)}",
    ]


def test_list_validate_and_score_through_the_entry_point(
    installed: metadata.Distribution, tmp_path: Path
) -> None:
    listed = {line.split()[0]: line for line in psyq(tmp_path, "list").stdout.splitlines()}
    assert (
        listed["rses"]
        .split(None, 1)[1]
        .startswith("Rosenberg Self-Esteem Scale (v1.0)  [validated]")
    )
    validated = psyq(tmp_path, "validate")
    assert validated.returncode == 0, validated.stderr
    assert "rses v1.0, 10 golden example(s) pass" in validated.stdout
    scored = psyq(tmp_path, "score", "rses", "--answers", "2,1,2,2,1,2,2,2,0,2", "--json")
    assert json.loads(scored.stdout)["scores"]["total"]["norm"]["t"] == 50.0
    # The transform wrapper is scoped to rses: other instruments get no POMP score.
    other = psyq(tmp_path, "score", "gad7", "--answers", "1,1,1,1,1,1,1", "--json")
    assert other.returncode == 0, other.stderr
    assert "example_pomp" not in json.loads(other.stdout).get("extra", {})
    md = psyq(tmp_path, "score", "rses", "--answers", "2,1,2,2,1,2,2,2,0,2", "--format", "markdown")
    assert "| Self-esteem (total) | 19 | 0-30 | Normal range |" in md.stdout


def test_disabling_it(installed: metadata.Distribution, tmp_path: Path) -> None:
    rows = json.loads(psyq(tmp_path, "plugins", "--json", PSYQ_DISABLE_PLUGINS="example").stdout)
    assert {r["name"]: r["source"] for r in rows}["example"] == "disabled"
    listed = psyq(tmp_path, "list", PSYQ_DISABLE_PLUGINS="psyq-example-plugin")
    assert listed.returncode == 0
    assert "rses" not in listed.stdout
