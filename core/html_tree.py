"""psyq's report HTML as an ElementTree, fast, or ``None`` for WeasyPrint's parser.

WeasyPrint parses HTML with tinyhtml5, a pure-Python HTML5 parser: about 11 ms of
CPU for one PHQ-9 report, most of it spent on error recovery a report never needs.
psyq's reports are rendered from its own templates: a doctype, explicit
``<html>``/``<head>``/``<body>``, every element closed in order, text escaped by
Jinja. For such a document the HTML5 tree is plain, and the standard library's
tokenizer (:class:`html.parser.HTMLParser`) builds it in about a tenth of the time.

:func:`report_tree` builds that tree only while the document stays inside a small,
explicit subset of HTML where the HTML5 tree-construction rules reduce to "append
to the open element". At the first thing outside it (a tag or attribute not on the
lists, an element closed out of order, a ``<p>`` that HTML5 would close implicitly,
text where HTML5 would move it, a comment, an unusual character reference or
control character, a table without its row group, ...) it gives up and returns
``None``, and the caller hands the document to tinyhtml5 as before. The result is
tinyhtml5's tree, element for element (tag names, namespaces, attribute names and
values, text and tails); tests/test_html_tree.py checks that on every built-in
report and on generated documents.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
XML = "{http://www.w3.org/XML/1998/namespace}"
XMLNS = "{http://www.w3.org/2000/xmlns/}"

VOID = frozenset({"br", "img", "meta", "link", "hr", "col", "wbr"})
HEAD_ELEMENTS = frozenset({"meta", "title", "style", "link"})
BODY_ELEMENTS = frozenset(
    {
        # sectioning and grouping (each closes an open <p> in HTML5: not allowed inside one)
        "section", "header", "footer", "div", "figure", "figcaption", "h1", "h2", "h3",
        "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "p", "blockquote", "main",
        "article", "aside", "nav", "hr", "table",
        # phrasing
        "span", "strong", "em", "b", "i", "small", "sup", "sub", "abbr", "code", "br",
        "img", "wbr", "q", "cite", "time", "mark", "bdi", "kbd", "var", "samp", "s", "u",
        "del", "ins",
        # table parts (checked against their parent below)
        "caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "td", "th",
        "svg",
    }
)  # fmt: skip
CLOSES_P = frozenset(
    {
        "section", "header", "footer", "div", "figure", "figcaption", "h1", "h2", "h3",
        "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "p", "blockquote", "main",
        "article", "aside", "nav", "hr", "table",
    }
)  # fmt: skip
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Which children a table part may have, and the only text it may hold is whitespace.
TABLE_CHILDREN = {
    "table": frozenset({"caption", "colgroup", "thead", "tbody", "tfoot", "tr"}),
    "thead": frozenset({"tr"}),
    "tbody": frozenset({"tr"}),
    "tfoot": frozenset({"tr"}),
    "tr": frozenset({"td", "th"}),
    "colgroup": frozenset({"col"}),
}
TABLE_PARTS = frozenset({"caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "td", "th"})
# SVG elements whose HTML5 tag name is all lower case (no case adjustment needed) and
# whose content is parsed as SVG (not the HTML integration points title/desc, which
# may hold text only here).
SVG_ELEMENTS = frozenset(
    {"svg", "g", "text", "tspan", "rect", "line", "circle", "ellipse", "path",
     "polyline", "polygon", "title", "desc", "defs", "use", "symbol"}
)  # fmt: skip
SVG_TEXT_ONLY = frozenset({"title", "desc"})
# HTML5's "adjust SVG attributes" table (the lower-case name the tokenizer gives ->
# the SVG name) and "adjust foreign attributes" table.
_SVG_ATTRIBUTE_NAMES = (
    "attributeName attributeType baseFrequency baseProfile calcMode clipPathUnits "
    "diffuseConstant edgeMode filterUnits glyphRef gradientTransform gradientUnits "
    "kernelMatrix kernelUnitLength keyPoints keySplines keyTimes lengthAdjust "
    "limitingConeAngle markerHeight markerUnits markerWidth maskContentUnits "
    "maskUnits numOctaves pathLength patternContentUnits patternTransform "
    "patternUnits pointsAtX pointsAtY pointsAtZ preserveAlpha preserveAspectRatio "
    "primitiveUnits refX refY repeatCount repeatDur requiredExtensions "
    "requiredFeatures specularConstant specularExponent spreadMethod startOffset "
    "stdDeviation stitchTiles surfaceScale systemLanguage tableValues targetX "
    "targetY textLength viewBox viewTarget xChannelSelector yChannelSelector "
    "zoomAndPan contentScriptType contentStyleType externalResourcesRequired filterRes"
)
SVG_ATTRIBUTES = {name.lower(): name for name in _SVG_ATTRIBUTE_NAMES.split()}
FOREIGN_ATTRIBUTES = {
    "xlink:actuate": XLINK + "actuate",
    "xlink:arcrole": XLINK + "arcrole",
    "xlink:href": XLINK + "href",
    "xlink:role": XLINK + "role",
    "xlink:show": XLINK + "show",
    "xlink:title": XLINK + "title",
    "xlink:type": XLINK + "type",
    "xml:base": XML + "base",
    "xml:lang": XML + "lang",
    "xml:space": XML + "space",
    "xmlns": XMLNS + "xmlns",
    "xmlns:xlink": XMLNS + "xlink",
}

# Anything here sends the document to tinyhtml5: characters HTML5 preprocesses or
# reports (CR, NUL, other controls, noncharacters, lone surrogates), character
# references other than the few Jinja and psyq's templates write, and "<" not
# starting a tag, an end tag or a doctype.
OUTSIDE_SUBSET = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufeff\ufffe\uffff]"
    "|&(?!(?:amp|lt|gt|quot|apos|nbsp|#34|#39|#x27|#x22);)"
    "|<(?![A-Za-z/]|!DOCTYPE html>)"
    "|</(?![A-Za-z])"
)
WHITESPACE = frozenset(" \t\n\f")


class OutsideSubset(Exception):
    """The document uses HTML this builder leaves to tinyhtml5."""


def report_tree(html: str) -> ET.Element | None:
    """The HTML5 tree of ``html`` (as tinyhtml5 builds it, without HTML namespaces),
    or ``None`` if ``html`` is outside the subset this builder handles."""
    if OUTSIDE_SUBSET.search(html):
        return None
    builder = _Builder()
    try:
        builder.feed(html)
        builder.close()
        return builder.finish()
    except OutsideSubset:
        return None


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: ET.Element | None = None
        self.stack: list[ET.Element] = []
        self.names: list[str] = []  # HTML name ("svg:" prefix in SVG) of each open element
        self.phase = "initial"  # initial, before-html, before-head, in-head, after-head,
        # in-body, after-body, after-html

    # -- tokens -----------------------------------------------------------------

    def handle_decl(self, decl: str) -> None:
        if self.phase != "initial" or decl != "DOCTYPE html":
            raise OutsideSubset(decl)
        self.phase = "before-html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closed=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closed=True)

    def handle_endtag(self, tag: str) -> None:
        phase = self.phase
        if phase == "in-head":
            if tag == "head" and self.names[-1] == "head":
                self._pop()
                self.phase = "after-head"
                return
            if self.names[-1] == tag and tag in ("title", "style"):
                self._pop()
                return
            raise OutsideSubset(tag)
        if phase == "in-body":
            current = self.names[-1]
            if current.startswith("svg:"):
                if current != "svg:" + tag:
                    raise OutsideSubset(tag)
                self._pop()
                return
            if tag == "body" and current == "body":
                self.phase = "after-body"  # HTML5 keeps body open: later whitespace goes in it
                return
            if tag == "table" and current in ("thead", "tbody", "tfoot"):
                self._pop()  # HTML5 closes the row group (implied or not) with the table
                current = self.names[-1]
            if tag != current or tag in VOID:
                raise OutsideSubset(tag)
            self._pop()
            return
        if phase == "after-body" and tag == "html":
            self.phase = "after-html"
            return
        raise OutsideSubset(tag)

    def handle_data(self, data: str) -> None:
        phase = self.phase
        blank = all(char in WHITESPACE for char in data)
        if phase in ("initial", "before-html", "before-head"):
            if not blank:
                raise OutsideSubset("text before <head>")
            return
        if phase == "in-head":
            current = self.names[-1]
            if not blank and current not in ("title", "style"):
                raise OutsideSubset("text in <head>")
            self._text(data)
            return
        if phase == "after-head":
            if not blank:
                raise OutsideSubset("text after </head>")
            self._text(data)
            return
        if not blank:
            current = self.names[-1]
            if phase != "in-body" or current in TABLE_CHILDREN:
                raise OutsideSubset("text where HTML5 moves it")
        self._text(data)

    def handle_comment(self, data: str) -> None:
        raise OutsideSubset("comment")

    def handle_pi(self, data: str) -> None:
        raise OutsideSubset("processing instruction")

    def unknown_decl(self, data: str) -> None:
        raise OutsideSubset("declaration")

    # -- tree -------------------------------------------------------------------

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], *, closed: bool) -> None:
        phase = self.phase
        if phase == "before-html" and tag == "html" and not closed:
            self.root = ET.Element("html", self._attributes(attrs, svg=False))
            self.stack.append(self.root)
            self.names.append("html")
            self.phase = "before-head"
            return
        if phase == "before-head" and tag == "head" and not closed:
            self._push("head", attrs)
            self.phase = "in-head"
            return
        if phase == "in-head":
            if tag not in HEAD_ELEMENTS or self.names[-1] != "head":
                raise OutsideSubset(tag)
            self._push(tag, attrs)
            if tag in VOID:
                self._pop()
            elif closed:
                raise OutsideSubset(tag)
            return
        if phase == "after-head" and tag == "body" and not closed:
            self._push("body", attrs)
            self.phase = "in-body"
            return
        if phase != "in-body":
            raise OutsideSubset(tag)
        current = self.names[-1]
        if current.startswith("svg:"):
            if tag not in SVG_ELEMENTS or current[4:] in SVG_TEXT_ONLY:
                raise OutsideSubset(tag)
            self._push(tag, attrs, svg=True)
            if closed:
                self._pop()
            return
        if tag not in BODY_ELEMENTS:
            raise OutsideSubset(tag)
        if closed and tag not in VOID and tag != "svg":
            raise OutsideSubset(tag)  # HTML5 ignores "/>" on an HTML element: it stays open
        if tag in CLOSES_P and "p" in self.names:
            raise OutsideSubset(tag)
        if tag in HEADINGS and current in HEADINGS:
            raise OutsideSubset(tag)
        if tag == "li" and current not in ("ul", "ol"):
            raise OutsideSubset(tag)
        if tag in ("dt", "dd") and current != "dl":
            raise OutsideSubset(tag)
        allowed = TABLE_CHILDREN.get(current)
        if allowed is not None:
            if tag not in allowed:
                raise OutsideSubset(tag)
            if current == "table" and tag == "tr":
                self._push("tbody", [])  # HTML5 inserts the row group a bare row needs
        elif tag in TABLE_PARTS:
            raise OutsideSubset(tag)
        self._push(tag, attrs, svg=tag == "svg")
        if tag in VOID or closed:
            self._pop()

    def _attributes(self, attrs: list[tuple[str, str | None]], *, svg: bool) -> dict[str, str]:
        found: dict[str, str] = {}
        for name, value in attrs:
            if svg:
                name = FOREIGN_ATTRIBUTES.get(name, SVG_ATTRIBUTES.get(name, name))
            if name in found:
                raise OutsideSubset("repeated attribute")  # HTML5 keeps the first
            found[name] = "" if value is None else value
        return found

    def _push(self, tag: str, attrs: list[tuple[str, str | None]], *, svg: bool = False) -> None:
        element = ET.SubElement(
            self.stack[-1], SVG + tag if svg else tag, self._attributes(attrs, svg=svg)
        )
        self.stack.append(element)
        self.names.append("svg:" + tag if svg else tag)

    def _pop(self) -> None:
        self.stack.pop()
        self.names.pop()

    def _text(self, data: str) -> None:
        node = self.stack[-1]
        if len(node):
            last = node[-1]
            last.tail = (last.tail or "") + data
        else:
            node.text = (node.text or "") + data

    def finish(self) -> ET.Element:
        if self.phase not in ("after-body", "after-html") or self.root is None:
            raise OutsideSubset("document not closed")
        if self.rawdata:
            raise OutsideSubset("unparsed input left")
        return self.root
