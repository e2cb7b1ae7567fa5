"""A cache of validated instrument definitions, so start-up does not re-parse YAML.

Parsing a definition with the safe, line-tracking YAML loader costs several
milliseconds a file; with 20 definitions that was most of ``psyq list``'s
start-up. The cache keeps each file's validated definition as JSON (never
pickle: a cache file is data, like the definitions themselves):

* an entry is keyed by a BLAKE2b digest of the file's bytes (and its suffix, which
  picks the loader), so any edit to a file is a miss (:mod:`psyq.digest`: BLAKE2b
  without loading OpenSSL at every start-up);
* the whole cache file is keyed by a fingerprint of everything else that
  decides what a file means: psyq's version, the mtime of the module holding
  the format (an editable install changes it without a new version), the
  Python version, every installed plugin with its distribution version, and
  the mtime of every ``sys.path`` directory (installing, upgrading or removing
  any distribution touches its site-packages directory);
* an entry holds the validated definition as JSON text (``model_dump(mode="json")``),
  the id, title, version and status ``psyq list`` needs beside it, and a keyed
  digest of the whole (BLAKE2b with a random key kept in ``definitions.key`` beside
  the cache files, 0600); an entry whose digest does not match (a damaged or
  hand-edited cache file, even one whose editor recomputed a plain hash) is a miss:
  the definition file is read and validated again;
* a hit gives an entry's id, title, version and status without parsing its definition
  (:meth:`DefinitionCache.summary`: all ``psyq list`` needs); the instrument itself
  is built only when a command uses it (:meth:`DefinitionCache.get`), and without
  validating it again (:func:`psyq.models.construct_instrument`, which skips building
  pydantic's schema) when the entry is ``exact``: when it was stored, the instrument
  built that way from its JSON equalled the validated one, field for field, types and
  lookup tables included. An entry that is not exact is validated by
  :class:`~psyq.models.Instrument` on use, and one that fails is a miss;
* a miss reads and validates the file exactly as without a cache; files that
  fail are never cached, so their error is reported every time;
* the cache file is written atomically (temporary file, then ``os.replace``),
  0600 in a 0700 directory.

``PSYQ_CACHE_DIR`` moves the cache; ``PSYQ_NO_CACHE=1`` turns it off. The
cache is an optimisation only: an unreadable or unwritable cache directory is
ignored.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from psyq.digest import blake2b, hex_digest
from psyq.files import create_private, private_dir, read_private, write_atomic

if TYPE_CHECKING:
    from psyq.manager import PsyqPluginManager
    from psyq.models import Instrument

CACHE_FORMAT = 3
KEY_FILE = "definitions.key"
KEY_BYTES = 32
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
        folder = Path(env).expanduser()
    else:
        from psyq.paths import user_dir

        folder = user_dir("cache")
    return folder if _own_cache_folder(folder) else None


_refused_said: set[Path] = set()


def _own_cache_folder(folder: Path) -> bool:
    """Whether ``folder`` can hold psyq's cache: missing (made 0700 when written), or the
    user's own folder nobody else can write in. What another user could put in the cache
    (a plugin list, compiled templates, definitions) would be imported, run or scored
    with; such a folder is not used (one line says so, once per process)."""
    try:
        info = os.stat(folder)
    except OSError:
        return True  # missing: psyq makes it, 0700; anything else fails when written
    mode = info.st_mode & 0o7777
    if info.st_uid == os.getuid() and not mode & 0o022:
        return True
    if folder not in _refused_said:
        _refused_said.add(folder)
        mine = info.st_uid == os.getuid()
        whose = "others can write in it" if mine else f"it belongs to uid {info.st_uid}"
        print(
            f"psyq: warning: {folder}: not used as psyq's cache ({whose}, mode {mode:04o}); "
            "set PSYQ_CACHE_DIR to a folder of your own",
            file=sys.stderr,
        )
    return False


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
    return hex_digest(json.dumps(parts, default=str).encode())


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
    return f"{hex_digest(data)}{path.suffix.lower()}"


def read_cache_key(folder: Path, *, create: bool) -> bytes | None:
    """The key of the cache in ``folder`` (``definitions.key``): random, 0600, made
    (exclusively) when ``create`` and there is none. ``None`` when there is none, it is
    damaged and not ``create``, it is not the user's own regular file (a link, another
    user's), or the folder cannot be written. Every cache psyq keeps
    in that folder signs its entries with it, so a damaged key makes them all misses."""
    path = folder / KEY_FILE
    for _ in range(2):
        try:
            key, mode = read_private(path, KEY_BYTES + 1)
        except FileNotFoundError:
            key, mode = b"", 0
        except OSError:
            # A link, a FIFO, another user's file: a key someone else may know, who could
            # then sign cache entries psyq runs (compiled templates) or scores with.
            return None
        if len(key) == KEY_BYTES and not mode & 0o077:
            return key
        if not create:
            return None
        try:
            if key:  # damaged, or others could read it: start again (every entry a miss)
                path.unlink()
            fd = create_private(private_dir(folder) / KEY_FILE)
        except FileExistsError:  # another psyq made it just now
            continue
        except OSError:
            return None
        key = os.urandom(KEY_BYTES)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key
    return None


class DefinitionCache:
    """Validated definitions by content hash, for one plugin manager's view of the world."""

    def __init__(self, pm: PsyqPluginManager) -> None:
        self._dir = cache_dir()
        self._fingerprint = fingerprint(pm) if self._dir is not None else ""
        self._key = self._read_key(create=False)
        # Without the key no entry can be trusted: every definition is a miss.
        self._old: dict[str, Any] = self._read() if self._key is not None else {}
        self._used: dict[str, Any] = {}
        self._dirty = False
        self.hits = 0
        self.misses = 0

    @property
    def path(self) -> Path | None:
        if self._dir is None:
            return None
        return self._dir / f"definitions-{self._fingerprint[:32]}.json"

    def _read_key(self, *, create: bool) -> bytes | None:
        return None if self._dir is None else read_cache_key(self._dir, create=create)

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

    def _entry(self, key: str) -> tuple[Summary, bool, str] | None:
        """The summary, exactness and definition text of entry ``key``, if it is intact."""
        entry = self._old.get(key)
        if not isinstance(entry, dict):
            return None
        summary, exact, text = entry.get("summary"), entry.get("exact"), entry.get("definition")
        if not (
            isinstance(summary, list)
            and len(summary) == len(Summary._fields)
            and all(isinstance(v, str) for v in summary[:4])
            and isinstance(summary[4], bool)
            and isinstance(exact, bool)
            and isinstance(text, str)
            and self._key is not None
            and entry.get("digest") == _digest(self._key, summary, exact, text)
        ):
            self._forget(key)
            return None
        return Summary(*summary), exact, text

    def _forget(self, key: str) -> None:
        self._old.pop(key, None)
        self._used.pop(key, None)

    def summary(self, key: str) -> Summary | None:
        """Id, title, version and status of the entry ``key``, or ``None`` (a miss)."""
        found = self._entry(key)
        if found is None:
            return None
        self._used[key] = self._old[key]
        self.hits += 1
        return found[0]

    def get(self, key: str) -> Instrument | None:
        """The instrument of entry ``key``, or ``None`` (a miss or a bad entry)."""
        found = self._entry(key)
        if found is None:
            return None
        _, exact, text = found
        _import_models()
        from psyq.models import Instrument, construct_instrument

        try:
            data = json.loads(text)
            if exact:
                return construct_instrument(data)
            return Instrument.model_validate(data)
        except Exception:  # it no longer validates, or cannot be built: read the file
            self._forget(key)
            return None

    def put(self, key: str, instrument: Instrument) -> None:
        """Keep a validated instrument (``exact`` when building it back gives it unchanged)."""
        self.misses += 1
        if self._key is None:
            self._key = self._read_key(create=True)
        if self._key is None:  # caching is off, or the cache directory is not writable
            return
        text = json.dumps(instrument.model_dump(mode="json"), separators=(",", ":"))
        summary = [
            instrument.id,
            instrument.title,
            instrument.version,
            instrument.status,
            instrument.licensed_text is not None,
        ]
        exact = _builds_back(text, instrument)
        self._used[key] = {
            "summary": summary,
            "exact": exact,
            "definition": text,
            "digest": _digest(self._key, summary, exact, text),
        }
        self._dirty = True

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
        prune_stale(path.parent, "definitions-*.json", keep=path.name)


