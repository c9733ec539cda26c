"""Why the walk step is written the way it is: each form fla chose against the obvious one, printed.

    python bench/bench_step_forms.py [--mnist-dir ../shared/data/mnist] [--repeats 3]

Each line times the real walk step (``fla.walks.program.WalkProgram``) with one piece swapped for
the form it replaced, so that the docstrings that justify a form cite figures anyone can reproduce:

1. The gradient norm (:func:`fla.walks.rule.sum_of_squares_over_rows`) against one reduction over
   the rows, in the MNIST 784-10-10 shared step (1000 walks, batch 100).
2. A small layer's weight gradient (:func:`fla.core.networks.sum_over_patterns`) against one
   reduction over the patterns' axis, in the same step.
3. Small later layers elementwise across walks (:func:`fla.core.networks.dense_walks_last`) against
   per-walk matrix products: in the same step (layer 11 x 10), in the XOR 2-20-20-20-1 walk
   (1024 walks, 200 steps: three 21 x 20 layers), in the walks whose layers it serves (the later
   layers of XOR 2-2-1, 2-4-4-4-1, 2-10-10-1 and iris 4-3-3-3) and, alone, for a 41 x 40 layer (its
   forward; its backward, the gradients with respect to inputs and weights given the outputs'
   gradient).
4. The walk state kept in one block per layer (:data:`fla.walks.program.LAYER_BLOCKS_MIN_PARAMS`)
   against one block for the whole parameter vector, on MNIST 784-10-10 and XOR 2-2-1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from unittest.mock import patch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import tensorflow as tf
from bench_walks import best

from fla.base import allocator
from fla.core import networks
from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.registry import load_problem
from fla.walks import program as walks
from fla.walks.program import WalkProgram
from fla.walks.streams import shared_batch, start_points


def one_reduction_over_rows(g):
    return tf.reduce_sum(g * g, 0)


def one_reduction_over_patterns(a, dz):
    return tf.reduce_sum(a[:, :, None, :] * dz[:, None, :, :], 0)


def products(a, w):
    """z[n, c, b] as B matrix products [B, N, in] x [B, in, out], the walks' axis moved first and
    back."""
    return tf.transpose(
        tf.matmul(tf.transpose(a, [2, 0, 1]), tf.transpose(w, [2, 0, 1])), [1, 2, 0]
    )


def step_ms(objective, n_walks, steps, repeats, step_size, batches=None):
    """ms a step of a freshly traced walk program (shared batches when ``batches`` is given)."""
    program = WalkProgram(objective, batching="shared" if batches else "full")
    theta0 = start_points(0, 0, n_walks, n_params=objective.n_params, bound=1.0)
    run = lambda: program.run(theta0, step_size, 0, 0, 0, steps, *(batches or ()), width=n_walks)
    run()
    return best(run, repeats) / steps * 1e3


def bench_mnist(data_dir, repeats, steps=20, n_walks=1000):
    objective = Objective(MLP(784, 10, 1, 10), load_problem("mnist", data_dir))
    batches = (
        np.stack([shared_batch(0, t, 60000, size=100, salt=0) for t in range(steps)]),
        np.stack([shared_batch(0, t, 10000, size=100, salt=1) for t in range(steps)]),
    )
    print(
        f"MNIST 784-10-10 micro, shared batches of 100, {n_walks} walks x {steps} steps, ms a step:"
    )
    variants = (
        ("as fla computes it", None),
        (
            "gradient norm as one reduction",
            (walks, "sum_of_squares_over_rows", one_reduction_over_rows),
        ),
        (
            "weight gradient of the 11 x 10 layer as one reduction",
            (networks, "sum_over_patterns", one_reduction_over_patterns),
        ),
        ("the 11 x 10 layer as per-walk matrix products", (networks, "ELEMENTWISE_MAX", 0)),
    )
    for label, swap in variants:
        with patch.object(*swap) if swap else contextlib.nullcontext():
            print(
                f"  {label:55s} {step_ms(objective, n_walks, steps, repeats, 0.02, batches):7.1f}"
            )


def bench_xor(repeats, steps=200, n_walks=1024):
    objective = Objective(MLP(2, 20, 3, 1), load_problem("xor"))
    print(f"XOR 2-20-20-20-1 macro, {n_walks} walks x {steps} steps, ms a step:")
    for label, limit in (
        ("21 x 20 layers as per-walk matrix products (as fla)", networks.ELEMENTWISE_MAX),
        ("21 x 20 layers elementwise across walks", 21),
    ):
        with patch.object(networks, "ELEMENTWISE_MAX", limit):  # read when a program is traced
            print(f"  {label:55s} {step_ms(objective, n_walks, steps, repeats, 0.2):7.1f}")


def bench_small_layers(repeats, steps=200, n_walks=1024):
    """The sizes the elementwise form serves (fan-in + 1 and fan-out up to ELEMENTWISE_MAX): the
    later layers of the paper's XOR networks (widths h = 2 and 2h) and of iris at width h."""
    print(
        f"Small later layers, {n_walks} walks x {steps} steps, ms a step (elementwise; products):"
    )
    for problem, width, depth in (("xor", 2, 1), ("xor", 4, 3), ("xor", 10, 2), ("iris", 3, 2)):
        data = load_problem(problem)
        net = MLP(data.n_inputs, width, depth, data.n_outputs)
        objective = Objective(net, data)
        times = []
        for limit in (networks.ELEMENTWISE_MAX, 0):
            with patch.object(networks, "ELEMENTWISE_MAX", limit):
                times.append(step_ms(objective, n_walks, steps, repeats, 0.2))
        label = (
            f"{problem} {'-'.join(map(str, [data.n_inputs] + [width] * depth + [data.n_outputs]))}"
        )
        print(f"  {label:55s} {times[0]:7.2f}; {times[1]:7.2f}")


