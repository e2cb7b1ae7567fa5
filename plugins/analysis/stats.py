"""Psychometric statistics, computed as R's psych package computes them.

Every function takes a respondents x items matrix of scored item values
(``numpy.nan`` = missing) or a covariance/correlation matrix, and follows the
psych function named in its docstring, so that ``psyq analyze`` and
``psych::alpha`` / ``psych::omega`` / ``psych::fa`` agree on the same data
(tests/fixtures/psych holds the R script and its output for the bfi data).

Factor analysis is psych's ``fa(fm = "minres")``: the uniquenesses that
minimise the squared off-diagonal residuals, found with scipy's L-BFGS-B as
psych uses R's ``optim(method = "L-BFGS-B")``; oblimin is GPArotation's
gradient projection algorithm (``GPFoblq``, Bernaards & Jennrich 2005).
numpy and scipy are imported inside the functions: this module is loaded by
``psyq analyze`` only, never at start-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Matrix = NDArray[np.float64]


class StatsError(ValueError):
    """The data cannot give this statistic (said in words, never as NaN)."""


# -- covariances ----------------------------------------------------------------


def pairwise_cov(x: Matrix) -> tuple[Matrix, Matrix]:
    """Pairwise-complete covariances and the number of respondents behind each.

    As R's ``cov(x, use = "pairwise")``: each pair uses the rows where both
    items are answered, with that subset's own means. Three matrix products,
    so 10,000 x 40 takes milliseconds.
    """
    import numpy as np

    present = ~np.isnan(x)
    m = present.astype(np.float64)
    x0 = np.where(present, x, 0.0)
    n = m.T @ m
    sums = x0.T @ m  # sums[i, j]: sum of item i over rows where i and j are answered
    products = x0.T @ x0
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = (products - sums * sums.T / n) / (n - 1)
    return cov, n


def pairwise_cor(x: Matrix) -> Matrix:
    """Pairwise-complete correlations, as R's ``cor(x, use = "pairwise")``.

    Unlike ``cov2cor`` of the pairwise covariances (what ``psych::alpha``
    uses), each pair's standard deviations come from the rows that pair
    shares; ``psych::fa`` and ``psych::omega`` factor this matrix.
    """
    import numpy as np

    present = ~np.isnan(x)
    m = present.astype(np.float64)
    x0 = np.where(present, x, 0.0)
    n = m.T @ m
    sums = x0.T @ m
    squares = (x0**2).T @ m
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = (x0.T @ x0 - sums * sums.T / n) / (n - 1)
        var = (squares - sums**2 / n) / (n - 1)  # var[i, j]: item i over rows shared with j
        cor: Matrix = cov / np.sqrt(var * var.T)
    np.fill_diagonal(cor, 1.0)
    return cor


def listwise(x: Matrix) -> Matrix:
    """The rows with every item answered."""
    import numpy as np

    keep: Matrix = x[~np.isnan(x).any(axis=1)]
    return keep


def cov2cor(cov: Matrix) -> Matrix:
    import numpy as np

    sd = np.sqrt(np.diag(cov))
    cor: Matrix = cov / np.outer(sd, sd)
    return cor


# -- alpha ------------------------------------------------------------------------


@dataclass(frozen=True)
class AlphaResult:
    """``psych::alpha`` on one scale: totals, and per item when dropped."""

    raw: float
    std: float
    average_r: float
    ci: tuple[float, float]
    alpha_if_dropped: list[float]
    std_alpha_if_dropped: list[float]
    r_drop: list[float]


def _alpha_raw(cov: Matrix) -> float:
    import numpy as np

    k = cov.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(k / (k - 1) * (1 - np.trace(cov) / cov.sum()))


def _alpha_std(cor: Matrix) -> tuple[float, float]:
    k = cor.shape[0]
    average_r = float((cor.sum() - k) / (k * (k - 1)))
    below = 1 + (k - 1) * average_r  # 0 when the correlations cancel out exactly
    return (k * average_r / below if below else math.nan), average_r


def feldt_ci(alpha: float, n: int, k: int, level: float = 0.95) -> tuple[float, float]:
    """Feldt's interval for alpha (Feldt, Woodruff & Salih 1987), as ``psych::alpha.ci``.

    psych uses the number of rows of the data as ``n``, answered or not.
    """
    from scipy.stats import f

    p = 1 - level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lower = 1 - (1 - alpha) * float(f.ppf(1 - p / 2, df1, df2))
    upper = 1 - (1 - alpha) * float(f.ppf(p / 2, df1, df2))
    return lower, upper


def alpha(cov: Matrix, n_rows: int) -> AlphaResult:
    """Cronbach's alpha raw and standardized, alpha if dropped and r.drop (``psych::alpha``)."""
    import numpy as np

    k = cov.shape[0]
    if k < 3:
        raise StatsError(f"alpha needs at least 3 items, the scale has {k}")
    cor = cov2cor(cov)
    raw = _alpha_raw(cov)
    std, average_r = _alpha_std(cor)
    dropped, std_dropped, r_drop = [], [], []
    total = cov.sum()
    with np.errstate(divide="ignore", invalid="ignore"):  # said in words below, not warned
        for i in range(k):
            keep = np.arange(k) != i
            sub = cov[np.ix_(keep, keep)]
            dropped.append(_alpha_raw(sub))
            std_dropped.append(_alpha_std(cor[np.ix_(keep, keep)])[0])
            c_drop = cov[:, i].sum() - cov[i, i]
            v_drop = total - 2 * cov[:, i].sum() + cov[i, i]
            r_drop.append(float(c_drop / np.sqrt(cov[i, i] * v_drop)))
    if not np.isfinite([raw, std, *dropped, *std_dropped, *r_drop]).all():
        # Items whose covariances cancel out (the total's variance is 0, or is without
        # an item): alpha divides by it. Such data crashed analyze and norms build.
        raise StatsError(
            "alpha is undefined for these data: the items' covariances cancel out "
            "(the scale total, with or without an item, does not vary)"
        )
    return AlphaResult(
        raw=raw,
        std=std,
        average_r=average_r,
        ci=feldt_ci(raw, n_rows, k),
        alpha_if_dropped=dropped,
        std_alpha_if_dropped=std_dropped,
        r_drop=r_drop,
    )


