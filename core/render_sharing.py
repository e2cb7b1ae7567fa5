"""Work that the reports rendered in one process share: computed styles, line breaks,
the Pango layouts text is drawn from, and font subsets.

WeasyPrint starts every document from nothing. For psyq's reports most of that
work is the same from one report to the next: the same elements match the same
rules of the same stylesheet, and the same item texts, headings and notices are
broken into the same lines in the same fonts. This is kept across the renders
of a process (a batch worker renders hundreds of reports):

* **Matched rules.** The rules of a stylesheet that lives as long as the process
  that match an element, kept for a number standing for everything a selector can
  test of it (:func:`_signature`).

* **Computed styles.** WeasyPrint already shares one computed style between the
  elements of a document that have the same parent style, the same ``style``
  attribute and the same matching rules (``StyleFor.__init__``), and fills its
  values in lazily. :class:`_SharedStyleFor` keeps that sharing across documents:
  an element's key is its parent's key, the text of its ``style`` attribute and
  the rules that match it (by identity, in stylesheets that live as long as the
  process). Pseudo-elements and page styles are computed for each document, as
  before.
* **Line breaks.** ``split_first_line`` (the first line of a text, its width,
  height and baseline) depends on the text, the style's values and the
  available width. For a text in a shared style, its result is kept, keyed by
  the style object itself (held, so the key never outlives it), and each later
  call gets its own copy of the layout it returns (which WeasyPrint returns
  inactive, as text, width and metrics). An SVG ``<text>`` (laid out letter by
  letter) is keyed by what WeasyPrint's SVG code sets in its style.
* **Drawn lines.** To draw a text, WeasyPrint makes its Pango layout again, Pango
  shapes it again, and WeasyPrint walks its glyphs into PDF operators. For a
  layout from the line-break cache, drawn in the style it was laid out in, the
  laid-out Pango layout kept for its key is used, and once it has been drawn,
  what drawing it did (the operators, the fonts' widths and Unicode maps) is done
  again at the new position (:func:`_share_drawn_layouts`).
* **Used values.** A box's margins, paddings, sizes and border widths, resolved
  from its style and its containing block's size, are those the last box in the
  same style and the same containing block got (:func:`_share_percentages`).
* **Font subsets.** Each PDF embeds the glyphs it uses of each font; a subset
  already made for the same font file and the same glyphs is used again
  (:func:`_share_subsets`).

Nothing changes what a page looks like: PDFs rendered with sharing are byte for
byte those rendered without it (``tests/test_render_sharing.py`` renders every
built-in instrument's reports both ways, in several orders, and through the
command line). Sharing is used only with WeasyPrint code psyq was checked
against: the source of each WeasyPrint function it replaces or relies on must
have the digest recorded in :data:`VERIFIED` (checked once per process, on the
second render: a process that renders one report pays nothing); otherwise every
render is WeasyPrint's own. A style is shared only if every rule that matches
its element comes from a stylesheet that lives as long as the process
(WeasyPrint's user-agent sheets and psyq's parsed report stylesheet): an element
that a rule of a document's own ``<style>`` or ``<link>`` matches, and everything
inside it, is styled for that document alone, and documents whose own sheets
have other page rules (page size: viewport units) share nothing. Both caches
are emptied when they reach :data:`MAX_ENTRIES`, and before the next document
once a font has been added (``@font-face``), which may change how any text is
laid out.

WeasyPrint is BSD-licensed; :meth:`_SharedStyleFor.__init__` follows
``weasyprint.css.StyleFor.__init__`` of WeasyPrint 70.0 line for line, with the
cross-document key in place of its per-document one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

ENV_OFF = "PSYQ_NO_RENDER_SHARING"
"""Set (to anything but nothing), every render is WeasyPrint's own, shared nothing."""

MAX_ENTRIES = 20_000
"""Entries each cache holds before it is emptied. A line break kept costs about 1.3 KB
(measured with tracemalloc over 400 PHQ-9 reports, three or four new texts each: a
client id, dates), so a worker holds some 25 MiB at most."""

MAX_DRAWN = 5_000
"""Laid-out Pango layouts kept for drawing before they are all forgotten (a few KB
each: a PHQ-9 report draws some 160 texts, most of them the same in every report)."""

MAX_SUBSETS = 400
"""Font subsets kept before they are all forgotten. A PHQ-9 report embeds four
(regular, bold, oblique, monospace); over 200 varied reports 76 different subsets
were made, some tens of KB each."""

VERIFIED_VERSION = "70.0"
"""The WeasyPrint release whose code :data:`VERIFIED` holds the digests of."""

