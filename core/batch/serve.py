"""Imported first by the local executor's fork server (see
:mod:`psyq.batch.executors`), before any other preloaded module.

The fork server restores, in every worker it forks, the signal handlers it
found when it started serving. Ignoring SIGINT here makes every worker born
ignoring Ctrl-C, so a Ctrl-C that reaches a worker in the milliseconds between
its fork and its initializer cannot kill it with a traceback and break the pool;
the parent alone decides how a batch stops. (The server itself ignores SIGINT
in any case.)

Where the batch turned pydantic's plugin discovery off (the ``psyq`` command
does), the server skips it too (:func:`psyq.launch.skip_pydantic_plugin_discovery`).

Nothing else imports it: its import is its effect.
"""

from __future__ import annotations

import signal

from psyq.launch import skip_pydantic_plugin_discovery

signal.signal(signal.SIGINT, signal.SIG_IGN)
skip_pydantic_plugin_discovery(switch_on=False)
