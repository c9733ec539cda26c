"""Measures of uniform samples that need their positions.

- Fitness-distance correlation (Jones and Forrest 1995): the Pearson correlation between the
  samples' losses and their Euclidean distances to the best (lowest-loss) sample; 1 for a sphere
  around its minimum (loss grows with distance), near 0 where distance says nothing of loss.
- Dispersion (Lunacek and Whitley 2006) of the best samples: the mean pairwise distance among the
  ``fraction`` (10%) lowest-loss samples, positions scaled to [0, 1]^D by the domain [-b, b]^D
  and distances divided by sqrt(D); and Malan's dispersion metric DM = dispersion of the best
  minus dispersion of all samples (negative: the good points cluster, a single funnel).

Positions are [W, S, D] (W sample sets of S points), losses [W, S]; one value per set.

    >>> fdc = fitness_distance_correlation(positions, losses)
    >>> best, dm = dispersion(positions, losses, bound=1.0)
"""

from __future__ import annotations

import numpy as np


def fitness_distance_correlation(positions: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """Fitness-distance correlation (Jones and Forrest 1995) of each sample set: the Pearson
    correlation between the losses and the distances to the set's lowest-loss sample.

    Args:
        positions: [W, S, D] W sets of S samples in D dimensions.
        losses: [W, S] their losses.

    Returns:
        [W] FDC in [-1, 1]; 0 for a set whose losses or distances are all equal (never NaN).
    """
    x, f = np.asarray(positions, np.float64), np.asarray(losses, np.float64)
    best = np.take_along_axis(x, f.argmin(axis=1)[:, None, None], axis=1)
    d = np.linalg.norm(x - best, axis=2)
    fc, dc = f - f.mean(axis=1, keepdims=True), d - d.mean(axis=1, keepdims=True)
    norm = np.sqrt((fc**2).sum(axis=1) * (dc**2).sum(axis=1))
    return np.where(norm > 0, (fc * dc).sum(axis=1) / np.where(norm > 0, norm, 1.0), 0.0)


def distance_matrix(points: np.ndarray, gram=None) -> np.ndarray:
    """Euclidean distances between points, from their Gram matrix (one product; any centring of the
    points gives the same distances).

    Args:
        points: [S, D] S points in D dimensions.
        gram: [S, S] their Gram matrix ``points @ points.T`` if already known.

    Returns:
        [S, S] the distances, 0 on the diagonal.
    """
    gram = points @ points.T if gram is None else gram
    squares = np.diag(gram)
    d2 = np.maximum(squares[:, None] + squares[None, :] - 2.0 * gram, 0.0)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


def mean_pairwise_distance(points: np.ndarray) -> np.ndarray:
    """The mean Euclidean distance over the pairs of each set of points, from each set's Gram matrix
    (one product a set: bounded memory whatever D).

    Args:
        points: [W, K, D] W sets of K points in D dimensions.

    Returns:
        [W] the mean over the K (K - 1) ordered pairs of each set.
    """
    k = points.shape[1]
    out = np.empty(len(points))
    for w, part in enumerate(points):
        centred = part - part.mean(axis=0)
        out[w] = distance_matrix(centred).sum() / max(1, k * (k - 1))
    return out


BEST_FRACTION = 0.1  # the share of a set's samples whose dispersion is measured


def dispersion(positions, losses, bound: float, *, fraction: float = BEST_FRACTION):
    """Dispersion of the best samples (Lunacek and Whitley 2006) and Malan's dispersion metric DM,
    positions scaled to [0, 1]^D by the domain and distances divided by sqrt(D).

    Args:
        positions: [W, S, D] W sets of S samples in [-bound, bound]^D.
        losses: [W, S] their losses.
        bound: b of the domain [-b, b]^D.
        fraction: the share of each set's lowest-loss samples whose dispersion is measured (at least
            two samples).

    Returns:
        (dispersion, DM): [W] each, DM = the best samples' dispersion minus all samples' (negative:
            the good points cluster, a single funnel).
    """
    x = (np.asarray(positions, np.float64) + bound) / (2.0 * bound)
    scale = np.sqrt(x.shape[2])
    k = max(2, int(round(fraction * x.shape[1])))
    order = np.argsort(np.asarray(losses), axis=1, kind="stable")[:, :k]
    best = mean_pairwise_distance(np.take_along_axis(x, order[:, :, None], axis=1)) / scale
    return best, best - mean_pairwise_distance(x) / scale