VERIFIED: dict[str, str] = {
    "weasyprint.css:StyleFor.__init__": "1b20b82c9c8fb21f",
    "weasyprint.text.line_break:split_first_line": "0b33e5fdf1c06fad",
    "weasyprint.text.line_break:first_line_metrics": "746160f3f6da7ed6",
    "weasyprint.text.line_break:Layout": "1ace078b3fee3c11",
    "weasyprint.svg.text:text": "b39653f0abe9530c",
    "weasyprint.pdf.fonts:Font": "e4fca6db320d3cfb",
    "weasyprint.draw.text:draw_text": "0cfeca9646fd5e32",
    "weasyprint.draw.text:draw_first_line": "e4a184229c356537",
    "weasyprint.layout.percent:resolve_percentages": "fb6f3aa235d6f580",
    "weasyprint.layout.percent:resolve_one_percentage": "6b76df6338152752",
    "weasyprint.layout.percent:percentage": "d6a2a1d7d7d28712",
    "weasyprint.layout.percent:adjust_box_sizing": "3af7fd1e620960ef",
    "cssselect2.compiler:_compile_node": "16bc2e39229d4c38",
    "cssselect2:Matcher": "3cab258e3b043174",
    "cssselect2.compiler:CompiledSelector": "162cd4fee40025f6",
}
"""BLAKE2b digests (8 bytes, hex) of the source of the WeasyPrint code sharing
replaces (``StyleFor.__init__``) or relies on (``split_first_line`` returns an
inactive layout whose result depends on its arguments alone), as in
:data:`VERIFIED_VERSION`, and of cssselect2's selector compiler (what a selector
can test of an element, which :func:`_signature` stands for). Another source,
and sharing is off."""

_local = threading.local()
_state: dict[str, Any] = {
    "checked": False,
    "available": False,
    "renders": 0,
    "style_hits": 0,
    "line_hits": 0,
    "subset_hits": 0,
    "drawn_hits": 0,
    "percentage_hits": 0,
    "line_draws_replayed": 0,
    "match_hits": 0,
    "fonts_added": False,
}
_styles: dict[Any, Any] = {}  # by number, or (number, pseudo-element)
_keys: dict[tuple[Any, ...], int] = {}
_lines: dict[tuple[Any, ...], tuple[Any, tuple[Any, ...]]] = {}
_drawn: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = {}
_percentages: dict[tuple[Any, ...], tuple[Any, tuple[Any, ...]]] = {}
_signatures: dict[tuple[Any, ...], int] = {}
_followings: dict[tuple[Any, ...], int] = {}
_matches: dict[tuple[int, int], list[Any]] = {}
_font_files: dict[tuple[Any, ...], bytes] = {}
_subsets: dict[tuple[Any, ...], bytes] = {}
_kept_sheets: dict[int, Any] = {}
_kept_configs: dict[int, Any] = {}


def source_digest(obj: Any) -> str:
    """The digest :data:`VERIFIED` records for ``obj``: of the source lines of a
    function, or of every function a class defines, in order (read by line numbers
    from the code objects, not by parsing the module: a few tenths of a millisecond)."""
    import linecache

    from psyq.digest import blake2b

    functions = (  # a method psyq put in WeasyPrint's place is read as WeasyPrint's own
        [getattr(f, "__wrapped__", f) for f in vars(obj).values() if hasattr(f, "__code__")]
        if isinstance(obj, type)
        else [obj]
    )
    text = []
    for function in functions:
        code = function.__code__
        lines = linecache.getlines(code.co_filename)
        last = max(line for _, _, line in code.co_lines() if line is not None)
        if not lines or last > len(lines):
            raise LookupError(f"no source for {function.__qualname__}")
        text.append("".join(lines[code.co_firstlineno - 1 : last]))
    return blake2b("\n".join(text).encode("utf-8"), digest_size=8).hexdigest()


def _verified_code() -> dict[str, Any]:
    import cssselect2
    import cssselect2.compiler
    import weasyprint.css
    import weasyprint.draw.text
    import weasyprint.layout.percent as percent
    import weasyprint.pdf.fonts
    import weasyprint.text.line_break
    from weasyprint.svg.text import text as svg_text

    draw_first_line = weasyprint.draw.text.draw_first_line

    style_for = weasyprint.css.StyleFor
    split_first_line = weasyprint.text.line_break.split_first_line
    return {  # WeasyPrint's own, also once sharing has taken their places
        "weasyprint.css:StyleFor.__init__": getattr(
            style_for, "_psyq_original", style_for
        ).__init__,
        "weasyprint.text.line_break:split_first_line": getattr(
            split_first_line, "__wrapped__", split_first_line
        ),
        "weasyprint.text.line_break:first_line_metrics": (
            weasyprint.text.line_break.first_line_metrics
        ),
        "weasyprint.text.line_break:Layout": weasyprint.text.line_break.Layout,
        "weasyprint.svg.text:text": svg_text,
        "weasyprint.pdf.fonts:Font": weasyprint.pdf.fonts.Font,
        "weasyprint.draw.text:draw_text": weasyprint.draw.text.draw_text,
        "weasyprint.draw.text:draw_first_line": getattr(
            draw_first_line, "__wrapped__", draw_first_line
        ),
        "weasyprint.layout.percent:resolve_percentages": getattr(
            percent.resolve_percentages, "__wrapped__", percent.resolve_percentages
        ),
        "weasyprint.layout.percent:resolve_one_percentage": percent.resolve_one_percentage,
        "weasyprint.layout.percent:percentage": percent.percentage,
        "weasyprint.layout.percent:adjust_box_sizing": percent.adjust_box_sizing,
        # What a selector can test of an element (see _signature).
        "cssselect2.compiler:_compile_node": cssselect2.compiler._compile_node,
        # Where the compiled selectors are, and how (see _tested_attributes).
        "cssselect2:Matcher": cssselect2.Matcher,
        "cssselect2.compiler:CompiledSelector": cssselect2.compiler.CompiledSelector,
    }


