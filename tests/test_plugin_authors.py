"""What a plugin author meets, through plugins installed with real package metadata.

Each plugin here is a module plus a dist-info whose ``psyq`` entry point names it
(tests/installed.py), run in subprocesses as a user would: failures are named,
clashes stay local, ``psyq plugins`` says what each plugin provides, strict mode
fails loudly, and golden examples can prove a plugin's flags and extras.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from psyq.manager import PsyqPluginManager

from .cohorts import phq9_rows, read_csv, write_csv
from .installed import install_plugin, plugin_env, run_psyq

ROOT = Path(__file__).resolve().parents[1]
PHQ9 = ["score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0"]
CLI = Callable[..., Result]

BAD_SCORE = """\
from psyq import hookimpl

@hookimpl
def psyq_score_flags(state):
    return 1 / 0

@hookimpl
def psyq_report_context(request, context):
    raise KeyError("no context today")
"""

ATTRIBUTION = (
    "psyq: error: plugin 'bad_score' (distribution psyq-bad-score 1.0) raised "
    "ZeroDivisionError: division by zero in hook psyq_score_flags; disable it with "
    "PSYQ_DISABLE_PLUGINS=bad_score (PSYQ_DEBUG=1 prints the traceback)"
)


def one_plugin(tmp_path: Path, name: str, source: str, **kwargs: object) -> dict[str, str]:
    site = tmp_path / "site"
    install_plugin(site, name, source, **kwargs)  # type: ignore[arg-type]
    return plugin_env(tmp_path, site)


# -- 1. a hook that raises names its plugin --------------------------------------


def test_hook_error_names_plugin_distribution_hook_and_how_to_disable(tmp_path: Path) -> None:
    env = one_plugin(tmp_path, "bad_score", BAD_SCORE)
    run = run_psyq(env, *PHQ9)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [ATTRIBUTION]
    assert run.stdout == ""
    # The advice works, by entry-point name and by distribution name.
    for name in ("bad_score", "psyq-bad-score"):
        fixed = run_psyq({**env, "PSYQ_DISABLE_PLUGINS": name}, *PHQ9)
        assert fixed.returncode == 0, fixed.stderr
        assert "Total" in fixed.stdout or "total" in fixed.stdout


def test_report_context_error_names_its_hook(tmp_path: Path) -> None:
    source = BAD_SCORE.replace("return 1 / 0", "return None")
    env = one_plugin(tmp_path, "bad_score", source)
    out = tmp_path / "r.html"
    run = run_psyq(
        env, "report", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--client", "C-1", "-o", out
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "psyq: error: plugin 'bad_score' (distribution psyq-bad-score 1.0) raised KeyError: "
        "'no context today' in hook psyq_report_context; disable it with "
        "PSYQ_DISABLE_PLUGINS=bad_score (PSYQ_DEBUG=1 prints the traceback)"
    ]
    assert not out.exists()


def test_a_wrapper_is_blamed_for_its_own_error_only(tmp_path: Path) -> None:
    """A wrapper around a stage that raises after ``yield`` is named; one that only passes
    on another plugin's error is not."""
    site = tmp_path / "site"
    install_plugin(
        site,
        "bad_wrapper",
        "from psyq import hookimpl\n\n"
        "@hookimpl(wrapper=True)\n"
        "def psyq_score_transform(state):\n"
        "    result = yield\n"
        "    state.extra['x'] = 1 / 0\n"
        "    return result\n",
    )
    install_plugin(
        site,
        "innocent",
        "from psyq import hookimpl\n\n"
        "@hookimpl(wrapper=True)\n"
        "def psyq_score_flags(state):\n"
        "    return (yield)\n",
    )
    install_plugin(site, "bad_score", BAD_SCORE)
    env = plugin_env(tmp_path, site)
    run = run_psyq({**env, "PSYQ_DISABLE_PLUGINS": "bad_score"}, *PHQ9)
    assert run.returncode == 1
    assert "plugin 'bad_wrapper' (distribution psyq-bad-wrapper 1.0) raised ZeroDivisionError" in (
        run.stderr
    )
    assert "in hook psyq_score_transform" in run.stderr
    run = run_psyq({**env, "PSYQ_DISABLE_PLUGINS": "bad_wrapper"}, *PHQ9)
    assert run.stderr.strip().splitlines() == [ATTRIBUTION]  # not 'innocent', which wraps it


