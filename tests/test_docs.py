"""The docs cannot rot: every hook documented and tested, examples copied from tested code,
and the instrument format reference matching the JSON Schema.

docs/plugins.md: each hookspec in psyq.hookspecs has a ``### `name` `` section whose
signature, *first result wins* and *since* match the spec; each section carries an
example that is either copied verbatim from a ``--8<--`` region of tested code
(``<!-- include: path#region -->``) or run here (``<!-- test: run -->``); and each hook
is named by some test outside this file.

docs/instruments.md: one ``### `Model` `` table per model of the JSON Schema, with
exactly the schema's fields, types, required marks and defaults.

After editing a ``--8<--`` region, refresh the copies with
``python -c "import tests.test_docs as d; d.sync_includes()"``.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from psyq import hookspecs
from psyq.manager import create_plugin_manager
from psyq.models import Instrument
from psyq.plugins import data_files
from psyq.registry import MAX_DEFINITION_BYTES

ROOT = Path(__file__).resolve().parents[1]
PLUGINS_MD = ROOT / "docs" / "plugins.md"
INSTRUMENTS_MD = ROOT / "docs" / "instruments.md"
EXAMPLE_PLUGIN = ROOT / "examples" / "psyq-example-plugin"
TEST_TREES = (ROOT / "tests", EXAMPLE_PLUGIN / "tests")

INCLUDE = re.compile(r"<!-- include: (\S+)#(\S+) -->\n```python\n(.*?)```\n", re.DOTALL)
RUN = re.compile(r"<!-- test: run -->\n```python\n(.*?)```\n", re.DOTALL)
HOOK_HEADING = re.compile(r"^### `(psyq_\w+)`$", re.MULTILINE)


# -- helpers -----------------------------------------------------------------


def hook_specs() -> dict[str, Any]:
    """Every hookspec function of psyq, by name (introspected, not listed by hand)."""
    marker = f"{hookspecs.PROJECT}_spec"
    return {
        name: func
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(func, marker)
    }


def region(path: Path, name: str) -> str:
    """The text between ``# --8<-- [start:name]`` and ``# --8<-- [end:name]``."""
    text = path.read_text(encoding="utf-8")
    match = re.search(
        rf"^# --8<-- \[start:{re.escape(name)}\]\n(.*?)^# --8<-- \[end:{re.escape(name)}\]",
        text,
        re.DOTALL | re.MULTILINE,
    )
    assert match, f"{path.relative_to(ROOT)} has no --8<-- region '{name}'"
    return match.group(1).strip("\n") + "\n"


def sync_includes(path: Path = PLUGINS_MD) -> None:
    """Rewrite every include block of ``path`` from its source region."""

    def fill(match: re.Match[str]) -> str:
        source, name = match.group(1), match.group(2)
        body = region(ROOT / source, name)
        return f"<!-- include: {source}#{name} -->\n```python\n{body}```\n"

    path.write_text(INCLUDE.sub(fill, path.read_text(encoding="utf-8")), encoding="utf-8")


def sections(text: str) -> dict[str, str]:
    """``### `psyq_x` `` sections of plugins.md: name -> text up to the next heading."""
    out: dict[str, str] = {}
    for match in HOOK_HEADING.finditer(text):
        rest = text[match.end() :]
        end = re.search(r"^#{1,3} ", rest, re.MULTILINE)
        name = match.group(1)
        assert name not in out, f"docs/plugins.md documents {name} twice"
        out[name] = rest[: end.start()] if end else rest
    return out


def expected_signature(name: str, func: Any) -> str:
    sig = inspect.signature(func)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}: ..."


def row(section: str, label: str) -> str:
    match = re.search(rf"^\| \*\*{label}\*\* \| (.+) \|$", section, re.MULTILINE)
    assert match, f"no '{label}' row"
    return match.group(1).strip()


# -- plugins.md ---------------------------------------------------------------

