"""Transition states between minima, as OPTIM finds them, and the pairs to search, as discrete
path sampling chooses them (Mehta, Zhao, Bernal and Wales 2018, Sec. III).

- ``transition_state``: a climbing-image NEB between two minima, the second first moved to its
  symmetry-equivalent copy nearest the first (``fla.landscapes.model.align``, as OPTIM aligns
  permutational isomers), then refinement of its climbing image to a true index-1 saddle by
  eigenvector-following on the exact Hessian (``refine_saddle``: partitioned rational-function
  optimisation, maximising along the lowest mode and minimising along the others; Baker, J. Comput.
  Chem. 7, 385 (1986)), with a trust radius; accepted when the gradient norm is below ``gtol`` and
  the Hessian has exactly one negative eigenvalue. From it, quenches started at +-``displacement``
  along the negative eigenvector find the two minima it connects (``descend``: a quench that
  stops at a stationary point with negative eigenvalues, as L-BFGS can on the subspaces where
  hidden units are zero, is pushed off along its lowest mode and quenched again, up to
  ``DESCENTS`` times); a saddle one of whose descents still reaches no minimum is no transition
  state and is not stored.
- ``connect_unconnected`` (the "connect unconnected minima" strategy of discrete path sampling,
  Wales 2002 and PATHSAMPLE): repeatedly take the lowest minimum not yet connected to the global
  minimum and search for a transition state between it and its nearest minimum (in canonical
  coordinates) that is connected, until all are connected or the budget of searches is spent.

    >>> stats = connect_unconnected(db, objective(3, 1e-2), budget=30)
"""

from __future__ import annotations

import numpy as np

from fla.curvature.classes import hessian_index
from fla.landscapes.basin_hopping import energy_of, quench, store_minima
from fla.landscapes.database import Database, hessian_eigenvalues
from fla.landscapes.model import align


def refine_saddle(f, x: np.ndarray, gtol: float = 1e-9, *, max_iter: int = 200, trust: float = 0.1):
    """Eigenvector-following to an index-1 saddle: partitioned rational-function optimisation on the
    exact Hessian (P-RFO; Baker 1986), maximising along the lowest mode and minimising along the
    others, within a trust radius.

    Args:
        f: the landscape's objective (float64).
        x: [D] the start (a climbing image).
        gtol: the gradient norm to stop below.
        max_iter: the most steps.
        trust: the trust radius of a step.

    Returns:
        (point [D], loss, eigenvalues [D] ascending, gradient norm).
    """
    x = np.array(x, np.float64)

    def state(x):
        return f.gradient(x[None]).numpy()[0], f.hessian(x[None]).numpy()[0]

    for _ in range(max_iter):
        grad, hess = state(x)
        if not (np.isfinite(grad).all() and np.isfinite(hess).all()):
            # the search fails, named by its caller
            return (
                x,
                float("nan"),
                np.full(len(x), np.nan),
                float("inf"),
            )
        if np.linalg.norm(grad) < gtol:
            break
        values, vectors = np.linalg.eigh(hess)
        g = vectors.T @ grad
        uphill = 0.5 * values[0] + 0.5 * np.sqrt(values[0] ** 2 + 4 * g[0] ** 2)
        downhill = 0.5 * values[1:, None] - 0.5 * np.sqrt(
            values[1:, None] ** 2 + 4 * g[1:, None] ** 2
        )
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero step there, no warning
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


DESCENTS = 3  # quenches a descent from a saddle may take to leave stationary points of higher index


