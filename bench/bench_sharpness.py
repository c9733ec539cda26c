"""Points per second of epsilon-sharpness and adaptive sharpness, batched over points against a
loop of one point at a time, printed (never asserted).

    python bench/bench_sharpness.py [--mnist-dir ../shared/data/mnist] [--points 1000]
                                    [--patterns 10000] [--loop 4]

On MNIST 784-10-10 (D = 7,960) and the first ``--patterns`` training patterns, at points drawn
uniformly from [-1, 1]^D (stand-ins for walk ends: an ascent step costs the same wherever it is),
with the measures' default settings but the convergence test off (tol 1e-300), so that every
point takes every step and the rates compare equal work: Keskar et al.'s epsilon-sharpness (20
sign-ascent steps in the full space) and adaptive sharpness (20 projected-gradient steps and 32
Gaussian draws). ``fla.curvature.sharpness`` batches all points through one compiled program in
chunks that fit its memory; the loop calls the same functions with one point at a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import tensorflow as tf

from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.registry import load_problem
from fla.curvature import sharpness as sh


def timed(fn, theta) -> float:
    start = time.perf_counter()
    fn(theta)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mnist-dir", default=str(Path(__file__).parents[2] / "shared/data"))
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--patterns", type=int, default=10000)
    parser.add_argument("--loop", type=int, default=4, help="points the one-at-a-time loop runs")
    args = parser.parse_args()
    problem = load_problem("mnist", args.mnist_dir)
    objective = Objective(MLP(784, 10, 1, 10), problem, tf.float32)
    n = args.patterns
    surface = sh.Surface(objective, problem.x_train[:n], problem.y_train[:n])
    theta = np.random.default_rng(0).uniform(-1, 1, (args.points, objective.n_params))
    eps = replace(sh.EpsilonSharpness(), tol=1e-300)
    ada = replace(sh.AdaptiveSharpness(), tol=1e-300)
    measures = {
        "epsilon-sharpness": lambda t: sh.epsilon_sharpness(surface, t, eps),
        "adaptive sharpness": lambda t: sh.adaptive_sharpness(surface, t, ada),
    }
    print(
        f"MNIST 784-10-10, D = {objective.n_params:,}, {n:,} patterns, {args.points:,} points, "
        f"{surface.chunk} points a call"
    )
    total = 0.0
    for name, fn in measures.items():
        fn(theta[:2])  # compile
        batched = timed(fn, theta)
        loop = sum(timed(fn, theta[i : i + 1]) for i in range(args.loop)) / args.loop
        total += batched
        print(
            f"  {name:19s} batched {args.points / batched:8.2f} points/s ({batched:7.1f} s)   "
            f"one at a time {1 / loop:6.2f} points/s   x{loop * args.points / batched:.1f}"
        )
    print(f"  both measures of {args.points:,} points: {total:.1f} s")


if __name__ == "__main__":
    main()
