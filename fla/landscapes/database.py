"""The database of one (N_h, lambda): minima and transition states merged up to the network's
symmetries (Mehta, Zhao, Bernal and Wales 2018, as GMIN and OPTIM keep theirs).

Two stationary points are one when their losses agree within ``loss_tol`` (relative) and, after
``fla.landscapes.model.align`` moves one onto its nearest symmetry-equivalent copy of the
other, their positions agree within max(distance_tol x |theta|, 10 gtol / |lambda|_min): a point
quenched to a gradient norm of gtol lies about gtol / |lambda|_min from the stationary point along
its flattest direction. Minima are stored in canonical form (``canonical_tanh``).

    >>> db = Database(mehta_network(3), gtol=1e-7)
    >>> db.add_minimum(loss, theta, eigenvalues)          # its id, new or found
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fla.core.networks import MLP
from fla.landscapes.model import align, canonical_tanh


def hessian_eigenvalues(f, theta: np.ndarray) -> np.ndarray:
    """Exact Hessian eigenvalues in float64.

    Args:
        f: the landscape's objective.
        theta: [B, D] (or [D]) points.

    Returns:
        [B, D] ascending eigenvalues.
    """
    return np.linalg.eigvalsh(f.hessian(np.atleast_2d(theta)).numpy())


@dataclass
class Database:
    """Minima and transition states of one (N_h, lambda), merged up to the network's symmetries."""

    network: MLP
    gtol: float = 1e-7
    loss_tol: float = 1e-7
    distance_tol: float = 1e-3
    minima: list = field(default_factory=list)  # dicts: loss, params, eigenvalues, hits, found_by
    transition_states: list = field(default_factory=list)  # dicts: loss, params, eigenvalues, a, b

    def same(
        self, stored: dict, loss: float, params: np.ndarray, *, eigenvalues: np.ndarray
    ) -> bool:
        """Whether a point is ``stored`` (module docstring): losses within ``loss_tol`` (relative)
        and, after alignment, positions within max(distance_tol x |theta|, 10 gtol / |lambda|_min).

        Args:
            stored: a stored minimum or transition state.
            loss: the point's loss.
            params: [D] its parameters.
            eigenvalues: [D] its Hessian's eigenvalues.

        Returns:
            True when they are one stationary point.
        """
        if abs(stored["loss"] - loss) > self.loss_tol * max(1.0, abs(loss)):
            return False
        flattest = max(np.abs(np.concatenate([stored["eigenvalues"], eigenvalues])).min(), 1e-12)
        tolerance = max(
            self.distance_tol * max(np.linalg.norm(stored["params"]), 1.0),
            10 * self.gtol / flattest,
        )
        return (
            np.linalg.norm(stored["params"] - align(self.network, stored["params"], params))
            <= tolerance
        )

    def find(self, loss: float, params: np.ndarray, eigenvalues: np.ndarray) -> int:
        """The stored minimum equal to a point up to the symmetries.

        Args:
            loss: the point's loss.
            params: [D] its parameters.
            eigenvalues: [D] its Hessian's eigenvalues.

        Returns:
            Its id, or -1.
        """
        return next(
            (
                i
                for i, m in enumerate(self.minima)
                if self.same(m, loss, params, eigenvalues=eigenvalues)
            ),
            -1,
        )

    def add_minimum(
        self, loss: float, params: np.ndarray, eigenvalues: np.ndarray, *, found_by: str = "quench"
    ) -> int:
        """Store a minimum (in canonical form) unless it is known; a known one counts another hit.

        Args:
            loss: its loss.
            params: [D] its parameters.
            eigenvalues: [D] its Hessian's eigenvalues.
            found_by: what found it first (start, seed, hop, restart, descent).

        Returns:
            Its id, new or found.
        """
        found = self.find(loss, params, eigenvalues)
        if found >= 0:
            self.minima[found]["hits"] += 1
            return found
        canon = canonical_tanh(self.network, params[None])[0]
        self.minima.append(
            {
                "loss": float(loss),
                "params": canon,
                "eigenvalues": eigenvalues,
                "hits": 1,
                "found_by": found_by,
            }
        )
        return len(self.minima) - 1

    def add_transition_state(self, loss, params, eigenvalues, *, a: int, b: int) -> bool:
        """Store a transition state unless an equal one (``same``) is known.

        Args:
            loss: its loss.
            params: [D] its parameters.
            eigenvalues: [D] its Hessian's eigenvalues (exactly one negative).
            a: the stored minimum one descent reaches.
            b: the stored minimum the other reaches.

        Returns:
            True if it was new.
        """
        if not (0 <= a < len(self.minima) and 0 <= b < len(self.minima)) or a == b:
            raise ValueError(f"a transition state joins two stored minima, not {a} and {b}")
        if any(self.same(t, loss, params, eigenvalues=eigenvalues) for t in self.transition_states):
            return False
        self.transition_states.append(
            {
                "loss": float(loss),
                "params": canonical_tanh(self.network, params[None])[0],
                "eigenvalues": eigenvalues,
                "a": int(a),
                "b": int(b),
            }
        )
        return True

    def components(self) -> np.ndarray:
        """The connected components of the transition-state graph.

        Returns:
            [n_minima] each minimum's component label.
        """
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        n = len(self.minima)
        edges = [(t["a"], t["b"]) for t in self.transition_states if t["a"] >= 0 and t["b"] >= 0]
        graph = csr_matrix(
            (np.ones(len(edges)), ([a for a, _ in edges], [b for _, b in edges])), shape=(n, n)
        )
        return connected_components(graph, directed=False)[1]
