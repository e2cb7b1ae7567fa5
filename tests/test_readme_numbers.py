"""README speed claims come from one `make bench` run, quoted whole (issue #17, item 15)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# A measured quantity: a time, a rate, a size or a ratio.
MEASURED = re.compile(r"\b\d[\d,]*(\.\d+)?\s?(ms|us|MiB|KiB|rows/s)\b|\b\d+\.\d+x\b")


def _bench_block() -> tuple[str, str]:
    """The fenced block under "## Benchmarks" and the README without it."""
    section = README.index("## Benchmarks")
    start = README.index("```text\n", section)
    end = README.index("```\n", start + 8)
    return README[start:end], README[:start] + README[end:]


def test_measured_numbers_appear_only_in_the_quoted_bench_output() -> None:
    block, rest = _bench_block()
    assert "$ make bench" in block
    stray = [m.group(0) for m in MEASURED.finditer(rest)]
    assert stray == [], f"measured numbers outside the `make bench` output: {stray}"
    assert len(MEASURED.findall(block)) > 20


def test_the_bench_output_names_a_commit_of_this_history() -> None:
    block, _ = _bench_block()
    match = re.search(r"commit ([0-9a-f]{7,40})", block)
    assert match, "the quoted output names the commit it was measured on"
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    shallow = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"],
        capture_output=True,
        text=True,
    )
    if shallow.stdout.strip() == "true":
        pytest.skip("a shallow clone may not hold the measured commit")
    run = subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "--is-ancestor", match.group(1), "HEAD"],
        capture_output=True,
    )
    assert run.returncode == 0, f"commit {match.group(1)} is not in this checkout's history"
