"""Plugins 'installed' the way pip would: a dist-info with an entry point, on PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def install_plugin(
    site: Path,
    name: str,
    source: str,
    *,
    dist: str | None = None,
    version: str = "1.0",
    files: dict[str, str] | None = None,
) -> None:
    """Write module ``psyq_NAME`` and a dist-info whose ``psyq`` entry point ``NAME`` names it.

    ``files`` are extra files (path relative to ``site`` -> text), such as an
    instrument directory the plugin points at.
    """
    dist = dist or "psyq-" + name.replace("_", "-")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[psyq]\n{name} = psyq_{name}\n")
    (site / f"psyq_{name}.py").write_text(source)
    for relative, text in (files or {}).items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def plugin_env(tmp_path: Path, site: Path, **extra: str) -> dict[str, str]:
    """Environment for a psyq subprocess that sees the plugins installed in ``site``."""
    env = {**os.environ, "PYTHONPATH": str(site), "PSYQ_HOME": str(tmp_path / "home")}
    for name in ("PSYQ_STRICT_PLUGINS", "PSYQ_DISABLE_PLUGINS", "PSYQ_DEBUG"):
        env.pop(name, None)
    env.update(extra)
    return env


def run_psyq(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    """``python -m psyq ARGS`` in a subprocess, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "psyq", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def installed_broken_plugin(tmp_path: Path, source: str) -> dict[str, str]:
    """Environment for a psyq subprocess that finds plugin ``broken_demo`` (module ``source``)."""
    site = tmp_path / "site"
    install_plugin(site, "broken_demo", source)
    return plugin_env(tmp_path, site)
