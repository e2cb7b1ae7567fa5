"""psyq: a plugin-based psychometric questionnaire engine.

Core holds the instrument models, the hookspecs, the plugin manager and the
scoring pipeline. Everything else is a default plugin in :mod:`psyq.plugins`.

Plugin authors need only ``from psyq import hookimpl`` (and ``for_instruments``
to scope a hook implementation to some instruments).
"""

from psyq.hookspecs import hookimpl
from psyq.scope import for_instruments

__version__ = "0.1.0"

__all__ = ["__version__", "for_instruments", "hookimpl"]
