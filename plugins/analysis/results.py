"""The ``psyq analyze --json`` document, as pydantic models.

The contract other tools read::

    {"instrument": {"id", "version", "title", "status"},
     "data": {"source", "respondents", "missing_data", "used", "note"},
     "scales": {"<scale_id>": {"n", "k", "alpha": {"raw", "std", "ci": [lo, hi]},
                               "omega_total", "omega_h", "average_r",
                               "items": {"<item_id>": {"n", "mean", "sd", "r_drop",
                                                       "alpha_if_dropped", ...}},
                               "problems": [...]}},
     "correlations": {"items": [...], "matrix": [[...]]},
     "factors": {"method", "rotation", "nfactors", "parallel": {...},
                 "loadings": {"<item_id>": [...]}, "phi": [[...]], ...},
     "flagged": [{"scale", "item", "reasons"}],
     "notices": [...]}

A statistic the data cannot give is ``null`` with a sentence in
``problems``; no number in the document is ever NaN or infinite.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("statistics are finite numbers or null")
    if isinstance(value, list | tuple):
        for v in value:
            _finite(v)
    if isinstance(value, dict):
        for v in value.values():
            _finite(v)
    return value


class _Numbers(_Out):
    @field_validator("*", mode="after")
    @classmethod
    def _no_nan(cls, value: object) -> object:
        return _finite(value)


class InstrumentInfo(_Out):
    id: str
    version: str
    title: str
    status: Literal["validated", "provisional"]


class DataInfo(_Out):
    source: str
    respondents: int
    missing_data: Literal["pairwise", "listwise"]
    used: int  # respondents the statistics rest on (listwise: complete cases)
    note: str | None = None  # --note, e.g. "SIMULATED data": shown wherever the analysis is


class Alpha(_Numbers):
    raw: float
    std: float
    ci: tuple[float, float]
    ci_method: Literal["Feldt"] = "Feldt"


class ItemStats(_Numbers):
    label: str
    n: int
    missing_pct: float
    mean: float | None
    sd: float | None
    floor_pct: float | None
    ceiling_pct: float | None
    distribution: dict[str, int]  # answer value as given -> respondents
    r_drop: float | None = None
    alpha_if_dropped: float | None = None
    reverse: bool = False


class ScaleStats(_Numbers):
    label: str
    n: int
    k: int
    alpha: Alpha | None
    omega_total: float | None
    omega_h: float | None
    omega_h_factors: int | None
    average_r: float | None
    items: dict[str, ItemStats]
    problems: list[str]


class Parallel(_Numbers):
    observed_pc: list[float]
    observed_fa: list[float]
    simulated_pc: list[float]
    simulated_fa: list[float]
    n_components: int
    n_factors: int
    iterations: int
    seed: int


class Factors(_Numbers):
    method: Literal["minres"] = "minres"
    rotation: Literal["oblimin", "none"]
    nfactors: int
    chosen_by: str
    parallel: Parallel | None
    items: list[str]
    loadings: dict[str, list[float]]
    phi: list[list[float]]
    communalities: dict[str, float]
    variance: list[float]


class Correlations(_Numbers):
    items: list[str]
    matrix: list[list[float | None]]
    method: Literal["pairwise", "listwise"]


class Flagged(_Out):
    scale: str
    item: str
    reasons: list[str]


class Analysis(_Out):
    instrument: InstrumentInfo
    data: DataInfo
    scales: dict[str, ScaleStats]
    correlations: Correlations | None
    factors: Factors | None
    problems: list[str]
    flagged: list[Flagged]
    notices: list[str]
