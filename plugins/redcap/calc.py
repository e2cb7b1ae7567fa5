"""REDCap calculations: psyq's scale and flag rules written as calc fields, and read back.

:func:`scale_calculation` writes a scale in REDCap's calc syntax: each item's
value (blank and missing codes skipped, reverse keys as ``(max+min-[x])``,
weights as ``*w``), aggregated with ``sum()`` or ``mean()`` (REDCap's own
functions skip blank fields), inside ``if(<answered> >= K, ..., "")`` for the
missing rule, prorated as ``sum * N / answered``, transformed and ``round()``ed.
:func:`flag_calculation` writes a flag as ``if(<condition>, 1, 0)``.

:func:`parse` reads REDCap logic into a small tree (never evaluated), and
:func:`recognise_scale` / :func:`recognise_flag` turn the common shapes of
hand-written calc fields into rules: ``sum([a],[b])``, ``[a]+[b]``,
``mean(...)``, ``if([x]='777', ...)`` guards, ``if([score]>=N,1,0)``.
Anything else is reported as not converted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psyq.plugins.drafts import negate, simplify

if TYPE_CHECKING:
    from psyq.models import Condition, Instrument, Scale

Node = tuple[Any, ...]


# -- writing -------------------------------------------------------------------------


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _blank(name: str, missing_codes: list[int]) -> str:
    tests = [f"isblankormissingcode([{name}])"] + [f"[{name}]='{c}'" for c in missing_codes]
    return " or ".join(tests)


def skip_logic(instrument: Instrument, item_id: str, missing: dict[str, list[int]]) -> str | None:
    """REDCap logic true when the item's skip condition holds (None: no rule or not sayable).

    A rule without ``when`` (skipped whenever blank) is ``1=1``.
    """
    skip = instrument.item(item_id).skip
    if skip is None:
        return None
    if skip.when is None:
        return "1=1"
    field_of = {f"item:{i.id}": i.id for i in instrument.items}
    if any(kind != "item" for kind, _ in skip.when.references()):
        return None
    return condition_logic(skip.when, field_of, missing)


def branching_logic(instrument: Instrument, item_id: str, missing: dict[str, list[int]]) -> str:
    """The item's branching logic: shown unless its skip condition holds ("" when always
    shown, or when REDCap logic here cannot say it)."""
    skip = instrument.item(item_id).skip
    if skip is None or skip.when is None:
        return ""
    when = skip.when
    if when.item is not None and when.op == "==" and when.value is not None:
        # REDCap's <> is true on a blank field: shown until the skipping answer is given.
        return f"[{when.item}]<>'{_num(when.value)}'"
    logic = skip_logic(instrument, item_id, missing)
    return "" if logic is None else f"if({logic},0,1)=1"


def item_term(instrument: Instrument, scale: Scale, item_id: str, missing: list[int]) -> str:
    item = instrument.item(item_id)
    value = f"[{item_id}]"
    if item.reverse:
        values = [v for v in instrument.response_scale_for(item).values if v not in missing]
        value = f"({_num(min(values) + max(values))}-[{item_id}])"
    weight = scale.weight(item_id)
    if weight != 1:
        value = f"({value}*{_num(weight)})"
    blank = _skipped(instrument, item_id, '""')
    return f"if({_blank(item_id, missing)},{blank},{value})"


def _skipped(instrument: Instrument, item_id: str, otherwise: str) -> str:
    """What a blank item counts as: its skip score when its skip logic holds."""
    skip = instrument.item(item_id).skip
    missing = {i.id: _missing_codes(instrument, i.id) for i in instrument.items}
    logic = skip_logic(instrument, item_id, missing)
    if skip is None or logic is None:
        return otherwise
    score = _num(skip.score) if otherwise == '""' else "1"
    return f"if({logic},{score},{otherwise})"


def _missing_codes(instrument: Instrument, item_id: str) -> list[int]:
    options = instrument.response_scale_for(instrument.item(item_id)).options
    return [o.value for o in options if getattr(o, "missing", False)]


def answered(
    items: list[str], missing: dict[str, list[int]], instrument: Instrument | None = None
) -> str:
    """How many of ``items`` count as answered (a skipped blank item does)."""
    terms = []
    for i in items:
        blank = _skipped(instrument, i, "0") if instrument is not None else "0"
        terms.append(f"if({_blank(i, missing.get(i, []))},{blank},1)")
    return "(" + "+".join(terms) + ")"


def scale_calculation(instrument: Instrument, scale: Scale, missing: dict[str, list[int]]) -> str:
    """The calc expression for one scale (see the module docs)."""
    terms = ",".join(item_term(instrument, scale, i, missing.get(i, [])) for i in scale.items)
    n = len(scale.items)
    count = answered(scale.items, missing, instrument)
    if scale.method == "mean":
        body = f"mean({terms})"
    elif scale.missing.prorate:
        body = f"sum({terms})*{n}/{count}"
    else:
        body = f"sum({terms})"
    if scale.transform is not None:
        body = f"({body})*{_num(scale.transform.multiply)}+{_num(scale.transform.add)}"
    body = f"round({body},{scale.decimals})"
    least = 1
    if scale.missing.max_missing is not None:
        least = max(least, n - scale.missing.max_missing)
    if scale.missing.min_answered is not None:
        least = max(least, scale.missing.min_answered)
    return f'if({count}>={least},{body},"")'


_OPS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "==": "=", "!=": "<>"}


def condition_logic(
    condition: Condition, field_of: dict[str, str], missing: dict[str, list[int]]
) -> str | None:
    """A flag condition in REDCap logic (None when REDCap logic here cannot say it).

    As in psyq, an unanswered item, one answered with a "counts as missing"
    option, or a blank score never compares true.
    """
    parts: list[str | None]
    if condition.any is not None or condition.all is not None:
        parts = [
            condition_logic(c, field_of, missing) for c in (condition.any or condition.all or [])
        ]
        if any(p is None for p in parts):
            return None
        joiner = " or " if condition.any is not None else " and "
        return "(" + joiner.join(p for p in parts if p) + ")"
    counted: list[Condition] | None = getattr(condition, "count", None)
    if counted is not None:
        return _count_logic(condition, counted, field_of, missing)
    if condition.scale is not None:
        name = field_of[f"scale:{condition.scale}"]
        assert condition.op is not None and condition.value is not None
        return f'([{name}]<>"" and [{name}]{_OPS[condition.op]}{_num(condition.value)})'
    items = [condition.item] if condition.item else list(getattr(condition, "items", None) or [])
    parts = [_item_test(condition, field_of[f"item:{i}"], missing.get(i, [])) for i in items]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else "(" + " or ".join(p for p in parts if p) + ")"


def _item_test(condition: Condition, name: str, codes: list[int]) -> str:
    blank = _blank(name, codes)
    wanted = getattr(condition, "missing", None)
    # REDCap logic has no not(): "answered" is written if(<blank>,0,1)=1.
    if wanted is not None:
        return f"({blank})" if wanted else f"if({blank},0,1)=1"
    assert condition.op is not None and condition.value is not None
    return f"(if({blank},0,1)=1 and [{name}]{_OPS[condition.op]}{_num(condition.value)})"


def _count_logic(
    condition: Condition,
    counted: list[Condition],
    field_of: dict[str, str],
    missing: dict[str, list[int]],
) -> str | None:
    tests: dict[str, str] = {}
    for sub in counted:
        items = [sub.item] if sub.item else list(getattr(sub, "items", None) or [])
        for item_id in items:
            tests.setdefault(
                item_id, _item_test(sub, field_of[f"item:{item_id}"], missing.get(item_id, []))
            )
    if not tests:
        return None
    total = "(" + "+".join(f"if({t},1,0)" for t in tests.values()) + ")"
    parts = []
    at_least, at_most = getattr(condition, "at_least", None), getattr(condition, "at_most", None)
    if at_least is not None:
        parts.append(f"{total}>={at_least}")
    if at_most is not None:
        parts.append(f"{total}<={at_most}")
    including = getattr(condition, "including_one_of", None)
    if including:
        listed = [tests[i] for i in including if i in tests]
        if not listed:
            return "(1=0)"
        parts.append("(" + " or ".join(listed) + ")")
    return "(" + " and ".join(parts) + ")"


def flag_calculation(
    condition: Condition, field_of: dict[str, str], missing: dict[str, list[int]]
) -> str | None:
    logic = condition_logic(condition, field_of, missing)
    return None if logic is None else f"if({logic},1,0)"


# -- reading -------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>[0-9]+(?:\.[0-9]+)?)|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|\[(?P<field>[A-Za-z0-9_]+)(?:\([^)]*\))?\]"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><>|!=|<=|>=|==|[-+*/^=<>(),]))"
)


class CalcSyntaxError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise CalcSyntaxError(f"unexpected {text[position : position + 10]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.k = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.k] if self.k < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1].lower() != value:
            raise CalcSyntaxError(f"expected {value!r}, found {token[1]!r}")
        self.k += 1
        return token

    def expression(self, depth: int = 0) -> Node:
        if depth > 60:
            raise CalcSyntaxError("nested too deeply")
        return self._binary(0, depth)

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("or",),
        ("and",),
        ("=", "==", "<>", "!=", "<", ">", "<=", ">="),
        ("+", "-"),
        ("*", "/"),
    )

    def _binary(self, level: int, depth: int) -> Node:
        if level == len(self._LEVELS):
            return self._unary(depth)
        left = self._binary(level + 1, depth)
        while self.peek()[1].lower() in self._LEVELS[level]:
            op = self.take()[1].lower()
            op = {"==": "=", "!=": "<>"}.get(op, op)
            left = ("bin", op, left, self._binary(level + 1, depth))
        return left

    def _unary(self, depth: int) -> Node:
        kind, value = self.peek()
        if value == "-":
            self.take()
            if depth > 60:
                raise CalcSyntaxError("nested too deeply")
            return ("bin", "-", ("num", 0.0), self._unary(depth + 1))
        if kind == "num":
            self.take()
            return ("num", float(value))
        if kind == "str":
            self.take()
            return ("str", value[1:-1])
        if kind == "field":
            self.take()
            return ("field", value)
        if value == "(":
            self.take()
            inner = self.expression(depth + 1)
            self.take(")")
            return inner
        if kind == "name":
            self.take()
            self.take("(")
            args: list[Node] = []
            if self.peek()[1] != ")":
                args.append(self.expression(depth + 1))
                while self.peek()[1] == ",":
                    self.take()
                    args.append(self.expression(depth + 1))
            self.take(")")
            return ("call", value.lower(), args)
        raise CalcSyntaxError(f"unexpected {value!r}" if value else "unexpected end")


MAX_CALC_CHARS = 100_000


def parse(text: str) -> Node:
    """REDCap logic as a tree; CalcSyntaxError for anything else."""
    if len(text) > MAX_CALC_CHARS:
        raise CalcSyntaxError(f"longer than {MAX_CALC_CHARS} characters")
    parser = _Parser(text)
    node = parser.expression()
    if parser.peek()[0] != "end":
        raise CalcSyntaxError(f"unexpected {parser.peek()[1]!r}")
    return node


@dataclass
class ScaleRule:
    """A scale read from a calc field; item names are REDCap field names."""

    items: list[str]
    method: str = "sum"
    reverse: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    missing_codes: dict[str, set[str]] = field(default_factory=dict)
    least_answered: int | None = None
    prorate: bool = False
    multiply: float = 1.0
    add: float = 0.0
    decimals: int = 0
    blank_skipped: bool = True
    """False for ``[a]+[b]``: a blank field blanks the whole sum in REDCap."""


def _is_blank(node: Node) -> bool:
    return node == ("str", "")


def _guard_fields(node: Node, codes: dict[str, set[str]]) -> set[str] | None:
    """Fields a blank/missing-code test names: isblankormissingcode([x]) or [x]='777'."""
    if node[0] == "call" and node[1] in ("isblankormissingcode", "isblank") and len(node[2]) == 1:
        arg = node[2][0]
        return {arg[1]} if arg[0] == "field" else None
    if node[0] == "bin" and node[1] == "=" and node[2][0] == "field":
        value = node[3]
        if value[0] in ("str", "num"):
            text = value[1] if value[0] == "str" else _num(value[1])
            if text == "":
                return {node[2][1]}
            codes.setdefault(node[2][1], set()).add(text)
            return {node[2][1]}
    if node[0] == "bin" and node[1] == "or":
        found: set[str] = set()
        for part in _chain(node, "or"):
            fields = _guard_fields(part, codes)
            if fields is None:
                return None
            found |= fields
        return found
    return None


def _term(node: Node, rule: ScaleRule) -> str | None:
    """One item's value in an aggregate; records reversal, weight, missing codes."""
    if node[0] == "call" and node[1] == "if" and len(node[2]) == 3:
        cond, then, other = node[2]
        guarded = _guard_fields(cond, rule.missing_codes)
        if _skip_term(then, ("str", "")):
            then = ("str", "")  # a skipped blank item's score: the skip is its branching logic
        if guarded is not None and (_is_blank(then) or then == ("num", 0.0)):
            name = _term(other, rule)
            return name if name is not None and guarded == {name} else None
        return None
    if node[0] == "field":
        return str(node[1])
    if node[0] == "bin" and node[1] == "-" and node[2][0] == "num" and node[3][0] == "field":
        rule.reverse[node[3][1]] = node[2][1]
        return str(node[3][1])
    if node[0] == "bin" and node[1] == "*" and node[3][0] == "num":
        name = _term(node[2], rule)
        if name is not None:
            rule.weights[name] = node[3][1]
        return name
    return None


