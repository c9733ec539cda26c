"""The reduced Hessian of an MLP objective at given points: the Hessian on the complement of the
exact null directions every point of the network has (``fla.core.symmetries``), whose classes
(``fla.curvature.classes.reduced_codes``) say what the data does beyond the architecture.

- ``null_counts``: the number of null directions at each point (none under a penalty, which
  curves every direction, the symmetries' too);
- ``extremes``: eig_min and eig_max of the Hessian and of the reduced Hessian by batched
  Lanczos on the reduced Hessian (the projection applied to every Krylov vector). The full
  spectrum is the reduced one and the null directions' zeros, so the full extremes are the
  reduced ones with 0 wherever there are null directions.

    >>> nulls = null_counts(objective, theta, x)                  # theta [B, D]
    >>> found = extremes(objective, theta, x, y, tol=1e-3, steps=100)
"""

from __future__ import annotations

import numpy as np


def null_counts(objective, theta: np.ndarray, x) -> np.ndarray:
    """The exact null directions of an objective's Hessian at each point (``fla.core.symmetries``).

    Args:
        objective: an ``fla.core.objective.Objective``.
        theta: [B, D] the points.
        x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set per point.

    Returns:
        [B] integer counts; 0 where the objective has a penalty (which curves every direction).
    """
    from fla.core.symmetries import null_directions

    if objective.regulariser.active:  # a penalty curves the symmetries' directions too
        return np.zeros(len(theta), np.int64)
    return null_directions(objective.network, theta, x)["total"]


def extremes(objective, theta: np.ndarray, x, *, y, tol: float, steps: int, seed: int = 0) -> dict:
    """The extreme eigenvalues of the Hessian and of the reduced Hessian at each point, by batched
    Lanczos on the reduced Hessian (the null directions projected out of every Krylov vector).

    Args:
        objective: an ``fla.core.objective.Objective``.
        theta: [B, D] the points.
        x: [N, n_in] or [B, N, n_in] the patterns.
        y: the matching labels.
        tol: the relative accuracy asked of Lanczos (``fla.curvature.lanczos.Hessian.eigenvalues``).
        steps: the most Lanczos steps.
        seed: the start vectors' seed.

    Returns:
        {"eig_min", "eig_max"} (the Hessian's: the reduced ones with 0 wherever there are null
            directions), {"reduced_min", "reduced_max"}, "converged" and "nulls": [B] each.
    """
    from fla.core.symmetries import projector
    from fla.curvature.lanczos import Hessian

    nulls = null_counts(objective, theta, x)
    project = projector(objective.network, theta, x) if nulls.any() else None
    h = Hessian(objective, theta, x, y=y, seed=seed, project=project, nulls=nulls)
    result = h.eigenvalues(k=1, tol=tol, max_steps=steps)
    low, high = result["min"][:, 0], result["max"][:, 0]
    some = nulls > 0
    return {
        "eig_min": np.where(some, np.minimum(low, 0.0), low),
        "eig_max": np.where(some, np.maximum(high, 0.0), high),
        "reduced_min": low,
        "reduced_max": high,
        "converged": result["converged"],
        "nulls": nulls,
    }