def bench_layer_blocks(repeats, data_dir, steps=20, n_walks=1000):
    """The walk state in one block per layer (from LAYER_BLOCKS_MIN_PARAMS parameters) against one
    block for the whole vector: MNIST 784-10-10 shared (D = 7960), and XOR 2-2-1 (D = 9) where the
    whole vector is kept."""
    print(f"Walk state per layer against whole, ms a step ({n_walks} walks x {steps} steps):")
    cases = [("xor", 2, 1, 0.2, None)]
    if data_dir:
        mnist = load_problem("mnist", data_dir)
        batches = (
            np.stack([shared_batch(0, t, 60000, size=100, salt=0) for t in range(steps)]),
            np.stack([shared_batch(0, t, 10000, size=100, salt=1) for t in range(steps)]),
        )
        cases.insert(0, ("mnist", 10, 1, 0.02, (mnist, batches)))
    for name, width, depth, step_size, data in cases:
        problem, batches = data if data else (load_problem(name), None)
        objective = Objective(MLP(problem.n_inputs, width, depth, problem.n_outputs), problem)
        times = []
        for threshold in (0, 10**9):
            with patch.object(walks, "LAYER_BLOCKS_MIN_PARAMS", threshold):
                times.append(step_ms(objective, n_walks, steps, repeats, step_size, batches))
        form = "per layer" if objective.n_params >= walks.LAYER_BLOCKS_MIN_PARAMS else "whole"
        label = f"{name} D = {objective.n_params} (fla: {form})"
        print(f"  {label:55s} per layer {times[0]:7.2f}; whole {times[1]:7.2f}")


def bench_layer(repeats, n=100, fan_in=41, fan_out=40, n_walks=1000):
    a = tf.random.normal([n, fan_in, n_walks])
    w = tf.random.normal([fan_in, fan_out, n_walks])
    dz = tf.random.normal([n, fan_out, n_walks])
    print(
        f"One {fan_in} x {fan_out} layer alone, {n} patterns, {n_walks} walks, ms (forward; "
        f"backward):"
    )
    for label, form in (
        ("per-walk matrix products", products),
        ("elementwise across walks", networks.dense_walks_last),
    ):
        forward = tf.function(lambda: form(a, w), jit_compile=True)

        def with_gradient():
            with tf.GradientTape() as tape:
                tape.watch([a, w])
                z = form(a, w)
            return tape.gradient(z, [a, w], output_gradients=dz)

        both = tf.function(with_gradient, jit_compile=True)
        times = []
        for f in (forward, both):
            f()
            times.append(best(lambda: [t.numpy() for t in tf.nest.flatten(f())], repeats) * 1e3)
        print(f"  {label:55s} {times[0]:7.1f}; {times[1]:7.1f}")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--mnist-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnist")
    )
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores; allocator: "
        f"{allocator.keep_freed_buffers()}"
    )
    mnist = args.mnist_dir if Path(args.mnist_dir).is_dir() else None
    if mnist:
        bench_mnist(args.mnist_dir, args.repeats)
    else:
        print(f"MNIST skipped: no {args.mnist_dir} (pass --mnist-dir)")
    bench_layer_blocks(args.repeats, mnist)
    bench_xor(args.repeats)
    bench_small_layers(args.repeats)
    bench_layer(args.repeats)


if __name__ == "__main__":
    main()
