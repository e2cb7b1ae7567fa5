"""Red team 5, plugin authors: a new author's small plugins, and the mistakes they make.

Each plugin is installed the way pip would (a dist-info with a ``psyq`` entry point on
PYTHONPATH, tests/installed.py) and run in a subprocess, or registered with the
``psyq_register`` fixture. A mistake (a wrong return shape, a malformed flag, score or
extra, a misspelt hook or argument, a slow import) gets one line naming the plugin; a
plugin never hides a critical flag: a scoring stage that drops one, a report section
replacing the safety alert, an output format that leaves it out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from psyq import hookimpl
from psyq.results import FlagHit
from psyq.scoring import ScoringState

from .installed import install_plugin, plugin_env, run_psyq

PHQ9_ITEM9 = ["score", "phq9", "--answers", "1,1,1,1,1,1,1,1,2"]
ALERT = "CRITICAL (item phq9_9): The client endorsed thoughts"
CLI = Callable[..., Result]


def installed(tmp_path: Path, name: str, source: str, **kwargs: Any) -> dict[str, str]:
    site = tmp_path / "site"
    install_plugin(site, name, source, **kwargs)
    return plugin_env(tmp_path, site)


def one_warning_naming(stderr: str, name: str) -> str:
    """The one warning line about plugin ``name`` (no traceback, no internal error)."""
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if f"plugin '{name}'" in line]
    assert len(lines) == 1, stderr
    return lines[0]


# -- 1. a scoring stage never hides a critical flag ---------------------------------

DROPPING = {
    # a wrapper that filters the flags the file's rules raised
    "drop": """\
from psyq import hookimpl

@hookimpl(wrapper=True)
def psyq_score_flags(state):
    result = yield
    state.flags[:] = [f for f in state.flags if f.level != "critical"]
    return result
""",
    # a wrapper that turns the alert into a quiet note
    "downgrade": """\
from psyq import hookimpl

@hookimpl(wrapper=True)
def psyq_score_flags(state):
    result = yield
    state.flags[:] = [f.model_copy(update={"level": "info"}) for f in state.flags]
    return result
""",
    # a replacement of the stage (documented: return True) with rules of its own
    "replace": """\
from psyq import hookimpl
from psyq.results import FlagHit

@hookimpl
def psyq_score_flags(state):
    if state.instrument.id != "phq9":
        return None
    state.flags.append(FlagHit(id="my_note", level="info", item=None, message="scored"))
    return True
