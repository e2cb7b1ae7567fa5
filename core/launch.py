"""The ``psyq`` command's entry point (and ``python -m psyq``'s): as little as
possible runs before the command line is read.

``psyq batch`` starts its fork server here, before psyq, click, pluggy or
pydantic load in this process, so that the server's own start-up (importing the
worker and WeasyPrint, compiling the report templates) begins as early as it can:
every worker waits for it, with one job or many.
:func:`psyq.cli.main` is the command line itself.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: ``psyq ARGS``."""
    # Start-up makes objects that live until exit and next to no garbage: the cyclic
    # collector stays off until the command line is built (psyq.cli.main freezes what
    # start-up made, then turns it back on), so loading click and psyq runs no collection.
    gc.disable()
    skip_pydantic_plugin_discovery()
    args = list(argv) if argv is not None else sys.argv[1:]
    if args[:1] == ["batch"]:  # its workers warm up while this process starts
        from psyq.batch.executors import start_early

        start_early(args[1:])
    from psyq.cli import main as command_line

    command_line(argv)


# Values of PYDANTIC_DISABLE_PLUGINS with which pydantic loads no plugin at all.
_NO_PYDANTIC_PLUGINS = ("__all__", "1", "true")


def skip_pydantic_plugin_discovery(*, switch_on: bool = True) -> None:
    """Start pydantic without looking for pydantic plugins, unless the user asks for them.

    On its first model, pydantic imports :mod:`importlib.metadata` (email, zipfile, ...)
    and reads every installed distribution's entry points for the ``pydantic`` group:
    about 15 ms of ``psyq score``'s and ``psyq show``'s start-up, for plugins psyq does
    not use. ``PYDANTIC_DISABLE_PLUGINS`` is pydantic's own switch; psyq sets it to
    ``__all__`` unless it is set already (``PYDANTIC_DISABLE_PLUGINS=`` turns pydantic
    plugins back on). The switch skips the scan but pydantic's loader module still
    imports importlib.metadata, so while it is on, that module is replaced by one
    whose ``get_plugins()`` returns none, as the real one then does; any other name
    asked of it loads the real module.

    ``switch_on=False`` leaves the environment as it is, and replaces the module only
    if the switch is already on (a batch's fork server: its workers compare their
    environment with the batch's).
    """
    if switch_on:
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    name = "pydantic.plugin._loader"
    switch = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    if switch not in _NO_PYDANTIC_PLUGINS or name in sys.modules:
        return
    import types

    def real(attribute: str) -> Any:
        if attribute.startswith("__"):  # what the import system asks of any module
            raise AttributeError(attribute)
        del sys.modules[name]
        import importlib

        return getattr(importlib.import_module(name), attribute)

    loader = types.ModuleType(name, "pydantic plugins are off (PYDANTIC_DISABLE_PLUGINS)")
    loader.get_plugins = tuple  # type: ignore[attr-defined]
    loader.__getattr__ = real  # type: ignore[method-assign]
    sys.modules[name] = loader
