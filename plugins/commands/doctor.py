"""``psyq doctor``: check the libraries and fonts PDF reports need, and the client store's
integrity, and say how to fix them.

Each check returns a :class:`Check`; the command prints one line per check (and one
more per problem a check found) and exits 1 when any failed, so scripts and CI can
gate on it.
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
    lines: tuple[str, ...] = ()  # printed under it: one per problem found


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


STORE_CHECK = "store integrity"
STORE_FIX = (
    "`psyq audit verify` gives the details; psyq cannot put back what was changed outside "
    "it (restore it from a backup); a loss that is understood (a backup restored over the "
    "store): `psyq audit acknowledge --reason TEXT`"
)


def check_store() -> Check:
    """What ``psyq audit verify`` checks (the schema, the keyed chain, every record
    against its audit entry, the store not older than psyq's last write), on the store
    this psyq uses (``--db``, else the data directory's); a store not made yet is not
    made here."""
    from psyq.app import App
    from psyq.errors import PsyqError

    context = click.get_current_context(silent=True)
    app = None if context is None else context.find_object(App)
    if app is None:
        return Check(STORE_CHECK, True, "no store to check")
    path = app.store_path
    if not path.exists() and not path.is_symlink():
        return Check(STORE_CHECK, True, f"no store yet at {path}")
    import sqlite3

    from psyq import audit

    try:
        with app.open_store() as store:
            report = audit.verify(store)
    except PsyqError as exc:  # not a store, a missing or wrong key, a newer schema
        return Check(STORE_CHECK, False, str(exc), STORE_FIX)
    except sqlite3.Error as exc:  # a table psyq made, changed so that it cannot be read
        return Check(STORE_CHECK, False, f"{path}: the store cannot be read ({exc})", STORE_FIX)
    acknowledged = tuple(f"loss acknowledged: {line}" for line in report.acknowledged)
    if report.ok:
        return Check(
            STORE_CHECK,
            True,
            f"{path}: {report.entries} audit entries, {report.records} records match",
            lines=acknowledged,
        )
    return Check(
        STORE_CHECK,
        False,
        f"{path}: {len(report.problems)} problem(s) found by `psyq audit verify`",
        STORE_FIX,
        lines=(*report.problems, *acknowledged),
    )


def run_checks() -> list[Check]:
    """Every check in order; later checks are skipped once WeasyPrint cannot load."""
    results: list[Check] = []
    for check in CHECKS:
        result = check()
        results.append(result)
        if check is check_weasyprint and not result.ok:
            break
    # The store needs none of them: checked whatever the PDF checks found.
    results.append(check_store())
    return results


@click.command("doctor")
def doctor_command() -> None:
    """Check what PDF reports need (WeasyPrint, Pango, HarfBuzz subsetting, fonts, a
    render) and the client store's integrity (what `psyq audit verify` checks).

    Exits 1 when a problem is found, printing one line per problem and what fixes it.
    """
    results = run_checks()
    for result in results:
        mark = "ok  " if result.ok and not result.warning else ("warn" if result.ok else "FAIL")
        click.echo(f"{mark}  {result.name:<16} {result.detail}")
        for line in result.lines:
            click.echo(f"      {line}")
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
