"""``psyq doctor``: check the libraries and fonts PDF reports need, and say how to fix them.

Each check returns a :class:`Check`; the command prints one line per check
and exits 1 when any failed, so scripts and CI can gate on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import click

from psyq.hookspecs import hookimpl

APT_FIX = "sudo apt-get install -y libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"
FONT_FIX = "sudo apt-get install -y fonts-dejavu-core"
MIN_PANGO = (1, 44, 0)
REPORT_FONT = "DejaVu Sans"


class Check(NamedTuple):
    """One line of ``psyq doctor``.

    A named tuple, not a dataclass: this module loads at every start-up, and making
    a frozen dataclass costs several times as much.
    """

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
        from weasyprint.text.ffi import pango

        encoded = int(pango.pango_version())  # major * 10000 + minor * 100 + micro
    except Exception as exc:
        return Check("Pango", False, f"not loadable: {exc}", APT_FIX)
    parts = (encoded // 10000, encoded // 100 % 100, encoded % 100)
    version = ".".join(map(str, parts))
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
    """Ask fontconfig which font it gives for the report's font family."""
    try:
        from weasyprint.text.ffi import ffi, fontconfig

        config = fontconfig.FcInitLoadConfigAndFonts()
        try:
            pattern = fontconfig.FcPatternCreate()
            fontconfig.FcPatternAddString(
                pattern, b"family", ffi.new("FcChar8[]", REPORT_FONT.encode())
            )
            fontconfig.FcConfigSubstitute(config, pattern, 0)  # FcMatchPattern
            fontconfig.FcDefaultSubstitute(pattern)
            match = fontconfig.FcFontMatch(config, pattern, ffi.new("FcResult *"))
            fontconfig.FcPatternDestroy(pattern)
            if match == ffi.NULL:
                return Check("fonts", False, "fontconfig finds no font at all", FONT_FIX)
            found: dict[str, str] = {}
            for key in ("family", "file"):
                value = ffi.new("FcChar8 **")
                if fontconfig.FcPatternGetString(match, key.encode(), 0, value) == 0:
                    found[key] = ffi.string(ffi.cast("char *", value[0])).decode()
            fontconfig.FcPatternDestroy(match)
        finally:
            fontconfig.FcConfigDestroy(config)
    except Exception as exc:
        return Check("fonts", False, f"cannot query fontconfig: {exc}", FONT_FIX)
    family, file = found.get("family", "?"), found.get("file", "?")
    if family != REPORT_FONT:
        return Check(
            "fonts",
            True,
            f"{REPORT_FONT} not installed; reports fall back to {family} ({file})",
            FONT_FIX,
            warning=True,
        )
    return Check("fonts", True, f"reports use {family} ({file})")


def check_render() -> Check:
    """Render a line of text to PDF through psyq's own renderer."""
    try:
        from psyq.pdf import html_to_pdf

        pdf = html_to_pdf("<p>psyq doctor test render</p>", stylesheets=False)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Check("test render", False, f"failed: {reason}", APT_FIX)
    if not pdf.startswith(b"%PDF-"):
        return Check("test render", False, "WeasyPrint returned no PDF", APT_FIX)
    return Check("test render", True, f"a one-line PDF renders ({len(pdf)} bytes)")


CHECKS: tuple[Callable[[], Check], ...] = (
    check_weasyprint,
    check_pango,
    check_harfbuzz_subset,
    check_fonts,
    check_render,
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
    """Check what PDF reports need: WeasyPrint, Pango, HarfBuzz subsetting, fonts, a render.

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
