"""Bad input is one clear line (or one bad row of a batch), never an "internal error",
never an aborted batch, never a hang or a memory blow-up."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from psyq.manager import PsyqPluginManager

from .cohorts import PHQ9_ITEMS, read_csv

CLI = Callable[..., Result]
BIG = "1" * 5000
GOOD = {item: 1 for item in PHQ9_ITEMS}


def psyq(*args: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user meets it (with main()'s error handling)."""
    return subprocess.run(
        [sys.executable, "-m", "psyq", *args],
        env={**os.environ, "PSYQ_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(result: subprocess.CompletedProcess[str] | Result, code: int = 2) -> str:
    err = result.stderr
    assert result.returncode if isinstance(result, subprocess.CompletedProcess) else True
    exit_code = (
        result.returncode if isinstance(result, subprocess.CompletedProcess) else result.exit_code
    )
    assert exit_code == code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("psyq: error: "), err
    assert "internal error" not in err and "Traceback" not in err
    return lines[0]


# -- 10: a 5000-digit number is one bad row / one line -----------------------------------------


def test_huge_number_in_a_jsonl_row_is_one_bad_row(psyq_cli: CLI, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"client_id": "C1", **GOOD})
        + "\n"
        + json.dumps({"client_id": "C2", **GOOD}).replace('"phq9_1": 1', f'"phq9_1": {BIG}')
        + "\n"
    )
    out = tmp_path / "out"
    result = psyq_cli("batch", str(src), "--instrument", "phq9", "--out", str(out),
                      "--scores-only", "--summary", "html", "--quiet")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert [r["client_id"] for r in read_csv(out / "scores.csv")] == ["C1"]
    [error] = read_csv(out / "errors.csv")
    assert error["row"] == "2" and "a number 5000 characters long" in error["reason"]


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_huge_number_in_an_answers_file_is_one_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"answers{suffix}"
    path.write_text(f'{{"phq9_1": {BIG}}}' if suffix == ".json" else f"phq9_1: {BIG}\n")
    result = psyq("score", "phq9", "--answers-file", str(path), home=tmp_path / "home")
    assert "a number 5000 characters long" in one_line_error(result)


def test_huge_integer_given_as_a_number_is_one_line(tmp_path: Path) -> None:
    """4000 digits pass Python's parser but not its int-to-text limit (4300) when shown."""
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"phq9_1": int("9" * 99), "phq9_2": 1}))
    result = psyq("score", "phq9", "--answers-file", str(path), home=tmp_path / "home")
    assert "item phq9_1" in one_line_error(result)
    listed = psyq("score", "phq9", "--answers", "9" * 4200 + ",1", home=tmp_path / "home")
    assert "item phq9_1" in one_line_error(listed)


# -- 11: a huge client id is refused before any other work ------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_10_mb_client_id_is_one_short_bad_row(psyq_cli: CLI, tmp_path: Path, suffix: str) -> None:
    src = tmp_path / f"in{suffix}"
    if suffix == ".jsonl":
        src.write_text(
            json.dumps({"client_id": "C" * 10_000_000, **GOOD})
            + "\n"
            + json.dumps({"client_id": "C2", **GOOD})
            + "\n"
        )
    else:  # a cell far over csv's own 128 KB limit, which used to stop the whole file
        answers = ",".join("1" * 9)
        src.write_text(
            "client_id," + ",".join(PHQ9_ITEMS) + f"\n{'C' * 10_000_000},{answers}\nC2,{answers}\n"
        )
    out = tmp_path / "out"
    result = psyq_cli("batch", str(src), "--instrument", "phq9", "--out", str(out),
                      "--format", "json", "--summary", "html", "--quiet")  # fmt: skip
    assert result.exit_code == 1, result.output
    [error] = read_csv(out / "errors.csv")
    assert error["row"] == ("1" if suffix == ".jsonl" else "2")
    assert "10000000 characters long" in error["reason"]
    assert (out / "errors.csv").stat().st_size < 1000  # the id is not copied around
    assert [p.name for p in (out / "reports").iterdir()] == ["C2_phq9.json"]


