"""Basin-hopping (Li and Scheraga 1987; Wales and Doye 1997, as in GMIN) over a batch of chains.

``chains`` chains at once over a [chains, D] batch; each step perturbs every chain's current minimum
by a uniform displacement in [-s, s]^D (s adapted per chain), quenches all of them together by
L-BFGS to a gradient norm below ``gtol``, and accepts with the Metropolis rule at a fictitious
temperature T. Every quenched point whose Hessian has no negative eigenvalue enters the database
(:mod:`fla.landscapes.database`).

    >>> stats = basin_hopping(db, objective(3, 1e-2), chains=8, steps=40, step=1.0,
    ...                       temperature=0.1, rng=np.random.default_rng(0))
"""

from __future__ import annotations

import numpy as np

from fla.curvature.classes import hessian_index
from fla.landscapes.database import Database, hessian_eigenvalues
from fla.paths.minima import polish
from fla.paths.record import Energy


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
    negative, _ = hessian_index(eigs)
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
    them escaped and shrinks by it otherwise, within [step / 100, 100 step]."""
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