""",
}


@pytest.mark.parametrize("kind", sorted(DROPPING))
def test_a_stage_that_drops_a_critical_flag_has_it_raised_again(tmp_path: Path, kind: str) -> None:
    env = installed(tmp_path, f"flags_{kind}", DROPPING[kind])
    table = run_psyq(env, *PHQ9_ITEM9)
    assert table.returncode == 0, table.stderr
    assert f"!!! {ALERT}" in table.stdout
    warning = one_warning_naming(table.stderr, f"flags_{kind}")
    assert (
        f"plugin 'flags_{kind}' (distribution psyq-flags-{kind} 1.0) dropped or downgraded "
        "critical flag suicidal_ideation of phq9 in hook psyq_score_flags; psyq raised it "
        f"again, as every output must show it (disable it with PSYQ_DISABLE_PLUGINS=flags_{kind})"
    ) in warning
    data = json.loads(run_psyq(env, *PHQ9_ITEM9, "--json").stdout)
    assert data["flags"][0]["id"] == "suicidal_ideation"
    assert data["flags"][0]["level"] == "critical"
    strict = run_psyq({**env, "PSYQ_STRICT_PLUGINS": "1"}, *PHQ9_ITEM9)
    assert strict.returncode == 1
    assert strict.stderr.startswith(f"psyq: error: plugin 'flags_{kind}'")


def test_an_unanswered_critical_item_is_raised_again_too(tmp_path: Path) -> None:
    env = installed(tmp_path, "flags_drop", DROPPING["drop"])
    run = run_psyq(env, "score", "phq9", "--answers", "1,1,1,1,1,1,1,1,", "--json")
    assert run.returncode == 0, run.stderr
    flags = json.loads(run.stdout)["flags"]
    assert [(f["id"], f["level"], f["item"]) for f in flags] == [
        ("critical_item_unanswered", "critical", "phq9_9")
    ]
    assert "critical flag critical_item_unanswered of phq9" in run.stderr


class DropsAlerts:
    @hookimpl(wrapper=True)
    def psyq_score_flags(self, state: ScoringState) -> Any:
        result = yield
        state.flags[:] = [f for f in state.flags if f.level != "critical"]
        return result


class AddsAFlag:
    @hookimpl(wrapper=True)
    def psyq_score_flags(self, state: ScoringState) -> Any:
        result = yield
        state.flags.append(FlagHit(id="extra_note", level="info", item=None, message="noted"))
        return result


def test_the_fixture_fails_a_plugin_that_drops_an_alert_not_one_that_adds_a_flag(
    psyq_register: Callable[..., Any], psyq_cli: CLI
) -> None:
    # psyq_pm is strict: the author's own test meets the problem as an error.
    psyq_register(AddsAFlag(), "adds-a-flag")
    kept = psyq_cli(*PHQ9_ITEM9, "--json")
    assert (kept.exit_code, kept.stderr) == (0, "")
    flags = [(f["id"], f["level"]) for f in json.loads(kept.stdout)["flags"]]
    assert flags == [("suicidal_ideation", "critical"), ("extra_note", "info")]
    psyq_register(DropsAlerts(), "drops-alerts")
    dropped = psyq_cli(*PHQ9_ITEM9)
    assert dropped.exit_code == 1
    # Two plugins wrap the flags stage: psyq names the one that took the flag away.
    assert dropped.stderr == (
        "psyq: error: plugin 'drops-alerts' dropped or downgraded critical flag "
        "suicidal_ideation of phq9 in hook psyq_score_flags; psyq raised it again, as every "
        "output must show it (unregister it)\n"
    )


# -- 2. a stage's result and what it leaves in the state ------------------------------

STAGE_MISTAKES = {
    # "corrects" the client's answer instead of writing an item value
    "edits_answers": (
        "@hookimpl(wrapper=True)\ndef psyq_score_recode(state):\n"
        "    state.answers['phq9_9'] = 0\n    return (yield)\n",
        "changed state.answers (phq9_9), the answers as given; a stage writes item values to "
        "state.values (in hook psyq_score_recode)",
    ),
    "unknown_item": (
        "from psyq.results import FlagHit\n\n@hookimpl(wrapper=True)\n"
        "def psyq_score_flags(state):\n    result = yield\n"
        "    state.flags.append(FlagHit(id='x', level='warning', item='phq9_99', message='m'))\n"
        "    return result\n",
        "raised flag 'x' about item phq9_99, which phq9 does not have (in hook psyq_score_flags)",
    ),
    "returns_false": (
        "@hookimpl\ndef psyq_score_flags(state):\n    return False\n",
        "returned False from hook psyq_score_flags; it must return True (it did the stage: "
        "the default is skipped) or None (the default runs next)",
    ),
    "returns_text": (
        "@hookimpl\ndef psyq_score_recode(state):\n    return 'done'\n",
        "returned a str from hook psyq_score_recode; it must return True",
    ),
    "dict_flag": (
        "@hookimpl(wrapper=True)\ndef psyq_score_flags(state):\n    result = yield\n"
        "    state.flags.append({'id': 'x', 'level': 'urgent', 'message': 'hi'})\n"
        "    return result\n",
        "put a dict in state.flags; a flag is a psyq.results.FlagHit (in hook psyq_score_flags)",
    ),
    "text_score": (
        "@hookimpl(wrapper=True)\ndef psyq_score_transform(state):\n    result = yield\n"
        "    state.scales['total'].value = 'high'\n    return result\n",
        "set scale 'total' value to a str; a score is a number or None "
        "(in hook psyq_score_transform)",
    ),
    "date_extra": (
        "import datetime\n\n@hookimpl(wrapper=True)\ndef psyq_score_transform(state):\n"
        "    result = yield\n    state.extra['when'] = datetime.date(2026, 1, 1)\n"
        "    return result\n",
        "put a value in state.extra that JSON cannot hold (Object of type date is not JSON "
        "serializable); extra is printed by score --json and stored (in hook "
        "psyq_score_transform)",
    ),
}


@pytest.mark.parametrize("kind", sorted(STAGE_MISTAKES))
def test_a_stages_mistake_is_one_line_naming_the_plugin(tmp_path: Path, kind: str) -> None:
    source, said = STAGE_MISTAKES[kind]
    env = installed(tmp_path, kind, "from psyq import hookimpl\n\n" + source)
    run = run_psyq(env, *PHQ9_ITEM9)
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1, run.stderr
    dist = "psyq-" + kind.replace("_", "-")
    assert run.stderr.startswith(f"psyq: error: plugin '{kind}' (distribution {dist} 1.0) ")
    assert said in run.stderr
    assert run.stderr.rstrip().endswith(f"disable it with PSYQ_DISABLE_PLUGINS={kind}")


# -- 3. a collecting hook that returns the wrong shape --------------------------------

PACK = Path(__file__).parent  # any folder: the shapes below are wrong before it is read

WRONG_SHAPES = {
    "psyq_instrument_sources": (
        "return [str(PACK)]",
        "returned a list holding a str; expected a list of psyq.registry.InstrumentSource",
        ["list"],
    ),
    "psyq_output_formats": (
        "return {'name': 'md'}",
        "returned a dict; expected a list of psyq.outputs.OutputFormat",
        PHQ9_ITEM9,
    ),
    "psyq_register_commands": (
        "return [print]",
        "returned a list holding a builtin_function_or_method; expected a list of "
        "click.core.Command",
        ["list"],
    ),
    "psyq_scoring_methods": (
        "return [lambda values, weights: 0]",
        "returned a list holding a function; expected a list of psyq.scoring.ScoringMethod",
        PHQ9_ITEM9,
    ),
    "psyq_report_sections": (
        "return ['<p>hello</p>']",
        "returned a list holding a str; expected a list of psyq.report.ReportSection",
        ["report", *PHQ9_ITEM9[1:], "--client", "C-1", "-o", "{tmp}/r.html"],
    ),
    "psyq_template_filters": (
        "return [('shout', str.upper)]",
        "returned a list; expected a dict of filter name -> function",
        ["report", *PHQ9_ITEM9[1:], "--client", "C-1", "-o", "{tmp}/r.html"],
    ),
    "psyq_norm_sources": (
        "return ['norms']",
        "returned a list holding a str; expected a list of psyq.norms.NormSource",
        ["plugins"],
    ),
}


@pytest.mark.parametrize("hook", sorted(WRONG_SHAPES))
def test_a_wrong_shape_skips_the_plugin_with_one_line(tmp_path: Path, hook: str) -> None:
    body, said, args = WRONG_SHAPES[hook]
    source = f"from psyq import hookimpl\nPACK = {str(PACK)!r}\n\n@hookimpl\ndef {hook}():\n"
    env = installed(tmp_path, "shapes", source + f"    {body}\n")
    run = run_psyq(env, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert run.returncode == 0, run.stderr
    warning = one_warning_naming(run.stderr, "shapes")
    assert f"plugin 'shapes' failed and was skipped: {hook} {said}" in warning
    listed = json.loads(run_psyq(env, "plugins", "--json").stdout)
    row = next(r for r in listed if r["name"] == "shapes")
    assert (row["source"], row["error"]) == ("failed", f"{hook} {said}")


MOOD = """\
id: mood3
version: "0.1"
title: Mood three
short_name: MOOD3
status: provisional
licence: test
response_scales:
  f: {options: [{value: 0, label: Never}, {value: 1, label: Often}]}
