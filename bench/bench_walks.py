"""Walk steps per second of the sampler, printed (never asserted).

    python bench/bench_walks.py [--mnist-dir ../shared/data/mnist] [--mnist-walks 1000] [--repeats 3]

1. XOR 2-2-1 macro (90 walks x 100 steps, full Hessian eigenvalues at every point, Parquet written):
   end to end through ``fla.sample.sample`` after one warm-up (compilation) run, then the parts:
   the compiled walk loop alone, the float64 eigenvalues, the Parquet writing. The reference code of
   Bosman et al. runs this workload at 60-80 steps/s on 2 cores, one walk at a time.
2. MNIST 784-10-10 micro, batch 100: shared batches (one GEMM for all walks) and per-walk batches,
   against the machine's own fp32 matmul speed measured here on the same first-layer GEMM. A walk step
   costs about 6 * 100 * 784 * 10 FLOP (forward + weight gradient on the training batch, forward on
   the test batch); the benchmark prints the FLOP rate achieved and its share of the matmul rate,
   and the cost of one step's Philox draws with and without XLA.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from fla.curvature import eigenvalues  # noqa: E402
from fla.networks import MLP  # noqa: E402
from fla.objective import Objective  # noqa: E402
from fla.problems import load_problem  # noqa: E402
from fla.sample import SampleConfig, sample  # noqa: E402
from fla.walks import WalkProgram  # noqa: E402


def timings(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)


def best(fn, repeats):
    return timings(fn, repeats)[0]


def bench_xor(repeats: int) -> None:
    config = SampleConfig("xor", width=2, depth=1, granularity="macro", bound=1.0, hessian="full")
    with tempfile.TemporaryDirectory() as tmp:
        runs = iter(range(1000))
        run = lambda: sample(config, Path(tmp) / str(next(runs)), quiet=True)
        run()  # compile
        times = timings(run, max(repeats, 9))
        total, median = times[0], times[len(times) // 2]
    problem = load_problem("xor")
    objective = Objective(MLP(2, 2, 1, 1), problem)
    program = WalkProgram(objective, hessian=True)
    theta0 = np.random.default_rng(0).uniform(-1, 1, (90, 9)).astype(np.float32)
    out = {}
    walk = lambda: out.update(rec=program.run(theta0, 0.2, (1, 2), 0, 100)[1])
    walk()
    t_walk = best(walk, repeats)
    hess = tf.reshape(out["rec"]["hessian"], [-1, 9, 9])
    t_eig = best(lambda: eigenvalues(hess), repeats)
    steps = 90 * 100
    print("XOR 2-2-1 macro, 90 walks x 100 steps, full Hessian eigenvalues, Parquet written:")
    print(f"  end to end       {total * 1e3:8.1f} ms   {steps / total:12,.0f} walk steps/s (best of {len(times)}),"
          f" {steps / median:,.0f} (median); {steps / median / 70:,.0f}x the reference code's ~70 steps/s")
    print(f"  walk loop (XLA)  {t_walk * 1e3:8.1f} ms   {steps / t_walk:12,.0f} steps/s (gradient + Hessian)")
    print(f"  eigenvalues f64  {t_eig * 1e3:8.1f} ms   {steps / t_eig:12,.0f} spectra/s")
    print("  (end to end overlaps the walk loop with the spectra and writing of the previous block)")


def matmul_gflops(walks: int, repeats: int) -> float:
    x = tf.random.uniform([100, 784])
    w = tf.random.uniform([784, walks * 10])
    f = tf.function(lambda: tf.matmul(x, w))
    f()
    n = 20
    t = best(lambda: [f() for _ in range(n)][-1].numpy(), repeats) / n
    return 2 * 100 * 784 * walks * 10 / t / 1e9


def bench_mnist(data_dir: str, walks: int, steps: int, repeats: int) -> None:
    problem = load_problem("mnist", data_dir)
    objective = Objective(MLP(784, 10, 1, 10), problem)
    peak = matmul_gflops(walks, repeats)
    flop = 6 * 100 * 784 * 10
    print(f"MNIST 784-10-10 micro (step 0.02), batch 100, {walks} walks x {steps} steps, no Hessian:")
    print(f"  machine fp32 matmul [100,784]x[784,{walks * 10}]: {peak:.1f} GFLOP/s")
    rng = np.random.default_rng(0)
    theta0 = rng.uniform(-1, 1, (walks, objective.n_params)).astype(np.float32)
    for batching in ("shared", "per_walk"):
        program = WalkProgram(objective, batching=batching)
        shape = (steps, 100) if batching == "shared" else (steps, walks, 100)
        train = rng.integers(0, 60000, shape, dtype=np.int32)
        test = rng.integers(0, 10000, shape, dtype=np.int32)
        run = lambda: program.run(theta0, 0.02, (1, 2), 0, steps, train, test)
        run()
        t = best(run, repeats)
        rate = walks * steps / t
        print(f"  {batching:8s} {rate:10,.0f} walk steps/s   {rate * flop / 1e9:6.1f} GFLOP/s"
              f" = {rate * flop / 1e9 / peak:5.1%} of the matmul rate")


def bench_rng(repeats: int) -> None:
    """One MNIST step's Delta draws, [7960, 1000]: native kernel vs XLA, Philox named vs XLA's default."""
    for jit, alg in ((False, "philox"), (True, "philox"), (True, "auto_select")):
        f = tf.function(lambda seed: tf.reduce_sum(
            tf.random.stateless_uniform([7960, 1000], seed, maxval=0.02, alg=alg)), jit_compile=jit)
        seed = tf.constant([1, 2], tf.int64)
        f(seed)
        t = best(lambda: f(seed).numpy(), repeats)
        where = "XLA" if jit else "TensorFlow native kernel"
        print(f"  7,960,000 uniform draws, {alg:11s} {where:24s} {t * 1e3:8.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnist"))
    p.add_argument("--mnist-walks", type=int, default=1000)
    p.add_argument("--mnist-steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, GPUs: {len(tf.config.list_physical_devices('GPU'))}")
    bench_xor(args.repeats)
    if Path(args.mnist_dir).is_dir():
        bench_mnist(args.mnist_dir, args.mnist_walks, args.mnist_steps, args.repeats)
        bench_rng(args.repeats)
    else:
        print(f"MNIST skipped: no {args.mnist_dir} (pass --mnist-dir)")


if __name__ == "__main__":
    main()
