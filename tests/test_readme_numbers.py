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


def _bench_blocks() -> tuple[list[str], str]:
    """The fenced ``text`` blocks under "## Benchmarks" and the README without them."""
    section = README.index("## Benchmarks")
    blocks, rest, at = [], README[:section], section
    while (start := README.find("```text\n", at)) != -1:
        end = README.index("```\n", start + 8)
        blocks.append(README[start:end])
        rest += README[at:start]
        at = end + 4
    return blocks, rest + README[at:]


def test_measured_numbers_appear_only_in_the_quoted_bench_output() -> None:
    blocks, rest = _bench_blocks()
    assert blocks and "$ make bench" in blocks[0]
    for block in blocks:
        assert "\n$ " in block, "each quoted output starts with the command that produced it"
    stray = [m.group(0) for m in MEASURED.finditer(rest)]
    assert stray == [], f"measured numbers outside the `make bench` output: {stray}"
    assert len(MEASURED.findall(blocks[0])) > 20


def test_each_bench_output_names_a_commit_of_this_history() -> None:
    blocks, _ = _bench_blocks()
    commits = []
    for block in blocks:
        match = re.search(r"commit ([0-9a-f]{7,40})", block)
        assert match, "every quoted output names the commit it was measured on"
        commits.append(match.group(1))
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    shallow = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"],
        capture_output=True,
        text=True,
    )
    if shallow.stdout.strip() == "true":
        pytest.skip("a shallow clone may not hold the measured commit")
    for commit in commits:
        run = subprocess.run(
            ["git", "-C", str(ROOT), "merge-base", "--is-ancestor", commit, "HEAD"],
            capture_output=True,
        )
        assert run.returncode == 0, f"commit {commit} is not in this checkout's history"