items:
  - {id: m1, text: One, response_scale: f}
  - {id: m2, text: Two, response_scale: f}
scales:
  - {id: total, label: Total, items: [m1, m2], method: top}
"""


def test_a_source_path_may_be_a_string(tmp_path: Path) -> None:
    source = (
        "from psyq import hookimpl\nfrom psyq.registry import InstrumentSource\n\n"
        f"@hookimpl\ndef psyq_instrument_sources():\n"
        f"    return [InstrumentSource('mood pack', {str(tmp_path / 'site' / 'mood')!r})]\n"
    )
    env = installed(tmp_path, "mood", source, files={"mood/mood3.yaml": MOOD})
    run = run_psyq(env, "list")
    assert run.returncode == 0, run.stderr
    assert "mood3    Mood three (v0.1)  [provisional]  (mood pack)" in run.stdout


def test_a_methods_aggregate_returning_text_is_named(tmp_path: Path) -> None:
    source = (
        "from pathlib import Path\nfrom psyq import hookimpl\n"
        "from psyq.registry import InstrumentSource\nfrom psyq.scoring import ScoringMethod\n\n"
        "@hookimpl\ndef psyq_instrument_sources():\n"
        "    return [InstrumentSource('mood pack', Path(__file__).parent / 'mood')]\n\n"
        "@hookimpl\ndef psyq_scoring_methods():\n"
        "    return [ScoringMethod('top', lambda values, weights: 'high')]\n"
    )
    env = installed(tmp_path, "mood", source, files={"mood/mood3.yaml": MOOD})
    run = run_psyq(env, "score", "mood3", "--answers", "1,0")
    assert run.returncode == 1
    assert run.stderr == (
        "psyq: error: plugin 'mood' (distribution psyq-mood 1.0) returned a str from hook "
        "psyq_scoring_methods (method 'top'); it must return a number (the scale's raw "
        "aggregate); disable it with PSYQ_DISABLE_PLUGINS=mood\n"
    )


# -- 4. outputs a plugin adds still show the alert ------------------------------------

QUIET_FORMAT = """\
from psyq import hookimpl
from psyq.outputs import OutputFormat

