"""The instrument registry: every instrument the installed plugins provide.

Sources come from the ``psyq_instrument_sources`` hook; each file is parsed by
the ``psyq_load_definition`` hook and validated against
:class:`psyq.models.Instrument`. The same id from two sources is an error
a local problem: the later source's file is skipped with one warning naming
the plugin that provides it (an error with ``PSYQ_STRICT_PLUGINS=1``). A
broken file in a source is reported (one line) and skipped, so one bad file in
a pack does not hide every other instrument; ``psyq validate`` is where broken
files fail hard.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psyq.definition_cache import DefinitionCache, Summary, entry_key
from psyq.errors import (
    DefinitionError,
    DuplicateError,
    PluginHookError,
    UnknownInstrumentError,
)

if TYPE_CHECKING:
    # pydantic: imported when a definition is validated, so that `psyq list` (which reads
    # the definition cache's summaries) starts without it.
    from pydantic import ValidationError

    from psyq.manager import PsyqPluginManager
    from psyq.models import Instrument

MAX_DEFINITION_BYTES = 1024 * 1024
DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")
FILE_SOURCE = "file"
"""The source of an instrument given on the command line as a definition file's path."""


@dataclass(frozen=True)
class InstrumentSource:
    """A directory of definition files, or one file, and who provides it.

    ``path`` may be given as a string (or any path-like): it is kept as a ``Path``.
    """

    name: str
    path: Path

    def __post_init__(self) -> None:
        path: object = self.path  # a plugin may give a str, whatever the annotation says
        if not isinstance(path, Path):
            # Path() refuses what is not a str or path-like: the plugin's hook names it.
            object.__setattr__(self, "path", Path(path))  # type: ignore[arg-type]


class LoadedInstrument:
    """An installed instrument: who provides it and, validated on first use, its definition.

    ``id``, ``title``, ``version`` and ``status`` are known without building the
    model (``psyq list`` reads them from the definition cache); :attr:`instrument`
    validates the definition the first time a command needs it, so a command
    pays for the one instrument it uses, not for every installed one.
    """

    __slots__ = (
        "_build",
        "_instrument",
        "id",
        "licensed",
        "path",
        "source",
        "status",
        "title",
        "version",
    )

    def __init__(self, instrument: Instrument, source: str, path: Path) -> None:
        self._instrument: Instrument | None = instrument
        self._build: Callable[[], Instrument] | None = None
        self.id, self.title, self.version = instrument.id, instrument.title, instrument.version
        self.status: str = instrument.status
        #: whether it has licensed texts a local overlay may supply
        self.licensed = instrument.licensed_text is not None
        self.source = source
        self.path = path

    @classmethod
    def deferred(
        cls, summary: Summary, source: str, path: Path, build: Callable[[], Instrument]
    ) -> LoadedInstrument:
        """An entry whose model is built by ``build`` when first asked for."""
        entry = cls.__new__(cls)
        entry._instrument, entry._build = None, build
        entry.id, entry.title, entry.version = summary.id, summary.title, summary.version
        entry.status, entry.licensed = summary.status, summary.licensed
        entry.source, entry.path = source, path
        return entry

    @property
    def instrument(self) -> Instrument:
        if self._instrument is None:
            assert self._build is not None
            self._instrument, self._build = self._build(), None
        return self._instrument

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent to another process (a batch executor) as the built instrument, not the
        # loader closure, which cannot be pickled.
        return (LoadedInstrument, (self.instrument, self.source, self.path))

    def __repr__(self) -> str:
        return f"LoadedInstrument({self.id!r} v{self.version}, {self.source!r}, {str(self.path)!r})"


def read_definition(pm: PsyqPluginManager, path: Path) -> dict[str, Any]:
    """Read and parse one definition file into plain data (not yet validated)."""
    return parse_definition(pm, path, read_definition_bytes(path))


def read_definition_bytes(path: Path) -> bytes:
    """The bytes of one definition file, refusing files over the size limit."""
    from psyq.files import read_limited

    return read_limited(path, MAX_DEFINITION_BYTES, "an instrument definition", DefinitionError)


def parse_definition(pm: PsyqPluginManager, path: Path, data: bytes) -> dict[str, Any]:
    """Parse one definition file's bytes into plain data (not yet validated)."""
    try:
        parsed = pm.hook.psyq_load_definition(path=path, data=data)
    except PluginHookError as exc:
        if exc.hook != "psyq_load_definition" or pm.get_plugin(exc.plugin) is None:
            raise
        # A loader's bug is its plugin's, not this file's: that plugin is skipped (one
        # warning, like a collecting hook that raises) and the file is read without it.
        pm.unregister(name=exc.plugin)
        pm.record_failure(exc.plugin, exc, hook=exc.hook)
        return parse_definition(pm, path, data)
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
            f"not {kind_of(parsed)}"
        )
    return parsed


