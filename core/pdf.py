"""HTML to PDF with WeasyPrint, locked down and warmed up once per process.

* Fetching: :class:`ReportFetcher` serves psyq's packaged report assets
  (``psyq:assets/NAME``) and ``data:`` URIs, and refuses everything else
  (``file://``, ``http(s)://``, ``ftp://``, any other scheme), so nothing in a
  report can read a local file or reach the network.
* No PDF attachments, not even from ``<link rel=attachment>`` or
  ``<a rel=attachment>``; presentational HTML hints are off.
* Speed: one ``FontConfiguration``, one parsed stylesheet and one image cache
  per process, reused by every render. Streams are Flate-compressed at zlib's
  default level rather than pydyf's 9 (:func:`compress_streams`). Python's
  cyclic garbage collector is paused while WeasyPrint renders and the render's
  garbage collected once at the end (:func:`collector_paused`). From a process's
  second render on, computed styles and line breaks are shared with earlier renders
  (:mod:`psyq.render_sharing`). When ``libharfbuzz-subset0`` is
  missing WeasyPrint falls back to fontTools for font subsetting (about 4x
  slower per page); psyq says so once, with the fix, and silences WeasyPrint's
  per-font repeat of the warning.

WeasyPrint is imported on first use only.
"""

from __future__ import annotations

import gc
import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

ASSET_SCHEME = "psyq:assets/"
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MEDIA_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".css": "text/css",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
}

HARFBUZZ_FIX = "sudo apt-get install -y libharfbuzz-subset0"

_LOCK = threading.RLock()
_IMAGE_CACHE: dict[str, Any] = {}
_warned_subsetting = False


class FetchRefused(ValueError):
    """A report asked for a URL that psyq does not serve."""


def asset_bytes(url: str, root: Any = None) -> tuple[bytes, str]:
    """The bytes and media type of a packaged asset URL (``psyq:assets/NAME``).

    ``root`` is the assets folder (default: ``psyq.templates/assets``). Only a
    plain file name directly in that folder is served.
    """
    name = url[len(ASSET_SCHEME) :] if url.startswith(ASSET_SCHEME) else ""
    if not _ASSET_NAME.match(name) or ".." in name:
        raise FetchRefused(f"not a psyq asset name: {url[:120]!r}")
    folder = root if root is not None else resources.files("psyq.templates") / "assets"
    path = folder / name
    if not path.is_file():
        raise FetchRefused(f"no such psyq asset: {name!r}")
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return path.read_bytes(), _MEDIA_TYPES.get(suffix, "application/octet-stream")


@cache
def load_weasyprint() -> None:
    """Import WeasyPrint, skipping the C compiler in its search for libraries and
    reading the linker cache once.

    WeasyPrint asks for each library (Pango, HarfBuzz, fontconfig, ...) under
    several names in turn; on Linux every name that is not in the linker cache
    made ``ctypes.util.find_library`` run ``gcc`` and ``ld`` to look further,
    sixteen compiler runs, about a third of the import's time. The linker cache
    (``ldconfig -p``) and WeasyPrint's own later names (``libpango-1.0.so.0``)
    find the same libraries, so psyq imports it with those fallbacks off. Every
    name also ran ``ldconfig -p`` anew (twenty-two runs); its listing is read
    once here and each name looked up in it as ``find_library`` does
    (:func:`_ldconfig_once`). Every function here calls this before its own
    ``from weasyprint import ...``; after the first, it returns at once.
    """
    global _weasyprint_loaded, _arrays_shortcut
    if _weasyprint_loaded:
        return
    import ctypes.util

    names = ("_findLib_gcc", "_findLib_ld", "_findSoname_ldconfig")
    originals = {name: getattr(ctypes.util, name, None) for name in names}
    stand_ins = {
        "_findLib_gcc": _not_found,
        "_findLib_ld": _not_found,
        "_findSoname_ldconfig": _ldconfig_once(originals["_findSoname_ldconfig"]),
    }
    for name, found in originals.items():
        if found is not None:
            setattr(ctypes.util, name, stand_ins[name])
    try:
        import weasyprint  # noqa: F401
    finally:
        for name, found in originals.items():
            if found is not None:
                setattr(ctypes.util, name, found)
    if _arrays_shortcut is None:
        from weasyprint.text.ffi import ffi

        _arrays_shortcut = fixed_arrays_parsed_once(ffi)
    _weasyprint_loaded = True