def render(request):
    return f"Total: {request.result.total.value}\\n".encode()

@hookimpl
def psyq_output_formats():
    return [OutputFormat(name="brief", suffix=".brief", render=render)]
"""


def test_a_plugins_format_that_leaves_the_alert_out_gets_it_on_stderr(tmp_path: Path) -> None:
    env = installed(tmp_path, "brief", QUIET_FORMAT)
    run = run_psyq(env, *PHQ9_ITEM9, "--format", "brief")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "Total: 10\n"
    assert run.stderr.startswith(f"psyq: {ALERT}")
    calm = run_psyq(env, "score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--format", "brief")
    assert (calm.stdout, calm.stderr) == ("Total: 8\n", "")


def test_a_render_returning_text_is_named(tmp_path: Path) -> None:
    env = installed(tmp_path, "brief", QUIET_FORMAT.replace('\\n".encode()', '\\n"'))
    run = run_psyq(env, *PHQ9_ITEM9, "--format", "brief")
    assert run.returncode == 1
    assert run.stderr == (
        "psyq: error: plugin 'brief' (distribution psyq-brief 1.0) returned a str from hook "
        "psyq_output_formats (format 'brief'); it must return bytes (encode text with "
        ".encode('utf-8')); disable it with PSYQ_DISABLE_PLUGINS=brief\n"
    )


CALM_SECTIONS = """\
from psyq import hookimpl

@hookimpl
def psyq_report_sections():
    from psyq import report

    return [
        report.ReportSection("calm", "<section><h2>All is well</h2></section>",
                             replaces="safety_alert"),
        report.ReportSection("banner", "<section><h2>Clinic banner</h2></section>", order=0),
    ]
