"""Minima and transition states of small networks, with the tools of molecular energy landscapes:
Mehta, Zhao, Bernal and Wales, "Loss surface of XOR artificial neural networks", Phys. Rev. E 97,
052307 (2018).

The model (their Sec. II): a 2-N_h-2 network with tanh hidden units and a two-way softmax output on
the four XOR patterns, with the loss of their Eq. (3): the mean cross-entropy plus lambda |theta|^2
over *all* parameters. For lambda > 0 the minima are isolated up to the network's discrete
symmetries, which the database factors out (:func:`canonical_tanh`): permutations of hidden units,
and for each unit the sign flip of its incoming weights, bias and outgoing weights (tanh is odd).

- :func:`basin_hopping` (Li and Scheraga 1987; Wales and Doye 1997, as in GMIN): ``chains`` chains
  at
  once over a [chains, D] batch; each step perturbs every chain's current minimum by a uniform
  displacement in [-s, s]^D (s adapted per chain), quenches all of them together by L-BFGS to a
  gradient norm below ``gtol``, and accepts with the Metropolis rule at a fictitious temperature T.
  Every quenched point whose Hessian has no negative eigenvalue enters the database.
- :func:`transition_state` (as OPTIM does): a climbing-image NEB between two minima, the second
  first
  moved to its symmetry-equivalent copy nearest the first (:func:`align`, as OPTIM aligns
  permutational isomers), then refinement of its climbing image to a true index-1 saddle by
  eigenvector-following on the exact Hessian (partitioned rational-function optimisation: maximise
  along the lowest mode, minimise along the others; Baker, J. Comput. Chem. 7, 385 (1986)), with a
  trust radius; accepted when the gradient norm is below ``gtol`` and the Hessian has exactly one
  negative eigenvalue. From it, quenches started at +-``displacement`` along the negative
  eigenvector find the two minima it connects.
- :func:`connect_unconnected` (the "connect unconnected minima" strategy of discrete path sampling,
  Wales 2002 and PATHSAMPLE): repeatedly take the lowest minimum not yet connected to the global
  minimum and search for a transition state between it and its nearest minimum (in canonical
  coordinates) that is connected, until all are connected or the budget of searches is spent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .landscape import canonical, polish
from .networks import MLP
from .paths import Energy

EIG_TOL = (
    1e-8  # eigenvalues below -EIG_TOL x max|eigenvalue| count as negative, |.| below it as zero
)
# a hidden unit is connected when its incoming and outgoing weights both exceed this (norm)
UNIT_TOL = 1e-3


def xor_two_way():
    """XOR with the two-way softmax output of Mehta et al. (classes 0 and 1, 2 outputs)."""
    from .problems import xor

    return dataclasses.replace(xor(), name="xor", n_outputs=2, kind="multiclass")


def mehta_network(hidden: int) -> MLP:
    return MLP(2, hidden, 1, 2, activation="tanh")


def objective(hidden: int, l2: float):
    """The loss of Mehta et al.'s Eq. (3) for a 2-hidden-2 tanh network, in float64."""
    import tensorflow as tf

    from .objective import Objective

    return Objective(mehta_network(hidden), xor_two_way(), tf.float64, l2=l2)


def canonical_tanh(network: MLP, theta: np.ndarray) -> np.ndarray:
    """theta [B, D] with every hidden unit's sign fixed (bias >= 0; a zero bias takes the sign of
    the first non-zero incoming weight) and units sorted by bias: one representative of the
    2^N_h N_h! equivalent parameter vectors per hidden layer."""
    theta = np.array(theta, np.float64, copy=True)
    slices, layers = network.slices(), network.layers
    for k in range(len(layers) - 1):
        (w, b), (fan_in, fan_out) = slices[k], layers[k]
        (w_next, _), (_, next_out) = slices[k + 1], layers[k + 1]
        weights = theta[:, w].reshape(-1, fan_in, fan_out)
        key = theta[:, b].copy()
        for i in range(fan_in):  # a zero bias: the first non-zero incoming weight decides
            key = np.where(key == 0, weights[:, i, :], key)
        sign = np.where(key < 0, -1.0, 1.0)
        theta[:, w] = (weights * sign[:, None, :]).reshape(len(theta), -1)
        theta[:, b] *= sign
        following = theta[:, w_next].reshape(-1, fan_out, next_out)
        theta[:, w_next] = (following * sign[:, :, None]).reshape(len(theta), -1)
    return canonical(network, theta)