def _skip_term(node: Node, otherwise: Node) -> bool:
    """``if(<skip logic>, <number>, otherwise)``: what psyq writes for a skipped blank item."""
    return (
        node[0] == "call"
        and node[1] == "if"
        and len(node[2]) == 3
        and node[2][1][0] == "num"
        and node[2][2] == otherwise
    )


def _chain(node: Node, op: str) -> list[Node]:
    """The operands of ``a op b op c ...``, left to right, without recursing on the chain
    (a calc of thousands of terms must not hit the recursion limit)."""
    out: list[Node] = []
    stack = [node]
    while stack:
        top = stack.pop()
        if top[0] == "bin" and top[1] == op:
            stack += [top[3], top[2]]
        else:
            out.append(top)
    return out


def _plus_chain(node: Node) -> list[Node]:
    return _chain(node, "+")


def _count(node: Node, rule: ScaleRule) -> list[str] | None:
    """The fields an answered-count expression counts: if(<blank>,0,1)+..."""
    names = []
    for part in _plus_chain(node):
        if not (part[0] == "call" and part[1] == "if" and len(part[2]) == 3):
            return None
        guarded = _guard_fields(part[2][0], rule.missing_codes)
        blank_counts = part[2][1]
        if _skip_term(blank_counts, ("num", 0.0)):
            blank_counts = ("num", 0.0)
        if (
            guarded is None
            or len(guarded) != 1
            or [blank_counts, part[2][2]]
            != [
                ("num", 0.0),
                ("num", 1.0),
            ]
        ):
            return None
        names.append(next(iter(guarded)))
    return names


