"""Points per second for eig_min / eig_max by batched Lanczos, printed (never asserted).

    python bench/bench_hessian.py [--mnist-dir ../shared/data/mnist] [--points 4] [--tol 1e-3]

On MNIST 784-10-10 (D = 7,960) and 784-100-10 (D = 79,510), with one batch of 100 training
patterns, for points drawn uniformly from [-1, 1]^D: first the batched Hessian-vector products
themselves, fla's R-operator (fla.core.exact_hessian.mlp_hvp, accurate at every loss) against
reverse-over-reverse differentiation of the loss (the form it replaced); then Lanczos
(fla.curvature.lanczos.Hessian.eigenvalues, k=1) on all points at once; next to it, for 784-10-10,
the full Hessian of one point (D Hessian-vector products, in chunks) and its exact float64 spectrum,
whose extreme eigenvalues Lanczos is checked against.
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

from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.registry import load_problem
from fla.curvature.lanczos import Hessian


def full_hessian(f, theta, x, y, chunk=256):
    """The full Hessian of one point, [D, D], from D Hessian-vector products in chunks."""
    d = f.n_params
    hvp = tf.function(lambda th, v: f.hvp_at(th, v, x, y))
    cols = []
    for start in range(0, d, chunk):
        n = min(chunk, d - start)
        basis = np.zeros((n, d), np.float32)
        basis[np.arange(n), start + np.arange(n)] = 1.0
        cols.append(hvp(np.repeat(theta[None], n, 0), basis).numpy())
    h = np.concatenate(cols).astype(np.float64)
    return 0.5 * (h + h.T)


def autodiff_hvp(f, x, y):
    """H v by differentiating the gradient's product with v (Pearlmutter's double backprop)."""

    @tf.function
    def hvp(theta, v):
        with tf.GradientTape() as outer:
            outer.watch(theta)
            grad = f.gradient_at(theta, x, y)[2]
            directional = tf.reduce_sum(grad * tf.stop_gradient(v))
        return outer.gradient(directional, theta)

    return hvp


def products_per_second(fn, theta, v, repeats=20) -> float:
    fn(theta, v)  # compile
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn(theta, v).numpy()
    return repeats * len(theta) / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--mnist-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnist")
    )
    p.add_argument("--points", type=int, default=4)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--skip-full", action="store_true", help="skip the full Hessian of 784-10-10")
    args = p.parse_args()
    problem = load_problem("mnist", args.mnist_dir)
    idx = np.random.default_rng(0).choice(len(problem.x_train), 100, replace=False)
    x, y = problem.x_train[idx], problem.y_train[idx]
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores; MNIST batch of 100 patterns, "
        f"{args.points} points from U[-1, 1]^D, Lanczos tol {args.tol}"
    )
    for width in (10, 100):
        f = Objective(MLP(784, width, 1, 10), problem)
        theta = np.random.default_rng(1).uniform(-1, 1, (16, f.n_params)).astype(np.float32)
        v = np.random.default_rng(3).standard_normal(theta.shape).astype(np.float32)
        xs, ys = tf.constant(x), tf.constant(y)
        ours = tf.function(lambda th, v: f.hvp_at(th, v, xs, ys))
        rates = [
            products_per_second(g, tf.constant(theta), tf.constant(v))
            for g in (ours, autodiff_hvp(f, xs, ys))
        ]
        print(
            f"784-{width}-10: Hessian-vector products, 16 points a call: R-operator "
            f"{rates[0]:,.0f}/s, reverse-over-reverse autodiff {rates[1]:,.0f}/s"
        )
        theta = (
            np.random.default_rng(1).uniform(-1, 1, (args.points, f.n_params)).astype(np.float32)
        )
        h = Hessian(f, theta, x, y=y, seed=2)
        h.hvp(np.zeros(theta.shape))  # compile
        h.hvp_calls = 0
        t0 = time.perf_counter()
        result = h.eigenvalues(k=1, tol=args.tol, max_steps=300)
        dt = time.perf_counter() - t0
        print(
            f"784-{width}-10 (D = {f.n_params}): Lanczos eig_min/eig_max {args.points / dt:.2f} "
            f"points/s "
            f"({dt:.1f} s, {result['steps']} steps, {h.hvp_calls} batched HVP calls, "
            f"converged {result['converged'].sum()}/{args.points})"
        )
        if width == 10 and not args.skip_full:
            t0 = time.perf_counter()
            hess = full_hessian(f, theta[0], tf.constant(x), tf.constant(y))
            t_build = time.perf_counter() - t0
            t0 = time.perf_counter()
            exact = np.linalg.eigvalsh(hess)
            t_eig = time.perf_counter() - t0
            print(
                f"  full Hessian of one point: {t_build:.1f} s to build ({f.n_params} HVPs) + "
                f"{t_eig:.1f} s "
                f"for its spectrum = {1 / (t_build + t_eig):.4f} points/s"
            )
            print(
                f"  exact eig_min {exact[0]:.6g}, eig_max {exact[-1]:.6g}; Lanczos "
                f"{result['min'][0, 0]:.6g}, {result['max'][0, 0]:.6g}"
            )


if __name__ == "__main__":
    main()