@pytest.mark.parametrize("variable", ["PSYQ_DEBUG", "PSYQ_STRICT_PLUGINS"])
def test_debug_and_strict_print_the_plugins_traceback(tmp_path: Path, variable: str) -> None:
    env = one_plugin(tmp_path, "bad_score", BAD_SCORE)
    run = run_psyq({**env, variable: "1"}, *PHQ9)
    assert run.returncode == 1
    assert run.stderr.startswith("Traceback (most recent call last):")
    assert 'psyq_bad_score.py", line 5, in psyq_score_flags' in run.stderr
    assert run.stderr.strip().splitlines()[-1] == ATTRIBUTION


def test_plugin_command_error_is_attributed(tmp_path: Path) -> None:
    env = one_plugin(
        tmp_path,
        "k10",
        "import click\nfrom psyq import hookimpl\n\n"
        "@click.command('k10')\n"
        "def k10():\n"
        "    raise ValueError('k10 is broken')\n\n"
        "@hookimpl\n"
        "def psyq_register_commands():\n"
        "    return [k10]\n",
    )
    run = run_psyq(env, "k10")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "psyq: error: plugin 'k10' (distribution psyq-k10 1.0) raised ValueError: k10 is broken "
        "in its command 'k10'; disable it with PSYQ_DISABLE_PLUGINS=k10 "
        "(PSYQ_DEBUG=1 prints the traceback)"
    ]


def test_batch_errors_csv_names_the_plugin_on_each_row(tmp_path: Path) -> None:
    env = one_plugin(tmp_path, "bad_score", BAD_SCORE)
    src = write_csv(tmp_path / "c.csv", phq9_rows(3))
    out = tmp_path / "out"
    run = run_psyq(env, "batch", src, "--instrument", "phq9", "--out", out, "--scores-only")
    errors = read_csv(out / "errors.csv")
    assert len(errors) == 3, run.stderr
    for number, row in enumerate(errors, start=2):
        assert row["reason"] == f"row {number}: " + ATTRIBUTION.removeprefix("psyq: error: ")


# -- 2. name clashes are local ---------------------------------------------------

CLASHER = """\
import click
from psyq import hookimpl
from psyq.outputs import OutputFormat
from psyq.registry import InstrumentSource
from psyq.scoring import ScoringMethod
from pathlib import Path

@click.command("list")
def not_list():
    click.echo("the clasher's list")

@click.command("{extra_command}")
def extra():
    click.echo("{name} ran")

@hookimpl
def psyq_register_commands():
    return [not_list, extra]

@hookimpl
def psyq_output_formats():
    return [OutputFormat("json", ".json", lambda request: b"not json"),
            OutputFormat("{name}_fmt", ".{name}", lambda request: b"mine")]

@hookimpl
def psyq_instrument_sources():
    return [InstrumentSource("{name} pack", Path(__file__).parent / "{name}_instruments")]

@hookimpl
def psyq_scoring_methods():
    return [ScoringMethod("sum", lambda values, weights: 0.0)]
"""


def clasher(name: str, extra_command: str = "extra") -> tuple[str, dict[str, str]]:
    phq9 = (ROOT / "instruments" / "phq9.yaml").read_text()
    source = CLASHER.replace("{name}", name).replace("{extra_command}", extra_command)
    return source, {f"{name}_instruments/phq9.yaml": phq9}


def test_clashes_skip_only_the_later_record_with_one_warning_each(tmp_path: Path) -> None:
    source, files = clasher("clasher")
    env = one_plugin(tmp_path, "clasher", source, files=files)
    for args in (
        ["--help"],
        ["plugins"],
        ["list"],
        PHQ9,
        ["show", "phq9"],
        ["score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--json"],
    ):
        run = run_psyq(env, *args)
        assert run.returncode == 0, (args, run.stderr)
        assert "Traceback" not in run.stderr
    listed = run_psyq(env, "list")
    assert "phq9" in listed.stdout and "the clasher's list" not in listed.stdout
    command, instrument = listed.stderr.strip().splitlines()
    assert command == (
        "psyq: warning: plugin 'clasher' (distribution psyq-clasher 1.0) provides command "
        "'list', which built-in plugin 'commands.instruments' already provides; skipped it "
        "(disable it with PSYQ_DISABLE_PLUGINS=clasher)"
    )
    copy = tmp_path / "site" / "clasher_instruments" / "phq9.yaml"
    assert instrument.startswith(
        "psyq: warning: instrument 'phq9' is defined twice: plugin 'clasher' (distribution "
        f"psyq-clasher 1.0) (clasher pack, {copy}) is skipped, psyq (built-in) ("
    )
    assert instrument.endswith(
        "phq9.yaml) defines it first (disable it with PSYQ_DISABLE_PLUGINS=clasher)"
    )
    scored = run_psyq(env, "score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--json")
    assert json.loads(scored.stdout)["scores"]["total"]["value"] == 8  # psyq's sum and json
    assert "output format 'json', which built-in plugin 'output.json'" in scored.stderr
    assert "scoring method 'sum', which built-in plugin 'scoring_stages'" in scored.stderr
    # The rest of the plugin works: its other command and its other format.
    assert run_psyq(env, "extra").stdout == "clasher ran\n"
    mine = run_psyq(env, *PHQ9, "--format", "clasher_fmt")
    assert mine.stdout.strip() == "mine"


