"""``psyq serve`` and ``psyq kiosk start|status|stop``.

The web framework (Starlette, served by uvicorn) and Jinja2 are imported inside
``serve`` only, so every other command starts as fast as before.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from psyq.app import App
from psyq.errors import PsyqError
from psyq.hookspecs import hookimpl
from psyq.plugins.commands.store import clinician_option

if TYPE_CHECKING:
    from psyq.plugins.tablet.sessions import Layout

# The kiosk file module (sqlite3, hashing) loads in these commands only: start-up time.

DEFAULT_PORT = 8765


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``2h`` or plain minutes (``30``) -> seconds."""
    match = re.match(r"^\s*([0-9]+)\s*(s|m|h|)\s*$", text)
    if match is None or not match.group(1).strip("0"):
        raise click.BadParameter(f"'{text}' is not a duration such as 30m, 90s or 2h")
    unit = {"s": 1, "m": 60, "h": 3600, "": 60}[match.group(2)]
    digits = match.group(1).lstrip("0")
    # Past 4300 digits int() refuses the text; past 6 it is over 24 hours in any unit.
    seconds = int(digits) * unit if len(digits) <= 6 else 24 * 3600 + 1
    if seconds > 24 * 3600:
        raise click.BadParameter("a code may live 24h at most")
    return float(seconds)


MAX_URL = 1000
"""Far below what a QR code holds (2331 bytes at level M), with ``?lang=`` added."""


def check_url(url: str) -> None:
    """``--url``: an http(s) address tablets can open, short enough for its QR code.

    Checked before the session starts: a URL too long for a QR code was an internal
    error after the code was issued, and any scheme (``javascript:``) was printed.
    """
    from urllib.parse import urlsplit

    shown = url if len(url) <= 60 and url.isprintable() else repr(url[:57]) + "..."
    if len(url) > MAX_URL:
        raise PsyqError(f"--url: {len(url)} characters; at most {MAX_URL} are allowed")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port outside 0-65535)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or not url.isascii()
        or any(c.isspace() or not c.isprintable() for c in url)
    ):
        raise PsyqError(
            f"--url: {shown} is not an http:// or https:// address (e.g. https://10.0.0.5:8765/)"
        )


def _check_certificate(certfile: Path, keyfile: Path) -> None:
    """The TLS files load; checked before anything is stored (was '[SSL] PEM lib')."""
    import ssl
    import stat

    for option, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        # OpenSSL opens the files blocking: a FIFO given here kept serve waiting forever.
        try:
            regular = stat.S_ISREG(path.stat().st_mode)
        except OSError:
            continue  # load_cert_chain says why, below
        if not regular:
            raise PsyqError(f"{option} {path}: not a regular file; give the PEM file itself")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError, ValueError) as exc:
        why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        raise PsyqError(
            f"--certfile {certfile} and --keyfile {keyfile} are not a PEM certificate and "
            f"its private key ({why})"
        ) from None


