"""Interop: import-fhir and import-redcap, compile --to fhir/redcap, and a 10,000-row
REDCap record export through `psyq batch`, each beside psyq's own plain path measured
in the same run (issue: real FHIR and REDCap forms in, one definition compiled out)."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPEAT = 200
EXPORT_ROWS = 10_000


def _each(label: str, seconds: float, n: int, baseline: float | None = None) -> None:
    ratio = f"   {seconds / baseline:5.2f}x {'the plain path'}" if baseline else ""
    print(f"  {label:<46} {seconds / n * 1e3:8.2f} ms{ratio}")


def _timed(fn: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def bench_interop() -> None:
    from psyq.manager import create_plugin_manager
    from psyq.models import Instrument
    from psyq.plugins.fhir.drafting import draft_yaml, questionnaire_to_draft
    from psyq.plugins.fhir.questionnaire import compile_questionnaire
    from psyq.plugins.redcap.compile import compile_dictionary
    from psyq.plugins.redcap.dictionary import read_dictionary
    from psyq.plugins.redcap.drafting import dictionary_to_draft
    from psyq.plugins.redcap.drafting import draft_yaml as redcap_yaml
    from psyq.registry import InstrumentRegistry, load_instrument_file

    pm = create_plugin_manager(load_entrypoints=False)
    registry = InstrumentRegistry(pm)
    entry = registry.entry("phq9")
    inst = entry.instrument
    data = inst.model_dump(mode="json")

    base = _timed(lambda: load_instrument_file(pm, entry.path), REPEAT)
    _each("load phq9.yaml (plain path)", base, REPEAT)
    q = compile_questionnaire(inst)
    took = _timed(
        lambda: draft_yaml(questionnaire_to_draft(json.loads(json.dumps(q)), "q.json"), "q.json"),
        REPEAT,
    )
    _each("import-fhir compiled PHQ-9 Questionnaire", took, REPEAT, base)
    with tempfile.TemporaryDirectory(prefix="psyq-bench-interop-") as tmp:
        dictionary = Path(tmp) / "phq9.csv"
        dictionary.write_text(compile_dictionary(inst))
        took = _timed(
            lambda: redcap_yaml(
                dictionary_to_draft(read_dictionary(dictionary), None, "d.csv"), "d.csv"
            ),
            REPEAT,
        )
        _each("import-redcap compiled PHQ-9 dictionary", took, REPEAT, base)

    base = _timed(lambda: Instrument.model_validate(data).model_dump_json(), REPEAT)
    _each("validate + dump phq9 as JSON (plain path)", base, REPEAT)
    took = _timed(lambda: json.dumps(compile_questionnaire(inst)), REPEAT)
    _each("compile --to fhir", took, REPEAT, base)
    took = _timed(lambda: compile_dictionary(inst), REPEAT)
    _each("compile --to redcap", took, REPEAT, base)

    rng = random.Random(11)
    items = [i.id for i in inst.items]
    with tempfile.TemporaryDirectory(prefix="psyq-bench-interop-") as tmp:
        base_dir = Path(tmp)
        plain = base_dir / "plain.csv"
        export = base_dir / "redcap-export.csv"
        dictionary = base_dir / "dictionary.csv"
        dictionary.write_text(compile_dictionary(inst))
        answers = [[str(rng.choice([0, 0, 1, 1, 2, 3])) for _ in items] for _ in range(EXPORT_ROWS)]
        with plain.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["client_id", *items])
            writer.writerows([f"C{k}", *row] for k, row in enumerate(answers))
        with export.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["record_id", "redcap_event_name", *items, "phq9_complete"])
            writer.writerows(
                [str(k // 2), ("baseline_arm_1", "week_4_arm_1")[k % 2], *row, "2"]
                for k, row in enumerate(answers)
            )
        base = _batch([plain], base_dir / "out-plain")
        took = _batch([export, "--redcap", dictionary], base_dir / "out-redcap")
        print(f"  psyq batch --scores-only, {EXPORT_ROWS} rows plain CSV      {base:6.2f} s")
        print(
            f"  psyq batch --scores-only, {EXPORT_ROWS} rows REDCap export  {took:6.2f} s"
            f"   {took / base:4.2f}x the plain CSV"
        )


def _batch(args_in: list[Any], out: Path) -> float:
    args: list[Any] = [sys.executable, "-m", "psyq", "batch", *args_in, "--instrument", "phq9"]
    args += ["--out", out, "--scores-only", "--quiet", "--summary", "html", "--jobs", "2"]
    start = time.perf_counter()
    subprocess.run([str(a) for a in args], check=True)
    return time.perf_counter() - start
