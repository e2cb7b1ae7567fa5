"""FHIR: reading QuestionnaireResponses and writing Bundles, against psyq's plain JSON paths
measured in the same run (issue: FHIR as a default plugin)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROWS = 5_000
BATCH_ROWS = 2_000


def _rate(label: str, seconds: float, n: int, baseline: float | None = None) -> None:
    ratio = f"   {seconds / baseline:4.2f}x the plain path" if baseline else ""
    print(f"  {label:<44} {n / seconds:8.0f} /s  ({seconds / n * 1e6:6.1f} us){ratio}")


def bench_fhir() -> None:
    """Parse + score a QuestionnaireResponse vs a plain mapping; fhir vs json rendering;
    `psyq batch --scores-only` over NDJSON responses vs plain JSONL rows."""
    from psyq.manager import create_plugin_manager
    from psyq.outputs import RenderRequest, get_output_format
    from psyq.plugins.answer_documents import parse_answers
    from psyq.registry import InstrumentRegistry
    from psyq.scoring import Scorer

    pm = create_plugin_manager(load_entrypoints=False)
    inst = InstrumentRegistry(pm).get("phq9")
    scorer = Scorer(pm)
    fhir, plain = get_output_format(pm, "fhir"), get_output_format(pm, "json")
    rng = random.Random(7)
    rows = [
        {i.id: rng.choice(inst.response_scale_for(i).values) for i in inst.items}
        for _ in range(ROWS)
    ]
    requests = [RenderRequest(result=scorer.score(inst, r), instrument=inst) for r in rows]
    responses = [json.loads(fhir.render(r))["entry"][0]["resource"] for r in requests]

    start = time.perf_counter()
    for row in rows:
        scorer.score_valid(inst, parse_answers(pm, inst, row))
    base = time.perf_counter() - start
    start = time.perf_counter()
    for response in responses:
        scorer.score_valid(inst, parse_answers(pm, inst, response))
    took = time.perf_counter() - start
    _rate("plain mapping: parse + score", base, ROWS)
    _rate("QuestionnaireResponse: parse + score", took, ROWS, base)

    start = time.perf_counter()
    for request in requests:
        plain.render(request)
    base = time.perf_counter() - start
    start = time.perf_counter()
    for request in requests:
        fhir.render(request)
    took = time.perf_counter() - start
    _rate("render json", base, ROWS)
    _rate("render fhir Bundle", took, ROWS, base)

    with tempfile.TemporaryDirectory(prefix="psyq-bench-fhir-") as tmp:
        base_dir = Path(tmp)
        plain_rows = [{"client_id": f"C{k}", **r} for k, r in enumerate(rows[:BATCH_ROWS])]
        for k, response in enumerate(responses[:BATCH_ROWS]):
            response["subject"] = {"identifier": {"value": f"C{k}"}}
        timings = []
        for name, lines in (("plain.jsonl", plain_rows), ("fhir.ndjson", responses[:BATCH_ROWS])):
            src = base_dir / name
            src.write_text("".join(json.dumps(line) + "\n" for line in lines))
            timings.append(_batch(src, base_dir / f"out-{name}"))
        _rate("psyq batch --scores-only, plain JSONL", timings[0], BATCH_ROWS)
        _rate("psyq batch --scores-only, NDJSON responses", timings[1], BATCH_ROWS, timings[0])


def _batch(src: Path, out: Path) -> float:
    args: list[Any] = [sys.executable, "-m", "psyq", "batch", src, "--instrument", "phq9"]
    args += ["--out", out, "--scores-only", "--quiet", "--summary", "html", "--jobs", "2"]
    start = time.perf_counter()
    subprocess.run([str(a) for a in args], check=True)
    return time.perf_counter() - start
