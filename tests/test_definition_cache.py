"""The cache of validated definitions: a speed-up that never changes what is loaded."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from psyq.definition_cache import DefinitionCache
from psyq.manager import PsyqPluginManager, create_plugin_manager
from psyq.registry import InstrumentRegistry, load_instrument_file
from tests.installed import installed_broken_plugin
from tests.packs import DirectoryPack


def _pm(pack: Path) -> PsyqPluginManager:
    return create_plugin_manager(
        load_entrypoints=False, extra_plugins=[("pack", DirectoryPack("pack", pack))]
    )


def _load(pack: Path) -> InstrumentRegistry:
    registry = InstrumentRegistry(_pm(pack))
    registry.ids()
    return registry


def _cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("definitions-*.json"))


@pytest.fixture
def pack(tmp_path: Path, minimal_yaml: str) -> Path:
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "mini.yaml").write_text(minimal_yaml)
    return folder


def test_a_hit_gives_the_instrument_the_file_gives(cache_dir: Path, pack: Path) -> None:
    first = _load(pack)
    (cache_file,) = _cache_files(cache_dir)
    written = cache_file.stat().st_mtime_ns
    second = _load(pack)
    assert cache_file.stat().st_mtime_ns == written  # nothing new: not rewritten
    for entry in second.all():
        from_file = load_instrument_file(_pm(pack), entry.path)
        assert entry.instrument == from_file
        assert entry.instrument.content_hash() == from_file.content_hash()
        assert entry.instrument == first.get(entry.instrument.id)
    # The built-in definitions came from the cache too.
    entries = json.loads(cache_file.read_text())["entries"]
    assert len(entries) == len(second.all())


def test_an_edited_file_is_read_again(cache_dir: Path, pack: Path, minimal_yaml: str) -> None:
    assert _load(pack).get("mini").title == "Mini scale"
    (pack / "mini.yaml").write_text(minimal_yaml.replace("title: Mini scale", "title: Edited"))
    assert _load(pack).get("mini").title == "Edited"


def test_a_broken_file_is_never_cached(cache_dir: Path, pack: Path, minimal_yaml: str) -> None:
    (pack / "bad.yaml").write_text(
        minimal_yaml.replace("id: mini", "id: bad").replace("max: 6", "")
    )
    for _ in range(2):
        registry = _load(pack)
        assert "bad" not in registry.ids()
        assert len(registry.problems) == 1 and "bad.yaml" in registry.problems[0]


def _edit_entry(
    cache_file: Path, instrument_id: str, edit: Callable[[dict[str, Any]], None]
) -> None:
    """Change the cached definition of ``instrument_id`` by hand, as JSON."""
    document = json.loads(cache_file.read_text())
    (entry,) = (e for e in document["entries"].values() if e["summary"][0] == instrument_id)
    definition = json.loads(entry["definition"])
    edit(definition)
    entry["definition"] = json.dumps(definition)
    entry["summary"][1] = definition["title"]
    cache_file.write_text(json.dumps(document))


def _tamper(definition: dict[str, Any]) -> None:
    definition["scales"][0]["bands"][1]["max"] = 99  # bands no longer fit the range
    definition["title"] = "Tampered"


def test_a_tampered_cache_entry_is_validated_and_refused(cache_dir: Path, pack: Path) -> None:
    _load(pack)
    (cache_file,) = _cache_files(cache_dir)
    _edit_entry(cache_file, "mini", _tamper)
    registry = _load(pack)
    assert registry.get("mini").title == "Mini scale"  # read from the file again
    assert registry.problems == []


def test_a_tampered_entry_with_a_recomputed_hash_is_refused(cache_dir: Path, pack: Path) -> None:
    """The digest is keyed (definitions.key): an editor who recomputes a plain SHA-256 of
    what they changed, or copies another entry's digest, still gets the file's content."""
    _load(pack)
    (cache_file,) = _cache_files(cache_dir)
    _edit_entry(cache_file, "mini", _tamper)
    document = json.loads(cache_file.read_text())
    for entry in document["entries"].values():
        if entry["summary"][0] == "mini":
            entry["exact"] = True
            head = json.dumps([entry["summary"], True], separators=(",", ":"))
            text = f"{head}\n{entry['definition']}".encode()
            entry["digest"] = hashlib.sha256(text).hexdigest()
    cache_file.write_text(json.dumps(document))
    registry = _load(pack)
    assert [e.title for e in registry.all() if e.id == "mini"] == ["Mini scale"]
    instrument = registry.get("mini")
    assert instrument.title == "Mini scale"
    assert instrument.scale("total").bands[1].max != 99


def test_a_damaged_key_makes_every_entry_a_miss(cache_dir: Path, pack: Path) -> None:
    _load(pack)
    key = cache_dir / "definitions.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    (cache_file,) = _cache_files(cache_dir)
    _edit_entry(cache_file, "mini", _tamper)
    key.write_bytes(b"short")
    registry = InstrumentRegistry(_pm(pack))
    registry.ids()
    assert registry.get("mini").title == "Mini scale"
    assert len(key.read_bytes()) == 32  # a new key, and every entry written again with it
    again = DefinitionCache(_pm(pack))
    assert all(again.summary(k) is not None for k in json.loads(cache_file.read_text())["entries"])


def test_garbage_in_the_cache_file_is_ignored(cache_dir: Path, pack: Path) -> None:
    _load(pack)
    (cache_file,) = _cache_files(cache_dir)
    cache_file.write_bytes(b"\x00not json")
    assert _load(pack).get("mini").title == "Mini scale"
    assert json.loads(cache_file.read_text())["entries"]  # rewritten whole


def test_cache_file_is_private_and_written_atomically(cache_dir: Path, pack: Path) -> None:
    _load(pack)
    (cache_file,) = _cache_files(cache_dir)
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    key = cache_dir / "definitions.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # No temporary left.
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted([cache_file.name, key.name])
    json.loads(cache_file.read_text())


def test_no_cache_when_turned_off(
    cache_dir: Path, pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSYQ_NO_CACHE", "1")
    assert _load(pack).get("mini").title == "Mini scale"
    assert not cache_dir.exists()


def test_an_unwritable_cache_directory_is_ignored(
    tmp_path: Path, pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("PSYQ_CACHE_DIR", str(blocker / "cache"))
    assert _load(pack).get("mini").title == "Mini scale"


def test_another_plugin_set_is_another_cache(cache_dir: Path, pack: Path) -> None:
    _load(pack)
    plain = create_plugin_manager(load_entrypoints=False)
    assert DefinitionCache(plain).path != DefinitionCache(_pm(pack)).path


def test_installing_a_distribution_invalidates_the_cache(tmp_path: Path, cache_dir: Path) -> None:
    """A new dist-info on the path changes the fingerprint: psyq reads every file again."""
    env = installed_broken_plugin(tmp_path, "")
    env["PSYQ_CACHE_DIR"] = str(cache_dir)
    script = (
        "from psyq.manager import create_plugin_manager\n"
        "from psyq.definition_cache import DefinitionCache\n"
        "print(DefinitionCache(create_plugin_manager(load_entrypoints=False)).path)\n"
    )

    def cache_path() -> str:
        run = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        return run.stdout.strip()

    before = cache_path()
    assert cache_path() == before
    site = Path(env["PYTHONPATH"])
    (site / "other-1.0.dist-info").mkdir()
    os.utime(site, ns=(site.stat().st_atime_ns, site.stat().st_mtime_ns + 10**9))
    assert cache_path() != before


def test_cli_output_is_the_same_with_and_without_the_cache(tmp_path: Path, cache_dir: Path) -> None:
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home"), "PSYQ_CACHE_DIR": str(cache_dir)}
    env.pop("PSYQ_NO_CACHE", None)
    outputs = []
    for no_cache in ("1", "", ""):  # no cache, a miss that writes it, a hit
        env["PSYQ_NO_CACHE"] = no_cache
        run = subprocess.run(
            [sys.executable, "-m", "psyq", "score", "phq9", "--answers", "1,2,0,1,1,0,2,1,3"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    assert _cache_files(cache_dir)


# -- through the command line: a warm cache changes nothing a user sees ------------------


def _psyq(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "psyq", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def local_env(tmp_path: Path, cache_dir: Path, minimal_yaml: str) -> dict[str, str]:
    """A psyq whose local pack ($PSYQ_HOME/instruments) holds ``mini``; cache in ``cache_dir``."""
    local = tmp_path / "home" / "instruments"
    local.mkdir(parents=True)
    (local / "mini.yaml").write_text(minimal_yaml)
    env = {**os.environ, "PSYQ_HOME": str(tmp_path / "home"), "PSYQ_CACHE_DIR": str(cache_dir)}
    for name in ("PSYQ_NO_CACHE", "PSYQ_STRICT_PLUGINS", "PSYQ_DISABLE_PLUGINS"):
        env.pop(name, None)
    return env


def test_an_edited_local_file_is_listed_shown_and_scored_with_its_new_content(
    tmp_path: Path, local_env: dict[str, str], minimal_yaml: str
) -> None:
    assert "Mini scale (v1)" in _psyq(local_env, "list").stdout
    assert "Mini scale (v1)" in _psyq(local_env, "list").stdout  # now from the cache
    edited = minimal_yaml.replace("title: Mini scale", "title: Mini edited").replace(
        "{id: high, label: High,", "{id: high, label: Raised,"
    )
    (tmp_path / "home" / "instruments" / "mini.yaml").write_text(edited)
    listed = _psyq(local_env, "list")
    assert "Mini edited (v1)" in listed.stdout and "Mini scale" not in listed.stdout
    assert "Mini edited" in _psyq(local_env, "show", "mini").stdout
    scored = _psyq(local_env, "score", "mini", "--answers", "2,2,0")
    assert scored.returncode == 0, scored.stderr
    assert "Raised" in scored.stdout


def test_a_broken_local_file_warns_on_every_run_and_the_others_are_listed(
    tmp_path: Path, local_env: dict[str, str], minimal_yaml: str
) -> None:
    broken = tmp_path / "home" / "instruments" / "bad.yaml"
    broken.write_text(minimal_yaml.replace("id: mini", "id: bad").replace("max: 6", ""))
    for _ in range(3):  # cold, warm, warm: a broken file is never cached
        run = _psyq(local_env, "list")
        assert run.returncode == 0, run.stderr
        warnings = [line for line in run.stderr.splitlines() if "bad.yaml" in line]
        assert len(warnings) == 1 and warnings[0].startswith("psyq: warning: "), run.stderr
        assert "Traceback" not in run.stderr
        ids = [line.split()[0] for line in run.stdout.splitlines()]
        assert "mini" in ids and "phq9" in ids and "bad" not in ids
    # `psyq show` of another instrument warns the same way and still works.
    shown = _psyq(local_env, "show", "mini")
    assert shown.returncode == 0 and "Mini scale" in shown.stdout
    assert sum("bad.yaml" in line for line in shown.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["list", "--json"],
        ["show", "mini"],
        ["show", "phq9", "--json"],
        ["show", "ccts"],
        ["score", "mini", "--answers", "2,1,0", "--json"],
    ],
)
def test_output_from_a_warm_cache_equals_output_without_one(
    local_env: dict[str, str], cache_dir: Path, args: list[str]
) -> None:
    uncached = _psyq({**local_env, "PSYQ_NO_CACHE": "1"}, *args)
    assert uncached.returncode == 0, uncached.stderr
    _psyq(local_env, "list")  # fills the cache
    assert _cache_files(cache_dir)
    cached = _psyq(local_env, *args)
    assert (cached.returncode, cached.stdout, cached.stderr) == (0, uncached.stdout, "")


def test_a_damaged_entry_still_lists_and_is_read_again_when_used(
    cache_dir: Path, local_env: dict[str, str]
) -> None:
    _psyq(local_env, "list")
    (cache_file,) = _cache_files(cache_dir)
    _edit_entry(cache_file, "mini", lambda d: d.update(scales="not a list of scales"))
    assert "mini " in _psyq(local_env, "list").stdout
    shown = _psyq(local_env, "show", "mini")
    assert shown.returncode == 0 and "Total" in shown.stdout, shown.stderr
    # ...and the entry was written again, whole.
    entries = json.loads(cache_file.read_text())["entries"].values()
    definitions = [json.loads(e["definition"]) for e in entries if e["summary"][0] == "mini"]
    assert [d["scales"][0]["id"] for d in definitions] == ["total"]


# -- an instrument built from the cache without validating is the validated one ----------

# Every field kind the format has that the built-in definitions do not use: recoded and
# weighted items, an answer that counts as missing, a skip rule, nested and counting
# conditions, a transform, client bands, translations (answer labels keyed by value),
# golden examples with plugin values (`extra`, any JSON) and client attributes.
EVERY_FIELD_KIND = """\
id: every_kind
version: 2.1-b
title: "  Every field kind  "
short_name: EVERY
licence: test
status: provisional
notice: Test fixture only.
citations: [{text: Nobody 2026, url: "https://example.org"}]
codes: [{system: "http://loinc.org", code: 1-1, display: Panel}]
licensed_text: {holder: Nobody, how: Ask.}
norms: [every_norms]
response_scales:
  freq:
    options:
      - {value: 0, label: Never, codes: [{system: "http://loinc.org", code: LA1-1}]}
      - {value: 1, label: Sometimes}
      - {value: 2, label: Often}
      - {value: 9, label: Declined, missing: true}
