"""``psyq compile --to redcap``: an instrument as a REDCap data dictionary.

One form named after the instrument, after a ``record_id`` field (REDCap's
first field is the record id): a radio field per item (``0, Not at all |
1, ...``; the field name is the item id), a read-only ``calc`` field per scale
(``<id>_<scale>``, see :mod:`psyq.plugins.redcap.calc`) and one per flag
(``<id>_flag_<flag>``, 1 when raised). No action tags. An item with a skip
rule gets branching logic (shown unless the skip condition holds) and the calc
fields count it, blank while hidden, as its skip score. A label cannot hold
REDCap's choice separator ``|``; it is written as ``/``.
"""

from __future__ import annotations

from psyq.models import Instrument
from psyq.plugins.redcap.calc import branching_logic, flag_calculation, scale_calculation
from psyq.plugins.redcap.dictionary import write_dictionary


def scale_field(instrument: Instrument, scale_id: str) -> str:
    return f"{instrument.id}_{scale_id}"[:100]


def flag_field(instrument: Instrument, flag_id: str) -> str:
    return f"{instrument.id}_flag_{flag_id}"[:100]


def _label(text: str) -> str:
    return " ".join(text.replace("|", "/").split())


def _rule(instrument: Instrument, scale_id: str) -> str:
    scale = instrument.scale(scale_id)
    rule = scale.missing
    how = "mean" if scale.method == "mean" else "sum"
    parts = [f"psyq: {how} of {len(scale.items)} items"]
    if rule.max_missing is not None:
        parts.append(f"at most {rule.max_missing} missing")
    if rule.min_answered is not None:
        parts.append(f"at least {rule.min_answered} answered")
    if rule.prorate:
        parts.append("prorated")
    parts.append(f"{scale.decimals} decimals; blank fields are skipped, as REDCap's {how}() does")
    return ", ".join(parts)


def compile_dictionary(instrument: Instrument) -> str:
    """The data dictionary CSV for ``instrument``."""
    form = instrument.id
    rows: list[dict[str, str]] = [
        {
            "Variable / Field Name": "record_id",
            "Form Name": form,
            "Field Type": "text",
            "Field Label": "Record ID",
        }
    ]
    missing: dict[str, list[int]] = {
        item.id: [
            o.value
            for o in instrument.response_scale_for(item).options
            if getattr(o, "missing", False)
        ]
        for item in instrument.items
    }
    for n, item in enumerate(instrument.items):
        options = instrument.response_scale_for(item).options
        row = {
            "Variable / Field Name": item.id,
            "Form Name": form,
            "Field Type": "radio",
            "Field Label": _label(item.text),
            "Choices, Calculations, OR Slider Labels": " | ".join(
                f"{o.value}, {_label(o.label)}" for o in options
            ),
            "Required Field?": "y" if item.required else "",
        }
        if n == 0 and instrument.instructions:
            row["Section Header"] = _label(instrument.instructions)
        notes = [] if item.scored else ["not scored"]
        if item.skip is not None:
            row["Branching Logic (Show field only if...)"] = branching_logic(
                instrument, item.id, missing
            )
            notes.append(f"psyq: blank when skipped scores {item.skip.score:g}")
        if notes:
            row["Field Note"] = "; ".join(notes)
        rows.append(row)
    field_of = {f"item:{i.id}": i.id for i in instrument.items}
    for scale in instrument.scales:
        name = scale_field(instrument, scale.id)
        field_of[f"scale:{scale.id}"] = name
        rows.append(
            {
                "Variable / Field Name": name,
                "Form Name": form,
                "Field Type": "calc",
                "Field Label": _label(f"{instrument.short_name} {scale.label}"),
                "Choices, Calculations, OR Slider Labels": scale_calculation(
                    instrument, scale, missing
                ),
                "Field Note": _rule(instrument, scale.id),
            }
        )
    critical = [i.id for i in instrument.items if getattr(i, "critical", False)]
    if critical:
        blank = " or ".join(
            f"isblankormissingcode([{i}])" + "".join(f" or [{i}]='{c}'" for c in missing[i])
            for i in critical
        )
        rows.append(
            {
                "Variable / Field Name": flag_field(instrument, "critical_item_unanswered"),
                "Form Name": form,
                "Field Type": "calc",
                "Field Label": _label(
                    f"CRITICAL flag: a risk item ({', '.join(critical)}) is not answered: "
                    "ask it directly"
                ),
                "Choices, Calculations, OR Slider Labels": f"if({blank},1,0)",
                "Field Note": "1 = raised",
            }
        )
    for flag in instrument.flags:
        logic = flag_calculation(flag.when, field_of, missing)
        row = {
            "Variable / Field Name": flag_field(instrument, flag.id),
            "Form Name": form,
            "Field Type": "calc" if logic else "descriptive",
            "Field Label": _label(f"{flag.level.upper()} flag {flag.id}: {flag.message}"),
            "Choices, Calculations, OR Slider Labels": logic or "",
            "Field Note": "1 = raised" if logic else "psyq raises this flag; REDCap cannot",
        }
        rows.append(row)
    return write_dictionary(rows)