def test_two_plugins_clashing_name_the_later_one(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name in ("alpha", "beta"):
        source, _ = clasher(name, extra_command="k10")
        install_plugin(site, name, source, files={f"{name}_instruments/.keep": ""})
    env = plugin_env(tmp_path, site)
    run = run_psyq(env, "k10")
    assert run.returncode == 0, run.stderr
    kept = run.stdout.split()[0]
    skipped = {"alpha", "beta"} - {kept}
    (later,) = skipped
    clash = [line for line in run.stderr.splitlines() if "command 'k10'" in line]
    assert clash == [
        f"psyq: warning: plugin '{later}' (distribution psyq-{later} 1.0) provides command "
        f"'k10', which plugin '{kept}' (distribution psyq-{kept} 1.0) already provides; "
        f"skipped it (disable it with PSYQ_DISABLE_PLUGINS={later})"
    ]
    # Following the advice silences the clash and keeps the other plugin's command.
    quiet = run_psyq({**env, "PSYQ_DISABLE_PLUGINS": later}, "k10")
    assert quiet.stdout == f"{kept} ran\n"
    assert "command 'k10'" not in quiet.stderr


def test_report_section_and_filter_clashes_are_local(tmp_path: Path) -> None:
    env = one_plugin(
        tmp_path,
        "copycat",
        "from psyq import hookimpl\n\n"
        "@hookimpl\n"
        "def psyq_report_sections():\n"
        "    from psyq.report import ReportSection\n"
        "    return [ReportSection('header', '<p>fake header</p>'),\n"
        "            ReportSection('copycat_own', '<p class=\"copycat\">own section</p>')]\n\n"
        "@hookimpl\n"
        "def psyq_template_filters():\n"
        "    return {'signed': str}\n",
    )
    out = tmp_path / "r.html"
    run = run_psyq(
        env, "report", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--client", "C-1", "-o", out
    )
    assert run.returncode == 0, run.stderr
    html = out.read_text()
    assert "fake header" not in html and "own section" in html
    assert "provides report section 'header', which built-in plugin 'report.sections'" in run.stderr
    assert "provides template filter 'signed'" in run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("psyq: warning:")]
    assert len(warnings) == 2
    assert all(line.endswith("(disable it with PSYQ_DISABLE_PLUGINS=copycat)") for line in warnings)


# -- 3. psyq plugins lists what each provides, failures beside them ---------------


def test_plugins_lists_a_failing_instrument_source_with_its_error(tmp_path: Path) -> None:
    env = one_plugin(
        tmp_path,
        "lost_pack",
        "from psyq import hookimpl\n\n"
        "@hookimpl\n"
        "def psyq_instrument_sources():\n"
        "    raise FileNotFoundError('cannot find my data')\n",
    )
    run = run_psyq(env, "plugins")
    assert run.returncode == 0
    assert run.stdout.splitlines()[:2] == [
        "lost_pack 1.0 (psyq-lost-pack)  [failed]",
        "    error: psyq_instrument_sources raised FileNotFoundError: cannot find my data",
    ]
    rows = {r["name"]: r for r in json.loads(run_psyq(env, "plugins", "--json").stdout)}
    assert rows["lost_pack"]["source"] == "failed"
    assert rows["lost_pack"]["error"].startswith("psyq_instrument_sources raised FileNotFound")


