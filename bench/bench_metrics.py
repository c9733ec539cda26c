"""Seconds for the fitness landscape measures of many walks, printed (never asserted).

    python bench/bench_metrics.py [--walks 10000] [--steps 1000]

Random-walk losses [walks, steps] (cumulative normal steps with flat stretches), each measure of
fla.metrics timed once over all of them, and the rate in walks per second; then each sampler's
measures as ``fla metrics`` computes them for a run (blocks of 4,096 walks on all cores), without
the reading of the Parquet files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from fla.metrics import tables
from fla.metrics.entropy import fem, information_content
from fla.metrics.gradients import gradient_measures
from fla.metrics.neutrality import neutrality
from fla.metrics.summaries import last_and_best, stagnation


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--walks", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=1000)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    losses = np.cumsum(rng.normal(size=(args.walks, args.steps)), axis=1)
    losses[:, 100:200] = losses[:, 99:100]
    print(f"{args.walks:,} walks x {args.steps:,} steps:")
    measures = {
        "fem": lambda: fem(losses),
        "neutrality (M1, M2)": lambda: neutrality(losses),
        "gradient measures": lambda: gradient_measures(losses, 0.02, 1.0, 9),
        "stagnation": lambda: stagnation(losses),
        "last and best": lambda: last_and_best(losses),
        "information content": lambda: information_content(losses),
    }
    for name, run in measures.items():
        t0 = time.perf_counter()
        run()
        seconds = time.perf_counter() - t0
        print(f"  {name:22s} {seconds:8.2f} s   {args.walks / seconds:12,.0f} walks/s")
    context = {"step_size": 0.02, "bound": 1.0, "n_params": 9}
    print("each sampler's measures, as fla metrics computes a run's (blocks on all cores):")
    for sampler in ("gradient", "random", "manhattan"):
        blocks = (
            {"loss": losses[lo : lo + tables.WALKS_PER_BLOCK]}
            for lo in range(0, args.walks, tables.WALKS_PER_BLOCK)
        )
        t0 = time.perf_counter()
        tables.measure_blocks(blocks, tables.MEASURES[sampler], context)
        seconds = time.perf_counter() - t0
        print(f"  {sampler:22s} {seconds:8.2f} s   {args.walks / seconds:12,.0f} walks/s")


if __name__ == "__main__":
    main()