# -- factor analysis ------------------------------------------------------------------


def smc(cor: Matrix) -> Matrix:
    """Squared multiple correlations, ``psych::smc`` (a pseudo-inverse when singular)."""
    import numpy as np

    try:
        inv = np.linalg.inv(cor)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(cor)
    out: Matrix = np.clip(1 - 1 / np.diag(inv), 0.0, 1.0)
    return out


def _top_loadings(reduced: Matrix, nf: int) -> Matrix:
    import numpy as np

    values, vectors = np.linalg.eigh(reduced)
    order = np.argsort(values)[::-1][:nf]
    out: Matrix = vectors[:, order] * np.sqrt(np.maximum(values[order], 0.0))
    return out


def minres(cor: Matrix, nf: int) -> Matrix:
    """Unrotated minimum-residual loadings, ``psych::fa(fm = "minres")``.

    Finds the uniquenesses minimising the sum of squared off-diagonal
    residuals, from psych's start (1 - smc), bounds (0.005 to 1) and its
    gradient; columns are signed so that each sums to a positive number.
    """
    import numpy as np
    from scipy.optimize import minimize

    k = cor.shape[0]
    lower = np.tril_indices(k, -1)

    def residual(psi: Matrix) -> float:
        s = cor.copy()
        np.fill_diagonal(s, 1 - psi)
        values, vectors = np.linalg.eigh(s)
        values = np.maximum(values, 100 * np.finfo(float).eps)
        order = np.argsort(values)[::-1][:nf]
        load = vectors[:, order] * np.sqrt(values[order])
        r = (s - load @ load.T)[lower]
        return float((r**2).sum())

    def gradient(psi: Matrix) -> Matrix:
        s = cor - np.diag(psi)
        load = _top_loadings(s, nf)
        g: Matrix = np.diag(load @ load.T + np.diag(psi) - cor).copy()
        return g

    start = np.diag(cor) - smc(cor)
    upper = max(float(smc(cor).max()), 1.0)
    fit = minimize(
        residual,
        start,
        jac=gradient,
        method="L-BFGS-B",
        bounds=[(0.005, upper)] * k,
        options={"maxiter": 1000},
    )
    reduced = cor - np.diag(fit.x)
    load = _top_loadings(reduced, nf)
    signs = np.where(load.sum(axis=0) < 0, -1.0, 1.0)
    out: Matrix = load * signs
    return out


