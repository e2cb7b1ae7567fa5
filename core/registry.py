"""The instrument registry: every instrument the installed plugins provide.

Sources come from the ``psyq_instrument_sources`` hook; each file is parsed by
the ``psyq_load_definition`` hook and validated against
:class:`psyq.models.Instrument`. The same id from two sources is an error
naming both. A broken file in a source is reported (one line) and skipped,
so one bad file in a pack does not hide every other instrument; ``psyq
validate`` is where broken files fail hard.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from psyq.errors import DefinitionError, DuplicateError, UnknownInstrumentError
from psyq.models import Instrument

if TYPE_CHECKING:
    from psyq.manager import PsyqPluginManager

MAX_DEFINITION_BYTES = 1024 * 1024
DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")
FILE_SOURCE = "file"
"""The source of an instrument given on the command line as a definition file's path."""


@dataclass(frozen=True)
class InstrumentSource:
    """A directory of definition files, or one file, and who provides it."""

    name: str
    path: Path


@dataclass(frozen=True)
class LoadedInstrument:
    instrument: Instrument
    source: str
    path: Path


def read_definition(pm: PsyqPluginManager, path: Path) -> dict[str, Any]:
    """Read and parse one definition file into plain data (not yet validated)."""
    from psyq.files import read_limited

    data = read_limited(path, MAX_DEFINITION_BYTES, "an instrument definition", DefinitionError)
    parsed = pm.hook.psyq_load_definition(path=path, data=data)
    if parsed is None and path.suffix.lower() in DEFINITION_SUFFIXES:
        raise DefinitionError(f"{path}: the file is empty; an instrument definition is expected")
    if parsed is None:
        raise DefinitionError(
            f"{path}: no plugin reads '{path.suffix or path.name}' files; "
            f"use one of {', '.join(DEFINITION_SUFFIXES)}"
        )
    if not isinstance(parsed, dict):
        raise DefinitionError(
            f"{path}: the top level must be a mapping of fields (id, title, items, ...), "
            f"not {_kind(parsed)}"
        )
    return parsed


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, bool | int | float):
        return "a number" if not isinstance(value, bool) else "a true/false value"
    return f"a {type(value).__name__}"


def load_instrument_file(pm: PsyqPluginManager, path: Path) -> Instrument:
    """Read, parse and validate one definition file.

    Raises :class:`DefinitionError` with one line naming ``file:line`` and
    the field path at fault.
    """
    data = read_definition(pm, path)
    try:
        return Instrument.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(format_validation_error(path, data, exc)) from None
    except (ArithmeticError, RecursionError) as exc:  # values no check foresaw
        raise DefinitionError(
            f"{path}: cannot be used: its numbers break a calculation "
            f"({type(exc).__name__}: {str(exc)[:120]})"
        ) from None


