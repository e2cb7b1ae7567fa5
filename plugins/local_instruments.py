"""The local instrument pack: every definition file in ``$PSYQ_HOME/instruments/``.

A clinic's own drafts (``psyq import-fhir``, ``psyq import-redcap``) become
instruments like any other once copied there, listed by ``psyq list`` with
source ``local``. A broken file there is skipped with a warning line, as a
broken file in a plugin's pack is.
"""

from __future__ import annotations

from psyq.hookspecs import hookimpl
from psyq.paths import data_dir
from psyq.registry import InstrumentSource

LOCAL_SOURCE = "local"


@hookimpl
def psyq_instrument_sources() -> list[InstrumentSource]:
    folder = data_dir() / "instruments"
    if not folder.is_dir():
        return []
    return [InstrumentSource(name=LOCAL_SOURCE, path=folder)]