EVERYTHING = """\
import click
from contextlib import contextmanager
from pathlib import Path
from psyq import for_instruments, hookimpl
from psyq.outputs import OutputFormat
from psyq.registry import InstrumentSource
from psyq.scoring import ScoringMethod

@click.command("k10")
def k10():
    click.echo("k10")

@hookimpl
def psyq_register_commands():
    return [k10]

@hookimpl
def psyq_output_formats():
    return [OutputFormat("k10csv", ".k10.csv", lambda request: b"a,b")]

@hookimpl
def psyq_instrument_sources():
    return [InstrumentSource("k10 pack", Path(__file__).parent / "k10_instruments")]

@hookimpl
def psyq_report_sections():
    from psyq.report import ReportSection
    return [ReportSection("k10_k6", "<p>k6</p>", instruments=("kten",))]

@hookimpl
def psyq_template_filters():
    return {"k10_pct": str}

@hookimpl
def psyq_scoring_methods():
    return [ScoringMethod("k10max", lambda values, weights: max(values))]

@hookimpl(wrapper=True)
@for_instruments("kten")
def psyq_score_aggregate(state):
    result = yield
    state.extra["k10_k6"] = 1
    return result

@hookimpl
def psyq_batch_executors():
    from psyq.batch.executors import BatchExecutor
    return [BatchExecutor("k10_serial", contextmanager(lambda settings: iter([None])))]
"""


def k10_yaml(instrument_id: str = "kten") -> str:
    return (
        (ROOT / "instruments" / "gad7.yaml")
        .read_text()
        .replace("id: gad7", f"id: {instrument_id}", 1)
    )


def test_plugins_lists_everything_a_plugin_provides(tmp_path: Path) -> None:
    env = one_plugin(tmp_path, "k10", EVERYTHING, files={"k10_instruments/k10.yaml": k10_yaml()})
    run = run_psyq(env, "plugins", "--json")
    assert run.returncode == 0, run.stderr
    row = next(r for r in json.loads(run.stdout) if r["name"] == "k10")
    assert row["provides"] == {
        "instruments": ["kten"],
        "output_formats": ["k10csv"],
        "commands": ["k10"],
        "report_sections": ["k10_k6"],
        "template_filters": ["k10_pct"],
        "scoring_methods": ["k10max"],
        "scoring_stages": ["aggregate"],
        "batch_executors": ["k10_serial"],
        "norm_sources": [],
        "translation_sources": [],
    }
    assert row["scoped"] == {"psyq_score_aggregate": ["kten"]}
    assert (row["error"], row["problems"]) == (None, [])
    text = run_psyq(env, "plugins").stdout.splitlines()
    assert text[:10] == [
        "k10 1.0 (psyq-k10)  [entry point]",
        "    instruments: kten",
        "    output formats: k10csv",
        "    commands: k10",
        "    report sections: k10_k6",
        "    template filters: k10_pct",
        "    scoring methods: k10max",
        "    scoring stages: aggregate",
        "    batch executors: k10_serial",
        "    psyq_score_aggregate only for: kten",
    ]
    # Built-ins too with --all: psyq's own instruments and formats.
    rows = {r["name"]: r for r in json.loads(run_psyq(env, "plugins", "--all", "--json").stdout)}
    builtin = sorted(path.stem for path in (ROOT / "instruments").glob("*.yaml"))
    assert rows["builtin_instruments"]["provides"]["instruments"] == builtin
    assert rows["output.json"]["provides"]["output_formats"] == ["json"]


def test_plugins_lists_clashes_and_skipped_files_as_problems(tmp_path: Path) -> None:
    source, files = clasher("clasher")
    files["clasher_instruments/broken.yaml"] = "id: [\n"
    env = one_plugin(tmp_path, "clasher", source, files=files)
    rows = {r["name"]: r for r in json.loads(run_psyq(env, "plugins", "--json").stdout)}
    problems = rows["clasher"]["problems"]
    assert "command 'list' skipped: built-in plugin 'commands.instruments' provides it" in problems
    assert "output format 'json' skipped: built-in plugin 'output.json' provides it" in problems
    assert "instrument 'phq9' skipped: psyq (built-in) defines it" in problems
    assert any(p.startswith("instrument file skipped: ") and "broken.yaml" in p for p in problems)
    assert rows["clasher"]["provides"]["commands"] == ["extra"]


# -- 4. strict mode fails on everything a normal run warns about -------------------


