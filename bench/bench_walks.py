"""Walk steps per second of the sampler, printed (never asserted).

    python bench/bench_walks.py [--mnist-dir ../shared/data/mnist] [--mnist-walks 1000]
                                [--repeats 3]

1. XOR 2-2-1 macro (90 walks x 100 steps, full Hessian eigenvalues at every point, Parquet written):
   end to end through ``fla.walks.sample.sample`` after one warm-up (compilation) run, then the
   parts: the compiled walk loop alone, the float64 eigenvalues, the Parquet writing. The reference
   code of Bosman et al. runs this workload at 60-80 steps/s on 2 cores, one walk at a time.
2. MNIST 784-10-10 micro, batch 100: shared batches (one GEMM for all walks) and per-walk batches.
   For shared batches it prints the share of the walk loop's time that the three GEMMs a step
   cannot avoid (first-layer forward and weight gradient on the training batch, forward on the test
   batch) take when timed alone at the same shapes, the same share for those products as the step
   computes them (both forwards as one product), and the cost of one step's Philox draws (in 64-bit
   lanes, as fla draws them, and narrowed to 32 bits each round, as it did before).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from unittest.mock import patch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import tensorflow as tf

from fla.base import allocator
from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.registry import load_problem
from fla.walks import streams
from fla.walks.measure import Patterns, spectra
from fla.walks.program import WalkProgram
from fla.walks.sample import SampleConfig, sample
from fla.walks.streams import (
    DELTA,
    packed_words_of_walks,
    shared_batch,
    start_points,
    words_of_walk_range,
    words_of_walks,
)


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
    config = SampleConfig("xor", width=2, depth=1, granularity="macro", bound=1.0, hessian="exact")
    with tempfile.TemporaryDirectory() as tmp:
        runs = iter(range(1000))
        run = lambda: sample(config, Path(tmp) / str(next(runs)), quiet=True)
        run()  # compile
        times = timings(run, max(repeats, 9))
        total, median = times[0], times[len(times) // 2]
    problem = load_problem("xor")
    objective = Objective(MLP(2, 2, 1, 1), problem)
    program = WalkProgram(objective, record_params=True)
    theta0 = start_points(0, 0, 90, n_params=9, bound=1.0)
    out = {}
    walk = lambda: out.update(rec=program.run(theta0, 0.2, 0, 0, 0, 100, width=96)[1])
    walk()
    t_walk = best(walk, repeats)
    params = out["rec"]["params"].reshape(-1, 9)
    patterns = Patterns(problem.x_train, problem.y_train)
    spectra(objective, params, patterns, blocks=False)
    t_eig = best(lambda: spectra(objective, params, patterns, blocks=False), repeats)
    steps = 90 * 100
    print("XOR 2-2-1 macro, 90 walks x 100 steps, full Hessian eigenvalues, Parquet written:")
    print(
        f"  end to end       {total * 1e3:8.1f} ms   {steps / total:12,.0f} walk steps/s (best of "
        f"{len(times)}),"
        f" {steps / median:,.0f} (median); {steps / median / 70:,.0f}x the reference code's ~70 "
        f"steps/s"
    )
    print(
        f"  walk loop        {t_walk * 1e3:8.1f} ms   {steps / t_walk:12,.0f} steps/s (gradient, "
        f"Delta, update)"
    )
    print(
        f"  Hessians + eigh  {t_eig * 1e3:8.1f} ms   {steps / t_eig:12,.0f} spectra/s (measured "
        f"beside the walk)"
    )
    print(
        "  (end to end overlaps the walk loop with the spectra and writing of the previous block)"
    )


def gemm_seconds(walks: int, repeats: int, merged: bool = False) -> float:
    """Per step, the three products a shared-batch MNIST 784-10-10 walk step cannot avoid, timed
    alone: the first layer's forward [100, 785] x [785, 10 B], its weight gradient [785, 100] x
    [100, 10 B], and the test batch's forward. ``merged``: as the walk step computes them, both
    forwards one product [200, 785] x [785, 10 B] (the weights read once)."""
    x = tf.random.uniform([200, 785])
    w = tf.random.uniform([785, walks * 10])
    dz = tf.random.uniform([100, walks * 10])
    gradient = lambda: tf.matmul(x[:100], dz, transpose_a=True)
    products = (
        (lambda: (tf.matmul(x, w), gradient()))
        if merged
        else (lambda: (tf.matmul(x[:100], w), gradient(), tf.matmul(x[100:], w)))
    )
    f = tf.function(products, jit_compile=True)
    f()
    n = 20
    return best(lambda: [f() for _ in range(n)][-1][0].numpy(), repeats) / n


def bench_mnist(data_dir: str, walks: int, steps: int, repeats: int) -> None:
    problem = load_problem("mnist", data_dir)
    objective = Objective(MLP(784, 10, 1, 10), problem)
    t_gemm = gemm_seconds(walks, repeats)
    t_merged = gemm_seconds(walks, repeats, merged=True)
    flop = 6 * 100 * 785 * 10
    print(
        f"MNIST 784-10-10 micro (step 0.02), batch 100, {walks} walks x {steps} steps, no Hessian:"
    )
    print(
        f"  the step's three unavoidable GEMMs alone: {t_gemm * 1e3:.1f} ms a step "
        f"({walks * flop / t_gemm / 1e9:.1f} GFLOP/s); as the step computes them (both forwards "
        f"one "
        f"product): {t_merged * 1e3:.1f} ms"
    )
    theta0 = start_points(0, 0, walks, n_params=objective.n_params, bound=1.0)
    train = np.stack([shared_batch(0, t, 60000, size=100, salt=0) for t in range(steps)])
    test = np.stack([shared_batch(0, t, 10000, size=100, salt=1) for t in range(steps)])
    for label, batching, predraw in (
        ("shared", "shared", True),
        ("per_walk", "per_walk", True),
        ("shared, Delta fused", "shared", False),
    ):
        program = WalkProgram(objective, batching=batching)
        # read when the program is traced, at its first run
        program.predraw = program.predraw and predraw
        run = lambda: program.run(theta0, 0.02, 0, 0, 0, steps, train, test)
        run()
        t = best(run, repeats)
        rate = walks * steps / t
        share = (
            f"; GEMMs {t_gemm * steps / t:5.1%} of the loop ({t_merged * steps / t:5.1%} as "
            f"computed)"
            if batching == "shared"
            else ""
        )
        print(f"  {label:19s} {rate:10,.0f} walk steps/s   {t / steps * 1e3:7.1f} ms a step{share}")


def narrow_philox(counter, key, rounds: int = streams.ROUNDS):
    """Philox4x32 as fla computed it before, each word narrowed to uint32 after every round (the
    same bits): the baseline of the 64-bit lanes :func:`fla.walks.streams.philox4x32` keeps."""
    u32, u64 = tf.uint32, tf.uint64
    c = [tf.cast(x, u32) for x in counter]
    shape = tf.broadcast_dynamic_shape(
        tf.broadcast_dynamic_shape(tf.shape(c[0]), tf.shape(c[1])),
        tf.broadcast_dynamic_shape(tf.shape(c[2]), tf.shape(c[3])),
    )
    c = [tf.broadcast_to(x, shape) for x in c]
    k0, k1 = (tf.cast(k, u32) for k in key)
    low, shift = tf.constant(0xFFFFFFFF, u64), tf.constant(32, u64)

    def mulhilo(m, a):
        product = tf.cast(a, u64) * tf.constant(m, u64)
        high = tf.cast(tf.bitwise.right_shift(product, shift), u32)
        return high, tf.cast(tf.bitwise.bitwise_and(product, low), u32)

    xor = tf.bitwise.bitwise_xor
    for r in range(rounds):
        if r:
            k0, k1 = k0 + tf.constant(streams.W0, u32), k1 + tf.constant(streams.W1, u32)
        hi0, lo0 = mulhilo(streams.M0, c[0])
        hi1, lo1 = mulhilo(streams.M1, c[2])
        c = [xor(xor(hi1, c[1]), k0), lo1, xor(xor(hi0, c[3]), k1), lo0]
    return c


def bench_rng(repeats: int) -> None:
    """One MNIST step's Delta words, [1000, 7960]: TensorFlow's native Philox kernel vs fla's
    Philox in TensorFlow ops compiled by XLA (the same bits), in the walks' layout [7960, 1000]
    too."""
    walks = tf.range(1000, dtype=tf.int64)
    native = tf.function(
        lambda step: tf.reduce_sum(
            tf.cast(words_of_walk_range(0, DELTA, step, first=0, count=1000, n=7960), tf.float32)
        )
    )
    ours = tf.function(
        lambda step: tf.reduce_sum(
            tf.cast(words_of_walks(0, DELTA, step, walks=walks, n=7960), tf.float32)
        ),
        jit_compile=True,
    )
    # written out, as a walk step's update reads them
    walk_layout = tf.function(
        lambda step: words_of_walks(0, DELTA, step, walks=walks, n=7960, feature_major=True),
        jit_compile=True,
    )
    # written packed, as a large network's step draws the next step's
    packed = tf.function(
        lambda step: packed_words_of_walks(0, DELTA, step, walks=walks, n=7960), jit_compile=True
    )
    narrow_layout = tf.function(
        lambda step: words_of_walks(0, DELTA, step, walks=walks, n=7960, feature_major=True),
        jit_compile=True,
    )
    for label, f, form in (
        ("native kernel", native, streams.philox4x32),
        ("TF ops under XLA", ours, streams.philox4x32),
        ("XLA, [D, B] written", walk_layout, streams.philox4x32),
        ("XLA, [D, B], 32-bit", narrow_layout, narrow_philox),
        ("XLA, packed blocks", packed, streams.philox4x32),
    ):
        steps = iter(range(10**6))
        with patch.object(streams, "philox4x32", form):  # read when the function is traced
            f(tf.constant(next(steps), tf.int64))
        t = best(lambda: f(tf.constant(next(steps), tf.int64)).numpy(), repeats)
        print(f"  7,960,000 Philox4x32-10 words, {label:20s} {t * 1e3:8.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--mnist-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnist")
    )
    p.add_argument("--mnist-walks", type=int, default=1000)
    p.add_argument("--mnist-steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, GPUs: "
        f"{len(tf.config.list_physical_devices('GPU'))}"
    )
    print(
        f"allocator: {allocator.keep_freed_buffers()}, as in fla's runs (FLA_MALLOC=system: "
        f"glibc's defaults)"
    )
    bench_xor(args.repeats)
    if Path(args.mnist_dir).is_dir():
        bench_mnist(args.mnist_dir, args.mnist_walks, args.mnist_steps, args.repeats)
        bench_rng(args.repeats)
    else:
        print(f"MNIST skipped: no {args.mnist_dir} (pass --mnist-dir)")


if __name__ == "__main__":
    main()