def oblimin(a: Matrix, eps: float = 1e-5, maxit: int = 1000) -> tuple[Matrix, Matrix]:
    """Oblimin (gamma 0, quartimin) by gradient projection: GPArotation's ``GPFoblq``.

    Returns the pattern loadings and the factor correlations (Phi).
    """
    import numpy as np

    k = a.shape[1]
    off = 1.0 - np.eye(k)

    def vgq(load: Matrix) -> tuple[Matrix, float]:
        x = (load**2) @ off
        return load * x, float((load**2 * x).sum() / 4)

    t = np.eye(k)
    load = a @ np.linalg.inv(t).T
    gq, f = vgq(load)
    g = -(load.T @ gq @ np.linalg.inv(t)).T
    al = 1.0
    for _ in range(maxit + 1):
        gp = g - t @ np.diag((t * g).sum(axis=0))
        s = float(np.sqrt((gp**2).sum()))
        if s < eps:
            break
        al *= 2
        for _ in range(11):
            x = t - al * gp
            tt = x / np.sqrt((x**2).sum(axis=0))
            load = a @ np.linalg.inv(tt).T
            gq_t, f_t = vgq(load)
            if f - f_t > 0.5 * s**2 * al:
                break
            al /= 2
        t, f = tt, f_t
        g = -(load.T @ gq_t @ np.linalg.inv(tt)).T
    phi: Matrix = t.T @ t
    return load, phi


@dataclass(frozen=True)
class EFAResult:
    """``psych::fa(nfactors, fm = "minres", rotate = "oblimin")``."""

    loadings: Matrix  # items x factors, pattern loadings after rotation
    phi: Matrix  # factor correlations (identity for one factor)
    communalities: Matrix
    variance: Matrix  # variance accounted for by each factor


def efa(cor: Matrix, nf: int) -> EFAResult:
    """Minres factors, oblimin-rotated, signed and sorted as ``psych::fa`` does.

    Each factor is signed so its loadings sum positive, and factors are
    ordered by the variance they account for (diag(Phi L'L)), largest first.
    """
    import numpy as np

    k = cor.shape[0]
    if not 1 <= nf < k:
        raise StatsError(f"cannot extract {nf} factors from {k} items")
    load = minres(cor, nf)
    phi = np.eye(nf)
    if nf > 1:
        load, phi = oblimin(load)
        signs = np.where(load.sum(axis=0) < 0, -1.0, 1.0)
        load = load * signs
        phi = phi * np.outer(signs, signs)
        explained = np.diag(phi @ load.T @ load)
        order = np.argsort(-explained, kind="stable")
        load, phi = load[:, order], phi[np.ix_(order, order)]
    communalities = np.diag(load @ phi @ load.T)
    variance = np.diag(phi @ load.T @ load)
    return EFAResult(load, phi, communalities, variance)


# -- omega ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OmegaResult:
    omega_total: float
    omega_h: float | None  # None for a one-factor model (omega_h is not meaningful)