def test_strict_mode_fails_on_a_malformed_instrument_file_in_a_plugin(tmp_path: Path) -> None:
    env = one_plugin(
        tmp_path,
        "pack",
        "from pathlib import Path\nfrom psyq import hookimpl\nfrom psyq.registry import "
        "InstrumentSource\n\n@hookimpl\ndef psyq_instrument_sources():\n"
        "    return [InstrumentSource('acme pack', Path(__file__).parent / 'pack_instruments')]\n",
        files={"pack_instruments/bad.yaml": "id: [\n", "pack_instruments/k10.yaml": k10_yaml()},
    )
    normal = run_psyq(env, "list")
    assert normal.returncode == 0
    assert "kten" in normal.stdout
    (warning,) = normal.stderr.strip().splitlines()
    assert warning.startswith("psyq: warning: skipped instrument file: acme pack: ")
    strict = run_psyq({**env, "PSYQ_STRICT_PLUGINS": "1"}, "list")
    assert strict.returncode == 2
    assert strict.stdout == ""
    assert strict.stderr.startswith("psyq: error: skipped instrument file: acme pack: ")
    assert "bad.yaml:" in strict.stderr


@pytest.mark.parametrize("args", [["list"], ["--help"], PHQ9])
def test_strict_mode_fails_on_a_name_clash(tmp_path: Path, args: list[str]) -> None:
    source, files = clasher("clasher")
    env = one_plugin(tmp_path, "clasher", source, files=files)
    assert run_psyq(env, *args).returncode == 0
    strict = run_psyq({**env, "PSYQ_STRICT_PLUGINS": "1"}, *args)
    assert strict.returncode == 2
    assert strict.stderr.startswith("psyq: error: plugin 'clasher' (distribution psyq-clasher")
    assert len(strict.stderr.strip().splitlines()) == 1


# -- 5. golden examples prove a plugin's flags and extras ---------------------------

K6_PLUGIN = """\
from psyq import for_instruments, hookimpl
from psyq.results import FlagHit

@hookimpl(wrapper=True)
@for_instruments("kten")
def psyq_score_flags(state):
    result = yield
    k6 = sum(state.values[f"gad7_{i}"] or 0 for i in range(1, 7))
    state.extra["k10_k6"] = {"value": k6, "items": 6}
    if k6 >= 12:
        state.flags.append(FlagHit(id="k6_high", level="warning", item=None, message="K6 high"))
    return result
"""

PACK = (
    "from pathlib import Path\nfrom psyq import hookimpl\nfrom psyq.registry import "
    "InstrumentSource\n\n@hookimpl\ndef psyq_instrument_sources():\n"
    "    return [InstrumentSource('k10 pack', Path(__file__).parent / 'k10_instruments')]\n"
)


def with_examples(examples: str) -> str:
    text = k10_yaml()
    return text[: text.index("\nexamples:")] + "\nexamples:\n" + examples


EXAMPLES = """\
  - name: all 2s -> K6 12, flag k6_high
    answers: {gad7_1: 2, gad7_2: 2, gad7_3: 2, gad7_4: 2, gad7_5: 2, gad7_6: 2, gad7_7: 2}
    expect:
      scores: {total: 14}
      flags: [k6_high]
      extra: {k10_k6: {value: 12}}
  - name: all 0s -> K6 0, no flag
    answers: {gad7_1: 0, gad7_2: 0, gad7_3: 0, gad7_4: 0, gad7_5: 0, gad7_6: 0, gad7_7: 0}
    expect: {scores: {total: 0}, flags: [], extra: {k10_k6: {value: 0, items: 6}}}
"""


def k6_site(tmp_path: Path, examples: str = EXAMPLES) -> dict[str, str]:
    site = tmp_path / "site"
    install_plugin(
        site, "k10pack", PACK, files={"k10_instruments/k10.yaml": with_examples(examples)}
    )
    install_plugin(site, "k6", K6_PLUGIN)
    return plugin_env(tmp_path, site)


def test_golden_examples_prove_a_hook_raised_flag_and_an_extra(tmp_path: Path) -> None:
    env = k6_site(tmp_path)
    run = run_psyq(env, "validate")
    assert run.returncode == 0, run.stderr
    assert "kten v" in run.stdout and "2 golden example(s) pass" in run.stdout
    one = run_psyq(env, "validate", tmp_path / "site" / "k10_instruments" / "k10.yaml")
    assert one.returncode == 0, one.stderr


