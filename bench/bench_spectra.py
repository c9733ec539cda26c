"""Cost of one exact Hessian spectrum and of one walk step, per point, printed (never asserted).

    python bench/bench_spectra.py [--points 10000] [--threads 0]

For the XOR architectures whose spectra the paper-scale study computes at every point (D <= 200)
and the two larger ones it walks, at the study's chunk widths:

- the full Hessians [B, D, D] in float32: by differentiating the gradient (TensorFlow's
  ``batch_jacobian``, how fla computed them before) and by second-order backpropagation
  (:mod:`fla.core.exact_hessian` through :func:`fla.walks.measure.hessians`, as a run computes them:
  compiled by XLA from D = 64);
- their float64 eigenvalues: TensorFlow's ``eigvalsh`` (Eigen, what fla used before) and
  :func:`fla.curvature.classes.eigenvalues` (LAPACK through numpy, in parallel parts, one BLAS
  thread each);
- one walk step (compiled walk loop, 100 steps, no curvature).

These are the figures behind ``fla.studies.sweep.point_cost``. ``--threads N`` pins TensorFlow (and
so the eigensolver's parts) to N threads, as a sweep with ``--jobs 2`` does with 1 on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import tensorflow as tf


def best_of(fn, repeats=3):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def autodiff_hessians(f, theta):
    with tf.GradientTape() as outer:
        outer.watch(theta)
        grad = f.gradient_at(theta, f.x_train, f.y_train)[2]
    return outer.batch_jacobian(grad, theta)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--points", type=int, default=10000)
    p.add_argument(
        "--threads", type=int, default=0, help="TensorFlow intra-op threads (0: its default)"
    )
    args = p.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from fla.core.networks import MLP
    from fla.core.objective import Objective
    from fla.core.registry import load_problem
    from fla.curvature.classes import eigenvalues, solver_threads
    from fla.walks.measure import hessians
    from fla.walks.program import WalkProgram

    problem = load_problem("xor")
    print(
        f"{os.cpu_count()} CPU cores, TensorFlow threads {args.threads or 'default'}, eigensolver "
        f"parts "
        f"{solver_threads()}; microseconds per point, best of 3 ({args.points} points a call)"
    )
    print(
        f"{'network':>14} {'D':>4} | {'Hessian: autodiff':>17} {'2nd-order backprop':>18} | "
        f"{'eigvalsh: TF':>12} {'fla (LAPACK)':>12} | {'walk step':>9}"
    )
    for width, depth in [(2, 1), (4, 1), (2, 2), (2, 3), (4, 2), (4, 3), (20, 1), (20, 2), (20, 3)]:
        f = Objective(MLP(2, width, depth, 1), problem)
        d = f.n_params
        rng = np.random.default_rng(0)
        us = lambda seconds, n: f"{seconds / n * 1e6:.1f}"
        row = f"{f.network.name:>14} {d:>4} | "
        if d <= 200:
            theta = tf.constant(rng.uniform(-1, 1, (args.points, d)), tf.float32)
            ad = tf.function(lambda t: autodiff_hessians(f, t))
            # XLA from D = 64
            ours = lambda t: hessians(f, t.numpy(), problem.x_train, y=problem.y_train)
            hess = ours(theta)
            scale = float(tf.reduce_max(tf.abs(hess)))
            error = float(tf.reduce_max(tf.abs(ad(theta) - hess))) / scale
            assert error < 1e-5, (
                f"{f.network.name}: the two Hessians differ by {error:.1e} relative"
            )
            h64 = tf.cast(hess, tf.float64)
            row += (
                f"{us(best_of(lambda: ad(theta).numpy()), args.points):>17} "
                f"{us(best_of(lambda: ours(theta).numpy()), args.points):>18} | "
                f"{us(best_of(lambda: tf.linalg.eigvalsh(h64).numpy(), 1), args.points):>12} "
                f"{us(best_of(lambda: eigenvalues(hess), 1), args.points):>12} | "
            )
        else:
            row += f"{'-':>17} {'-':>18} | {'-':>12} {'-':>12} | "
        walks = min(1024, 10 * d // 16 * 16)
        program = WalkProgram(f)
        start = rng.uniform(-1, 1, (walks, d)).astype(np.float32)
        seconds = best_of(lambda: program.run(start, 0.02, 0, 0, 0, 100, width=walks), 1)
        print(row + f"{us(seconds, walks * 100):>9}", flush=True)


if __name__ == "__main__":
    main()