# -- 12: duplicate keys in any JSON input ---------------------------------------------------------


def test_duplicate_keys_are_refused_everywhere(
    psyq_cli: CLI, tmp_path: Path, minimal_yaml: str
) -> None:
    answers = tmp_path / "a.json"
    answers.write_text('{"phq9_9": 3, "phq9_9": 0}')
    result = psyq_cli("score", "phq9", "--answers-file", str(answers))
    assert result.exit_code == 2 and "duplicate key 'phq9_9'" in result.output

    src = tmp_path / "in.jsonl"
    row = json.dumps({"client_id": "C1", **GOOD})
    src.write_text(row + "\n" + row[:-1] + ', "phq9_9": 3}\n')
    out = tmp_path / "out"
    batch = psyq_cli("batch", str(src), "--instrument", "phq9", "--out", str(out),
                     "--scores-only", "--summary", "html", "--quiet")  # fmt: skip
    assert batch.exit_code == 1
    [error] = read_csv(out / "errors.csv")
    assert error["row"] == "2" and "duplicate key 'phq9_9'" in error["reason"]

    definition = tmp_path / "mini.json"
    definition.write_text('{"id": "mini", "id": "other", "version": "1"}')
    validate = psyq_cli("validate", str(definition))
    assert validate.exit_code == 2 and "duplicate key 'id'" in validate.output

    questionnaire = tmp_path / "q.json"
    questionnaire.write_text('{"resourceType": "Questionnaire", "resourceType": "Patient"}')
    fhir = psyq_cli("import-fhir", str(questionnaire))
    assert fhir.exit_code == 2 and "duplicate key 'resourceType'" in fhir.output


# -- 13: devices, FIFOs, folders and oversized files -------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["validate", "{}"],
        ["score", "phq9", "--answers-file", "{}"],
        ["batch", "{}", "--instrument", "phq9", "--out", "OUT"],
        ["import-fhir", "{}"],
    ],
    ids=["validate", "score", "batch", "import-fhir"],
)
def test_devices_fifos_and_folders_are_refused_without_reading(
    tmp_path: Path, command: list[str]
) -> None:
    fifo = tmp_path / "answers.json"
    os.mkfifo(fifo)
    for target, kind in (("/dev/zero", "a device or socket"), (str(fifo), "a FIFO"),
                         (str(tmp_path), "a folder")):  # fmt: skip
        args = [a.replace("{}", target).replace("OUT", str(tmp_path / "o")) for a in command]
        result = psyq(*args, home=tmp_path / "home", timeout=30)  # a FIFO used to block
        out = result.stdout + result.stderr
        assert result.returncode == 2, out
        assert "internal error" not in out and "Traceback" not in out
        if kind == "a folder":  # click may name it first, in its own words
            assert "a folder, not a regular file" in out or "is a directory" in out
        else:
            assert f"{kind}, not a regular file" in out


def test_oversized_inputs_are_refused(psyq_cli: CLI, tmp_path: Path) -> None:
    big = tmp_path / "a.yaml"
    big.write_bytes(b"# " + b"x" * (1024 * 1024 + 10) + b"\n")
    result = psyq_cli("score", "phq9", "--answers-file", str(big))
    assert (
        result.exit_code == 2
        and "larger than the 1 MB an answers file is limited to" in result.output
    )


# -- 18: the remaining "internal error"s, and misleading messages --------------------------------