PLUGINS_TEXT = PLUGINS_MD.read_text(encoding="utf-8")
SPECS = hook_specs()


def test_hookspecs_are_found() -> None:
    # Guards the introspection itself: these exist since 0.1.
    assert {"psyq_instrument_sources", "psyq_score_flags", "psyq_report_sections"} <= set(SPECS)


def test_every_documented_hook_exists() -> None:
    stale = set(sections(PLUGINS_TEXT)) - set(SPECS)
    assert not stale, f"docs/plugins.md documents hooks that do not exist: {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_is_documented(name: str) -> None:
    func = SPECS[name]
    found = sections(PLUGINS_TEXT)
    assert name in found, f"docs/plugins.md has no '### `{name}`' section"
    section = found[name]
    block = re.search(r"```python\n(.*?)\n```", section, re.DOTALL)
    assert block, f"{name}: no signature block"
    assert block.group(1) == expected_signature(name, func), f"{name}: signature differs"
    firstresult = bool(func.psyq_spec["firstresult"])
    answer = row(section, "First result wins")
    assert answer.startswith("yes" if firstresult else "no"), f"{name}: first result wins?"
    since = re.search(r"since:\s*([0-9.]+)", func.__doc__ or "")
    assert since, f"{name}: the hookspec docstring gives no 'since:'"
    assert row(section, "Since") == since.group(1), f"{name}: since differs"
    assert len(row(section, "Called")) > 10, f"{name}: say when it is called"
    examples = INCLUDE.findall(section) + RUN.findall(section)
    assert examples, f"{name}: needs a tested example (include or run block)"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_has_a_test(name: str) -> None:
    # The hook name as a word, or inside a test name (test_psyq_score_recode_audit).
    pattern = re.compile(rf"(?<![a-z0-9]){name}(?![a-z0-9])")
    for tree in TEST_TREES:
        for path in tree.rglob("test_*.py"):
            if path.name != "test_docs.py" and pattern.search(path.read_text(encoding="utf-8")):
                return
    pytest.fail(f"no test names hook {name} (tests/ or {EXAMPLE_PLUGIN.name}/tests/)")


@pytest.mark.parametrize(
    ("source", "name", "body"),
    INCLUDE.findall(PLUGINS_TEXT),
    ids=[f"{s.rsplit('/', 1)[-1]}#{n}" for s, n, _ in INCLUDE.findall(PLUGINS_TEXT)],
)
def test_included_example_matches_tested_code(source: str, name: str, body: str) -> None:
    path = ROOT / source
    # Only code whose tests run in `make test` may be shown as an example.
    assert path.is_relative_to(EXAMPLE_PLUGIN), f"{source} is not in the tested example plugin"
    assert body == region(path, name), (
        f"docs/plugins.md copy of {source}#{name} is stale; run "
        'python -c "import tests.test_docs as d; d.sync_includes()"'
    )


@pytest.mark.parametrize("code", RUN.findall(PLUGINS_TEXT))
def test_run_blocks_run(code: str) -> None:
    exec(compile(code, str(PLUGINS_MD), "exec"), {"__name__": "docs_example"})


def test_every_default_plugin_hook_is_a_documented_spec() -> None:
    pm = create_plugin_manager(load_entrypoints=False, strict=True)
    used = {name for info in pm.plugin_infos() for name in info.hooks}
    assert used <= set(sections(PLUGINS_TEXT))


# -- instruments.md -------------------------------------------------------------

IDENT = r"^[a-z][a-z0-9_]{0,63}$"


def type_of(prop: dict[str, Any]) -> str:
    """A short, readable type for one JSON Schema property."""
    if not prop:
        return "any value"
    if "$ref" in prop:
        return "`" + prop["$ref"].rsplit("/", 1)[-1] + "`"
    if "anyOf" in prop:
        return " or ".join(type_of(p) for p in prop["anyOf"])
    if "const" in prop:
        return json.dumps(prop["const"])
    if "enum" in prop:
        return " or ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        return f"list of {type_of(prop['items'])}"
    if kind == "object":
        pattern = prop.get("patternProperties")
        if pattern:
            ((key, value),) = pattern.items()
            return f"map of {'id' if key == IDENT else 'string'} to {type_of(value)}"
        return f"map of answer to {type_of(prop['additionalProperties'])}"
    if kind == "string":
        if prop.get("pattern") == IDENT:
            return "id"
        return "text" if "maxLength" in prop else "string"
    return str(kind)


