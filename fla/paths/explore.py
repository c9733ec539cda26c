"""Draxler et al.'s landscape exploration (ICML 2018, Sec. 4): connect every minimum to the lowest
one with a path method (AutoNEB by default, any method of ``fla.paths.methods``); then, over and
over, take the highest edge of the minimum spanning tree (MST) of saddle losses, split the tree
there, and connect the closest pair of minima across the two parts that has no path yet; stop when
every pair is known, every MST edge has been tested, or the budget of paths is spent.

Every path is searched with ``fla.paths.search.search`` (checked, retried while it fails). A
pair whose search failed every attempt enters the tree with the lowest path known between the two,
the straight line's saddle (its path row keeps the method's, marked failed).

    >>> paths, tree = explore(Energy(loss), minima, losses, AutoNEB(), budget=20)
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from fla.paths.record import Energy
from fla.paths.search import search


def edge_saddle(path) -> float:
    """The saddle loss a pair enters the tree with: its path's, or for a failed search the lowest
    known, the straight line's.

    Args:
        path: the pair's ``PathRecord``.

    Returns:
        The saddle loss.
    """
    if path.failed and path.line_saddle_loss is not None:
        return min(path.saddle_loss, path.line_saddle_loss)
    return path.saddle_loss


def spanning_tree(n: int, edges: dict) -> list[tuple[int, int, float]]:
    """The minimum spanning tree of the known paths' saddle losses (scipy's
    ``minimum_spanning_tree``).

    Args:
        n: the number of minima.
        edges: {(a, b): saddle loss} of the pairs connected.

    Returns:
        [(a, b, saddle)], the highest saddle first.
    """
    if not edges:
        return []
    shift = min(edges.values())
    # positive weights
    rows, cols, weights = zip(*[(a, b, s - shift + 1.0) for (a, b), s in edges.items()])
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
    *,
    method=None,
    budget: int = 20,
    on_path=None,
):
    """Draxler et al.'s landscape exploration (ICML 2018, Sec. 4; module docstring).

    Args:
        energy: the ``Energy`` of the loss.
        minima: [M, D] the minima, lowest first.
        losses: [M] their losses.
        method: the path method (default AutoNEB at its defaults).
        budget: the most paths searched.
        on_path: called as on_path(a, b, path) after each search.

    Returns:
        ({(a, b): PathRecord}, the tree's edges (``spanning_tree``)).
    """
    from fla.paths.neb import AutoNEB

    method = method or AutoNEB()
    n = len(minima)
    lowest = int(np.argmin(losses))
    paths: dict = {}

    def connect(a, b):
        a, b = min(a, b), max(a, b)
        paths[(a, b)] = search(energy, method, minima[a], b=minima[b])
        if on_path:
            on_path(a, b, paths[(a, b)])

    for i in range(n):
        if i != lowest and len(paths) < budget:
            connect(lowest, i)
    tested = set()
    while len(paths) < min(budget, n * (n - 1) // 2):
        tree = spanning_tree(n, {k: edge_saddle(p) for k, p in paths.items()})
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
    return paths, spanning_tree(n, {k: edge_saddle(p) for k, p in paths.items()})
