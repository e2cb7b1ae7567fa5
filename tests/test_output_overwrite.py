"""A file named with -o (or --report) is never replaced without --force.

Every command that writes a file the user names refuses one that is there:
one line naming it and --force, exit 2, the old bytes left as they were and
no temporary file beside them. With --force the file is replaced whole and
private (0600).
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.test_bad_input import one_line_error

CLI = Callable[..., Result]
EARLIER = b"an earlier file the user wants to keep\n"
PHQ9 = ("1", "1", "1", "1", "1", "1", "1", "1", "0")


def _simulated(psyq_cli: CLI, folder: Path) -> Path:
    data = folder / "pilot.csv"
    assert psyq_cli("simulate", "phq9", "--n", "120", "-o", data).exit_code == 0
    return data


def _arguments(command: str, psyq_cli: CLI, folder: Path) -> tuple[str | Path, ...]:
    """The command line up to its output file (given last), with any input it needs."""
    if command == "norms build":
        data = _simulated(psyq_cli, folder)
        return ("norms", "build", "phq9", data, "--ignore-extra-columns",
                "--description", "simulated", "-o")  # fmt: skip
    if command == "analyze":
        return ("analyze", "phq9", _simulated(psyq_cli, folder), "--ignore-extra-columns", "-o")
    return COMMANDS[command]


COMMANDS: dict[str, tuple[str, ...]] = {
    "simulate": ("simulate", "phq9", "--n", "5", "-o"),
    "norms build": (),
    "analyze": (),
    "report": ("report", "phq9", "--answers", ",".join(PHQ9), "--client", "C-1", "-o"),
    "export": ("export", "-o"),
}
SUFFIX = {"analyze": ".html", "report": ".json"}


def _existing(folder: Path, suffix: str) -> Path:
    target = folder / f"kept{suffix}"
    target.write_bytes(EARLIER)
    return target


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".psyq-tmp")]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_existing_output_is_kept_unless_forced(
    psyq_cli: CLI, tmp_path: Path, command: str
) -> None:
    args = _arguments(command, psyq_cli, tmp_path)
    target = _existing(tmp_path, SUFFIX.get(command, ".csv"))
    target.chmod(0o644)

    line = one_line_error(psyq_cli(*args, target))

    assert line == f"psyq: error: {target} exists; choose another name or pass --force"
    assert target.read_bytes() == EARLIER
    assert not _leftovers(tmp_path)

    forced = psyq_cli(*args, target, "--force")

    assert forced.exit_code == 0, forced.output
    written = target.read_bytes()
    assert written and written != EARLIER
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not _leftovers(tmp_path)


@pytest.mark.parametrize(
    "args", [("simulate", "phq9", "--n", "5", "-o"), ("compile", "phq9", "--to", "fhir", "-o")]
)
def test_a_link_at_the_output_name_is_refused_not_followed(
    psyq_cli: CLI, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """compile and import-redcap refused an existing file before, but replaced a dangling
    link (``exists()`` follows it); now every -o takes a link, dangling or not, as there."""
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_bytes(EARLIER)
    link = tmp_path / "pilot.csv"
    link.symlink_to(elsewhere)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nothing-here.csv")

    for target in (link, dangling):
        line = one_line_error(psyq_cli(*args, target))
        assert f"{target} exists" in line and "--force" in line
        assert target.is_symlink()
    assert elsewhere.read_bytes() == EARLIER
    assert not (tmp_path / "nothing-here.csv").exists()


def test_import_fhir_refuses_a_link_at_its_output_name(psyq_cli: CLI, tmp_path: Path) -> None:
    """import-fhir refused an existing file but replaced a dangling link."""
    questionnaire = tmp_path / "phq9.fhir.json"
    assert psyq_cli("compile", "phq9", "--to", "fhir", "-o", questionnaire).exit_code == 0
    dangling = tmp_path / "draft.yaml"
    dangling.symlink_to(tmp_path / "nothing-here.yaml")

    line = one_line_error(psyq_cli("import-fhir", questionnaire, "--id", "phq9x", "-o", dangling))

    assert f"{dangling} exists" in line and "--force" in line
    assert dangling.is_symlink() and not (tmp_path / "nothing-here.yaml").exists()
    forced = psyq_cli("import-fhir", questionnaire, "--id", "phq9x", "-o", dangling, "--force")
    assert forced.exit_code == 0, forced.output
    assert not dangling.is_symlink() and "phq9x" in dangling.read_text()


def test_administer_refuses_an_existing_report_before_the_first_item(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    target = _existing(tmp_path, ".json")
    answers = "\n".join([*PHQ9, "1"]) + "\n"  # piped, one a line; the last: difficulty
    run = ("administer", "phq9", "--client", "C-1", "--report", target)

    refused = psyq_cli(*run, input=answers)

    line = one_line_error(refused)
    assert line == f"psyq: error: {target} exists; choose another name or pass --force"
    assert "saved administration" not in refused.output  # refused before the form began
    assert target.read_bytes() == EARLIER

    forced = psyq_cli(*run, "--force", input=answers)
    assert forced.exit_code == 0, forced.output
    assert b'"C-1"' in target.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_an_output_taken_while_the_command_ran_is_not_replaced(
    psyq_cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is claimed when the finished file is put in place, not only checked first:
    a file that appears there meanwhile (another run, another user) is kept."""
    from psyq.plugins.analysis import simulate

    target = tmp_path / "pilot.csv"
    real = simulate.to_csv

    def slow_to_csv(*args: object) -> str:
        target.write_bytes(EARLIER)  # another process takes the name while this one works
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(simulate, "to_csv", slow_to_csv)
    line = one_line_error(psyq_cli("simulate", "phq9", "--n", "5", "-o", target))

    assert line == f"psyq: error: {target} exists; choose another name or pass --force"
    assert target.read_bytes() == EARLIER
    assert not _leftovers(tmp_path)
