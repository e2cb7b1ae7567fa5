"""Where psyq keeps its data: ``$PSYQ_HOME``, else the platform's user data dir."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The data directory (not created here)."""
    env = os.environ.get("PSYQ_HOME", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs  # only when PSYQ_HOME is unset

    return Path(platformdirs.user_data_dir("psyq", appauthor=False))
