"""Exploratory landscape analysis of sample sets: the features that need only the sample (positions
[W, S, D] and losses [W, S], one value a set), as Mersmann et al. (GECCO 2011) and Kerschke et
al. define them, computed for many sets at once from one distance matrix a set (its Gram matrix:
one matrix product, so D = 7,960 is as cheap as D = 9 per pair).

- information content on a nearest-neighbour tour (Munoz, Kirley and Halgamuge 2015, Sec. V.A):
  from the set's first point, always to the nearest point not yet visited; the slopes along the
  tour (``fla.metrics.entropy``). pflacco 1.2.2 starts at a random point (``ic_nn_start``);
  ``tests/test_pflacco.py`` passes it the first;
- dispersion at quantiles q of the losses (Lunacek and Whitley 2006, as pflacco's
  ``calculate_dispersion``): the samples with loss <= the q-quantile, the mean and the median of
  their pairwise Euclidean distances, as a ratio to and a difference from those of the whole set
  (``disp_ratio_mean_02`` ... ``disp_diff_median_25``);
- ``ela_distr`` (Mersmann et al.): skewness and kurtosis of the losses (type 3, b_1 = m_3 / s^3,
  b_2 = m_4 / s^4 - 3, s with n - 1) and the number of peaks of their Gaussian kernel density
  (Scott's bandwidth, 512 points over the range +- 3 bandwidths): minima of the density split it
  into modes, and a mode counts when its probability mass (mean density x width) exceeds 0.01.
  pflacco 1.2.2 adds the width to the mean density instead and compares with 0.1;
- ``pca`` (Kerschke and Trautmann): the share of the dimensions needed to explain 90% of the
  variance of the positions (``cov_x``) and of their correlations (``cor_x``), the same of the
  positions with the losses appended (``cov_init``, ``cor_init``), and the first component's share
  of each (``pc1_*``);
- nearest better clustering (Kerschke et al., "Detecting funnel structures by means of
  exploratory landscape analysis", GECCO 2015): per sample its nearest neighbour's distance nn and
  its nearest better neighbour's nb (the lowest sample has none: its nn stands in), then
  ``nbc_sd_ratio`` = sd(nn) / sd(nb), ``nbc_mean_ratio``, ``nbc_cor`` = cor(nn, nb),
  ``nbc_dist_ratio_cv`` = the coefficient of variation of nn / nb and ``nbc_fitness_cor`` = cor of
  each sample's number of samples whose nearest better it is with its loss;
- ``ela_meta`` (Mersmann et al.): least-squares fits of the loss with an intercept, adjusted R^2
  of a linear, linear with interactions, quadratic, and quadratic with interactions model
  (x_i, x_i^2, x_i x_j), the linear model's intercept, its smallest and largest |coefficient| and
  their ratio, and the quadratic model's condition (largest over smallest |coefficient| of the
  squares). A model of p terms needs more than p + 1 samples: a set that has too few gets NaN for
  that model (``fla metrics`` says so). pflacco 1.2.2's quadratic model with interactions
  multiplies every pair of [x, x^2] (cubic and quartic terms included).

    >>> features = sample_features(positions, losses)    # {name: [W]}
"""

from __future__ import annotations

import numpy as np

from fla.metrics.distance import BEST_FRACTION, distance_matrix
from fla.metrics.entropy import information_of_changes

QUANTILES = (0.02, 0.05, 0.1, 0.25)
MODE_MASS = 0.01  # a density mode counts when its mass exceeds this
KDE_POINTS = 512
EXPLAINED = 0.9  # pca: the share of variance the counted components explain
SET_BYTES = 2**27  # distance matrices [sets, S, S] float64 held at once