def mismatches() -> list[str]:
    """The WeasyPrint code whose source differs from what psyq verified (none: sharing works)."""
    try:
        code = _verified_code()
        return [name for name, obj in code.items() if source_digest(obj) != VERIFIED[name]]
    except Exception:  # no source, another layout of WeasyPrint: not the code psyq knows
        return sorted(VERIFIED)


def available() -> bool:
    """Whether this WeasyPrint is the code sharing was verified against (checked once)."""
    if not _state["checked"]:
        _state["available"] = not mismatches()
        _state["checked"] = True
        if _state["available"]:
            _install()
    return bool(_state["available"])


def clear() -> None:
    """Forget every shared style and line break."""
    _styles.clear()
    _keys.clear()
    _lines.clear()
    _drawn.clear()
    _percentages.clear()
    _signatures.clear()
    _followings.clear()
    _matches.clear()
    _font_files.clear()
    _subsets.clear()


def keep_sheets(*sheets: Any) -> None:
    """Stylesheets that live as long as the process: documents styled only by these
    (and WeasyPrint's user-agent sheets) share their computed styles."""
    for sheet in sheets:
        _kept_sheets[id(sheet)] = sheet


def hits() -> tuple[int, int, int]:
    """How many computed styles, line breaks and font subsets this process has reused
    so far."""
    return int(_state["style_hits"]), int(_state["line_hits"]), int(_state["subset_hits"])


@contextmanager
def sharing(enabled: bool = True) -> Iterator[bool]:
    """Share styles and line breaks in this thread's renders inside the block, if
    WeasyPrint is the code psyq verified and :data:`ENV_OFF` is not set. The first
    render of a process never shares (and costs no check): sharing pays from the
    second. Yields whether it is on."""
    _state["renders"] += 1
    on = enabled and _state["renders"] > 1 and not os.environ.get(ENV_OFF) and available()
    was = getattr(_local, "on", False)
    _local.on = on
    try:
        yield on
    finally:
        _local.on = was


def _on() -> bool:
    return bool(getattr(_local, "on", False))


