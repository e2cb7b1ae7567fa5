"""Compiled report templates kept between runs (psyq.compiled_templates).

A later process loads the code its templates were compiled to instead of
compiling them again; only code psyq signed with its cache key is ever loaded.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from psyq import compiled_templates
from psyq.compiled_templates import compile_template

PHQ9_ITEM9 = "2,3,2,3,1,2,2,1,1"


def _report(tmp_path: Path, cache: Path | None, name: str) -> str:
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home")}
    env.pop("PSYQ_NO_CACHE", None)
    if cache is None:
        env["PSYQ_NO_CACHE"] = "1"
    else:
        env["PSYQ_CACHE_DIR"] = str(cache)
    out = tmp_path / name
    done = subprocess.run(
        [sys.executable, "-m", "psyq", "report", "phq9", "--answers", PHQ9_ITEM9,
         "--client", "C-7", "--date", "2026-10-06", "-o", str(out)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "CRITICAL (item phq9_9): suicidal_ideation" in done.stdout + done.stderr
    # The minute the report was made is the only thing allowed to differ.
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "<when>", out.read_text())


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / compiled_templates.FOLDER).glob(f"*{compiled_templates.SUFFIX}"))


def test_a_report_from_cached_templates_is_the_report_without_them(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    uncached = _report(tmp_path, None, "none.html")
    first = _report(tmp_path, cache, "first.html")  # compiles and keeps
    entries = _entries(cache)
    assert entries, "no compiled template was kept"
    stored = {p: p.read_bytes() for p in entries}
    second = _report(tmp_path, cache, "second.html")  # loads
    assert first == uncached and second == uncached
    assert "Safety alert" in second and "Assess suicide and self-harm risk" in second
    # Loading rewrote nothing: the same entries, byte for byte.
    assert {p: p.read_bytes() for p in _entries(cache)} == stored
    folder = cache / compiled_templates.FOLDER
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in entries)


def test_a_damaged_or_planted_entry_is_compiled_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    expected = _report(tmp_path, cache, "first.html")
    entries = _entries(cache)
    good = {p: p.read_bytes() for p in entries}
    # One entry damaged, another replaced by code that would announce itself if run,
    # with a tag recomputed without the key (a plain hash), as a forger could.
    import hashlib
    import marshal

    damaged, planted = entries[0], entries[1]
    data = bytearray(good[damaged])
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    evil = marshal.dumps(compile("raise SystemExit('PLANTED CODE RAN')", "<x>", "exec"))
    planted.write_bytes(hashlib.blake2b(evil, digest_size=32).digest() + evil)
    again = _report(tmp_path, cache, "again.html")
    assert again == expected
    # Both were compiled again and rewritten with psyq's own signature.
    assert damaged.read_bytes() == good[damaged]
    assert planted.read_bytes() == good[planted]


def test_a_missing_key_trusts_no_entry(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    expected = _report(tmp_path, cache, "first.html")
    (cache / "definitions.key").unlink()
    old = {p.name for p in _entries(cache)}
    assert _report(tmp_path, cache, "again.html") == expected
    # A new key was made and every template was kept again, under new names (the
    # old entries stay unread until they are a month old).
    assert (cache / "definitions.key").stat().st_size == 32
    assert len({p.name for p in _entries(cache)} - old) == len(old)


def _env(**filters: object) -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(filters)
    return env


def test_a_hit_compiles_nothing(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = "{% for x in xs %}<b>{{ x | shout }}</b>{% endfor %}"
    shout = str.upper
    assert compile_template(_env(shout=shout), source).render(xs=["a<"]) == "<b>A&lt;</b>"
    compiled: list[str] = []
    real = jinja2.Environment.compile

    def counting(self: jinja2.Environment, *args: object, **kwargs: object) -> object:
        compiled.append("x")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    assert compile_template(_env(shout=shout), source).render(xs=["b"]) == "<b>B</b>"
    assert compiled == []
    # Another environment setting (no autoescaping) is another entry: compiled anew,
    # and escaping follows it.
    plain = jinja2.Environment(autoescape=False)
    plain.filters["shout"] = shout
    assert compile_template(plain, source).render(xs=["a<"]) == "<b>A<</b>"
    assert compiled == ["x"]


def test_a_filter_that_is_gone_is_still_a_template_error(cache_dir: Path) -> None:
    source = "{{ 'x' | shout }}"
    assert compile_template(_env(shout=str.upper), source).render() == "X"
    with pytest.raises(jinja2.TemplateAssertionError, match="shout"):
        compile_template(_env(), source)


def test_a_template_that_does_not_compile_is_never_kept(cache_dir: Path) -> None:
    for _ in range(2):
        with pytest.raises(jinja2.TemplateSyntaxError):
            compile_template(_env(), "{% if %}")
    assert not list((cache_dir / compiled_templates.FOLDER).glob("*"))


def test_no_cache_compiles_every_time(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSYQ_NO_CACHE", "1")
    assert compile_template(_env(), "{{ 1 + 1 }}").render() == "2"
    assert not cache_dir.exists()
