"""The cohort summary lists respondents as aligned lines, critical ones highlighted."""

from __future__ import annotations

from datetime import datetime

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
