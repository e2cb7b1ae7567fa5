"""Preloaded by the local executor's fork server (see
:mod:`psyq.batch.executors`): importing this module does, once, the start-up
work every rendering worker would otherwise repeat (importing psyq's batch
worker and WeasyPrint, building the font configuration and the plugin manager,
parsing the report stylesheet, compiling the report templates, loading the
fonts). Workers forked from the server start warm.

The garbage collector is off while it runs: the warm-up makes next to no
garbage, and every worker waits for it. Then everything it loaded is frozen
(:func:`gc.freeze`), so a worker's collections never walk those objects: they
take less time, and do not write to (so copy) the memory pages that workers
share with the server.

Nothing else imports it: its import is its effect.
"""

from __future__ import annotations

import gc
from contextlib import suppress


def _warm() -> None:
    from psyq.batch.worker import preload
    from psyq.pdf import quiet_subsetting_warning, warm_up

    quiet_subsetting_warning()  # the batch's parent warns once; workers stay quiet
    # A renderer that cannot start is reported, with its own message, by the worker
    # that renders; the fork server itself must stay up.
    with suppress(Exception):
        warm_up()
    with suppress(Exception):  # a local pack or plugin may change PHQ-9: workers build their own
        preload()


gc.disable()
try:
    _warm()
finally:
    gc.freeze()
    gc.enable()
