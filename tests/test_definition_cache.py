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
    document = json.loads(cache_file.read_text())
    for definition in document["entries"].values():
        if definition["id"] == "mini":
            definition["scales"] = "not a list of scales"
    cache_file.write_text(json.dumps(document))
    assert "mini " in _psyq(local_env, "list").stdout
    shown = _psyq(local_env, "show", "mini")
    assert shown.returncode == 0 and "Total" in shown.stdout, shown.stderr
    # ...and the entry was written again, whole.
    entries = json.loads(cache_file.read_text())["entries"].values()
    assert [d["scales"][0]["id"] for d in entries if d["id"] == "mini"] == ["total"]
