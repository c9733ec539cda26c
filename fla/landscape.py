"""Minima of a sampling run and the paths that connect them (Draxler et al., ICML 2018, Sec. 3-4).

1. Candidates: the walk endpoints of a run (endpoints.parquet), optionally with its low-gradient
   points (which need --record-params).
2. Polishing (:func:`polish`): all candidates are minimised together with L-BFGS on the sum of their
   losses (independent, so the gradient of the sum is the stack of per-point gradients; one batched
   evaluation a step), until the largest gradient norm is below ``gtol``.
3. Merging (:func:`merge`): hidden units are put into a canonical order (each hidden layer's units
   sorted by bias, the permutation carried to the next layer), since networks that differ only by a
   permutation of hidden units compute the same function; then minima whose losses differ by at most
   ``loss_tol`` and whose canonical parameters lie within ``distance_tol`` (relative to their norm)
   are one minimum, kept at its lowest-loss member's canonical parameters.
4. Exploration (:func:`explore`): connect every minimum to the lowest one with a path method
   (AutoNEB by default, any method of :mod:`fla.paths`); then, over and
   over, take the highest edge of the minimum spanning tree (MST) of saddle losses, split the tree
   there, and connect the closest pair of minima across the two parts that has no path yet; stop
   when every pair is known, every MST edge has been tested, or the budget of paths is spent.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from .paths import Energy


def _lbfgs(energy: Energy, points: np.ndarray, gtol: float, max_iter: int):
    """One joint L-BFGS run: (end points, each point's last finite position, which ever went
    non-finite)."""
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


def polish(energy: Energy, points: np.ndarray, gtol: float = 1e-5, max_iter: int = 2000):
    """Minimise every point [B, D] at once (L-BFGS on the summed loss); returns (minima, losses,
    grad norms).

    Non-finite values: an evaluation with a non-finite loss or gradient counts as +inf, so that the
    line search backtracks. Since one such point stalls the joint search, the points that met one
    are then polished one by one and the others together again from where they stopped; a point
    whose loss or gradient is still non-finite at the end is returned at its last finite position (a
    non-finite start stays as it was, for the caller to drop)."""
    points = np.asarray(points, np.float64)
    minima, last, touched = _lbfgs(energy, points, gtol, max_iter)
    if touched.any():
        if (~touched).any():
            minima[~touched] = _lbfgs(energy, minima[~touched], gtol, max_iter)[0]
        for i in np.flatnonzero(touched):
            minima[i], last[i] = (
                part[0] for part in _lbfgs(energy, last[i : i + 1], gtol, max_iter)[:2]
            )
    values, grads = energy(minima)
    bad = ~(np.isfinite(values) & np.isfinite(grads).all(axis=1))
    if bad.any():
        minima[bad] = last[bad]
        values[bad], grads[bad] = energy(minima[bad])
    return minima, values, np.linalg.norm(grads, axis=1)


def canonical(network, theta: np.ndarray) -> np.ndarray:
    """theta [B, D] with each hidden layer's units sorted by bias (the permutation carried
    onward)."""
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
    theta: np.ndarray, losses: np.ndarray, loss_tol: float = 1e-4, distance_tol: float = 1e-3
):
    """Groups of duplicate minima: returns (kept indices into theta, group label of every
    minimum)."""
    order = np.argsort(losses, kind="stable")
    labels = -np.ones(len(theta), int)
    kept = []
    for i in order:
        for group, j in enumerate(kept):
            scale = max(np.linalg.norm(theta[j]), 1.0)
            if (
                abs(losses[i] - losses[j]) <= loss_tol
                and np.linalg.norm(theta[i] - theta[j]) <= distance_tol * scale
            ):
                labels[i] = group
                break
        else:
            labels[i] = len(kept)
            kept.append(i)
    return np.array(kept), labels


def spanning_tree(n: int, edges: dict) -> list[tuple[int, int, float]]:
    """MST of the known paths' saddle losses: [(a, b, saddle)], highest saddle first."""
    if not edges:
        return []
    shift = min(edges.values())
    rows, cols, weights = zip(
        *[(a, b, s - shift + 1.0) for (a, b), s in edges.items()]
    )  # positive weights
    tree = minimum_spanning_tree(csr_matrix((weights, (rows, cols)), shape=(n, n))).tocoo()
    out = [
        (int(min(a, b)), int(max(a, b)), float(w + shift - 1.0))
        for a, b, w in zip(tree.row, tree.col, tree.data)
    ]
    return sorted(out, key=lambda e: -e[2])


def explore(
    energy: Energy,
    minima: np.ndarray,
    losses: np.ndarray,
    method=None,
    budget: int = 20,
    on_path=None,
):
    """Draxler et al.'s landscape exploration with ``method`` (default AutoNEB's defaults).
    Returns (paths {(a, b): Path}, tree edges)."""
    from .neb import AutoNEB

    method = method or AutoNEB()
    n = len(minima)
    lowest = int(np.argmin(losses))
    paths: dict = {}

    def connect(a, b):
        a, b = min(a, b), max(a, b)
        paths[(a, b)] = method.connect(energy, minima[a], minima[b])
        if on_path:
            on_path(a, b, paths[(a, b)])

    for i in range(n):
        if i != lowest and len(paths) < budget:
            connect(lowest, i)
    tested = set()
    while len(paths) < min(budget, n * (n - 1) // 2):
        tree = spanning_tree(n, {k: p.saddle_loss for k, p in paths.items()})
        candidate = None
        for a, b, _ in tree:
            if (a, b) in tested:
                continue
            tested.add((a, b))
            rest = [(x, y) for x, y, _ in tree if (x, y) != (a, b)]
            graph = csr_matrix(
                (np.ones(len(rest)), ([x for x, _ in rest], [y for _, y in rest])), shape=(n, n)
            )
            _, part = connected_components(graph, directed=False)
            left, right = np.flatnonzero(part == part[a]), np.flatnonzero(part == part[b])
            pairs = [
                (min(u, v), max(u, v))
                for u in left
                for v in right
                if (min(u, v), max(u, v)) not in paths
            ]
            if pairs:
                candidate = min(pairs, key=lambda p: np.linalg.norm(minima[p[0]] - minima[p[1]]))
                break
        if candidate is None:
            break
        connect(*candidate)
    return paths, spanning_tree(n, {k: p.saddle_loss for k, p in paths.items()})
