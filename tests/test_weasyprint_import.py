"""psyq imports WeasyPrint without running the C compiler and with one ``ldconfig -p``
(plain ``import weasyprint`` ran gcc, ld and ldconfig dozens of times looking for its
libraries), and loads the very libraries a plain import loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
spawned = []
sys.addaudithook(
    lambda event, args: spawned.append([str(a) for a in args[1]])
    if event == "subprocess.Popen" else None
)
if sys.argv[1] == "psyq":
    from psyq.pdf import load_weasyprint
    load_weasyprint()
else:
    import weasyprint
from weasyprint.text import ffi
libs = sorted({
    line.split()[-1].rsplit("/", 1)[-1]
    for line in open("/proc/self/maps")
    if any(k in line for k in ("pango", "harfbuzz", "fontconfig", "gobject"))
})
print(json.dumps({"spawned": spawned, "libs": libs, "subset": ffi.harfbuzz_subset is not None}))
"""


def probe(how: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, how], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the linker cache is Linux's")
def test_weasyprint_is_imported_with_one_linker_cache_read_and_no_compiler() -> None:
    psyq, plain = probe("psyq"), probe("plain")
    programs = [args[0].rsplit("/", 1)[-1] for args in psyq["spawned"]]  # type: ignore[attr-defined]
    assert programs in ([], ["ldconfig"]), programs
    assert psyq["libs"] == plain["libs"] and psyq["libs"]
    assert psyq["subset"] == plain["subset"]