def format_validation_error(path: Path, data: Any, exc: ValidationError) -> str:
    """One line: ``file:line: field.path: message (and N more problems)``.

    An unknown field is reported first: it is usually a misspelling, and it
    explains the "missing field" error that comes with it.
    """
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    where, line = _describe_location(data, first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field (check its spelling against `psyq schema`)"
    elif first["type"] == "missing":
        message = "required field is missing"
    if not where:
        # Whole-instrument checks name the item, scale or flag at fault.
        line = _line_of_named(data, message) or line
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    prefix = f"{path}:{line}" if line else str(path)
    return f"{prefix}: {where + ': ' if where else ''}{message}{more}"


_NAMED = re.compile(r"^(item|scale|flag) (\w+)")


def _line_of_named(data: Any, message: str) -> int | None:
    match = _NAMED.match(message)
    if not match or not isinstance(data, dict):
        return None
    kind, ident = match.groups()
    seq = data.get(f"{kind}s")
    lines = getattr(seq, "lines", None)
    if not isinstance(seq, list) or not isinstance(lines, dict):
        return None
    for index, element in enumerate(seq):
        if isinstance(element, dict) and element.get("id") == ident:
            line: int | None = lines.get(index)
            return line
    return None


def _describe_location(data: Any, loc: tuple[int | str, ...]) -> tuple[str, int | None]:
    """Turn a pydantic location into ``scales[total].bands[mild].max`` and a line.

    List positions are shown by the element's ``id`` when it has one. The
    line comes from the YAML loader's ``lines`` attribute when present.
    """
    parts: list[str] = []
    node = data
    line: int | None = None
    for key in loc:
        lines = getattr(node, "lines", None)
        if isinstance(lines, dict) and key in lines:
            line = lines[key]
        if isinstance(key, int) and isinstance(node, list) and 0 <= key < len(node):
            child = node[key]
            label = child.get("id") if isinstance(child, dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{label if label else key}]"]
            node = child
        elif isinstance(node, dict) and key in node:
            parts.append(str(key))
            node = node[key]
        else:
            parts.append(str(key))
            node = None
    return ".".join(parts), line


class InstrumentRegistry:
    """Instruments by id, loaded lazily from every source on first use."""

    def __init__(
        self, pm: PsyqPluginManager, overlay_dir: Callable[[], Path] | None = None
    ) -> None:
        self._pm = pm
        self._entries: dict[str, LoadedInstrument] | None = None
        self.problems: list[str] = []
        # Licensed item texts ($PSYQ_HOME/overlays); a callable, so the data directory is
        # only looked up when an instrument with licensed texts is loaded.
        self._overlay_dir = overlay_dir
        self.overlay_problems: list[str] = []

    def _load(self) -> dict[str, LoadedInstrument]:
        if self._entries is not None:
            return self._entries
        entries: dict[str, LoadedInstrument] = {}
        for plugin, source in self._pm.collect("psyq_instrument_sources"):
            for path in _definition_files(source.path):
                try:
                    instrument = load_instrument_file(self._pm, path)
                except DefinitionError as exc:
                    self.problems.append(f"{source.name}: {exc}")
                    continue
                except Exception as exc:  # one bad file never stops every command
                    self.problems.append(
                        f"{source.name} (plugin {plugin}): {path}: cannot be used: "
                        f"{type(exc).__name__}: {str(exc)[:200]}"
                    )
                    continue
                if instrument.licensed_text is not None and self._overlay_dir is not None:
                    instrument = self._with_overlay(instrument, self._overlay_dir())
                other = entries.get(instrument.id)
                if other is not None:
                    raise DuplicateError(
                        f"instrument '{instrument.id}' is defined twice: by {other.source} "
                        f"({other.path}) and by {source.name} ({path}); remove or disable one"
                    )
                entries[instrument.id] = LoadedInstrument(instrument, source.name, path)
        self._entries = dict(sorted(entries.items()))
        return self._entries

    def _with_overlay(self, instrument: Instrument, overlay_dir: Path) -> Instrument:
        from psyq.overlays import apply_overlay

        try:
            return apply_overlay(self._pm, instrument, overlay_dir)
        except DefinitionError as exc:
            # A broken overlay must not hide the instrument: keep the placeholders.
            self.overlay_problems.append(f"{exc}; {instrument.id} keeps its placeholder texts")
            return instrument

    def add(self, instrument: Instrument, source: str, path: Path) -> None:
        """Register an instrument object directly (tests, embedding applications)."""
        entries = self._load()
        if instrument.id in entries:
            other = entries[instrument.id]
            raise DuplicateError(
                f"instrument '{instrument.id}' is defined twice: by {other.source} "
                f"({other.path}) and by {source} ({path})"
            )
        entries[instrument.id] = LoadedInstrument(instrument, source, path)

    def entry(self, instrument_id: str) -> LoadedInstrument:
        """The instrument ``instrument_id`` names: an installed id, or a definition file's path."""
        if is_definition_path(instrument_id):
            return self._from_file(Path(instrument_id))
        entries = self._load()
        found = entries.get(instrument_id) or entries.get(instrument_id.lower().replace("-", ""))
        if found is None:
            known = ", ".join(entries) or "none"
            raise UnknownInstrumentError(
                f"unknown instrument '{instrument_id}'; available: {known} (see `psyq list`)"
            )
        return found

    def _from_file(self, path: Path) -> LoadedInstrument:
        if not path.is_file():
            raise UnknownInstrumentError(f"{path}: no such definition file")
        instrument = load_instrument_file(self._pm, path)
        installed = self._load().get(instrument.id)
        if (
            installed is not None
            and installed.instrument.content_hash() != instrument.content_hash()
        ):
            # Scores stored under one id must mean one definition.
            raise DuplicateError(
                f"{path}: defines '{instrument.id}', which {installed.source} also provides "
                f"({installed.path}) with different content; give the file another id"
            )
        return LoadedInstrument(instrument, FILE_SOURCE, path)

    def get(self, instrument_id: str) -> Instrument:
        return self.entry(instrument_id).instrument

    def all(self) -> list[LoadedInstrument]:
        return list(self._load().values())

    def ids(self) -> list[str]:
        return list(self._load())


def is_definition_path(text: str) -> bool:
    """Whether an instrument argument is a file path (``./draft.yaml``) rather than an id."""
    return "/" in text or "\\" in text or text.endswith(DEFINITION_SUFFIXES)


def _definition_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in DEFINITION_SUFFIXES and p.is_file())
    return [path]
