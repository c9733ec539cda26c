"""NEB at its default settings: evaluations to reach the saddle, and time per band step.

    python bench/bench_neb.py            # analytic surfaces, XOR and MNIST minima (about 3 minutes)

1. Defaults. ``neb(f, a, b, climb=True)`` and ``autoneb(f, a, b)``, nothing else given, on the
   analytic surfaces (saddle from fla.paths.surfaces) and between two L-BFGS minima of XOR 2-2-1,
   XOR 2-10-1 (L2 term lambda = 1e-3) and MNIST 784-10-10 (1,000 training images, lambda = 1e-4);
   for the networks the reference saddle is the climbing image of a run with tol 1e-7 (MNIST: 1e-5,
   3000 steps). Without an L2 term XOR's minima lie at infinity (loss -> 0 as the weights grow) and
   a band between two of them has no saddle to converge to. Printed: the loss-and-gradient
   evaluations until the band's highest pivot is within 1e-3 (relative) of the saddle and stays
   there, the evaluations until the run stopped (forces below tol), and the saddle's relative error.
2. Time per step: the compiled band (one tf.while_loop) against the previous implementation's
   Python/numpy loop around one compiled evaluation a step (its code, copied below as the baseline),
   1000 steps of string-method climbing NEB with SGD, 10 pivots.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import tensorflow as tf

from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.problems import xor
from fla.core.registry import load_problem
from fla.paths.minima import polish
from fla.paths.neb import autoneb, neb
from fla.paths.record import Energy
from fla.paths.relax import Steps, relax
from fla.paths.surfaces import (
    HIMMELBLAU,
    MUELLER_BROWN,
    WOLFE_QUAPP,
    himmelblau,
    mueller_brown,
    tilted_ring,
    wolfe_quapp,
)


def evaluations_to_saddle(history, pivots_per_step, reference, rel=1e-3):
    """Evaluations until the highest pivot's loss is within rel of the reference and stays there."""
    err = np.abs(np.asarray(history) - reference) / abs(reference)
    outside = np.flatnonzero(err > rel)
    if len(outside) == len(err) or err[-1] > rel:
        return None
    first = 0 if not len(outside) else outside[-1] + 1
    return int(np.sum(pivots_per_step[: first + 1]))


def run_defaults(name, f, a, b, reference=None):
    for label, method in (
        ("neb climb", lambda e: neb(e, a, b, climb=True)),
        ("autoneb", lambda e: autoneb(e, a, b)),
    ):
        energy = Energy(f, tf.float64)
        t0 = time.perf_counter()
        path = method(energy)
        dt = time.perf_counter() - t0
        ref = reference if reference is not None else float(path.losses.max())
        # pivots per step: NEB's count is fixed; AutoNEB's grows, so count from its total
        steps = len(path.history)
        per_step = np.full(
            steps,
            (len(path.points) - 2) if label == "neb climb" else energy.evaluations / max(steps, 1),
        )
        reach = evaluations_to_saddle(path.history, per_step, ref)
        print(
            f"  {name:34s} {label:10s} to 1e-3: {str(reach):>7s} evaluations; stopped after "
            f"{steps:5d} steps, "
            f"{energy.evaluations:7d} evaluations, {len(path.points)} points, {dt:5.2f} s; "
            f"climbing image {path.losses.max():.7g} "
            f"(rel. error {abs(path.losses.max() - ref) / abs(ref):.1e}), dense max "
            f"{path.saddle_loss:.7g}"
        )


def minima_pair(f, dim, bound, seed, max_iter):
    starts = np.random.default_rng(seed).uniform(-bound, bound, (2, dim))
    ends, losses, grads = polish(Energy(f, tf.float64), starts, gtol=1e-6, max_iter=max_iter)
    return ends


# ---- the previous implementation's loop (fla/paths/neb.py before this round), kept here as the
# baseline
# --------


def np_tangents(pivots, energies):
    plus, minus = pivots[2:] - pivots[1:-1], pivots[1:-1] - pivots[:-2]
    e_prev, e, e_next = energies[:-2, None], energies[1:-1, None], energies[2:, None]
    d_next, d_prev = np.abs(e_next - e), np.abs(e_prev - e)
    d_max, d_min = np.maximum(d_next, d_prev), np.minimum(d_next, d_prev)
    mixed = np.where(e_next > e_prev, plus * d_max + minus * d_min, plus * d_min + minus * d_max)
    tau = np.where(
        (e_next > e) & (e > e_prev), plus, np.where((e_next < e) & (e < e_prev), minus, mixed)
    )
    norm = np.linalg.norm(tau, axis=1, keepdims=True)
    return tau / np.where(norm > 0, norm, 1.0)


def np_forces(pivots, energies, grads):
    tau = np_tangents(pivots, energies)
    parallel = np.einsum("pd,pd->p", grads, tau)[:, None]
    force = -(grads - parallel * tau)
    top = int(np.argmax(energies[1:-1]))
    force[top] = -grads[top] + 2 * parallel[top] * tau[top]
    return force


