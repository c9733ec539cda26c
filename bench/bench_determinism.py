"""Why fla fixes the width of its walk programs: do a walk's numbers depend on how many walks share
the compiled program? Prints, never asserts.

    python bench/bench_determinism.py [--mnist-dir ../shared/data/mnist]

For a 784-3-3-10 network on 10 MNIST patterns (and XOR 2-20-20-1), the gradient of walks 0..15 is
computed in programs 16, 48 and 1,008 walks wide, under XLA and with TensorFlow's own kernels, and
compared bit for bit with the 16-wide result; then the same for XLA's reduce_sum over a 10-wide
minor axis and for the matrix-vector sum fla uses instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import tensorflow as tf

from fla.core.networks import MLP
from fla.core.objective import Objective, total
from fla.core.registry import load_problem
from fla.walks.streams import start_points

WIDTHS = (16, 48, 1008)


def gradient_bits(objective, x, y, jit: bool) -> dict:
    theta = start_points(0, 0, max(WIDTHS), n_params=objective.n_params, bound=1.0)
    f = tf.function(lambda t: objective.gradient_at(t, x, y, True)[2], jit_compile=jit)
    grads = {w: f(tf.constant(theta[:w].T)).numpy()[:, :16] for w in WIDTHS}
    return {w: bool(np.array_equal(grads[w], grads[16])) for w in WIDTHS[1:]}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--mnist-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnist")
    )
    args = p.parse_args()
    cases = [("XOR 2-20-20-1, 4 patterns", MLP(2, 20, 2, 1), load_problem("xor"), 4)]
    if Path(args.mnist_dir).is_dir():
        cases.append(
            (
                "MNIST 784-3-3-10, 10 patterns",
                MLP(784, 3, 2, 10),
                load_problem("mnist", args.mnist_dir),
                10,
            )
        )
    for label, net, problem, n in cases:
        objective = Objective(net, problem)
        x, y = tf.constant(problem.x_train[:n]), tf.constant(problem.y_train[:n])
        for jit in (True, False):
            same = gradient_bits(objective, x, y, jit)
            print(
                f"{label}, {'XLA' if jit else 'TF kernels'}: gradient of walks 0-15 bitwise equal "
                f"to the 16-wide "
                "program in programs "
                + ", ".join(f"{w} wide: {'yes' if s else 'NO'}" for w, s in same.items())
            )
    values = tf.constant(np.random.default_rng(0).normal(size=(1024, 100, 10)).astype(np.float32))
    for label, fn in (
        ("reduce_sum over the 10-wide minor axis", lambda v: tf.reduce_sum(v, -1)),
        ("matrix-vector sum (fla.core.objective.total)", total),
    ):
        f = tf.function(fn, jit_compile=True)
        full = f(values).numpy()
        same = [bool(np.array_equal(f(values[:w]).numpy(), full[:w])) for w in (16, 32, 256)]
        print(f"XLA {label}: first 16/32/256 rows equal to the 1,024-row result: {same}")


if __name__ == "__main__":
    main()
