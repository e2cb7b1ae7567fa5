"""The ``psyq`` command line: a click group whose commands come from plugins.

``create_cli(pm)`` builds the group for one plugin manager (tests build their
own); ``main()`` is the console-script entry point. A :class:`PsyqError`
raised anywhere under a command is printed as one ``psyq: error: ...`` line
with its exit code and no traceback. A plugin's bug (a hook that raises, or a
plugin's command that does) is a :class:`PluginHookError` naming the plugin;
``PSYQ_STRICT_PLUGINS=1`` or ``PSYQ_DEBUG=1`` adds its traceback.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from psyq import __version__
from psyq.app import App
from psyq.errors import PluginHookError, PsyqError
from psyq.launch import skip_pydantic_plugin_discovery
from psyq.manager import PsyqPluginManager, create_plugin_manager, first_line


def one_line(message: str) -> str:
    """``message`` with every line break or control character escaped (``\\n``, ``\\x1b``):
    text a user gave (an --id, a form name, a file name) quoted in an error could break
    the one line, or send the terminal an escape sequence."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


class UserError(click.ClickException):
    """A :class:`PsyqError` on its way out of click: one line, its exit code."""

    def __init__(self, error: PsyqError) -> None:
        super().__init__(str(error))
        self.exit_code: int = error.exit_code  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        click.echo(f"psyq: error: {one_line(self.format_message())}", err=True)


def show_traceback() -> bool:
    """``PSYQ_DEBUG`` or ``PSYQ_STRICT_PLUGINS`` asks for tracebacks of plugin errors."""
    return any(
        os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
        for name in ("PSYQ_DEBUG", "PSYQ_STRICT_PLUGINS")
    )


# `psyq audit` alone prints the group's help, as it should: not an error to shorten.
_SHOWS_HELP: tuple[type[Exception], ...] = tuple(
    cls for cls in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if cls is not None
)


class OneLineUsageError(click.UsageError):
    """Click's usage error as psyq's one line: what is wrong, the suggestion, where help is."""

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(error.format_message(), error.ctx)

    def show(self, file: Any = None) -> None:
        message = one_line(self.format_message().strip().replace("\n", " "))
        where = self.ctx.command_path if self.ctx is not None else "psyq"
        click.echo(f"psyq: error: {message} (see `{where} --help`)", err=True)


class PsyqGroup(click.Group):
    #: command name -> the third-party plugin that registered it
    providers: dict[str, str]
    pm: PsyqPluginManager | None = None
    #: let a plugin's bug propagate (psyq.testing's psyq_cli: pytest shows its traceback)
    reraise_plugin_errors = False

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            if isinstance(exc, _SHOWS_HELP):
                raise
            raise OneLineUsageError(exc) from exc

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:  # only the command that runs, not all of them at start-up
            refuse_undecodable_text(command)
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PluginHookError as exc:
            if self.reraise_plugin_errors:
                raise
            if show_traceback():
                import traceback

                traceback.print_exception(exc.original, file=sys.stderr)
            raise UserError(exc) from exc
        except PsyqError as exc:
            raise UserError(exc) from exc
        except OneLineUsageError:
            raise
        except click.UsageError as exc:  # a sub-command's options or arguments
            if isinstance(exc, _SHOWS_HELP):
                raise
            raise OneLineUsageError(exc) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            damaged = _damaged_store(ctx, exc)
            if damaged is not None:
                raise UserError(damaged) from exc
            plugin = getattr(self, "providers", {}).get(ctx.invoked_subcommand or "")
            if plugin is None or self.pm is None:
                raise
            error = PluginHookError(
                f"{self.pm.describe(plugin)} raised {type(exc).__name__}: {first_line(exc)} in its "
                f"command '{ctx.invoked_subcommand}'; {self.pm.disable_hint(plugin)} "
                "(PSYQ_DEBUG=1 prints the traceback)",
                plugin=plugin,
                hook="psyq_register_commands",
                original=exc,
            )
            if self.reraise_plugin_errors:
                raise error from exc
            if show_traceback():
                import traceback

                traceback.print_exception(exc, file=sys.stderr)
            raise UserError(error) from exc


def _damaged_store(ctx: click.Context, exc: Exception) -> PsyqError | None:
    """A SQLite error reading the store (a table or column psyq made dropped or altered
    with the sqlite3 shell) as one line naming the store, not an internal error."""
    sqlite3 = sys.modules.get("sqlite3")  # loaded only if a command opened the store
    if sqlite3 is None or not isinstance(exc, sqlite3.DatabaseError):
        return None
    from psyq.store import TamperedError

    app = ctx.find_object(App)
    where = f"{app.store_path}: " if app is not None else ""
    return TamperedError(
        f"{where}the store cannot be read ({first_line(exc)}): a table, column or index psyq "
        "made was dropped or changed outside psyq; `psyq audit verify` names what changed"
    )


HELP = """psyq: score psychometric questionnaires, keep client history, write reports.

\b
Quick start:
  psyq list                         instruments available
  psyq score phq9 --answers 1,2,0,1,1,0,2,1,0
  psyq demo                         score sample data and write reports
"""


