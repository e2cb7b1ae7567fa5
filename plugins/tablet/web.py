"""The tablet web application (Starlette; imported only by ``psyq serve``).

Pages are rendered on the server with Jinja2 (autoescape on, so instrument text
from any plugin stays inert) and work without JavaScript: every answer is a
form button, every post is answered with a redirect (post/redirect/get), so
reload and the browser's back button never resubmit.

Security model (README "Tablet self-report"):

* The tablet learns nothing it does not need: no client id, no earlier answer of
  another form, no score. Only the current form's texts reach it.
* A one-time code starts a tablet session (:mod:`.sessions`); a wrong code counts
  against every waiting code and against the tablet (both lock at 5), and code
  tries are limited server-wide (:data:`GUESSES_PER_MINUTE`).
* Cookies are random 256-bit tokens, HttpOnly, SameSite=Strict, Secure under TLS;
  the store keeps only their hash. Every form carries a CSRF token (an HMAC of
  the cookie under a server key) and a cross-origin post is refused.
* Every response: a strict Content-Security-Policy (own stylesheet only, no
  script, no frames), ``Cache-Control: no-store``, ``nosniff``, no referrer.
  There are four routes and one stylesheet; nothing else is served.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from functools import cached_property
from hashlib import sha256
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import click
import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from psyq.app import App
from psyq.i18n import tablet_translations
from psyq.models import Instrument
from psyq.plugins.tablet.flow import Flow, KioskFileChanged, asks_once_more
from psyq.plugins.tablet.sessions import MAX_WRONG, KioskSession, KioskStore, audit_kiosk

TABLET_COOKIE = "psyq_tablet"
PRE_COOKIE = "psyq_pre"
GUESSES_PER_MINUTE = 30
"""Wrong codes the whole server accepts per minute, from all tablets together; past
that, every code (right ones too) waits for the minute to pass."""
TABLET_LOCK_S = 15 * 60
MAX_BODY = 4096
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class SecurityHeaders:
    """ASGI middleware: the same strict headers on every response, errors included.

    With ``hosts`` (a server on this computer only), a request naming any other host is
    refused, so a web page elsewhere cannot reach the server by DNS rebinding.
    """

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None = None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if self.hosts is not None and scope["type"] == "http":
            host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
            if host.lower() not in self.hosts:
                headers = [*HEADERS, (b"content-type", b"text/plain; charset=utf-8")]
                await send({"type": "http.response.start", "status": 421, "headers": headers})
                await send({"type": "http.response.body", "body": b"Misdirected request"})
                return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k not in names]
                message["headers"] = kept + HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class Reply:
    """What a handler answers: a page or a redirect, and cookies to set or clear."""

    page: str | None = None
    context: dict[str, Any] | None = None
    redirect: str | None = None
    status: int = 200
    set_cookies: dict[str, str] | None = None
    clear_cookies: tuple[str, ...] = ()


class Tablet:
    """The server's state: the app, per-thread store connections, the guess limiter."""

    def __init__(self, app: App, tls: bool, echo: Callable[[str], None] = click.echo) -> None:
        self.app = app
        self.tls = tls
        self.echo = echo
        self.store_path = app.store_path
        from psyq.plugins.tablet.sessions import kiosk_path

        self.kiosk_path = kiosk_path(self.store_path)
        self._local = threading.local()
        self._guesses: deque[float] = deque()
        self._lock = threading.Lock()
        self._echo_lock = threading.Lock()
        self.secret = self.kiosk.secret()
        self._locked_seen = {s.id for s in self.kiosk.all() if s.state == "locked"}
        self.app.registry  # noqa: B018 - load instruments once, before threads share them

    # -- per-thread connections ---------------------------------------------

    @property
    def kiosk(self) -> KioskStore:
        kiosk: KioskStore | None = getattr(self._local, "kiosk", None)
        if kiosk is None:
            kiosk = self._local.kiosk = KioskStore(self.kiosk_path)
        return kiosk

    @property
    def store(self) -> Any:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = self.app.open_store()
        return store

    # -- helpers -------------------------------------------------------------

    def csrf(self, cookie: str) -> str:
        return hmac.new(self.secret, b"csrf:" + cookie.encode(), sha256).hexdigest()[:40]

    def csrf_ok(self, cookie: str | None, form: dict[str, str]) -> bool:
        if not cookie:
            return False
        return hmac.compare_digest(self.csrf(cookie), form.get("csrf", ""))

    def say(self, lines: list[str]) -> None:
        """A line (or a framed block) on the terminal running ``psyq serve``."""
        with self._echo_lock:
            for line in lines:
                self.echo(line)

    def guess_allowed(self) -> bool:
        """False while the last minute saw :data:`GUESSES_PER_MINUTE` wrong codes."""
        now = time.monotonic()
        with self._lock:
            while self._guesses and now - self._guesses[0] > 60:
                self._guesses.popleft()
            return len(self._guesses) < GUESSES_PER_MINUTE

    def guessed_wrong(self) -> None:
        with self._lock:
            self._guesses.append(time.monotonic())

    def forms(self, session: KioskSession) -> list[tuple[Instrument, Instrument]]:
        from psyq.i18n import instrument_in

        out = []
        for instrument_id in session.instruments:
            base = self.app.instrument(instrument_id)
            out.append((base, instrument_in(self.app, base, session.language)))
        return out

    def flow(self, session: KioskSession) -> Flow:
        return Flow(self.app, self.store, self.kiosk, session, self.forms(session), self.say)

    def open_session(self, token: str | None) -> KioskSession | None:
        if not token:
            return None
        session = self.kiosk.by_token(token)
        if session is None or not session.open:
            return None
        return session

    # -- handlers (run in the thread pool) -------------------------------------

    def home(self, cookies: dict[str, str], lang: str | None) -> Reply:
        if self.open_session(cookies.get(TABLET_COOKIE)) is not None:
            return Reply(redirect="/form", status=303)
        return self.code_page(cookies, lang, error=None)

    def code_page(
        self, cookies: dict[str, str], lang: str | None, error: str | None, status: int = 200
    ) -> Reply:
        pre = cookies.get(PRE_COOKIE) or secrets.token_urlsafe(32)
        return Reply(
            page="code.html.j2",
            context={"csrf": self.csrf(pre), "error": error, "lang": lang},
            status=status,
            set_cookies={PRE_COOKIE: pre},
        )

    def enter_code(self, cookies: dict[str, str], form: dict[str, str]) -> Reply:
        pre = cookies.get(PRE_COOKIE)
        lang = form.get("lang") or None
        if not self.csrf_ok(pre, form):
            return self.code_page(cookies, lang, error="stale", status=400)
        assert pre is not None
        kiosk = self.kiosk
        if kiosk.tablet_locked(pre):
            return self.code_page(cookies, lang, error="tablet_locked", status=429)
        if not self.guess_allowed():
            return self.code_page(cookies, lang, error="busy", status=429)
        token = secrets.token_urlsafe(32)
        session, why = kiosk.redeem(form.get("code", "")[:64], token)
        if session is None:
            if why == "wrong":
                self.guessed_wrong()
                wrong = kiosk.tablet_wrong(pre, TABLET_LOCK_S)
                self._report_locks()
                if wrong >= MAX_WRONG:
                    return self.code_page(cookies, lang, error="tablet_locked", status=429)
            return self.code_page(cookies, lang, error=why, status=400)
        session = kiosk.get(session.id)
        audit_kiosk(self.store, "kiosk code used", session)
        self.say([f"kiosk session {session.id} (client {session.client_id}): started on a tablet"])
        return Reply(redirect="/form", status=303, set_cookies={TABLET_COOKIE: token})

    def _report_locks(self) -> None:
        for session in self.kiosk.newly_locked(self._locked_seen):
            self._locked_seen.add(session.id)
            audit_kiosk(self.store, "kiosk locked", session)
            self.say(
                [
                    f"kiosk session {session.id} (client {session.client_id}): code locked "
                    f"after {MAX_WRONG} wrong guesses; start a new session"
                ]
            )

    def show_form(self, cookies: dict[str, str]) -> Reply:
        token = cookies.get(TABLET_COOKIE)
        session = self.open_session(token)
        if session is None or token is None:
            return Reply(redirect="/", status=303, clear_cookies=(TABLET_COOKIE,))
        flow = self.flow(session)
        from psyq.store import StoreError

        try:
            screen = flow.screen()
        except StoreError as exc:  # its form deleted outside psyq
            return self._stop_tampered(session, exc)
        if screen.kind == "form":
            return self.whole_form(flow, token, session)
        options = []
        if screen.item is not None:
            scale = screen.shown.response_scale_for(screen.item)
            options = [(o.value, o.label) for o in scale.options]
        base = flow.forms[flow.idx][0]
        return Reply(
            page="item.html.j2" if screen.kind == "item" else "instructions.html.j2",
            context={
                "csrf": self.csrf(token),
                "screen": screen,
                "options": options,
                "important": screen.item is not None
                and asks_once_more(base, base.items[flow.position]),
                "lang": session.language,
            },
        )

    def whole_form(self, flow: Flow, token: str, session: KioskSession) -> Reply:
        screen = flow.screen()
        base = flow.forms[flow.idx][0]
        rows = []
        for number, (item, shown) in enumerate(zip(base.items, screen.shown.items, strict=True), 1):
            scale = screen.shown.response_scale_for(shown)
            rows.append(
                {
                    "number": number,
                    "text": shown.text,
                    "options": [(o.value, o.label) for o in scale.options],
                    "answer": screen.answers.get(item.id),
                    "important": asks_once_more(base, item),
                    "pending": item.id in screen.unanswered_important,
                }
            )
        answered = sum(row["answer"] is not None for row in rows)
        return Reply(
            page="form.html.j2",
            context={
                "csrf": self.csrf(token),
                "screen": screen,
                "rows": rows,
                "answered": answered,
                "lang": session.language,
            },
        )

    def post_form(self, cookies: dict[str, str], form: dict[str, str]) -> Reply:
        token = cookies.get(TABLET_COOKIE)
        session = self.open_session(token)
        if session is None:
            return Reply(redirect="/", status=303, clear_cookies=(TABLET_COOKIE,))
        if not self.csrf_ok(token, form):
            return Reply(redirect="/form", status=303)
        flow = self.flow(session)
        if form.get("step") != flow.step:
            return Reply(redirect="/form", status=303)  # a stale page: show where we are
        from psyq.store import StoreError

        try:
            return self._act(flow, session, form)
        except StoreError as exc:  # changed or deleted outside psyq (TamperedError too)
            return self._stop_tampered(session, exc)

    def _stop_tampered(self, session: KioskSession, exc: Exception) -> Reply:
        """A form changed (or deleted) outside psyq while the tablet had it: nothing more
        is saved to it (a save would give the hand edit a valid audit entry); the session
        stops, the terminal says why, and the tablet goes back to the code page."""
        from psyq.store import TamperedError

        why = str(exc) if isinstance(exc, TamperedError) else f"{exc} (deleted outside psyq)"
        stopped = self.kiosk.end(session.id, "stopped")
        audit_kiosk(self.store, "kiosk stop", stopped)
        self.say(
            [
                f"kiosk session {session.id} (client {session.client_id}): STOPPED: {why}"
                + (
                    ""
                    if isinstance(exc, KioskFileChanged)
                    else "; `psyq audit verify` gives the details"
                )
            ]
        )
        return Reply(redirect="/", status=303, clear_cookies=(TABLET_COOKIE,))

    def _act(self, flow: Flow, session: KioskSession, form: dict[str, str]) -> Reply:
        action = form.get("action", "")
        if action == "begin":
            flow.begin()
        elif action == "back":
            flow.back()
        elif flow.position >= 0 and flow.layout() == "form" and action in ("pick", "finish"):
            return self.post_whole_form(flow, session, action, form)
        elif flow.position >= 0 and flow.layout() == "item" and action in ("answer", "skip"):
            base, _ = flow.forms[flow.idx]
            value: int | None = None
            if action == "answer":
                scale = base.response_scale_for(base.items[flow.position])
                try:
                    value = int(form.get("value", ""))
                except ValueError:
                    return Reply(redirect="/form", status=303)
                if value not in scale.values:
                    return Reply(redirect="/form", status=303)
            if flow.answer(value):
                lang = f"?lang={session.language}" if session.language else ""
                return Reply(redirect=f"/done{lang}", status=303, clear_cookies=(TABLET_COOKIE,))
        return Reply(redirect="/form", status=303)

    def post_whole_form(
        self, flow: Flow, session: KioskSession, action: str, form: dict[str, str]
    ) -> Reply:
        """One tapped answer (``pick`` = ``N:value``, N counting from 1) or "Finish"."""
        base, _ = flow.forms[flow.idx]
        if action == "finish":
            if flow.finish():
                lang = f"?lang={session.language}" if session.language else ""
                return Reply(redirect=f"/done{lang}", status=303, clear_cookies=(TABLET_COOKIE,))
            if flow.position >= 0:  # asked once more: back to the first such item
                pending = flow.screen().unanswered_important
                first = next(n for n, i in enumerate(base.items, 1) if i.id in pending)
                return Reply(redirect=f"/form#item-{first}", status=303)
            return Reply(redirect="/form", status=303)
        number, _, text = form.get("pick", "").partition(":")
        # The page sends "3:1"; int() would also read "３" or " 1_0" (never sent) as a pick.
        if not (re.fullmatch(r"[0-9]{1,6}", number) and re.fullmatch(r"-?[0-9]{1,6}", text)):
            return Reply(redirect="/form", status=303)
        position, value = int(number) - 1, int(text)
        if not 0 <= position < len(base.items):
            return Reply(redirect="/form", status=303)
        item = base.items[position]
        if value not in base.response_scale_for(item).values:
            return Reply(redirect="/form", status=303)
        flow.pick(item, value)
        after = f"item-{position + 2}" if position + 1 < len(base.items) else "finish"
        return Reply(redirect=f"/form#{after}", status=303)

    @cached_property
    def css(self) -> bytes:
        return (resources.files("psyq.templates") / "tablet" / "tablet.css").read_bytes()


