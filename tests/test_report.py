"""Report HTML: context, sections and their hooks, charts, the `psyq report` command.

No PDF is rendered here (see test_report_pdf.py); these tests are fast.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import Result

from psyq import hookimpl
from psyq.change import compare
from psyq.charts import SEVERITY_FILL, band_chart, band_edges
from psyq.errors import DuplicateError, PluginError, PsyqError
from psyq.manager import PsyqPluginManager
from psyq.outputs import PastScore, RenderRequest
from psyq.registry import InstrumentRegistry
from psyq.report import ReportSection, collect_sections, compact_markup, render_report_html
from psyq.scoring import Scorer

CLI = Callable[..., Result]

PHQ9_ITEM9 = "2,3,2,3,1,2,2,1,1"  # total 17, moderately severe, item 9 = Several days
CCTS = "3,3,2,3,4,3,1,2,1,3,2,3,3,1,2,1"


def phq9(values: list[int | None]) -> dict[str, int | None]:
    return {f"phq9_{i}": v for i, v in enumerate(values, start=1)}


@pytest.fixture
def make_request(
    registry: InstrumentRegistry, psyq_pm: PsyqPluginManager
) -> Callable[..., RenderRequest]:
    scorer = Scorer(psyq_pm)

    def make(instrument_id: str, answers: dict[str, Any], **kwargs: Any) -> RenderRequest:
        inst = registry.get(instrument_id)
        return RenderRequest(result=scorer.score(inst, answers), instrument=inst, **kwargs)

    return make


def section_names(html: str) -> list[str]:
    return re.findall(r'<\w+ class="section-([a-z-]+)', html)


def section(html: str, name: str) -> str:
    """The markup of one section, up to the next section."""
    start = html.index(f'class="section-{name}')
    following = html.find(' class="section-', start + 1)
    return html[start : following if following != -1 else len(html)]


def test_sections_are_ordered_with_the_safety_alert_first(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest]
) -> None:
    request = make_request(
        "phq9", phq9([2, 3, 2, 3, 1, 2, 2, 1, 1]), client_id="C-1", note="See again in 2 weeks."
    )
    html = render_report_html(psyq_pm, request)
    names = section_names(html)
    assert names[0] == "safety-alert"
    assert names == [
        "safety-alert",
        "header",
        "summary",
        "flags",  # the PHQ-9 algorithm's screening result (major depressive syndrome)
        "band-charts",
        "items",
        "note",
        "footer",
    ]
    assert "major depressive syndrome" in section(html, "flags")
    alert = section(html, "safety-alert")
    assert "Thoughts that you would be better off dead or of hurting yourself" in alert
    assert "Several days" in alert
    assert "Assess suicide and self-harm risk" in alert


def test_no_alert_without_a_critical_flag(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest]
) -> None:
    html = render_report_html(psyq_pm, make_request("phq9", phq9([1] * 8 + [0])))
    assert "safety-alert" not in section_names(html)
    assert "header" in section_names(html)


def test_html_is_one_self_contained_file(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest]
) -> None:
    html = render_report_html(psyq_pm, make_request("ccts", {}, client_id="C-2"))
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<style>") == 2  # page size + the inlined stylesheet
    assert "@bottom-right" in html and "counter(pages)" in html
    assert "<svg" in html
    assert not re.search(r"<(link|script|img|iframe|object)\b", html)
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!data:|#)""", html)
    assert "@import" not in html


def test_built_in_markup_drops_only_whitespace_that_renders_as_nothing(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest]
) -> None:
    # Indentation before block, table and SVG tags goes; a space before inline markup
    # or inside text stays, and so does a line break before a closing </p> or </text>.
    html = (
        "<table>\n  <tr>\n    <td>1 <span>x</span></td>\n  </tr>\n</table>\n"
        "<p>one\n  two <strong>three</strong>\n</p>\n<strong>four</strong>\n  <em>five</em>"
        "<p class=note>\n</p>\n<svg>\n  <rect/>\n  <text>six\n</text>\n</svg>"
    )
    assert compact_markup(html) == (
        "<table><tr><td>1 <span>x</span></td></tr></table><p>one\n  two <strong>three"
        "</strong>\n</p>\n<strong>four</strong>\n  <em>five</em><p class=note>\n</p>"
        "<svg><rect/><text>six\n</text></svg>"
    )
    html = render_report_html(psyq_pm, make_request("phq9", phq9([3] * 9), client_id="C-1"))
    assert not re.search(r">\s*\n\s*<(tr|td|th|rect|text|path)\b", html)
    items = html[html.index('<table class="items">') :]
    assert '<span class="mark mark-critical">critical item</span> Thoughts' in items


