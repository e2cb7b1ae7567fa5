"""Report templates compiled once and kept between runs.

Compiling psyq's report templates (every section, the layout) is a process's
largest cost before its first report after importing WeasyPrint: Jinja2 parses
each template, generates Python source and compiles it. The batch's fork server
pays it before any worker can start, and every ``psyq report`` pays it again.
:func:`compile_template` keeps the compiled code (``marshal``, Python's own
format for compiled code, as in ``__pycache__``) in the user cache directory
beside the definitions cache (``PSYQ_CACHE_DIR`` moves both, ``PSYQ_NO_CACHE=1``
turns both off), so later processes only load it:

* an entry is named by a keyed BLAKE2b digest of the template's source and of
  everything else that decides the code Jinja2 generates: Jinja2's version,
  Python's bytecode version, the environment's syntax and whitespace options,
  its autoescaping, and the names of its filters and tests (Jinja2 checks
  at compile time that a filter exists). An environment with a ``finalize``
  function, extensions or autoescaping chosen per template is not cached;
* an entry's content is signed with the same key (``definitions.key``,
  random, 0600): loading compiled code runs it, so only code psyq compiled and
  signed itself is ever loaded. A damaged, hand-edited or planted entry is a
  miss: the template is compiled again and the entry rewritten;
* entries are written atomically, 0600 in a 0700 folder, and an entry not
  rewritten for a month is removed when another is written;
* a template that fails to compile is never cached: its error comes every time.

The cache is an optimisation only: an unreadable or unwritable cache folder,
or any entry that cannot be loaded, means compiling as without it.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

FORMAT = 1
FOLDER = "templates"
SUFFIX = ".jinja-code"
TAG_BYTES = 32
STALE_AFTER_SECONDS = 30 * 24 * 3600
MAX_ENTRY_BYTES = 16 << 20


def compile_template(env: jinja2.Environment, source: str) -> jinja2.Template:
    """``env.from_string(source)``, with the compiled code loaded from the cache when
    an intact entry exists, and kept there when it does not.

    Raises what ``from_string`` raises for a template that does not compile.
    """
    cache = _Entry.find(env, source)
    if cache is not None:
        code = cache.load()
        if code is not None:
            try:
                return _template(env, code)
            except Exception:  # an entry that cannot run is a miss
                pass
    code = env.compile(source)
    if cache is not None:
        cache.store(code)
    return _template(env, code)


def _template(env: jinja2.Environment, code: Any) -> jinja2.Template:
    return env.template_class.from_code(env, code, env.make_globals(None), None)


class _Entry:
    """One template's place in the cache."""

    def __init__(self, folder: Path, key: bytes | None, identity: bytes) -> None:
        self.folder = folder
        self.key = key
        self.identity = identity

    @classmethod
    def find(cls, env: jinja2.Environment, source: str) -> _Entry | None:
        """The entry for ``source`` compiled by ``env``, or ``None`` when not cached."""
        from psyq.definition_cache import cache_dir, read_cache_key

        identity = _identity(env, source)
        folder = cache_dir()
        if identity is None or folder is None:
            return None
        return cls(folder / FOLDER, read_cache_key(folder, create=False), identity)

    def _name(self, key: bytes) -> str:
        import hashlib

        return hashlib.blake2b(self.identity, key=key, digest_size=32).hexdigest() + SUFFIX

    def _tag(self, key: bytes, name: str, payload: bytes) -> bytes:
        import hashlib

        signed = name.encode() + b"\0" + payload
        return hashlib.blake2b(signed, key=key, digest_size=TAG_BYTES).digest()

    def load(self) -> Any:
        """The compiled code of an intact entry, or ``None``."""
        if self.key is None:  # no key: nothing can be trusted
            return None
        import marshal
        import types

        name = self._name(self.key)
        try:
            with open(self.folder / name, "rb") as fh:
                data = fh.read(MAX_ENTRY_BYTES + 1)
        except OSError:
            return None
        tag, payload = data[:TAG_BYTES], data[TAG_BYTES:]
        if len(data) > MAX_ENTRY_BYTES or not hmac.compare_digest(
            tag, self._tag(self.key, name, payload)
        ):
            return None
        try:
            code = marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            return None
        return code if isinstance(code, types.CodeType) else None

    def store(self, code: Any) -> None:
        """Keep ``code``, signed; never raises."""
        import marshal

        from psyq.definition_cache import prune_stale, read_cache_key
        from psyq.files import private_dir, write_atomic

        try:
            key = self.key or read_cache_key(self.folder.parent, create=True)
            if key is None:
                return
            name = self._name(key)
            payload = marshal.dumps(code)
            write_atomic(private_dir(self.folder) / name, self._tag(key, name, payload) + payload)
        except (OSError, ValueError):
            return
        prune_stale(self.folder, f"*{SUFFIX}", keep=name, max_age=STALE_AFTER_SECONDS)


def _identity(env: jinja2.Environment, source: str) -> bytes | None:
    """What decides the code ``env`` compiles ``source`` to, or ``None`` when that
    depends on more than psyq can name (then the template is not cached)."""
    import importlib.util

    import jinja2
    from jinja2.compiler import CodeGenerator

    if env.finalize is not None or env.extensions or not isinstance(env.autoescape, bool):
        return None
    if type(env) is not jinja2.Environment or env.code_generator_class is not CodeGenerator:
        return None
    options = [
        FORMAT,
        jinja2.__version__,
        importlib.util.MAGIC_NUMBER.hex(),
        env.block_start_string,
        env.block_end_string,
        env.variable_start_string,
        env.variable_end_string,
        env.comment_start_string,
        env.comment_end_string,
        env.line_statement_prefix,
        env.line_comment_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.newline_sequence,
        env.keep_trailing_newline,
        env.autoescape,
        env.optimized,
        env.is_async,
        sorted(env.filters),
        sorted(env.tests),
    ]
    return json.dumps(options).encode() + b"\0" + source.encode("utf-8", "surrogatepass")