def test_paths_that_cannot_be_written_are_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    src = tmp_path / "in.csv"
    src.write_text("client_id," + ",".join(PHQ9_ITEMS) + "\nC1," + ",".join("1" * 9) + "\n")
    blocker = tmp_path / "afile"
    blocker.write_text("")
    batch = psyq("batch", str(src), "--instrument", "phq9", "--out", str(blocker / "sub"),
                 "--scores-only", home=home)  # fmt: skip
    assert "afile/sub: cannot write: part of the path is a file" in one_line_error(batch)
    assert (
        psyq(
            "record", "phq9", "--client", "C1", "--answers", "1,1,1,1,1,1,1,1,1", home=home
        ).returncode
        == 0
    )
    export = psyq("export", "-o", str(tmp_path / "nonexistent" / "x.csv"), home=home)
    assert "x.csv: cannot write: the folder does not exist" in one_line_error(export)


def test_huge_administration_ids_are_not_found_not_overflows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    huge = "99999999999999999999999"
    report = psyq("report", "--administration", huge, "-o", str(tmp_path / "r.json"), home=home)
    assert f"no administration {huge}" in one_line_error(report)
    resume = psyq("administer", "--resume", huge, home=home)
    assert f"no administration {huge}" in one_line_error(resume)


@pytest.mark.parametrize(
    ("err", "words", "code"),
    [
        (errno.ENOSPC, "the disk is full; finished rows are kept", 1),
        (errno.EROFS, "the file system is read-only; finished rows are kept", 1),
    ],
)
def test_disk_full_and_read_only_in_batch_and_export(
    psyq_cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int, words: str, code: int
) -> None:
    src = tmp_path / "in.csv"
    src.write_text("client_id," + ",".join(PHQ9_ITEMS) + "\nC1," + ",".join("1" * 9) + "\n")
    assert (
        psyq_cli("record", "phq9", "--client", "C1", "--answers", "1,1,1,1,1,1,1,1,1").exit_code
        == 0
    )

    def failing_fsync(fd: int) -> None:
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr("psyq.files.os.fsync", failing_fsync)
    batch = psyq_cli("batch", str(src), "--instrument", "phq9", "--out", str(tmp_path / "o"),
                     "--format", "json", "--summary", "html", "--quiet")  # fmt: skip
    assert words in one_line_error(batch, code)
    export = psyq_cli("export", "-o", str(tmp_path / "x.csv"))
    assert f"x.csv: cannot write: {words.split(';')[0]}" in one_line_error(export, code)
    assert not list(tmp_path.glob(".x.csv.*"))  # no temporary left behind


def test_empty_and_list_definitions_get_messages_that_say_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    listed = tmp_path / "list.yaml"
    listed.write_text("- id: x\n")
    result = psyq("validate", str(empty), str(listed), home=tmp_path / "home")
    out = result.stdout + result.stderr
    assert result.returncode == 2
    assert "empty.yaml: the file is empty" in out
    assert "list.yaml: the top level must be a mapping" in out
    assert "not a list" in out and "LinedList" not in out
    assert "no plugin reads" not in out


# -- 19: click's usage block becomes one psyq line -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            [
                "record",
                "phq9",
                "--client",
                "C1",
                "--answers",
                "1,1,1,1,1,1,1,1,1",
                "--date",
                "2026-02-30",
            ],
            "'2026-02-30' is not a date",
        ),
        (["export", "-o", "{tmp}"], "is a directory"),
        (["export", "--bogus"], "No such option"),
        (["--dbb", "x", "list"], "Did you mean '--db'?"),
        (["nosuch"], "No such command"),
    ],
    ids=["bad-date", "output-folder", "unknown-option", "suggestion", "unknown-command"],
)
def test_usage_errors_are_one_psyq_line(tmp_path: Path, args: list[str], words: str) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = psyq(*args, home=tmp_path / "home")
    line = one_line_error(result)
    assert words in line and "--help" in line
    assert "Usage:" not in result.stderr


# -- 5: the same free-text caps for `record` as for `report` ----------------------------------