def prune_stale(
    folder: Path, pattern: str, *, keep: str, max_age: float = STALE_AFTER_SECONDS
) -> None:
    """Remove the cache files in ``folder`` matching ``pattern`` (a glob), except ``keep``,
    that nothing has written for ``max_age`` seconds: files of another psyq version, set
    of plugins or environment that no run has used since. Never raises."""
    cutoff = time.time() - max_age
    try:
        others = [p for p in folder.glob(pattern) if p.name != keep]
    except OSError:
        return
    for other in others:
        try:
            if other.stat().st_mtime < cutoff:
                other.unlink()
        except OSError:
            continue


def _import_models() -> None:
    """Import :mod:`psyq.models` (and pydantic) with the cyclic collector paused.

    What the import makes (modules, classes) lives until the process exits, like what
    start-up makes: :func:`psyq.cli.main` keeps the collector off while psyq starts,
    then freezes it all (``gc.freeze``) so the collector never walks it again. The
    models load after that, on first use (``psyq list`` never loads them), so here the
    same is done for them: in a process that froze its start-up, they are frozen too;
    elsewhere (a program using psyq as a library) the collector is only paused.
    """
    if "psyq.models" in sys.modules:
        return
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        import psyq.models  # noqa: F401
    finally:
        if gc.get_freeze_count():
            gc.freeze()
        if enabled:
            gc.enable()


