"""The cache of validated definitions: a speed-up that never changes what is loaded."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from psyq.definition_cache import DefinitionCache
from psyq.manager import PsyqPluginManager, create_plugin_manager
from psyq.registry import InstrumentRegistry, load_instrument_file
from tests.installed import installed_broken_plugin
from tests.packs import DirectoryPack


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("PSYQ_CACHE_DIR", str(folder))
    monkeypatch.delenv("PSYQ_NO_CACHE", raising=False)
    return folder


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


def test_a_tampered_cache_entry_is_validated_and_refused(cache_dir: Path, pack: Path) -> None:
    _load(pack)
    (cache_file,) = _cache_files(cache_dir)
    document = json.loads(cache_file.read_text())
    for definition in document["entries"].values():
        if definition["id"] == "mini":
            definition["scales"][0]["bands"][1]["max"] = 99  # bands no longer fit the range
            definition["title"] = "Tampered"
    cache_file.write_text(json.dumps(document))
    registry = _load(pack)
    assert registry.get("mini").title == "Mini scale"  # read from the file again
    assert registry.problems == []


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
    assert [p.name for p in cache_dir.iterdir()] == [cache_file.name]  # no temporary left
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