def np_respace(pivots):
    gaps = np.linalg.norm(np.diff(pivots, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(gaps)])
    if arc[-1] == 0:
        return pivots
    targets = np.linspace(0.0, arc[-1], len(pivots))
    seg = np.clip(np.searchsorted(arc, targets, side="right") - 1, 0, len(gaps) - 1)
    frac = np.where(
        gaps[seg] > 0, (targets - arc[seg]) / np.where(gaps[seg] > 0, gaps[seg], 1), 0.0
    )
    out = pivots[seg] + frac[:, None] * (pivots[seg + 1] - pivots[seg])
    out[0], out[-1] = pivots[0], pivots[-1]
    return out


def numpy_step_loop(energy, pivots, steps, lr):
    """The previous loop: one compiled evaluation a step, geometry and SGD in numpy."""
    pivots = np.array(pivots)
    ends = energy.values(pivots[[0, -1]])
    velocity = None
    for _ in range(steps):
        values, grads = energy(pivots[1:-1])
        energies = np.concatenate([[ends[0]], values, [ends[1]]])
        force = np_forces(pivots, energies, grads)
        velocity = lr * force if velocity is None else 0.9 * velocity + lr * force
        pivots[1:-1] += velocity
        top = 1 + int(np.argmax(values))
        pivots = np.concatenate([np_respace(pivots[: top + 1])[:-1], np_respace(pivots[top:])])
    return pivots


def time_per_step(name, f, a, b, lr):
    energy = Energy(f, tf.float64)
    band = a + np.linspace(0, 1, 12)[:, None] * (b - a)
    control = Steps("sgd", 0.0, lr=lr)
    relax(energy, band, 10, spring=None, climb=True, control=control, tol=0.0)  # compile
    numpy_step_loop(energy, band, 3, lr)
    t0 = time.perf_counter()
    relax(energy, band, 1000, spring=None, climb=True, control=control, tol=0.0)
    compiled = (time.perf_counter() - t0) / 1000
    t0 = time.perf_counter()
    numpy_step_loop(energy, band, 200, lr)
    loop = (time.perf_counter() - t0) / 200
    print(
        f"  {name:34s} compiled band {compiled * 1e3:7.3f} ms/step   Python loop {loop * 1e3:7.3f} "
        f"ms/step   "
        f"({loop / compiled:.1f}x)"
    )


def main() -> None:
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores")
    print(
        "1. defaults (FIRE, max step 5% of |b - a|, tol 1e-4 of the starting band's largest force)"
    )
    cases = []
    for surface, f, pair, saddle, label in (
        (MUELLER_BROWN, mueller_brown, "AB", "S1", "Mueller-Brown A-B"),
        (HIMMELBLAU, himmelblau, "AB", "AB", "Himmelblau A-B"),
        (WOLFE_QUAPP, wolfe_quapp, "AC", "AC", "Wolfe-Quapp A-C"),
    ):
        a, b = (np.array(surface["minima"][k][0]) for k in pair)
        run_defaults(label, f, a, b, surface["saddles"][saddle][1])
        cases.append((label, f, a, b))
    ring = polish(Energy(tilted_ring, tf.float64), np.array([[-1.0, 0.2], [1.0, 0.2]]), gtol=1e-10)[
        0
    ]
    saddle = float(
        neb(Energy(tilted_ring, tf.float64), *ring, climb=True, tol=1e-8, steps=20000).losses.max()
    )
    run_defaults("tilted ring", tilted_ring, *ring, saddle)
    for width in (2, 10):
        network = MLP(2, width, 1, 1)
        f = Objective(network, xor(), tf.float64, l2=1e-3)
        a, b = minima_pair(f, network.n_params, 1.0, 0, 2000)
        reference = float(
            neb(Energy(f, tf.float64), a, b, climb=True, tol=1e-7, steps=20000).losses.max()
        )
        run_defaults(f"XOR {network.name} (D={network.n_params})", f, a, b, reference)
        cases.append((f"XOR {network.name}", f, a, b))
    try:
        problem = load_problem("mnist", Path(__file__).resolve().parents[2] / "shared" / "data")
    except Exception as exc:  # noqa: BLE001 - the MNIST files are optional here
        print(f"  MNIST skipped: {exc}")
    else:
        import dataclasses

        problem = dataclasses.replace(
            problem, x_train=problem.x_train[:1000], y_train=problem.y_train[:1000]
        )
        network = MLP(784, 10, 1, 10)
        f = Objective(network, problem, tf.float64, l2=1e-4)
        a, b = minima_pair(f, network.n_params, 0.1, 0, 1000)
        reference = float(
            neb(Energy(f, tf.float64), a, b, climb=True, tol=1e-5, steps=3000).losses.max()
        )
        run_defaults(
            f"MNIST {network.name} (D={network.n_params}, 1000 images)", f, a, b, reference
        )
    print(
        "2. time per band step, 10 pivots, climbing image, string method, SGD (lr 1e-4 surfaces, "
        "1e-2 XOR)"
    )
    for label, f, a, b in cases:
        time_per_step(label, f, a, b, 1e-2 if label.startswith("XOR") else 1e-4)


if __name__ == "__main__":
    main()
