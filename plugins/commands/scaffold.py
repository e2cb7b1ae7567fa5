"""``psyq new-plugin NAME``: scaffold a plugin package whose test passes out of the box.

The package has a ``pyproject.toml`` with an entry point in the ``psyq``
group, a plugin module registering an instrument directory and a report
section, one instrument definition with golden examples, and a test suite
using the :mod:`psyq.testing` fixtures. Files are written from the string
templates below (``string.Template``, so nothing heavy is imported).
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from psyq import __version__
from psyq.app import App
from psyq.errors import PsyqError
from psyq.hookspecs import hookimpl

PYPROJECT = """\
[build-system]
requires = ["setuptools>=69", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "A psyq plugin: the $title instrument and a report section."
readme = "README.md"
requires-python = ">=3.11"
# Hook signatures only ever gain arguments: require the oldest psyq you support.
dependencies = ["psyq>=$psyq_version"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The `psyq` entry-point group is how psyq finds installed plugins.
[project.entry-points.psyq]
$slug = "$package.plugin"

[tool.setuptools]
# instruments/ holds only data files; listing it as a package installs them.
packages = ["$package", "$package.instruments"]

[tool.setuptools.package-data]
$package = ["py.typed"]
"$package.instruments" = ["*.yaml"]

[tool.pytest.ini_options]
testpaths = ["tests"]
# Lets `pytest` run before the package is installed.
pythonpath = ["."]

[tool.ruff]
line-length = 100

[tool.mypy]
strict = true
"""

README = """\
# $dist

A psyq plugin adding the `$slug` instrument ($title) and a report section.

```sh
pip install -e '.[test]'  # registers the `psyq` entry point; pytest
psyq plugins              # $slug 0.1.0 ($dist)  [entry point], and what it provides
psyq list                 # ... $slug  $title (v0.1)  [provisional]
psyq validate             # checks $package/instruments/$slug.yaml with the built-ins
psyq report $slug --answers 1,1,1,1 --client C-1 -o report.pdf   # with your section
pytest                    # golden examples, the CLI and the report section
```

mypy (strict, configured in pyproject.toml) needs to see psyq's own type hints. psyq
ships `py.typed`, so a normal install works; if you install psyq itself in editable
mode, use strict mode, or mypy cannot follow the import hook of a plain editable
install and reports `psyq` as untyped:

```sh
pip install -e path/to/psyq --config-settings editable_mode=strict
mypy $package tests
```

Scope a hook to your instrument with `@for_instruments("$slug")` (see `plugin.py`);
psyq then never calls it for other instruments.

Next steps: replace the placeholder items in `$package/instruments/$slug.yaml` with
your instrument's (see docs/instruments.md in psyq), give it golden examples from its
manual, and read docs/plugins.md for every hook you can implement.
"""

INIT = '''\
"""$dist: a psyq plugin. The hooks are in :mod:`$package.plugin`."""

__version__ = "0.1.0"
'''

PLUGIN = '''\
"""Hook implementations of $dist (the module its `psyq` entry point names)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from psyq import for_instruments, hookimpl
from psyq.outputs import RenderRequest
from psyq.registry import InstrumentSource

if TYPE_CHECKING:
    from psyq.report import ReportSection

INSTRUMENTS = Path(__file__).parent / "instruments"

SUMMARY_SECTION = """\\
{% set summary = ${slug}_summary %}
{% if summary %}
<section class="${slug}-summary">
  <h2>$title: summary</h2>
  <p>Total {{ summary.total }} of {{ summary.maximum }} ({{ summary.band }}).</p>
</section>
{% endif %}
"""


@hookimpl
def psyq_instrument_sources() -> list[InstrumentSource]:
    """Every *.yaml file in instruments/ is an instrument definition."""
    return [InstrumentSource("$dist", INSTRUMENTS)]


@hookimpl
def psyq_report_sections() -> list[ReportSection]:
    """A section shown on reports of the $slug instrument only."""
    # Imported here, not at the top: psyq's report machinery then loads only when a
    # report is rendered, and `psyq list` stays fast with this plugin installed.
    from psyq import report

    return [
        report.ReportSection(
            name="${slug}_summary",
            template=SUMMARY_SECTION,
            order=55,  # below the built-in band charts (50), above the profile (60)
            instruments=("$slug",),
        )
    ]


@hookimpl
@for_instruments("$slug")  # reports of other instruments never call it
def psyq_report_context(request: RenderRequest, context: dict[str, Any]) -> None:
    """Put what the section shows into the template context, under this plugin's name."""
    summary = None
    total = request.result.scores.get("total")
    if total is not None and total.value is not None:
        summary = {
            "total": total.value,
            "maximum": request.instrument.bounds("total")[1],
            "band": total.band_label or "no band",
        }
    context["${slug}_summary"] = summary
'''

INSTRUMENT = """\
# $title: a PLACEHOLDER definition generated by `psyq new-plugin`. Replace the items,
# answers, bands and golden examples with your instrument's; `psyq validate FILE`
# checks the file and `psyq schema` prints the format (see docs/instruments.md).
schema_version: 1
id: $slug
version: "0.1"
title: $title
short_name: $short
# provisional: no norms or validation yet; psyq shows a caveat on every output.
status: provisional
description: >-
  Four placeholder items rated 0-3; item 4 is reverse-keyed; the total is their sum
  (0-12, higher is worse).
citations:
  - text: Your citation here.
licence: >-
  State the licence of your instrument's text and scoring here; it is shown on every
  report.
instructions: How often have the following applied to you over the last two weeks?
response_scales:
  frequency:
    options:
      - {value: 0, label: Not at all}
      - {value: 1, label: Sometimes}
      - {value: 2, label: Often}
      - {value: 3, label: Nearly always}
items:
  - {id: ${slug}_1, text: First placeholder statement., response_scale: frequency}
  - {id: ${slug}_2, text: Second placeholder statement., response_scale: frequency}
  - {id: ${slug}_3, text: Third placeholder statement., response_scale: frequency}
  - id: ${slug}_4
    text: A positively worded placeholder statement.
    response_scale: frequency
    reverse: true  # scored 3 - answer
scales:
  - id: total
    label: Total
    items: [${slug}_1, ${slug}_2, ${slug}_3, ${slug}_4]
    method: sum
    # One missing item is prorated (sum x 4 / 3, rounded half up).
    missing:
      max_missing: 1
      prorate: true
      # Every number has a source: the manual or paper, or your own convention.
      source: "Our own convention: one missing item is prorated (sum x 4 / 3)."
    # Bands must tile the whole range 0-12 with no gap or overlap.
    bands_source: "Placeholder bands, our own convention: replace with the manual's."
    bands:
      - {id: low, label: Low, min: 0, max: 4, severity: 0}
      - {id: moderate, label: Moderate, min: 5, max: 8, severity: 1}
      - {id: high, label: High, min: 9, max: 12, severity: 2}
flags:
  - id: item1_nearly_always
    level: warning
    message: Item 1 answered "Nearly always"; follow it up.
    when: {item: ${slug}_1, op: ">=", value: 3}  # tests the answer as given
# Golden examples, computed by hand: items 1-3 score the answer, item 4 scores 3 - answer.
examples:
  - name: lowest (0, 0, 0, reversed 3 -> 0)
    answers: {${slug}_1: 0, ${slug}_2: 0, ${slug}_3: 0, ${slug}_4: 3}
    expect: {scores: {total: 0}, bands: {total: low}, flags: []}
  - name: all answers 1 -> 1 + 1 + 1 + 2 = 5
    answers: {${slug}_1: 1, ${slug}_2: 1, ${slug}_3: 1, ${slug}_4: 1}
    expect: {scores: {total: 5}, bands: {total: moderate}, flags: []}
  - name: highest (3, 3, 3, reversed 0 -> 3) raises the flag
    answers: {${slug}_1: 3, ${slug}_2: 3, ${slug}_3: 3, ${slug}_4: 0}
    expect: {scores: {total: 12}, bands: {total: high}, flags: [item1_nearly_always]}
  - name: item 3 missing, 2 + 2 + 1 = 5 over 3 answered -> 6.67 -> 7
    answers: {${slug}_1: 2, ${slug}_2: 2, ${slug}_3: null, ${slug}_4: 2}
    expect: {scores: {total: 7}, bands: {total: moderate}, flags: []}
  - name: two missing -> not scored
    answers: {${slug}_1: 2, ${slug}_2: null, ${slug}_3: null, ${slug}_4: 2}
    expect: {scores: {total: null}, bands: {total: null}, flags: []}
"""

TEST = '''\
"""Tests for $dist, using the fixtures psyq ships in psyq.testing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from psyq.manager import PsyqPluginManager
from psyq.testing import assert_golden_examples

from $package import plugin

CLI = Callable[..., Result]


@pytest.fixture
def pm(psyq_pm: PsyqPluginManager, psyq_register: Callable[..., Any]) -> PsyqPluginManager:
    """psyq's built-ins plus this plugin (installed plugins are never loaded here)."""
    psyq_register(plugin)
    return psyq_pm


def test_golden_examples(pm: PsyqPluginManager) -> None:
    assert_golden_examples(pm, "$slug")


def test_cli(pm: PsyqPluginManager, psyq_cli: CLI) -> None:
    assert "$slug" in psyq_cli("list").stdout
    result = psyq_cli("score", "$slug", "--answers", "1,1,1,1", "--json")
    assert result.exit_code == 0, result.output
    # .stdout only: .output also holds stderr, where warnings go.
    assert json.loads(result.stdout)["scores"]["total"]["value"] == 5


def test_report_section(pm: PsyqPluginManager, psyq_cli: CLI, tmp_path: Path) -> None:
    """The section appears in a real report (the PDF is rendered from the same HTML)."""
    out = tmp_path / "report.html"
    result = psyq_cli("report", "$slug", "--answers", "1,1,1,1", "--client", "C-1", "-o", out)
    assert result.exit_code == 0, result.output
    assert "Total 5 of 12 (Moderate)." in out.read_text(encoding="utf-8")
'''


def _files(slug: str) -> dict[str, str]:
    package = f"psyq_{slug}"
    values = {
        "slug": slug,
        "package": package,
        "dist": "psyq-" + slug.replace("_", "-"),
        "title": _title(slug),
        "short": slug.upper().replace("_", "-")[:12],
        "psyq_version": __version__,
    }
    templates = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{package}/__init__.py": INIT,
        f"{package}/py.typed": "",
        f"{package}/plugin.py": PLUGIN,
        f"{package}/instruments/{slug}.yaml": INSTRUMENT,
        f"tests/test_{slug}.py": TEST,
    }
    from string import Template  # here, not at import: every command loads this plugin

    return {path: Template(text).substitute(values) for path, text in templates.items()}


def _title(slug: str) -> str:
    words = slug.replace("_", " ").title()
    return words if slug.endswith("scale") else f"{words} Scale"


def plugin_slug(name: str) -> str:
    """``my-scale`` -> ``my_scale``; a :class:`PsyqError` for anything unusable."""
    slug = name.strip().lower().replace("-", "_")
    if slug.startswith("psyq_"):
        slug = slug[len("psyq_") :]
    if not re.match(r"^[a-z][a-z0-9_]{0,39}$", slug):
        raise PsyqError(
            f"plugin name '{name}' is not usable: use a letter followed by up to 39 letters, "
            "digits, '-' or '_' (e.g. my-scale)"
        )
    return slug


def check_name_is_free(app: App, slug: str) -> None:
    """Refuse an instrument id or plugin name already taken (the new tests would fail)."""
    entry = next((e for e in app.registry.all() if e.id == slug), None)
    if entry is not None:
        raise PsyqError(
            f"instrument id '{slug}' is taken: {entry.source} already provides "
            f"'{entry.instrument.title}'; choose another NAME (e.g. {slug}_local)"
        )
    if slug in app.pm.infos:
        raise PsyqError(
            f"plugin name '{slug}' is taken by an installed plugin (see `psyq plugins --all`); "
            "choose another NAME"
        )


def scaffold(name: str, parent: Path) -> Path:
    """Write a new plugin package ``psyq-NAME`` under ``parent``; return its directory."""
    slug = plugin_slug(name)
    target = parent / ("psyq-" + slug.replace("_", "-"))
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise PsyqError(f"{target} already exists and is not empty; choose another NAME or --dir")
    files = _files(slug)
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory to create the package in.",
)
@click.pass_obj
def new_plugin_command(app: App, name: str, parent: Path) -> None:
    """Scaffold a plugin package NAME: an instrument, a report section and a passing test.

    NAME becomes the instrument id and the entry-point name, so it must not be
    one that psyq or an installed plugin already uses.
    """
    check_name_is_free(app, plugin_slug(name))
    try:
        target = scaffold(name, parent)
    except OSError as exc:
        raise PsyqError(f"cannot write the plugin under {parent}: {exc.strerror or exc}") from None
    click.echo(f"created {target}/")
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        click.echo(f"  {path.relative_to(target)}")
    slug = plugin_slug(name)
    click.echo(
        f"\nNext:\n  cd {target}\n"
        "  pip install -e '.[test]'   # registers the `psyq` entry point, installs pytest\n"
        "  pytest                     # passes out of the box\n"
        f"  psyq list; psyq plugins; psyq report {slug} --client C-1 -o report.pdf --answers ..."
    )


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [new_plugin_command]