def _install() -> None:
    """Put the sharing versions in WeasyPrint's place (once; off unless :func:`sharing`)."""
    import importlib

    import weasyprint
    import weasyprint.css
    import weasyprint.draw.text
    import weasyprint.layout.inline
    import weasyprint.layout.preferred
    import weasyprint.pdf.fonts
    import weasyprint.text.fonts
    import weasyprint.text.line_break

    keep_sheets(weasyprint.UA_STYLESHEET, weasyprint.UA_FORM_STYLESHEET)
    # A font added by a document's @font-face may change how any text is laid out.
    font_configuration = weasyprint.text.fonts.FontConfiguration
    add_font_face = font_configuration.add_font_face

    def add_font_face_and_forget(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Emptied before the next document that shares, never under a render (which
        # another thread, rendering without psyq, may be in the middle of).
        _state["fonts_added"] = True
        return add_font_face(self, *args, **kwargs)

    font_configuration.add_font_face = add_font_face_and_forget
    weasyprint.css.StyleFor = _style_for_class(weasyprint.css.StyleFor)
    shared_split = _line_cache(weasyprint.text.line_break.split_first_line)
    for module in (
        weasyprint.text.line_break,
        weasyprint.layout.inline,
        weasyprint.layout.preferred,
    ):
        module.split_first_line = shared_split
    _share_subsets(weasyprint.pdf.fonts.Font)
    _share_drawn_layouts(weasyprint.text.line_break.Layout, weasyprint.draw.text)
    _share_percentages(
        weasyprint.layout.percent,
        [
            importlib.import_module(f"weasyprint.layout.{name}")
            for name in ("absolute", "block", "column", "float", "grid", "inline", "page", "table")
        ],
    )


def _style_for_class(style_for: type) -> type:
    from math import inf

    from weasyprint.css import declaration_precedence, find_style_attributes
    from weasyprint.css.validation import preprocess_declarations

    class _SharedStyleFor(style_for):  # type: ignore[misc]
        def __init__(
            self,
            html: Any,
            sheets: list[tuple[Any, str, Any]],
            presentational_hints: bool,
            font_config: Any,
            target_collector: Any,
        ) -> None:
            if not _on() or presentational_hints:
                super().__init__(html, sheets, presentational_hints, font_config, target_collector)
                return
            if (
                _state["fonts_added"]
                or max(len(_styles), len(_keys), len(_signatures), len(_followings)) > MAX_ENTRIES
            ):
                _state["fonts_added"] = False
                clear()
            cascaded_styles: dict[Any, dict[str, Any]] = {}
            computed_styles: dict[Any, Any] = {}
            self._cascaded_styles = cascaded_styles
            self._computed_styles = computed_styles
            self.initial_page_sizes = {"box": None, "area": None}
            self._sheets = sheets
            self.font_config = font_config

            layer_order = inf
            attributes: dict[Any, str] = {}
            for specificity, element, declarations, base_url in find_style_attributes(
                html.etree_element, presentational_hints, html.base_url
            ):
                style = cascaded_styles.setdefault((element, None), {})
                attributes[element] = element.get("style")
                for name, values, importance in preprocess_declarations(base_url, declarations):
                    precedence = declaration_precedence("author", importance)
                    weight = (precedence, layer_order, specificity)
                    old_weight = style.get(name, (None, None))[1]
                    if old_weight is None or old_weight <= weight:
                        style[name] = values, weight

            _kept_configs[id(font_config)] = font_config  # so its id is never another's
            # Viewport units are the first page's: documents whose own stylesheets size
            # their pages differently never share.
            pages = tuple(
                rule.serialize()
                for sheet, _, _ in sheets
                if id(sheet) not in _kept_sheets
                for rule, _, _ in sheet.page_rules
            )
            document = _keys.setdefault((id(font_config), html.base_url, pages), len(_keys))

            # Elements in tree order, so parents have their styles (and keys) first. An
            # element matched by a rule of a document's own stylesheet, and everything
            # inside it, is styled for this document alone (``None`` for its number).
            def compute(element: Any, parent: Any) -> None:
                self.set_computed_styles(
                    element,
                    root=html.etree_element,
                    parent=parent,
                    base_url=html.base_url,
                    target_collector=target_collector,
                )

            numbers: dict[Any, int | None] = {}
            here: set[int] = set()  # numbers WeasyPrint's own cache would have had
            own: dict[tuple[Any, ...], Any] = {}  # this document's own styles, shared in it
            signatures: dict[Any, int] = {}
            after: dict[Any, list[Any]] = {}  # following siblings, by sibling list
            tested = _tested_attributes()
            pseudo_order: list[tuple[Any, str]] = []  # as WeasyPrint's cascade has them
            for element in html.wrapper_element.iter_subtree():
                etree_element = element.etree_element
                parent = element.parent.etree_element if element.parent else None
                signature = signatures[etree_element] = _signature(
                    element, signatures, tested, after
                )
                selectors_keys = []
                rules = []
                private = False
                for sheet, origin, sheet_specificity in sheets:
                    if id(sheet) in _kept_sheets:
                        matched = _matches.get((id(sheet), signature))
                        if matched is None:
                            matched = _matches[id(sheet), signature] = sheet.matcher.match(element)
                        else:
                            _state["match_hits"] += 1
                    else:
                        matched = sheet.matcher.match(element)
                    for selector in matched:
                        specificity, _order, pseudo_type, (declarations, layer) = selector
                        layer_order = inf if layer is None else sheet.layers.index(layer)
                        private = private or id(sheet) not in _kept_sheets
                        selectors_keys.append(
                            (id(sheet), specificity, id(declarations), layer_order)
                        )
                        rules.append(
                            (origin, sheet_specificity or specificity, pseudo_type, declarations,
                             layer_order)
                        )  # fmt: skip

                above = numbers[parent] if parent is not None else document
                number = None
                if above is not None and not private:
                    key = (above, attributes.get(etree_element), tuple(selectors_keys))
                    number = _keys.setdefault(key, len(_keys))
                pseudo_types = list(dict.fromkeys(rule[2] for rule in rules if rule[2]))
                pseudo_order.extend((etree_element, pseudo_type) for pseudo_type in pseudo_types)
                if (
                    number is None
                    or number not in _styles
                    or any((number, pseudo_type) not in _styles for pseudo_type in pseudo_types)
                ):
                    # Cascaded for this element: its style, or one of its pseudo-elements'
                    # styles, is computed in this document.
                    for origin, specificity, pseudo_type, declarations, layer_order in rules:
                        style = cascaded_styles.setdefault((etree_element, pseudo_type), {})
                        for name, values, importance in declarations:
                            precedence = declaration_precedence(origin, importance)
                            weight = (precedence, layer_order, specificity)
                            old_weight = style.get(name, (None, None))[1]
                            if old_weight is None or old_weight <= weight:
                                style[name] = values, weight

                numbers[etree_element] = number
                if number is None:
                    # Styled for this document alone, shared within it as WeasyPrint does:
                    # same parent style, same ``style`` attribute, same rules.
                    parent_id = id(computed_styles[parent, None]) if parent is not None else None
                    local = (parent_id, attributes.get(etree_element), tuple(selectors_keys))
                    if local in own:
                        computed_styles[etree_element, None] = own[local]
                    else:
                        compute(etree_element, parent)
                        own[local] = computed_styles[etree_element, None]
                    continue
                shared = _styles.get(number)
                if shared is not None:
                    _state["style_hits"] += 1
                    computed_styles[etree_element, None] = shared
                    if number not in here and target_collector and shared["anchor"]:
                        target_collector.collect_anchor(shared["anchor"])
                else:
                    compute(etree_element, parent)
                    computed = computed_styles[etree_element, None]
                    if computed["float"] == "footnote" or computed["position"][0] == "note()":
                        # Laying out a footnote or a note writes to its style.
                        numbers[etree_element] = None
                    else:
                        computed._psyq_shared = True
                        _styles[number] = computed
                here.add(number)

            # Pseudo-elements (every element has some: ``::marker``, ``::footnote-call``
            # ...): those of a shared style are shared as well, by its number.
            for element, pseudo_type in pseudo_order:
                number = numbers.get(element)
                shared = None if number is None else _styles.get((number, pseudo_type))
                if shared is not None:
                    _state["style_hits"] += 1
                    computed_styles[element, pseudo_type] = shared
                    if target_collector and shared["anchor"]:
                        target_collector.collect_anchor(shared["anchor"])
                    continue
                self.set_computed_styles(
                    element,
                    pseudo_type=pseudo_type,
                    root=html.etree_element,
                    parent=element,
                    base_url=html.base_url,
                    target_collector=target_collector,
                )
                if number is not None:
                    computed = computed_styles[element, pseudo_type]
                    computed._psyq_shared = True
                    _styles[number, pseudo_type] = computed
            self._cascaded_styles.clear()

    _SharedStyleFor._psyq_original = style_for
    return _SharedStyleFor


def _signature(
    element: Any, signatures: dict[Any, int], tested: frozenset[str], after: dict[Any, list[Any]]
) -> int:
    """A number for everything a selector can test of ``element`` (a cssselect2
    ``ElementWrapper``, verified): the same number, the same rules match it.

    Selectors test an element's name and attributes, its ancestors (the parent's
    number), its previous siblings (the previous sibling's number), its following
    siblings' names and attributes (``:last-child``, ``:nth-last-of-type``...),
    whether it has children or text (``:empty``) and its language (``:lang``,
    the root's from the document's ``<meta>`` too); nothing else. Of the
    attributes, only those named in the kept stylesheets' selectors count
    (``tested``, :func:`_tested_attributes`): a report's client id in a
    ``data-`` attribute does not make every element after it another element.
    """
    etree_element = element.etree_element
    parent = element.parent
    previous = element.previous
    siblings = element.etree_siblings
    # By the parent element (alive as long as the document), never by the list's id.
    whose = parent.etree_element if parent is not None else None
    numbers = after.get(whose)
    if numbers is None:
        # The following siblings' names and attributes, as one number per position,
        # made from the last sibling back: linear in the number of siblings.
        numbers = [None] * len(siblings)
        following: int | None = None
        for index in range(len(siblings) - 1, -1, -1):
            numbers[index] = following
            sibling = siblings[index]
            attributes = tuple(item for item in sibling.attrib.items() if item[0] in tested)
            following = _followings.setdefault(
                (sibling.tag, attributes, following), len(_followings)
            )
        after[whose] = numbers
    key = (
        signatures[parent.etree_element] if parent is not None else (element.lang,),
        signatures[previous.etree_element] if previous is not None else None,
        etree_element.tag,
        tuple(item for item in etree_element.attrib.items() if item[0] in tested),
        numbers[element.index],
        bool(element.etree_children),
        bool(etree_element.text),
        element.in_html_document,
    )
    number = _signatures.get(key)
    if number is None:
        number = _signatures[key] = len(_signatures)
    return number


_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _tested_attributes() -> frozenset[str]:
    """Every attribute name a selector of a kept stylesheet may test: each string in
    the code cssselect2 compiled its selectors to (``el.etree_element.get("href")``:
    names, and values and tag names too, which only makes the set larger), with
    ``id``, ``class`` and the language attributes, which cssselect2 reads itself.
    Worked out once per set of kept stylesheets."""
    kept = tuple(sorted(_kept_sheets))
    known = _state.get("tested")
    if known is not None and known[0] == kept:
        return known[1]  # type: ignore[no-any-return]
    names = {"id", "class", "lang", _XML_LANG}
    for sheet in _kept_sheets.values():
        matcher = sheet.matcher
        groups = [
            matcher.other_selectors,
            matcher.lang_attr_selectors,
            *matcher.id_selectors.values(),
            *matcher.class_selectors.values(),
            *matcher.lower_local_name_selectors.values(),
            *matcher.namespace_selectors.values(),
        ]
        for group in groups:
            for entry in group:
                _strings(entry[0].__code__, names)
    tested = frozenset(names)
    _state["tested"] = (kept, tested)
    return tested


def _strings(code: Any, names: set[str]) -> None:
    for constant in code.co_consts:
        if isinstance(constant, str):
            names.add(constant)
        elif hasattr(constant, "co_consts"):  # a generator expression's code
            _strings(constant, names)


def _shared(style: Any) -> bool:
    """Whether ``style`` is a computed style shared across documents, or an
    anonymous style made from one (WeasyPrint's text boxes)."""
    for _ in range(8):
        if getattr(style, "_psyq_shared", False):
            return True
        if type(style).__name__ != "AnonymousStyle":
            return False
        style = style.parent_style
    return False


def _svg_fields(style: Any) -> tuple[Any, ...]:
    """What ``weasyprint.svg.text.text`` (verified) sets in an SVG text's style, on top
    of the initial values and the font configuration."""
    return (
        tuple(style["font_family"]),
        style["font_style"],
        style["font_weight"],
        style["font_size"],
        style["direction"],
    )


def _line_cache(split_first_line: Callable[..., Any]) -> Callable[..., Any]:
    import copy

    from weasyprint.svg.text import Style as svg_style

    def shared_split_first_line(
        text: str,
        style: Any,
        context: Any,
        max_width: Any,
        justification_spacing: Any,
        is_line_start: bool = True,
        minimum: bool = False,
    ) -> Any:
        if not _on():
            return split_first_line(
                text, style, context, max_width, justification_spacing, is_line_start, minimum
            )
        if _shared(style):
            owner = style
            key: tuple[Any, ...] = (
                text, id(style), max_width, justification_spacing, is_line_start, minimum
            )  # fmt: skip
        elif type(style) is svg_style:
            # An SVG <text>'s style: the initial values and the five that
            # ``weasyprint.svg.text.text`` sets (verified), in the process's font
            # configuration, which the key holds.
            owner = style.font_config
            key = (
                "svg", text, _svg_fields(style), id(owner),
                max_width, justification_spacing, is_line_start, minimum,
            )  # fmt: skip
        else:
            return split_first_line(
                text, style, context, max_width, justification_spacing, is_line_start, minimum
            )
        entry = _lines.get(key)
        if entry is not None and entry[0] is owner:
            _state["line_hits"] += 1
            layout, *rest = entry[1]
            return (copy.copy(layout), *rest)
        result = split_first_line(
            text, style, context, max_width, justification_spacing, is_line_start, minimum
        )
        if len(_lines) > MAX_ENTRIES:
            _lines.clear()
        # Marked, for drawing: a layout from this cache may be drawn from a laid-out
        # Pango layout kept for its key (:func:`_share_drawn_layouts`).
        result[0]._psyq_key = (key, owner)
        _lines[key] = (owner, (copy.copy(result[0]), *result[1:]))
        return result

    shared_split_first_line.__wrapped__ = split_first_line  # type: ignore[attr-defined]
    return shared_split_first_line


def _share_subsets(font_class: Any) -> None:
    """Keep the font subsets a process makes: one report's glyphs are mostly the last one's.

    ``Font.subset`` (verified) replaces the font file a document embeds with the
    glyphs it uses, a pure function of the font file, the glyph numbers, the
    hinting option and whether any glyph was missing. The same subset is kept and
    handed back, without making it again, when all of those are the same (the font
    file compared byte for byte). A subset that failed (the file unchanged, and
    WeasyPrint's warning) is never kept.
    """
    subset = font_class.subset

    def shared_subset(self: Any, to_unicode: Any, hinting: Any) -> None:
        if not (_on() and to_unicode):
            return subset(self, to_unicode, hinting)  # type: ignore[no-any-return]
        original = self.file_content
        file_key = (self.hash, self.index, len(original))
        key = (*file_key, tuple(sorted(to_unicode)), bool(hinting), bool(self.missing))
        kept = _subsets.get(key)
        if kept is not None and _font_files.get(file_key) == original:
            _state["subset_hits"] += 1
            self.file_content = kept
            return None
        subset(self, to_unicode, hinting)
        if self.file_content is not original and self.file_content != original:
            if len(_subsets) > MAX_SUBSETS:
                _subsets.clear()
                _font_files.clear()
            if _font_files.setdefault(file_key, original) == original:
                _subsets[key] = self.file_content
        return None

    shared_subset.__wrapped__ = subset  # type: ignore[attr-defined]
    font_class.subset = shared_subset


def _share_drawn_layouts(layout_class: Any, text_module: Any) -> None:
    """Keep the Pango layouts that drawing text makes: the same words in the same
    style are shaped once per process, not once per report.

    To draw a text box, WeasyPrint makes its layout anew (``Layout.reactivate``:
    a Pango context and layout, the text and its attributes), and Pango shapes
    the text again. What that makes depends on the style's values, the text and
    the justification spacing alone (``Layout``, verified), so for a layout from
    the line-break cache, drawn in the style it was laid out in, the laid-out
    Pango layout kept for that key is handed over instead. Drawing sets the
    layout's single-paragraph mode (the same each time); a draw that shortens
    the text for an ellipsis changes it, so its layout is dropped afterwards.

    Once such a layout has been drawn, what ``draw_first_line`` (verified) did
    is kept with it (:class:`_DrawnLine`): the text matrix, fonts, font sizes and
    glyph strings it gave the page's stream, and the glyph widths and Unicode
    map it added to the document's fonts. The next text box drawn from that
    layout, with no ellipsis, gets the same at its own position without walking
    the glyphs. A line with a glyph no font has (numbered per document) or with
    emoji (drawn as images) is always drawn by WeasyPrint.
    """
    from weasyprint.svg.text import Style as svg_style

    reactivate = layout_class.reactivate
    draw_first_line = text_module.draw_first_line

    def shared_reactivate(self: Any, style: Any) -> None:
        marked = self.__dict__.get("_psyq_key")
        if marked is None or not _on():
            return reactivate(self, style)  # type: ignore[no-any-return]
        key, owner = marked
        if not (style is owner or (key[0] == "svg" and type(style) is svg_style
                and style.font_config is owner and _svg_fields(style) == key[2])):  # fmt: skip
            return reactivate(self, style)  # type: ignore[no-any-return]
        drawn_key = (key, self.text, self.justification_spacing)
        drawn = _drawn.get(drawn_key)
        if drawn is not None and drawn[0] is owner:
            _state["drawn_hits"] += 1
            self.__dict__.update(drawn[1])
            self.style = style
            return None
        reactivate(self, style)
        if len(_drawn) > MAX_DRAWN:
            _drawn.clear()
        self._psyq_drawn = _DrawnLine()
        kept = {name: value for name, value in vars(self).items() if name != "style"}
        _drawn[drawn_key] = (owner, kept)
        return None

    def shared_draw_first_line(
        stream: Any, textbox: Any, text_overflow: Any, block_ellipsis: Any, matrix: Any
    ) -> Any:
        line = textbox.pango_layout.__dict__.get("_psyq_drawn")
        ellipsis = text_overflow == "ellipsis" or block_ellipsis != "none"
        if line is None or ellipsis or not _on() or not textbox.text.strip():
            try:
                return draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix)
            finally:
                if ellipsis:
                    _drop_drawn(textbox.pango_layout)
        if line.ops is not None:
            _state["line_draws_replayed"] += 1
            line.replay(stream, matrix)
            return []
        recorder = _LineRecorder(stream)
        emojis = draw_first_line(recorder, textbox, text_overflow, block_ellipsis, matrix)
        recorder.apply_fonts()  # and lets go of this document's fonts
        if not recorder.tainted and not emojis:
            line.ops = recorder.ops
        return emojis

    shared_reactivate.__wrapped__ = reactivate  # type: ignore[attr-defined]
    shared_draw_first_line.__wrapped__ = draw_first_line  # type: ignore[attr-defined]
    layout_class.reactivate = shared_reactivate
    text_module.draw_first_line = shared_draw_first_line


class _DrawnLine:
    """What drawing a kept layout's first line did to a page's stream and fonts, to do
    again for the next text box drawn from it: ``None`` until it has been drawn once
    (with nothing that depends on the document: no missing glyph, no emoji)."""

    __slots__ = ("ops",)

    def __init__(self) -> None:
        self.ops: list[tuple[str, Any]] | None = None

    def replay(self, stream: Any, matrix: Any) -> None:
        assert self.ops is not None
        for name, argument in self.ops:
            if name == "add_font":
                pango_font, view = argument
                font, _ = stream.add_font(pango_font)
                view.apply(font)
            elif name == "set_text_matrix":
                stream.set_text_matrix(*matrix.values)
            else:
                getattr(stream, name)(*argument)


class _FontView:
    """A document's font as ``draw_first_line`` (verified) sees it while recording: its
    own glyph widths and Unicode map, filled from nothing, so that every glyph of the
    line is in them; put into the document's font as WeasyPrint would have."""

    def __init__(self, font: Any, recorder: _LineRecorder) -> None:
        self._font: Any = font
        self._recorder: Any = recorder
        self.to_unicode: dict[int, str] = {}
        self.widths: dict[int, int] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._font, name)

    def detach(self) -> None:
        self._font = self._recorder = None

    def get_unused_glyph_id(self, codepoint: int) -> Any:
        self._recorder.tainted = True  # numbered by the document's missing glyphs
        return self._font.get_unused_glyph_id(codepoint)

    def apply(self, font: Any) -> None:
        # A glyph already mapped keeps its text, as in draw_first_line; a missing
        # glyph's width is set whatever was there (never replayed: see the recorder).
        for glyph, text in self.to_unicode.items():
            font.to_unicode.setdefault(glyph, text)
        for glyph, width in self.widths.items():
            if glyph >= font.glyph_count:
                font.widths[glyph] = width
            else:
                font.widths.setdefault(glyph, width)