def expected_rows(model: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """field -> (type, required, default) as the docs table must show them."""
    required = set(model.get("required", []))
    rows = {}
    for field, prop in model["properties"].items():
        default = "" if "default" not in prop else f"`{json.dumps(prop['default'])}`"
        rows[field] = (type_of(prop), "yes" if field in required else "", default)
    return rows


def documented_tables(text: str) -> dict[str, dict[str, tuple[str, str, str, str]]]:
    """``### `Model` `` tables: model -> field -> (type, required, default, meaning)."""
    out: dict[str, dict[str, tuple[str, str, str, str]]] = {}
    for match in re.finditer(r"^### `(\w+)`\n(.*?)(?=^#{1,3} |\Z)", text, re.DOTALL | re.M):
        rows: dict[str, tuple[str, str, str, str]] = {}
        for line in match.group(2).splitlines():
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(cells) == 5 and cells[0].startswith("`"):
                field = cells[0].strip("`")
                assert field not in rows, f"{match.group(1)}.{field} documented twice"
                rows[field] = (cells[1], cells[2], cells[3], cells[4])
        out[match.group(1)] = rows
    return out


SCHEMA = Instrument.model_json_schema()
MODELS = {"Instrument": SCHEMA, **SCHEMA["$defs"]}
INSTRUMENTS_TEXT = INSTRUMENTS_MD.read_text(encoding="utf-8")


@pytest.mark.parametrize("model", sorted(MODELS))
def test_instrument_model_documented_as_in_schema(model: str) -> None:
    tables = documented_tables(INSTRUMENTS_TEXT)
    assert model in tables, f"docs/instruments.md has no '### `{model}`' table"
    documented = tables[model]
    expected = expected_rows(MODELS[model])
    assert set(documented) == set(expected), f"{model}: fields differ from the JSON Schema"
    for field, (kind, required, default) in expected.items():
        got = documented[field]
        assert got[:3] == (kind, required, default), f"{model}.{field}: {got[:3]} != schema"
        assert got[3], f"{model}.{field}: say what it means"


def test_no_documented_model_is_stale() -> None:
    assert set(documented_tables(INSTRUMENTS_TEXT)) == set(MODELS)


def test_safety_caps_are_the_real_ones() -> None:
    for value in (
        MAX_DEFINITION_BYTES,
        data_files.MAX_DEPTH,
        data_files.MAX_ALIASES,
        data_files.MAX_NODES,
    ):
        assert f"{value:,}" in INSTRUMENTS_TEXT or str(value) in INSTRUMENTS_TEXT, value


def test_topics_explained() -> None:
    for heading in (
        "## Missing data",
        "## Bands",
        "## Flags",
        "## Reliable change",
        "## Golden examples",
        "## Safety caps",
    ):
        assert re.search(rf"^{re.escape(heading)}", INSTRUMENTS_TEXT, re.M), heading


@pytest.mark.parametrize(
    "code", re.findall(r"<!-- test: valid -->\n```yaml\n(.*?)```\n", INSTRUMENTS_TEXT, re.DOTALL)
)
def test_instrument_examples_in_the_docs_are_valid(code: str, tmp_path: Path) -> None:
    from psyq.registry import load_instrument_file
    from psyq.testing import assert_golden_examples

    path = tmp_path / "example.yaml"
    path.write_text(code, encoding="utf-8")
    pm = create_plugin_manager(load_entrypoints=False, strict=True)
    assert_golden_examples(pm, load_instrument_file(pm, path))
