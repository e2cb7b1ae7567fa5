"""Commands that do not render must not import heavy libraries (start-up time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# psyq.report too: the report machinery loads with the first report, not at start-up.
HEAVY = ("weasyprint", "numpy", "dask", "pandas", "jinja2", "psyq.report")

SCRIPT = """
import sys
from psyq.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [["list"], ["score", "phq9", "--answers", "1,1,1,1,1,1,1,1,1"], ["show", "ccts"], ["--help"]],
)
def test_non_rendering_commands_import_nothing_heavy(args: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "PSYQ_HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=HEAVY), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    marker = [line for line in run.stderr.splitlines() if line.startswith("HEAVY:")]
    assert marker == ["HEAVY:"], run.stderr
