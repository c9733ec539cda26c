"""Minima of a sampling run: candidates polished and merged (Draxler et al., ICML 2018, Sec. 3).

1. Candidates: the walk endpoints of a run (endpoints.parquet), optionally with its low-gradient
   points (which need --record-params).
2. Polishing (``polish``): all candidates are minimised together with L-BFGS on the sum of their
   losses (independent, so the gradient of the sum is the stack of per-point gradients; one batched
   evaluation a step), until the largest gradient norm is below ``gtol``.
3. Merging (``merge``): hidden units are put into a canonical order (each hidden layer's units
   sorted by bias, the permutation carried to the next layer), since networks that differ only by a
   permutation of hidden units compute the same function; then minima whose losses differ by at most
   ``loss_tol`` and whose canonical parameters lie within ``distance_tol`` (relative to their norm)
   are one minimum, kept at its lowest-loss member's canonical parameters.

Exploration, the step after these, is ``fla.paths.explore``.
"""

from __future__ import annotations

import numpy as np

from fla.paths.record import Energy

# Without an L2 term a cross-entropy reaches 0 only as the weights grow without bound: a polished or
# quenched loss below this lies in that asymptotic basin, not at an isolated minimum
VANISHING_LOSS = 1e-6


def _lbfgs(energy: Energy, points: np.ndarray, gtol: float, *, max_iter: int):
    """One joint L-BFGS run: (end points, each point's last finite position, which ever went
    non-finite)."""
    import scipy.optimize  # here, not at import: the command line builds its parser from this wing

    shape = points.shape
    last, touched = points.copy(), np.zeros(len(points), bool)

    def fun(flat):
        x = flat.reshape(shape)
        values, grads = energy(x)
        finite = np.isfinite(values) & np.isfinite(grads).all(axis=1)
        last[finite] = x[finite]
        touched[~finite] = True
        if not finite.all():
            return np.inf, np.zeros(flat.shape)  # the line search backtracks
        return values.sum(), grads.ravel()

    result = scipy.optimize.minimize(
        fun,
        points.ravel(),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": gtol / np.sqrt(shape[1]), "ftol": 0.0},
    )
    return result.x.reshape(shape), last, touched


def polish(energy: Energy, points: np.ndarray, gtol: float = 1e-5, *, max_iter: int = 2000):
    """Minimise every point at once (scipy's L-BFGS-B on the summed loss, whose gradient is each
    point's own).

    Non-finite values: an evaluation with a non-finite loss or gradient counts as +inf, so that the
    line search backtracks. Since one such point stalls the joint search, the points that met one
    are then polished one by one and the others together again from where they stopped; a point
    whose loss or gradient is still non-finite at the end is returned at its last finite position (a
    non-finite start stays as it was, for the caller to drop).

    Args:
        energy: the ``Energy`` of the loss.
        points: [B, D] the starts.
        gtol: the largest gradient norm of a minimum.
        max_iter: the most L-BFGS iterations.

    Returns:
        (minima [B, D], losses [B], gradient norms [B]).
    """
    points = np.asarray(points, np.float64)
    minima, last, touched = _lbfgs(energy, points, gtol, max_iter=max_iter)
    if touched.any():
        if (~touched).any():
            minima[~touched] = _lbfgs(energy, minima[~touched], gtol, max_iter=max_iter)[0]
        for i in np.flatnonzero(touched):
            minima[i], last[i] = (
                part[0] for part in _lbfgs(energy, last[i : i + 1], gtol, max_iter=max_iter)[:2]
            )
    values, grads = energy(minima)
    bad = ~(np.isfinite(values) & np.isfinite(grads).all(axis=1))
    if bad.any():
        minima[bad] = last[bad]
        values[bad], grads[bad] = energy(minima[bad])
    return minima, values, np.linalg.norm(grads, axis=1)


def canonical(network, theta: np.ndarray) -> np.ndarray:
    """One representative of each network's relabellings: each hidden layer's units sorted by bias
    (the permutation carried onward to the next layer's weights).

    Args:
        network: the ``fla.core.networks.MLP``.
        theta: [B, D] parameters.

    Returns:
        [B, D] the same functions, units in canonical order.
    """
    theta = np.array(theta, copy=True)
    slices, layers = network.slices(), network.layers
    for k in range(len(layers) - 1):
        (w, b), (fan_in, fan_out) = slices[k], layers[k]
        (w_next, _), (_, next_out) = slices[k + 1], layers[k + 1]
        order = np.argsort(theta[:, b], axis=1)
        rows = np.arange(len(theta))[:, None]
        weights = theta[:, w].reshape(-1, fan_in, fan_out)
        theta[:, w] = np.take_along_axis(weights, order[:, None, :], axis=2).reshape(len(theta), -1)
        theta[:, b] = theta[rows, b.start + order]
        following = theta[:, w_next].reshape(-1, fan_out, next_out)
        theta[:, w_next] = np.take_along_axis(following, order[:, :, None], axis=1).reshape(
            len(theta), -1
        )
    return theta


def merge(
    theta: np.ndarray,
    losses: np.ndarray,
    loss_tol: float = 1e-4,
    *,
    distance_tol: float = 1e-3,
    align=None,
):
    """Groups of duplicate minima. Two minima are one when their losses differ by at most
    ``loss_tol`` and their distance is at most ``distance_tol`` times the kept one's norm (at least
    1).

    Args:
        theta: [M, D] minima in canonical order (``canonical``); the lowest of a group is kept.
        losses: [M] their losses.
        loss_tol: the most loss difference.
        distance_tol: the most distance, relative to the kept minimum's norm.
        align: (kept, other) -> other relabelled towards kept (``fla.paths.alignment``), to measure
            the distance up to the networks' symmetry where a canonical order alone cannot (units
            whose biases tie); only pairs the canonical order leaves apart are aligned.

    Returns:
        (kept indices into theta, the group label of every minimum).
    """
    order = np.argsort(losses, kind="stable")
    labels = -np.ones(len(theta), int)
    kept = []
    for i in order:
        for group, j in enumerate(kept):
            scale = max(np.linalg.norm(theta[j]), 1.0)
            if abs(losses[i] - losses[j]) > loss_tol:
                continue
            near = lambda other: np.linalg.norm(other - theta[j]) <= distance_tol * scale
            # aligned only where the canonical order alone leaves them apart (a matching costs
            # milliseconds; candidates times minima of them add up)
            if near(theta[i]) or (align is not None and near(align(theta[j], theta[i]))):
                labels[i] = group
                break
        else:
            labels[i] = len(kept)
            kept.append(i)
    return np.array(kept), labels