def omega(cor: Matrix, nfactors: int = 1) -> OmegaResult:
    """McDonald's omega, ``psych::omega`` (Schmid-Leiman, ``flip = TRUE``).

    With one factor, omega total is 1 - sum(uniquenesses) / sum(R). With
    more, the oblimin factors' correlations are themselves factored for a
    general factor (two factors: equal loadings sqrt(phi), psych's
    ``option = "equal"``); items loading negatively on it are flipped before
    sum(R) is taken, and omega hierarchical is (sum of g loadings)^2 / sum(R).
    """
    import numpy as np

    load = minres(cor, nfactors)
    h2 = (load**2).sum(axis=1)
    uniq = float((np.diag(cor) - h2).sum())
    if nfactors == 1:
        vt = float(cor.sum())
        key = np.where(load[:, 0] < 0, -1.0, 1.0)
        vt = float((cor * np.outer(key, key)).sum())
        return OmegaResult(omega_total=(vt - uniq) / vt, omega_h=None)
    pattern, phi = oblimin(load)
    if nfactors > 2:
        gload = minres(phi, 1)[:, 0]
    else:
        r = phi[0, 1]
        gload = np.array([np.sqrt(abs(r)), np.sign(r) * np.sqrt(abs(r))])
    g = pattern @ gload
    key = np.where(g < 0, -1.0, 1.0)
    vt = float((cor * np.outer(key, key)).sum())
    return OmegaResult(omega_total=(vt - uniq) / vt, omega_h=float((g * key).sum() ** 2 / vt))


# -- parallel analysis -------------------------------------------------------------------


@dataclass(frozen=True)
class ParallelResult:
    """Horn's parallel analysis, as ``psych::fa.parallel(fa = "both")``."""

    observed_pc: list[float]
    observed_fa: list[float]
    simulated_pc: list[float]  # mean over iterations
    simulated_fa: list[float]
    n_components: int
    n_factors: int
    iterations: int
    seed: int


def _fa_values(cor: Matrix) -> Matrix:
    """Eigenvalues of R with communalities from one minres factor (psych's "fa" values)."""
    import numpy as np

    load = minres(cor, 1)
    reduced = cor.copy()
    np.fill_diagonal(reduced, (load**2).sum(axis=1))
    values: Matrix = np.sort(np.linalg.eigvalsh(reduced))[::-1]
    return values


def _count_above(observed: Matrix, simulated: Matrix) -> int:
    import numpy as np

    below = np.nonzero(observed <= simulated)[0]
    return int(below[0]) if below.size else len(observed)


def parallel_analysis(cor: Matrix, n: int, iterations: int = 20, seed: int = 13) -> ParallelResult:
    """Compare the eigenvalues of ``cor`` with those of random normal data of the same size.

    The number of components (factors) is the count of leading observed
    eigenvalues above the mean simulated ones. Seeded, so a report is
    reproducible.
    """
    import numpy as np

    k = cor.shape[0]
    rng = np.random.default_rng(seed)
    obs_pc = np.sort(np.linalg.eigvalsh(cor))[::-1]
    obs_fa = _fa_values(cor)
    sims_pc, sims_fa = [], []
    for _ in range(iterations):
        z = rng.standard_normal((n, k))
        r: Matrix = np.asarray(np.corrcoef(z, rowvar=False), dtype=np.float64)
        sims_pc.append(np.sort(np.linalg.eigvalsh(r))[::-1])
        sims_fa.append(_fa_values(r))
    sim_pc = np.mean(sims_pc, axis=0)
    sim_fa = np.mean(sims_fa, axis=0)
    return ParallelResult(
        observed_pc=[float(v) for v in obs_pc],
        observed_fa=[float(v) for v in obs_fa],
        simulated_pc=[float(v) for v in sim_pc],
        simulated_fa=[float(v) for v in sim_fa],
        n_components=_count_above(obs_pc, sim_pc),
        n_factors=_count_above(obs_fa, sim_fa),
        iterations=iterations,
        seed=seed,
    )