class _LineRecorder:
    """A page's stream as ``draw_first_line`` (verified) uses it, recording the calls
    it makes (passed on to the stream). Anything else it asks of the stream marks
    the recording as not to be replayed."""

    _DATA = frozenset({"ink_rect", "logical_rect"})

    def __init__(self, stream: Any) -> None:
        self._stream: Any = stream
        self.ops: list[tuple[str, Any]] = []
        self.views: list[tuple[Any, _FontView]] = []
        self.tainted = False

    def __getattr__(self, name: str) -> Any:
        if name not in self._DATA:
            self.tainted = True
        return getattr(self._stream, name)

    def add_font(self, pango_font: Any) -> tuple[Any, Any]:
        font, font_size = self._stream.add_font(pango_font)
        if font.png or font.svg or font.colr:
            self.tainted = True  # emojis: drawn as images, per document
        view = next((v for f, v in self.views if f is font), None)
        if view is None:
            view = _FontView(font, self)
            self.views.append((font, view))
        self.ops.append(("add_font", (pango_font, view)))
        return view, font_size

    def apply_fonts(self) -> None:
        """Put what the line added into the document's fonts, and forget them (a kept
        recording must not hold a document's fonts, and their files, alive)."""
        for font, view in self.views:
            view.apply(font)
            view.detach()
        self.views.clear()
        self._stream = None

    def set_text_matrix(self, *values: Any) -> None:
        self.ops.append(("set_text_matrix", None))
        self._stream.set_text_matrix(*values)

    def show_text(self, text: Any) -> None:
        self.ops.append(("show_text", (text,)))
        self._stream.show_text(text)

    def set_font_size(self, font: Any, size: Any) -> None:
        self.ops.append(("set_font_size", (font, size)))
        self._stream.set_font_size(font, size)

    def set_text_rise(self, height: Any) -> None:
        self.ops.append(("set_text_rise", (height,)))
        self._stream.set_text_rise(height)