def _digest(key: bytes, summary: list[Any], exact: bool, text: str) -> str:
    head = json.dumps([summary, exact], separators=(",", ":"))
    return blake2b(f"{head}\n{text}".encode(), key=key, digest_size=32).hexdigest()


def _builds_back(text: str, instrument: Instrument) -> bool:
    """Whether :func:`~psyq.models.construct_instrument` gives ``instrument`` back from ``text``."""
    from psyq.models import construct_instrument

    try:
        built = construct_instrument(json.loads(text))
    except Exception:  # whatever it cannot build is validated on every use instead
        return False
    return (
        built == instrument
        and _identical(built, instrument)
        # Its content hash, made from the JSON without pydantic, is the validated one's.
        and built.content_hash() == instrument.content_hash()
    )


def _identical(built: Any, validated: Any) -> bool:
    """Equal and of the same types all the way down, private attributes included.

    ``==`` alone says ``1 == 1.0`` and ``{1: x} == {1.0: x}``. A mapping or list the
    YAML loader made (a subclass carrying line numbers, kept in a field of any type)
    counts as the plain one JSON gives back.
    """
    from pydantic import BaseModel

    if isinstance(validated, BaseModel):
        return (
            type(built) is type(validated)
            and all(
                _identical(getattr(built, name), getattr(validated, name))
                for name in type(validated).model_fields
            )
            and _identical(built.__pydantic_private__, validated.__pydantic_private__)
        )
    if isinstance(validated, dict):
        return (
            type(built) is dict
            and len(built) == len(validated)
            and all(
                _identical(kb, kv) and _identical(vb, vv)
                for (kb, vb), (kv, vv) in zip(built.items(), validated.items(), strict=True)
            )
        )
    if isinstance(validated, list | tuple):
        plain = list if isinstance(validated, list) else tuple
        return (
            type(built) is plain
            and len(built) == len(validated)
            and all(_identical(b, v) for b, v in zip(built, validated, strict=True))
        )
    return type(built) is type(validated) and bool(built == validated)
