"""``psyq simulate``: seeded SIMULATED answers for trying ``psyq analyze`` and ``psyq norms``.

The model is a bifactor one, the structure a scale with a total and subscales
is written to have: each respondent has a general trait ``g`` and one trait
per subscale ``s``, all standard normal; an item's latent response is

    y = general * g + group * s + sqrt(1 - general^2 - group^2) * e

(negated for a reverse-keyed item), cut into the item's scored answer options
at equally spaced points from -1.5 to +1.5 SD, moved up by ``--shift`` (a
positive shift makes higher answers rarer, as with a clinical construct most
people report little of). Then answers go missing at random with ``--missing``, and an item
whose response scale has a "counts as missing" option (CCTS: "This did not
happen") gets that option with ``--not-happened``. Client ids are ``SIM-00001``:
these are not data, and nothing drawn from them describes real people.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from psyq.errors import PsyqError

if TYPE_CHECKING:
    from psyq.models import Instrument


@dataclass(frozen=True)
class SimulationOptions:
    n: int = 300
    seed: int = 2026
    general: float = 0.55
    group: float = 0.45
    shift: float = 0.4
    missing: float = 0.02
    not_happened: float = 0.10


def _groups(instrument: Instrument) -> dict[str, int]:
    """Item -> subscale index, from the largest disjoint subscales of the total."""
    from psyq.plugins.analysis.analyze import subscales

    out: dict[str, int] = {}
    for k, scale in enumerate(subscales(instrument, instrument.total)):
        for item in scale.items:
            out[item] = k
    return out


def simulate(instrument: Instrument, options: SimulationOptions) -> list[dict[str, str]]:
    """Rows of ``client_id``, ``sex``, ``age`` and one answer per scored item."""
    import numpy as np

    if options.general**2 + options.group**2 >= 1:
        raise PsyqError("--general and --group loadings: their squares must sum below 1")
    rng = np.random.default_rng(options.seed)
    groups = _groups(instrument)
    n_groups = max(groups.values(), default=-1) + 1
    g = rng.standard_normal(options.n)
    s = rng.standard_normal((options.n, max(n_groups, 1)))
    unique = np.sqrt(1 - options.general**2 - options.group**2)
    rows: list[dict[str, str]] = []
    sexes = rng.choice(["f", "m"], size=options.n, p=[0.6, 0.4])
    ages = np.clip(rng.normal(38, 12, options.n).round(), 18, 80).astype(int)
    columns: dict[str, list[str]] = {}
    for item in instrument.items:
        if not item.scored:
            continue
        scale = instrument.response_scale_for(item)
        scored = sorted(scale.scored_values)
        flagged = sorted(scale.missing_values)
        k = groups.get(item.id)
        latent = options.general * g + unique * rng.standard_normal(options.n)
        if k is not None:
            latent = latent + options.group * s[:, k]
        else:
            latent = latent + options.group * rng.standard_normal(options.n)
        if item.reverse:
            latent = -latent
        spaced = np.linspace(-1.5, 1.5, len(scored) - 1) if len(scored) > 2 else np.zeros(1)
        cuts = spaced + options.shift
        if item.reverse:
            cuts = -cuts[::-1]
        answers = np.array(scored)[np.searchsorted(cuts, latent)]
        cells = [str(int(v)) for v in answers]
        if flagged:
            for hit in np.nonzero(rng.random(options.n) < options.not_happened)[0]:
                cells[int(hit)] = str(flagged[0])
        for hit in np.nonzero(rng.random(options.n) < options.missing)[0]:
            cells[int(hit)] = ""
        columns[item.id] = cells
    for r in range(options.n):
        row = {"client_id": f"SIM-{r + 1:05d}", "sex": str(sexes[r]), "age": str(ages[r])}
        row.update({item_id: cells[r] for item_id, cells in columns.items()})
        rows.append(row)
    return rows


def to_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