def _aggregate(node: Node, rule: ScaleRule) -> bool:
    if node[0] == "call" and node[1] in ("sum", "mean") and node[2]:
        rule.method = node[1]
        names = [_term(arg, rule) for arg in node[2]]
        if any(n is None for n in names):
            return False
        rule.items = [n for n in names if n is not None]
        return True
    if node[0] == "bin" and node[1] == "/" and node[2][0] == "bin" and node[2][1] == "*":
        # sum(...) * N / answered: prorated
        inner, n, count = node[2][2], node[2][3], _count(node[3], rule)
        if n[0] == "num" and count is not None and _aggregate(inner, rule):
            rule.prorate = rule.method == "sum" and int(n[1]) == len(rule.items)
            return rule.prorate and set(count) == set(rule.items)
        return False
    chain = _plus_chain(node)
    if len(chain) > 1:
        names = [_term(part, rule) for part in chain]
        if any(n is None for n in names):
            return False
        rule.items = [n for n in names if n is not None]
        rule.blank_skipped = False
        return True
    return False


def recognise_scale(node: Node) -> ScaleRule | None:
    """A scale rule from a calc tree, or None when it is not a shape psyq knows."""
    rule = ScaleRule(items=[])
    if node[0] == "call" and node[1] == "if" and len(node[2]) == 3 and _is_blank(node[2][2]):
        cond = node[2][0]
        if cond[0] == "bin" and cond[1] in (">=", ">") and cond[3][0] == "num":
            counted = _count(cond[2], rule)
            if counted is None:
                return None
            rule.least_answered = int(cond[3][1]) + (1 if cond[1] == ">" else 0)
            node = node[2][1]
        else:
            return None
    if node[0] == "call" and node[1] == "round" and len(node[2]) == 2 and node[2][1][0] == "num":
        rule.decimals = int(node[2][1][1])
        node = node[2][0]
    if (
        node[0] == "bin"
        and node[1] == "+"
        and node[3][0] == "num"
        and node[2][0] == "bin"
        and node[2][1] == "*"
        and node[2][3][0] == "num"
    ):
        rule.multiply, rule.add = node[2][3][1], node[3][1]
        node = node[2][2]
    if not _aggregate(node, rule) or len(set(rule.items)) != len(rule.items):
        return None
    return rule


