"""``psyq doctor``: check the libraries and fonts PDF reports need, and say how to fix them.

Each check returns a :class:`Check`; the command prints one line per check
and exits 1 when any failed, so scripts and CI can gate on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import click

from psyq.hookspecs import hookimpl

APT_FIX = "sudo apt-get install -y libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"
FONT_FIX = "sudo apt-get install -y fonts-dejavu-core"
MIN_PANGO = (1, 44, 0)
REPORT_FONT = "DejaVu Sans"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # not fatal: reports work, but not as well


def check_weasyprint() -> Check:
    try:
        import weasyprint
    except Exception as exc:  # OSError when Pango is missing, ImportError when not installed
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Check("WeasyPrint", False, f"cannot be imported: {reason}", APT_FIX)
    return Check("WeasyPrint", True, f"version {weasyprint.__version__}")


def check_pango() -> Check:
    try:
        from weasyprint.text.ffi import ffi, pango
    except Exception as exc:
        return Check("Pango", False, f"not loadable: {exc}", APT_FIX)
    version = ffi.string(pango.pango_version_string()).decode()
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    if parts < MIN_PANGO:
        wanted = ".".join(map(str, MIN_PANGO))
        return Check("Pango", False, f"version {version}, need {wanted} or later", APT_FIX)
    return Check("Pango", True, f"version {version}")


def check_harfbuzz_subset() -> Check:
    try:
        from psyq.pdf import HARFBUZZ_FIX, subsetting_backend

        backend = subsetting_backend()
    except Exception as exc:
        return Check("HarfBuzz subset", False, f"cannot check: {exc}", APT_FIX)
    if backend == "harfbuzz":
        return Check("HarfBuzz subset", True, "fonts are subset by libharfbuzz-subset")
    return Check(
        "HarfBuzz subset",
        False,
        "libharfbuzz-subset0 missing: fonts are subset by fontTools, about 4x slower per page",
        HARFBUZZ_FIX,
    )


def check_fonts() -> Check:
    """Render a line of text and see which font WeasyPrint embeds."""
    try:
        from psyq.pdf import html_to_pdf

        pdf = html_to_pdf(
            "<p style=\"font-family: 'DejaVu Sans', sans-serif\">psyq font check 0123</p>",
            stylesheets=False,
        )
    except Exception as exc:
        return Check("fonts", False, f"test render failed: {exc}", APT_FIX)
    names = sorted({m.decode() for m in re.findall(rb"/BaseFont\s*/[A-Z]{6}\+([\w-]+)", pdf)})
    if not names:
        return Check("fonts", False, "no font could be embedded in a test PDF", FONT_FIX)
    if not any(name.replace("-", "").startswith("DejaVuSans") for name in names):
        return Check(
            "fonts",
            True,
            f"{REPORT_FONT} not found; reports fall back to {', '.join(names)}",
            FONT_FIX,
            warning=True,
        )
    return Check("fonts", True, f"reports use {', '.join(names)}")


CHECKS: tuple[Callable[[], Check], ...] = (
    check_weasyprint,
    check_pango,
    check_harfbuzz_subset,
    check_fonts,
)


def run_checks() -> list[Check]:
    """Every check in order; later checks are skipped once WeasyPrint cannot load."""
    results: list[Check] = []
    for check in CHECKS:
        result = check()
        results.append(result)
        if check is check_weasyprint and not result.ok:
            break
    return results


@click.command("doctor")
def doctor_command() -> None:
    """Check what PDF reports need: WeasyPrint, Pango, HarfBuzz subsetting, fonts.

    Exits 1 when a problem is found, printing the command that fixes it.
    """
    results = run_checks()
    for result in results:
        mark = "ok  " if result.ok and not result.warning else ("warn" if result.ok else "FAIL")
        click.echo(f"{mark}  {result.name:<16} {result.detail}")
        if result.fix and (not result.ok or result.warning):
            click.echo(f"      fix: {result.fix}")
    failed = [r.name for r in results if not r.ok]
    if failed:
        click.echo(f"psyq doctor: {len(failed)} problem(s): {', '.join(failed)}", err=True)
        click.get_current_context().exit(1)
    click.echo("psyq doctor: no problems found")


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [doctor_command]
