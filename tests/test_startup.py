"""Commands that do not render must not import heavy libraries (start-up time).

Every registered command is either run here, for real, with its exit code and
output checked, or named in RENDERING: a new command fails this file until it
is one or the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from psyq.cli import create_cli
from psyq.manager import create_plugin_manager
from psyq.plugins.builtin_instruments import builtin_instruments_dir

# psyq.report too: the report machinery loads with the first report, not at start-up.
HEAVY = ("weasyprint", "numpy", "dask", "pandas", "jinja2", "psyq.report")

# Commands whose job is to render reports, check the renderer or crunch numbers, and
# the tablet server (a web framework, by design; it runs until stopped). `plugins` calls
# every collecting hook, report sections included, so it loads the report machinery
# (psyq.report) that section records are made of.
RENDERING = {
    "report",
    "demo",
    "doctor",
    "batch",
    "serve",
    "analyze",
    "simulate",
    "norms build",
    "plugins",
}

PHQ9 = "1,2,0,1,1,0,2,1,0,1"
KIOSK = ["kiosk", "start", "--client", "c1", "--instruments", "phq9", "--no-qr"]
COMPILE = ["compile", "phq9", "--to", "redcap", "-o", "{tmp}/d.csv"]
RECORD = ["record", "phq9", "--client", "c1", "--answers", PHQ9, "--date", "2026-01-05"]
QUESTIONNAIRE = {
    "resourceType": "Questionnaire",
    "status": "draft",
    "name": "Two",
    "item": [
        {
            "linkId": f"q{n}",
            "text": f"Question {n}",
            "type": "choice",
            "answerOption": [
                {"valueCoding": {"code": str(v), "display": f"A{v}"}} for v in range(2)
            ],
        }
        for n in (1, 2)
    ],
}

# command path -> (setup commands run first in the same process, the command's
# arguments, text its output must contain, stdin). {tmp} is the test's directory.
CASES: dict[str, tuple[list[list[str]], list[str], str, str]] = {
    "list": ([], ["list"], "phq9", ""),
    "show": ([], ["show", "ccts"], "Provisional", ""),
    "schema": ([], ["schema"], '"title"', ""),
    "validate": ([], ["validate"], "phq9.yaml: phq9 v1.0, ", ""),
    "score": ([], ["score", "phq9", "--answers", PHQ9], "total      8  0-27   Mild", ""),
    "record": ([], RECORD, "administration 1", ""),
    "clients set": ([RECORD], ["clients", "set", "c1", "--sex", "female"], "sex female", ""),
    "clients show": ([RECORD, ["clients"]], ["clients", "show", "c1"], "client c1", ""),
    "history": ([RECORD], ["history", "c1"], "2026-01-05", ""),
    "rescore": ([RECORD], ["rescore"], "rescored: 0 updated, 1 unchanged", ""),
    "audit verify": ([RECORD], ["audit", "verify"], "audit OK", ""),
    "audit log": ([RECORD], ["audit", "log"], "add client client c1", ""),
    "audit head": ([RECORD], ["audit", "head"], ":", ""),
    "audit acknowledge": (
        [
            RECORD,
            ["!unlink", *(f"{{tmp}}/home/psyq.db{end}" for end in ("", "-wal", "-shm"))],
            RECORD,
        ],
        ["audit", "acknowledge", "--reason", "started again on purpose"],
        "is acknowledged",
        "",
    ),
    "export": ([RECORD], ["export"], "1,c1,phq9,1.0", ""),
    "administer": ([], ["administer", "gad7", "--client", "c2"], "GAD-7", "1\n" * 7),
    "new-plugin": ([], ["new-plugin", "psyq-startup-check", "--dir", "{tmp}"], "psyq", ""),
    "import-fhir": ([], ["import-fhir", "{tmp}/q.json", "-o", "{tmp}/draft.yaml"], "draft", ""),
    "kiosk start": ([], KIOSK, "kiosk session 1 for client c1: phq9", ""),
    "kiosk status": ([KIOSK], ["kiosk", "status"], "kiosk session 1: client c1", ""),
    "kiosk stop": ([KIOSK], ["kiosk", "stop", "1"], "stopped by the clinician", ""),
    "compile": ([], COMPILE, "wrote {tmp}/d.csv: phq9 v1.0 as redcap", ""),
    "import-redcap": (
        [COMPILE],
        ["import-redcap", "{tmp}/d.csv", "--form", "phq9", "-o", "{tmp}/draft.yaml"],
        "wrote {tmp}/draft.yaml: phq9, 10 item(s)",
        "",
    ),
}

SCRIPT = """
import json, sys
from psyq.cli import main