def units(network: MLP, theta: np.ndarray) -> np.ndarray:
    """Each hidden unit's incoming weights, bias and outgoing weights, [N_h, n_in + 1 + n_out] (one
    hidden layer)."""
    (w, b), (w2, _) = network.slices()[:2]
    (fan_in, hidden), (_, out) = network.layers[:2]
    return np.concatenate(
        [theta[w].reshape(fan_in, hidden).T, theta[b][:, None], theta[w2].reshape(hidden, out)],
        axis=1,
    )


def with_units(network: MLP, theta: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """theta with its hidden units replaced by ``rows`` (the inverse of :func:`units`)."""
    (w, b), (w2, _) = network.slices()[:2]
    (fan_in, hidden), (_, out) = network.layers[:2]
    theta = np.array(theta, np.float64, copy=True)
    theta[w] = rows[:, :fan_in].T.ravel()
    theta[b] = rows[:, fan_in]
    theta[w2] = rows[:, fan_in + 1 :].ravel()
    return theta


def align(network: MLP, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The image of b under hidden-unit permutations and tanh sign flips closest to a (Euclidean):
    per
    pair of units the better sign, then the best permutation as a linear assignment problem
    (exact)."""
    from scipy.optimize import linear_sum_assignment

    ua, ub = units(network, a), units(network, b)
    plus = ((ua[:, None] - ub[None]) ** 2).sum(-1)
    minus = ((ua[:, None] + ub[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(np.minimum(plus, minus))
    signs = np.where(minus[rows, cols] < plus[rows, cols], -1.0, 1.0)
    return with_units(network, b, ub[cols] * signs[:, None])


def connected_units(network: MLP, theta: np.ndarray) -> np.ndarray:
    """Hidden units [B] whose incoming weights and outgoing weights both have norm > UNIT_TOL."""
    (w, _), (w2, _) = network.slices()[:2]
    (fan_in, hidden), (_, out) = network.layers[:2]
    incoming = np.linalg.norm(theta[:, w].reshape(-1, fan_in, hidden), axis=1)
    outgoing = np.linalg.norm(theta[:, w2].reshape(-1, hidden, out), axis=2)
    return ((incoming > UNIT_TOL) & (outgoing > UNIT_TOL)).sum(axis=1)


def auc(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Area under the ROC curve [B] of scores [B, N] for binary labels [N] (Mann-Whitney, ties
    1/2)."""
    pos, neg = scores[:, labels == 1], scores[:, labels == 0]
    above, ties = pos[:, :, None] > neg[:, None, :], pos[:, :, None] == neg[:, None, :]
    return above.mean(axis=(1, 2)) + 0.5 * ties.mean(axis=(1, 2))


def hessian_eigenvalues(f, theta: np.ndarray) -> np.ndarray:
    """Exact Hessian eigenvalues [B, D] (ascending) in float64."""
    return np.linalg.eigvalsh(f.hessian(np.atleast_2d(theta)).numpy())


def index_of(eigenvalues: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(number of negative eigenvalues, number of zero eigenvalues) [B], relative to EIG_TOL."""
    scale = np.abs(eigenvalues).max(axis=1, keepdims=True) + 1e-300
    return (eigenvalues < -EIG_TOL * scale).sum(axis=1), (
        np.abs(eigenvalues) <= EIG_TOL * scale
    ).sum(axis=1)


@dataclass
class Database:
    """Minima and transition states of one (N_h, lambda), merged up to the network's symmetries."""

    network: MLP
    gtol: float = 1e-7
    loss_tol: float = 1e-7
    distance_tol: float = 1e-3
    minima: list = field(default_factory=list)  # dicts: loss, params (canonical), eigenvalues, hits
    transition_states: list = field(default_factory=list)  # dicts: loss, params, eigenvalues, a, b

    def same(self, stored: dict, loss: float, params: np.ndarray, eigenvalues: np.ndarray) -> bool:
        """Equal losses (within loss_tol, relative) and, after :func:`align`, positions within
        max(distance_tol x |theta|, 10 gtol / |lambda|_min): a point quenched to a gradient norm of
        gtol lies about gtol / |lambda|_min from the stationary point along its flattest
        direction."""
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
        """Index of the stored minimum equal to (loss, params) up to the symmetries, or -1."""
        return next(
            (i for i, m in enumerate(self.minima) if self.same(m, loss, params, eigenvalues)), -1
        )

    def add_minimum(self, loss: float, params: np.ndarray, eigenvalues: np.ndarray) -> int:
        found = self.find(loss, params, eigenvalues)
        if found >= 0:
            self.minima[found]["hits"] += 1
            return found
        canon = canonical_tanh(self.network, params[None])[0]
        self.minima.append(
            {"loss": float(loss), "params": canon, "eigenvalues": eigenvalues, "hits": 1}
        )
        return len(self.minima) - 1

    def add_transition_state(self, loss, params, eigenvalues, a: int, b: int) -> bool:
        """Stores it unless an equal transition state (as :meth:`same` decides) is known."""
        if any(self.same(t, loss, params, eigenvalues) for t in self.transition_states):
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
        """Label [n_minima] of each minimum's connected component in the transition-state graph."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        n = len(self.minima)
        edges = [(t["a"], t["b"]) for t in self.transition_states if t["a"] >= 0 and t["b"] >= 0]
        graph = csr_matrix(
            (np.ones(len(edges)), ([a for a, _ in edges], [b for _, b in edges])), shape=(n, n)
        )
        return connected_components(graph, directed=False)[1]


def energy_of(f) -> Energy:
    """One Energy per objective, so that its compiled programs are traced once, not once per
    search."""
    if getattr(f, "_energy", None) is None:
        f._energy = Energy(f, f.dtype)
    return f._energy


def quench(f, points: np.ndarray, gtol: float):
    """L-BFGS minimisation of all points together: (minima, losses, gradient norms)."""
    return polish(energy_of(f), points, gtol=gtol, max_iter=10000)


def store_minima(db: Database, f, points, losses, grads, gtol: float) -> list[int]:
    """Adds every converged quench without negative Hessian eigenvalues; returns their ids (-1: not
    a minimum)."""
    ids = []
    eigs = hessian_eigenvalues(f, points)
    negative, _ = index_of(eigs)
    for p, loss, g, e, neg in zip(points, losses, grads, eigs, negative):
        ok = np.isfinite(loss) and g <= gtol and neg == 0
        ids.append(db.add_minimum(loss, p, e) if ok else -1)
    return ids


ADAPT_EVERY, TARGET_ESCAPES, ADAPT_FACTOR = 5, 0.5, 1.25  # the step size control of basin_hopping


def basin_hopping(
    db: Database,
    f,
    chains: int,
    steps: int,
    step: float,
    temperature: float,
    rng: np.random.Generator,
    gtol: float = 1e-7,
    bound: float = 1.0,
) -> dict:
    """``steps`` basin-hopping steps of ``chains`` chains; minima go into ``db``. Returns
    statistics.

    Each chain's step size adapts as GMIN's does, but to the share of trial quenches that leave the
    current minimum (rather than to the acceptance ratio, which is 1 when every trial falls back
    into the same basin): every ADAPT_EVERY steps it grows by ADAPT_FACTOR if fewer than half of
    them
    escaped and shrinks by it otherwise, within [step / 100, 100 step]."""
    start = rng.uniform(-bound, bound, (chains, db.network.n_params))
    current, energies, grads = quench(f, start, gtol)
    ids = np.array(store_minima(db, f, current, energies, grads, gtol))
    sizes, escapes, accepted = np.full(chains, float(step)), np.zeros(chains), 0
    for k in range(steps):
        trial = current + rng.uniform(-1.0, 1.0, current.shape) * sizes[:, None]
        trial, trial_e, trial_g = quench(f, trial, gtol)
        trial_ids = np.array(store_minima(db, f, trial, trial_e, trial_g, gtol))
        escapes += (trial_ids != ids) | (trial_ids < 0)
        finite = np.isfinite(trial_e)
        accept = finite & (
            rng.random(chains) < np.exp(-np.maximum(trial_e - energies, 0) / temperature)
        )
        current[accept], energies[accept], ids[accept] = (
            trial[accept],
            trial_e[accept],
            trial_ids[accept],
        )
        accepted += int(accept.sum())
        if (k + 1) % ADAPT_EVERY == 0:
            grow = escapes / ADAPT_EVERY < TARGET_ESCAPES
            sizes = np.clip(
                np.where(grow, sizes * ADAPT_FACTOR, sizes / ADAPT_FACTOR), step / 100, step * 100
            )
            escapes[:] = 0
    return {
        "quenches": chains * (steps + 1),
        "acceptance": accepted / max(chains * steps, 1),
        "final_steps": [round(float(x), 4) for x in sizes],
    }


def refine_saddle(f, x: np.ndarray, gtol: float = 1e-9, max_iter: int = 200, trust: float = 0.1):
    """Eigenvector-following (P-RFO, Baker 1986) from x to an index-1 saddle.
    Returns (point, loss, eigenvalues, gradient norm)."""
    x = np.array(x, np.float64)

    def state(x):
        return f.gradient(x[None]).numpy()[0], f.hessian(x[None]).numpy()[0]

    for _ in range(max_iter):
        grad, hess = state(x)
        if not (np.isfinite(grad).all() and np.isfinite(hess).all()):
            return (
                x,
                float("nan"),
                np.full(len(x), np.nan),
                float("inf"),
            )  # the search fails, named by its caller
        if np.linalg.norm(grad) < gtol:
            break
        values, vectors = np.linalg.eigh(hess)
        g = vectors.T @ grad
        uphill = 0.5 * values[0] + 0.5 * np.sqrt(values[0] ** 2 + 4 * g[0] ** 2)
        downhill = 0.5 * values[1:, None] - 0.5 * np.sqrt(
            values[1:, None] ** 2 + 4 * g[1:, None] ** 2
        )
        step = np.concatenate(
            [[-g[0] / (values[0] - uphill)], -g[1:] / (values[1:] - downhill[:, 0])]
        )
        step = np.where(np.isfinite(step), step, 0.0)
        norm = np.linalg.norm(step)
        if norm > trust:
            step *= trust / norm
        x = x + vectors @ step
    grad, hess = state(x)
    return x, float(f(x[None]).numpy()[0]), np.linalg.eigvalsh(hess), float(np.linalg.norm(grad))


def transition_state(
    db: Database, f, a: int, b: int, gtol: float = 1e-7, pivots: int = 8, displacement: float = 1e-2
) -> dict:
    """One double-ended search between minima a and b; stores a verified transition state and the
    minima its descents reach. Returns what happened (``found``, ``reason``, ``a``, ``b``)."""
    from .neb import NEB

    energy = energy_of(f)
    start = db.minima[a]["params"]
    end = align(db.network, start, db.minima[b]["params"])  # the nearest equivalent copy of b
    path = NEB(pivots=pivots, climb=True, steps=5000, tol=1e-5).connect(energy, start, end)
    top = (
        path.points[1 + int(np.argmax(path.losses[1:-1]))]
        if len(path.points) > 2
        else path.saddle_params
    )
    x, loss, eigs, gnorm = refine_saddle(f, top, gtol=min(gtol, 1e-9) * 10)
    if not np.isfinite(gnorm):
        return {
            "found": False,
            "reason": "non-finite loss or gradient during refinement",
            "a": a,
            "b": b,
        }
    negative, zero = index_of(eigs[None])
    if gnorm > gtol or negative[0] != 1:
        reason = f"index {negative[0]}" if gnorm <= gtol else "refinement did not converge"
        return {"found": False, "reason": reason, "a": a, "b": b}
    _, vectors = np.linalg.eigh(f.hessian(x[None]).numpy()[0])
    mode = (
        vectors[:, 0] * displacement * max(np.linalg.norm(x), 1.0) / np.linalg.norm(vectors[:, 0])
    )
    ends, losses, grads = quench(f, np.stack([x + mode, x - mode]), gtol)
    ids = store_minima(db, f, ends, losses, grads, gtol)
    if ids[0] == ids[1]:
        return {
            "found": False,
            "reason": "degenerate rearrangement (both descents reach one minimum)",
            "a": ids[0],
            "b": ids[1],
            "loss": loss,
        }
    stored = db.add_transition_state(loss, x, eigs, ids[0], ids[1])
    return {
        "found": stored,
        "reason": "" if stored else "already known",
        "a": ids[0],
        "b": ids[1],
        "loss": loss,
    }


def connect_unconnected(db: Database, f, budget: int, gtol: float = 1e-7) -> dict:
    """Discrete-path-sampling style pair selection: the lowest minimum not connected to the global
    minimum, paired with its nearest connected minimum, until all are connected or ``budget``
    searches."""
    tried, searches, found, failures = set(), 0, 0, {}
    while searches < budget and db.minima:
        losses = np.array([m["loss"] for m in db.minima])
        label = db.components()
        lowest = int(np.argmin(losses))
        outside = [i for i in np.argsort(losses) if label[i] != label[lowest]]
        pair = None
        for i in outside:
            inside = np.flatnonzero(label == label[lowest])
            distance = [
                np.linalg.norm(db.minima[i]["params"] - db.minima[j]["params"]) for j in inside
            ]
            for j in inside[np.argsort(distance)]:
                if (min(i, j), max(i, j)) not in tried:
                    pair = (int(min(i, j)), int(max(i, j)))
                    break
            if pair:
                break
        if pair is None:
            break
        tried.add(pair)
        searches += 1
        result = transition_state(db, f, *pair, gtol=gtol)
        found += result["found"]
        if not result["found"]:
            failures[result["reason"]] = failures.get(result["reason"], 0) + 1
    return {"searches": searches, "transition_states_found": found, "failures": failures}