_weasyprint_loaded = False
_arrays_shortcut: bool | None = None
_FIXED_ARRAY = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*\[\s*([0-9]{1,9})\s*\]\s*")


def fixed_arrays_parsed_once(ffi: Any) -> bool:
    """Let ``ffi`` make array types such as ``hb_codepoint_t[57]`` without parsing C.

    WeasyPrint subsets each font with HarfBuzz through arrays whose type string
    names their length (``ffi.new(f"hb_codepoint_t[{n}]", glyphs)``), and cffi
    parses every type string it has not seen with pycparser, each time together
    with every type name WeasyPrint declares: a few milliseconds a string. A
    report's fonts ask for lengths not seen before (eight in a process's first
    report, about twenty more over its next hundred), so this was most of the
    first report's extra time in every worker. Here such a string is answered
    from its element type, parsed once, as cffi's parser itself builds an array
    type (``model.ArrayType(element, length)``); any other string goes to cffi's
    parser. It is installed only if, for a probe, the type so made equals the
    one cffi's parser makes; otherwise nothing changes. Returns whether it was.
    """
    parser: Any = getattr(ffi, "_parser", None)
    original = getattr(parser, "parse_type_and_quals", None)
    if original is None:
        return False
    try:
        from cffi import model
    except ImportError:
        return False
    elements: dict[str, Any] = {}

    def parse_type_and_quals(cdecl: Any) -> Any:
        match = _FIXED_ARRAY.fullmatch(cdecl) if isinstance(cdecl, str) else None
        if match is None:
            return original(cdecl)
        name = match.group(1)
        element = elements.get(name)
        if element is None:
            element = elements[name] = original(name)
        item, quals = element
        return model.ArrayType(item, int(match.group(2))), quals

    probe = "hb_codepoint_t[3]"
    try:
        same = parse_type_and_quals(probe) == original(probe)
    except Exception:  # another cffi or WeasyPrint: leave the parser alone
        return False
    if not same:
        return False
    parser.parse_type_and_quals = parse_type_and_quals
    return True


def _not_found(name: str) -> None:
    return None


def _ldconfig_once(original: Any) -> Any:
    """``ctypes.util._findSoname_ldconfig`` (Linux, glibc) reading ``ldconfig -p`` once.

    The same lookup: the first ``lib<name>.<anything>`` listed for this machine's
    ABI (the ABI names are CPython's). Where the listing cannot be had, each name
    goes to ``original``, as without psyq.
    """
    import os
    import struct
    import subprocess

    machine = os.uname().machine + ("-32" if struct.calcsize("l") == 4 else "-64")
    abi = {
        "x86_64-64": "libc6,x86-64",
        "ppc64-64": "libc6,64bit",
        "sparc64-64": "libc6,64bit",
        "s390x-64": "libc6,64bit",
        "ia64-64": "libc6,IA-64",
    }.get(machine, "libc6")
    listing: list[bytes | None] = []

    def find(name: str) -> str | None:
        if not listing:
            try:
                listing.append(
                    subprocess.run(
                        ["/sbin/ldconfig", "-p"],
                        stdin=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        env={"LC_ALL": "C", "LANG": "C"},
                        check=False,
                    ).stdout
                )
            except OSError:
                listing.append(None)
        if listing[0] is None:
            return original(name) if original is not None else None
        pattern = os.fsencode(rf"\s+(lib{re.escape(name)}\.[^\s]+)\s+\({abi}")
        found = re.search(pattern, listing[0])
        return os.fsdecode(found.group(1)) if found else None

    return find


