"""The cohort summary lists respondents as aligned lines, critical ones highlighted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psyq.batch.cohort import CohortStats, listing_lines, render_cohort_html
from psyq.manager import create_plugin_manager
from psyq.registry import InstrumentRegistry


def _entry(row: int, client: str, total: int | None, flags: list[str], critical: bool) -> dict:
    return {
        "row": row,
        "client_id": client,
        "date": "2025-01-02",
        "total": total,
        "band": "Mild" if total is not None else "",
        "flags": flags,
        "critical": critical,
    }


def test_lines_are_aligned_whatever_the_lengths() -> None:
    listed = [
        _entry(7, "C1", 12, ["suicidal_ideation"], True),
        _entry(1234, "a-much-longer-client-id", None, [], False),
        _entry(9, "C3", 3, ["major_depressive_syndrome"], False),
    ]
    lines = listing_lines(listed)
    assert [kind for kind, _ in lines] == ["head", "critical", "", "flagged"]
    texts = [text for _, text in lines]
    # Every column starts at the same place on every line.
    date_at = texts[0].index("date")
    assert all(t[date_at : date_at + 10] in ("date      ", "2025-01-02") for t in texts)
    flags_at = texts[0].index("flags")
    assert texts[1][flags_at:] == "suicidal_ideation"
    assert texts[3][flags_at:] == "major_depressive_syndrome"
    assert texts[2].split() == ["1234", "a-much-longer-client-id", "2025-01-02"]


def test_listing_in_the_page_is_escaped_and_critical_first() -> None:
    inst = InstrumentRegistry(create_plugin_manager(load_entrypoints=False)).get("phq9")
    stats = CohortStats(inst)
    for row, client, answers_9 in ((2, "<b>x</b>", 0), (3, "C2", 2)):
        stats.add(
            {
                "row": row,
                "client_id": client,
                "date": "2025-01-01",
                "values": {"total": 10},
                "bands": {"total": "moderate"},
                "flags": ["suicidal_ideation"] if answers_9 else [],
                "critical": bool(answers_9),
            }
        )
    html = render_cohort_html(stats, source="in.csv", generated_at=datetime(2026, 1, 1), errors=0)
    listing = html[html.index('<div class="listing">') :]
    assert "&lt;b&gt;x&lt;/b&gt;" in listing and "<b>x</b>" not in listing
    assert listing.index('<div class="critical">') < listing.index("&lt;b&gt;")


def test_a_scale_label_with_quotes_stays_inside_its_attribute(
    write_file: Any, minimal_yaml: str
) -> None:
    import html as html_module
    import re

    from psyq.registry import load_instrument_file

    pm = create_plugin_manager(load_entrypoints=False)
    label = 'Total "raw" <sum> & more'
    path = write_file("mini.yaml", minimal_yaml.replace("label: Total", f"label: '{label}'"))
    inst = load_instrument_file(pm, path)
    stats = CohortStats(inst)
    for row, total in ((2, 1), (3, 4)):
        stats.add({"row": row, "client_id": f"C{row}", "date": "2025-01-01",
                   "values": {"total": total}, "bands": {"total": "low"}, "flags": [],
                   "critical": False})  # fmt: skip
    page = render_cohort_html(stats, source="in.csv", generated_at=datetime(2026, 1, 1), errors=0)
    labels = re.findall(r'aria-label="([^"]*)"', page)
    assert labels and all(html_module.unescape(a) == f"{label} distribution" for a in labels)
    assert "<sum>" not in page