def nearest_neighbour_tour(distances: np.ndarray, start: int = 0):
    """The greedy tour of a set: from ``start``, always to the nearest point not yet visited.

    Args:
        distances: [S, S] the set's distance matrix.
        start: the first point.

    Returns:
        (order [S], step lengths [S - 1]).
    """
    n = len(distances)
    visited = np.zeros(n, bool)
    order, lengths = np.empty(n, np.int64), np.empty(n - 1)
    order[0], visited[start] = start, True
    for i in range(1, n):
        row = np.where(visited, np.inf, distances[order[i - 1]])
        order[i] = int(np.argmin(row))
        lengths[i - 1] = row[order[i]]
        visited[order[i]] = True
    return order, lengths


def tour_information(distances: np.ndarray, losses: np.ndarray) -> dict:
    """Information content (Munoz et al. 2015, Sec. V.A) of one set along its nearest-neighbour tour
    from its first point: the slopes along the tour (``fla.metrics.entropy``).

    Args:
        distances: [S, S] the set's distance matrix.
        losses: [S] its losses.

    Returns:
        {"h_max", "eps_s", "eps_max", "m0", "eps_05"}: [1] each.
    """
    order, lengths = nearest_neighbour_tour(distances)
    d = np.diff(losses[order])
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = np.where(lengths > 0, d / np.where(lengths > 0, lengths, 1.0), np.sign(d) * np.inf)
    return information_of_changes(slopes[None])