@cache
def _fetcher_class() -> type:
    load_weasyprint()
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class ReportFetcher(URLFetcher):  # type: ignore[misc]
        """Serves ``psyq:assets/...`` and ``data:`` URIs; refuses the rest.

        ``requested`` records every URL asked for and ``refused`` the ones
        turned down, so tests (and curious users) can see what a report tried.
        """

        def __init__(self, assets_root: Any = None) -> None:
            super().__init__(timeout=1, allow_redirects=False)
            self.assets_root = assets_root
            self.requested: list[str] = []
            self.refused: list[str] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            self.requested.append(url)
            scheme = url.split(":", 1)[0].lower() if ":" in url else ""
            if scheme == "data":
                return super().fetch(url, headers)
            if url.startswith(ASSET_SCHEME):
                try:
                    body, media_type = asset_bytes(url, self.assets_root)
                except FetchRefused:
                    self.refused.append(url)
                    raise
                return URLFetcherResponse(url, body, {"Content-Type": media_type})
            self.refused.append(url)
            raise FetchRefused(
                f"psyq reports load only packaged assets and data: URIs; refused {url[:120]!r}"
            )

    return ReportFetcher


def make_fetcher(assets_root: Any = None) -> Any:
    """A new :class:`ReportFetcher` (one per render: it records what was asked)."""
    return _fetcher_class()(assets_root)


SubsettingBackend = Literal["harfbuzz", "fonttools"]


def subsetting_backend() -> SubsettingBackend:
    """Which library WeasyPrint will use to subset fonts on this machine."""
    load_weasyprint()
    from weasyprint.text import ffi

    if ffi.harfbuzz_subset is not None and ffi.harfbuzz.hb_version_atleast(4, 1, 0):
        return "harfbuzz"
    return "fonttools"


class _FontToolsRepeat(logging.Filter):
    """Drops WeasyPrint's per-font fontTools warning; psyq has said it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "instead of HarfBuzz-Subset" not in record.getMessage()


def harfbuzz_subset_installed() -> bool:
    """Whether libharfbuzz-subset is on this machine, found without importing WeasyPrint."""
    import ctypes.util

    return ctypes.util.find_library("harfbuzz-subset") is not None


def _say_slow_subsetting() -> None:
    print(
        "psyq: warning: libharfbuzz-subset0 is missing, so WeasyPrint subsets fonts "
        "with fontTools (about 4x slower per page); install it with: " + HARFBUZZ_FIX,
        file=sys.stderr,
    )


def _mark_warned() -> bool:
    """Record that the warning was given; False if it had been already."""
    global _warned_subsetting
    if _warned_subsetting:
        return False
    _warned_subsetting = True
    logging.getLogger("weasyprint").addFilter(_FontToolsRepeat())
    return True


def warn_if_slow_subsetting() -> bool:
    """Warn once per process when fonts will be subset by fontTools. True if slow."""
    if subsetting_backend() == "harfbuzz":
        return False
    if _mark_warned():
        _say_slow_subsetting()
    return True


def warn_once_for_workers() -> None:
    """For a process that hands rendering to workers (``psyq batch``): warn here, once,
    without importing WeasyPrint; workers call :func:`quiet_subsetting_warning`."""
    if not harfbuzz_subset_installed() and _mark_warned():
        _say_slow_subsetting()


def quiet_subsetting_warning() -> None:
    """In a worker whose parent has already warned: stay silent, drop WeasyPrint's repeats."""
    _mark_warned()


@cache
def font_config() -> FontConfiguration:
    """The process's one WeasyPrint font configuration."""
    load_weasyprint()
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


