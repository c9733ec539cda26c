"""Walk steps per second of the network and objective variants, printed (never asserted).

    python bench/bench_variants.py [--walks 1024] [--steps 200] [--repeats 3]

The compiled walk loop alone (no curvature, no Parquet), full batch, for XOR 2-2-1 and iris
4-16-16-16-3: ELU units on the cross-entropy (the default; nothing measured beside the walk), tanh
units (their saturation recorded at every step), tanh on the squared error, tanh on the squared
error with weight elimination (the penalty recorded apart), and ReLU units (dead units recorded).
The best of ``--repeats`` timings after one warm-up run (compilation).
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

from fla.core.networks import MLP  # noqa: E402
from fla.core.objective import Objective  # noqa: E402
from fla.core.registry import load_problem  # noqa: E402
from fla.core.regularisers import Regulariser  # noqa: E402
from fla.walks.program import WalkProgram  # noqa: E402

VARIANTS = [
    ("elu, cross-entropy", "elu", "cross_entropy", None),
    ("tanh, cross-entropy (saturation)", "tanh", "cross_entropy", None),
    ("tanh, squared error", "tanh", "mse", None),
    ("tanh, squared error, WE", "tanh", "mse", ("weight_elimination", 1e-3, 1.0)),
    ("relu, cross-entropy (dead units)", "relu", "cross_entropy", None),
]


def steps_per_second(network, problem, loss, penalty, walks: int, steps: int, repeats: int):
    regulariser = Regulariser(*penalty) if penalty else Regulariser()
    objective = Objective(network, problem, loss=loss, regulariser=regulariser)
    program = WalkProgram(objective)
    theta = np.random.default_rng(0).uniform(-1, 1, (walks, network.n_params)).astype(np.float32)
    program.run(theta, 0.2, 0, 0, 0, steps)  # compilation
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        program.run(theta, 0.2, 0, 0, 0, steps)
        best = min(best, time.perf_counter() - start)
    return walks * steps / best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--walks", type=int, default=1024)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    for name, sizes in [("xor", (2, 2, 1)), ("iris", (4, 16, 3))]:
        problem = load_problem(name)
        for label, activation, loss, penalty in VARIANTS:
            n_in, width, depth = sizes
            network = MLP(n_in, width, depth, problem.n_outputs, activation)
            rate = steps_per_second(
                network, problem, loss, penalty, args.walks, args.steps, args.repeats
            )
            print(f"{name} {network.name:>18s}  {label:34s} {rate:>12,.0f} steps/s")


if __name__ == "__main__":
    main()
