"""Basin-hopping (Li and Scheraga 1987; Wales and Doye 1997, as in GMIN) over a batch of chains.

``chains`` chains at once over a [chains, D] batch; each step perturbs every chain's current minimum
by a uniform displacement in [-s, s]^D, quenches all of them together in one compiled L-BFGS
program (``fla.landscapes.quench``) to a gradient norm below ``gtol``, and accepts with the
Metropolis rule at a fictitious temperature T. Every quenched point whose Hessian has no negative
eigenvalue enters the database (``fla.landscapes.database``).

What makes it explore, as the energy-landscape literature does:

- **several perturbation scales**: chain c starts with step ``step * SCALES[c % 3]`` (0.3, 1 and 3
  times the setting), each then adapted to its own escape rate (GMIN's step control);
- **restarts when a chain stagnates**: a chain that has found no new minimum in ``patience``
  steps starts again from a uniform random point in [-r, r]^D, r drawn from ``bound`` x (1, 3, 10)
  (GMIN's NEWRESTART, with random rather than reseeded coordinates);
- **seeding**: ``seeds`` (e.g. the minima of the N_h - 1 network padded with a zero hidden unit,
  stationary by Mehta et al.'s Appendix A, and the all-zero network) are quenched first and start
  the first chains.

Each minimum records what found it first (``found_by``: start, seed, hop or restart).

    >>> stats = basin_hopping(db, objective(3, 1e-2), chains=8, steps=40, step=1.0,
    ...                       temperature=0.1, rng=np.random.default_rng(0))
"""

from __future__ import annotations

import numpy as np

from fla.curvature.classes import hessian_index
from fla.landscapes.database import Database, hessian_eigenvalues
from fla.landscapes.quench import Quencher
from fla.paths.record import Energy

SCALES = (0.3, 1.0, 3.0)  # of ``step``: the chains' first perturbation sizes, in turn
RESTART_RANGES = (1.0, 3.0, 10.0)  # of ``bound``: the ranges a restarted chain is drawn from


def energy_of(f) -> Energy:
    """One ``Energy`` per objective, kept on it, so that its compiled programs are traced once, not
    once per search.

    Args:
        f: the landscape's ``fla.core.objective.Objective``.

    Returns:
        Its ``Energy``.
    """
    if getattr(f, "_energy", None) is None:
        f._energy = Energy(f, f.dtype)
    return f._energy


def quench(f, points: np.ndarray, gtol: float):
    """All points quenched together by one compiled L-BFGS program (``Quencher``, one per
    objective).

    Args:
        f: the landscape's objective.
        points: [B, D] the starts.
        gtol: the gradient norm a quench stops below.

    Returns:
        (minima [B, D], losses [B], gradient norms [B]).
    """
    if getattr(f, "_quencher", None) is None:
        f._quencher = Quencher(f, batch=max(8, len(points)))
    return f._quencher(points, gtol)[:3]


def store_minima(db: Database, f, points, *, losses, grads, gtol: float, how="quench") -> list[int]:
    """Add every converged quench without negative Hessian eigenvalues to the database.

    Args:
        db: the ``Database``.
        f: the landscape's objective.
        points: [B, D] quenched points.
        losses: [B] their losses.
        grads: [B] their gradient norms.
        gtol: the gradient norm of a converged quench.
        how: what found them (``found_by``): one word, or one per point.

    Returns:
        [B] their ids; -1 for a point that is not a minimum.
    """
    ids = []
    finite = np.isfinite(points).all(axis=1) & np.isfinite(losses)
    eigs = np.full(points.shape, np.nan)
    if finite.any():
        eigs[finite] = hessian_eigenvalues(f, points[finite])
    negative, _ = hessian_index(np.where(np.isfinite(eigs), eigs, -1.0))
    hows = [how] * len(points) if isinstance(how, str) else list(how)
    for p, loss, g, e, neg, ok_finite, why in zip(
        points, losses, grads, eigs, negative, finite, hows
    ):
        ok = ok_finite and g <= gtol and neg == 0
        ids.append(db.add_minimum(loss, p, e, found_by=why) if ok else -1)
    return ids


