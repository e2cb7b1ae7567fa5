"""One form of a REDCap data dictionary turned into a psyq DRAFT (``psyq import-redcap``).

Radio, dropdown, yes/no and true/false fields with whole-number codes become
items; choices that are missing-data codes (777, 888, 999, their negatives,
-99) or say so ("Decline", "Don't know", "Prefer not to answer", "Not
applicable") count as missing. Calc fields of the shapes
:mod:`psyq.plugins.redcap.calc` recognises become scales (``sum``, ``mean``,
reverse keys, missing-code guards, answered-count rules, proration,
transforms, ``round``) and flags (``if([score]>=N,1,0)``). When a form has
calculated scores, an item no score uses is kept as ``scored: false``
(a category such as "1=Bleeding ... 9=Other" is never summed).

Everything else (descriptive, text and notes fields, ``@NOW`` and other
action tags, sql, checkbox, file and slider fields, branching logic other than
comparisons of earlier items joined by and/or, calc fields of other shapes) is
listed in the draft's header, which never holds raw text from the file: each
note is one line of printable characters.
Branching logic that compares earlier items (``[q1]='1'``, ``[q1]>0``,
``[q1]<>''``, and/or, ``if(...,0,1)=1``) becomes the item's skip rule: skipped
when the logic is false, scored as its lowest answer (noted).
Nothing in the dictionary is run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psyq.answers import looks_missing
from psyq.errors import DefinitionError
from psyq.models import MAX_OPTION_VALUE
from psyq.plugins.drafts import draft_yaml as write_draft
from psyq.plugins.drafts import negate

if TYPE_CHECKING:
    from psyq.plugins.redcap.calc import ScaleRule
    from psyq.plugins.redcap.dictionary import Field

UNKNOWN_LICENCE = "UNKNOWN: check before use"
DRAFT_NOTICE = (
    "Draft converted from a REDCap data dictionary by psyq import-redcap: its items, answer "
    "values and scores have not been checked against the instrument's manual."
)
ITEM_TYPES = {"radio", "dropdown", "yesno", "truefalse"}
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,63}")


def safe(text: str, limit: int = 120) -> str:
    """Text from the file as it may appear in a note: printable, one line, quoted."""
    shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in " ".join(text.split()))
    return repr(shown[: limit - 3] + "..." if len(shown) > limit else shown)


@dataclass
class RedcapDraft:
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _options(f: Field, notes: list[str]) -> list[dict[str, Any]] | None:
    from psyq.plugins.redcap.dictionary import parse_choices

    if f.type == "yesno":
        return [{"value": 0, "label": "No"}, {"value": 1, "label": "Yes"}]
    if f.type == "truefalse":
        return [{"value": 0, "label": "False"}, {"value": 1, "label": "True"}]
    pairs = parse_choices(f.choices)
    if not pairs:
        notes.append(f"field {f.name}: a {f.type} field without choices: not converted")
        return None
    out = []
    for code, label in pairs:
        if not re.fullmatch(r"-?[0-9]{1,4}", code):
            notes.append(
                f"field {f.name}: choice code {safe(code, 30)} is not a whole number: "
                "not converted (psyq scores numbers; recode it in REDCap or by hand)"
            )
            return None
        value = int(code)
        if abs(value) > MAX_OPTION_VALUE:  # the draft would be one `psyq validate` refuses
            notes.append(
                f"field {f.name}: choice code {value} is outside the -{MAX_OPTION_VALUE}.."
                f"{MAX_OPTION_VALUE} psyq accepts: not converted"
            )
            return None
        option: dict[str, Any] = {"value": value, "label": label[:500] or code}
        if looks_missing(value, label):
            option["missing"] = True
        out.append(option)
    if len({o["value"] for o in out}) != len(out):
        notes.append(f"field {f.name}: two choices share a code: not converted")
        return None
    if not [o for o in out if not o.get("missing")] or len(out) > 100:
        notes.append(f"field {f.name}: no scorable choices (or over 100): not converted")
        return None
    return out


def _branching(
    f: Field,
    entry: dict[str, Any],
    options: list[dict[str, Any]],
    earlier: dict[str, set[str]],
    notes: list[str],
) -> None:
    """The item's branching logic as its skip rule: skipped when the logic is false.

    REDCap does not say what a hidden field scores; the draft scores it as its lowest
    answer (what REDCap's sum() counts a blank as, when that is 0) and says so.
    """
    import yaml

    from psyq.models import Condition
    from psyq.plugins.redcap.calc import CalcSyntaxError, parse, read_logic

    shown = safe(f.branching, 100)
    try:
        read = read_logic(parse(f.branching), earlier)
    except CalcSyntaxError as exc:
        read = f"not REDCap logic psyq reads ({exc})"
    if isinstance(read, str):
        notes.append(
            f"item {f.name} is shown only when {shown} (branching logic): not converted: "
            f"{safe(read, 120)[1:-1]}; psyq counts it as missing when it is blank"
        )
        return
    when = negate(read)
    try:
        Condition.model_validate(when)
    except ValueError:
        notes.append(f"item {f.name}: branching logic {shown} is too large to convert")
        return
    values = [o["value"] for o in options if not o.get("missing")]
    score = min(values)
    said = re.search(r"psyq: blank when skipped scores (-?[0-9]+)\b", f.note)
    if said and int(said[1]) in values:
        score = int(said[1])  # psyq's compile says what the manual scores
    entry["skip"] = {"when": when, "score": score, "reason": "hidden by branching logic"}
    flow = yaml.safe_dump(when, default_flow_style=True, width=10_000).strip()
    notes.append(
        f"item {f.name} is shown only when {shown} (branching logic): skip rule: when {flow} "
        f"it is hidden, and blank it scores {score} "
        + (
            "(its field note says so)"
            if said and score == int(said[1])
            else "(its lowest answer; REDCap does not say what a hidden field scores)"
        )
        + ": check it against the manual"
    )


def _describe(f: Field) -> str:
    from psyq.plugins.redcap.dictionary import plain

    kind = {"notes": "notes (free text)", "sql": "sql"}.get(f.type, f.type or "untyped")
    return f"field {f.name} ({kind}) {safe(plain(f.label), 60)}: not converted"


def dictionary_to_draft(
    fields: list[Field], form: str | None, source: str, instrument_id: str | None = None
) -> RedcapDraft:
    """Convert one form (see the module docs); raises DefinitionError."""
    from psyq.plugins.redcap.dictionary import plain

    forms = list(dict.fromkeys(f.form for f in fields if f.form))
    if not forms:
        raise DefinitionError(f"{source}: the dictionary has no fields")
    if form is None:
        if len(forms) > 1:
            listed = ", ".join(forms[:8]) + (
                f" and {len(forms) - 8} more" if len(forms) > 8 else ""
            )
            raise DefinitionError(
                f"{source}: {len(forms)} forms; choose one with --form ({listed})"
            )
        form = forms[0]
    if form not in forms:
        raise DefinitionError(f"{source}: no form '{form}'; forms: {', '.join(forms[:20])}")
    notes: list[str] = []
    scales_by_key: dict[tuple[Any, ...], str] = {}
    response_scales: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    calcs: list[Field] = []
    earlier: dict[str, set[str]] = {}  # items so far -> their missing-data codes
    for f in (f for f in fields if f.form == form):
        where = f"{source}:{f.line}"
        if not f.name:
            raise DefinitionError(f"{where}: a field without a name")
        if f.type == "calc":
            calcs.append(f)
            continue
        if f.type not in ITEM_TYPES:
            if f.name != "record_id":
                notes.append(_describe(f))
            continue
        if not IDENTIFIER.fullmatch(f.name):
            notes.append(
                f"field {safe(f.name, 40)}: not a psyq id (a-z, 0-9, _; 64 at most): skipped"
            )
            continue
        options = _options(f, notes)
        if options is None:
            continue
        key = tuple((o["value"], o["label"], o.get("missing", False)) for o in options)
        if key not in scales_by_key:
            if len(scales_by_key) >= 50:
                notes.append(f"field {f.name}: more than 50 different answer sets: skipped")
                continue
            scales_by_key[key] = f"answers_{len(scales_by_key) + 1}"
            response_scales[scales_by_key[key]] = {"options": options}
        entry: dict[str, Any] = {
            "id": f.name,
            "text": plain(f.label)[:10_000] or f.name,
            "response_scale": scales_by_key[key],
        }
        if f.required:
            entry["required"] = True
        items.append(entry)
        if f.branching:
            _branching(f, entry, options, earlier, notes)
        elif (said := re.search(r"psyq: blank when skipped scores (-?[0-9]+)\b", f.note)) and int(
            said[1]
        ) in [o["value"] for o in options if not o.get("missing")]:
            # psyq's rule without a condition (PHQ-15's item 4): a blank item scores N.
            entry["skip"] = {"score": int(said[1]), "reason": "left blank (its field note)"}
            notes.append(f"item {f.name}: left blank, it scores {said[1]} (its field note)")
        earlier[f.name] = {str(o["value"]) for o in options if o.get("missing")}
        tags = re.findall(r"@[A-Z][A-Z-]+", f.annotation)
        if tags:
            notes.append(
                f"item {f.name}: action tags {', '.join(sorted(set(tags)))}: not converted"
            )
    if len(items) > 1000:
        raise DefinitionError(f"{source}: form '{form}' has more than 1000 items")
    if not items:
        reason = next((n for n in notes if "choice code" in n), None)
        raise DefinitionError(
            f"{source}: form '{form}' has no radio, dropdown or yes/no field with whole-number "
            "choice codes; nothing psyq can score" + (f" (e.g. {reason})" if reason else "")
        )
    by_id = {i["id"]: i for i in items}
    scales, flags = _calculations(form, calcs, by_id, response_scales, notes)
    if scales:
        used = {i for s in scales for i in s["items"]}
        for item in items:
            if item["id"] not in used and not item.get("critical"):  # a critical item is scored
                item["scored"] = False
        unscored = [i["id"] for i in items if i.get("scored") is False]
        if unscored:
            notes.append(
                f"items {', '.join(unscored)} are in no calculated score: kept as scored: false"
            )
    if not any(s["id"] == "total" for s in scales):
        scored = [i["id"] for i in items if i.get("scored", True)]
        scales.append(
            {
                "id": "total",
                "label": "Total (sum of all items; check it)",
                "items": scored,
                "method": "sum",
                "missing": {"max_missing": 0},
            }
        )
        notes.append("total: no calculated score is the total; the draft sums every item")
        # As import-fhir names them: a PHQ-9 form's difficulty item (Bridge2AI-Voice's
        # hard_to_work, "Not difficult at all" ...) summed into the symptom total.
        first = next((i for i in items if i.get("scored", True)), None)
        for item in items:
            if first is None or not item.get("scored", True):
                continue
            if item["response_scale"] != first["response_scale"]:
                options = response_scales[item["response_scale"]]["options"]
                labels = ", ".join(f"{o['value']}={safe(o['label'], 30)}" for o in options)
                notes.append(
                    f"item {item['id']} has answers unlike {first['id']}'s ({labels}) and IS "
                    "included in the total: check that the instrument scores it; if not, set "
                    "`scored: false` and remove it from scale total"
                )
    notes.append("bands: the draft has none; add the manual's interpretation bands")
    notes.append("examples: the draft has no golden examples; add the manual's before use")
    notes.append(f"licence: a data dictionary states none: licence is {UNKNOWN_LICENCE}")
    ident = instrument_id or _identifier(form)
    data: dict[str, Any] = {
        "schema_version": 1,
        "id": ident,
        "version": "0.1",
        "title": form.replace("_", " ").strip().capitalize()[:500] or ident,
        "short_name": form[:40],
        "status": "provisional",
        "citations": [{"text": f"Converted from form '{form}' of the REDCap dictionary {source}."}],
        "licence": UNKNOWN_LICENCE,
        "notice": DRAFT_NOTICE,
        "response_scales": response_scales,
        "items": items,
        "scales": scales,
    }
    if flags:
        data["flags"] = flags
    return RedcapDraft(data=data, notes=notes)


def _identifier(text: str) -> str:
    ident = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not ident or not ident[0].isalpha():
        ident = f"redcap_{ident}".strip("_")
    return ident[:64].rstrip("_")


def _short(name: str, form: str, infix: str = "") -> str:
    prefix = f"{form}_{infix}"
    ident = name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else name
    return _identifier(ident)


def _calculations(
    form: str,
    calcs: list[Field],
    by_id: dict[str, dict[str, Any]],
    response_scales: dict[str, Any],
    notes: list[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from psyq.plugins.redcap.calc import CalcSyntaxError, parse, recognise_flag, recognise_scale
    from psyq.plugins.redcap.dictionary import plain

    scales: list[dict[str, Any]] = []
    scale_of: dict[str, str] = {}  # calc field name -> scale id
    pending: list[tuple[Field, Any]] = []
    for f in calcs:
        try:
            tree = parse(f.choices)
        except CalcSyntaxError as exc:
            notes.append(f"calc {f.name}: {safe(f.choices, 80)} is not read ({exc}): not converted")
            continue
        rule = recognise_scale(tree)
        if rule is None:
            pending.append((f, tree))
            continue
        scale = _scale(f, form, rule, by_id, response_scales, notes)
        if scale is not None:
            if scale["id"] in {s["id"] for s in scales}:
                scale["id"] = f"{scale['id']}_{len(scales) + 1}"
            scales.append(scale)
            scale_of[f.name] = scale["id"]
    if not any(s["id"] == "total" for s in scales):
        named = [s for s in scales if "total" in s["id"]]
        if len(scales) == 1 or len(named) == 1:
            chosen = (named or scales)[0]
            scale_of = {k: ("total" if v == chosen["id"] else v) for k, v in scale_of.items()}
            chosen["id"] = "total"
    flags: list[dict[str, Any]] = []
    for f, tree in pending:
        critical = _critical_items(f, tree, by_id, response_scales)
        if critical:
            for item_id in critical:
                by_id[item_id]["critical"] = True
            notes.append(
                f"items {', '.join(critical)}: critical (read from calc {f.name}): left "
                "unanswered, each raises a critical flag"
            )
            continue
        tests = recognise_flag(tree)
        if tests is None:
            notes.append(
                f"calc {f.name}: {safe(f.choices, 80)} is not a sum, mean or threshold flag "
                "psyq recognises: not converted"
            )
            continue
        leaves = []
        for test in tests:
            if test.field in scale_of:
                leaves.append({"scale": scale_of[test.field], "op": test.op, "value": test.value})
            elif test.field in by_id:
                leaves.append({"item": test.field, "op": test.op, "value": test.value})
            else:
                leaves = []
                break
        if not leaves:
            notes.append(f"calc {f.name}: a flag on fields that were not converted: not converted")
            continue
        label = plain(f.label)
        level_match = re.match(r"(CRITICAL|WARNING|INFO) flag [a-z0-9_]+: ", label)
        level = level_match.group(1).lower() if level_match else "warning"
        message = label[level_match.end() :] if level_match else label
        flags.append(
            {
                "id": _short(f.name, form, "flag_"),
                "level": level,
                "message": (message or f"{f.name} is 1")[:10_000],
                "when": leaves[0] if len(leaves) == 1 else {"all": leaves},
            }
        )
        notes.append(f"flag {flags[-1]['id']}: read from calc {f.name}; check its level ({level})")
    return scales, flags


def _critical_items(
    f: Field, tree: Any, by_id: dict[str, dict[str, Any]], response_scales: dict[str, Any]
) -> list[str] | None:
    """The items of a CRITICAL calc that is 1 when any of them is blank (or a missing-data
    code), as ``compile --to redcap`` writes psyq's critical items; else None."""
    from psyq.plugins.redcap.calc import read_logic
    from psyq.plugins.redcap.dictionary import plain

    if not plain(f.label).startswith("CRITICAL flag"):
        return None
    if not (tree[0] == "call" and tree[1] == "if" and len(tree[2]) == 3):
        return None
    if tree[2][1:] != [("num", 1.0), ("num", 0.0)]:
        return None
    codes = {
        item_id: {
            str(o["value"])
            for o in response_scales[entry["response_scale"]]["options"]
            if o.get("missing")
        }
        for item_id, entry in by_id.items()
    }
    read = read_logic(tree[2][0], codes)
    if isinstance(read, str):
        return None
    leaves = read.get("any", [read])
    if not all(set(leaf) == {"item", "missing"} and leaf["missing"] is True for leaf in leaves):
        return None
    return list(dict.fromkeys(str(leaf["item"]) for leaf in leaves))


def _scale(
    f: Field,
    form: str,
    rule: ScaleRule,
    by_id: dict[str, dict[str, Any]],
    response_scales: dict[str, Any],
    notes: list[str],
) -> dict[str, Any] | None:
    from psyq.plugins.redcap.dictionary import plain

    unknown = [name for name in rule.items if name not in by_id]
    if unknown:
        notes.append(
            f"calc {f.name}: adds fields that were not converted ({', '.join(unknown[:5])}): "
            "not converted"
        )
        return None
    for name, pivot in rule.reverse.items():
        options = response_scales[by_id[name]["response_scale"]]["options"]
        scored = [o["value"] for o in options if not o.get("missing")]
        if pivot != min(scored) + max(scored):
            notes.append(
                f"calc {f.name}: reverses {name} as {pivot:g} - value, not lowest + highest "
                f"({min(scored) + max(scored)}): not converted"
            )
            return None
    for name, codes in rule.missing_codes.items():
        if name not in by_id:
            continue
        options = response_scales[by_id[name]["response_scale"]]["options"]
        for option in options:
            if str(option["value"]) in codes and not option.get("missing"):
                option["missing"] = True
                notes.append(
                    f"field {name}: choice {option['value']} is skipped by calc {f.name}: "
                    "it counts as missing"
                )
    for name in rule.reverse:
        by_id[name]["reverse"] = True
    n = len(rule.items)
    scale: dict[str, Any] = {
        "id": _short(f.name, form),
        "label": plain(f.label)[:500] or f.name,
        "items": list(rule.items),
        "method": rule.method,
    }
    if rule.weights:
        scale["weights"] = dict(rule.weights)
    least = rule.least_answered
    if not rule.blank_skipped:
        missing: dict[str, Any] = {"max_missing": 0}
        notes.append(f"scale {scale['id']}: [a]+[b] in REDCap is blank when any field is blank")
    elif least is None:
        missing = {"min_answered": 1}
        notes.append(
            f"scale {scale['id']}: REDCap's {rule.method}() skips blank fields and the calc "
            "sets no minimum: any number of items may be missing; check the manual's rule"
        )
    elif rule.prorate or least >= n:
        missing = {"max_missing": max(0, n - least)}
    else:
        missing = {"min_answered": least}
    if rule.prorate:
        missing["prorate"] = True
    scale["missing"] = missing
    if rule.decimals:
        scale["decimals"] = rule.decimals
    if (rule.multiply, rule.add) != (1.0, 0.0):
        scale["transform"] = {"multiply": rule.multiply, "add": rule.add}
    notes.append(
        f"scale {scale['id']}: read from calc {f.name} ({rule.method} of {n} items); "
        "check it against the manual"
    )
    return scale


def draft_yaml(draft: RedcapDraft, source: str) -> str:
    """The draft as YAML, headed by a comment listing everything not converted."""
    intro = (
        f"psyq instrument DRAFT converted from the REDCap data dictionary {safe(source, 80)} "
        "by `psyq import-redcap`. Status provisional: check every item, answer value and "
        "score against the instrument's manual before scoring anyone with it."
    )
    return write_draft(intro, draft.notes, draft.data)