def test_pdf_html_leaves_the_stylesheet_to_the_renderer(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest]
) -> None:
    html = render_report_html(psyq_pm, make_request("gad7", {}), standalone=False)
    assert html.count("<style>") == 1
    assert "@page { size: A4; }" in html


def test_summary_rows_show_score_range_band_and_interpretation(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest]
) -> None:
    html = render_report_html(psyq_pm, make_request("phq9", phq9([2, 3, 2, 3, 1, 2, 2, 1, 1])))
    summary = section(html, "summary")
    assert "<strong>17</strong>" in summary
    assert "0–27" in summary
    assert 'class="chip sev-3">Moderately severe' in summary
    assert "Active treatment with pharmacotherapy" in summary


def test_missing_and_prorated_answers_are_explained(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest]
) -> None:
    # One missing: sum 10 over 8 answered -> 11.25 -> 11 (golden example).
    request = make_request("phq9", phq9([2, 2, 2, 1, None, 1, 1, 1, 0]))
    html = render_report_html(psyq_pm, request)
    note = section(html, "missing-data")
    assert "1 of 9 items unanswered" in note
    assert "prorated from the 8 answered items" in note
    assert "sum 10" in note and "rounded half up to 11" in note
    items = section(html, "items")
    assert items.count("mark-missing") == 1


def test_unscored_total_is_said_plainly(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest]
) -> None:
    request = make_request("phq9", phq9([None, None, None, 1, 1, 1, 1, 1, 1]))
    html = render_report_html(psyq_pm, request)
    assert "Depression severity (total) was not scored (6 of 9 items answered)" in html
    assert "safety-alert" in section_names(html)  # item 9 still raises the flag


def test_ccts_has_provisional_banner_profile_and_reverse_marks(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest], registry: Any
) -> None:
    answers = dict(
        zip([i.id for i in registry.get("ccts").items], map(int, CCTS.split(",")), strict=True)
    )
    html = render_report_html(psyq_pm, make_request("ccts", answers))
    names = section_names(html)
    assert names.index("notices") < names.index("summary")
    assert "provisional-banner" in section(html, "notices") and "not diagnostic" in html
    profile = section(html, "profile")
    for label in ("Putting the therapist first", "Protecting the therapist", "helper&#39;s role"):
        assert label in profile
    assert ">2.25<" in profile and ">2.19<" in profile
    assert "outside the therapist&#39;s view" in section(html, "notices")
    items = section(html, "items")
    assert items.count("mark mark-reverse") == 1 + 1  # one reverse-keyed item + the legend
    assert "flag flag-warning" in section(html, "flags")


def test_who5_colours_mean_concern_not_position(registry: InstrumentRegistry) -> None:
    who5 = registry.get("who5")
    chart = band_chart(who5, who5.total, 80)
    left, *_, right = chart.segments
    assert left.label == "Likely depression" and left.fill == SEVERITY_FILL[3]
    assert right.label == "Adequate well-being" and right.fill == SEVERITY_FILL[0]
    assert right.current and not left.current
    assert chart.direction_text == "higher = better"
    assert chart.marker_x is not None and chart.marker_x > right.x


def test_band_edges_meet_between_integer_bands(registry: InstrumentRegistry) -> None:
    phq = registry.get("phq9")
    edges = [(band.id, start, end) for band, start, end in band_edges(phq.total, 0, 27)]
    assert edges[0] == ("minimal", 0, 4.5)
    assert edges[1] == ("mild", 4.5, 9.5)
    assert edges[-1] == ("severe", 19.5, 27)