@dataclass
class FlagRuleRead:
    field: str
    op: str
    value: float


_BACK = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "=": "==", "<>": "!="}


def recognise_flag(node: Node) -> list[FlagRuleRead] | None:
    """``if([x] op N, 1, 0)`` (conditions joined by ``and``), or None."""
    if not (node[0] == "call" and node[1] == "if" and len(node[2]) == 3):
        return None
    if node[2][1:] != [("num", 1.0), ("num", 0.0)]:
        return None
    out: list[FlagRuleRead] = []

    def walk(cond: Node) -> bool:
        if cond[0] == "bin" and cond[1] == "and":
            return all(walk(part) for part in _chain(cond, "and"))
        if cond[0] == "bin" and cond[1] == "<>" and cond[2][0] == "field" and _is_blank(cond[3]):
            return True  # "answered": psyq's conditions are false on a blank anyway
        if (
            cond[0] == "bin"
            and cond[1] == "="
            and cond[3] == ("num", 1.0)
            and cond[2][0] == "call"
            and cond[2][1] == "if"
            and len(cond[2][2]) == 3
            and cond[2][2][1:] == [("num", 0.0), ("num", 1.0)]
            and _guard_fields(cond[2][2][0], {}) is not None
        ):
            return True  # the same "answered" test, as psyq writes it
        if cond[0] == "bin" and cond[1] in _BACK and cond[2][0] == "field":
            value = cond[3]
            number = value[1] if value[0] == "num" else None
            if value[0] == "str" and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value[1]):
                number = float(value[1])
            if number is None:
                return False
            out.append(FlagRuleRead(cond[2][1], _BACK[cond[1]], float(number)))
            return True
        return False

    return out if walk(node[2][0]) and out else None