def pair_distances(distances: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The distances between distinct kept points, each pair once.

    Args:
        distances: [S, S] the set's distance matrix.
        keep: [S] bool, the points kept.

    Returns:
        [k (k - 1) / 2] distances, k the kept points.
    """
    sub = distances[np.ix_(keep, keep)] if len(keep) < len(distances) else distances
    return sub[np.triu(np.ones(sub.shape, bool), 1)]


def dispersion_quantiles(distances: np.ndarray, losses: np.ndarray, quantiles=QUANTILES) -> dict:
    """pflacco's dispersion features of one set (module docstring); pairs at distance 0 left out, as
    pflacco leaves them.

    Args:
        distances: [S, S] the set's distance matrix.
        losses: [S] its losses.
        quantiles: the loss quantiles q.

    Returns:
        {"disp_ratio_mean_02", ..., "disp_diff_median_25"}: the ratio and difference of the mean and
            median per quantile, one value each.
    """
    whole = pair_distances(distances, np.arange(len(losses)))
    whole = whole[whole != 0]
    out = {}
    for q in quantiles:
        near = pair_distances(distances, np.flatnonzero(losses <= np.quantile(losses, q)))
        near = near[near != 0]
        tag = f"{int(round(q * 100)):02d}"
        mean, median = (near.mean(), np.median(near)) if len(near) else (np.nan, np.nan)
        out[f"disp_ratio_mean_{tag}"] = mean / whole.mean()
        out[f"disp_ratio_median_{tag}"] = median / np.median(whole)
        out[f"disp_diff_mean_{tag}"] = mean - whole.mean()
        out[f"disp_diff_median_{tag}"] = median - np.median(whole)
    return out


def ela_distribution(losses: np.ndarray) -> dict:
    """ela_distr (Mersmann et al. 2011): skewness and kurtosis (type 3) and the number of density
    peaks of each set's losses.

    Args:
        losses: [W, S] the sets' losses.

    Returns:
        {"distr_skewness", "distr_kurtosis", "distr_peaks"}: [W] each.
    """
    y = np.asarray(losses, np.float64)
    n = y.shape[1]
    c = y - y.mean(axis=1, keepdims=True)
    m2 = (c**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        skewness = np.sqrt(n) * (c**3).sum(axis=1) / m2**1.5 * (1 - 1 / n) ** 1.5
        kurtosis = n * (c**4).sum(axis=1) / m2**2 * (1 - 1 / n) ** 2 - 3
    return {
        "distr_skewness": skewness,
        "distr_kurtosis": kurtosis,
        "distr_peaks": np.array([density_peaks(row) for row in y], np.float64),
    }


def density_peaks(y: np.ndarray, threshold: float = MODE_MASS) -> int:
    """The modes of y's Gaussian kernel density (Scott's bandwidth, ``KDE_POINTS`` points over the
    range +- 3 bandwidths) whose mass (mean density x width) exceeds ``threshold``.

    Args:
        y: [S] values.
        threshold: the mass a mode needs.

    Returns:
        The number of peaks; 1 for a set of equal values.
    """
    from scipy.stats import gaussian_kde

    if np.ptp(y) == 0:
        return 1
    kernel = gaussian_kde(y)
    reach = 3 * kernel.covariance_factor() * y.std(ddof=1)
    x = np.linspace(y.min() - reach, y.max() + reach, KDE_POINTS)
    d = kernel(x)
    inner = np.arange(1, KDE_POINTS - 1)
    minima = inner[(d[inner] < d[inner - 1]) & (d[inner] < d[inner + 1])]
    edges = np.concatenate([[0], minima, [KDE_POINTS - 1]])
    masses = [d[a : b + 1].mean() * (x[b] - x[a]) for a, b in zip(edges[:-1], edges[1:])]
    return int((np.array(masses) > threshold).sum())


def explained_share(eigenvalues: np.ndarray, columns: int) -> tuple[float, float]:
    """How many components explain ``EXPLAINED`` of the variance, as a share of the columns, and the
    first component's share.

    Args:
        eigenvalues: a covariance or correlation matrix's eigenvalues (any order).
        columns: the matrix's columns.

    Returns:
        (the share of columns needed, the first component's share of the variance).
    """
    ev = np.sort(np.maximum(eigenvalues, 0.0))[::-1]
    total = ev.sum()
    if total <= 0:
        return np.nan, np.nan
    cumulative = np.cumsum(ev) / total
    needed = int(np.argmax(cumulative >= EXPLAINED - 1e-12)) + 1
    return needed / columns, ev[0] / total


def pca_features(positions: np.ndarray, losses: np.ndarray, gram=None) -> dict:
    """The eight pca features of one set (Kerschke and Trautmann; module docstring).

    Args:
        positions: [S, D] the set's positions.
        losses: [S] its losses.
        gram: [S, S] the centred positions' Gram matrix, when the caller has it (D > S: the spectra
            come from the S x S Gram matrices, one product for the correlations, rank-one updates
            for the losses).

    Returns:
        {"pca_cov_x", "pca_cor_x", "pca_cov_init", "pca_cor_init" and their "pca_pc1_*"}: one value
            each.
    """
    n, d = positions.shape
    c = positions - positions.mean(axis=0)
    sd = np.sqrt(np.einsum("ij,ij->j", c, c) / (n - 1))
    scaled = c * (1.0 / np.where(sd > 0, sd, 1.0))
    yc = losses - losses.mean()
    ys = yc / (yc.std(ddof=1) or 1.0)
    out = {}
    for kind, data, y in (("cov", c, yc), ("cor", scaled, ys)):
        if d >= n:  # the nonzero eigenvalues of data^T data are those of data data^T
            small = gram if kind == "cov" and gram is not None else data @ data.T
            spectra = {"x": small, "init": small + np.outer(y, y)}
        else:
            both = np.concatenate([data, y[:, None]], axis=1)
            spectra = {"x": data.T @ data, "init": both.T @ both}
        for name, matrix in spectra.items():
            columns = d + (name == "init")
            ev = np.linalg.eigvalsh(matrix) / (n - 1)
            out[f"pca_{kind}_{name}"], out[f"pca_pc1_{kind}_{name}"] = explained_share(ev, columns)
    return out


def nbc_features(distances: np.ndarray, losses: np.ndarray) -> dict:
    """The five nearest-better-clustering features of one set (Kerschke et al. 2015; module
    docstring).

    Args:
        distances: [S, S] the set's distance matrix.
        losses: [S] its losses.

    Returns:
        {"nbc_sd_ratio", "nbc_mean_ratio", "nbc_cor", "nbc_dist_ratio_cv", "nbc_fitness_cor"}: one
            value each.
    """
    n = len(losses)
    others = distances + np.diag(np.full(n, np.inf))
    nn = others.min(axis=1)
    better = losses[None, :] < losses[:, None]
    masked = np.where(better, others, np.inf)
    target = masked.argmin(axis=1)
    nb = masked[np.arange(n), target]
    has = np.isfinite(nb)
    indegree = np.bincount(target[has], minlength=n).astype(np.float64)
    nb = np.where(has, nb, nn)
    ratio = nn / nb

    def cor(a, b):
        if np.std(a) == 0 or np.std(b) == 0:
            return np.nan
        return float(np.corrcoef(a, b)[0, 1])

    return {
        "nbc_sd_ratio": np.std(nn, ddof=1) / np.std(nb, ddof=1),
        "nbc_mean_ratio": nn.mean() / nb.mean(),
        "nbc_cor": cor(nn, nb),
        "nbc_dist_ratio_cv": np.std(ratio, ddof=1) / ratio.mean(),
        "nbc_fitness_cor": cor(indegree, losses),
    }


def adjusted_r2(design: np.ndarray, y: np.ndarray):
    """The least-squares fit of y on a design with an intercept.

    Args:
        design: [S, p] the model's terms.
        y: [S] the losses.

    Returns:
        (adjusted R^2, coefficients without the intercept [p], intercept); NaN (and no coefficients)
            when S <= p + 1.
    """
    n, p = design.shape
    if n <= p + 1:
        return np.nan, None, np.nan
    a = np.concatenate([np.ones((n, 1)), design], axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    residual = y - a @ coef
    total = ((y - y.mean()) ** 2).sum()
    r2 = 1 - (residual**2).sum() / total if total > 0 else np.nan
    return 1 - (1 - r2) * (n - 1) / (n - p - 1), coef[1:], coef[0]


def pairwise_products(x: np.ndarray) -> np.ndarray:
    """The interaction terms x_i x_j (i < j) of a design.

    Args:
        x: [S, D] positions.

    Returns:
        [S, D (D - 1) / 2] the products.
    """
    i, j = np.triu_indices(x.shape[1], 1)
    return x[:, i] * x[:, j]


def ela_meta(positions: np.ndarray, losses: np.ndarray) -> dict:
    """The nine ela_meta features of one set (Mersmann et al. 2011; module docstring).

    Args:
        positions: [S, D] the set's positions.
        losses: [S] its losses.

    Returns:
        {"meta_lin_adj_r2", "meta_lin_intercept", "meta_lin_coef_min", "meta_lin_coef_max",
            "meta_lin_coef_max_by_min", "meta_quad_adj_r2", "meta_quad_cond",
            "meta_lin_interact_adj_r2", "meta_quad_interact_adj_r2"}: one value each.
    """
    x, y = positions, losses
    if x.shape[1] + 2 > len(y):  # not even the linear model fits: every feature undefined
        names = ["lin_adj_r2", "lin_intercept", "lin_coef_min", "lin_coef_max"]
        names += ["lin_coef_max_by_min", "quad_adj_r2", "quad_cond"]
        names += ["lin_interact_adj_r2", "quad_interact_adj_r2"]
        return {f"meta_{name}": np.nan for name in names}
    lin, coef, intercept = adjusted_r2(x, y)
    out = {"meta_lin_adj_r2": lin, "meta_lin_intercept": intercept}
    magnitude = np.abs(coef) if coef is not None else np.array([np.nan])
    out["meta_lin_coef_min"], out["meta_lin_coef_max"] = magnitude.min(), magnitude.max()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["meta_lin_coef_max_by_min"] = magnitude.max() / magnitude.min()
    d = x.shape[1]
    quad, coef, _ = adjusted_r2(np.concatenate([x, x**2], 1), y)
    out["meta_quad_adj_r2"] = quad
    squares = np.abs(coef[d:]) if coef is not None else np.array([np.nan])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["meta_quad_cond"] = squares.max() / squares.min()
    out["meta_lin_interact_adj_r2"] = out["meta_quad_interact_adj_r2"] = np.nan
    if d + d * (d - 1) // 2 + 1 < len(y):  # the interaction terms, only where they can be fitted
        products = pairwise_products(x)
        out["meta_lin_interact_adj_r2"] = adjusted_r2(np.concatenate([x, products], 1), y)[0]
        full = np.concatenate([x, x**2, products], 1)
        out["meta_quad_interact_adj_r2"] = adjusted_r2(full, y)[0]
    return out


def distance_features(distances: np.ndarray, losses: np.ndarray, bound, *, dim: int) -> dict:
    """FDC, Lunacek and Whitley's dispersion of the best 10% and DM of one set from its distance
    matrix (``fla.metrics.distance`` defines them; positions scaled to [0, 1]^D by the domain [-b,
    b]^D and distances divided by sqrt(D)).

    Args:
        distances: [S, S] the set's distance matrix (unscaled).
        losses: [S] its losses.
        bound: b.
        dim: D.

    Returns:
        {"fdc", "dispersion", "dm"}: one value each.
    """
    to_best = distances[int(np.argmin(losses))]
    fc, dc = losses - losses.mean(), to_best - to_best.mean()
    norm = np.sqrt((fc**2).sum() * (dc**2).sum())
    n = len(losses)
    k = max(2, int(round(BEST_FRACTION * n)))
    best = np.argsort(losses, kind="stable")[:k]
    scale = 2.0 * bound * np.sqrt(dim)
    spread = distances[np.ix_(best, best)].sum() / (k * (k - 1)) / scale
    return {
        "fdc": float((fc * dc).sum() / norm) if norm > 0 else 0.0,
        "dispersion": spread,
        "dm": spread - distances.sum() / (n * (n - 1)) / scale,
    }


def sample_features(positions: np.ndarray, losses: np.ndarray, bound=None) -> dict:
    """Every feature above of many sample sets, one distance matrix a set, sets in chunks of
    ``SET_BYTES``.

    Args:
        positions: [W, S, D] W sets of S samples.
        losses: [W, S] their losses.
        bound: the domain's b, for FDC, dispersion and DM (``distance_features``); None leaves them
            out.

    Returns:
        {feature: [W]}.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    losses = np.asarray(losses, np.float64)
    from threadpoolctl import threadpool_limits

    threads = min(len(losses), os.cpu_count() or 1)  # numpy's products and solvers drop the GIL
    one = lambda w: set_features(positions[w], losses[w], bound)
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
        rows = list(pool.map(one, range(len(losses))))  # a set a core, one BLAS thread each
    out = {name: np.array([r[name] for r in rows], np.float64) for name in rows[0]}
    out.update(ela_distribution(losses))
    return out