@cache
def parsed_stylesheet() -> CSS:
    """The report stylesheet, parsed once per process."""
    load_weasyprint()
    from weasyprint import CSS

    from psyq.render_sharing import keep_sheets
    from psyq.report import stylesheet

    sheet = CSS(string=stylesheet(), font_config=font_config(), url_fetcher=make_fetcher())
    keep_sheets(sheet)  # lives as long as the process: its documents may share styles
    return sheet


WARM_UP_HTML = (
    "<p>Warm <b>bold</b> <i>italic</i> <span class=provenance>mono</span> "
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" width="10">'
    '<text x="1" y="9" font-size="9">1</text></svg></p>'
)
"""A page using every face the report stylesheet asks for (regular, bold, italic,
monospace) and SVG text: rendering it loads and caches those fonts."""


def warm_up() -> None:
    """Do WeasyPrint's once-per-process work now: import it, build the font
    configuration, parse the report stylesheet, and render a small page so the
    report's fonts are found and loaded.

    The local batch executor's fork server calls this before forking workers
    (:mod:`psyq.batch.warm`), so every worker starts with it done, and with the
    check that lets its renders share styles and line breaks
    (:mod:`psyq.render_sharing`) done too.
    """
    from psyq.render_sharing import available

    html_to_pdf(WARM_UP_HTML)
    available()


def html_to_pdf(html: str, *, fetcher: Any = None, stylesheets: bool = True) -> bytes:
    """Render report HTML to PDF bytes with the locked-down fetcher.

    ``stylesheets`` applies psyq's parsed report CSS (leave it on unless the
    HTML carries its own). Renders are serialised per process: WeasyPrint's
    shared font configuration is not safe across threads.
    """
    load_weasyprint()
    with _LOCK, collector_paused():
        warn_if_slow_subsetting()
        # In a function of its own, so the document is garbage before the collector runs.
        return _render(html, fetcher if fetcher is not None else make_fetcher(), stylesheets)


def _render(html: str, fetcher: Any, stylesheets: bool) -> bytes:
    from psyq.render_sharing import sharing

    with sharing():
        document = render_document(parse_html(html, fetcher), stylesheets=stylesheets)
        return write_document(document)


def parse_html(html: str, fetcher: Any) -> Any:
    """The HTML parsed into a ``weasyprint.HTML`` document, ready to render.

    psyq's own well-formed report HTML is parsed by :func:`psyq.html_tree.report_tree`
    (about a fifth of tinyhtml5's CPU); anything else, or anything it is unsure of,
    goes to WeasyPrint's own parser (tinyhtml5), as does everything if the check in
    :func:`_prebuilt_html_class` finds this WeasyPrint builds documents differently.
    """
    load_weasyprint()
    from weasyprint import HTML

    from psyq.html_tree import report_tree

    prebuilt = _prebuilt_html_class()
    tree = report_tree(html) if prebuilt is not None else None
    if prebuilt is None or tree is None:
        return HTML(string=html, url_fetcher=fetcher, base_url=None)
    return prebuilt(tree, fetcher)


def _prebuilt_class() -> type:
    load_weasyprint()
    import cssselect2
    from weasyprint import HTML

    class PrebuiltHTML(HTML):  # type: ignore[misc]
        """A ``weasyprint.HTML`` from a tree psyq built: what ``HTML.__init__`` sets
        after tinyhtml5 has parsed a string (no base URL, print media)."""

        def __init__(self, root: Any, url_fetcher: Any) -> None:
            self.base_url = None
            self.url_fetcher = url_fetcher
            self.media_type = "print"
            self.wrapper_element = cssselect2.ElementWrapper.from_html_root(
                root, content_language=None
            )
            self.etree_element = self.wrapper_element.etree_element

    return PrebuiltHTML


PROBE_HTML = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>t</title></head>\n'
    '<body class="b"><p>x &amp; <strong>y</strong></p><table><tr><td>1</td></tr></table>'
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><text x="0">z</text></svg>'
    "</body></html>\n"
)


