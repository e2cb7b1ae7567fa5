"""The tablet server's protocol-level defences, and the kiosk commands' errors.

The server runs in this process (uvicorn in a thread) on the test's plugin manager,
so a test can register a plugin with hostile instrument text; the tablets are
urllib clients with their own cookies.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import Result

from psyq import audit
from psyq.app import App
from psyq.manager import PsyqPluginManager
from psyq.plugins.tablet.sessions import WHOLE_FORM_MAX_ITEMS
from psyq.plugins.tablet.web import GUESSES_PER_MINUTE, create_app
from psyq.store import open_store
from tests.conftest import MINIMAL
from tests.packs import DirectoryPack
from tests.tablet import HttpTablet, free_port

CLI = Callable[..., Result]


@contextmanager
def in_process(app: App, tls: bool = False) -> Iterator[tuple[str, list[str]]]:
    import uvicorn

    lines: list[str] = []
    asgi = create_app(app, tls=tls, echo=lines.append)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", lines
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(psyq_pm: PsyqPluginManager, psyq_home: Path) -> Iterator[tuple[str, list[str]]]:
    with in_process(App(psyq_pm, home=psyq_home)) as running:
        yield running


def _start(psyq_cli: CLI, *args: str) -> tuple[int, str]:
    """`psyq kiosk start`; one item per screen unless ``--layout`` is given."""
    layout = () if "--layout" in args else ("--layout", "item")
    result = psyq_cli("kiosk", "start", "--no-qr", *layout, *args)
    assert result.exit_code == 0, result.output
    session = re.search(r"kiosk session (\d+)", result.output)
    code = re.search(r"code: (\S+)", result.output)
    assert session and code
    return int(session.group(1)), code.group(1)


def _begun(url: str, psyq_cli: CLI, *args: str) -> tuple[int, HttpTablet]:
    """A kiosk session started for C0042 (``--instruments ...`` and so on in ``args``),
    and a tablet that has entered its code and is at the first question."""
    session_id, code = _start(psyq_cli, "--client", "C0042", *args)
    tablet = HttpTablet(url)
    tablet.enter(code)
    tablet.act("begin")
    return session_id, tablet


def _item9_positive_then_stopped(url: str, psyq_cli: CLI) -> tuple[int, HttpTablet]:
    """A PHQ-9 answered 0 to items 1-8 and 2 to item 9, then left (item 10 unanswered)."""
    session_id, tablet = _begun(url, psyq_cli, "--instruments", "phq9")
    for value in (0, 0, 0, 0, 0, 0, 0, 0, 2):
        tablet.act("answer", value)
    return session_id, tablet


def test_every_response_is_locked_down(server: tuple[str, list[str]]) -> None:
    url, _ = server
    tablet = HttpTablet(url)
    for path in ("/", "/static/tablet.css", "/static/", "/static", "/templates/", "/nope"):
        tablet.get(path)
        headers = tablet.headers
        assert headers["Cache-Control"] == "no-store", path
        assert "default-src 'none'" in headers["Content-Security-Policy"], path
        assert "script-src" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert tablet.status == (200 if path in ("/", "/static/tablet.css") else 404), path
    tablet.get("/static/")
    assert tablet.status == 404  # no directory listing
    tablet.get("/")
    cookie = tablet.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert "<script" not in tablet.page


def test_tls_cookies_are_secure(psyq_pm: PsyqPluginManager, psyq_home: Path) -> None:
    # The app marks cookies Secure when served over TLS (uvicorn's --certfile/--keyfile).
    with in_process(App(psyq_pm, home=psyq_home), tls=True) as (url, _):
        tablet = HttpTablet(url)
        tablet.get("/")
        assert "Secure" in tablet.headers["Set-Cookie"]


def test_posts_without_csrf_or_from_another_origin_are_refused(
    server: tuple[str, list[str]], psyq_cli: CLI
) -> None:
    url, _ = server
    _, code = _start(psyq_cli, "--client", "C0042", "--instruments", "phq9")
    tablet = HttpTablet(url)
    tablet.get("/")
    tablet.post("/code", {"code": code, "csrf": "forged"})
    assert tablet.status == 400 and "had expired" in tablet.page
    tablet.post(
        "/code",
        {"code": code, "csrf": tablet.csrf()},
        headers={"Origin": "http://evil.example"},
    )
    assert tablet.status == 400
    # The code was not used up by the refused posts.
    tablet.get("/")
    tablet.enter(code)
    assert tablet.status == 200 and 'value="begin"' in tablet.page
    tablet.act("begin")
    tablet.post(
        "/form", {"csrf": "forged", "step": tablet.step(), "action": "answer", "value": "3"}
    )
    assert "Question 1 of 10" in tablet.page  # nothing answered
    tablet.act("answer", 9)  # not an option of the item
    assert "Question 1 of 10" in tablet.page
    tablet.act("answer", 2)
    assert "Question 2 of 10" in tablet.page


def test_stale_page_does_not_answer_the_wrong_item(
    server: tuple[str, list[str]], psyq_cli: CLI, psyq_home: Path
) -> None:
    url, _ = server
    _, tablet = _begun(url, psyq_cli, "--instruments", "gad7")
    old = {"csrf": tablet.csrf(), "step": tablet.step(), "action": "answer", "value": "1"}
    tablet.act("answer", 3)
    tablet.post("/form", old)  # a second tap on the old page, or a resubmitted post
    assert "Question 2 of 7" in tablet.page
    with open_store(psyq_home / "psyq.db", key_path=audit.key_path(psyq_home)) as store:
        (adm,) = store.administrations()
    assert adm.answers["gad7_1"] == 3 and adm.answers["gad7_2"] is None


def test_code_guesses_are_limited_server_wide(server: tuple[str, list[str]], psyq_cli: CLI) -> None:
    url, _ = server
    _, code = _start(psyq_cli, "--client", "C0042", "--instruments", "phq9")
    for _ in range(GUESSES_PER_MINUTE):
        HttpTablet(url).enter("ZZZZZZ")  # each from a fresh browser: no tablet lock-out
    late = HttpTablet(url)
    late.enter(code)
    assert late.status == 429 and "Too many tries" in late.page


def test_hostile_instrument_text_stays_inert(
    psyq_pm: PsyqPluginManager,
    psyq_home: Path,
    psyq_cli: CLI,
    psyq_register: Callable[..., object],
    tmp_path: Path,
) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    hostile = MINIMAL.replace(
        "text: One", "text: '<script>alert(1)</script><img src=x onerror=alert(2)>'"
    ).replace("label: Never", "label: '\"><b>never</b>'")
    (pack / "mini.yaml").write_text(hostile)
    psyq_register(DirectoryPack("hostile", pack))
    _, code = _start(psyq_cli, "--client", "C0042", "--instruments", "mini")
    with in_process(App(psyq_pm, home=psyq_home)) as (url, _):
        tablet = HttpTablet(url)
        tablet.enter(code)
        tablet.act("begin")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img" in tablet.page
    assert "<script" not in tablet.page and "<img" not in tablet.page
    assert "<b>never" not in tablet.page


def test_kiosk_stop_ends_the_tablet_and_keeps_partial_flags(
    server: tuple[str, list[str]], psyq_cli: CLI
) -> None:
    url, lines = server
    session_id, tablet = _item9_positive_then_stopped(url, psyq_cli)
    assert any("!!! CRITICAL (item phq9_9)" in line for line in lines)  # at once, mid-form
    stopped = psyq_cli("kiosk", "stop", str(session_id))
    assert stopped.exit_code == 0, stopped.output
    assert "stopped by the clinician" in stopped.output
    assert "partial, 9/10 answered" in stopped.output
    assert "!!! CRITICAL (item phq9_9)" in stopped.output
    tablet.get("/form")
    assert 'name="code"' in tablet.page  # back at the code page: the session is over
    again = psyq_cli("kiosk", "stop", str(session_id))
    assert again.exit_code == 2 and "already ended" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--client", "Jane Doe", "--instruments", "phq9"], "client"),
        (["--client", "C0042", "--instruments", "nope"], "unknown instrument 'nope'"),
        (["--client", "C0042", "--instruments", "phq9,phq9"], "listed twice"),
        (["--client", "C0042", "--instruments", "phq9", "--expires", "soon"], "duration"),
        (["--client", "C0042", "--instruments", "phq9", "--language", "xx"], "'xx'"),
    ],
)
def test_kiosk_start_errors_are_one_line(psyq_cli: CLI, args: list[str], message: str) -> None:
    result = psyq_cli("kiosk", "start", "--no-qr", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_serve_warns_off_localhost_and_wants_cert_and_key(tmp_path: Path) -> None:
    env = {"PSYQ_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    half = subprocess.run(
        [sys.executable, "-m", "psyq", "serve", "--certfile", __file__],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert half.returncode == 2 and "--certfile and --keyfile together" in half.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "psyq", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "warning: listening on 0.0.0.0" in line and "trusted network" in line
        assert "TLS" in line
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_serve_terminal_shows_a_skipped_critical_item_at_once(
    server: tuple[str, list[str]], psyq_cli: CLI
) -> None:
    url, lines = server
    session_id, tablet = _begun(url, psyq_cli, "--instruments", "phq9")
    for _ in range(8):
        tablet.act("answer", 0)
    # Item 9 not reached yet: nothing alarming on the terminal, but status says what it is.
    assert not any("CRITICAL" in line for line in lines)
    status = psyq_cli("kiosk", "status").output
    assert "being filled in now" in status and "!!! CRITICAL (item phq9_9)" in status
    tablet.act("skip")
    assert "This question is important" in tablet.page  # asked once more
    assert not any("CRITICAL" in line for line in lines)
    tablet.act("skip")
    assert "Question 10 of 10" in tablet.page
    critical = [line for line in lines if line.startswith("!!! CRITICAL (item phq9_9)")]
    assert len(critical) == 1 and "not answered" in critical[0]
    tablet.act("answer", 0)
    assert "Thank you" in tablet.page
    done = psyq_cli("kiosk", "status", str(session_id)).output
    assert "complete" in done and "!!! CRITICAL (item phq9_9)" in done


def test_a_server_restart_resumes_where_the_tablet_was(
    psyq_pm: PsyqPluginManager, psyq_home: Path, psyq_cli: CLI
) -> None:
    _, code = _start(psyq_cli, "--client", "C0042", "--instruments", "gad7")
    with in_process(App(psyq_pm, home=psyq_home)) as (url, _):
        tablet = HttpTablet(url)
        tablet.enter(code)
        tablet.act("begin")
        tablet.act("answer", 2)
        tablet.act("answer", 1)
    with in_process(App(psyq_pm, home=psyq_home)) as (url, _):
        tablet.url = url  # same cookies, a new server process state
        tablet.get("/form")
        assert "Question 3 of 7" in tablet.page
        tablet.act("back")
        assert "Question 2 of 7" in tablet.page
        chosen = r'id="option-1"\s+class="option chosen"\s+aria-pressed="true"'
        assert re.search(chosen, tablet.page)  # the earlier answer, kept across the restart


def test_an_idle_tablet_session_ends(
    server: tuple[str, list[str]], psyq_cli: CLI, psyq_home: Path
) -> None:
    from psyq.plugins.tablet.sessions import IDLE_TIMEOUT_S, KioskStore, kiosk_path

    url, _ = server
    session_id, tablet = _begun(url, psyq_cli, "--instruments", "gad7")
    tablet.act("answer", 1)
    with KioskStore(kiosk_path(psyq_home / "psyq.db")) as kiosk, kiosk.write() as conn:
        # As if the tablet was left alone for longer than the idle limit.
        conn.execute(
            "UPDATE sessions SET last_seen = last_seen - ? WHERE id = ?",
            (IDLE_TIMEOUT_S + 1, session_id),
        )
    tablet.get("/form")
    assert 'name="code"' in tablet.page  # back to the code page, nothing of the form
    status = psyq_cli("kiosk", "status", str(session_id)).output
    assert "ended after an hour without an answer" in status
    assert "partial, 1/7 answered" in status


def test_kiosk_status_in_the_clinicians_language(psyq_cli: CLI) -> None:
    session_id, _ = _start(psyq_cli, "--client", "C0042", "--instruments", "phq9,gad7")
    spanish = psyq_cli("kiosk", "status", "--language", "de")
    assert spanish.exit_code == 0, spanish.output
    assert f"Kiosk-Sitzung {session_id}: Person C0042: wartet auf den Code" in spanish.output
    assert "  phq9: nicht begonnen" in spanish.output and "  gad7: nicht begonnen" in spanish.output
    english = psyq_cli("kiosk", "status")
    assert f"kiosk session {session_id}: client C0042: waiting for the code" in english.output
    unknown = psyq_cli("kiosk", "status", "--language", "xx")
    assert unknown.exit_code == 2 and "no 'xx' catalogue" in unknown.output


def _pick(tablet: HttpTablet, pick: str, action: str = "pick") -> str:
    fields = {"csrf": tablet.csrf(), "step": tablet.step(), "action": action, "pick": pick}
    return tablet.post("/form", fields)


def test_whole_form_without_javascript_saves_one_checked_answer_per_post(
    server: tuple[str, list[str]], psyq_pm: PsyqPluginManager, psyq_cli: CLI, psyq_home: Path
) -> None:
    url, _ = server
    items = [item.id for item in App(psyq_pm).instrument("ccts").items]
    n = len(items)
    assert n > WHOLE_FORM_MAX_ITEMS  # auto: an item per screen; --layout form overrides
    _, tablet = _begun(url, psyq_cli, "--instruments", "ccts", "--layout", "form")
    assert f"0 of {n} questions answered" in tablet.page
    assert f'name="pick" value="{n}:4"' in tablet.page and "<script" not in tablet.page
    for bad in ("0:1", f"{n + 1}:1", "3:99", "3", "x:1", "3:-1", ""):
        _pick(tablet, bad)  # no such item or option: nothing saved
    tablet.act("answer", 1)  # the one-item-per-screen post means nothing here
    with open_store(psyq_home / "psyq.db", key_path=audit.key_path(psyq_home)) as store:
        assert store.administrations() == []
    _pick(tablet, "3:2")
    _pick(tablet, f"{n}:4")
    _pick(tablet, "3:1")  # changed
    assert f"2 of {n} questions answered" in tablet.page
    assert 'aria-pressed="true">' in tablet.page
    with open_store(psyq_home / "psyq.db", key_path=audit.key_path(psyq_home)) as store:
        (adm,) = store.administrations()
        assert adm.status == "partial"
        given = {k: v for k, v in adm.answers.items() if v is not None}
        assert given == {items[2]: 1, items[-1]: 4}
    _pick(tablet, "", action="finish")  # nothing important unanswered: finishes at once
    assert "Thank you" in tablet.page
    with open_store(psyq_home / "psyq.db", key_path=audit.key_path(psyq_home)) as store:
        (adm,) = store.administrations()
        assert adm.status == "complete"


def test_kiosk_status_says_a_form_was_changed_outside_psyq(
    server: tuple[str, list[str]], psyq_cli: CLI, psyq_home: Path
) -> None:
    import json
    import sqlite3

    url, _ = server
    session_id, _ = _item9_positive_then_stopped(url, psyq_cli)
    assert psyq_cli("kiosk", "stop", str(session_id)).exit_code == 0
    assert "CHANGED" not in psyq_cli("kiosk", "status", str(session_id)).output
    conn = sqlite3.connect(psyq_home / "psyq.db")  # item 9 quietly set to 0 by hand
    conn.execute("UPDATE administrations SET answers = replace(answers, '\"phq9_9\":2', "
                 "'\"phq9_9\":0')")  # fmt: skip
    conn.commit()
    conn.close()
    status = psyq_cli("kiosk", "status", str(session_id))
    assert "!!! CHANGED OUTSIDE PSYQ after it was saved" in status.output
    (doc,) = json.loads(psyq_cli("kiosk", "status", str(session_id), "--json").output)
    assert "changed outside psyq" in doc["forms"][0]["changed_outside_psyq"]
    german = psyq_cli("kiosk", "status", str(session_id), "--language", "de").output
    assert "AUSSERHALB VON PSYQ VERÄNDERT" in german