def run(argv):
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0

setup, argv, heavy = json.loads(sys.argv[1])
for step in setup:
    if step[0] == "!unlink":  # what someone does outside psyq
        import os
        for path in step[1:]:
            if os.path.exists(path):
                os.unlink(path)
        continue
    code = run(step)
    assert code == 0, f"setup {step} exited {code}"
sys.stdout.flush()
print("=== command", flush=True)
code = run(argv)
sys.stdout.flush()
print(f"EXIT:{code}", file=sys.stderr)
print("HEAVY:" + ",".join(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def _command_paths() -> set[str]:
    cli = create_cli(create_plugin_manager(load_entrypoints=False))

    def walk(command: click.Command, prefix: str) -> set[str]:
        if isinstance(command, click.Group):
            return set().union(
                *(walk(sub, f"{prefix} {name}".strip()) for name, sub in command.commands.items())
            )
        return {prefix}

    return walk(cli, "")


def test_every_command_is_checked_or_named_as_rendering() -> None:
    assert _command_paths() - RENDERING == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_non_rendering_command_runs_and_imports_nothing_heavy(name: str, tmp_path: Path) -> None:
    setup, args, expected, stdin = CASES[name]
    (tmp_path / "q.json").write_text(json.dumps(QUESTIONNAIRE))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    setup = [[a.replace("{tmp}", str(tmp_path)) for a in step] for step in setup]
    expected = expected.replace("{tmp}", str(tmp_path))
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home"), "COLUMNS": "120"}
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps([setup, args, HEAVY])],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in run.stderr, run.stderr
    assert "EXIT:0" in run.stderr.splitlines(), run.stdout + run.stderr
    output = run.stdout.split("=== command", 1)[1] + run.stderr
    assert expected in output, output
    marker = [line for line in run.stderr.splitlines() if line.startswith("HEAVY:")]
    assert marker == ["HEAVY:"], run.stderr


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    env = {**os.environ, "PSYQ_HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps([[], ["--help"], HEAVY])],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "EXIT:0" in run.stderr.splitlines(), run.stderr
    assert "Commands:" in run.stdout and "score" in run.stdout
    assert [line for line in run.stderr.splitlines() if line.startswith("HEAVY:")] == ["HEAVY:"]


# `psyq list` reads id, title, version and status from the definition cache: with the
# cache warm it validates nothing, so neither pydantic nor the models load (issue #15).
NO_VALIDATION = ("pydantic", "pydantic_core", "psyq.models", "psyq.results", "yaml")


def test_list_with_warm_cache_imports_no_pydantic(tmp_path: Path) -> None:
    local = tmp_path / "home" / "instruments"
    local.mkdir(parents=True)
    # A local pack's definition too: a copy of PHQ-2 under another id.
    phq2 = (builtin_instruments_dir() / "phq2.yaml").read_text(encoding="utf-8")
    (local / "two.yaml").write_text(phq2.replace("id: phq2", "id: two", 1), encoding="utf-8")
    env = {
        **os.environ,
        "PSYQ_HOME": str(tmp_path / "home"),
        "PSYQ_CACHE_DIR": str(tmp_path / "cache"),
        "COLUMNS": "120",
    }
    env.pop("PSYQ_NO_CACHE", None)
    runs = [
        subprocess.run(
            [sys.executable, "-c", SCRIPT, json.dumps([[], ["list"], NO_VALIDATION])],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for _ in range(2)
    ]
    for run in runs:
        assert "EXIT:0" in run.stderr.splitlines(), run.stdout + run.stderr
        assert "Traceback" not in run.stderr, run.stderr
        assert "phq9" in run.stdout and "two " in run.stdout, run.stdout
    first, warm = (
        [line for line in r.stderr.splitlines() if line.startswith("HEAVY:")] for r in runs
    )
    # The first run validates every definition to fill the cache; the second needs none.
    assert first != ["HEAVY:"], runs[0].stderr
    assert warm == ["HEAVY:"], runs[1].stderr
    assert runs[1].stdout == runs[0].stdout


def _run_twice(
    argv: list[str],
    watched: tuple[str, ...],
    env: dict[str, str],
    expected: str = "total      8  0-27   Mild",
) -> list[str]:
    """The watched modules loaded by a second run of ``argv`` (the first fills the caches);
    both runs must succeed and print ``expected``."""
    loaded = []
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-c", SCRIPT, json.dumps([[], argv, watched])],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "EXIT:0" in run.stderr.splitlines(), run.stdout + run.stderr
        assert expected in run.stdout, run.stdout
        loaded = [line for line in run.stderr.splitlines() if line.startswith("HEAVY:")]
    return loaded


METADATA = ("importlib.metadata", "email", "zipfile")


def test_score_does_not_look_for_pydantic_plugins(tmp_path: Path) -> None:
    """pydantic's plugin loader would import importlib.metadata and read every
    distribution's entry points: psyq turns pydantic plugins off unless asked."""
    env = {**os.environ, "PSYQ_HOME": str(tmp_path), "PSYQ_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PSYQ_NO_CACHE", None)
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    assert _run_twice(["score", "phq9", "--answers", PHQ9], METADATA, env) == ["HEAVY:"]
    # Set (even empty), it is the user's: pydantic looks for its plugins as usual.
    env["PYDANTIC_DISABLE_PLUGINS"] = ""
    on = _run_twice(["score", "phq9", "--answers", PHQ9], METADATA, env)
    assert on == ["HEAVY:" + ",".join(sorted(METADATA))]


GC_SCRIPT = """
import gc, sys
import click
import psyq.cli
from psyq import hookimpl
from psyq.errors import DefinitionError

seen = []

@click.command("gc-state")
def gc_state():
    seen.append(gc.isenabled())
    click.echo("frozen" if gc.get_freeze_count() else "not frozen")

class Plugin:
    @hookimpl
    def psyq_register_commands(self):
        return [gc_state]

real = psyq.cli.create_plugin_manager
psyq.cli.create_plugin_manager = lambda: real(extra_plugins=[("gc-check", Plugin())])
for argv in (["gc-state"], ["score", "nope", "--answers", "1"]):
    try:
        psyq.cli.main(argv)
    except SystemExit:
        pass
    print("after:", gc.isenabled(), flush=True)

def broken(**kwargs):
    raise DefinitionError("no plugins today")

psyq.cli.create_plugin_manager = broken
try:
    psyq.cli.main(["list"])
except SystemExit as exc:
    print("exit:", exc.code, gc.isenabled(), flush=True)
print("during:", seen)
"""


def test_garbage_collector_is_on_while_a_command_runs_and_after(tmp_path: Path) -> None:
    """main() keeps the cyclic collector off only while psyq starts (its objects are then
    frozen, out of the collector's way): a command, however long it runs, collects."""
    env = {**os.environ, "PSYQ_HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", GC_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stdout.splitlines()
    assert lines == [
        "frozen",
        "after: True",
        "after: True",
        "exit: 2 True",
        "during: [True]",
    ], run.stdout + run.stderr
    assert "unknown instrument 'nope'" in run.stderr
    assert "psyq: error: no plugins today" in run.stderr


BUILT_SCRIPT = """
import json, sys
from psyq.cli import main
try:
    main(json.loads(sys.argv[1]))
except SystemExit as exc:
    assert not exc.code, exc.code
import psyq.models
# pydantic builds a model's schema on its first validation (defer_build): still unbuilt,
# the instrument was built from the cache without validating it.
print("SCHEMA:", psyq.models.Instrument.__pydantic_complete__, file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["score", "phq9", "--answers", PHQ9], "total      8  0-27   Mild"),
        (["show", "phq9"], "Patient Health Questionnaire-9"),
        (["show", "ccts"], "Provisional"),
    ],
)
def test_score_and_show_with_a_warm_cache_validate_nothing(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    """With the cache warm, the instrument is built from its cached, validated definition:
    Instrument's schema is never built (a cold run validates, so it is)."""
    env = {
        **os.environ,
        "PSYQ_HOME": str(tmp_path / "home"),
        "PSYQ_CACHE_DIR": str(tmp_path / "cache"),
        "COLUMNS": "120",
    }
    env.pop("PSYQ_NO_CACHE", None)
    outputs, schemas = [], []
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-c", BUILT_SCRIPT, json.dumps(args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Traceback" not in run.stderr, run.stderr
        assert expected in run.stdout, run.stdout
        outputs.append(run.stdout)
        schemas += [line for line in run.stderr.splitlines() if line.startswith("SCHEMA:")]
    assert schemas == ["SCHEMA: True", "SCHEMA: False"]
    assert outputs[0] == outputs[1]


# What `psyq show` and `psyq score` (answers given inline) never use: every default plugin
# is imported at start-up, so a plugin module must load these where it uses them.
NOT_AT_START = (
    "psyq.plugins.fhir.bundle",
    "psyq.plugins.fhir.questionnaire",
    "psyq.plugins.fhir.drafting",
    "psyq.plugins.fhir.fhirpath",
    "psyq.plugins.fhir.enable_when",
    "psyq.plugins.fhir.linking",
    "psyq.plugins.fhir.patient",
    "psyq.plugins.redcap.drafting",
    "psyq.plugins.analysis.simulate",
    "psyq.plugins.analysis.data",
    "psyq.clients",
    "psyq.spreadsheet",
    "csv",
    "signal",
    "string",
)
NOT_FOR_SHOW = ("psyq.scoring", "psyq.results", "psyq.outputs", "psyq.answers", "psyq.proration")


@pytest.mark.parametrize(
    ("args", "expected", "unused"),
    [
        (["score", "phq9", "--answers", PHQ9], "total      8  0-27   Mild", NOT_AT_START),
        (["show", "phq9"], "Patient Health Questionnaire-9", NOT_AT_START + NOT_FOR_SHOW),
        (["list"], "phq9", NOT_AT_START + NOT_FOR_SHOW),
    ],
)
def test_start_up_loads_no_module_the_command_does_not_use(
    tmp_path: Path, args: list[str], expected: str, unused: tuple[str, ...]
) -> None:
    env = {
        **os.environ,
        "PSYQ_HOME": str(tmp_path / "home"),
        "PSYQ_CACHE_DIR": str(tmp_path / "cache"),
        "COLUMNS": "120",
    }
    env.pop("PSYQ_NO_CACHE", None)
    assert _run_twice(args, unused, env, expected) == ["HEAVY:"]


FROZEN_SCRIPT = """
import gc, sys
import click
import psyq.cli
from psyq import hookimpl

@click.command("frozen-check")
@click.pass_obj
def frozen_check(app):
    instrument = app.registry.entry("phq9").instrument  # as `psyq show` loads it
    tracked = {id(o) for o in gc.get_objects()}
    click.echo(f"ENABLED: {gc.isenabled()}")
    click.echo(f"TRACKED: {id(type(instrument)) in tracked}")

class Plugin:
    @hookimpl
    def psyq_register_commands(self):
        return [frozen_check]

real = psyq.cli.create_plugin_manager
psyq.cli.create_plugin_manager = lambda: real(extra_plugins=[("frozen-check", Plugin())])
try:
    psyq.cli.main(["frozen-check"])
except SystemExit as exc:
    assert not exc.code, exc.code
"""

LIBRARY_SCRIPT = """
import gc, sys
from psyq.manager import create_plugin_manager
from psyq.registry import InstrumentRegistry
InstrumentRegistry(create_plugin_manager()).get("phq9")
print("ENABLED:", gc.isenabled(), "FROZEN:", gc.get_freeze_count())
"""


def test_models_loaded_on_first_use_are_frozen_with_start_up(tmp_path: Path) -> None:
    """The CLI freezes what start-up made (the collector never walks it again); psyq.models
    and pydantic, imported later on first use, are frozen with it. A program that uses
    psyq as a library and froze nothing gets nothing frozen."""
    env = {**os.environ, "PSYQ_HOME": str(tmp_path), "PSYQ_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PSYQ_NO_CACHE", None)
    for script, expected in (
        (FROZEN_SCRIPT, ["ENABLED: True", "TRACKED: False"]),
        (LIBRARY_SCRIPT, ["ENABLED: True FROZEN: 0"]),
    ):
        for _ in range(2):  # the first run fills the caches; the second reads them
            run = subprocess.run(
                [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
            )
            assert "Traceback" not in run.stderr, run.stderr
        assert run.stdout.splitlines() == expected, run.stdout + run.stderr