def _check_listening(host: str, port: int) -> None:
    """``host:port`` can be listened on; checked before the tablets' URL is recorded
    (a failed serve left its URL for `kiosk start` to print, and said so in two lines)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        shown = host if len(host) <= 60 and host.isprintable() else repr(host[:57]) + "..."
        why = getattr(exc, "strerror", None) or str(exc)
        raise PsyqError(f"--host {shown}: not an address of this computer ({why})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind(address)
        except OSError as exc:
            error = PsyqError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
            error.exit_code = 1  # the machine's state (a port in use), not the command
            raise error from None


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def serve_command(
    app: App, host: str, port: int, certfile: Path | None, keyfile: Path | None
) -> None:
    """Serve the self-report pages for tablets (start sessions with `psyq kiosk start`).

    Listens on 127.0.0.1 unless --host is given. On any other address, run it only
    on a trusted network or with TLS (--certfile and --keyfile): answers travel
    over it.

    \b
    Example:
      psyq serve                                  # this computer only
      psyq serve --host 0.0.0.0 --certfile c.pem --keyfile k.pem
    """
    if (certfile is None) != (keyfile is None):
        raise PsyqError("give --certfile and --keyfile together")
    tls = certfile is not None
    if certfile is not None and keyfile is not None:
        _check_certificate(certfile, keyfile)
    _check_listening(host, port)
    if not _loopback(host):
        click.echo(
            f"psyq: warning: listening on {host}: every device that can reach it can "
            "try codes; run it only on a trusted network"
            + ("" if tls else " or behind TLS (--certfile/--keyfile)"),
            err=True,
        )
    import uvicorn

    from psyq.plugins.tablet.sessions import KioskStore, kiosk_path
    from psyq.plugins.tablet.web import create_app

    hosts = None
    if _loopback(host) and port:
        names = ("127.0.0.1", "localhost", "[::1]", host)
        hosts = frozenset(f"{name}:{port}" for name in names)
    asgi = create_app(app, tls=tls, hosts=hosts)
    scheme = "https" if tls else "http"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"{scheme}://{shown}:{port}/"
    app.private_home()  # the kiosk file is made beside the store
    with KioskStore(kiosk_path(app.store_path)) as kiosk:
        kiosk.set_meta("url", url)
    click.echo(f"psyq serve: tablets open {url} (store {app.store_path}); Ctrl-C stops")
    sys.stdout.flush()
    uvicorn.run(
        asgi,
        host=host,
        port=port,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
    )


@click.group("kiosk")
def kiosk_group() -> None:
    """Start, list and stop tablet self-report sessions (served by `psyq serve`)."""


@kiosk_group.command("start")
@click.option("--client", "client_id", required=True, metavar="ID", help="Pseudonymous id.")
@click.option(
    "--instruments", required=True, metavar="ID,ID", help="Forms to fill in, in this order."
)
@click.option("--language", metavar="TAG", help="Language of the forms and pages (es, de, ...).")
@clinician_option
@click.option(
    "--expires",
    default="30m",
    show_default=True,
    metavar="DURATION",
    help="The code works once, until then (30m, 90s, 2h).",
)
@click.option(
    "--layout",
    type=click.Choice(["auto", "item", "form"]),
    default="auto",
    show_default=True,
    help="One item per screen, the whole form on one page, or auto: whole form up to 10 items.",
)
@click.option("--url", metavar="URL", help="Address tablets open (default: where serve runs).")
@click.option("--qr/--no-qr", default=True, show_default=True, help="Print a QR code of the URL.")
@click.pass_obj
def kiosk_start(
    app: App,
    client_id: str,
    instruments: str,
    language: str | None,
    clinician: str | None,
    expires: str,
    layout: Layout,
    url: str | None,
    qr: bool,
) -> None:
    """Start a session: prints a one-time code for the client to type on the tablet.

    \b
    Example:
      psyq kiosk start --client C0042 --instruments phq9,gad7 --language es
    """
    from psyq.clients import check_client_id
    from psyq.i18n import instrument_in, primary, ui_languages
    from psyq.plugins.tablet.sessions import (
        DEFAULT_EXPIRES_S,
        KioskStore,
        audit_kiosk,
        kiosk_path,
        show_code,
    )

    check_client_id(client_id)
    if url is not None:
        check_url(url)
    seconds = parse_duration(expires) if expires else DEFAULT_EXPIRES_S
    ids = [part.strip() for part in instruments.split(",") if part.strip()]
    if not ids:
        raise PsyqError("--instruments: name at least one instrument (phq9,gad7)")
    forms = [app.instrument(i) for i in ids]
    for instrument in forms:
        instrument_in(app, instrument, language)  # no complete translation: fail now
    canonical = [i.id for i in forms]
    if len(set(canonical)) != len(canonical):
        raise PsyqError("--instruments: an instrument is listed twice")
    if language and primary(language) not in ui_languages():
        click.echo(
            f"psyq: warning: the forms are in '{language}', but psyq's own page strings "
            f"(buttons, messages) have no '{language}' catalogue and show in English",
            err=True,
        )
    app.private_home()  # the kiosk file is made beside the store
    with KioskStore(kiosk_path(app.store_path)) as kiosk:
        session, code = kiosk.start(
            client_id=client_id,
            instruments=canonical,
            language=language,
            clinician=clinician,
            expires_s=seconds,
            layout=layout,
        )
        url = url or kiosk.meta("url") or f"http://127.0.0.1:{DEFAULT_PORT}/"
    if language:
        url += f"?lang={language}"  # the welcome page in the client's language too
    with app.open_store() as store:
        audit_kiosk(store, "kiosk start", session)
    until = time.strftime("%H:%M", time.localtime(session.expires_at))
    click.echo(f"kiosk session {session.id} for client {client_id}: {', '.join(canonical)}")
    click.echo(f"code: {show_code(code)}  (works once; expires at {until})")
    click.echo(f"on the tablet open: {url}")
    if qr:
        import segno

        segno.make(url, error="m").terminal(compact=True)


@kiosk_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per session.")
@click.option("--all", "show_all", is_flag=True, help="Also sessions older than a day.")
@click.option("--language", metavar="TAG", help="psyq's own words in this language (es, de, ...).")
@click.argument("session_id", type=int, required=False)
@click.pass_obj
def kiosk_status(
    app: App, as_json: bool, show_all: bool, language: str | None, session_id: int | None
) -> None:
    """List kiosk sessions: state, each form's progress and every flag.

    Flag messages are the instruments' own; --language translates psyq's words.
    """
    from psyq.i18n import primary, ui_language, ui_languages
    from psyq.plugins.tablet.clinician import session_json, status_lines
    from psyq.plugins.tablet.sessions import KioskStore, kiosk_path

    if language and primary(language) not in ui_languages():
        known = ", ".join(ui_languages()) or "none"
        raise PsyqError(f"--language: psyq has no '{language}' catalogue (available: {known})")
    _ = ui_language(language).gettext

    app.private_home()  # the kiosk file is made beside the store
    with KioskStore(kiosk_path(app.store_path)) as kiosk, app.open_store() as store:
        if session_id is not None:
            sessions = [kiosk.get(session_id)]
        else:
            since = time.time() - 24 * 3600
            sessions = [s for s in kiosk.all() if show_all or s.created_at >= since]
        if as_json:
            click.echo(json.dumps([session_json(s, store, app) for s in sessions], indent=2))
            return
        if not sessions:
            click.echo(_("no kiosk sessions (start one with `psyq kiosk start`)"))
        for session in sessions:
            for line in status_lines(session, store, _, app):
                click.echo(line)


@kiosk_group.command("stop")
@click.argument("session_id", type=int)
@click.pass_obj
def kiosk_stop(app: App, session_id: int) -> None:
    """End a session now: its code and its tablet stop working; answers stay saved."""
    from psyq.plugins.tablet.clinician import status_lines
    from psyq.plugins.tablet.sessions import KioskError, KioskStore, audit_kiosk, kiosk_path

    app.private_home()  # the kiosk file is made beside the store
    with KioskStore(kiosk_path(app.store_path)) as kiosk:
        session = kiosk.get(session_id)
        if session.state not in ("waiting", "active"):
            raise KioskError(f"kiosk session {session_id} has already ended ({session.state})")
        session = kiosk.end(session_id, "stopped")
    with app.open_store() as store:
        audit_kiosk(store, "kiosk stop", session)
        for line in status_lines(session, store, app=app):
            click.echo(line)


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [serve_command, kiosk_group]