items:
  - {id: e1, text: One, response_scale: freq, recode: {0: 0, 1: 1.5, 2: 4}, critical: true}
  - {id: e2, text: Two, response_scale: freq, reverse: true, required: true}
  - id: e3
    text: Three
    response_scale: freq
    skip: {when: {item: e1, op: "==", value: 0}, score: 0, reason: No need.}
  - {id: e4, text: Four, response_scale: freq, scored: false}
scales:
  - id: total
    label: Total
    items: [e1, e2, e3]
    weights: {e1: 0.5, e3: 2}
    decimals: 1
    missing: {max_missing: 1, prorate: true}
    transform: {multiply: 2, add: -1}
    bands:
      - {id: low, label: Low, min: -1, max: 4.9}
      - id: high
        label: High
        min: 5
        max: 15
        severity: 3
        if_flagged: [{flags: [both], text: Flagged text.}]
    client_bands:
      - client: {sex: female}
        bands:
          - {id: low, label: Low, min: -1, max: 2.9}
          - {id: high, label: High, min: 3, max: 15, severity: 3}
        clinical_cutoff: 3
        source: Nobody 2026.
    clinical_cutoff: 5
    reliable_change: {threshold: 3, sd: 4.5, reliability: 0.8, source: Nobody.}
    outcomes: {response_percent: 50, remission_below: 2.5}
  - id: mean
    label: Mean
    items: [e1, e2]
    method: mean
    decimals: 2
    higher_is_worse: false
    missing: {min_answered: 1}
