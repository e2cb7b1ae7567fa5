"""Hostile and malformed data files are refused with one line, and nothing in them runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from psyq.errors import DefinitionError
from psyq.manager import PsyqPluginManager
from psyq.registry import load_instrument_file


def refused(pm: PsyqPluginManager, path: Path) -> str:
    with pytest.raises(DefinitionError) as info:
        load_instrument_file(pm, path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_python_tags_are_refused_and_not_run(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    path = write_file(
        "evil.yaml",
        f"id: !!python/object/apply:os.system ['touch {marker}']\n",
    )
    message = refused(psyq_pm, path)
    assert "evil.yaml:1" in message
    assert "tags are not allowed" in message
    assert not marker.exists()


def test_python_name_tag_is_refused(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path]
) -> None:
    path = write_file("evil2.yaml", "title: !!python/name:os.getcwd\n")
    assert "tags are not allowed" in refused(psyq_pm, path)


def test_alias_bomb_is_refused(psyq_pm: PsyqPluginManager, write_file: Callable[..., Path]) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    path = write_file("bomb.yaml", "\n".join(lines) + "\n")
    message = refused(psyq_pm, path)
    assert "refused" in message


def test_few_aliases_with_huge_expansion_are_refused(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path]
) -> None:
    # Ten levels of two aliases each: 20 aliases, 2**10 * 200 values once expanded.
    lines = ["l0: &l0 [" + ", ".join(["x"] * 200) + "]"]
    for i in range(1, 11):
        lines.append(f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]")
    path = write_file("bomb2.yaml", "\n".join(lines) + "\n")
    assert "expands to more than" in refused(psyq_pm, path)


def test_binary_junk_is_refused(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path]
) -> None:
    path = write_file("junk.yaml", bytes(range(256)) * 4)
    assert "binary" in refused(psyq_pm, path)


def test_non_utf8_is_refused_with_line(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path]
) -> None:
    path = write_file("latin1.yaml", "id: a\ntitle: caf\xe9\n".encode("latin-1"))
    assert "latin1.yaml:2: not UTF-8" in refused(psyq_pm, path)


def test_broken_syntax_names_file_and_line(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path]
) -> None:
    path = write_file("broken.yaml", "id: x\ntitle: [unclosed\nversion: 1\n")
    message = refused(psyq_pm, path)
    assert "broken.yaml:" in message
    assert "not valid YAML" in message


@pytest.mark.parametrize("depth", [40, 5000])
def test_deep_nesting_is_refused(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path], depth: int
) -> None:
    path = write_file("deep.yaml", "a: " + "[" * depth + "]" * depth + "\n")
    assert "nesting" in refused(psyq_pm, path)


def test_duplicate_keys_are_refused(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path]
) -> None:
    path = write_file("dup.yaml", "id: a\ntitle: b\nid: c\n")
    assert "dup.yaml:3" in refused(psyq_pm, path)
    assert "duplicate key 'id'" in refused(psyq_pm, path)


def test_top_level_must_be_a_mapping(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path]
) -> None:
    path = write_file("list.yaml", "- a\n- b\n")
    assert "top level must be a mapping" in refused(psyq_pm, path)


def test_oversized_file_is_refused(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path]
) -> None:
    path = write_file("big.yaml", "a: " + "x" * (1024 * 1024 + 10) + "\n")
    assert "limited to" in refused(psyq_pm, path)


def test_invalid_json_names_line(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path]
) -> None:
    path = write_file("bad.json", '{\n  "id": "a"\n  "title": "b"\n}\n')
    assert "bad.json:3:" in refused(psyq_pm, path)


def test_unknown_suffix_is_refused(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path]
) -> None:
    path = write_file("scale.toml", "id = 'a'\n")
    assert "no plugin reads '.toml'" in refused(psyq_pm, path)


def test_schema_error_names_line_and_field_path(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path], minimal_yaml: str
) -> None:
    text = minimal_yaml.replace(
        "{id: high, label: High, min: 3,", "{id: high, label: High, min: 4,"
    )
    path = write_file("gap.yaml", text)
    message = refused(psyq_pm, path)
    assert "scale total: bands low (to 2) and high (from 4) leave a gap" in message
    assert "gap.yaml:18:" in message  # the scale's line


def test_misspelled_field_is_an_error_with_line(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path], minimal_yaml: str
) -> None:
    path = write_file("typo.yaml", minimal_yaml.replace("licence: test", "lisence: test"))
    message = refused(psyq_pm, path)
    assert "typo.yaml:5: lisence: unknown field" in message


def test_same_definition_as_json_loads(
    psyq_pm: PsyqPluginManager, write_file: Callable[..., Path], minimal_yaml: str
) -> None:
    import json

    import yaml

    data = yaml.safe_load(minimal_yaml)
    path = write_file("mini.json", json.dumps(data))
    inst = load_instrument_file(psyq_pm, path)
    assert inst.id == "mini"
    assert [i.id for i in inst.items] == ["m1", "m2", "m3"]
