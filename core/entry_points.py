"""The ``psyq`` entry points of the installed distributions, cached between runs.

``importlib.metadata.entry_points()`` imports the email and zipfile machinery
and reads the metadata of every installed distribution: about a quarter of
``psyq list``'s start-up. What it finds changes only when a distribution is
installed, upgraded, removed or edited, so the list is kept as JSON (never
pickle) in psyq's cache directory, keyed by a fingerprint of every ``sys.path``
entry: for each ``*.dist-info`` / ``*.egg-info`` folder in it, the folder's
name and mtime and its ``entry_points.txt``'s mtime and size (a zip file on the
path: its mtime and size).
Installing or removing a distribution adds or removes such a folder, upgrading
renames it, and editing an entry point rewrites ``entry_points.txt``: each is a
miss, and a miss asks ``importlib.metadata`` exactly as without a cache.

``PSYQ_NO_CACHE=1`` turns the cache off (as it does the definition cache); an
unreadable or unwritable cache is ignored.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

from psyq.digest import hex_digest

ENTRY_POINTS_FORMAT = 1
# What importlib.metadata.EntryPoint accepts: ``module.path:attr.path [extras]``.
_VALUE = re.compile(r"^(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?(\[.*\]\s*)?$")


class PluginEntryPoint(NamedTuple):
    """One entry point of psyq's group, and the distribution that declares it.

    A named tuple, not a frozen dataclass: every command makes this class at start-up,
    and a frozen dataclass costs several times as much to make.
    """

    name: str
    value: str
    distribution: str | None = None
    version: str | None = None

    def load(self) -> Any:
        """Import the object the entry point names, as ``EntryPoint.load()`` does."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point '{self.name}' is malformed: {self.value!r}")
        loaded: Any = importlib.import_module(match.group("module"))
        for attribute in filter(None, (match.group("attr") or "").split(".")):
            loaded = getattr(loaded, attribute)
        return loaded


def plugin_entry_points(group: str) -> list[PluginEntryPoint]:
    """Every entry point of ``group``, in ``importlib.metadata`` order, from the cache if fresh."""
    from psyq.definition_cache import cache_dir

    folder = cache_dir()
    if folder is None:
        return _scan(group)
    fingerprint = _fingerprint(group)
    path = folder / f"entry-points-{_environment_key()}.json"
    cached = _read(path, fingerprint)
    if cached is not None:
        return cached
    found = _scan(group)
    _write(path, fingerprint, found)
    return found


def _scan(group: str) -> list[PluginEntryPoint]:
    from importlib import metadata

    return [
        PluginEntryPoint(
            ep.name,
            ep.value,
            ep.dist.name if ep.dist else None,
            ep.dist.version if ep.dist else None,
        )
        for ep in metadata.entry_points(group=group)
    ]


def _environment_key() -> str:
    """One cache file per interpreter environment, so two virtualenvs do not take turns."""
    return hex_digest(f"{sys.prefix}\0{sys.executable}".encode())[:16]


def _fingerprint(group: str) -> str:
    """What decides the installed distributions' entry points (see the module docstring)."""
    parts: list[Any] = [ENTRY_POINTS_FORMAT, group, list(sys.version_info[:3])]
    for entry in sys.path:
        folder = entry or "."
        try:
            with os.scandir(folder) as children:
                names = sorted(
                    child.name
                    for child in children
                    if child.name.endswith((".dist-info", ".egg-info"))
                )
        except NotADirectoryError:  # a zip file: distributions may be inside
            parts.append([entry, _stat(folder)])
            continue
        except OSError:
            continue
        # A folder without distributions adds nothing (the working directory, when
        # psyq runs as `python -m psyq`): one that gains one is seen by its listing.
        if names:
            parts.append([entry, *([name, *_info_stats(folder, name)] for name in names)])
    return hex_digest(json.dumps(parts).encode())


def _info_stats(folder: str, name: str) -> list[list[int] | None]:
    info = os.path.join(folder, name)
    return [_stat(info), _stat(os.path.join(info, "entry_points.txt"))]


def _stat(path: str) -> list[int] | None:
    try:
        result = os.stat(path)
    except OSError:
        return None
    return [result.st_mtime_ns, result.st_size]


def _read(path: Path, fingerprint: str) -> list[PluginEntryPoint] | None:
    from psyq.files import read_private

    try:
        # Only the user's own regular file: the modules it names are imported.
        raw, _ = read_private(path, 1 << 24)
        document = json.loads(raw)
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("fingerprint") != fingerprint:
        return None
    rows = document.get("entry_points")
    if not isinstance(rows, list):
        return None
    found = []
    for row in rows:
        if not isinstance(row, dict):
            return None
        name, value = row.get("name"), row.get("value")
        dist, version = row.get("distribution"), row.get("version")
        if not (isinstance(name, str) and isinstance(value, str)):
            return None
        if not all(x is None or isinstance(x, str) for x in (dist, version)):
            return None
        found.append(PluginEntryPoint(name, value, dist, version))
    return found


def _write(path: Path, fingerprint: str, found: list[PluginEntryPoint]) -> None:
    from psyq.definition_cache import prune_stale
    from psyq.files import private_dir, write_atomic

    document = {"fingerprint": fingerprint, "entry_points": [ep._asdict() for ep in found]}
    try:
        write_atomic(private_dir(path.parent) / path.name, json.dumps(document).encode())
    except OSError:
        return
    # Another environment's list (another virtualenv, or a key made by an older psyq).
    prune_stale(path.parent, "entry-points-*.json", keep=path.name)