def descend(f, points: np.ndarray, *, gtol: float, displacement: float):
    """Quenches that end at minima where they can: a row that stops at a stationary point with a
    negative Hessian eigenvalue is displaced along its lowest eigenvector (by ``displacement`` x
    max(|x|, 1), downhill) and quenched again, at most ``DESCENTS`` times in all.

    Args:
        f: the landscape's objective.
        points: [B, D] the starts.
        gtol: the gradient norm of a converged quench.
        displacement: the push off a stationary point, relative to max(|x|, 1).

    Returns:
        (ends [B, D], losses [B], gradient norms [B]), as ``quench``.
    """
    ends, losses, grads = quench(f, points, gtol)
    for _ in range(DESCENTS - 1):
        finite = np.isfinite(ends).all(axis=1) & np.isfinite(losses)
        eigs = np.full(ends.shape, np.nan)
        if finite.any():
            eigs[finite] = hessian_eigenvalues(f, ends[finite])
        negative, _ = hessian_index(np.where(np.isfinite(eigs), eigs, 1.0))
        stuck = np.flatnonzero(finite & (grads <= gtol) & (negative > 0))
        if not len(stuck):
            break
        _, vectors = np.linalg.eigh(f.hessian(ends[stuck]).numpy())
        mode = (
            vectors[:, :, 0]
            * (displacement * np.maximum(np.linalg.norm(ends[stuck], axis=1), 1.0))[:, None]
        )
        trial = np.concatenate([ends[stuck] + mode, ends[stuck] - mode])
        down = f(trial).numpy()
        start = np.where((down[: len(stuck)] <= down[len(stuck) :])[:, None], *np.split(trial, 2))
        ends[stuck], losses[stuck], grads[stuck] = quench(f, start, gtol)
    return ends, losses, grads


def transition_state(
    db: Database,
    f,
    a: int,
    *,
    b: int,
    gtol: float = 1e-7,
    pivots: int = 8,
    displacement: float = 1e-2,
) -> dict:
    """One double-ended search between two stored minima (module docstring): climbing-image NEB from
    a to b's aligned copy, refinement to an index-1 saddle, and descents to the two minima it
    connects; stores a verified transition state and the minima its descents reach.

    Args:
        db: the ``Database``.
        f: the landscape's objective.
        a: the first minimum's id.
        b: the second's.
        gtol: the gradient norm of a stationary point.
        pivots: the NEB's interior pivots.
        displacement: the push along the negative eigenvector the descents start from.

    Returns:
        {"found": whether a new transition state was stored, "reason": why not ("" if it was), "a",
            "b": the minima its descents reach (or the pair searched), "loss" where a saddle was
            refined}.
    """
    from fla.paths.neb import NEB

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
    negative, zero = hessian_index(eigs[None])
    if gnorm > gtol or negative[0] != 1:
        reason = f"index {negative[0]}" if gnorm <= gtol else "refinement did not converge"
        return {"found": False, "reason": reason, "a": a, "b": b}
    _, vectors = np.linalg.eigh(f.hessian(x[None]).numpy()[0])
    mode = (
        vectors[:, 0] * displacement * max(np.linalg.norm(x), 1.0) / np.linalg.norm(vectors[:, 0])
    )
    ends, losses, grads = descend(
        f, np.stack([x + mode, x - mode]), gtol=gtol, displacement=displacement
    )
    ids = store_minima(db, f, ends, losses=losses, grads=grads, gtol=gtol)
    if -1 in ids:  # a pathway joins two minima (Wales 2003): a saddle with a loose end is none
        return {
            "found": False,
            "reason": "a descent from the saddle did not reach a minimum",
            "a": a,
            "b": b,
            "loss": loss,
        }
    if ids[0] == ids[1]:
        return {
            "found": False,
            "reason": "degenerate rearrangement (both descents reach one minimum)",
            "a": ids[0],
            "b": ids[1],
            "loss": loss,
        }
    stored = db.add_transition_state(loss, x, eigs, a=ids[0], b=ids[1])
    return {
        "found": stored,
        "reason": "" if stored else "already known",
        "a": ids[0],
        "b": ids[1],
        "loss": loss,
    }


def connect_unconnected(db: Database, f, budget: int, *, gtol: float = 1e-7) -> dict:
    """Discrete path sampling's "connect unconnected minima" (Wales 2002; PATHSAMPLE): the lowest
    minimum not connected to the global minimum, paired with its nearest connected minimum, until
    all are connected or ``budget`` searches are spent.

    Args:
        db: the ``Database``.
        f: the landscape's objective.
        budget: the most searches.
        gtol: the gradient norm of a stationary point.

    Returns:
        {"searches", "transition_states_found", "failures"}.
    """
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
        result = transition_state(db, f, pair[0], b=pair[1], gtol=gtol)
        found += result["found"]
        if not result["found"]:
            failures[result["reason"]] = failures.get(result["reason"], 0) + 1
    return {"searches": searches, "transition_states_found": found, "failures": failures}