def _drop_drawn(layout: Any) -> None:
    """Forget the kept Pango layout ``layout`` was drawn from (its text was changed)."""
    for key, (_, kept) in list(_drawn.items()):
        if kept.get("layout") is getattr(layout, "layout", None):
            del _drawn[key]


_USED_VALUES = (
    *(
        f"{box}_{side}"
        for box in ("margin", "padding")
        for side in ("left", "right", "top", "bottom")
    ),
    *(f"{extent}{axis}" for axis in ("width", "height") for extent in ("", "min_", "max_")),
    *(f"border_{side}_width" for side in ("top", "right", "bottom", "left")),
)
"""The used values ``resolve_percentages`` (verified) sets on a box."""


def _share_percentages(percent_module: Any, modules: list[Any]) -> None:
    """Keep the used margins, paddings, sizes and border widths of boxes in shared
    styles: for the same style and the same containing block, a report's boxes get
    the values the last report's got, without resolving them again.

    ``resolve_percentages`` (verified) sets them from the box's style and the
    containing block's width and height alone, and from whether the box is a
    page; except the border widths of a box whose collapsed borders have already
    been resolved, which it leaves as they are: such a box is resolved as before.
    """
    from weasyprint.formatting_structure.boxes import Box, PageBox

    resolve = percent_module.resolve_percentages

    def shared_resolve_percentages(box: Any, containing_block: Any) -> None:
        style = box.style
        if not (_on() and _shared(style)) or (
            style["border_collapse"] == "collapse"
            and any(hasattr(box, name) for name in _USED_VALUES[-4:])
        ):
            return resolve(box, containing_block)  # type: ignore[no-any-return]
        if isinstance(containing_block, Box):
            size = (containing_block.width, containing_block.height)
        else:
            size = tuple(containing_block)
        key = (id(style), isinstance(box, PageBox), *size)
        kept = _percentages.get(key)
        if kept is not None and kept[0] is style:
            _state["percentage_hits"] += 1
            box.__dict__.update(zip(_USED_VALUES, kept[1], strict=True))
            return None
        resolve(box, containing_block)
        if len(_percentages) > MAX_ENTRIES:
            _percentages.clear()
        _percentages[key] = (style, tuple(getattr(box, name) for name in _USED_VALUES))
        return None

    shared_resolve_percentages.__wrapped__ = resolve  # type: ignore[attr-defined]
    for module in (percent_module, *modules):
        module.resolve_percentages = shared_resolve_percentages
