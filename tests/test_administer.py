"""`psyq administer`: answers piped on stdin, and a real terminal (pty) with Ctrl-C."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from psyq.store import Administration, open_store

from .packs import DirectoryPack

CLI = Callable[..., Result]
PHQ_LINES = "1\n2\n0\n1\n1\n0\n2\n1\n1\n1\n"  # item 9 answered 1: critical flag


def stored(home: Path) -> list[Administration]:
    with open_store(home / "psyq.db") as store:
        return store.administrations()


def test_piped_answers_complete_and_end_on_the_critical_flag(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    result = psyq_cli(
        "administer", "phq9", "--client", "C0042", "--clinician", "Dr Rao", input=PHQ_LINES
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Over the last 2 weeks" in out  # instructions first
    assert "[1/10] Little interest or pleasure in doing things" in out
    assert "     3  Nearly every day" in out
    assert "saved administration 1 (complete) for client C0042" in out
    assert any(line.startswith("total") and " 9  " in line for line in out.splitlines())
    tail = out.rstrip().splitlines()[-4:]
    assert tail[0] == tail[-1] == "!" * 72
    assert tail[1].startswith("!!! CRITICAL (item phq9_9):")
    [adm] = stored(psyq_home)
    assert adm.status == "complete" and adm.clinician == "Dr Rao"
    assert list(adm.answers.values()) == [1, 2, 0, 1, 1, 0, 2, 1, 1, 1]
    assert adm.result is not None and adm.result.total.value == 9


def test_skip_back_and_help(psyq_cli: CLI, psyq_home: Path) -> None:
    # item 1 = 3; item 2 skipped; '?' on item 3; back to item 2, answer 2;
    # item 3 Enter skips; items 4-9 answered, item 10 skipped.
    lines = ["3", "", "?", "b", "2", "", "1", "1", "1", "1", "1", "0", ""]
    result = psyq_cli("administer", "phq9", "--client", "C0042", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert "b         back to the previous item" in result.output
    [adm] = stored(psyq_home)
    assert list(adm.answers.values()) == [3, 2, None, 1, 1, 1, 1, 1, 0, None]
    assert adm.result is not None
    assert adm.result.total.value == 11  # 10 from 8 items, prorated x 9/8 = 11.25 -> 11
    assert adm.result.total.prorated


def test_back_then_enter_keeps_the_earlier_answer(psyq_cli: CLI, psyq_home: Path) -> None:
    lines = ["2", "b", "", *["0"] * 9]
    result = psyq_cli("administer", "phq9", "--client", "C0042", input="\n".join(lines) + "\n")
    assert "answered before: 2 (Enter keeps it)" in result.output
    [adm] = stored(psyq_home)
    assert adm.answers["phq9_1"] == 2 and adm.status == "complete"


def test_q_saves_partial_and_resume_finishes(psyq_cli: CLI, psyq_home: Path) -> None:
    first = psyq_cli("administer", "phq9", "--client", "C0042", input="1\n2\nq\n")
    assert first.exit_code == 1  # piped answers that stop early are an error for the script
    assert "2 answer(s) saved as partial administration 1" in first.output
    assert "psyq administer --resume 1" in first.output
    [adm] = stored(psyq_home)
    assert (adm.status, adm.position, adm.answers["phq9_2"], adm.answers["phq9_3"]) == (
        "partial",
        2,
        2,
        None,
    )
    again = psyq_cli("administer", "--resume", "1", input="0\n1\n1\n0\n2\n1\n0\n1\n")
    assert again.exit_code == 0, again.output
    assert "Resuming at item 3 of 10" in again.output
    [adm] = stored(psyq_home)
    assert adm.status == "complete"
    assert list(adm.answers.values()) == [1, 2, 0, 1, 1, 0, 2, 1, 0, 1]
    done = psyq_cli("administer", "--resume", "1")
    assert done.exit_code == 2 and "is complete; there is nothing to resume" in done.output


def test_end_of_input_keeps_a_partial_and_exits_1(psyq_cli: CLI, psyq_home: Path) -> None:
    result = psyq_cli("administer", "gad7", "--client", "C0001", input="3\n")
    assert result.exit_code == 1
    assert "1 answer(s) saved as partial administration 1" in result.output
    assert "PARTIAL: 1 of 7 items answered" in result.output
    [adm] = stored(psyq_home)
    assert adm.status == "partial" and adm.answers["gad7_1"] == 3


def test_q_after_item_9_shows_the_critical_flag_framed_last(psyq_cli: CLI, psyq_home: Path) -> None:
    # The case a review found: only "stopped: 9 answer(s) saved as partial" was printed.
    answers = "0\n0\n0\n0\n0\n0\n0\n0\n3\nq\n"
    result = psyq_cli("administer", "phq9", "--client", "C0046", input=answers)
    assert result.exit_code == 1
    tail = result.output.rstrip().splitlines()[-4:]
    assert tail[0] == "!" * 72 and tail[-1] == "!" * 72
    assert tail[1].startswith("!!! CRITICAL (item phq9_9): The client endorsed thoughts")
    assert "PARTIAL: 9 of 10 items answered" in result.output
    [adm] = stored(psyq_home)
    assert adm.status == "partial"
    assert adm.result is not None and [f.id for f in adm.result.flags] == ["suicidal_ideation"]


def test_stopping_before_item_9_says_ask_it_directly(psyq_cli: CLI, psyq_home: Path) -> None:
    result = psyq_cli("administer", "phq9", "--client", "C0046", input="2\n2\nq\n")
    assert result.exit_code == 1
    assert "!!! CRITICAL (item phq9_9): Critical item phq9_9 was not answered" in result.output
    # Items 1 and 2 at 2: other syndrome, quoting both items counted.
    assert "info (items phq9_1, phq9_2): Screening result" in result.output


def test_skipping_the_critical_item_asks_once_more(psyq_cli: CLI, psyq_home: Path) -> None:
    # Enter on item 9 asks again; Enter again asks again; 1 answers it.
    lines = ["0"] * 8 + ["", "", "1", "0"]
    result = psyq_cli("administer", "phq9", "--client", "C1", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("phq9_9 is a critical item") == 2
    [adm] = stored(psyq_home)
    assert (adm.status, adm.answers["phq9_9"]) == ("complete", 1)
    # s confirms the skip: complete, with the critical flag.
    lines = ["0"] * 8 + ["", "s", "0"]
    result = psyq_cli("administer", "phq9", "--client", "C2", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    adm = stored(psyq_home)[-1]
    assert (adm.status, adm.answers["phq9_9"]) == ("complete", None)
    assert adm.result is not None
    assert [(f.id, f.item) for f in adm.result.flags] == [("critical_item_unanswered", "phq9_9")]
    assert "!!! CRITICAL (item phq9_9): Critical item phq9_9 was not answered" in result.output


def test_bad_piped_answer_stops_without_shifting_answers(psyq_cli: CLI, psyq_home: Path) -> None:
    result = psyq_cli("administer", "phq9", "--client", "C0042", input="1\n7\n2\n2\n")
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert message.startswith("psyq: error: stdin answer 2: item phq9_2: '7' is not an allowed")
    assert "saved as partial administration 1" in message
    [adm] = stored(psyq_home)
    assert adm.status == "partial" and adm.position == 1
    assert [v for v in adm.answers.values() if v is not None] == [1]


def test_bad_first_answer_saves_nothing(psyq_cli: CLI, psyq_home: Path) -> None:
    result = psyq_cli("administer", "phq9", "--client", "C0042", input="yes\n")
    assert result.exit_code == 2
    assert "nothing was saved" in result.stderr
    assert stored(psyq_home) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["administer", "phq9"], "give the instrument and the client"),
        (["administer", "phq9", "--client", "Jane Doe"], "not a valid pseudonymous id"),
        (["administer", "--resume", "5"], "no administration 5"),
        (["administer", "nope", "--client", "C1"], "nope"),
        (["administer", "phq9", "--client", "C1", "--report", "r.docx"], "no output format"),
    ],
)
def test_mistakes_are_one_line_before_any_question(
    psyq_cli: CLI, args: list[str], message: str
) -> None:
    result = psyq_cli(*args, input=PHQ_LINES)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "[1/10]" not in result.output


def test_report_file_follows_its_suffix(psyq_cli: CLI, psyq_home: Path, tmp_path: Path) -> None:
    psyq_cli(
        "record",
        "phq9",
        "--client",
        "C0042",
        "--date",
        "2026-01-05",
        "--answers",
        "3,3,3,3,3,3,3,3,0",
    )
    out_json, out_txt = tmp_path / "r.json", tmp_path / "r.txt"
    result = psyq_cli(
        "administer", "phq9", "--client", "C0042", "--report", str(out_json), input=PHQ_LINES
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out_json.read_text())
    assert doc["scores"]["total"]["value"] == 9
    assert doc["report"]["client_id"] == "C0042"
    # Items 2, 7 and 9 count for the PHQ-9 algorithm: other depressive syndrome.
    assert [f["id"] for f in doc["flags"]] == ["suicidal_ideation", "other_depressive_syndrome"]
    assert oct(out_json.stat().st_mode & 0o777) == "0o600"
    psyq_cli("administer", "gad7", "--client", "C0042", "--report", str(out_txt), input="1\n" * 7)
    assert out_txt.read_text().startswith("Generalized Anxiety Disorder")


# -- a real terminal -----------------------------------------------------------


class Terminal:
    """A child process on a pseudo-terminal, driven like a person at the keyboard."""

    def __init__(self, args: list[str]) -> None:
        master, slave = os.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "psyq", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.seen = b""

    def expect(self, text: str, limit: float = 20.0) -> str:
        """Read until ``text`` appears (``limit`` only guards against a hang)."""
        wanted = text.encode()
        give_up = time.monotonic() + limit
        while wanted not in self.seen:
            left = give_up - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(left, 0))
            chunk = b""
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
            if not chunk:
                raise AssertionError(f"never saw {text!r}; screen ends: {self.seen[-600:]!r}")
            self.seen += chunk
        end = self.seen.index(wanted) + len(wanted)
        shown, self.seen = self.seen[:end], self.seen[end:]
        return shown.decode(errors="replace")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def close(self) -> int:
        code = self.proc.wait(timeout=60)
        os.close(self.master)
        return code


@pytest.fixture
def terminal(psyq_home: Path) -> Iterator[Callable[..., Terminal]]:
    opened: list[Terminal] = []

    def start(*args: str) -> Terminal:
        term = Terminal(list(args))
        opened.append(term)
        return term

    yield start
    for term in opened:
        if term.proc.poll() is None:
            term.proc.kill()
            term.proc.wait()


@pytest.mark.slow
def test_at_the_keyboard(terminal: Callable[..., Terminal], psyq_home: Path) -> None:
    term = terminal("administer", "phq9", "--client", "C0042", "--clinician", "Dr Rao")
    term.expect("Over the last 2 weeks")
    for n, answer in enumerate(["2", "1"], start=1):
        term.expect(f"[{n}/10]")
        term.expect("q save and quit): ")
        term.type(answer)
    term.expect("[3/10]")
    term.expect("quit): ")
    term.type("b")  # change item 2 from 1 to 3
    term.expect("answered before: 1 (Enter keeps it)")
    term.expect("quit): ")
    term.type("3")
    term.expect("[3/10]")
    term.expect("quit): ")
    term.type("9")  # not an answer: said so, asked again
    term.expect("'9' is not an allowed answer")
    term.expect("quit): ")
    term.type("?")
    term.expect("q         save the answers so far and quit")
    for _ in range(3, 11):
        term.expect("quit): ")
        term.type("0")
    term.expect("saved administration 1 (complete) for client C0042")
    screen = term.expect("Mild")
    assert "total" in screen and "CRITICAL" not in screen  # item 9 is 0: no flag
    assert term.close() == 0
    [adm] = stored(psyq_home)
    assert adm.status == "complete"
    assert list(adm.answers.values()) == [2, 3, 0, 0, 0, 0, 0, 0, 0, 0]


@pytest.mark.slow
def test_ctrl_c_keeps_the_answers_given(terminal: Callable[..., Terminal], psyq_home: Path) -> None:
    term = terminal("administer", "gad7", "--client", "C0042")
    for n, answer in enumerate(["3", "2", "1"], start=1):
        term.expect(f"[{n}/7]")
        term.expect("quit): ")
        term.type(answer)
    term.expect("[4/7]")
    term.expect("quit): ")
    term.proc.send_signal(signal.SIGINT)
    term.expect("interrupted: 3 answer(s) saved as partial administration 1")
    term.expect("PARTIAL: 3 of 7 items answered; flags from the answers so far:")
    assert term.close() == 130
    [adm] = stored(psyq_home)
    assert adm.status == "partial" and adm.position == 3
    assert [adm.answers[f"gad7_{i}"] for i in range(1, 5)] == [3, 2, 1, None]


def test_each_answer_is_one_audited_save(psyq_cli: CLI, psyq_home: Path) -> None:
    psyq_cli("administer", "gad7", "--client", "C0042", input="1\n" * 7)
    from psyq import audit

    with open_store(psyq_home / "psyq.db") as store:
        actions = [e.action for e in audit.entries(store.connection) if e.record.startswith("adm")]
        assert audit.verify(store).ok
    assert actions == ["start", *["answer"] * 5, "complete"]


def test_report_carries_the_client_history(psyq_cli: CLI, tmp_path: Path) -> None:
    old = ["--date", "2026-01-05", "--answers", "3,3,3,3,3,3,3,3,0"]
    psyq_cli("record", "phq9", "--client", "C0042", *old)
    psyq_cli(
        "record",
        "phq9",
        "--client",
        "C0099",
        "--date",
        "2026-02-07",
        "--answers",
        "0,0,0,0,0,0,0,0,0",
    )
    html = tmp_path / "r.html"
    result = psyq_cli(
        "administer", "phq9", "--client", "C0042", "--report", str(html), input=PHQ_LINES
    )
    assert result.exit_code == 0, result.output
    text = html.read_text()
    assert "2026-01-05" in text  # the earlier administration is on the trend
    assert "2026-02-07" not in text  # another client's is not


def test_required_item_cannot_be_skipped(
    psyq_cli: CLI,
    psyq_register: Callable[..., object],
    psyq_home: Path,
    tmp_path: Path,
    minimal_yaml: str,
) -> None:
    (tmp_path / "mini.yaml").write_text(
        minimal_yaml.replace(
            "{id: m1, text: One, response_scale: freq}",
            "{id: m1, text: One, response_scale: freq, required: true}",
        )
    )
    psyq_register(DirectoryPack("required pack", tmp_path), "required-pack")
    result = psyq_cli("administer", "mini", "--client", "C0042", input="\n1\n")
    assert "[1/3] One  (required)" in result.output
    assert "answer (b back, ? help, q save and quit): " in result.output  # no "Enter skip"
    assert result.exit_code == 2
    assert "item m1: an answer is required" in result.stderr
    assert stored(psyq_home) == []


@pytest.mark.slow
def test_ctrl_c_after_item_9_shows_the_critical_flag(
    terminal: Callable[..., Terminal], psyq_home: Path
) -> None:
    term = terminal("administer", "phq9", "--client", "C0042")
    for n in range(1, 10):
        term.expect(f"[{n}/10]")
        term.expect("quit): ")
        term.type("2" if n == 9 else "0")
    term.expect("[10/10]")
    term.expect("quit): ")
    term.proc.send_signal(signal.SIGINT)
    term.expect("interrupted: 9 answer(s) saved as partial administration 1")
    term.expect("!!! CRITICAL (item phq9_9): The client endorsed thoughts")
    term.expect("Review this with the client now")
    assert term.close() == 130


@pytest.mark.slow
def test_critical_item_skip_needs_a_keypress(
    terminal: Callable[..., Terminal], psyq_home: Path
) -> None:
    term = terminal("administer", "phq9", "--client", "C0042")
    for n in range(1, 9):
        term.expect(f"[{n}/10]")
        term.expect("quit): ")
        term.type("0")
    term.expect("[9/10]")
    term.expect("quit): ")
    term.type("")
    term.expect("phq9_9 is a critical item")
    term.expect("s to skip it anyway, or an answer: ")
    term.type("s")
    term.expect("[10/10]")
    term.expect("quit): ")
    term.type("q")
    term.expect("!!! CRITICAL (item phq9_9): Critical item phq9_9 was not answered")
    assert term.close() == 0  # q at a keyboard is a choice, not an error
