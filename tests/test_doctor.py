"""`psyq doctor` and the once-only warning about slow font subsetting."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

from psyq import pdf as psyq_pdf

CLI = Callable[..., Result]

import weasyprint.text.ffi as weasyprint_ffi  # noqa: E402


def test_doctor_passes_on_a_complete_machine(psyq_cli: CLI) -> None:
    if psyq_pdf.subsetting_backend() != "harfbuzz":
        pytest.skip("this machine lacks libharfbuzz-subset0; the failing case is tested below")
    result = psyq_cli("doctor")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in ("WeasyPrint", "Pango", "HarfBuzz subset", "fonts", "test render"):
        assert any(line.startswith("ok") and name in line for line in lines), name
    assert "reports use DejaVu Sans (" in result.output
    assert "no problems found" in result.output


def test_doctor_fails_with_the_fix_when_harfbuzz_subset_is_missing(
    psyq_cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weasyprint_ffi, "harfbuzz_subset", None)
    monkeypatch.setattr(psyq_pdf, "_warned_subsetting", True)  # keep stderr quiet here
    result = psyq_cli("doctor")
    assert result.exit_code == 1
    assert "FAIL  HarfBuzz subset" in result.output
    assert "fix: sudo apt-get install -y libharfbuzz-subset0" in result.output
    assert "1 problem(s): HarfBuzz subset" in result.output


def test_doctor_fails_when_weasyprint_cannot_load(
    psyq_cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from psyq.plugins.commands import doctor

    def broken() -> doctor.Check:
        return doctor.Check("WeasyPrint", False, "cannot be imported: no libpango", doctor.APT_FIX)

    monkeypatch.setattr(doctor, "CHECKS", (broken, *doctor.CHECKS[1:]))
    monkeypatch.setattr(doctor, "check_weasyprint", broken)
    result = psyq_cli("doctor")
    assert result.exit_code == 1
    assert "FAIL  WeasyPrint" in result.output
    assert result.output.count("FAIL") == 1
    # The PDF checks after it are skipped; the store check needs none of them.
    oks = [line for line in result.output.splitlines() if line.startswith("ok")]
    assert [line.split()[1:3] for line in oks] == [["store", "integrity"]]


def test_slow_subsetting_is_said_once_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(weasyprint_ffi, "harfbuzz_subset", None)
    monkeypatch.setattr(psyq_pdf, "_warned_subsetting", False)
    assert psyq_pdf.subsetting_backend() == "fonttools"
    assert psyq_pdf.warn_if_slow_subsetting() is True
    assert psyq_pdf.warn_if_slow_subsetting() is True
    err = capsys.readouterr().err
    assert err.count("libharfbuzz-subset0 is missing") == 1
    assert "sudo apt-get install -y libharfbuzz-subset0" in err


def test_batch_parent_warns_once_and_workers_stay_quiet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(psyq_pdf, "harfbuzz_subset_installed", lambda: False)
    monkeypatch.setattr(psyq_pdf, "_warned_subsetting", False)
    psyq_pdf.warn_once_for_workers()
    psyq_pdf.warn_once_for_workers()
    assert capsys.readouterr().err.count("libharfbuzz-subset0 is missing") == 1
    # A worker: its parent has warned, so even on a slow machine it says nothing.
    monkeypatch.setattr(weasyprint_ffi, "harfbuzz_subset", None)
    monkeypatch.setattr(psyq_pdf, "_warned_subsetting", False)
    psyq_pdf.quiet_subsetting_warning()
    assert psyq_pdf.warn_if_slow_subsetting() is True
    assert capsys.readouterr().err == ""


def test_harfbuzz_subset_is_found_where_weasyprint_finds_it() -> None:
    assert psyq_pdf.harfbuzz_subset_installed() == (weasyprint_ffi.harfbuzz_subset is not None)