flags:
  - id: both
    level: warning
    message: Both.
    when:
      any:
        - all: [{item: e1, op: ">=", value: 1}, {scale: total, op: ">", value: 3}]
        - count: [{item: e2, op: ">=", value: 2}, {items: [e3], op: ">=", value: 1}]
          at_least: 1
          including_one_of: [e3]
  - {id: gone, level: info, message: Not answered., when: {items: [e2, e3], missing: true}}
examples:
  - name: some
    answers: {e1: 1, e2: 0, e3: null, e4: 2}
    client: {sex: female}
    # Never scored here: it only has to be kept as written.
    expect: {extra: {plugin_value: {nested: [1, 2.5, "x", null, true]}, count: 3}}
translations:
  es:
    source: Test only.
    title: Cada tipo
    notice: Solo para pruebas.
    response_scales: {freq: {0: Nunca, 1: A veces, 2: A menudo, 9: Rehusado}}
    items: {e1: Uno, e2: Dos, e3: Tres, e4: Cuatro}
    bands:
      total:
        low: {label: Bajo}
        high: {label: Alto, if_flagged: [Texto.]}
      mean: {}
    flags: {both: Ambos., gone: No contestado.}
"""


def _same(built: Any, validated: Any, where: str) -> None:
    """Equal and of the same type all the way down (``==`` alone says 1 == 1.0).

    A mapping or list the YAML loader made (with line numbers: `extra` keeps it as
    given) is built back as the plain one JSON gives.
    """
    from pydantic import BaseModel

    plain = dict if isinstance(validated, dict) else list if isinstance(validated, list) else None
    expected = plain or type(validated)
    assert type(built) is expected, f"{where}: {type(built)} != {type(validated)}"
    if isinstance(validated, BaseModel):
        for name in type(validated).model_fields:
            _same(getattr(built, name), getattr(validated, name), f"{where}.{name}")
        _same(built.__pydantic_private__, validated.__pydantic_private__, f"{where}.<private>")
    elif isinstance(validated, dict):
        assert list(built) == list(validated), where
        for (kb, vb), (kv, vv) in zip(built.items(), validated.items(), strict=True):
            _same(kb, kv, f"{where} key {kv!r}")
            _same(vb, vv, f"{where}[{kv!r}]")
    elif isinstance(validated, list | tuple):
        assert len(built) == len(validated), where
        for n, (b, v) in enumerate(zip(built, validated, strict=True)):
            _same(b, v, f"{where}[{n}]")
    else:
        assert built == validated, f"{where}: {built!r} != {validated!r}"


def _definition_files() -> list[Path]:
    from psyq.plugins.builtin_instruments import builtin_instruments_dir

    here = Path(__file__).parent
    builtin = builtin_instruments_dir()
    example = here.parent / "examples" / "psyq-example-plugin" / "psyq_example" / "instruments"
    return [
        *sorted(builtin.glob("*.yaml")),
        *sorted((builtin / "superseded").glob("*.yaml")),
        *sorted(example.glob("*.yaml")),
        here / "languages" / "langtest.yaml",
    ]


@pytest.mark.parametrize("path", _definition_files(), ids=lambda p: p.stem)
def test_an_instrument_from_the_cache_is_the_validated_one_without_validating(
    cache_dir: Path, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_built_from_cache(cache_dir, path, monkeypatch)


def test_every_field_kind_is_built_from_the_cache_as_validated(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "every_kind.yaml"
    path.write_text(EVERY_FIELD_KIND)
    _check_built_from_cache(cache_dir, path, monkeypatch)


def _check_built_from_cache(cache_dir: Path, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from psyq.definition_cache import Summary, entry_key
    from psyq.models import Instrument

    pm = create_plugin_manager(load_entrypoints=False)
    validated = load_instrument_file(pm, path)
    key = entry_key(path, path.read_bytes())
    cache = DefinitionCache(pm)
    cache.put(key, validated)
    cache.save()
    assert cache.path is not None
    assert json.loads(cache.path.read_text())["entries"][key]["exact"] is True

    # A later run: the summary without parsing the definition, the instrument without
    # validating it (pydantic's validator is not called at all).
    again = DefinitionCache(pm)
    assert again.summary(key) == Summary(
        validated.id,
        validated.title,
        validated.version,
        validated.status,
        validated.licensed_text is not None,
    )

    def no_validation(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("validated a cached definition")

    monkeypatch.setattr(Instrument, "model_validate", no_validation)
    built = again.get(key)
    monkeypatch.undo()
    assert isinstance(built, Instrument)
    assert built == validated
    _same(built, validated, validated.id)
    # Every lookup the validator computes, through the methods commands use.
    for item in validated.items:
        assert built.item(item.id) == item and built.has_item(item.id)
        assert built.response_scale_for(built.item(item.id)) == validated.response_scale_for(item)
    for scale in validated.scales:
        assert built.scale(scale.id) == scale
        assert built.bounds(scale.id) == validated.bounds(scale.id)
        assert type(built.bounds(scale.id)[0]) is type(validated.bounds(scale.id)[0])
    assert built.total == validated.total
    assert built.flag_ids == validated.flag_ids
    assert built.notices == validated.notices
    assert built.texts_installed == validated.texts_installed
    expected = validated.content_hash()
    # A cached instrument has its content hash from the cache's JSON: no serializer.
    monkeypatch.setattr(Instrument, "model_dump", no_validation)
    assert built.content_hash() == expected
    monkeypatch.undo()
    assert built == validated  # the kept hash is no field: instruments compare as before
    # A changed copy computes its own.
    renamed = built.model_copy(update={"title": "Another title"})
    assert renamed.content_hash() != expected
    assert (
        renamed.content_hash()
        == validated.model_copy(update={"title": "Another title"}).content_hash()
    )
    assert built.model_dump(mode="json") == validated.model_dump(mode="json")


def test_an_instrument_it_cannot_build_exactly_is_validated_on_use(
    cache_dir: Path, pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When building it back would not give the validated instrument, the entry is kept
    for `psyq list` and validated whenever a command uses it."""
    import psyq.definition_cache

    monkeypatch.setattr(psyq.definition_cache, "_builds_back", lambda text, instrument: False)
    first = _load(pack)
    (cache_file,) = _cache_files(cache_dir)
    entries = json.loads(cache_file.read_text())["entries"]
    assert entries and not any(e["exact"] for e in entries.values())
    monkeypatch.undo()
    import psyq.models

    def fail(data: Any) -> None:
        raise AssertionError("built without validating")

    monkeypatch.setattr(psyq.models, "construct_instrument", fail)
    second = _load(pack)
    assert second.get("mini") == first.get("mini")
    assert second.get("phq9") == first.get("phq9")