def _environment() -> jinja2.Environment:
    folder = resources.files("psyq.templates") / "tablet"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    return env


def create_app(
    app: App,
    *,
    tls: bool = False,
    echo: Callable[[str], None] = click.echo,
    hosts: frozenset[str] | None = None,
) -> Any:
    """The ASGI application for ``psyq serve``; ``hosts``: the Host headers accepted."""
    tablet = Tablet(app, tls, echo)
    env = _environment()

    def render(reply: Reply) -> Response:
        if reply.redirect is not None:
            response: Response = RedirectResponse(reply.redirect, status_code=reply.status)
        else:
            assert reply.page is not None
            context = dict(reply.context or {})
            ui = tablet_translations(context.get("lang"))
            env.install_gettext_translations(ui.translations, newstyle=True)  # type: ignore[attr-defined]
            context["dir"] = ui.direction
            context["lang_tag"] = ui.language
            html = env.get_template(reply.page).render(context)
            response = HTMLResponse(html, status_code=reply.status)
        for name, value in (reply.set_cookies or {}).items():
            response.set_cookie(
                name,
                value,
                max_age=12 * 3600,
                path="/",
                httponly=True,
                samesite="strict",
                secure=tablet.tls,
            )
        for name in reply.clear_cookies:
            response.delete_cookie(
                name, path="/", httponly=True, samesite="strict", secure=tablet.tls
            )
        return response

    async def read_form(request: Request) -> dict[str, str] | None:
        """The posted fields, or None for a cross-origin or oversized post."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            return None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return None
        try:
            pairs = parse_qsl(body.decode("utf-8"), max_num_fields=10)
        except (UnicodeDecodeError, ValueError):
            return None
        return dict(pairs)

    def bad_request() -> Response:
        return HTMLResponse("Bad request", status_code=400)

    def lang_param(request: Request) -> str | None:
        lang = request.query_params.get("lang")
        return lang if lang and lang.replace("-", "").isalnum() and len(lang) <= 16 else None

    async def home(request: Request) -> Response:
        return render(await run_in_threadpool(tablet.home, request.cookies, lang_param(request)))

    async def code(request: Request) -> Response:
        form = await read_form(request)
        if form is None:
            return bad_request()
        return render(await run_in_threadpool(tablet.enter_code, request.cookies, form))

    async def form_get(request: Request) -> Response:
        return render(await run_in_threadpool(tablet.show_form, request.cookies))

    async def form_post(request: Request) -> Response:
        form = await read_form(request)
        if form is None:
            return bad_request()
        return render(await run_in_threadpool(tablet.post_form, request.cookies, form))

    async def done(request: Request) -> Response:
        return render(Reply(page="done.html.j2", context={"lang": lang_param(request)}))

    async def css(request: Request) -> Response:
        return Response(tablet.css, media_type="text/css")

    async def ping(request: Request) -> Response:
        # The benchmark's baseline: a static page through the same server and headers.
        return HTMLResponse("<!doctype html><title>psyq</title><p>ok</p>")

    routes = [
        Route("/", home, methods=["GET"]),
        Route("/code", code, methods=["POST"]),
        Route("/form", form_get, methods=["GET"]),
        Route("/form", form_post, methods=["POST"]),
        Route("/done", done, methods=["GET"]),
        Route("/static/tablet.css", css, methods=["GET"]),
        Route("/ping", ping, methods=["GET"]),
    ]
    starlette = Starlette(routes=routes)
    return SecurityHeaders(starlette, hosts)
