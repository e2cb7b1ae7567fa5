"""An installed plugin that is broken leaves every command working, with one warning line.

Through real package metadata (a dist-info with an entry point on PYTHONPATH), in
subprocesses, as a user would meet it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .installed import installed_broken_plugin

BROKEN = {
    "import": "import not_a_real_module_xyz\n",
    "hook": (
        "from psyq import hookimpl\n\n"
        "@hookimpl\n"
        "def psyq_register_commands():\n"
        "    raise RuntimeError('no commands today')\n\n"
        "@hookimpl\n"
        "def psyq_output_formats():\n"
        "    raise RuntimeError('no formats today')\n"
    ),
}

COMMANDS = [
    ["list"],
    ["show", "phq9"],
    ["score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0"],
    ["score", "gad7", "--answers", "1,1,1,1,1,1,1", "--json"],
    ["validate"],
    ["schema"],
    ["plugins", "--all"],
    ["--help"],
    ["new-plugin", "fine", "--dir", "{tmp}"],
]


@pytest.mark.parametrize("kind", sorted(BROKEN))
@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_every_command_works_with_one_warning(tmp_path: Path, kind: str, args: list[str]) -> None:
    env = installed_broken_plugin(tmp_path, BROKEN[kind])
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    run = subprocess.run(
        [sys.executable, "-m", "psyq", *argv], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()
    warnings = run.stderr.strip().splitlines()
    assert len(warnings) == 1, run.stderr
    assert warnings[0].startswith("psyq: warning: plugin 'broken_demo' failed and was skipped: ")
    assert "Traceback" not in run.stderr