def kind_of(value: Any) -> str:
    """What a parsed document is, in words: ``a list``, ``a text``, ``null (an empty document)``."""
    if value is None:
        return "null (an empty document)"
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
    return validate_definition(path, read_definition(pm, path))


def validate_definition(path: Path, data: dict[str, Any]) -> Instrument:
    """Validate parsed definition data; errors name ``file:line`` and the field."""
    from pydantic import ValidationError

    from psyq.models import Instrument

    try:
        return Instrument.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(path, data, exc)
        raise DefinitionError(format_validation_error(path, data, exc), problems) from None
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
    problems = validation_problems(path, data, exc)
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return problems[0] + more


def validation_problems(path: Path, data: Any, exc: ValidationError) -> list[str]:
    """Every problem of a definition, one line each: ``file:line: field.path: message``."""
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    problems: list[str] = []
    for error in errors:
        where, line = _describe_location(data, error["loc"])
        messages = str(error["msg"]).removeprefix("Value error, ").split("\n")
        if error["type"] == "extra_forbidden":
            messages = ["unknown field (check its spelling against `psyq schema`)"]
        elif error["type"] == "missing":
            messages = ["required field is missing"]
        elif error["type"] in ("int_type", "float_type"):
            messages = [_not_a_number(error["input"], path, line, error["loc"], messages[0])]
        elif error["type"] == "bool_type":
            shown = repr(error["input"])[:40]
            messages = [f"{messages[0]}, not {shown}; write true or false"]
        elif isinstance(error.get("input"), bool) and not error["type"].startswith("bool"):
            token = _token(path, line, error["loc"][-1] if error["loc"] else None)
            explained = _yaml_boolean(error["input"], token)
            # Text gets the explanation alone; a choice or an id keeps pydantic's expectation.
            text = error["type"].startswith("string") and "pattern" not in error["type"]
            messages = [explained if text else f"{messages[0]}; {explained}"]
        for message in messages:
            # Whole-instrument checks name the item, scale or flag at fault.
            at = line if where else (_line_of_named(data, message) or line)
            prefix = f"{path}:{at}" if at else str(path)
            problems.append(f"{prefix}: {where + ': ' if where else ''}{message}")
    return problems


def _not_a_number(
    value: Any, path: Path, line: int | None, loc: tuple[int | str, ...], message: str
) -> str:
    """Why ``value`` is not read as the number a field needs: definitions are strict
    (:class:`psyq.models._Model`), so a typo is not silently read as another number."""
    if isinstance(value, bool):
        said = str(value).lower()
        word = _token(path, line, loc[-1] if loc else None) or said
        why = "" if word.lower() == said else f" (YAML reads an unquoted {word} as {said})"
        return f"{message}, not {said}{why}; write the number"
    if isinstance(value, str):
        shown = value if len(value) <= 40 and value.isprintable() else repr(value[:40])
        return f"{message}, not the text '{shown}'; write the number without quotes"
    if isinstance(value, float):
        return f"{message}, not {value!r}; write a whole number"
    return message


def _yaml_boolean(value: bool, token: str | None) -> str:
    word = token or ("No" if value is False else "Yes")
    return (
        f"expected text, got {str(value).lower()}: YAML 1.1 reads an unquoted {word} "
        f'(also yes/no, on/off, true/false) as {str(value).lower()}; quote it: "{word}"'
    )


def _token(path: Path, line: int | None, key: object) -> str | None:
    """The value as written after ``key:`` on ``line`` of ``path`` (``No``, ``off``), if found."""
    if line is None or not isinstance(key, str):
        return None
    try:
        text = path.read_text(encoding="utf-8").splitlines()[line - 1]
    except (OSError, UnicodeDecodeError, IndexError):
        return None
    match = re.search(rf"(?<![\w-]){re.escape(key)}\s*:\s*([A-Za-z]+)\b", text)
    return match.group(1) if match else None