def create_cli(pm: PsyqPluginManager, app: App | None = None) -> click.Group:
    """Build the ``psyq`` group with every command the plugins register."""
    app = app or App(pm)

    @click.group(cls=PsyqGroup, help=HELP, context_settings={"obj": app})
    @click.version_option(__version__, "--version", prog_name="psyq")
    @click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        help="SQLite store to use (default: $PSYQ_HOME/psyq.db).",
    )
    @click.option(
        "--audit-key",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Audit key file (default: $PSYQ_AUDIT_KEY, else audit.key in the data dir).",
    )
    @click.pass_obj
    def cli(obj: App, db: Path | None, audit_key: Path | None) -> None:
        if db is not None:
            obj.db_path = db
        if audit_key is not None:
            obj.audit_key_path = audit_key

    commands = pm.collect_owned("psyq_register_commands", "command")
    assert isinstance(cli, PsyqGroup)
    cli.pm = pm
    cli.providers = {}
    for name, (plugin, command) in commands.items():
        cli.add_command(command)
        if not pm.is_builtin(plugin):
            cli.providers[name] = plugin
    return cli


def refuse_undecodable_text(command: click.Command) -> None:
    """Make ``command`` (and every sub-command) refuse text arguments that are not UTF-8
    (done by :meth:`PsyqGroup.resolve_command` for the command about to run).

    Python gives bytes that are not UTF-8 (a Latin-1 terminal, a script) to psyq as
    lone surrogates, which SQLite, pydantic and every file write refuse deep inside:
    ``--note`` or ``--clinician`` so typed was an internal error. A path (a
    ``click.Path`` option, or any argument naming an existing file) may be such bytes.
    """
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            refuse_undecodable_text(sub)
    callback = command.callback
    if callback is None or getattr(callback, "_psyq_checks_text", False):
        return
    params = {p.name: p for p in command.params if p.name}
    for param in command.params:
        if isinstance(param.type, click.types.IntParamType | click.types.FloatParamType):
            _digits_only(param)

    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for name, value in kwargs.items():
            param = params.get(name)
            if param is not None and not isinstance(param.type, click.Path | click.File):
                _check_text(param, value)
        return callback(*args, **kwargs)

    checked._psyq_checks_text = True  # type: ignore[attr-defined]
    command.callback = checked


def _digits_only(param: click.Parameter) -> None:
    """Make ``param``, a number, refuse digits other than 0-9: Python's int() and
    float() read full-width ``３`` or Arabic-Indic ``٣`` as 3, so ``--resume ３`` went
    to administration 3 and ``--port ８０`` served on port 80, never as typed."""
    cast = param.type_cast_value

    def checked(ctx: click.Context, value: Any) -> Any:
        for text in value if isinstance(value, tuple | list) else (value,):
            if isinstance(text, str) and not text.isascii():
                shown = repr(text if len(text) <= 40 else text[:37] + "...")
                raise click.BadParameter(
                    f"{shown} is not a number written in the digits 0-9", ctx=ctx, param=param
                )
        return cast(ctx, value)

    param.type_cast_value = checked  # type: ignore[method-assign]


def _check_text(param: click.Parameter, value: Any) -> None:
    for text in value if isinstance(value, tuple | list) else (value,):
        if not isinstance(text, str) or text.isascii():
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            if os.path.lexists(text):
                continue  # a file whose name is in another encoding: still a path
            name = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
            shown = repr(text if len(text) <= 40 else text[:37] + "...")
            raise PsyqError(
                f"{name}: {shown} is not UTF-8 text (the terminal or script uses another "
                "encoding); set it to UTF-8 and give it again"
            ) from None


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line (the ``psyq`` command enters through :func:`psyq.launch.main`,
    which has already done the first two steps here; repeated, they do nothing)."""
    skip_pydantic_plugin_discovery()
    args = list(argv) if argv is not None else sys.argv[1:]
    if args[:1] == ["batch"]:  # its workers warm up while this process starts
        from psyq.batch.executors import start_early

        start_early(args[1:])
    # Start-up creates tens of thousands of objects that live until the process exits
    # (modules, classes, plugin records) and next to no garbage: the cyclic collector
    # would walk them again and again for nothing. It is off while psyq starts; then
    # what start-up made is frozen (never walked again) and the collector is back on.
    gc.disable()
    try:
        pm = create_plugin_manager()
        cli = create_cli(pm)
    except PsyqError as exc:
        click.echo(f"psyq: error: {one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    finally:
        gc.freeze()
        gc.enable()
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="psyq")
    except OSError as exc:  # the machine's state (disk full, read-only), not a bug
        if os.environ.get("PSYQ_DEBUG"):
            raise
        from psyq.files import PATH_ERRNOS

        where = f"{exc.filename}: " if exc.filename is not None else ""
        click.echo(f"psyq: error: {one_line(f'{where}{exc.strerror or exc}')}", err=True)
        sys.exit(2 if exc.errno in PATH_ERRNOS else 1)  # a path given wrong is a usage error
    except Exception as exc:  # a bug, not a user mistake: say so in one line
        if os.environ.get("PSYQ_DEBUG"):
            raise
        click.echo(
            f"psyq: internal error: {type(exc).__name__}: {exc} "
            "(this is a bug in psyq or a plugin; set PSYQ_DEBUG=1 for the traceback)",
            err=True,
        )
        sys.exit(1)
    finally:
        # Everything alive now lives until exit: freezing it spares the interpreter's
        # shutdown a last walk over every object (about a tenth of `psyq score`).
        gc.freeze()
