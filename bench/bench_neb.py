"""Loss/gradient evaluations and wall time for NEB to converge, pivots batched vs one pivot per call.

    python bench/bench_neb.py

Climbing-image NEB (string-method respacing, SGD with momentum 0.9) until the largest force on any
pivot is below a tolerance, on Mueller-Brown (A to B), Himmelblau (A to B) and on XOR networks (between
two polished walk endpoints). "batched" evaluates all pivots of a step in one call of the compiled
objective; "one per call" evaluates them one at a time, as a loop over pivots would.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from fla.landscape import polish  # noqa: E402
from fla.neb import Energy, neb  # noqa: E402
from fla.networks import MLP  # noqa: E402
from fla.objective import Objective  # noqa: E402
from fla.problems import xor  # noqa: E402
from fla.surfaces import HIMMELBLAU, MUELLER_BROWN, himmelblau, mueller_brown  # noqa: E402


def case(name, loss, a, b, pivots, lr, tol, max_steps=20000):
    for label, chunk in (("batched", 4096), ("one per call", 1)):
        energy = Energy(loss, tf.float64, chunk=chunk)
        energy.values(np.stack([a, b]))  # compile
        energy(np.stack([a, b]))
        energy.evaluations = energy.calls = 0
        t0 = time.perf_counter()
        path = neb(energy, a, b, pivots=pivots, steps=max_steps, lr=lr, climb=True, tol=tol)
        dt = time.perf_counter() - t0
        steps = len(path.history)
        print(f"  {name:28s} {label:12s} {steps:6d} steps {energy.evaluations:8d} evaluations "
              f"{energy.calls:8d} calls {dt:7.2f} s   saddle {path.saddle_loss:.6g}")


def main() -> None:
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores; climbing-image NEB until max |force| < tol")
    mb = [np.array(MUELLER_BROWN["minima"][k][0]) for k in "AB"]
    case("Mueller-Brown, 15 pivots", mueller_brown, *mb, pivots=15, lr=1e-4, tol=1e-2)
    hb = [np.array(HIMMELBLAU["minima"][k][0]) for k in "AB"]
    case("Himmelblau, 9 pivots", himmelblau, *hb, pivots=9, lr=1e-3, tol=1e-4)
    for width in (2, 10):
        net = MLP(2, width, 1, 1)
        f = Objective(net, xor(), tf.float64)
        starts = np.random.default_rng(0).uniform(-1, 1, (2, net.n_params))
        ends, _, _ = polish(Energy(f, tf.float64), starts, gtol=1e-4, max_iter=200)
        case(f"XOR {net.name} (D={net.n_params}), 10 pivots", f, *ends, pivots=10, lr=0.01, tol=1e-3, max_steps=3000)


if __name__ == "__main__":
    main()