def test_a_missing_plugin_is_named_as_the_likely_cause(tmp_path: Path) -> None:
    env = k6_site(tmp_path)
    run = run_psyq({**env, "PSYQ_DISABLE_PLUGINS": "k6"}, "validate")
    assert run.returncode == 2
    fails = [line for line in run.stderr.splitlines() if line.startswith("FAIL")]
    assert (
        "kten example 'all 2s -> K6 12, flag k6_high': flag 'k6_high' is not declared in the "
        "file and no installed plugin raised it; is the plugin that raises it installed "
        "(`psyq plugins`)?"
    ) in "\n".join(fails)
    assert (
        "kten example 'all 0s -> K6 0, no flag': extra 'k10_k6' expected, but no installed "
        "plugin set it; is the plugin that adds it installed (`psyq plugins`)?"
    ) in "\n".join(fails)


def test_a_wrong_extra_or_flag_is_a_mismatch(tmp_path: Path) -> None:
    wrong = EXAMPLES.replace("{k10_k6: {value: 12}}", "{k10_k6: {value: 13}}").replace(
        "flags: [], extra", "flags: [k6_high], extra"
    )
    env = k6_site(tmp_path, wrong)
    run = run_psyq(env, "validate")
    assert run.returncode == 2
    assert (
        "kten example 'all 2s -> K6 12, flag k6_high': extra 'k10_k6' expected "
        '{"value": 13}, got {"items": 6, "value": 12.0}'
    ) in run.stderr
    assert (
        "kten example 'all 0s -> K6 0, no flag': flags expected ['k6_high'], got []" in run.stderr
    )
    # A flag the plugin does raise is not reported as "is the plugin installed?".
    assert "'k6_high' is not declared" not in run.stderr


# -- 6. new-plugin refuses a taken id -------------------------------------------------


@pytest.mark.parametrize(("name", "owner"), [("phq9", "psyq (built-in)"), ("kten", "k10 pack")])
def test_new_plugin_refuses_a_taken_instrument_id(tmp_path: Path, name: str, owner: str) -> None:
    env = k6_site(tmp_path)
    run = run_psyq(env, "new-plugin", name, "--dir", tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith(f"psyq: error: instrument id '{name}' is taken: {owner} already")
    assert not (tmp_path / f"psyq-{name}").exists()


def test_new_plugin_refuses_an_installed_plugin_name(tmp_path: Path) -> None:
    env = k6_site(tmp_path)
    run = run_psyq(env, "new-plugin", "k6", "--dir", tmp_path)
    assert run.returncode == 2
    assert "plugin name 'k6' is taken by an installed plugin" in run.stderr


# -- 7. validate lists every problem with its line --------------------------------

PROBLEMS = """\
schema_version: 1
id: many
version: "1"
title: Many problems
short_name: MANY
licence: x
status: provisional
response_scales:
  yn:
    options:
      - {value: 0, label: No}
      - {value: 1, label: "Yes"}
items:
  - {id: a, text: A, response_scale: yn}
  - {id: b, text: B, response_scale: yn}
scales:
  - id: total
    label: Total
    items: [a, b]
  - id: other
    label: Other
    items: [a, zz]
flags:
  - id: f
    level: warning
    message: m
    when: {item: nope, op: ">=", value: 1}
"""


def test_validate_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    env = one_plugin(
        tmp_path,
        "many",
        PACK.replace("k10", "many"),
        files={"many_instruments/many.yaml": PROBLEMS.replace("label: No}", 'label: "No"}')},
    )
    path = tmp_path / "site" / "many_instruments" / "many.yaml"
    run = run_psyq(env, "validate", path)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"FAIL {path}:20: scale other: unknown item 'zz'",
        f"FAIL {path}:24: flag f: unknown item 'nope'",
        "2 problem(s) found",
    ]


def test_yaml_no_read_as_false_says_quote_it(tmp_path: Path) -> None:
    path = tmp_path / "no.yaml"
    path.write_text(PROBLEMS)
    run = run_psyq(plugin_env(tmp_path, tmp_path / "site"), "validate", path)
    assert run.returncode == 2
    assert run.stderr.splitlines()[0] == (
        f"FAIL {path}:11: response_scales.yn.options[0].label: expected text, got false: "
        'YAML 1.1 reads an unquoted No (also yes/no, on/off, true/false) as false; quote it: "No"'
    )
    # Not only text fields: a choice read as a boolean says why too.
    path.write_text(PROBLEMS.replace("status: provisional", "status: on"))
    run = run_psyq(plugin_env(tmp_path, tmp_path / "site"), "validate", path)
    assert f"FAIL {path}:7: status: Input should be 'validated' or 'provisional'; " in run.stderr
    assert (
        f"FAIL {path}:7: status: Input should be 'validated' or 'provisional'; expected text, "
        "got true: YAML 1.1 reads an unquoted on (also yes/no, on/off, true/false) as true; "
        'quote it: "on"'
    ) in run.stderr.splitlines()


