"""The docs cannot rot: every hook documented and tested, examples copied from tested code,
and the instrument format reference matching the JSON Schema.

docs/plugins.md: each hookspec in psyq.hookspecs has a ``### `name` `` section whose
signature, *first result wins* and *since* match the spec; each section carries an
example that is either copied verbatim from a ``--8<--`` region of tested code
(``<!-- include: path#region -->``) or run here (``<!-- test: run -->``); and each hook
is implemented or called (not merely mentioned) by some test outside this file. Its
"objects plugins touch" tables list exactly the fields, members and types of the classes,
the context keys a section template receives, and CSS classes that exist.

docs/instruments.md: one ``### `Model` `` table per model of the JSON Schema, with
exactly the schema's fields, types, required marks and defaults; the safety caps and
model limits it states are the numbers in the code.

After editing a ``--8<--`` region, refresh the copies with
``python -c "import tests.test_docs as d; d.sync_includes()"``.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import typing
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


def _is_hookimpl(node: ast.expr) -> bool:
    """``@hookimpl``, ``@hookimpl(...)``, ``@psyq.hookimpl`` (or a call of one)."""
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Name) and target.id == "hookimpl") or (
        isinstance(target, ast.Attribute) and target.attr == "hookimpl"
    )


_COLLECTORS = {"collect", "collect_named", "collect_owned"}


def hook_uses(source: str) -> set[str]:
    """Hook names that ``source`` implements or calls, found in its syntax tree.

    An implementation: a function decorated with ``hookimpl`` named after the hook,
    ``name=hookimpl(...)`` (a plugin built from keywords), or plugin source code held
    in a string (installed in a subprocess test) with such a function. A call:
    ``<pm>.hook.NAME(...)`` or ``<pm>.collect*("NAME", ...)``. A mention in a
    comment, a docstring or a test's name is neither.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and any(map(_is_hookimpl, node.decorator_list)):
            found.add(node.name)
        elif isinstance(node, ast.keyword) and node.arg and _is_hookimpl(node.value):
            found.add(node.arg)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if isinstance(func.value, ast.Attribute) and func.value.attr == "hook":
                found.add(func.attr)
            elif func.attr in _COLLECTORS and node.args and isinstance(node.args[0], ast.Constant):
                found.add(str(node.args[0].value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(
                re.findall(r"@hookimpl[^\n]*\n(?:\s*@[^\n]*\n)*\s*def (psyq_\w+)\(", node.value)
            )
    return found


def _implementations_under_test() -> set[str]:
    """Hooks implemented or called by the tests, and by the example plugin they test."""
    found: set[str] = set()
    sources = [
        p for tree in TEST_TREES for p in tree.rglob("test_*.py") if p.name != "test_docs.py"
    ]
    sources += list((EXAMPLE_PLUGIN / "psyq_example").glob("*.py"))
    for path in sources:
        found |= hook_uses(path.read_text(encoding="utf-8"))
    return found


USED_BY_TESTS = _implementations_under_test()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_has_a_test(name: str) -> None:
    assert name in USED_BY_TESTS, (
        f"no test implements or calls hook {name} (tests/, {EXAMPLE_PLUGIN.name}/tests/ "
        "or the example plugin it tests); a mention in a comment does not count"
    )


def test_hook_uses_ignores_mentions() -> None:
    source = (
        "# psyq_score_flags is great\n"
        "def test_psyq_score_reverse():\n"
        '    """psyq_score_missing"""\n'
        "    assert 'psyq_score_recode' in text\n"
        "@hookimpl(wrapper=True)\n"
        "def psyq_score_transform(state):\n"
        "    return (yield)\n"
        "pm.hook.psyq_score_interpret(state=s)\n"
        "pm.collect_named('psyq_scoring_methods', 'method')\n"
        "SimpleNamespace(psyq_report_sections=hookimpl(lambda: []))\n"
        "SOURCE = 'from psyq import hookimpl\\n@hookimpl\\ndef psyq_score_aggregate(state): ...'\n"
    )
    assert hook_uses(source) == {
        "psyq_score_transform",
        "psyq_score_interpret",
        "psyq_scoring_methods",
        "psyq_report_sections",
        "psyq_score_aggregate",
    }


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


def _caps_table() -> dict[str, str]:
    """The ``## Safety caps`` table of instruments.md: cap -> limit cell."""
    section = INSTRUMENTS_TEXT[INSTRUMENTS_TEXT.index("## Safety caps") :]
    section = section[: section.index("\n## ", 1)]
    rows = re.findall(r"^\| (.+?) \| (.+?) \|$", section, re.M)
    return {cap: limit for cap, limit in rows if cap not in ("cap", "---")}


def _number(text: str) -> int:
    match = re.match(r"([0-9][0-9,]*)", text)
    assert match, f"no number at the start of {text!r}"
    return int(match.group(1).replace(",", ""))


def test_safety_caps_are_the_real_ones() -> None:
    caps = _caps_table()
    expected = {
        "file size": MAX_DEFINITION_BYTES,
        "nesting depth": data_files.MAX_DEPTH,
        "aliases (`*ref`)": data_files.MAX_ALIASES,
        "values after alias expansion": data_files.MAX_NODES,
    }
    for cap, value in expected.items():
        assert cap in caps, f"docs/instruments.md safety caps: no '{cap}' row"
        assert _number(caps[cap]) == value, f"{cap}: documented {caps[cap]!r}, code says {value}"
    assert caps["duplicate keys in a mapping"] == "refused"


def test_model_limits_are_the_real_ones() -> None:
    sentence = re.search(r"The model adds its own limits: (.*?)\.\n", INSTRUMENTS_TEXT, re.S)
    assert sentence, "docs/instruments.md: no 'The model adds its own limits' sentence"
    text = " ".join(sentence.group(1).split())
    props, defs = SCHEMA["properties"], SCHEMA["$defs"]
    expected = {
        "items": props["items"]["maxItems"],
        "scales": props["scales"]["maxItems"],
        "response scales": props["response_scales"]["maxProperties"],
        "options": defs["ResponseScale"]["properties"]["options"]["maxItems"],
        "bands per scale": defs["Scale"]["properties"]["bands"]["maxItems"],
        "flags": props["flags"]["maxItems"],
        "golden examples": props["examples"]["maxItems"],
    }
    for what, value in expected.items():
        match = re.search(rf"([0-9][0-9,]*) {what}\b", text)
        assert match, f"the model limits do not give a number of {what}"
        assert _number(match.group(1)) == value, f"{what}: documented {match.group(1)}, is {value}"


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


# -- the objects plugins touch (docs/plugins.md) -----------------------------------

OBJECTS = PLUGINS_TEXT[PLUGINS_TEXT.index("## The objects plugins touch") :]


def object_tables() -> dict[str, dict[str, tuple[str, str]]]:
    """``#### `Name` `` / ``#### Title`` tables: heading -> first cell -> (type, meaning)."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for match in re.finditer(r"^#### (.+?)\n(.*?)(?=^#{2,4} |\Z)", OBJECTS, re.DOTALL | re.M):
        rows: dict[str, tuple[str, str]] = {}
        for line in match.group(2).splitlines():
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if cells and cells[0].startswith("`"):
                key = cells[0].strip("`")
                assert key not in rows, f"{match.group(1)}: {key} documented twice"
                rows[key] = (cells[1].strip("`") if len(cells) > 2 else "", cells[-1])
        out[match.group(1).strip("`")] = rows
    return out


TABLES = object_tables()


def written(annotation: object) -> str:
    """An annotation as the source writes it, kept as text (postponed evaluation) or not.

    psyq.models and psyq.results evaluate theirs as their classes are made (it makes
    start-up faster): ``<class 'int'>`` reads ``int``, ``psyq.results.FlagHit`` and
    ``typing.Any`` read ``FlagHit`` and ``Any``, as the text would.
    """
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return re.sub(r"\b(?:typing|psyq(?:\.\w+)+)\.(?=\w)", "", str(annotation))


def data_fields(cls: type) -> dict[str, str]:
    """Field -> annotation as written in the source (dataclass or pydantic model)."""
    import dataclasses

    if dataclasses.is_dataclass(cls):
        return {f.name: written(f.type) for f in dataclasses.fields(cls)}
    return {name: written(inspect.get_annotations(cls)[name]) for name in cls.model_fields}  # type: ignore[attr-defined]


def public_members(cls: type) -> dict[str, str]:
    """``name(args)`` (or ``name`` for a property) -> return annotation, defined on ``cls``."""
    out: dict[str, str] = {}
    for name, value in vars(cls).items():
        if name.startswith("_") or name.startswith("model_"):
            continue
        if isinstance(value, property):
            out[name] = written(inspect.get_annotations(value.fget)["return"])  # type: ignore[arg-type]
        elif inspect.isfunction(value):
            args = [p for p in inspect.signature(value).parameters if p != "self"]
            out[f"{name}({', '.join(args)})"] = written(inspect.get_annotations(value)["return"])
    return out


def _object_classes() -> dict[str, tuple[type, bool, bool]]:
    """Documented name -> (class, its data fields are listed, its members are listed)."""
    from psyq import models, outputs, report, results

    return {
        "ScoreResult": (results.ScoreResult, True, True),
        "ScaleScore": (results.ScaleScore, True, True),
        "FlagHit": (results.FlagHit, True, True),
        "InstrumentRef": (results.InstrumentRef, True, True),
        "Instrument": (models.Instrument, False, True),
        "Scale": (models.Scale, False, True),
        "ResponseScale": (models.ResponseScale, False, True),
        "Band": (models.Band, False, True),
        "RenderRequest": (outputs.RenderRequest, True, True),
        "PastScore": (outputs.PastScore, True, True),
        "ScaleRow": (report.ScaleRow, True, True),
        "ItemRow": (report.ItemRow, True, True),
        "FlagRow": (report.FlagRow, True, True),
    }


@pytest.mark.parametrize("name", sorted(_object_classes()))
def test_object_documented_as_in_code(name: str) -> None:
    cls, with_fields, with_members = _object_classes()[name]
    assert name in TABLES, f"docs/plugins.md has no '#### `{name}`' table"
    expected: dict[str, str] = {}
    if with_fields:
        expected.update(data_fields(cls))
    if with_members:
        expected.update(public_members(cls))
    documented = TABLES[name]
    assert set(documented) == set(expected), f"{name}: documented names differ from the code"
    for key, annotation in expected.items():
        kind, meaning = documented[key]
        assert kind == annotation, f"{name}.{key}: documented type {kind!r} != {annotation!r}"
        assert meaning, f"{name}.{key}: say what it means"


def test_section_context_keys_are_the_real_ones() -> None:
    from psyq.outputs import RenderRequest
    from psyq.registry import InstrumentRegistry
    from psyq.report import build_context
    from psyq.scoring import Scorer

    pm = create_plugin_manager(load_entrypoints=False, strict=True)
    phq9 = InstrumentRegistry(pm).get("phq9")
    result = Scorer(pm).score(phq9, {f"phq9_{i}": 1 for i in range(1, 10)})
    context = build_context(RenderRequest(result=result, instrument=phq9))
    assert set(TABLES["Context keys"]) == set(context)
    for key, value in context.items():
        kind = TABLES["Context keys"][key][0]
        if value is not None:  # the documented type names the value's class
            assert type(value).__name__ in kind, f"{key}: {type(value).__name__} not in {kind}"


def test_documented_css_classes_exist_in_the_stylesheet() -> None:
    css = (ROOT / "templates" / "report.css").read_text(encoding="utf-8")
    classes = TABLES["CSS classes"]
    assert len(classes) >= 5
    for name in classes:
        assert re.search(rf"{re.escape(name)}(?![\w-])", css), f"{name} is not in report.css"