"""


def test_no_plugin_section_replaces_or_precedes_the_safety_alert(tmp_path: Path) -> None:
    env = installed(tmp_path, "calm", CALM_SECTIONS)
    out = tmp_path / "r.html"
    run = run_psyq(env, "report", *PHQ9_ITEM9[1:], "--client", "C-1", "-o", out)
    assert run.returncode == 0, run.stderr
    warning = one_warning_naming(run.stderr, "calm")
    assert (
        "report section 'calm' (plugin 'calm' (distribution psyq-calm 1.0)) replaces section "
        "'safety_alert', which no plugin may replace: it shows the critical flags; skipped it "
        "(disable it with PSYQ_DISABLE_PLUGINS=calm)"
    ) in warning
    html = out.read_text()
    assert "All is well" not in html
    assert 'class="section-safety-alert alert"' in html
    assert html.index("section-safety-alert") < html.index("Clinic banner")


def test_a_plugin_sections_template_error_names_the_plugin(tmp_path: Path) -> None:
    source = CALM_SECTIONS.replace("All is well", "{{ my_value }}").replace(
        'replaces="safety_alert"', "order=55"
    )
    env = installed(tmp_path, "calm", source)
    run = run_psyq(env, "report", *PHQ9_ITEM9[1:], "--client", "C-1", "-o", tmp_path / "r.html")
    assert run.returncode == 1
    assert run.stderr == (
        "psyq: error: report section 'calm' (plugin 'calm' (distribution psyq-calm 1.0); "
        "disable it with PSYQ_DISABLE_PLUGINS=calm) failed to render: 'my_value' is undefined\n"
    )


# -- 5. loading: a misspelt hook or argument, a slow import --------------------------

MISSPELT = {
    "hook_name": (
        "@hookimpl\ndef psyq_score_flag(state):\n    return None\n",
        "PluginValidationError: psyq_score_flag is not a psyq hook; did you mean psyq_score_flags?",
    ),
    "argument": (
        "@hookimpl\ndef psyq_score_flags(stat):\n    return None\n",
        "PluginValidationError: psyq_score_flags(stat): Argument(s) {'stat'} are declared in "
        "the hookimpl but can not be found in the hookspec (the hookspec: "
        "psyq_score_flags(state))",
    ),
    "wrapper": (
        "@hookimpl(wrapper=True)\ndef psyq_score_flags(state):\n    return None\n",
        "PluginValidationError: psyq_score_flags(state): Declared as wrapper=True or "
        "hookwrapper=True but function is not a generator function",
    ),
}


@pytest.mark.parametrize("kind", sorted(MISSPELT))
def test_a_misspelt_hook_says_what_is_wrong_on_one_line(tmp_path: Path, kind: str) -> None:
    source, said = MISSPELT[kind]
    env = installed(tmp_path, "typo", "from psyq import hookimpl\n\n" + source)
    run = run_psyq(env, *PHQ9_ITEM9)
    assert run.returncode == 0
    assert f"plugin 'typo' failed and was skipped: {said} (set" in one_warning_naming(
        run.stderr, "typo"
    )
    listed = run_psyq(env, "plugins").stdout
    assert f"    error: {said}\n" in listed


def test_plugins_names_a_plugin_slow_to_import(tmp_path: Path) -> None:
    source = "import time\n\ntime.sleep(0.8)\n" + DROPPING["replace"]
    env = installed(tmp_path, "slow", source)
    listed = run_psyq(env, "plugins").stdout
    block = listed.split("slow 1.0 (psyq-slow)  [entry point]\n")[1].split("\n")
    problem = next(line for line in block if line.startswith("    problem: "))
    assert problem.startswith("    problem: slow to import (")
    assert problem.endswith(
        " s, and every psyq command imports it): import heavy libraries inside the functions "
        "that need them"
    )


def test_an_entry_point_naming_a_class_says_register_an_instance(tmp_path: Path) -> None:
    source = "from psyq import hookimpl\n\nclass Plugin:\n" + "".join(
        "    " + line + "\n" for line in DROPPING["replace"].splitlines()[3:]
    ).replace("(state)", "(self, state)")
    site = tmp_path / "site"
    install_plugin(site, "classy", source)
    (entry_points,) = site.glob("*.dist-info/entry_points.txt")
    entry_points.write_text("[psyq]\nclassy = psyq_classy:Plugin\n")
    run = run_psyq(plugin_env(tmp_path, site), *PHQ9_ITEM9)
    assert run.returncode == 0
    assert (
        "plugin 'classy' failed and was skipped: TypeError: it is the class Plugin, whose hook "
        "psyq_score_flags takes self; register an instance (Plugin()) or a module (set"
    ) in one_warning_naming(run.stderr, "classy")


# -- 6. an instrument pack or norm provider that ships nothing usable -----------------

PACK_AT = """\
from pathlib import Path
from psyq import hookimpl
from psyq.registry import InstrumentSource

@hookimpl
def psyq_instrument_sources():
    return [InstrumentSource("mood pack", Path(__file__).parent / {folder!r})]
