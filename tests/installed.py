"""A plugin 'installed' the way pip would: a dist-info with an entry point, on PYTHONPATH."""

from __future__ import annotations

import os
from pathlib import Path


def installed_broken_plugin(tmp_path: Path, source: str) -> dict[str, str]:
    """Environment for a psyq subprocess that finds plugin ``broken_demo`` (module ``source``)."""
    site = tmp_path / "site"
    dist = site / "psyq_broken_demo-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: psyq-broken-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[psyq]\nbroken_demo = psyq_broken_demo\n")
    (site / "psyq_broken_demo.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(site), "PSYQ_HOME": str(tmp_path / "home")}
    env.pop("PSYQ_STRICT_PLUGINS", None)
    env.pop("PSYQ_DISABLE_PLUGINS", None)
    return env
