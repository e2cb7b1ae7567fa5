"""The tablet self-report pages in a real browser (Debian's Chromium via chromedriver).

Each test starts `psyq serve` on a free localhost port as a subprocess, starts
kiosk sessions with `psyq kiosk start`, and clicks through the pages. Screenshots
of every screen are saved under the test's tmp folder (``shots/``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from psyq import audit
from psyq.store import open_store
from tests.tablet import Served, Tablet, language_pack_env, serve

pytestmark = pytest.mark.slow


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path / "home", tmp_path / "serve.log") as running:
        yield running


@pytest.fixture
def tablets() -> Iterator[list[Tablet]]:
    opened: list[Tablet] = []
    yield opened
    for tablet in opened:
        tablet.close()


def _tablet(served: Served, tmp_path: Path, opened: list[Tablet], name: str) -> Tablet:
    tablet = Tablet(served, tmp_path / "shots", name)
    opened.append(tablet)
    return tablet


def _stored(served: Served, admin_id: int) -> tuple[dict[str, int | None], str]:
    with open_store(served.home / "psyq.db", key_path=audit.key_path(served.home)) as store:
        adm = store.get(admin_id)
        return dict(adm.answers), adm.status


def test_phq9_by_clicking_with_reload_and_back(
    served: Served, tmp_path: Path, tablets: list[Tablet]
) -> None:
    session_id, code = served.start("--client", "C0042", "--instruments", "phq9")
    tablet = _tablet(served, tmp_path, tablets, "phq9")
    tablet.open()
    tablet.enter_code(code.lower().replace("-", " "))  # typed loosely: still the code
    assert "Patient Health Questionnaire-9" in tablet.text()
    assert "Over the last 2 weeks" in tablet.text()
    tablet.click("begin")
    assert tablet.progress().startswith("Question 1 of 10")
    assert tablet.question() == "Little interest or pleasure in doing things"

    for value in (1, 2, 0, 3):
        tablet.click(f"option-{value}")
    assert tablet.progress().startswith("Question 5 of 10")
    # Saved the moment they were given: partial administration in the store already.
    status = json.loads(served.psyq("kiosk", "status", "--json").stdout)[0]
    admin_id = status["forms"][0]["administration"]
    answers, stored_status = _stored(served, admin_id)
    assert stored_status == "partial"
    assert [answers[f"phq9_{i}"] for i in range(1, 5)] == [1, 2, 0, 3]

    tablet.driver.refresh()  # reload mid-form: same question
    tablet.shot("reloaded")
    assert tablet.progress().startswith("Question 5 of 10")
    tablet.click("back")
    assert tablet.progress().startswith("Question 4 of 10")
    chosen = tablet.by_id("option-3")
    assert chosen.get_attribute("aria-pressed") == "true"  # the earlier answer is shown
    tablet.click("option-2", "changed")  # change item 4 from 3 to 2
    for value in (1, 1, 0, 1):  # items 5-8
        tablet.click(f"option-{value}")
    assert "Thoughts that you would be better off dead" in tablet.question()
    tablet.click("skip", "skip-critical")  # item 9 asks once more before a skip
    assert tablet.has("confirm")
    assert tablet.progress().startswith("Question 9 of 10")
    tablet.click("option-1", "item9")
    tablet.click("option-2", "last")  # item 10, difficulty
    assert tablet.has("thanks")
    page = tablet.text()
    assert "Thank you" in page
    for leak in ("C0042", "score", "Score", "severe", "Moderate", "13"):
        assert leak not in page

    # Nothing of the client ever reached the tablet.
    assert not any("C0042" in source for source in tablet.sources)
    # The back button after the end does not show the form again.
    tablet.driver.back()
    tablet.shot("back-after-end")
    assert not tablet.has("question")

    answers, stored_status = _stored(served, admin_id)
    assert stored_status == "complete"
    assert answers == {
        "phq9_1": 1,
        "phq9_2": 2,
        "phq9_3": 0,
        "phq9_4": 2,
        "phq9_5": 1,
        "phq9_6": 1,
        "phq9_7": 0,
        "phq9_8": 1,
        "phq9_9": 1,
        "phq9_10": 2,
    }
    with open_store(served.home / "psyq.db", key_path=audit.key_path(served.home)) as store:
        result = store.get(admin_id).result
        assert result is not None and result.total.value == 9
        actions = [(e.action, e.record) for e in audit.entries(store.connection)]
        assert audit.verify(store).ok
    record = f"administration {admin_id}"
    mine = [a for a, r in actions if r == record]
    # The same audit entries `psyq administer` writes: an entry for each of the 11 answers
    # given (10 items, one changed): start, answer ..., complete.
    assert mine == ["start"] + ["answer"] * 9 + ["complete"]
    kiosk = [a for a, r in actions if r == f"kiosk session {session_id}"]
    assert kiosk == ["kiosk start", "kiosk code used"]

    # The clinician: kiosk status and the serve terminal, critical flag framed.
    status_text = served.psyq("kiosk", "status").stdout
    assert f"kiosk session {session_id}: client C0042: complete" in status_text
    assert "!!! CRITICAL (item phq9_9)" in status_text
    assert "!!! Review this with the client now, before they leave." in status_text
    log = served.output()
    assert "PHQ-9 complete" in log
    assert "!!! CRITICAL (item phq9_9)" in log
    assert f"kiosk session {session_id} (client C0042): all forms complete" in log

    # The code worked once.
    tablet.open()
    tablet.enter_code(code)
    assert tablet.has("error") and not tablet.has("question")


def test_five_wrong_codes_lock(served: Served, tmp_path: Path, tablets: list[Tablet]) -> None:
    _, code = served.start("--client", "C0007", "--instruments", "gad7")
    tablet = _tablet(served, tmp_path, tablets, "wrong")
    tablet.open()
    for _ in range(5):
        tablet.enter_code("AAAAAA")
        assert tablet.has("error")
    assert "Too many wrong codes" in tablet.by_id("error").text
    tablet.enter_code(code)  # this tablet is locked out, even with the right code
    assert not tablet.has("question") and not tablet.has("begin")
    # Another browser with the right code: the code itself is locked.
    other = _tablet(served, tmp_path, tablets, "other")
    other.open()
    other.enter_code(code)
    assert "This code is locked" in other.by_id("error").text
    assert "code locked" in served.psyq("kiosk", "status").stdout
    assert "code locked after 5 wrong guesses" in served.output()
    with open_store(served.home / "psyq.db", key_path=audit.key_path(served.home)) as store:
        actions = [e.action for e in audit.entries(store.connection)]
    assert "kiosk locked" in actions


def test_expired_code_is_refused(served: Served, tmp_path: Path, tablets: list[Tablet]) -> None:
    _, code = served.start("--client", "C0008", "--instruments", "phq9", "--expires", "1s")
    time.sleep(1.5)
    tablet = _tablet(served, tmp_path, tablets, "expired")
    tablet.open()
    tablet.enter_code(code)
    assert "This code has expired" in tablet.by_id("error").text
    assert "code expired unused" in served.psyq("kiosk", "status").stdout


def test_two_tablets_at_once_keep_their_answers(
    served: Served, tmp_path: Path, tablets: list[Tablet]
) -> None:
    first_id, first_code = served.start("--client", "C0101", "--instruments", "gad7,phq9")
    second_id, second_code = served.start("--client", "C0102", "--instruments", "gad7")
    one = _tablet(served, tmp_path, tablets, "one")
    two = _tablet(served, tmp_path, tablets, "two")
    one.open()
    two.open()
    one.enter_code(first_code)
    two.enter_code(second_code)
    one.click("begin")
    two.click("begin")
    for _ in range(7):  # interleaved: one answers 3s, two answers 0s
        one.click("option-3")
        two.click("option-0")
    assert two.has("thanks")
    assert "Form 2 of 2" in one.progress()  # one goes on to its PHQ-9
    status = {s["session"]: s for s in json.loads(served.psyq("kiosk", "status", "--json").stdout)}
    gad_one = status[first_id]["forms"][0]["administration"]
    gad_two = status[second_id]["forms"][0]["administration"]
    assert set(_stored(served, gad_one)[0].values()) == {3}
    assert set(_stored(served, gad_two)[0].values()) == {0}
    assert status[second_id]["state"] == "complete"
    assert status[first_id]["state"] == "active"
    assert status[first_id]["forms"][1]["administration"] is None
    with open_store(served.home / "psyq.db", key_path=audit.key_path(served.home)) as store:
        assert store.get(gad_one).client_id == "C0101"
        assert store.get(gad_two).client_id == "C0102"


@pytest.fixture
def with_languages(tmp_path: Path) -> Iterator[Served]:
    # The test language pack (tests/languages) installed as a plugin, as pip would.
    env = language_pack_env(tmp_path / "site")
    with serve(tmp_path / "home", tmp_path / "serve.log", env_extra=env) as running:
        yield running


def test_a_tablet_in_spanish(with_languages: Served, tmp_path: Path, tablets: list[Tablet]) -> None:
    served = with_languages
    start = served.psyq(
        "kiosk",
        "start",
        "--no-qr",
        "--client",
        "C0042",
        "--instruments",
        "langtest",
        "--language",
        "es",
    )
    assert f"{served.url}?lang=es" in start.stdout
    assert start.stderr == ""  # Spanish page strings ship: no warning
    code = start.stdout.split("code: ")[1].split()[0]
    tablet = _tablet(served, tmp_path, tablets, "es")
    tablet.driver.get(f"{served.url}?lang=es")
    tablet.shot("code")
    assert "Escriba el código" in tablet.text()
    tablet.enter_code(code)
    assert "Formulario de prueba de idiomas" in tablet.text()
    tablet.click("begin")
    assert tablet.question() == "Duermo bien."
    assert tablet.by_id("option-2").text == "A menudo"
    assert tablet.progress().startswith("Pregunta 1 de 3")
    tablet.click("option-1")
    tablet.click("option-0")
    tablet.click("skip", "skip-required")
    assert "Esta pregunta es importante" in tablet.by_id("confirm").text
    tablet.click("option-2", "answered")
    assert tablet.by_id("thanks").text == "Gracias"
    assert tablet.driver.find_element("tag name", "html").get_attribute("lang") == "es"
    assert not any(word in source for source in tablet.sources for word in ("Never", "Skip<"))
    status = json.loads(served.psyq("kiosk", "status", "--json").stdout)[0]
    admin_id = status["forms"][0]["administration"]
    with open_store(served.home / "psyq.db", key_path=audit.key_path(served.home)) as store:
        adm = store.get(admin_id)
    assert adm.language == "es" and adm.answers == {"l1": 1, "l2": 0, "l3": 2}
    # The clinician reads the flag in the clinic's language, framed.
    assert "!!! CRITICAL (item l3): Feels unsafe often; ask directly." in served.output()


def test_a_right_to_left_form(
    with_languages: Served, tmp_path: Path, tablets: list[Tablet]
) -> None:
    served = with_languages
    start = served.psyq(
        "kiosk",
        "start",
        "--no-qr",
        "--client",
        "C0042",
        "--instruments",
        "langtest",
        "--language",
        "ar",
    )
    assert "no 'ar' catalogue" in start.stderr  # said at once, not discovered on the tablet
    code = start.stdout.split("code: ")[1].split()[0]
    tablet = _tablet(served, tmp_path, tablets, "ar")
    tablet.open()
    tablet.enter_code(code)
    tablet.click("begin")
    assert tablet.question() == "أنام جيدًا."
    assert tablet.driver.find_element("tag name", "html").get_attribute("dir") == "rtl"
    gaps = tablet.driver.execute_script(
        "const h = document.getElementById('question');"
        "const r = document.createRange(); r.selectNodeContents(h);"
        "const t = r.getBoundingClientRect(), b = h.getBoundingClientRect();"
        "return [t.left - b.left, b.right - t.right];"
    )
    assert gaps[1] < 2 < gaps[0]  # the text starts at the right edge
    option = tablet.by_id("option-0")
    assert option.value_of_css_property("direction") == "rtl"
    assert option.value_of_css_property("text-align") in ("start", "right")
    tablet.shot("rtl-item")


def test_serve_answers_only_its_own_host_name(served: Served) -> None:
    # DNS rebinding: a page elsewhere that points its name at 127.0.0.1 gets nothing.
    import http.client
    from urllib.parse import urlsplit

    port = urlsplit(served.url).port
    for host, status in (("evil.example", 421), (f"evil.example:{port}", 421), (None, 200)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {} if host is None else {"Host": host}
        conn.request("GET", "/", headers=headers)
        response = conn.getresponse()
        assert response.status == status, host
        assert response.getheader("Cache-Control") == "no-store"
        conn.close()


def test_kiosk_start_prints_a_qr_code_of_the_address(served: Served) -> None:
    out = served.psyq("kiosk", "start", "--client", "C0042", "--instruments", "phq9").stdout
    assert served.url in out
    qr = [line for line in out.splitlines() if "█" in line]
    assert len(qr) > 10  # a terminal QR code, drawn with block characters
