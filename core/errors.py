"""Errors meant for people.

Every error a user can cause is a :class:`PsyqError`: the CLI prints its
message as one line on stderr and exits with :attr:`PsyqError.exit_code`,
with no traceback. Messages name the file, line, item or row at fault, what
was expected, and what to do.
"""

from __future__ import annotations


class PsyqError(Exception):
    """A mistake in input that the user can fix; printed as one line."""

    exit_code: int = 2


class DefinitionError(PsyqError):
    """An instrument definition file is malformed or inconsistent.

    The message is one line (the first problem, and how many more); ``problems``
    lists every problem found, one line each, for ``psyq validate``.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems or [message]


class AnswerError(PsyqError):
    """An answer is out of range, not a number, or names an unknown item."""


class UnknownInstrumentError(PsyqError):
    """No loaded source provides the requested instrument id."""


class DuplicateError(PsyqError):
    """Two sources or plugins provide the same name."""


class PluginError(PsyqError):
    """A third-party plugin failed (raised only in strict mode or while scoring)."""

    exit_code = 1


class PluginHookError(PluginError):
    """A third-party hook implementation raised while psyq called it.

    The message names the plugin (entry point and distribution), the hook and
    how to disable the plugin; ``original`` is the exception it raised (its
    traceback is printed with ``PSYQ_STRICT_PLUGINS=1`` or ``PSYQ_DEBUG=1``).
    """

    def __init__(self, message: str, *, plugin: str, hook: str, original: BaseException) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.hook = hook
        self.original = original
