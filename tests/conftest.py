"""Shared fixtures. psyq's own pytest plugin (psyq.testing) provides psyq_pm,
psyq_register, psyq_home and psyq_cli."""

from __future__ import annotations

import os
import shutil
import signal
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from psyq.manager import PsyqPluginManager
from psyq.registry import InstrumentRegistry
from tests.definitions import definition


def pytest_configure(config: pytest.Config) -> None:
    """Deliver Ctrl-C to the psyq processes the tests start, as a terminal would.

    A test run started in the background (``make test &`` in a script, ``nohup``)
    inherits SIGINT ignored, and an ignored signal stays ignored across exec: every
    psyq the tests start would then ignore the Ctrl-C that the administer and batch
    stop tests send it. A handled signal is reset to its default on exec instead.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # psyq's caches for this run only (the psyq processes tests start inherit it): a
    # test with its own definitions makes a cache entry of its own, and the user's
    # cache folder must not fill with a test run's (tests of the cache set their own).
    if "PSYQ_CACHE_DIR" not in os.environ:
        import tempfile

        folder = tempfile.mkdtemp(prefix="psyq-test-cache-")
        os.environ["PSYQ_CACHE_DIR"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


# The shared corpus sits next to the checkout; from a git worktree elsewhere, point
# PSYQ_SHARED_DIR at it. Tests that need it skip, visibly, when it is absent, except
# in CI (CI=true) or with PSYQ_REQUIRE_CORPUS=1, where its absence fails the run.
SHARED = Path(os.environ.get("PSYQ_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")


def pytest_sessionstart(session: pytest.Session) -> None:
    required = os.environ.get("CI", "").lower() == "true" or os.environ.get("PSYQ_REQUIRE_CORPUS")
    if required and not (SHARED / "corpus").is_dir():
        pytest.exit(
            f"the shared corpus is missing at {SHARED / 'corpus'}; the corpus tests would be "
            "skipped (set PSYQ_SHARED_DIR to where it is)",
            returncode=1,
        )


@pytest.fixture
def report_pages(
    psyq_cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., list[str]]:
    """Run a psyq command and return every HTML page it rendered to PDF."""
    from psyq import pdf as psyq_pdf

    pages: list[str] = []
    parse = psyq_pdf.parse_html

    def recording(html: str, fetcher: Any) -> Any:
        pages.append(html)
        return parse(html, fetcher)

    monkeypatch.setattr(psyq_pdf, "parse_html", recording)

    def run(*args: str) -> list[str]:
        pages.clear()
        result = psyq_cli(*args)
        assert result.exit_code in (0, 1), result.output
        return list(pages)

    return run


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """psyq's cache folder for this test (``PSYQ_CACHE_DIR``), caching on."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("PSYQ_CACHE_DIR", str(folder))
    monkeypatch.delenv("PSYQ_NO_CACHE", raising=False)
    return folder


@pytest.fixture
def registry(psyq_pm: PsyqPluginManager) -> InstrumentRegistry:
    return InstrumentRegistry(psyq_pm)


MINIMAL = definition(
    "mini",
    title="Mini scale",
    short_name="MINI",
    status="validated",
    levels=3,
    body="""\
items:
  - {id: m1, text: One, response_scale: freq}
  - {id: m2, text: Two, response_scale: freq}
  - {id: m3, text: Three, response_scale: freq, reverse: true}
scales:
  - id: total
    label: Total
    items: [m1, m2, m3]
    missing: {max_missing: 1, prorate: true}
    bands:
      - {id: low, label: Low, min: 0, max: 2}
      - {id: high, label: High, min: 3, max: 6, severity: 2}
flags:
  - id: often_one
    level: warning
    message: m1 often
    when: {item: m1, op: ">=", value: 2}
examples:
  - name: zeros
    answers: {m1: 0, m2: 0, m3: 0}
    expect: {scores: {total: 2}, bands: {total: low}, flags: []}
""",
)


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, text: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def minimal_yaml() -> str:
    return MINIMAL