@pytest.mark.parametrize(
    ("option", "limit"), [("--note", 5000), ("--clinician", 200)], ids=["note", "clinician"]
)
def test_record_caps_free_text_like_report(
    psyq_cli: CLI, psyq_home: Path, option: str, limit: int
) -> None:
    from psyq.plugins.report.command import MAX_FIELD_CHARS, MAX_NOTE_CHARS

    assert limit == (MAX_NOTE_CHARS if option == "--note" else MAX_FIELD_CHARS)
    base = ["record", "phq9", "--client", "C1", "--answers", "1,1,1,1,1,1,1,1,1"]
    refused = psyq_cli(*base, option, "x" * (limit + 1))
    assert refused.exit_code == 2
    assert f"{option}: {limit + 1} characters; at most {limit} are allowed" in refused.output
    assert not (psyq_home / "psyq.db").exists()  # nothing stored
    report = psyq_cli("report", "phq9", "--answers", "1,1,1,1,1,1,1,1,1", "--client", "C1", option,
                      "x" * (limit + 1), "-o", str(psyq_home / "r.json"))  # fmt: skip
    assert report.exit_code == 2 and f"at most {limit} are allowed" in report.output
    assert psyq_cli(*base, option, "x" * limit).exit_code == 0


# -- 17: batch dates are dates ------------------------------------------------------------------


def test_batch_dates_must_be_whole_dates(psyq_cli: CLI, tmp_path: Path) -> None:
    answers = ",".join("1" * 9)
    src = tmp_path / "in.csv"
    src.write_text(
        "client_id,date," + ",".join(PHQ9_ITEMS) + "\n"
        f"C1,2026-01-01/../../x,{answers}\n"
        f'C2,"2026-01-01<script>alert(1)</script>",{answers}\n'
        f"C3,2026-01-01,{answers}\n"
        f"C4,2026-01-02T10:30:00+01:00,{answers}\n"
    )
    out = tmp_path / "out"
    result = psyq_cli("batch", str(src), "--instrument", "phq9", "--out", str(out),
                      "--format", "json", "--summary", "html", "--quiet")  # fmt: skip
    assert result.exit_code == 1
    errors = read_csv(out / "errors.csv")
    assert [e["client_id"] for e in errors] == ["C1", "C2"]
    assert all("is not a date; use YYYY-MM-DD" in e["reason"] for e in errors)
    assert [r["client_id"] for r in read_csv(out / "scores.csv")] == ["C3", "C4"]
    assert sorted(p.name for p in (out / "reports").iterdir()) == [
        "C3_phq9_2026-01-01.json",
        "C4_phq9_2026-01-02T10-30-00-01-00.json",
    ]


# -- 15: untrusted text never escapes a YAML comment ------------------------------------------


