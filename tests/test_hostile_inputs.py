"""Bad input nobody had tried: each is one clear line (exit 2) or one refused file, never an
internal error, a value silently dropped, or output that is not what it says it is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

CLI = Callable[..., Result]


def one_line_error(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("psyq: error: "), result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    return lines[0]


# -- simulate / analyze options -----------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--seed", "-1"),  # numpy refuses negative seeds: was an internal error
        ("--shift", "nan"),  # nan passed and made every answer the lowest
        ("--shift", "-inf"),
        ("--general", "nan"),  # click's FloatRange lets nan through its bounds
        ("--group", "nan"),
        ("--missing", "nan"),
        ("--not-happened", "nan"),
    ],
)
def test_simulate_refuses_negative_seeds_and_non_finite_numbers(
    psyq_cli: CLI, tmp_path: Path, option: str, value: str
) -> None:
    out = tmp_path / "sim.csv"
    result = psyq_cli("simulate", "phq9", "--n", "20", option, value, "-o", out)
    assert option in one_line_error(result)
    assert not out.exists()


def test_analyze_refuses_a_negative_seed_instead_of_reporting_a_failed_analysis(
    psyq_cli: CLI, tmp_path: Path
) -> None:
    data = tmp_path / "sim.csv"
    assert psyq_cli("simulate", "phq9", "--n", "200", "-o", data).exit_code == 0
    result = psyq_cli("analyze", "phq9", data, "--ignore-extra-columns", "--seed", "-5")
    assert "--seed" in one_line_error(result)