"""


def test_a_pack_whose_folder_was_not_installed_says_package_data(tmp_path: Path) -> None:
    env = installed(tmp_path, "mood", PACK_AT.format(folder="instruments"))
    run = run_psyq(env, "list")
    assert run.returncode == 0
    folder = tmp_path / "site" / "instruments"
    assert (
        f"psyq: warning: skipped instrument file: mood pack (plugin 'mood'): {folder} does not "
        "exist; if the definitions are package data, list them in the plugin's pyproject.toml "
        "([tool.setuptools.package-data])"
    ) == one_warning_naming(run.stderr, "mood")
    validate = run_psyq(env, "validate")
    assert validate.returncode == 2
    assert f"FAIL mood pack (plugin 'mood'): {folder} does not exist" in validate.stderr


def test_a_pack_folder_without_definitions_is_a_problem_of_the_plugin(tmp_path: Path) -> None:
    env = installed(tmp_path, "mood", PACK_AT.format(folder="mood"), files={"mood/README": "x"})
    listed = run_psyq(env, "plugins").stdout
    folder = tmp_path / "site" / "mood"
    assert (
        "mood 1.0 (psyq-mood)  [entry point]\n"
        f"    problem: instrument source 'mood pack': {folder} holds no instrument definitions "
        "(*.yaml, *.yml, *.json)\n"
    ) in listed


NORM_PACK = PACK_AT.format(folder="mood") + (
    "\n@hookimpl\ndef psyq_norm_sources():\n    from psyq.norms import NormSource\n\n"
    "    return [NormSource('mood norms', Path(__file__).parent / 'norms')]\n"
)


def test_a_malformed_norm_table_is_skipped_and_validate_names_it(tmp_path: Path) -> None:
    definition = MOOD.replace("method: top", "method: sum").replace(
        "id: mood3", "norms: [mood_norms]\nid: mood3"
    )
    files = {"mood/mood3.yaml": definition, "norms/mood.json": '{"id": "mood_norms"}'}
    env = installed(tmp_path, "mood", NORM_PACK, files=files)
    table = tmp_path / "site" / "norms" / "mood.json"
    validate = run_psyq(env, "validate")
    assert validate.returncode == 2
    assert (
        f"FAIL mood norms (plugin 'mood'): {table}: not a psyq norm table: version: Field "
        "required\n"
    ) in validate.stderr
    assert (
        "mood3.yaml: mood3 names norm table 'mood_norms', which no installed plugin provides"
    ) in validate.stderr
    # Another instrument with norms (the example plugin's rses) is still scored.
    rses = run_psyq(env, "score", "rses", "--answers", "1,1,1,1,1,1,1,1,1,1")
    assert rses.returncode == 0, rses.stderr
    assert one_warning_naming(rses.stderr, "mood").startswith(
        "psyq: warning: skipped norm table: mood norms (plugin 'mood'): "
    )


HIDING_CONTEXT = """\
from psyq import hookimpl

@hookimpl
def psyq_report_context(request, context):
    context["critical_flags"] = []
    del context["scales"][1:]  # the PHQ-2 row, with its band of low concern
    context["calm_note"] = "added"
