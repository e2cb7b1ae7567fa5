"""Earlier versions of psyq's built-in instruments, kept to score data stored with them.

When a definition changes its items (CCTS 0.1 -> 0.2), answers stored with the
earlier version must still be scored by that version, exactly as before. The
earlier definitions live in ``instruments/superseded/`` (package data, one
file per id and version, never listed by ``psyq list`` nor offered for new
administrations); :meth:`psyq.app.App.instrument_of` picks the one whose
id and version a stored administration names.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psyq.manager import PsyqPluginManager
    from psyq.models import Instrument


def superseded_dir() -> Path:
    return Path(str(resources.files("psyq.instruments"))) / "superseded"


@cache
def _index() -> dict[tuple[str, str], Path]:
    """(id, version) -> file, read from each file's top lines without loading it."""
    import re

    found: dict[tuple[str, str], Path] = {}
    folder = superseded_dir()
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        ident = re.search(r"^id:\s*([a-z][a-z0-9_]*)\s*$", text, re.MULTILINE)
        version = re.search(r"^version:\s*\"?([0-9A-Za-z.+-]+)\"?\s*$", text, re.MULTILINE)
        if ident and version:
            found[(ident.group(1), version.group(1))] = path
    return found


def find_version(pm: PsyqPluginManager, instrument_id: str, version: str) -> Instrument | None:
    """The superseded built-in definition of ``instrument_id`` at ``version``, if psyq has it."""
    from psyq.registry import load_instrument_file

    path = _index().get((instrument_id, version))
    if path is None:
        return None
    instrument = load_instrument_file(pm, path)
    if (instrument.id, instrument.version) != (instrument_id, version):
        return None
    return instrument