ADAPT_EVERY, TARGET_ESCAPES, ADAPT_FACTOR = 5, 0.5, 1.25  # the step size control of basin_hopping


def basin_hopping(
    db: Database,
    f,
    chains: int,
    *,
    steps: int,
    step: float,
    temperature: float,
    rng: np.random.Generator,
    gtol: float = 1e-7,
    bound: float = 1.0,
    seeds: np.ndarray | None = None,
    patience: int = 10,
) -> dict:
    """Basin-hopping steps of many chains at once (module docstring); the minima go into ``db``.

    Each chain's step size adapts as GMIN's does, but to the share of trial quenches that leave the
    current minimum (rather than to the acceptance ratio, which is 1 when every trial falls back
    into the same basin): every ``ADAPT_EVERY`` steps it grows by ``ADAPT_FACTOR`` if fewer than
    half of them escaped and shrinks by it otherwise, within [step / 100, 100 step].

    Args:
        db: the ``Database`` the minima go into.
        f: the landscape's objective.
        chains: the chains run side by side.
        steps: the steps of every chain.
        step: the perturbation's half-width s (chain c starts at ``step * SCALES[c % 3]``).
        temperature: the Metropolis rule's fictitious temperature T.
        rng: the numpy Generator of every draw.
        gtol: the gradient norm of a converged quench.
        bound: the range of the random starts and restarts.
        seeds: [S, D] points quenched first, starting the first chains.
        patience: steps without a new minimum before a chain restarts.

    Returns:
        {"quenches", "acceptance", "restarts", "final_steps" (each chain's last step size)}.
    """
    d = db.network.n_params
    start = rng.uniform(-bound, bound, (chains, d))
    origin = np.array(["start"] * chains, dtype=object)
    if seeds is not None and len(seeds):
        seeded = min(len(seeds), chains)
        start[:seeded] = seeds[:seeded]
        origin[:seeded] = "seed"
        if len(seeds) > chains:  # the rest quenched and stored too
            extra, extra_e, extra_g = quench(f, seeds[chains:], gtol)
            store_minima(db, f, extra, losses=extra_e, grads=extra_g, gtol=gtol, how="seed")
    current, energies, grads = quench(f, start, gtol)
    ids = np.array(
        store_minima(db, f, current, losses=energies, grads=grads, gtol=gtol, how=origin)
    )
    base = step * np.array([SCALES[c % len(SCALES)] for c in range(chains)])
    sizes, escapes, accepted = base.copy(), np.zeros(chains), 0
    idle, restarts = np.zeros(chains, int), 0
    for k in range(steps):
        trial = current + rng.uniform(-1.0, 1.0, current.shape) * sizes[:, None]
        how = np.array(["hop"] * chains, dtype=object)
        stale = idle >= patience
        if stale.any():  # stagnating chains start again somewhere new
            ranges = bound * rng.choice(RESTART_RANGES, stale.sum())
            trial[stale] = rng.uniform(-1.0, 1.0, (stale.sum(), d)) * ranges[:, None]
            how[stale], idle[stale], sizes[stale] = "restart", 0, base[stale]
            restarts += int(stale.sum())
        known = len(db.minima)
        trial, trial_e, trial_g = quench(f, trial, gtol)
        trial_ids = np.array(
            store_minima(db, f, trial, losses=trial_e, grads=trial_g, gtol=gtol, how=how)
        )
        new = trial_ids >= known
        idle = np.where(new, 0, idle + 1)
        escapes += (trial_ids != ids) | (trial_ids < 0)
        finite = np.isfinite(trial_e)
        accept = finite & (
            stale | (rng.random(chains) < np.exp(-np.maximum(trial_e - energies, 0) / temperature))
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
        "restarts": restarts,
        "final_steps": [round(float(x), 4) for x in sizes],
    }