def set_features(x: np.ndarray, y: np.ndarray, bound) -> dict:
    """The features of one set but ela_distr's, in float64.

    Args:
        x: [S, D] positions.
        y: [S] losses.
        bound: the domain's b, or None.

    Returns:
        {feature: value}.
    """
    x = np.asarray(x, np.float64)  # one set at a time in float64 (positions may be float32)
    centred = x - x.mean(axis=0)
    gram = centred @ centred.T
    distances = distance_matrix(centred, gram)
    row = {}
    if bound is not None:
        row.update(distance_features(distances, y, bound, dim=x.shape[1]))
    row.update({f"ic_{k}": float(v[0]) for k, v in tour_information(distances, y).items()})
    row.update(dispersion_quantiles(distances, y))
    row.update(pca_features(x, y, gram))
    row.update(nbc_features(distances, y))
    row.update(ela_meta(x, y))
    return row


def undefined_reasons() -> dict:
    """Why a sample feature is NaN for a set, by feature prefix.

    Returns:
        {prefix: why}.
    """
    return {
        "meta_": "the model has more terms than the sample has points less 2 (ela_meta needs "
        "n > p + 1 samples: larger sample sets, or a smaller network)",
        "nbc_": "the nearest-neighbour distances or the losses do not vary",
        "pca_": "the sample has no variance",
    }