def test_trend_chart_marks_reliable_change_from_compare(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest]
) -> None:
    past = [
        make_request("phq9", phq9([3, 3, 3, 3, 2, 2, 2, 2, 1])).result,  # 21
        make_request("phq9", phq9([3, 3, 2, 2, 2, 2, 1, 1, 0])).result,  # 16: -5, not reliable
        make_request("phq9", phq9([2, 2, 1, 1, 1, 1, 1, 1, 0])).result,  # 10: -6, reliable
    ]
    history = [
        PastScore(date(2026, 6, 1), past[0]),
        PastScore(date(2026, 7, 1), past[1]),
        PastScore(date(2026, 8, 15), past[2]),
    ]
    request = make_request(
        "phq9", phq9([1, 1, 0, 1, 0, 1, 0, 0, 0]), administered=date(2026, 10, 6), history=history
    )
    html = render_report_html(psyq_pm, request)
    trend = section(html, "trend")
    scale = request.instrument.total
    values = [21, 16, 10, 4]
    expected = [compare(scale, a, b) for a, b in itertools.pairwise(values)]
    reliable = sum(1 for c in expected if c is not None and c.reliable)
    assert reliable == 2
    assert trend.count('r="8"') == reliable  # one ring per reliable change
    assert trend.count("<circle") == len(values) + reliable
    for when in ("2026-06-01", "2026-08-15", "2026-10-06"):
        assert when in trend
    assert "\u22126" in trend and "reliable improvement" in trend
    assert "clinically significant" in trend  # 10 -> 4 crosses the cut-off of 10
    assert "\u221217" in trend  # since the first administration


def test_unknown_paper_size_is_a_user_error(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest]
) -> None:
    request = make_request("gad7", {}, options={"paper": "a3"})
    with pytest.raises(PsyqError, match="unknown paper size 'a3'; choose one of: a4, letter"):
        render_report_html(psyq_pm, request)


def test_no_trend_without_history(
    psyq_pm: PsyqPluginManager, make_request: Callable[..., RenderRequest]
) -> None:
    html = render_report_html(psyq_pm, make_request("phq9", phq9([1] * 9)))
    assert "trend" not in section_names(html)


# -- plugins -----------------------------------------------------------------------


def test_plugin_adds_replaces_and_filters(
    psyq_pm: PsyqPluginManager,
    psyq_register: Callable[..., object],
    make_request: Callable[..., RenderRequest],
) -> None:
    class Plugin:
        @hookimpl
        def psyq_report_sections(self) -> list[ReportSection]:
            return [
                ReportSection("clinic_logo", '<div class="section-clinic">{{ clinic }}</div>', 25),
                ReportSection(
                    "my_note",
                    '<div class="section-mynote">{{ note | shout }}</div>',
                    replaces="note",
                ),
                ReportSection(
                    "ccts_only", '<div class="section-cctsonly"></div>', 5, None, ("ccts",)
                ),
            ]

        @hookimpl
        def psyq_report_context(self, request: RenderRequest, context: dict[str, Any]) -> None:
            context["clinic"] = f"Clinic for {request.client_id}"

        @hookimpl
        def psyq_template_filters(self) -> dict[str, Callable[..., Any]]:
            return {"shout": lambda s: str(s).upper()}

    psyq_register(Plugin(), "clinic")
    request = make_request("phq9", phq9([0] * 9), client_id="C-9", note="<b>calm</b>")
    html = render_report_html(psyq_pm, request)
    names = section_names(html)
    assert names[:2] == ["header", "clinic"]
    assert "mynote" in names and "note" not in names and "cctsonly" not in names
    assert names.index("mynote") == names.index("items") + 1  # took the note's place
    assert "Clinic for C-9" in html
    assert "&lt;B&gt;CALM&lt;/B&gt;" in html  # the filter's output is still escaped


def test_two_replacements_of_one_section_name_both(
    psyq_pm: PsyqPluginManager, psyq_register: Callable[..., object]
) -> None:
    for n in (1, 2):
        psyq_register(
            SimpleNamespace(
                psyq_report_sections=hookimpl(
                    lambda n=n: [ReportSection(f"alt{n}", "x", replaces="footer")]
                )
            ),
            f"alt-plugin-{n}",
        )
    with pytest.raises(DuplicateError, match="'footer' is replaced by both 'alt1'"):
        collect_sections(psyq_pm, "phq9")


def test_replacing_an_unknown_section_is_an_error(
    psyq_pm: PsyqPluginManager, psyq_register: Callable[..., object]
) -> None:
    psyq_register(
        SimpleNamespace(
            psyq_report_sections=hookimpl(lambda: [ReportSection("x", "x", replaces="nope")])
        ),
        "bad-replacer",
    )
    with pytest.raises(PluginError, match="replaces section 'nope'"):
        collect_sections(psyq_pm, "phq9")


