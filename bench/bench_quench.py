"""Quenches of Mehta et al.'s 2-N_h-2 tanh XOR networks: quenches per second and loss evaluations
per quench, compiled and batched (fla.landscapes.quench) beside a serial scipy L-BFGS loop over the
same starts, and basin-hopping at the study's defaults, printed.

    python bench/bench_quench.py [--lambda 1e-2] [--starts 512] [--serial 100]

The starts are uniform in [-1, 1]^D; both quench to a gradient norm of 1e-7. The serial loop is
scipy.optimize.minimize(method="L-BFGS-B") per start on the same float64 loss and gradient (one
compiled TensorFlow call per evaluation), run to the same gradient norm, as a plain Python user
would write it. The first
compiled call of each size is left out (it compiles); basin-hopping's figure includes its Hessians
and database merges.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

from fla.landscapes.basin_hopping import basin_hopping, energy_of, quench  # noqa: E402
from fla.landscapes.database import Database  # noqa: E402
from fla.landscapes.model import mehta_network, objective  # noqa: E402
from fla.landscapes.quench import Quencher  # noqa: E402
from fla.landscapes.study import LandscapeStudy, seeds_for  # noqa: E402


def serial(f, starts):
    """scipy's L-BFGS-B per start, loss and gradient from one compiled call, run to the same
    gradient norm (its gtol bounds the largest component: 1e-7 / sqrt(D); no ftol stop)."""
    energy, evaluations = energy_of(f), 0

    def fun(x):
        nonlocal evaluations
        evaluations += 1
        value, grad = energy(x[None])
        return float(value[0]), grad[0]

    grads = []
    for x0 in starts:
        r = scipy.optimize.minimize(
            fun,
            x0,
            jac=True,
            method="L-BFGS-B",
            options={"gtol": 1e-7 / np.sqrt(len(x0)), "ftol": 0.0, "maxiter": 5000},
        )
        grads.append(np.linalg.norm(r.jac))
    return evaluations, np.array(grads)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--lambda", dest="l2", type=float, default=1e-2)
    p.add_argument("--starts", type=int, default=512)
    p.add_argument("--serial", type=int, default=100)
    args = p.parse_args()
    d = LandscapeStudy()
    print(
        f"lambda = {args.l2:g}; basin-hopping at the defaults: {d.chains} chains x {d.steps} steps"
    )
    for hidden in range(1, 7):
        f = objective(hidden, args.l2)
        rng = np.random.default_rng(hidden)
        q = Quencher(f, batch=128)
        q(rng.uniform(-1, 1, (128, f.n_params)), 1e-7)  # compile
        q.quenches = q.evaluations = 0
        starts = rng.uniform(-1, 1, (args.starts, f.n_params))
        t = time.perf_counter()
        _, _, grads, iters = q(starts, 1e-7)
        batched = args.starts / (time.perf_counter() - t)
        t = time.perf_counter()
        evaluations, serial_grads = serial(f, starts[: args.serial])
        looped = args.serial / (time.perf_counter() - t)
        db = Database(mehta_network(hidden), gtol=1e-7)
        quench(f, np.zeros((d.chains, f.n_params)), 1e-7)  # compile the study's batch size
        t = time.perf_counter()
        stats = basin_hopping(
            db,
            f,
            d.chains,
            steps=d.steps,
            step=d.step,
            temperature=d.temperature,
            rng=rng,
            seeds=seeds_for(hidden, None),
            patience=d.patience,
        )
        hopping = stats["quenches"] / (time.perf_counter() - t)
        print(
            f"N_h = {hidden} (D = {f.n_params}): batched {batched:,.0f} quenches/s, "
            f"{q.evaluations / args.starts:.0f} evaluations/quench (median {np.median(iters):.0f} "
            f"iterations), converged {np.mean(grads <= 1e-7):.0%}; serial scipy "
            f"{looped:,.0f} quenches/s, {evaluations / args.serial:.0f} evaluations/quench, "
            f"converged {np.mean(serial_grads <= 1e-7):.0%}; basin-hopping {hopping:,.0f} "
            f"quenches/s ({len(db.minima)} minima)"
        )


if __name__ == "__main__":
    main()
