"""Where psyq keeps its data and its caches.

Data: ``$PSYQ_HOME``, else the user data folder platformdirs names
(``~/.local/share/psyq`` on Linux). Caches: ``$PSYQ_CACHE_DIR``, else the user
cache folder (``~/.cache/psyq``); see :func:`psyq.definition_cache.cache_dir`.

On Linux the two folders follow the XDG Base Directory rules, as platformdirs
applies them: ``$XDG_DATA_HOME`` / ``$XDG_CACHE_HOME`` when set to an absolute
path, else ``~/.local/share`` / ``~/.cache``. psyq works that out itself there,
because importing platformdirs (which loads tempfile, shutil and random) cost
about 7 ms of every command's start-up; tests/test_paths.py checks the answer
against platformdirs'. Anything else (another system, Android, a relative
``HOME``) asks platformdirs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

# (XDG variable, default below the home folder) for each kind of folder.
_XDG = {"data": ("XDG_DATA_HOME", "~/.local/share"), "cache": ("XDG_CACHE_HOME", "~/.cache")}


def data_dir() -> Path:
    """The data directory (not created here)."""
    env = os.environ.get("PSYQ_HOME", "").strip()
    if env:
        return Path(env).expanduser()
    return user_dir("data")


def user_dir(kind: Literal["data", "cache"]) -> Path:
    """psyq's folder of this kind for the user, as ``platformdirs.user_<kind>_dir("psyq")``."""
    base = _xdg_base(kind)
    if base is not None:
        return Path(base, "psyq")
    import platformdirs

    if kind == "cache":
        return Path(platformdirs.user_cache_dir("psyq", appauthor=False))
    return Path(platformdirs.user_data_dir("psyq", appauthor=False))


def _xdg_base(kind: Literal["data", "cache"]) -> str | None:
    """The XDG base folder on plain Linux, or ``None`` where platformdirs must decide."""
    android = hasattr(sys, "getandroidapilevel") or "ANDROID_DATA" in os.environ
    if sys.platform != "linux" or android:
        return None
    variable, default = _XDG[kind]
    base = os.environ.get(variable, "")
    if os.path.isabs(base):
        return base
    home = os.environ.get("HOME")
    if home is not None and not os.path.isabs(home):
        return None  # platformdirs has its own rule for a relative HOME
    expanded = os.path.expanduser(default)
    return expanded if os.path.isabs(expanded) else None