@cache
def _prebuilt_html_class() -> type | None:
    """The class for documents psyq parsed itself, or None if this WeasyPrint's
    ``HTML`` is not built as psyq expects: once per process, a probe document parsed
    both ways must give the same attributes and the same tree."""
    import xml.etree.ElementTree as ET

    from weasyprint import HTML

    from psyq.html_tree import report_tree

    prebuilt = _prebuilt_class()
    fetcher = make_fetcher()
    theirs = HTML(string=PROBE_HTML, url_fetcher=fetcher, base_url=None)
    tree = report_tree(PROBE_HTML)
    if tree is None:
        return None
    ours = prebuilt(tree, fetcher)
    same = (
        vars(ours).keys() == vars(theirs).keys()
        and (ours.base_url, ours.media_type) == (theirs.base_url, theirs.media_type)
        and ET.tostring(ours.etree_element) == ET.tostring(theirs.etree_element)
    )
    return prebuilt if same else None


def render_document(parsed: Any, *, stylesheets: bool = True) -> Any:
    """Lay out a parsed document with psyq's options; never with attachments."""
    document = parsed.render(
        font_config=font_config(),
        stylesheets=[parsed_stylesheet()] if stylesheets else None,
        presentational_hints=False,
        cache=_IMAGE_CACHE,
    )
    # No attachments, whatever the HTML asks for.
    document.metadata.attachments = []
    for page in document.pages:
        page.links = [link for link in page.links if link[0] != "attachment"]
    return document


FLATE_LEVEL = 6
"""zlib level of a report's streams (page content, fonts, ToUnicode maps). pydyf
uses 9, which costs a PHQ-9 report about 3.5 ms more CPU than 6 (zlib's default)
for a PDF about 0.5 % smaller; the decoded content is the same either way."""


def compress_streams(document: Any, pdf: Any) -> None:
    """WeasyPrint ``finisher``: Flate-compress the PDF's streams at :data:`FLATE_LEVEL`.

    Runs after WeasyPrint has built the ``pydyf.PDF`` and before it is written:
    every stream pydyf would compress itself (``compress`` set, no filter of its
    own) gets the same bytes it would have compressed, compressed here, and is
    marked ``/FlateDecode``. If pydyf ever stops exposing what this needs, the
    streams are left to pydyf (slower, never wrong).
    """
    import zlib

    import pydyf

    to_bytes = getattr(pydyf, "_to_bytes", None)
    if to_bytes is None:
        return
    for obj in pdf.objects:
        if isinstance(obj, pydyf.Stream) and obj.compress and "Filter" not in obj.extra:
            raw = b"\n".join(to_bytes(item) for item in obj.stream)
            obj.stream = [zlib.compress(raw, FLATE_LEVEL)]
            obj.extra["Filter"] = "/FlateDecode"
            obj.compress = False


WRITE_OPTIONS: dict[str, Any] = {
    "attachments": None,
    "presentational_hints": False,
    "finisher": compress_streams,
}
"""psyq's ``write_pdf`` options (see :func:`write_document`)."""


def write_document(document: Any) -> bytes:
    """Draw a laid-out document and write it as PDF bytes."""
    pdf: bytes = document.write_pdf(**WRITE_OPTIONS)
    return pdf


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one render, then collect its garbage.

    A render allocates hundreds of thousands of objects (boxes, styles, Pango
    wrappers) and leaves some thousands of them in reference cycles (about 4,000
    for a PHQ-9 report once :mod:`psyq.render_sharing` shares pseudo-element
    styles; 15,000 before). With the collector on, those allocations set off a
    young-generation collection every 700 objects and, every few reports, a full
    one that walks everything WeasyPrint keeps for the process. Paused, one
    young-generation collection at the end frees the render's garbage (the bench
    prints both). Nothing outside the render is held longer.
    If the collector was already off (the caller's choice), it stays off.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
            gc.collect(0)
