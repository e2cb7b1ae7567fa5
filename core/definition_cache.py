"""A cache of validated instrument definitions, so start-up does not re-parse YAML.

Parsing a definition with the safe, line-tracking YAML loader costs several
milliseconds a file; with 20 definitions that was most of ``psyq list``'s
start-up. The cache keeps each file's validated definition as JSON (never
pickle: a cache file is data, like the definitions themselves):

* an entry is keyed by the SHA-256 of the file's bytes (and its suffix, which
  picks the loader), so any edit to a file is a miss;
* the whole cache file is keyed by a fingerprint of everything else that
  decides what a file means: psyq's version, the mtime of the module holding
  the format (an editable install changes it without a new version), the
  Python version, every installed plugin with its distribution version, and
  the mtime of every ``sys.path`` directory (installing, upgrading or removing
  any distribution touches its site-packages directory);
* a hit gives an entry's id, title, version and status straight from the
  cached definition (:meth:`DefinitionCache.summary`: all ``psyq list`` needs);
  the definition itself is validated by :class:`~psyq.models.Instrument` only
  when a command uses that instrument (:meth:`DefinitionCache.get`), so a
  damaged or hand-edited cache file can never yield an invalid instrument: an
  entry that fails is treated as a miss and the file is read again;
* a miss reads and validates the file exactly as without a cache; files that
  fail are never cached, so their error is reported every time;
* the cache file is written atomically (temporary file, then ``os.replace``),
  0600 in a 0700 directory.

``PSYQ_CACHE_DIR`` moves the cache; ``PSYQ_NO_CACHE=1`` turns it off. The
cache is an optimisation only: an unreadable or unwritable cache directory is
ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from psyq.files import private_dir, write_atomic

if TYPE_CHECKING:
    from psyq.manager import PsyqPluginManager
    from psyq.models import Instrument

CACHE_FORMAT = 2
# Cache files of other fingerprints (an older psyq, another checkout) are removed
# once they have not been written for this long.
STALE_AFTER_SECONDS = 7 * 24 * 3600


class Summary(NamedTuple):
    """What listing an instrument needs, read from a cached definition without validating it."""

    id: str
    title: str
    version: str
    status: str
    licensed: bool


def cache_dir() -> Path | None:
    """Where cache files live, or ``None`` when caching is turned off."""
    if os.environ.get("PSYQ_NO_CACHE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return None
    env = os.environ.get("PSYQ_CACHE_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("psyq", appauthor=False))


def fingerprint(pm: PsyqPluginManager) -> str:
    """What, besides a file's bytes, decides the instrument a file yields."""
    from psyq import __file__ as package_init
    from psyq import __version__

    def mtime(path: str) -> int | None:
        try:
            return os.stat(path).st_mtime_ns
        except OSError:
            return None

    core = Path(package_init).parent
    # The script's own directory (or the working directory) is not where
    # distributions live, and would give every directory its own cache.
    search_path = sys.path if sys.flags.safe_path else sys.path[1:]
    parts: list[Any] = [
        CACHE_FORMAT,
        __version__,
        list(sys.version_info[:3]),
        # The format and loader modules themselves: an editable install changes
        # them without changing the version.
        sorted([p.name, mtime(str(p))] for p in core.glob("*.py")),
        sorted([f, mtime(f)] for f in _loader_files(pm)),
        sorted([i.name, i.source, i.distribution, i.version] for i in pm.infos.values()),
        [[entry, mtime(entry)] for entry in search_path if entry],
    ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _loader_files(pm: PsyqPluginManager) -> list[str]:
    """Source files of the plugins that parse definitions (the YAML loader...)."""
    files = []
    for impl in pm.hook.psyq_load_definition.get_hookimpls():
        module = sys.modules.get(impl.function.__module__)
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            files.append(path)
    return files


def entry_key(path: Path, data: bytes) -> str:
    return f"{hashlib.sha256(data).hexdigest()}{path.suffix.lower()}"


class DefinitionCache:
    """Validated definitions by content hash, for one plugin manager's view of the world."""

    def __init__(self, pm: PsyqPluginManager) -> None:
        self._dir = cache_dir()
        self._fingerprint = fingerprint(pm) if self._dir is not None else ""
        self._old: dict[str, Any] = self._read() if self._dir is not None else {}
        self._used: dict[str, Any] = {}
        self._dirty = False
        self.hits = 0
        self.misses = 0

    @property
    def path(self) -> Path | None:
        if self._dir is None:
            return None
        return self._dir / f"definitions-{self._fingerprint[:32]}.json"

    def _read(self) -> dict[str, Any]:
        path = self.path
        assert path is not None
        try:
            document = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(document, dict) or document.get("fingerprint") != self._fingerprint:
            return {}
        entries = document.get("entries")
        return entries if isinstance(entries, dict) else {}

    def summary(self, key: str) -> Summary | None:
        """Id, title, version and status of the entry ``key``, or ``None`` (a miss)."""
        definition = self._old.get(key)
        if not isinstance(definition, dict):
            return None
        id_, title, version, status = (
            definition.get(name) for name in ("id", "title", "version", "status")
        )
        if not (
            isinstance(id_, str)
            and isinstance(title, str)
            and isinstance(version, str)
            and isinstance(status, str)
        ):
            return None
        self._used[key] = definition
        self.hits += 1
        return Summary(id_, title, version, status, definition.get("licensed_text") is not None)

    def get(self, key: str) -> Instrument | None:
        """The validated instrument for ``key``, or ``None`` (a miss or a bad entry)."""
        definition = self._old.get(key)
        if definition is None:
            return None
        from pydantic import ValidationError

        from psyq.models import Instrument

        try:
            return Instrument.model_validate(definition)
        except (ValidationError, ValueError, TypeError):
            self._old.pop(key, None)
            self._used.pop(key, None)
            return None

    def put(self, key: str, instrument: Instrument) -> None:
        self._used[key] = instrument.model_dump(mode="json")
        self._dirty = True
        self.misses += 1

    def save(self) -> None:
        """Write the entries used by this load, if any was new; never raises."""
        path = self.path
        if path is None or not self._dirty:
            return
        document = {"fingerprint": self._fingerprint, "entries": self._used}
        try:
            # psyq's one atomic writer: random exclusive name, no links followed, 0600.
            write_atomic(
                private_dir(path.parent) / path.name,
                json.dumps(document, separators=(",", ":")).encode(),
            )
        except OSError:
            return
        self._dirty = False
        self._prune(path)

    def _prune(self, keep: Path) -> None:
        cutoff = time.time() - STALE_AFTER_SECONDS
        for other in keep.parent.glob("definitions-*.json"):
            try:
                if other != keep and other.stat().st_mtime < cutoff:
                    other.unlink()
            except OSError:
                continue
