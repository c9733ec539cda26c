"""Seconds for the fitness landscape measures of many walks and sample sets, printed (never
asserted).

    python bench/bench_metrics.py [--walks 10000] [--steps 1000] [--sets 100] [--points 1000]
                                  [--dim 7960] [--run] [--pflacco-python PATH]

Random-walk losses [walks, steps] (cumulative normal steps with flat stretches, step lengths
around 0.02), each measure of fla.metrics timed once over all of them, and the rate in walks per
second; then each sampler's measures as ``fla metrics`` computes them for a run (blocks of 4,096
walks on all cores), without the reading of the Parquet files. Then the uniform samples' measures
(FDC, dispersion, information content on a nearest-neighbour tour and the ELA sets) of ``--sets``
sets of ``--points`` points of D = ``--dim`` (MNIST 784-10-10's 7,960 by default), in blocks of
sets as ``fla metrics`` reads them. With ``--run``, also ``fla metrics`` end to end on a run of the
walks written as a progressive random walk run (points.parquet in fla's schema, a verified
manifest): reading included. With ``--pflacco-python`` (a Python with pflacco 1.2.2, see
tests/fixtures/pflacco_reference.py), pflacco's information content of one of those sample sets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from fla.metrics import tables
from fla.metrics.autocorrelation import correlation_length
from fla.metrics.entropy import fem, fem_max, information_content
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
            writer.write_table(table(POINT_SCHEMA, constants, columns, n=n))
    meta = {"config": config, "plan": {"step_size": 0.02, "n_params": 9}, "walk_range": [0, walks]}
    write_manifest(folder, meta, [POINTS])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--walks", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--run", action="store_true", help="also fla metrics on a written run")
    p.add_argument("--sets", type=int, default=100)
    p.add_argument("--points", type=int, default=1000)
    p.add_argument("--dim", type=int, default=7960)
    p.add_argument("--pflacco-python", help="a Python with pflacco, for its time on one set")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    losses = np.cumsum(rng.normal(size=(args.walks, args.steps)), axis=1)
    losses[:, 100:200] = losses[:, 99:100]
    lengths = rng.uniform(0.015, 0.025, (args.walks, args.steps - 1))
    print(f"{args.walks:,} walks x {args.steps:,} steps:")
    measures = {
        "fem (paper's schedule)": lambda: fem(losses),
        "fem_max (exact)": lambda: fem_max(losses),
        "neutrality (M1, M2)": lambda: neutrality(losses),
        "gradient measures": lambda: gradient_measures(losses, lengths, 1.0, n_params=9),
        "stagnation": lambda: stagnation(losses),
        "last and best": lambda: last_and_best(losses),
        "information content": lambda: information_content(losses, lengths),
        "correlation length": lambda: correlation_length(losses),
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
            {
                "loss": losses[lo : lo + tables.WALKS_PER_BLOCK],
                "step_length": np.pad(lengths[lo : lo + tables.WALKS_PER_BLOCK], ((0, 0), (0, 1))),
            }
            for lo in range(0, args.walks, tables.WALKS_PER_BLOCK)
        )
        t0 = time.perf_counter()
        tables.measure_blocks(blocks, tables.MEASURES[sampler], context)
        seconds = time.perf_counter() - t0
        print(f"  {sampler:22s} {seconds:8.2f} s   {args.walks / seconds:12,.0f} walks/s")
    uniform_sets(args)
    if args.run:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            write_run(Path(tmp) / "run", losses)
            t0 = time.perf_counter()
            tables.write_metrics(Path(tmp) / "run", quiet=True)
            seconds = time.perf_counter() - t0
            print(f"fla metrics of the run, random walks, reading included: {seconds:.2f} s")


def uniform_sets(args) -> None:
    """The uniform samples' measures of args.sets sets, in the blocks fla metrics reads."""
    d, n = args.dim, args.points
    per_block = max(1, tables.params_budget() // (4 * n * d))
    context = {"step_size": 0.02, "bound": 1.0, "n_params": d}
    rng = np.random.default_rng(1)

    def blocks():
        for lo in range(0, args.sets, per_block):
            k = min(per_block, args.sets - lo)
            x = rng.uniform(-1, 1, (k, n, d)).astype(np.float32)
            yield {"loss": (x**2).mean(axis=2) + 0.01 * rng.normal(size=(k, n)), "params": x}

    t0 = time.perf_counter()
    values = tables.measure_blocks(blocks(), tables.MEASURES["uniform"], context)
    seconds = time.perf_counter() - t0
    count = sum(1 for m in values if not m.startswith("_"))
    print(
        f"uniform samples, {args.sets} sets x {n:,} points, D = {d:,}: {count} measures in "
        f"{seconds:.1f} s ({args.sets / seconds:.2f} sets/s, drawing the points included; "
        f"{per_block} sets a block)"
    )
    if args.pflacco_python:
        pflacco_time(args.pflacco_python, rng.uniform(-1, 1, (n, min(d, 50))))


def pflacco_time(python: str, x: np.ndarray) -> None:
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", x)
        code = (
            "import numpy as np, time\n"
            "from pflacco.classical_ela_features import calculate_information_content as ic\n"
            f"x = np.load('{tmp}/x.npy'); y = (x**2).sum(1)\n"
            "t = time.perf_counter(); ic(x, y, ic_nn_start=0); print(time.perf_counter() - t)\n"
        )
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    seconds = float(out.stdout.strip().splitlines()[-1])
    print(
        f"pflacco 1.2.2's information content of one set of {len(x):,} points, D = "
        f"{x.shape[1]}: {seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
