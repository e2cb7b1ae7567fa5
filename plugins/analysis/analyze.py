"""From item data to an :class:`~psyq.plugins.analysis.results.Analysis`.

Per scale: item statistics, alpha (pairwise or listwise), omega; for the
whole instrument: the correlation matrix, parallel analysis and an EFA. A
statistic the data cannot give becomes ``None`` and a sentence saying why,
so neither the JSON nor the report ever shows NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from psyq.models import Instrument, Scale
from psyq.plugins.analysis import stats
from psyq.plugins.analysis.data import AnalysisError, ItemData
from psyq.plugins.analysis.results import (
    Alpha,
    Analysis,
    Correlations,
    DataInfo,
    Factors,
    Flagged,
    InstrumentInfo,
    ItemStats,
    Parallel,
    ScaleStats,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

MIN_RESPONDENTS = 10
MIN_ITEMS = 3
R_DROP_MIN = 0.30
FLOOR_CEILING_MAX = 15.0
PARALLEL_ITERATIONS = 20
DEFAULT_SEED = 13

Missing = Literal["pairwise", "listwise"]


def scored_range(instrument: Instrument, item_id: str) -> tuple[float, float]:
    """Lowest and highest value an item can score (recoded; "counts as missing" left out)."""
    item = instrument.item(item_id)
    values = instrument.response_scale_for(item).scored_values
    codes = [item.recode.get(v, v) for v in values] if item.recode else values
    return float(min(codes)), float(max(codes))


def subscales(instrument: Instrument, scale: Scale) -> list[Scale]:
    """The largest other scales made of ``scale``'s items (a sub-subscale is not counted).

    Only disjoint subscales count as group factors; overlapping ones give none.
    """
    mine = set(scale.items)
    inside = [s for s in instrument.scales if s.id != scale.id and set(s.items) < mine]
    top = [s for s in inside if not any(set(s.items) < set(o.items) for o in inside)]
    seen: set[str] = set()
    for s in top:
        if seen & set(s.items):
            return []
        seen |= set(s.items)
    return top


def analyse(
    data: ItemData,
    *,
    missing: Missing = "pairwise",
    nfactors: int | None = None,
    seed: int = DEFAULT_SEED,
    note: str | None = None,
) -> Analysis:
    """Every statistic of ``psyq analyze`` for ``data``."""
    import numpy as np

    inst = data.instrument
    values = data.values
    answered_rows = ~np.isnan(values).all(axis=1)
    if int(answered_rows.sum()) < MIN_RESPONDENTS:
        raise AnalysisError(
            f"{data.source}: {int(answered_rows.sum())} respondents answered any item; "
            f"an item analysis needs at least {MIN_RESPONDENTS}"
        )
    used = stats.listwise(values).shape[0] if missing == "listwise" else data.n
    problems: list[str] = []
    items = {iid: _item_stats(data, iid) for iid in data.item_ids}
    constant = [iid for iid, st in items.items() if st.sd is None or st.sd == 0]
    for iid in constant:
        problems.append(
            f"item {iid}: every respondent gave the same answer (or fewer than 2 answered), "
            "so it has no variance; it is left out of alpha, omega, correlations and factors"
        )
    scales = {
        scale.id: _scale_stats(data, scale, items, constant, missing) for scale in inst.scales
    }
    usable = [i for i in data.item_ids if i not in constant]
    correlations, factors = _whole(data, usable, missing, nfactors, seed, problems)
    return Analysis(
        instrument=InstrumentInfo(
            id=inst.id, version=inst.version, title=inst.title, status=inst.status
        ),
        data=DataInfo(
            source=data.source, respondents=data.n, missing_data=missing, used=used, note=note
        ),
        scales=scales,
        correlations=correlations,
        factors=factors,
        problems=problems,
        flagged=_flagged(scales),
        notices=[*inst.notices, *data.notices],
    )


def _item_stats(data: ItemData, item_id: str) -> ItemStats:
    import numpy as np

    inst = data.instrument
    item = inst.item(item_id)
    col = data.item_ids.index(item_id)
    v = data.values[:, col]
    given = data.answers[:, col]
    v = v[~np.isnan(v)]
    n = int(v.size)
    lo, hi = scored_range(inst, item_id)
    dist: dict[str, int] = {}
    for option in inst.response_scale_for(item).options:
        dist[str(option.value)] = int((given == option.value).sum())
    return ItemStats(
        label=item.text,
        n=n,
        missing_pct=100.0 * (data.n - n) / data.n if data.n else 0.0,
        mean=float(v.mean()) if n else None,
        sd=float(v.std(ddof=1)) if n > 1 else None,
        floor_pct=100.0 * float((v == lo).sum()) / n if n else None,
        ceiling_pct=100.0 * float((v == hi).sum()) / n if n else None,
        distribution=dist,
        reverse=item.reverse,
    )


def _correlation(x: NDArray[np.float64], missing: Missing) -> NDArray[np.float64]:
    """The matrix psych factors: ``cor(x, use = "pairwise")``, or of the complete cases."""
    if missing == "listwise":
        return stats.cov2cor(_covariance(x, missing)[0])
    return stats.pairwise_cor(x)


def _covariance(x: NDArray[np.float64], missing: Missing) -> tuple[NDArray[np.float64], int]:
    import numpy as np

    if missing == "listwise":
        complete = stats.listwise(x)
        n = int(complete.shape[0])
        if n < 2:
            return np.full((x.shape[1], x.shape[1]), np.nan), n
        cov: NDArray[np.float64] = np.cov(complete, rowvar=False)
        return cov, n
    cov, _ = stats.pairwise_cov(x)
    return cov, int(x.shape[0])


def _scale_stats(
    data: ItemData,
    scale: Scale,
    items: dict[str, ItemStats],
    constant: list[str],
    missing: Missing,
) -> ScaleStats:
    import numpy as np

    problems: list[str] = []
    scored = [i for i in scale.items if i in data.item_ids]
    left_out = [i for i in scored if i in constant]
    ids = [i for i in scored if i not in constant]
    if left_out:
        problems.append(f"left out, no variance: {', '.join(left_out)}")
    x = data.columns(ids)
    n_any = int((~np.isnan(x).all(axis=1)).sum()) if ids else 0
    own_items = {i: items[i] for i in scored}
    result: dict[str, object] = {
        "alpha": None,
        "omega_total": None,
        "omega_h": None,
        "omega_h_factors": None,
        "average_r": None,
    }
    if len(ids) < MIN_ITEMS:
        problems.append(
            f"{len(ids)} item{'s' if len(ids) != 1 else ''} with variance; alpha and omega "
            f"need at least {MIN_ITEMS}"
        )
    else:
        cov, n = _covariance(x, missing)
        if n < MIN_RESPONDENTS:
            problems.append(
                f"{n} respondents answered every item ({missing}); alpha needs at least "
                f"{MIN_RESPONDENTS}"
            )
        elif not np.isfinite(cov).all():
            pairs = np.argwhere(~np.isfinite(cov))
            a, b = (ids[int(k)] for k in pairs[0])
            problems.append(
                f"items {a} and {b} were answered together by fewer than 2 respondents; "
                "alpha needs every pair (use more data, or --listwise)"
            )
        else:
            cor = _correlation(x, missing)
            result.update(_reliability(scale, data, ids, cov, cor, n, own_items, problems))
    return ScaleStats(
        label=scale.label,
        n=n_any,
        k=len(scored),
        items=own_items,
        problems=problems,
        **result,
    )


def _reliability(
    scale: Scale,
    data: ItemData,
    ids: list[str],
    cov: NDArray[np.float64],
    cor: NDArray[np.float64],
    n: int,
    own_items: dict[str, ItemStats],
    problems: list[str],
) -> dict[str, object]:
    out: dict[str, object] = {}
    try:
        a = stats.alpha(cov, n)
    except stats.StatsError as exc:  # said, and the other statistics still computed
        problems.append(str(exc))
    else:
        for k, iid in enumerate(ids):
            own_items[iid] = own_items[iid].model_copy(
                update={"r_drop": a.r_drop[k], "alpha_if_dropped": a.alpha_if_dropped[k]}
            )
        out["alpha"] = Alpha(raw=a.raw, std=a.std, ci=a.ci)
        out["average_r"] = a.average_r
    try:
        out["omega_total"] = stats.omega(cor, 1).omega_total
    except (ValueError, ArithmeticError) as exc:
        problems.append(f"omega total could not be estimated: {exc}")
    subs = subscales(data.instrument, scale)
    if len(subs) >= 2:
        if len(ids) >= 3 * len(subs):
            try:
                out["omega_h"] = stats.omega(cor, len(subs)).omega_h
                out["omega_h_factors"] = len(subs)
            except (ValueError, ArithmeticError) as exc:
                problems.append(f"omega hierarchical could not be estimated: {exc}")
        else:
            problems.append(
                f"omega hierarchical with {len(subs)} group factors needs at least "
                f"{3 * len(subs)} items; the scale has {len(ids)}"
            )
    return out


def _whole(
    data: ItemData,
    ids: list[str],
    missing: Missing,
    nfactors: int | None,
    seed: int,
    problems: list[str],
) -> tuple[Correlations | None, Factors | None]:
    import numpy as np

    if len(ids) < MIN_ITEMS:
        problems.append(f"correlations and factors need at least {MIN_ITEMS} items with variance")
        return None, None
    cov, n = _covariance(data.columns(ids), missing)
    if n < MIN_RESPONDENTS or not np.isfinite(cov).all():
        problems.append(
            "the inter-item correlation matrix is incomplete (items never answered together, "
            f"or fewer than {MIN_RESPONDENTS} complete respondents); no factor analysis"
        )
        return None, None
    cor = _correlation(data.columns(ids), missing)
    if not np.isfinite(cor).all():
        # A pair of items one of which does not vary among those who answered both
        # (small or patchy samples): its correlation is undefined. Was an internal error.
        problems.append(
            "the inter-item correlation matrix is incomplete (a pair of items where one does "
            "not vary among the respondents who answered both); no factor analysis"
        )
        return None, None
    correlations = Correlations(
        items=ids, matrix=[[float(v) for v in row] for row in cor], method=missing
    )
    try:
        parallel = stats.parallel_analysis(cor, n, PARALLEL_ITERATIONS, seed)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        problems.append(f"parallel analysis failed: {exc}")
        parallel = None
    limit = max(1, len(ids) // 3)
    if nfactors is not None:
        nf, chosen = nfactors, "--factors"
        if nf > len(ids) - 1:
            raise AnalysisError(f"--factors {nf}: the data have {len(ids)} usable items")
    elif parallel is not None:
        nf, chosen = max(1, parallel.n_factors), "parallel analysis"
        if nf > limit:
            nf, chosen = limit, f"parallel analysis ({parallel.n_factors}), capped at items / 3"
    else:
        nf, chosen = 1, "one factor (parallel analysis failed)"
    try:
        fit = stats.efa(cor, nf)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        problems.append(f"factor analysis failed: {exc}")
        return correlations, None
    factors = Factors(
        rotation="oblimin" if nf > 1 else "none",
        nfactors=nf,
        chosen_by=chosen,
        parallel=Parallel(**parallel.__dict__) if parallel else None,
        items=ids,
        loadings={iid: [float(v) for v in fit.loadings[k]] for k, iid in enumerate(ids)},
        phi=[[float(v) for v in row] for row in fit.phi],
        communalities={iid: float(fit.communalities[k]) for k, iid in enumerate(ids)},
        variance=[float(v) for v in fit.variance],
    )
    return correlations, factors


def _flagged(scales: dict[str, ScaleStats]) -> list[Flagged]:
    """Items to review: r.drop < .30, alpha rises when dropped, floor/ceiling > 15 %.

    r.drop and alpha-if-dropped belong to a scale; floor, ceiling and no variance to the
    item, so those are listed once (with the first scale the item is in).
    """
    out: list[Flagged] = []
    seen: set[str] = set()
    for sid, scale in scales.items():
        raw = scale.alpha.raw if scale.alpha else None
        for iid, item in scale.items.items():
            reasons: list[str] = []
            if item.r_drop is not None and item.r_drop < R_DROP_MIN:
                reasons.append(f"r.drop {item.r_drop:.2f} < {R_DROP_MIN:.2f}")
            dropped = item.alpha_if_dropped
            if raw is not None and dropped is not None and dropped > raw:
                reasons.append(f"alpha rises to {dropped:.3f} without it (from {raw:.3f})")
            if iid not in seen:
                seen.add(iid)
                floor, ceiling = item.floor_pct, item.ceiling_pct
                if floor is not None and floor > FLOOR_CEILING_MAX:
                    reasons.append(f"floor {floor:.1f} % > {FLOOR_CEILING_MAX:.0f} %")
                if ceiling is not None and ceiling > FLOOR_CEILING_MAX:
                    reasons.append(f"ceiling {ceiling:.1f} % > {FLOOR_CEILING_MAX:.0f} %")
                if item.sd == 0 or item.sd is None:
                    reasons.append("no variance")
            if reasons:
                out.append(Flagged(scale=sid, item=iid, reasons=reasons))
    return out
