"""psyq-example-plugin: a worked example of a third-party psyq plugin.

The hook implementations live in :mod:`psyq_example.plugin`, the module the
``psyq`` entry point names. This package module imports nothing heavy, so
installing the plugin does not slow down ``psyq list``.
"""

__version__ = "0.1.0"