_READ_OPS = {"=": "==", "<>": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


def read_logic(node: Node, items: dict[str, set[str]], depth: int = 0) -> dict[str, Any] | str:
    """REDCap logic (branching or a flag's test) as a psyq condition true exactly when it
    is, or why it cannot be read. ``items``: the form's items (field name -> its
    missing-data codes); REDCap's ``<>`` is true on a blank field, psyq's ``!=`` is not."""
    if depth > 40:
        return "nested too deeply"
    kind = node[0]
    if kind == "bin" and node[1] in ("and", "or"):
        parts = [read_logic(part, items, depth + 1) for part in _chain(node, node[1])]
        for part in parts:
            if isinstance(part, str):
                return part
        return simplify({"all" if node[1] == "and" else "any": parts})
    if kind == "call" and node[1] in ("isblankormissingcode", "isblank") and len(node[2]) == 1:
        return _missing_test(node[2][0], items, True)
    if kind == "call" and node[1] == "if" and len(node[2]) == 3:
        # if(L,0,1)=1 is "not L"; if(L,1,0) is L: REDCap logic has no not().
        inner = read_logic(node[2][0], items, depth + 1)
        if isinstance(inner, str):
            return inner
        if node[2][1:] == [("num", 1.0), ("num", 0.0)]:
            return inner
        if node[2][1:] == [("num", 0.0), ("num", 1.0)]:
            return negate(inner)
        return "an if() that is not a yes/no test"
    if kind == "bin" and node[1] in _READ_OPS:
        left, right = node[2], node[3]
        if left[0] == "call" and left[1] == "if" and right == ("num", 1.0) and node[1] == "=":
            return read_logic(left, items, depth + 1)
        if left[0] != "field":
            return "a comparison that does not start with a [field]"
        name = str(left[1])
        if name not in items:
            return f"it tests [{name}], which is not an earlier item of the draft"
        text = right[1] if right[0] == "str" else _num(right[1]) if right[0] == "num" else None
        if text is None:
            return "a comparison with something other than a value"
        if text == "" and node[1] in ("=", "<>"):
            return {"item": name, "missing": node[1] == "="}
        if text in items[name]:
            if node[1] == "=":
                return {"item": name, "missing": True}  # a missing-data code
            return "a comparison with a missing-data code"
        if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
            return f"a comparison with {text[:20]!r}, not a choice code"
        test = {"item": name, "op": _READ_OPS[node[1]], "value": float(text)}
        if node[1] == "<>":
            return {"any": [test, {"item": name, "missing": True}]}
        return test
    return "not a comparison, and/or or if() psyq reads"


def _missing_test(arg: Node, items: dict[str, set[str]], wanted: bool) -> dict[str, Any] | str:
    if arg[0] != "field" or arg[1] not in items:
        return "a blank test on something that is not an earlier item"
    return {"item": str(arg[1]), "missing": wanted}
