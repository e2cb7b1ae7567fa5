"""PDF report speed (issue: clinician reports).

1. In process: a PHQ-9 report rendered by psyq (scoring + context + templating +
   PDF, warm worker) against bare WeasyPrint rendering the same HTML with the
   same stylesheet string inlined (a fresh ``weasyprint.HTML(...).write_pdf()``
   each time, no shared FontConfiguration). Runs alternate, so both see the same
   machine load. Goal: psyq's overhead at most 25%.
2. End to end: one ``psyq report`` command (a new process) writing a PDF.
   Goal: under 1.5 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROUNDS = 12
E2E_RUNS = 5
ANSWERS = "2,3,2,3,1,2,2,1,1,2"


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench_report() -> None:
    import weasyprint

    from psyq.answers import parse_answer_list
    from psyq.manager import create_plugin_manager
    from psyq.outputs import RenderRequest, get_output_format
    from psyq.registry import InstrumentRegistry
    from psyq.report import render_report_html
    from psyq.scoring import Scorer

    pm = create_plugin_manager(load_entrypoints=False)
    phq9 = InstrumentRegistry(pm).get("phq9")
    scorer = Scorer(pm)
    pdf_format = get_output_format(pm, "pdf")

    def psyq_render() -> bytes:
        result = scorer.score_valid(phq9, parse_answer_list(phq9, ANSWERS))
        request = RenderRequest(
            result=result,
            instrument=phq9,
            client_id="bench-001",
            administered=date(2026, 10, 6),
            clinician="Dr A. Example",
            generated_at=datetime(2026, 10, 6, 12, 0),
        )
        return pdf_format.render(request)

    # The same report as one self-contained HTML string (stylesheet inlined).
    request = RenderRequest(
        result=scorer.score_valid(phq9, parse_answer_list(phq9, ANSWERS)),
        instrument=phq9,
        client_id="bench-001",
        administered=date(2026, 10, 6),
        clinician="Dr A. Example",
        generated_at=datetime(2026, 10, 6, 12, 0),
    )
    html = render_report_html(pm, request, standalone=True)

    def bare_render() -> bytes:
        out: bytes = weasyprint.HTML(string=html).write_pdf()
        return out

    start = time.perf_counter()
    first = psyq_render()  # cold: parses the stylesheet, builds the font configuration
    cold = time.perf_counter() - start
    bare_render()  # warm WeasyPrint's own module-level caches too
    psyq_times: list[float] = []
    bare_times: list[float] = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        psyq_render()
        psyq_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        bare_render()
        bare_times.append(time.perf_counter() - start)
    psyq_ms, bare_ms = _median_ms(psyq_times), _median_ms(bare_times)
    print(f"  bare WeasyPrint, same HTML    {bare_ms:7.1f} ms  (median of {ROUNDS})")
    print(
        f"  psyq PHQ-9 report, warm       {psyq_ms:7.1f} ms  "
        f"{psyq_ms / bare_ms:5.2f}x bare  (overhead {(psyq_ms / bare_ms - 1) * 100:+.0f}%)"
    )
    print(f"  psyq PHQ-9 report, cold       {cold * 1000:7.1f} ms  (first render in a process)")
    print(f"  PDF size {len(first)} bytes; goal: overhead at most +25%")

    # As psyq renders it: the stylesheet comes separately, parsed once.
    _stages(render_report_html(pm, request, standalone=False))

    env = {**os.environ, "PSYQ_HOME": tempfile.mkdtemp(prefix="psyq-bench-")}
    out = Path(env["PSYQ_HOME"]) / "r.pdf"
    args = [sys.executable, "-m", "psyq", "report", "phq9", "--answers", ANSWERS]
    args += ["--client", "bench-001", "-o", str(out)]
    python_times: list[float] = []
    command_times: list[float] = []
    for _ in range(E2E_RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        python_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run(args, env=env, check=True, capture_output=True)
        command_times.append(time.perf_counter() - start)
    command_ms = _median_ms(command_times)
    print(
        f"  psyq report phq9 -o r.pdf     {command_ms:7.1f} ms  end to end (median of "
        f"{E2E_RUNS}; python -c pass {_median_ms(python_times):.0f} ms); goal: under 1500 ms"
    )


def _stages(html: str) -> None:
    """CPU time of one PHQ-9 report by WeasyPrint stage, and what parts of the document
    cost: each variant against the shipped report, alternating in this process
    (median of ROUNDS)."""
    import re

    from weasyprint import CSS, HTML

    from psyq.pdf import _IMAGE_CACHE, font_config, make_fetcher, parsed_stylesheet
    from psyq.report import stylesheet

    def sheet(extra: str) -> Any:
        return CSS(string=stylesheet() + "\n" + extra, font_config=font_config())

    no_svg = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    variants: dict[str, tuple[str, Any]] = {
        "shipped report": (html, parsed_stylesheet()),
        "answers table with automatic layout": (html, sheet("table.items {table-layout: auto}")),
        "without the band chart (inline SVG)": (no_svg, parsed_stylesheet()),
        "two fonts (no italic, no monospace)": (
            html,
            sheet(".provenance {font-family: inherit} .instructions {font-style: normal}"),
        ),
        "without page-number margin boxes": (
            html,
            sheet("@page { @bottom-left {content: none} @bottom-right {content: none} }"),
        ),
    }

    def render(page: str, css: Any) -> tuple[float, float, float, float]:
        a = time.process_time()
        document = HTML(string=page, url_fetcher=make_fetcher(), base_url=None)
        b = time.process_time()
        styled = document.render(font_config=font_config(), stylesheets=[css], cache=_IMAGE_CACHE)
        c = time.process_time()
        styled.write_pdf()
        d = time.process_time()
        return b - a, c - b, d - c, d - a

    runs: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in variants}
    for page, css in variants.values():
        render(page, css)
    for _ in range(ROUNDS):
        for name, (page, css) in variants.items():
            runs[name].append(render(page, css))

    def median(name: str, k: int) -> float:
        return statistics.median(r[k] for r in runs[name]) * 1000

    shipped = "shipped report"
    parse, layout, write, total = (median(shipped, k) for k in range(4))
    print(
        f"  one PHQ-9 report, CPU by stage: HTML parse {parse:.1f} ms, styles + layout "
        f"{layout:.1f} ms, draw + fonts + PDF write {write:.1f} ms; total {total:.1f} ms "
        f"(goal: at most 50 ms)"
    )
    for name in variants:
        if name != shipped:
            other = median(name, 3)
            print(f"  {name}: {other:.1f} ms CPU, {other / total:.2f}x the shipped report")