def _line_of_named(data: Any, message: str) -> int | None:
    match = re.match(r"^(item|scale|flag) (\w+)", message)
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
        #: instrument id -> name of the plugin whose source provides it
        self.owners: dict[str, str] = {}
        # Licensed item texts ($PSYQ_HOME/overlays); a callable, so the data directory is
        # only looked up when an instrument with licensed texts is loaded.
        self._overlay_dir = overlay_dir
        self.overlay_problems: list[str] = []

    def _load(self) -> dict[str, LoadedInstrument]:
        if self._entries is not None:
            return self._entries
        entries: dict[str, LoadedInstrument] = {}
        cache = DefinitionCache(self._pm)
        for plugin, source in self._pm.collect("psyq_instrument_sources"):
            empty = None if self._pm.is_builtin(plugin) else _empty_source(source.path)
            if empty is not None:  # a plugin's pack that ships nothing: say so, once
                self.problems.append(f"{source.name} (plugin '{plugin}'): {empty}")
                self._pm.note(plugin, f"instrument source '{source.name}': {empty}")
                continue
            for path in _definition_files(source.path):
                try:
                    entry = _load_cached(self._pm, cache, path, source.name)
                    if entry.licensed and self._overlay_dir is not None:
                        entry = self._with_overlay(entry, self._overlay_dir())
                except DefinitionError as exc:
                    self.problems.append(f"{source.name}: {exc}")
                    self._pm.note(plugin, f"instrument file skipped: {exc}")
                    continue
                except Exception as exc:  # one bad file never stops every command
                    self.problems.append(
                        f"{source.name} (plugin {plugin}): {path}: cannot be used: "
                        f"{type(exc).__name__}: {str(exc)[:200]}"
                    )
                    self._pm.note(plugin, f"instrument file skipped: {path}: {exc}"[:300])
                    continue
                other = entries.get(entry.id)
                if other is not None:
                    self._duplicate(entry.id, other, plugin, source.name, path)
                    continue
                entries[entry.id] = entry
                self.owners[entry.id] = plugin
        cache.save()
        self._entries = dict(sorted(entries.items()))
        return self._entries

    def _duplicate(
        self, instrument_id: str, other: LoadedInstrument, plugin: str, source: str, path: Path
    ) -> None:
        """The same id again: skip the later file, naming the plugin that provides it."""
        pm = self._pm
        if pm.is_builtin(plugin) or self.owners.get(instrument_id) == plugin:
            # psyq's own files, or two files of one pack: disabling the plugin loses both
            hint = f"remove {path.name} or change its id"
        else:
            hint = pm.disable_hint(plugin)
        pm.note(plugin, f"instrument '{instrument_id}' skipped: {other.source} defines it")
        pm.problem(
            f"instrument '{instrument_id}' is defined twice: {pm.describe(plugin)} "
            f"({source}, {path}) is skipped, {other.source} ({other.path}) defines it first "
            f"({hint})",
            DuplicateError,
        )

    def _with_overlay(self, entry: LoadedInstrument, overlay_dir: Path) -> LoadedInstrument:
        """``entry`` with its licensed texts from ``overlay_dir``, when an overlay is there.

        Built now rather than on first use, so that a broken overlay is reported
        by every command, as a broken definition file is.
        """
        if not overlay_dir.is_dir():
            return entry
        from psyq.overlays import apply_overlay, overlay_path

        if overlay_path(overlay_dir, entry.id) is None:
            return entry
        instrument = entry.instrument
        try:
            instrument = apply_overlay(self._pm, instrument, overlay_dir)
        except DefinitionError as exc:
            # A broken overlay must not hide the instrument: keep the placeholders.
            self.overlay_problems.append(f"{exc}; {instrument.id} keeps its placeholder texts")
        return LoadedInstrument(instrument, entry.source, entry.path)

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


def _load_cached(
    pm: PsyqPluginManager, cache: DefinitionCache, path: Path, source: str
) -> LoadedInstrument:
    """One definition file through the cache.

    A hit gives the entry's id, title, version and status at once, and
    validates the cached definition only when the instrument is used; a miss
    reads and validates the file as without a cache (a broken file raises here,
    so its one-line error is reported while loading, hit or miss).
    """
    data = read_definition_bytes(path)
    key = entry_key(path, data)
    summary = cache.summary(key)
    if summary is not None:
        return LoadedInstrument.deferred(
            summary, source, path, lambda: _build_cached(pm, cache, key, path, data)
        )
    instrument = validate_definition(path, parse_definition(pm, path, data))
    cache.put(key, instrument)
    return LoadedInstrument(instrument, source, path)


def _build_cached(
    pm: PsyqPluginManager, cache: DefinitionCache, key: str, path: Path, data: bytes
) -> Instrument:
    """The validated instrument of a cache hit; a damaged entry is read from the file again."""
    instrument = cache.get(key)
    if instrument is None:
        instrument = validate_definition(path, parse_definition(pm, path, data))
        cache.put(key, instrument)
        cache.save()
    return instrument


def is_definition_path(text: str) -> bool:
    """Whether an instrument argument is a file path (``./draft.yaml``) rather than an id."""
    return "/" in text or "\\" in text or text.endswith(DEFINITION_SUFFIXES)


def _empty_source(path: Path) -> str | None:
    """Why a plugin's instrument source provides nothing (``None``: it has files).

    The usual cause is packaging: the YAML files were not installed with the code."""
    if not path.exists():
        return (
            f"{path} does not exist; if the definitions are package data, list them in "
            "the plugin's pyproject.toml ([tool.setuptools.package-data])"
        )
    if path.is_dir() and not _definition_files(path):
        suffixes = ", ".join(f"*{suffix}" for suffix in DEFINITION_SUFFIXES)
        return f"{path} holds no instrument definitions ({suffixes})"
    return None


def _definition_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in DEFINITION_SUFFIXES and p.is_file())
    return [path]