"""


def test_a_context_hook_cannot_take_the_alert_out_of_a_report(tmp_path: Path) -> None:
    env = installed(tmp_path, "calm", HIDING_CONTEXT)
    out = tmp_path / "r.html"
    args = ["report", *PHQ9_ITEM9[1:], "--client", "C-1", "-o", out]
    run = run_psyq(env, *args)
    assert run.returncode == 0, run.stderr
    assert one_warning_naming(run.stderr, "calm") == (
        "psyq: warning: plugin 'calm' (distribution psyq-calm 1.0) changed report context "
        "critical_flags, scales in hook psyq_report_context; psyq put it back, as it carries "
        "the safety alert and the report's caveats (disable it with PSYQ_DISABLE_PLUGINS=calm)"
    )
    html = out.read_text()
    assert 'class="section-safety-alert alert"' in html
    assert "would be better off dead" in html
    assert "Negative screen" in html  # the PHQ-2 row is back


def test_a_broken_loader_is_skipped_once_not_blamed_on_every_file(tmp_path: Path) -> None:
    source = "from psyq import hookimpl\n\n@hookimpl\ndef psyq_load_definition(path, data):\n"
    env = installed(tmp_path, "loader", source + "    return 'oops'\n")
    run = run_psyq({**env, "PSYQ_NO_CACHE": "1"}, "list")
    assert run.returncode == 0
    assert "phq9     Patient Health Questionnaire-9" in run.stdout
    assert run.stderr == (
        "psyq: warning: plugin 'loader' failed and was skipped: psyq_load_definition returned "
        "a str; expected a dict (the definition's data) or None (a file it does not read) (set "
        "PSYQ_DISABLE_PLUGINS=loader to silence, PSYQ_STRICT_PLUGINS=1 to debug)\n"
    )


def test_a_plugins_template_filter_that_raises_is_named(tmp_path: Path) -> None:
    source = (
        CALM_SECTIONS.replace("All is well", "{{ 1 | calm_ratio }}").replace(
            'replaces="safety_alert"', "order=55"
        )
        + "\n@hookimpl\ndef psyq_template_filters():\n    return {'calm_ratio': lambda v: v / 0}\n"
    )
    env = installed(tmp_path, "calm", source)
    run = run_psyq(env, "report", *PHQ9_ITEM9[1:], "--client", "C-1", "-o", tmp_path / "r.html")
    assert run.returncode == 1
    assert run.stderr == (
        "psyq: error: plugin 'calm' (distribution psyq-calm 1.0) raised ZeroDivisionError: "
        "division by zero in hook psyq_template_filters (filter 'calm_ratio'); disable it with "
        "PSYQ_DISABLE_PLUGINS=calm (PSYQ_DEBUG=1 prints the traceback)\n"
    )


# -- 7. one plugin providing a name twice ---------------------------------------------


def test_a_format_listed_twice_by_one_plugin_says_twice(tmp_path: Path) -> None:
    twice = QUIET_FORMAT.replace(
        "return [OutputFormat(",
        "return [OutputFormat(name='brief', suffix='.b2', render=render), OutputFormat(",
    )
    env = installed(tmp_path, "brief", twice)
    run = run_psyq(env, "score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--format", "brief")
    assert run.returncode == 0
    assert run.stderr == (
        "psyq: warning: plugin 'brief' (distribution psyq-brief 1.0) provides output format "
        "'brief' twice; skipped the second (disable it with PSYQ_DISABLE_PLUGINS=brief)\n"
    )


def test_two_files_of_one_pack_with_one_id_say_which_file_to_fix(tmp_path: Path) -> None:
    files = {"mood/a.yaml": MOOD.replace("method: top", "method: sum")}
    files["mood/b.yaml"] = files["mood/a.yaml"]
    env = installed(tmp_path, "mood", PACK_AT.format(folder="mood"), files=files)
    run = run_psyq(env, "list")
    assert run.returncode == 0
    folder = tmp_path / "site" / "mood"
    assert run.stderr == (
        "psyq: warning: instrument 'mood3' is defined twice: plugin 'mood' (distribution "
        f"psyq-mood 1.0) (mood pack, {folder / 'b.yaml'}) is skipped, mood pack "
        f"({folder / 'a.yaml'}) defines it first (remove b.yaml or change its id)\n"
    )


def test_an_answers_wrapper_that_forgets_return_result_is_named(tmp_path: Path) -> None:
    source = (
        "from psyq import hookimpl\n\n@hookimpl(wrapper=True)\n"
        "def psyq_parse_answers(instrument, data):\n    result = yield\n"
    )
    env = installed(tmp_path, "forgets", source)
    answers = tmp_path / "answers.json"
    answers.write_text('{"phq9_1": 1}')
    run = run_psyq(env, "score", "phq9", "--answers-file", answers)
    assert run.returncode == 1
    assert run.stderr == (
        "psyq: error: plugin 'forgets' (distribution psyq-forgets 1.0) returned None from hook "
        "psyq_parse_answers; it must return the result of the hooks it wraps (`return "
        "result`); disable it with PSYQ_DISABLE_PLUGINS=forgets\n"
    )