# -- 8. show formats a citation list --------------------------------------------------


def test_show_lists_citations_one_a_line(tmp_path: Path) -> None:
    text = k10_yaml()
    start = text.index("citations:")
    end = text.index("\nlicence:")
    cited = (
        text[:start]
        + "citations:\n"
        + "  - text: Kessler RC, et al. Short screening scales. Psychol Med 2002;32:959-976.\n"
        + "    url: https://doi.org/10.1017/S0033291702006074\n"
        + "  - text: Andrews G, Slade T. Interpreting scores on the K10. ANZJPH 2001;25:494-497.\n"
        + text[end:]
    )
    env = one_plugin(tmp_path, "k10pack", PACK, files={"k10_instruments/k10.yaml": cited})
    run = run_psyq(env, "show", "kten")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    at = lines.index("Citations:")
    assert lines[at + 1 : at + 3] == [
        "  1. Kessler RC, et al. Short screening scales. Psychol Med 2002;32:959-976. "
        "<https://doi.org/10.1017/S0033291702006074>",
        "  2. Andrews G, Slade T. Interpreting scores on the K10. ANZJPH 2001;25:494-497.",
    ]
    assert ".;" not in run.stdout


# -- 9. psyq_cli: .stdout is the output alone -------------------------------------------


def test_psyq_cli_stdout_parses_while_a_warning_prints(
    psyq_pm: PsyqPluginManager, psyq_register: Callable[..., object], psyq_cli: CLI, tmp_path: Path
) -> None:
    from psyq import hookimpl
    from psyq.registry import InstrumentSource

    (tmp_path / "bad.yaml").write_text("id: [\n")

    class Pack:
        @hookimpl
        def psyq_instrument_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("acme pack", tmp_path)]

    psyq_register(Pack(), "acme")
    psyq_pm.strict = False  # a normal run: the bad file is a warning on stderr
    result = psyq_cli("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--json")
    assert result.exit_code == 0
    assert "psyq: warning: skipped instrument file" in result.output
    assert json.loads(result.stdout)["scores"]["total"]["value"] == 8
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.output)


def test_scaffold_and_docs_parse_stdout() -> None:
    from psyq.plugins.commands.scaffold import _files

    test = _files("mood_log")["tests/test_mood_log.py"]
    assert "json.loads(result.stdout)" in test and "json.loads(result.output)" not in test
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert "json.loads(result.output)" not in docs.replace(
        "would break `json.loads(result.output)`", ""
    )


# -- 10. report --help lists the installed formats ----------------------------------------


def test_report_help_lists_installed_formats(tmp_path: Path) -> None:
    env = one_plugin(tmp_path, "k10", EVERYTHING, files={"k10_instruments/k10.yaml": k10_yaml()})
    rows = json.loads(run_psyq(env, "plugins", "--all", "--json").stdout)
    installed = sorted(name for row in rows for name in row["provides"]["output_formats"])
    assert {"k10csv", "pdf", "html", "json"} <= set(installed)
    run = run_psyq(env, "report", "--help")
    assert run.returncode == 0
    help_text = " ".join(run.stdout.split())
    assert f"--format TEXT One of: {', '.join(installed)} (default:" in help_text
    assert "pdf, html or json" not in help_text


# -- 11. instrument-scoped hooks ----------------------------------------------------------


def test_a_scoped_stage_leaves_other_instruments_alone(tmp_path: Path) -> None:
    env = k6_site(tmp_path)
    k10 = json.loads(run_psyq(env, "score", "kten", "--answers", "2,2,2,2,2,2,2", "--json").stdout)
    assert k10["extra"] == {"k10_k6": {"value": 12, "items": 6}}
    assert [f["id"] for f in k10["flags"]] == ["k6_high"]
    # gad7 has the same item ids: only the scope keeps the stage off it.
    gad7 = json.loads(run_psyq(env, "score", "gad7", "--answers", "2,2,2,2,2,2,2", "--json").stdout)
    assert "extra" not in gad7 and "k6_high" not in [f["id"] for f in gad7["flags"]]


