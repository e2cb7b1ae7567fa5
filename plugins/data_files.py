"""Read data files safely: YAML (safe loading only) and JSON.

Used for instrument definitions and answer files. A data file comes from
someone else. Nothing in it may run code,
read files or reach the network, and no file may exhaust memory:

* only PyYAML's safe loader is used, so ``!!python/object`` and every other
  non-standard tag is refused;
* the event stream is checked before anything is built: nesting depth,
  number of aliases and number of nodes are capped;
* the built data is walked with a node budget, which catches "billion
  laughs" alias bombs whose expansion would be huge;
* bytes that are not UTF-8 text (binary junk, NUL bytes) are refused;
* duplicate keys in a mapping are an error, not a silent overwrite.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psyq import strict_json
from psyq.errors import DefinitionError
from psyq.hookspecs import hookimpl

if TYPE_CHECKING:
    import yaml

MAX_DEPTH = 32
MAX_ALIASES = 100
MAX_NODES = 100_000


class LinedDict(dict[Any, Any]):
    """A mapping that remembers the line of each key, for error messages."""

    lines: dict[Any, int]


class LinedList(list[Any]):
    """A sequence that remembers the line of each element."""

    lines: dict[int, int]


_PLAIN_INT = re.compile(r"[-+]?[0-9]+")
_PLAIN_FLOAT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


def _base_loader() -> type[yaml.SafeLoader]:
    import yaml

    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return base


@cache
def _definition_loader() -> type[yaml.SafeLoader]:
    """The line-tracking safe loader, built on first use: PyYAML loads with the first file."""
    import yaml

    class DefinitionLoader(_base_loader()):  # type: ignore[misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LinedDict:
            out = LinedDict()
            out.lines = {}
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    hash(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        None, None, "a mapping key must be a plain value", key_node.start_mark
                    ) from None
                if key in out:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}'", key_node.start_mark
                    )
                out[key] = self.construct_object(value_node, deep=deep)
                out.lines[key] = key_node.start_mark.line + 1
            return out

        def construct_lined_sequence(self, node: yaml.SequenceNode) -> LinedList:
            out = LinedList(self.construct_object(child, deep=True) for child in node.value)
            out.lines = {i: child.start_mark.line + 1 for i, child in enumerate(node.value)}
            return out

    def construct_map(loader: DefinitionLoader, node: yaml.MappingNode) -> LinedDict:
        return loader.construct_mapping(node, deep=True)

    def construct_number(loader: DefinitionLoader, node: yaml.ScalarNode) -> int | float:
        # YAML 1.1 reads 0x3, 0b11, 0_3 and 03 as 3 and 1:30 as 90 (base 60): a typo
        # scored or used as a cut-off as a number nobody wrote. Plain digits only.
        text = str(node.value)
        if node.tag.endswith(":int"):
            if _PLAIN_INT.fullmatch(text):
                return int(text, 10)
        elif _PLAIN_FLOAT.fullmatch(text):
            return float(text)
        elif _SPECIAL_FLOAT.fullmatch(text):
            value: float = yaml.SafeLoader.construct_yaml_float(loader, node)
            return value
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"'{shown}' is not a number written in plain digits (YAML 1.1 reads it "
            "as another number); write it as digits 0-9, or quote it if it is text",
            node.start_mark,
        )

    DefinitionLoader.add_constructor("tag:yaml.org,2002:map", construct_map)
    DefinitionLoader.add_constructor("tag:yaml.org,2002:int", construct_number)
    DefinitionLoader.add_constructor("tag:yaml.org,2002:float", construct_number)
    DefinitionLoader.add_constructor(
        "tag:yaml.org,2002:seq", DefinitionLoader.construct_lined_sequence
    )
    return DefinitionLoader


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data:
        raise DefinitionError(f"{path}: binary data (NUL bytes); expected a UTF-8 text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DefinitionError(f"{path}:{line}: not UTF-8 text; save the file as UTF-8") from None


def _check_events(path: Path, text: str) -> None:
    """Cap depth, aliases and size from the event stream, before building anything."""
    import yaml

    depth = aliases = nodes = 0
    try:
        for event in yaml.parse(text, Loader=_base_loader()):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    _too_much(path, event, f"nesting is deeper than {MAX_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    _too_much(path, event, f"more than {MAX_ALIASES} aliases (*refs)")
            if (
                isinstance(event, yaml.ScalarEvent)
                and event.implicit[0]  # plain, so YAML would read a number
                and len(event.value) > strict_json.MAX_NUMBER_CHARS
                and re.fullmatch(r"[-+]?(0[xXoObB])?[0-9][0-9a-fA-F_.:eE+-]*", event.value)
            ):
                _too_much(
                    path,
                    event,
                    f"a number {len(event.value)} characters long "
                    f"(at most {strict_json.MAX_NUMBER_CHARS} are accepted)",
                )
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > MAX_NODES:
                    _too_much(path, event, f"more than {MAX_NODES} values")
    except yaml.MarkedYAMLError as exc:
        raise DefinitionError(_yaml_message(path, exc)) from None
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path}: not valid YAML: {exc}") from None


def _too_much(path: Path, event: yaml.Event, what: str) -> None:
    line = event.start_mark.line + 1 if event.start_mark else 0
    raise DefinitionError(f"{path}:{line}: refused: {what}")


def _yaml_message(path: Path, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    problem = exc.problem or exc.context or "invalid YAML"
    if "could not determine a constructor" in (exc.problem or "") or (
        exc.problem and "tag" in exc.problem
    ):
        problem = f"{problem.split(' for the tag')[0]} ({_tag(exc)}): tags are not allowed"
    return f"{where}: not valid YAML: {problem}"


def _tag(exc: yaml.MarkedYAMLError) -> str:
    text = exc.problem or ""
    start = text.find("'")
    return text[start:] if start >= 0 else "custom tag"


def check_budget(path: Path, data: Any) -> None:
    """Walk the built data, counting every value; aliases count each time used."""
    budget = MAX_NODES
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise DefinitionError(
                f"{path}: refused: expands to more than {MAX_NODES} values "
                "(YAML aliases nested to blow up memory?)"
            )
        if depth > MAX_DEPTH:
            raise DefinitionError(f"{path}: refused: nesting is deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def load_yaml(path: Path, data: bytes) -> Any:
    import yaml

    text = _decode(path, data)
    _check_events(path, text)
    try:
        parsed = yaml.load(text, Loader=_definition_loader())
    except yaml.MarkedYAMLError as exc:
        raise DefinitionError(_yaml_message(path, exc)) from None
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path}: not valid YAML: {exc}") from None
    check_budget(path, parsed)
    return parsed


def load_data(path: Path, data: bytes) -> Any:
    """Parse a ``.json`` file as JSON and anything else as YAML, safely."""
    if path.suffix.lower() == ".json":
        return load_json(path, data)
    return load_yaml(path, data)


def load_json(path: Path, data: bytes) -> Any:
    text = _decode(path, data)
    try:
        parsed = strict_json.strict_loads(text)
    except strict_json.StrictJSONError as exc:
        raise DefinitionError(f"{path}: refused: {exc}") from None
    except json.JSONDecodeError as exc:
        hint = ""
        before = text[: exc.pos].rstrip()
        if exc.msg.startswith("Expecting ',' delimiter") and before.count("\n") + 1 < exc.lineno:
            # The parser notices a missing comma on the next line; the fix is on this one.
            hint = f" (a missing ',' at the end of line {before.count(chr(10)) + 1}?)"
        raise DefinitionError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}{hint}"
        ) from None
    except RecursionError:
        raise DefinitionError(f"{path}: refused: nesting is too deep") from None
    check_budget(path, parsed)
    return parsed


@hookimpl(trylast=True)
def psyq_load_definition(path: Path, data: bytes) -> Any:
    suffix = path.suffix.lower()
    if suffix in {".yaml", ".yml"}:
        return load_yaml(path, data)
    if suffix == ".json":
        return load_json(path, data)
    return None