@pytest.mark.parametrize("breaker", ["\u2028", "\u2029", "\u0085", "\r"])
def test_import_fhir_link_ids_cannot_inject_yaml(
    psyq_cli: CLI, tmp_path: Path, breaker: str
) -> None:
    import yaml

    evil = f"q1{breaker}flags: [{{id: injected, level: critical}}]{breaker}instructions: pwned"
    questionnaire = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "name": "Tiny",
        "item": [
            {
                "linkId": evil,
                "text": "A question",
                "type": "choice",
                "answerValueSet": f"http://x.org/vs{breaker}examples: []",
            },
            {
                "linkId": "q2",
                "text": "Fine",
                "type": "choice",
                "answerOption": [
                    {"valueCoding": {"code": "0", "display": "No"}},
                    {"valueCoding": {"code": "1", "display": "Yes"}},
                ],
            },
        ],
    }
    source = tmp_path / "q.json"
    source.write_text(json.dumps(questionnaire))
    out = tmp_path / "draft.yaml"
    result = psyq_cli("import-fhir", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert "flags" not in data or all(f.get("id") != "injected" for f in data["flags"])
    assert data.get("instructions") != "pwned" and data.get("examples") != []
    header = text[: text.index("\n" + next(iter(data)))]
    # Shown inside the comment: escaped (or, for CR, turned into a space by wrapping).
    assert f"\\u{ord(breaker):04x}flags" in header or (breaker == "\r" and "q1 flags" in header)
    assert all(line.startswith("#") for line in header.splitlines())


# -- 16: bidi overrides and control characters in free text are shown escaped ---------------


@pytest.mark.parametrize("suffix", [".html", ".pdf"])
def test_bidi_and_control_characters_in_notes_are_shown_escaped(
    psyq_cli: CLI, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"r{suffix}"
    note = "score 12 \u202e21 erocs\u202c and \x1b[8mhidden\x1b[0m"
    clinician = "Dr \u2067Rao\u2069"
    answers = "1,1,1,1,1,1,1,1,0"
    args = ["--client", "C1", "--clinician", clinician, "--note", note, "-o", str(out)]
    result = psyq_cli("report", "phq9", "--answers", answers, *args)
    assert result.exit_code == 0, result.output
    if suffix == ".html":
        text = out.read_text(encoding="utf-8")
    else:
        from pypdf import PdfReader

        text = "".join(page.extract_text() for page in PdfReader(out).pages)
        text = " ".join(text.split())
    for raw in ("\u202e", "\u202c", "\x1b", "\u2067", "\u2069"):
        assert raw not in text
    assert "\\u202e21 erocs\\u202c" in text and "\\x1b[8mhidden" in text
    assert "Dr \\u2067Rao\\u2069" in text


def test_json_outputs_escape_bidi_and_controls_but_keep_the_data(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    note = "score 12 \u202e21 erocs\u202c and \x1b[8mhidden"
    out = tmp_path / "r.json"
    result = psyq_cli("report", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--client", "C1",
                      "--note", note, "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        psyq_cli(
            "record", "phq9", "--client", "C1", "--answers", "1,1,1,1,1,1,1,1,1", "--note", note
        ).exit_code
        == 0
    )
    exported = psyq_cli("export", "--format", "jsonl").stdout
    for text, parsed in (
        (out.read_text(encoding="utf-8"), json.loads(out.read_text())["report"]["note"]),
        (exported, json.loads(exported.splitlines()[0])["administration"]["note"]),
    ):
        assert parsed == note  # the same data once parsed
        assert "\u202e" not in text and "\x1b" not in text
        assert "\\u202e21 erocs\\u202c" in text and "\\u001b[8mhidden" in text


# -- 14 (and 18's validate errors): a malformed definition in a plugin's folder -------------


def test_malformed_definitions_in_a_pack_are_skipped_with_one_warning_each(
    psyq_cli: CLI,
    psyq_register: Callable[..., object],
    psyq_pm: PsyqPluginManager,
    tmp_path: Path,
    minimal_yaml: str,
) -> None:
    from .packs import DirectoryPack

    psyq_pm.strict = False  # a normal run warns; psyq.testing's manager is strict

    pack = tmp_path / "pack"
    pack.mkdir()
    rule = "    missing: {max_missing: 1, prorate: true}\n"
    bad = {
        "huge-add.yaml": minimal_yaml.replace(rule, rule + "    transform: {add: 1.0e+30}\n"),
        "zero-weights.yaml": minimal_yaml.replace(
            rule, "    method: mean\n    weights: {m1: 0, m2: 0, m3: 0}\n"
        ),
        "long-int.yaml": minimal_yaml.replace("min: 3, max: 6", "min: 3, max: " + "6" * 5000),
        "long-int.json": '{"id": "x", "version": ' + "7" * 5000 + "}",
    }
    for name, text in bad.items():
        (pack / name).write_text(text.replace("id: mini", f"id: {name.split('.')[0][:4]}"))
    psyq_register(DirectoryPack("broken pack", pack), "broken-pack")
    result = psyq_cli("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == len(bad)
    for name in bad:
        [line] = [w for w in warnings if f"{name}" in w]
        assert "broken pack" in line and "internal error" not in line
    for name in bad:
        validate = psyq_cli("validate", str(pack / name))
        assert validate.exit_code == 2, validate.output
        assert "Traceback" not in validate.output
