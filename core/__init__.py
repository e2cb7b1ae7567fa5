"""psyq: a plugin-based psychometric questionnaire engine.

Core holds the instrument models, the hookspecs, the plugin manager and the
scoring pipeline. Everything else is a default plugin in :mod:`psyq.plugins`.

Plugin authors need only ``from psyq import hookimpl`` (and ``for_instruments``
to scope a hook implementation to some instruments).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from psyq.hookspecs import hookimpl
    from psyq.scope import for_instruments

__version__ = "0.1.0"

__all__ = ["__version__", "for_instruments", "hookimpl"]


def __getattr__(name: str) -> Any:
    # Loaded on first use (PEP 562), so that importing psyq loads nothing else: the
    # `psyq` command starts a batch's fork server before anything loads (psyq.launch).
    found: Any
    if name == "hookimpl":
        from psyq.hookspecs import hookimpl as found
    elif name == "for_instruments":
        from psyq.scope import for_instruments as found
    else:
        raise AttributeError(f"module 'psyq' has no attribute {name!r}")
    globals()[name] = found
    return found