def test_scope_needs_an_argument_that_carries_the_instrument() -> None:
    from psyq import for_instruments

    with pytest.raises(TypeError, match="fits hooks with a 'state', 'request' or 'instrument'"):
        for_instruments("phq9")(lambda pm: [])
    with pytest.raises(TypeError, match="needs one or more instrument ids"):
        for_instruments()


def test_example_plugin_and_scaffold_scope_their_hooks() -> None:
    from psyq.plugins.commands.scaffold import _files

    example = (ROOT / "examples/psyq-example-plugin/psyq_example/plugin.py").read_text()
    scaffold = _files("mood_log")["psyq_mood_log/plugin.py"]
    for text, instrument in ((example, "rses"), (scaffold, "mood_log")):
        assert f'@for_instruments("{instrument}")' in text
        assert f'instrument.id == "{instrument}"' not in text  # no hand-written guard left


# -- 13. the scaffold's mypy works with an editable psyq ------------------------------------


def test_scaffold_readme_and_mypy(psyq_cli: CLI, tmp_path: Path) -> None:
    assert psyq_cli("new-plugin", "mood-log", "--dir", tmp_path).exit_code == 0
    package = tmp_path / "psyq-mood-log"
    readme = (package / "README.md").read_text()
    assert "pip install -e path/to/psyq --config-settings editable_mode=strict" in readme
    # This checkout's psyq is an editable install in strict mode, as the README says.
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "psyq_mood_log", "tests"],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr


# -- 14. one import advice for psyq.report -------------------------------------------------


def test_example_and_scaffold_load_psyq_report_only_to_render(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    assert psyq_cli("new-plugin", "mood-log", "--dir", tmp_path).exit_code == 0
    package = tmp_path / "psyq-mood-log"
    advice = "# Imported here, not at the top: psyq's report machinery then loads only when a"
    example = ROOT / "examples/psyq-example-plugin/psyq_example/plugin.py"
    for path in (example, package / "psyq_mood_log" / "plugin.py"):
        text = path.read_text()
        assert advice in text, path
        assert not re.search(r"^from psyq(\.report import| import report)", text, re.M), path
    for module, where in (("psyq_example.plugin", None), ("psyq_mood_log.plugin", package)):
        code = f"import sys, {module}; print('psyq.report' in sys.modules)"
        run = subprocess.run(
            [sys.executable, "-c", code], cwd=where, capture_output=True, text=True, timeout=60
        )
        assert run.stdout.strip() == "False", run.stderr


def test_a_plugins_format_and_scoring_method_are_attributed_too(tmp_path: Path) -> None:
    """Callbacks a plugin hands over (a format's render, a method's aggregate) name it."""
    source = (
        EVERYTHING.replace('lambda request: b"a,b"', "lambda request: 1 / 0")
        .replace("lambda values, weights: max(values)", "lambda values, weights: [][0]")
        .replace("method: sum", "method: k10max")
    )
    k10 = (
        k10_yaml()
        .replace("method: sum", "method: k10max")
        .replace("prorate: true", "prorate: false")
    )
    k10 = k10.split("\nexamples:")[0] + "\n"
    env = one_plugin(tmp_path, "k10", source, files={"k10_instruments/k10.yaml": k10})
    run = run_psyq(env, *PHQ9, "--format", "k10csv")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "psyq: error: plugin 'k10' (distribution psyq-k10 1.0) raised ZeroDivisionError: "
        "division by zero in hook psyq_output_formats (format 'k10csv'); disable it with "
        "PSYQ_DISABLE_PLUGINS=k10 (PSYQ_DEBUG=1 prints the traceback)"
    ]
    run = run_psyq(env, "score", "kten", "--answers", "1,1,1,1,1,1,1")
    assert run.returncode == 1
    assert "raised IndexError: list index out of range in hook psyq_scoring_methods " in (
        run.stderr
    )
    assert "(method 'k10max')" in run.stderr


def test_psyq_cli_lets_a_plugins_bug_propagate_named(
    psyq_register: Callable[..., object], psyq_cli: CLI
) -> None:
    """In a plugin's own tests the bug surfaces with its traceback, and still names the hook."""
    from psyq import hookimpl
    from psyq.errors import PluginHookError

    class Broken:
        @hookimpl
        def psyq_score_flags(self, state: object) -> None:
            raise ZeroDivisionError("bad flags")

    psyq_register(Broken(), "broken")
    with pytest.raises(PluginHookError, match="plugin 'broken' raised ZeroDivisionError") as info:
        psyq_cli(*PHQ9)
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert info.value.hook == "psyq_score_flags"