def test_duplicate_section_and_filter_names_are_errors(
    psyq_pm: PsyqPluginManager, psyq_register: Callable[..., object]
) -> None:
    psyq_register(
        SimpleNamespace(
            psyq_report_sections=hookimpl(lambda: [ReportSection("header", "x")]),
            psyq_template_filters=hookimpl(lambda: {"signed": str}),
        ),
        "copycat",
    )
    with pytest.raises(DuplicateError, match="plugin 'copycat' provides report section 'header'"):
        collect_sections(psyq_pm, "phq9")


def test_broken_section_template_is_one_line_naming_it(
    psyq_cli: CLI, psyq_register: Callable[..., object], tmp_path: Path
) -> None:
    psyq_register(
        SimpleNamespace(
            psyq_report_sections=hookimpl(lambda: [ReportSection("broken", "{% if %}")])
        ),
        "broken-section",
    )
    out = tmp_path / "r.html"
    result = psyq_cli(
        "report", "gad7", "--answers", "1,1,1,1,1,1,1", "--client", "C-1", "-o", str(out)
    )
    assert result.exit_code == 1
    assert "report section 'broken' (plugin 'broken-section'; unregister it): template error" in (
        result.output
    )
    assert not out.exists()


# -- the command ---------------------------------------------------------------------


def test_report_format_from_suffix_and_flag(psyq_cli: CLI, tmp_path: Path) -> None:
    html_out = tmp_path / "r.html"
    result = psyq_cli(
        "report", "phq9", "--answers", PHQ9_ITEM9, "--client", "C-7", "--date", "2026-10-06",
        "--clinician", "Dr X", "--paper", "letter", "-o", str(html_out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "CRITICAL (item phq9_9): suicidal_ideation" in result.output
    html = html_out.read_text()
    assert "@page { size: letter; }" in html
    assert ">C-7<" in html and ">2026-10-06<" in html and ">Dr X<" in html
    json_out = tmp_path / "r.data"
    result = psyq_cli(
        "report", "phq9", "--answers", PHQ9_ITEM9, "--client", "C-7", "--date", "2026-10-06",
        "--format", "json", "-o", str(json_out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(json_out.read_text())
    scored = json.loads(psyq_cli("score", "phq9", "--answers", PHQ9_ITEM9, "--json").output)
    report_meta = doc.pop("report")
    assert doc == scored
    assert report_meta["client_id"] == "C-7" and report_meta["administered"] == "2026-10-06"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-o", "{tmp}/r.docx"], "cannot tell the report format from 'r.docx'"),
        (["-o", "{tmp}/r.pdf", "--date", "2026-13-01"], "--date: '2026-13-01' is not a date"),
        (["-o", "{tmp}/nope/r.pdf"], "does not exist"),
        (["-o", "{tmp}/r.pdf", "--format", "docx"], "unknown output format 'docx'"),
        (["-o", "{tmp}/r.pdf", "--note", "x" * 5001], "--note: 5001 characters"),
    ],
)
def test_report_errors_are_one_line(
    psyq_cli: CLI, tmp_path: Path, args: list[str], expected: str
) -> None:
    args = [a.format(tmp=tmp_path) for a in args]
    result = psyq_cli("report", "gad7", "--answers", "1,1,1,1,1,1,1", "--client", "C-1", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == [] or all(p.is_dir() for p in tmp_path.iterdir())


def test_transformed_scores_show_their_raw_sum(
    psyq_pm: PsyqPluginManager, registry: InstrumentRegistry
) -> None:
    who5, phq9 = registry.get("who5"), registry.get("phq9")
    scorer = Scorer(psyq_pm)
    result = scorer.score(who5, {"who5_1": 2, "who5_2": 2, "who5_3": 1, "who5_4": 3, "who5_5": 2})
    html = render_report_html(psyq_pm, RenderRequest(result=result, instrument=who5))
    assert re.search(r"<strong>40</strong>.*raw 10", html, re.S)
    plain = scorer.score(phq9, {f"phq9_{i}": 1 for i in range(1, 10)})
    assert "raw 9" not in render_report_html(psyq_pm, RenderRequest(result=plain, instrument=phq9))
