"""Seconds for the fitness landscape measures of many walks, printed (never asserted).

    python bench/bench_metrics.py [--walks 10000] [--steps 1000] [--run]

Random-walk losses [walks, steps] (cumulative normal steps with flat stretches), each measure of
fla.metrics timed once over all of them, and the rate in walks per second; then each sampler's
measures as ``fla metrics`` computes them for a run (blocks of 4,096 walks on all cores), without
the reading of the Parquet files. With ``--run``, also ``fla metrics`` end to end on a run of those
losses written as a progressive random walk run (points.parquet in fla's schema, a verified
manifest): reading included.
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


def write_run(folder: Path, losses: np.ndarray) -> None:
    """``losses`` [W, S] as a verified random-walk run of XOR 2-2-1 (the other columns null)."""
    import pyarrow.parquet as pq

    from fla.base.store import POINT_SCHEMA, POINTS, table, write_manifest

    walks, steps = losses.shape
    folder.mkdir(parents=True)
    config = {
        "problem": "xor",
        "width": 2,
        "depth": 1,
        "granularity": "micro",
        "bound": 1.0,
        "seed": 0,
        "sampler": "random",
    }
    constants = {**config, "n_params": 9, "activation": "elu", "step_size": 0.02}
    with pq.ParquetWriter(folder / POINTS, POINT_SCHEMA) as writer:
        for lo in range(0, walks, 8192):
            part = losses[lo : lo + 8192]
            n = part.size
            columns = {
                "walk": np.repeat(np.arange(lo, lo + len(part), dtype=np.int32), steps),
                "step": np.tile(np.arange(steps, dtype=np.int32), len(part)),
                "loss": part.astype(np.float32).ravel(),
            }
            writer.write_table(table(POINT_SCHEMA, constants, columns, n))
    meta = {"config": config, "plan": {"step_size": 0.02, "n_params": 9}, "walk_range": [0, walks]}
    write_manifest(folder, meta, [POINTS])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--walks", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--run", action="store_true", help="also fla metrics on a written run")
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
    if args.run:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            write_run(Path(tmp) / "run", losses)
            t0 = time.perf_counter()
            tables.write_metrics(Path(tmp) / "run", quiet=True)
            seconds = time.perf_counter() - t0
            print(f"fla metrics of the run, random walks, reading included: {seconds:.2f} s")


if __name__ == "__main__":
    main()
